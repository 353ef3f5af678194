// The gateway inside the CVM (DESIGN.md "Serving", step 2): TLS that ends in
// the CVM, with the order's key and certificate, in front of the engine,
// which it reaches only through `engine` (a socket in the sandbox's own
// network namespace). Built on http::Server, so a client that is slow or
// never finishes its handshake holds a socket, never a thread, and is cut
// off at the request deadline.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "base/error.h"
#include "http/server.h"
#include "serve/access.h"
#include "serve/meter.h"
#include "serve/relay.h"
#include "serve/tls.h"

namespace ward::serve {

struct GatewayOptions {
  std::string host = "127.0.0.1";
  int port = 0;  // 0 picks a free one
  http::ServerOptions server{};
  // Who may send requests (access.h); every request is refused or passed
  // with its authenticated account. None: anyone, unauthenticated.
  std::shared_ptr<AccessGuard> access;
  // Counts each authenticated account's use and puts a receipt on every
  // response to it (meter.h). None: no metering.
  std::shared_ptr<Meter> meter;
  // For a paid service: whether an authenticated account, having used
  // `so_far`, may send one more request; nullopt admits it, a response (402)
  // refuses it before the engine sees anything.
  std::function<std::optional<http::Response>(const ledger::AccountId& account, const Usage& so_far)> admit;
};

class Gateway {
 public:
  Gateway(std::shared_ptr<TlsServerContext> tls, Dialer engine, GatewayOptions options);
  ~Gateway();
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  // Binds and serves on a thread of its own; returns the port.
  Result<int> start();
  // Stops accepting, lets requests being answered finish (see
  // http::Server::stop) and joins. Idempotent.
  void stop();

 private:
  http::Response handle(const http::Request& request);
  http::Response metered(const ledger::AccountId& account, http::Request request);

  GatewayOptions options_;
  Forwarder forwarder_;
  std::unique_ptr<http::Server> server_;
  std::thread thread_;
};

}  // namespace ward::serve
