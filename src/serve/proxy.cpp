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
  std::vector<std::unique_ptr<VerifiedClient>> replicas;
  replicas.push_back(std::move(client));
  return create(std::move(replicas), std::move(options));
}

Result<std::unique_ptr<Proxy>> Proxy::create(std::vector<std::unique_ptr<VerifiedClient>> replicas,
                                             ProxyOptions options) {
  if (replicas.empty()) return fail("serve.proxy", "a proxy needs at least one service endpoint");
  std::unique_ptr<ReceiptLog> receipts;
  if (!options.receipts.empty()) {
    auto opened = ReceiptLog::open(options.receipts);
    if (!opened) return std::unexpected(opened.error());
    receipts = std::move(*opened);
  }
  return std::unique_ptr<Proxy>(new Proxy(std::move(replicas), std::move(options), std::move(receipts)));
}

Proxy::Proxy(std::vector<std::unique_ptr<VerifiedClient>> replicas, ProxyOptions options,
             std::unique_ptr<ReceiptLog> receipts)
    : options_(std::move(options)), receipts_(std::move(receipts)) {
  for (auto& client : replicas) replicas_.push_back(std::make_unique<Replica>(std::move(client)));
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
  using Clock = std::chrono::steady_clock;
  const auto now = [] { return Clock::now().time_since_epoch().count(); };
  const std::size_t n = replicas_.size();
  const std::size_t first = next_.fetch_add(1) % n;
  std::optional<http::Response> last;
  // Each replica once, from this request's turn: those marked down last,
  // so that a request still goes somewhere when every one is.
  for (int pass = 0; pass < 2; ++pass) {
    for (std::size_t k = 0; k < n; ++k) {
      Replica& replica = *replicas_[(first + k) % n];
      const bool down = replica.down_until.load() > now();
      if (down != (pass == 1)) continue;
      bool unreachable = false;
      http::Response response = forward(replica, request, unreachable);
      if (!unreachable) return response;
      replica.down_until.store(now() + std::chrono::duration_cast<Clock::duration>(kReplicaPause).count());
      last = std::move(response);
    }
  }
  return std::move(*last);
}

http::Response Proxy::forward(Replica& replica, const http::Request& request, bool& unreachable) {
  http::Request outgoing = request;
  remove_access_headers(outgoing.headers);
  const auto verified = replica.client->last_verification();
  if (options_.key && verified && verified->claims) {
    const ServiceBinding binding{verified->claims->order, verified->tls_key};
    for (auto& h : sign_request(outgoing, binding, *options_.key, std::chrono::system_clock::now()))
      outgoing.headers.push_back(std::move(h));
  }
  // Told synchronously when the upstream cannot be reached (nothing sent).
  auto reached = std::make_shared<bool>(true);
  http::Response response =
      replica.forwarder.forward(outgoing, [reached](const Exchange& e) { *reached = e.reached; });
  unreachable = !*reached;
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
