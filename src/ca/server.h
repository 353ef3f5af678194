// The certification center's HTTP API (docs/ca.md): what `ward ca serve`
// runs, and the client a CVM uses to ask it for a certificate.
//
//   POST /v1/certificates  {"evidence": <ward/evidence/v1>, "signing_key": hex,
//                           "age_recipient": "age1..."}
//        201 {"certificate": PEM, "cvm_id": hex, "simulated": bool}
//   GET  /v1/ca            the CA certificate (PEM)
//
// Refusals are {"error": {"reason", "message"}}: 400 "malformed" (or the
// bundle's error code) for a request that does not parse, 413 "too_large",
// 422 with the failed check's name when the evidence is refused.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string_view>

#include "age/recipients.h"
#include "attest/evidence.h"
#include "attest/policy.h"
#include "base/error.h"
#include "ca/center.h"
#include "crypto/keys.h"
#include "crypto/x509.h"
#include "http/server.h"

namespace ward::ca {

// The largest request body: a bundle at its limit plus the other fields.
inline constexpr std::size_t kMaxRequestSize = attest::kMaxEvidenceBundleSize + 64 * 1024;

struct ServerOptions {
  // Requests handled at once; idle and slow connections hold no thread.
  std::size_t threads = 16;
  std::chrono::seconds validity = kDefaultValidity;
  // Deadlines and connection limits (http/server.h); `threads` above and the
  // body limit (kMaxRequestSize) override theirs.
  http::ServerOptions http{};
};

class CaServer {
 public:
  // `center` and `policy` must outlive the server.
  CaServer(const CertificationCenter& center, const attest::Policy& policy, ServerOptions options = {});
  ~CaServer();
  CaServer(const CaServer&) = delete;
  CaServer& operator=(const CaServer&) = delete;

  // Binds the listening socket; port 0 picks a free port. Returns the port.
  // Errors: "ca.server".
  Result<int> bind(std::string_view host, int port);
  // Serves until stop(). REQUIRES: bind() succeeded.
  Result<void> serve();
  // Safe from any thread.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Asks the center at `url` (http://HOST:PORT) for a certificate and checks
// that the one returned certifies `signing_key` and `recipient` and carries
// `evidence`. Errors: "ca.client" (unreachable, bad URL, bad answer), or
// "ca.refused" with the server's reason and message.
Result<crypto::Certificate> request_certificate(std::string_view url, const attest::EvidenceBundle& evidence,
                                                const crypto::Ed25519PublicKey& signing_key,
                                                const age::X25519Recipient& recipient);

// The CA certificate the center at `url` serves (GET /v1/ca).
Result<crypto::Certificate> fetch_ca_certificate(std::string_view url);

}  // namespace ward::ca
