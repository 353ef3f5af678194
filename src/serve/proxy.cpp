#include "serve/proxy.h"

#include <chrono>
#include <utility>

#include "serve/access.h"

namespace ward::serve {

Result<Receipt> receipt_for_service(std::string_view value, const crypto::Sha256Digest& tls_key,
                                    std::uint64_t order, const std::optional<ledger::AccountId>& account) {
  auto parsed = parse_receipt(value);
  if (!parsed) return parsed;
  if (parsed->tls_key != tls_key)
    return fail("serve.receipt", "the usage receipt names another TLS key than the one verified");
  if (parsed->order != order) {
    return fail("serve.receipt", "the usage receipt is for order " + std::to_string(parsed->order) +
                                     ", not " + std::to_string(order));
  }
  if (account && parsed->account != *account)
    return fail("serve.receipt", "the usage receipt is for another account than this client's");
  return parsed;
}

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
  if (options_.key) account_ = options_.key->public_key();
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
  // A receipt is kept only if it is for the service as verified: its TLS
  // key, its order and (with a key) this client's account. Its signature is
  // checked when the log is read (read_receipt_log, `ward services usage`):
  // it came over the connection just verified, and checking it here would
  // double the proxy's cost per request.
  const auto receipt = http::find_header(response.headers, kReceiptHeader);
  if (receipt && receipts_ && verified && verified->leaf && verified->claims) {
    std::string refused;
    if (auto matched = receipt_for_service(*receipt, verified->tls_key, verified->claims->order, account_);
        !matched) {
      refused = matched.error().message;
    } else if (auto kept = receipts_->append(*receipt, *verified->leaf); !kept) {
      refused = kept.error().message;
    }
    if (!refused.empty() && options_.warn) options_.warn(refused);
  }
  return response;
}

}  // namespace ward::serve
