// Reading evidence and policies from files, as `ward attest` and `ward ca`
// take them. An unreadable or malformed file is a usage error (exit 2), not a
// verdict about the evidence.
#pragma once

#include <string>

#include "attest/evidence.h"
#include "attest/policy.h"
#include "crypto/x509.h"
#include "base/error.h"

namespace ward::cli {

struct EvidenceFiles {
  std::string evidence;    // native bytes, hex text of them, or a ward/evidence/v1 bundle
  std::string platform;    // empty or "auto": detected from the evidence
  std::string collateral;  // DCAP collateral (dcap-qvl JSON), optional
  std::string certs;       // PEM certificates or one DER certificate, optional
};

// A bundle file already names its platform, collateral and certificates, so
// it cannot be combined with the other three.
Result<attest::EvidenceBundle> load_evidence(const EvidenceFiles& files);

// A PEM certificate file (a CVM certificate carries its evidence, so these
// can be large).
Result<crypto::Certificate> load_certificate_file(const std::string& path);

// The certification center a command trusts: its certificate from
// `ca_cert_file`, else fetched from `ca_url` (trust on first use). Giving
// both or neither is a usage error.
Result<crypto::Certificate> trusted_ca(const std::string& ca_cert_file, const std::string& ca_url);

// `fallback` when `path` is empty.
Result<attest::Policy> load_policy(const std::string& path, attest::Policy fallback);

}  // namespace ward::cli
