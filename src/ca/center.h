// The certification center: a P-384 CA key and its self-signed certificate
// in a directory, and issuing CVM certificates for evidence that verifies.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>

#include "age/recipients.h"
#include "attest/appraisal.h"
#include "attest/evidence.h"
#include "attest/policy.h"
#include "base/error.h"
#include "crypto/ecdsa.h"
#include "crypto/keys.h"
#include "crypto/x509.h"

namespace ward::ca {

inline constexpr const char* kCaKeyFile = "ca.key";   // mode 0600: the P-384 scalar
inline constexpr const char* kCaCertFile = "ca.pem";  // the self-signed CA certificate
inline constexpr const char* kCaCommonName = "Ward certification center";

inline constexpr std::chrono::seconds kDefaultValidity = std::chrono::hours(24);
// Certificates start this long before issue, so a verifier whose clock is
// somewhat behind still accepts a fresh one.
inline constexpr std::chrono::seconds kBackdate = std::chrono::minutes(5);
inline constexpr std::chrono::seconds kCaValidity = std::chrono::hours(24 * 365 * 10);

struct Issuance {
  // The evidence's checks (attest::verify_evidence), then "ca.binding".
  attest::Appraisal appraisal;
  // Set exactly when the appraisal accepted.
  std::optional<crypto::Certificate> certificate;
};

// Immutable once opened but for its thread-safe cache of prepared DCAP
// collateral: issue() may run on several threads at once. Copies share the
// cache.
class CertificationCenter {
 public:
  // Creates `dir` if needed and writes a new CA key and certificate there.
  // Refuses to overwrite an existing key or certificate ("ca.exists").
  static Result<CertificationCenter> init(const std::filesystem::path& dir,
                                          std::chrono::system_clock::time_point now);
  // Errors: "ca.open" when the files are missing, malformed or do not match.
  static Result<CertificationCenter> open(const std::filesystem::path& dir);

  const crypto::Certificate& certificate() const { return certificate_; }

  // Verifies `evidence` against `policy` at `now` and that its report data
  // binds both keys; only then signs a certificate for `signing_key`, valid
  // from now - kBackdate to now + validity (never past the CA's own expiry).
  // A refusal is an Issuance without certificate, naming the failed check;
  // an Error means the center itself failed ("ca.issue").
  Result<Issuance> issue(const attest::EvidenceBundle& evidence, const crypto::Ed25519PublicKey& signing_key,
                         const age::X25519Recipient& recipient, const attest::Policy& policy,
                         std::chrono::system_clock::time_point now,
                         std::chrono::seconds validity = kDefaultValidity) const;

 private:
  CertificationCenter(crypto::EcPrivateKey key, crypto::Certificate certificate)
      : key_(std::move(key)), certificate_(std::move(certificate)) {}
  crypto::EcPrivateKey key_;
  crypto::Certificate certificate_;
  // CVMs of one platform send the same collateral: it is prepared once.
  std::shared_ptr<attest::PreparedCollaterals> collaterals_ = std::make_shared<attest::PreparedCollaterals>();
};

}  // namespace ward::ca
