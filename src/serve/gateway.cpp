#include "serve/gateway.h"

#include <utility>

namespace ward::serve {

Gateway::Gateway(std::shared_ptr<TlsServerContext> tls, Dialer engine, GatewayOptions options)
    : options_(std::move(options)), forwarder_(std::move(engine)) {
  http::ServerOptions server = options_.server;
  server.transport = tls->transport();
  server_ = std::make_unique<http::Server>(
      [this](const http::Request& request) { return forwarder_.forward(request); }, std::move(server));
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
