// The service certificate (docs/serving.md): a short-lived X.509 certificate
// for the TLS key a CVM makes for one service order, issued by the CVM's
// Ed25519 key. It names the order, the ledger, the engine and the inputs
// (ca/oids.h), and is served as the chain [service certificate, CVM
// certificate], so a client can follow it down to the hardware evidence.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/error.h"
#include "crypto/ecdsa.h"
#include "crypto/hash.h"
#include "crypto/keys.h"
#include "crypto/x509.h"
#include "ledger/tx.h"

namespace ward::serve {

using std::chrono::sys_seconds;

// What a service certificate states about the service behind its key.
struct ServiceClaims {
  ledger::LedgerId ledger{};
  std::uint64_t order = 0;
  std::string engine;                        // "sha256:<64 lowercase hex>"
  std::vector<crypto::Sha256Digest> inputs;  // plaintext SHA-256 of each input, in /ward/inputs order

  bool operator==(const ServiceClaims&) const = default;
};

struct ServiceCredentials {
  crypto::EcPrivateKey key;  // P-256
  crypto::Certificate certificate;
};

// Issues the certificate of `key` (a fresh P-256 key when null; rotation
// passes the current one to keep it) for `claims`, signed by `cvm_key`, whose
// certificate `cvm_cert` is. The leaf is not a CA, has the subject
// "CN=order-<id>" and the serverAuth extended key usage. Errors:
// "serve.certificate" (claims that cannot be encoded, a CVM key that is not
// the certificate's).
Result<ServiceCredentials> issue_service_certificate(const ServiceClaims& claims,
                                                     const crypto::Ed25519PrivateKey& cvm_key,
                                                     const crypto::Certificate& cvm_cert,
                                                     sys_seconds not_before, sys_seconds not_after,
                                                     const crypto::EcPrivateKey* key = nullptr);

// The claims of a service certificate, read without verifying anything. Each
// extension must be present exactly once and be the one DER encoding of its
// value, with nothing after it. Errors: "serve.certificate".
Result<ServiceClaims> read_service_certificate(const crypto::Certificate& cert);

// SHA-256 of the certificate's DER SubjectPublicKeyInfo: what the service's
// start report on the ledger records as service.tls_key_sha256.
crypto::Sha256Digest tls_key_digest(const crypto::Certificate& cert);

}  // namespace ward::serve
