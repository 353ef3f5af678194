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
  if (!account) return forwarder_.forward(forwarded);
  forwarded.headers.push_back({std::string(kAccountHeader), hex_encode(*account)});
  if (options_.admit) {
    const Usage so_far = options_.meter ? options_.meter->current(*account) : Usage{};
    if (auto refused = options_.admit(*account, so_far)) return std::move(*refused);
  }
  if (!options_.meter) return forwarder_.forward(forwarded);
  return metered(*account, std::move(forwarded));
}

// The receipt counts this request (its body as the client sent it); what
// its response brings (body bytes, the tokens its "usage" reports, or its
// events) is added once the body has ended, and so shows on the account's
// next receipt. A streamed completion is asked for its usage (ask_for_usage).
http::Response Gateway::metered(const ledger::AccountId& account, http::Request request) {
  const std::shared_ptr<Meter> meter = options_.meter;
  std::string receipt = meter->admit(account, request.body.size(), std::chrono::system_clock::now());
  ask_for_usage(request);
  http::Response res = forwarder_.forward(request);
  std::erase_if(res.headers, [](const http::Header& h) { return http::iequals(h.name, kReceiptHeader); });
  res.headers.push_back({std::string(kReceiptHeader), std::move(receipt)});
  const std::string content_type(http::find_header(res.headers, "Content-Type").value_or(""));
  if (!res.stream) {
    TokenCounter tokens(content_type);
    tokens.feed(res.body);
    meter->add(account, res.body.size(), tokens.tokens());
    return res;
  }
  res.stream = [meter, account, content_type, inner = std::move(res.stream)](http::ChunkSink& sink) {
    // Counts what reaches the client, also when the body is cut short.
    struct Counting final : http::ChunkSink {
      http::ChunkSink& out;
      TokenCounter tokens;
      std::uint64_t bytes = 0;
      Counting(http::ChunkSink& o, std::string_view type) : out(o), tokens(type) {}
      Result<void> write(std::string_view data) override {
        auto written = out.write(data);
        if (written) {
          bytes += data.size();
          tokens.feed(data);
        }
        return written;
      }
    } counting(sink, content_type);
    struct Settle {
      Meter& meter;
      const ledger::AccountId& account;
      Counting& counting;
      ~Settle() { meter.add(account, counting.bytes, counting.tokens.tokens()); }
    } settle{*meter, account, counting};
    inner(counting);
  };
  return res;
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
