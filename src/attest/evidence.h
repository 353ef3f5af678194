// Evidence as Ward carries it between parties: the platform's native bytes
// plus what is needed to verify them offline, and the one entry point that
// verifies any of it against a policy.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "attest/appraisal.h"
#include "attest/dcap/verify.h"
#include "attest/policy.h"
#include "base/bytes.h"
#include "base/error.h"
#include "crypto/x509.h"

namespace ward::attest {

inline constexpr std::size_t kMaxEvidenceBundleSize = 2 * 1024 * 1024;

struct EvidenceBundle {
  Platform platform = Platform::Tdx;  // Sim for simulated TDX quotes
  Bytes evidence;                     // quote, SNP report or SPDM request||response
  std::optional<std::string> collateral;  // DCAP: dcap-qvl collateral JSON
  std::vector<crypto::Certificate> certs;  // SNP: VCEK/VLEK (+ chain); nvgpu: device chain
};

// JSON: {"format":"ward/evidence/v1","platform":"tdx","evidence":"<base64>",
// "collateral":{...}|null,"certs":"<PEM>"}. Parsing is strict: unknown
// fields, bad base64 and oversized input are refused ("attest.bundle").
std::string bundle_to_json(const EvidenceBundle& b);
Result<EvidenceBundle> parse_bundle(std::string_view json);

// Guesses the platform of native evidence bytes: a DCAP quote header (TDX or
// SGX), a 1184-byte SNP report, or an SPDM GET_MEASUREMENTS request.
std::optional<Platform> detect_platform(ByteView evidence);

// DCAP collateral prepared once per distinct collateral (by the SHA-256 of
// its JSON text), for a verifier that sees the same collateral again and
// again (`ward ca serve`): each dcap::PreparedCollateral reuses its verdicts
// only inside their windows. At most `capacity` collaterals, the least
// recently used dropped first; one that fails to parse or prepare is not
// kept. Thread-safe.
class PreparedCollaterals {
 public:
  static constexpr std::size_t kDefaultCapacity = 64;
  explicit PreparedCollaterals(std::size_t capacity = kDefaultCapacity);
  ~PreparedCollaterals();
  PreparedCollaterals(const PreparedCollaterals&) = delete;
  PreparedCollaterals& operator=(const PreparedCollaterals&) = delete;

  // The collateral of `json` (dcap-qvl's schema), parsed and prepared.
  Result<dcap::PreparedCollateral> get(std::string_view json);
  std::size_t size() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Runs the platform verifier, then the policy. Quotes chaining to the
// simulated TEE's root are recognised (and marked simulated) so that the
// policy can name them; it refuses them unless allow_simulated.
Appraisal verify_evidence(const EvidenceBundle& bundle, const Policy& policy,
                          std::chrono::system_clock::time_point at);
// The same, taking DCAP collateral from `prepared` (the appraisal is the same).
Appraisal verify_evidence(const EvidenceBundle& bundle, const Policy& policy,
                          std::chrono::system_clock::time_point at, PreparedCollaterals& prepared);

}  // namespace ward::attest
