// The client side of serving, for `ward proxy` and for programs that embed
// Ward: every new TLS connection to the endpoint is verified (verify.h) as
// soon as its handshake completes and before any byte is sent on it; a
// certificate already verified is taken from the cache until its entry
// expires, and a changed certificate is verified again. What a connection
// is accepted for is its key: the start report on the ledger names it.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "attest/policy.h"
#include "base/error.h"
#include "crypto/x509.h"
#include "ledger/client.h"
#include "serve/relay.h"
#include "serve/stream.h"
#include "serve/verify.h"

namespace ward::serve {

// "https://HOST:PORT" (an IPv6 host in brackets). Errors "serve.url".
struct Endpoint {
  std::string host;
  int port = 0;
};
Result<Endpoint> parse_endpoint(std::string_view url);

struct ClientOptions {
  crypto::Certificate ca_cert;
  attest::Policy policy;
  std::string ledger;  // a ledger URL or an embedded ledger's path
  EndpointPins pins;
  std::chrono::milliseconds timeout{10000};  // connect, handshake, and each read or write
  std::chrono::seconds cache_ttl{60};
};

class VerifiedClient {
 public:
  // Errors: "serve.url", the ledger client's.
  static Result<std::unique_ptr<VerifiedClient>> open(std::string_view url, ClientOptions options);

  // A connection whose chain passed every check. Errors: "serve.tls",
  // "serve.io", "serve.verify" ("REJECTED at <check>: <why>"), with nothing
  // sent on the refused connection.
  Result<std::unique_ptr<Stream>> connect();
  // The verification behind the latest accepted or refused connection.
  std::shared_ptr<const EndpointVerification> last_verification() const;
  // connect(), as a Forwarder's dialer; the client must outlive it.
  Dialer dialer();

  // The full check of one fresh connection, bypassing the cache (what
  // `ward serve verify` prints). The connection is closed unused.
  Result<std::shared_ptr<const EndpointVerification>> verify_now();

 private:
  VerifiedClient(Endpoint endpoint, ClientOptions options, std::unique_ptr<ledger::LedgerClient> ledger);
  std::shared_ptr<const EndpointVerification> check(const std::vector<crypto::Certificate>& chain,
                                                    bool use_cache);

  Endpoint endpoint_;
  ClientOptions options_;
  VerificationCache cache_;
  mutable std::mutex mutex_;  // the ledger client, last_
  std::unique_ptr<ledger::LedgerClient> ledger_;
  std::shared_ptr<const EndpointVerification> last_;
};

// "REJECTED at <check>: <detail>", the one line a refused verification reads as.
std::string rejection_line(const EndpointVerification& verification);

}  // namespace ward::serve
