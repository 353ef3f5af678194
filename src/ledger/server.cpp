#include "ledger/server.h"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <functional>
#include <utility>

#include "http/router.h"
#include "ledger/client.h"

namespace ward::ledger {
namespace {

using json = nlohmann::json;
using http::Request;
using http::Response;

// A long poll checks this often whether the server is stopping.
constexpr std::chrono::milliseconds kStopCheck{250};

constexpr const char* kBadRequest = "bad_request";
constexpr const char* kInternal = "internal";

void send_json(Response& res, int status, const json& body) {
  res = http::json_response(status, body);
}

void send_error(Response& res, int status, std::string_view reason, std::string_view message) {
  res = http::error_response(status, reason, message);
}

// A storage failure is the server's fault; a proof asked for sizes the log
// cannot prove, or an id that does not parse, is the caller's.
void send_failure(Response& res, const Error& e) {
  if (e.code == "ledger.proof" || e.code == "ledger.id") {
    send_error(res, 400, kBadRequest, e.message);
  } else {
    send_error(res, 500, kInternal, e.message);
  }
}

std::optional<std::uint64_t> parse_u64(std::string_view text) {
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  if (text.size() > 1 && text[0] == '0') return std::nullopt;
  return value;
}

// Query parameter `name` as an unsigned integer, `fallback` when absent;
// nullopt (after sending a 400) when present but not a number.
std::optional<std::uint64_t> u64_param(const Request& req, Response& res, const char* name,
                                       std::uint64_t fallback) {
  if (!req.has_param(name)) return fallback;
  const auto value = parse_u64(req.get_param(name));
  if (!value) send_error(res, 400, kBadRequest, std::string("query parameter ") + name + " is not a number");
  return value;
}

}  // namespace

int http_status(const Rejection& rejection) {
  const std::string& r = rejection.reason;
  if (r == reason::kMalformed || r == reason::kBadSignature || r == reason::kWrongLedger) return 400;
  if (r == reason::kTooLarge) return 413;
  if (r == reason::kNotOwner || r == reason::kNotAllowed || r == reason::kDevOnly) return 403;
  return 409;
}

Result<ListenAddress> parse_listen_address(std::string_view text) {
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    return fail("ledger.server", "listen address '" + std::string(text) + "' is not HOST:PORT");
  }
  std::string_view host = text.substr(0, colon);
  if (host.starts_with('[') && host.ends_with(']')) host = host.substr(1, host.size() - 2);
  const auto port = parse_u64(text.substr(colon + 1));
  if (!port || *port > 65535 || host.empty()) {
    return fail("ledger.server",
                "listen address '" + std::string(text) + "' is not HOST:PORT (port 0..65535)");
  }
  return ListenAddress{std::string(host), static_cast<int>(*port)};
}

struct LedgerServer::Impl {
  Ledger& ledger;
  ServerOptions options;
  // The embedded client keeps no state of its own and Ledger is thread-safe,
  // so every connection's thread shares it.
  std::unique_ptr<LedgerClient> client;
  http::Router router;
  std::atomic<bool> stopping{false};
  // Long polls hold a handler thread while they wait: at most half the
  // threads may, so that polls (from one peer or many) never starve other
  // requests; a poll beyond that is answered at once and the client polls again.
  std::atomic<std::size_t> waiting{0};
  std::size_t max_waiting = 1;
  bool bound = false;
  http::Server http;

  Impl(Ledger& l, ServerOptions o)
      : ledger(l),
        options(o),
        client(borrow_client(l)),
        max_waiting(std::max<std::size_t>(http_options(o).threads / 2, 1)),
        http([this](const Request& req) { return router.handle(req); }, http_options(o)) {
    add_routes();
  }

  static http::ServerOptions http_options(const ServerOptions& o) {
    http::ServerOptions h = o.http;
    h.threads = std::max<std::size_t>(o.threads, 2);
    h.limits.max_body_bytes = kMaxEnvelopeSize;
    return h;
  }

  // "/a/{}" takes one path segment as the handler's parameter.
  void add(const char* method, std::string_view path,
           std::function<void(const Request&, Response&, const std::string&)> f) {
    router.add(method, path, [f = std::move(f)](const Request& req, const std::string& param) {
      Response res;
      f(req, res, param);
      return res;
    });
  }

  void submit(const Request& req, Response& res) {
    auto receipt = ledger.submit(req.body);
    if (!receipt) return send_failure(res, receipt.error());
    if (receipt->rejection) {
      return send_error(res, http_status(*receipt->rejection), receipt->rejection->reason,
                        receipt->rejection->message);
    }
    send_json(res, 200, to_json(*receipt));
  }

