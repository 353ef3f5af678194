// CVM certificates (DESIGN.md, "CVM certificate"): an X.509 certificate for a
// CVM's Ed25519 signing key that carries its age recipient and its hardware
// evidence, so anyone can re-verify it down to the hardware without trusting
// the certification center that signed it.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "age/recipients.h"
#include "attest/appraisal.h"
#include "attest/evidence.h"
#include "attest/policy.h"
#include "crypto/keys.h"
#include "crypto/x509.h"

namespace ward::ca {

// A CVM's id on the ledger: SHA-256 of its Ed25519 public key.
using CvmId = std::array<std::uint8_t, 32>;
CvmId cvm_id(const crypto::Ed25519PublicKey& signing_key);

// "cvm-" and the first 16 hex digits of the CVM's id.
std::string cvm_common_name(const crypto::Ed25519PublicKey& signing_key);

// Who a certificate is for: its keys as the certificate states them.
struct CvmIdentity {
  CvmId id{};
  crypto::Ed25519PublicKey signing_key{};
  age::X25519Recipient recipient{crypto::X25519PublicKey{}};

  std::string id_hex() const { return hex_encode(id); }
};

// What a CVM certificate says, read without verifying anything.
struct CvmCertificateContents {
  CvmIdentity identity;
  attest::EvidenceBundle evidence;
};

// Errors: "ca.extension" for a missing or malformed extension or a key that
// is not Ed25519; the bundle's own errors ("attest.bundle") pass through.
Result<CvmCertificateContents> read_cvm_certificate(const crypto::Certificate& cert);

struct CvmCertificateVerification {
  // Checks in order: "cert.chain", "cert.extensions", the evidence's own
  // (attest::verify_evidence, policy included), then "ca.binding".
  attest::Appraisal appraisal;
  // Set once the extensions parse, whatever the verdict.
  std::optional<CvmIdentity> cvm;

  bool accepted() const { return appraisal.accepted(); }
};

// Verifies `cert` as issued by `ca_cert` and valid at `at`, then its embedded
// evidence against `policy` at `at`, then that the evidence's report data
// binds the certificate's Ed25519 key and age recipient (binding.h). Stops at
// the first failed check.
CvmCertificateVerification verify_cvm_certificate(const crypto::Certificate& cert,
                                                  const crypto::Certificate& ca_cert,
                                                  const attest::Policy& policy,
                                                  std::chrono::system_clock::time_point at);

// The code a CVM runs, from its own certificate: its platform's launch
// measurement (mrtd, measurement or mrenclave), and a policy that a peer's
// evidence meets only with that same measurement (simulated evidence allowed
// only when this CVM's own is simulated). What peers of one kind (replicated
// key brokers, the CVMs of one split order) require of each other.
struct OwnCode {
  std::string name;  // "mrtd", "measurement" or "mrenclave"
  Bytes measurement;
  bool simulated = false;
  attest::Policy same_code;
};

// Verifies `cert` under `ca_cert` (its evidence appraised as report_only,
// simulated allowed) and reads its launch measurement. Errors: "ca.own"
// naming the failed check, or evidence with no launch measurement.
Result<OwnCode> own_code(const crypto::Certificate& cert, const crypto::Certificate& ca_cert,
                         std::chrono::system_clock::time_point at);

// Appends "ca.binding" to `appraisal`: its report data must be
// cvm_report_data(signing_key, recipient). Used by issuing and verifying alike.
bool check_binding(attest::Appraisal& appraisal, const crypto::Ed25519PublicKey& signing_key,
                   const age::X25519Recipient& recipient);

}  // namespace ward::ca
