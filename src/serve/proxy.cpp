#include "serve/proxy.h"

#include <chrono>
#include <utility>

#include "serve/access.h"

namespace ward::serve {

Result<std::unique_ptr<Proxy>> Proxy::create(std::unique_ptr<VerifiedClient> client, ProxyOptions options) {
  std::unique_ptr<ReceiptLog> receipts;
  if (!options.receipts.empty()) {
    auto opened = ReceiptLog::open(options.receipts);
    if (!opened) return std::unexpected(opened.error());
    receipts = std::move(*opened);
  }
  return std::unique_ptr<Proxy>(new Proxy(std::move(client), std::move(options), std::move(receipts)));
}

Proxy::Proxy(std::unique_ptr<VerifiedClient> client, ProxyOptions options,
             std::unique_ptr<ReceiptLog> receipts)
    : client_(std::move(client)),
      options_(std::move(options)),
      receipts_(std::move(receipts)),
      forwarder_(client_->dialer()) {
  http::ServerOptions server;
  server.threads = options_.threads;
  server_ = std::make_unique<http::Server>([this](const http::Request& request) { return handle(request); },
                                           std::move(server));
}

Proxy::~Proxy() = default;

Result<int> Proxy::bind(std::string_view host, int port) {
  return server_->bind(host, port);
}

Result<void> Proxy::serve() {
  return server_->serve();
}

void Proxy::stop() {
  server_->stop();
}

http::Response Proxy::handle(const http::Request& request) {
  http::Request outgoing = request;
  remove_access_headers(outgoing.headers);
  const auto verified = client_->last_verification();
  if (options_.key && verified && verified->claims) {
    const ServiceBinding binding{verified->claims->order, verified->tls_key};
    for (auto& h : sign_request(outgoing, binding, *options_.key, std::chrono::system_clock::now()))
      outgoing.headers.push_back(std::move(h));
  }
  http::Response response = forwarder_.forward(outgoing);
  // A receipt is kept only if the key the proxy verified signed it.
  const auto receipt = http::find_header(response.headers, kReceiptHeader);
  if (receipt && receipts_ && verified && verified->leaf) {
    auto checked = verify_receipt(*receipt, *verified->leaf);
    auto kept = checked ? receipts_->append(*receipt, *verified->leaf) : Result<void>{};
    if ((!checked || !kept) && options_.warn)
      options_.warn((checked ? kept.error() : checked.error()).message);
  }
  return response;
}

}  // namespace ward::serve