  // An entity that may be missing: 404 "not_found" when it is.
  template <class T>
  void send_optional(Response& res, const Result<std::optional<T>>& found, const std::string& what) {
    if (!found) return send_failure(res, found.error());
    if (!*found) return send_error(res, 404, reason::kNotFound, "no " + what);
    send_json(res, 200, to_json(**found));
  }

  template <class T>
  void send_list(Response& res, const Result<std::vector<T>>& list, const char* key) {
    if (!list) return send_failure(res, list.error());
    json items = json::array();
    for (const auto& item : *list) items.push_back(to_json(item));
    send_json(res, 200, {{key, std::move(items)}});
  }

  static std::optional<std::uint64_t> number_in_path(const std::string& text, Response& res) {
    const auto n = parse_u64(text);
    if (!n) send_error(res, 400, kBadRequest, "'" + text + "' is not a number");
    return n;
  }

  static std::optional<std::array<std::uint8_t, 32>> id_in(const std::string& text, Response& res) {
    auto id = parse_id(text);
    if (!id) {
      send_error(res, 400, kBadRequest, "'" + text + "': " + id.error().message);
      return std::nullopt;
    }
    return *id;
  }

  void add_routes() {
    add("POST", "/v1/tx",
        [this](const Request& req, Response& res, const std::string&) { submit(req, res); });
    add("GET", "/v1/info", [this](const Request&, Response& res, const std::string&) {
      auto s = client->summary();
      if (!s) return send_failure(res, s.error());
      send_json(res, 200, to_json(*s));
    });
    add("GET", "/v1/checkpoint", [this](const Request&, Response& res, const std::string&) {
      res.set_content(ledger.latest_checkpoint(), "text/plain; charset=utf-8");
    });
    add("GET", "/v1/verifier-key", [this](const Request&, Response& res, const std::string&) {
      res.set_content(ledger.verifier_key() + "\n", "text/plain; charset=utf-8");
    });
    add("GET", "/v1/records",
        [this](const Request& req, Response& res, const std::string&) { feed(req, res); });
    add("GET", "/v1/records/{}", [this](const Request& req, Response& res, const std::string& m) {
      const auto index = number_in_path(m, res);
      if (!index) return;
      std::optional<std::uint64_t> size;
      if (req.has_param("size")) {
        size = u64_param(req, res, "size", 0);
        if (!size) return;
      }
      auto proof = client->record(*index, size);
      if (!proof) return send_failure(res, proof.error());
      if (!*proof) {
        return send_error(res, 404, reason::kNotFound,
                          "record " + std::to_string(*index) + " is not in the latest checkpoint");
      }
      send_json(res, 200, to_json(**proof));
    });
    add("GET", "/v1/proofs/consistency", [this](const Request& req, Response& res, const std::string&) {
      if (!req.has_param("old")) return send_error(res, 400, kBadRequest, "query parameter old is required");
      const auto old_size = u64_param(req, res, "old", 0);
      if (!old_size) return;
      const auto new_size = u64_param(req, res, "new", ledger.size());
      if (!new_size) return;
      auto proof = client->consistency_proof(*old_size, *new_size);
      if (!proof) return send_failure(res, proof.error());
      send_json(res, 200, {{"old", *old_size}, {"new", *new_size}, {"proof", hashes_json(*proof)}});
    });
    add("GET", "/v1/accounts/{}", [this](const Request&, Response& res, const std::string& m) {
      const auto id = id_in(m, res);
      if (id) send_optional(res, client->account(*id), "account " + m);
    });
    add("GET", "/v1/offers", [this](const Request&, Response& res, const std::string&) {
      send_list(res, client->offers(), "offers");
    });
    add("GET", "/v1/offers/{}", [this](const Request&, Response& res, const std::string& m) {
      const auto id = number_in_path(m, res);
      if (id) send_optional(res, client->offer(*id), "offer " + m);
    });
    add("GET", "/v1/orders",
        [this](const Request& req, Response& res, const std::string&) { orders(req, res); });
    add("GET", "/v1/orders/{}", [this](const Request&, Response& res, const std::string& m) {
      const auto id = number_in_path(m, res);
      if (id) send_optional(res, client->order(*id), "order " + m);
    });
    add("GET", "/v1/cvms", [this](const Request&, Response& res, const std::string&) {
      send_list(res, client->cvms(), "cvms");
    });
    add("GET", "/v1/cvms/{}", [this](const Request&, Response& res, const std::string& m) {
      const auto id = id_in(m, res);
      if (id) send_optional(res, client->cvm(*id), "CVM " + m);
    });
    add("GET", "/v1/reports/{}", [this](const Request&, Response& res, const std::string& m) {
      const auto id = number_in_path(m, res);
      if (id) send_optional(res, client->report(*id), "report for order " + m);
    });
    add("GET", "/v1/start-reports/{}", [this](const Request&, Response& res, const std::string& m) {
      const auto id = number_in_path(m, res);
      if (id) send_optional(res, client->start_report(*id), "start report for order " + m);
    });
    add("GET", "/v1/subscriptions/{}", [this](const Request& req, Response& res, const std::string& m) {
      const auto order = number_in_path(m, res);
      if (!order) return;
      if (!req.has_param("account")) return send_list(res, client->subscriptions(*order), "subscriptions");
      const std::string account = req.get_param("account");
      const auto id = id_in(account, res);
      if (id)
        send_optional(res, client->subscription(*order, *id),
                      "subscription of " + account + " to order " + m);
    });
    add("GET", "/v1/grants/{}", [this](const Request& req, Response& res, const std::string& m) {
      const auto grant = id_in(m, res);
      if (!grant) return;
      if (!req.has_param("owner")) return send_error(res, 400, kBadRequest, "the query needs owner=<account>");
      const std::string owner = req.get_param("owner");
      const auto id = id_in(owner, res);
      if (id) send_optional(res, client->grant(*grant, *id), "grant " + m + " of " + owner);
    });
  }

