// Evidence as Ward carries it between parties: the platform's native bytes
// plus what is needed to verify them offline, and the one entry point that
// verifies any of it against a policy.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "attest/appraisal.h"
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

// Runs the platform verifier, then the policy. Quotes chaining to the
// simulated TEE's root are recognised (and marked simulated) so that the
// policy can name them; it refuses them unless allow_simulated.
Appraisal verify_evidence(const EvidenceBundle& bundle, const Policy& policy,
                          std::chrono::system_clock::time_point at);

}  // namespace ward::attest
