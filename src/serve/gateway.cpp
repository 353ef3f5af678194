#include "serve/gateway.h"

#include <optional>
#include <utility>

#include "base/bytes.h"

namespace ward::serve {

Gateway::Gateway(std::shared_ptr<TlsServerContext> tls, Dialer engine, GatewayOptions options)
    : options_(std::move(options)), forwarder_(std::move(engine)) {
  http::ServerOptions server = options_.server;
  server.transport = tls->transport();
  server_ = std::make_unique<http::Server>([this](const http::Request& request) { return handle(request); },
                                           std::move(server));
}

http::Response Gateway::handle(const http::Request& request) {
  std::optional<ledger::AccountId> account;
  if (options_.access) {
    auto checked = options_.access->check(request, std::chrono::system_clock::now());
    if (!checked) return std::move(checked.error());
    account = *checked;
  }
  // The engine sees the account the gateway authenticated, never one a
  // client wrote itself, and no signature headers.
  http::Request forwarded = request;
  remove_access_headers(forwarded.headers);
  if (account) forwarded.headers.push_back({std::string(kAccountHeader), hex_encode(*account)});
  return forwarder_.forward(forwarded);
}

Gateway::~Gateway() {
  stop();
}

Result<int> Gateway::start() {
  auto port = server_->bind(options_.host, options_.port);
  if (!port) return std::unexpected(port.error());
  thread_ = std::thread([this] { (void)server_->serve(); });
  return *port;
}

void Gateway::stop() {
  server_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace ward::serve