  void orders(const Request& req, Response& res) {
    OrderFilter filter;
    if (req.has_param("creator")) {
      const auto id = id_in(req.get_param("creator"), res);
      if (!id) return;
      filter.creator = *id;
    }
    if (req.has_param("cvm")) {
      const auto id = id_in(req.get_param("cvm"), res);
      if (!id) return;
      filter.cvm = *id;
    }
    if (req.has_param("status")) {
      const std::string text = req.get_param("status");
      filter.status = parse_order_status(text);
      if (!filter.status) return send_error(res, 400, kBadRequest, "unknown order status '" + text + "'");
    }
    const auto first = u64_param(req, res, "first", 0);
    if (!first) return;
    const auto limit = u64_param(req, res, "limit", filter.limit);
    if (!limit) return;
    filter.first_id = *first;
    filter.limit = static_cast<std::size_t>(std::min<std::uint64_t>(*limit, filter.limit));
    send_list(res, client->orders(filter), "orders");
  }

  // The long poll: answers at once when records from `after` on exist, else
  // when one is committed, the wait ends, or the server stops.
  void feed(const Request& req, Response& res) {
    const auto after = u64_param(req, res, "after", 0);
    if (!after) return;
    const auto wait = u64_param(req, res, "wait", 0);
    if (!wait) return;
    const auto deadline = std::chrono::steady_clock::now() +
                          std::chrono::seconds(std::min<std::uint64_t>(*wait, kMaxFeedWait.count()));
    const bool may_wait = waiting.fetch_add(1) < max_waiting;
    struct Leave {
      std::atomic<std::size_t>& n;
      ~Leave() { n.fetch_sub(1); }
    } leave{waiting};
    while (may_wait && !stopping && ledger.size() <= *after) {
      const auto now = std::chrono::steady_clock::now();
      if (now >= deadline) break;
      ledger.wait_for_records(
          *after, std::min<std::chrono::milliseconds>(
                      kStopCheck, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now)));
    }
    auto page = client->records_after(*after, std::chrono::seconds{0});
    if (!page) return send_failure(res, page.error());
    send_json(res, 200, to_json(*page));
  }
};

LedgerServer::LedgerServer(Ledger& ledger, ServerOptions options)
    : impl_(std::make_unique<Impl>(ledger, options)) {}

LedgerServer::~LedgerServer() {
  stop();
}

Result<int> LedgerServer::bind(const ListenAddress& address) {
  auto port = impl_->http.bind(address.host, address.port);
  if (!port) return fail("ledger.server", port.error().message);
  impl_->bound = true;
  return port;
}

Result<void> LedgerServer::serve() {
  if (!impl_->bound) return fail("ledger.server", "serve() before bind()");
  auto served = impl_->http.serve();
  if (!served) return fail("ledger.server", served.error().message);
  return {};
}

void LedgerServer::stop() {
  impl_->stopping = true;
  impl_->http.stop();
}

}  // namespace ward::ledger
