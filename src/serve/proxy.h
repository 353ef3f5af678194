// `ward proxy` as a C++ API (docs/serving.md): plain HTTP served locally,
// each request forwarded over a connection to the service that
// VerifiedClient verified after its handshake and before any byte was sent.
// With a key, every request is signed for the service as verified (its order
// and TLS key); with a receipt log, every usage receipt for the service as
// verified is kept. A client's own Ward-* access headers never pass.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "crypto/keys.h"
#include "http/server.h"
#include "serve/client.h"
#include "serve/meter.h"
#include "serve/relay.h"

namespace ward::serve {

// What the proxy checks of a receipt before it keeps it: it parses, and names
// the TLS key and order the proxy verified and (when given) this client's
// account. Errors: "serve.receipt".
Result<Receipt> receipt_for_service(std::string_view value, const crypto::Sha256Digest& tls_key,
                                    std::uint64_t order, const std::optional<ledger::AccountId>& account);

struct ProxyOptions {
  std::optional<crypto::Ed25519PrivateKey> key;  // signs every request when set
  std::string receipts;                          // a receipt log to append to (meter.h); none when empty
  std::size_t threads = 16;                      // requests forwarded at once
  // Told about a receipt that does not verify or cannot be kept; the
  // response still goes to the client.
  std::function<void(const std::string&)> warn;
};

// The replicas of a service (one service order each, on different CVMs):
// requests go to them in turn; one that cannot be reached is skipped for
// kReplicaPause and the request goes to the next, so only requests in
// flight on a failed replica fail.
inline constexpr std::chrono::seconds kReplicaPause{5};

class Proxy {
 public:
  // `client` should have verified the endpoint already (verify_now), so that
  // a bad endpoint is refused at start rather than as a 502 later.
  // Errors: the receipt log's.
  static Result<std::unique_ptr<Proxy>> create(std::unique_ptr<VerifiedClient> client, ProxyOptions options);
  // Several replicas, each verified on its own (its order, engine, key).
  static Result<std::unique_ptr<Proxy>> create(std::vector<std::unique_ptr<VerifiedClient>> replicas,
                                               ProxyOptions options);
  ~Proxy();
  Proxy(const Proxy&) = delete;
  Proxy& operator=(const Proxy&) = delete;

  // Binds HOST:PORT (port 0 picks one); returns the port.
  Result<int> bind(std::string_view host, int port);
  // Serves until stop(); see http::Server.
  Result<void> serve();
  void stop();

  // One request as the proxy forwards it, for a server that embeds the
  // proxy in its own routes (ward ui) rather than binding it.
  http::Response handle(const http::Request& request);
  // The client requests go through (the first replica's), to verify the endpoint again.
  VerifiedClient& client() { return *replicas_.front()->client; }

 private:
  struct Replica {
    explicit Replica(std::unique_ptr<VerifiedClient> c) : client(std::move(c)), forwarder(client->dialer()) {}
    std::unique_ptr<VerifiedClient> client;
    Forwarder forwarder;
    std::atomic<std::int64_t> down_until{0};  // steady-clock ns; skipped until then
  };
  Proxy(std::vector<std::unique_ptr<VerifiedClient>> replicas, ProxyOptions options,
        std::unique_ptr<ReceiptLog> receipts);
  http::Response forward(Replica& replica, const http::Request& request, bool& unreachable);

  std::vector<std::unique_ptr<Replica>> replicas_;
  std::atomic<std::size_t> next_{0};
  ProxyOptions options_;
  std::unique_ptr<ReceiptLog> receipts_;
  std::optional<ledger::AccountId> account_;  // options_.key's
  std::unique_ptr<http::Server> server_;
};

}  // namespace ward::serve
