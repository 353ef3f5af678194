#include "ledger/server.h"

#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <functional>
#include <sys/socket.h>
#include <utility>
#include <vector>

#include "ledger/client.h"

namespace ward::ledger {
namespace {

using json = nlohmann::json;
using httplib::Request;
using httplib::Response;

// A long poll checks this often whether the server is stopping.
constexpr std::chrono::milliseconds kStopCheck{250};

constexpr const char* kBadRequest = "bad_request";
constexpr const char* kInternal = "internal";

void send_json(Response& res, int status, const json& body) {
  res.status = status;
  // Replace rather than throw on text that is not UTF-8: a response must go out.
  res.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
}

void send_error(Response& res, int status, std::string_view reason, std::string_view message) {
  send_json(res, status, {{"error", {{"reason", reason}, {"message", message}}}});
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
  const auto value = parse_u64(req.get_param_value(name));
  if (!value) send_error(res, 400, kBadRequest, std::string("query parameter ") + name + " is not a number");
  return value;
}

// A path: fixed, or a prefix and one more segment, the handler's parameter.
struct Route {
  const char* method;
  std::string_view path;
  bool has_param;
  std::function<void(const Request&, Response&, const std::string&)> handle;

  std::optional<std::string> match(std::string_view p) const {
    if (!has_param) return p == path ? std::optional<std::string>("") : std::nullopt;
    if (!p.starts_with(path) || p.size() <= path.size() + 1 || p[path.size()] != '/') return std::nullopt;
    const std::string_view param = p.substr(path.size() + 1);
    if (param.find('/') != std::string_view::npos) return std::nullopt;
    return std::string(param);
  }
};

// The reason and message of a refusal httplib makes before any handler runs.
std::pair<const char*, std::string> httplib_refusal(int status) {
  switch (status) {
    case 400:
      return {reason::kMalformed, "the request is not valid HTTP"};
    case 408:
      return {"timeout", "the request did not arrive in time"};
    case 413:
      return {reason::kTooLarge,
              "the request body is larger than " + std::to_string(kMaxEnvelopeSize) + " bytes"};
    case 414:
    case 431:
      return {reason::kTooLarge, "the request line or headers are too long"};
    default:
      if (status >= 500) return {kInternal, "the server failed"};
      return {"http_error", "HTTP status " + std::to_string(status)};
  }
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

// httplib listens with a backlog of 5 (fixed when Debian built it): a burst
// of new connections overflows it and their first requests are lost. Linux
// lets listen() on a listening socket raise the backlog, which needs the
// socket httplib keeps to itself.
class HttpServer final : public httplib::Server {
 public:
  bool raise_backlog() { return ::listen(svr_sock_, SOMAXCONN) == 0; }
};

struct LedgerServer::Impl {
  Ledger& ledger;
  ServerOptions options;
  // The embedded client keeps no state of its own and Ledger is thread-safe,
  // so every connection's thread shares it.
  std::unique_ptr<LedgerClient> client;
  HttpServer http;
  std::vector<Route> routes;
  std::atomic<bool> stopping{false};
  bool bound = false;

  Impl(Ledger& l, ServerOptions o) : ledger(l), options(o), client(borrow_client(l)) {
    const std::size_t threads = std::max<std::size_t>(options.threads, 2);
    http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    http.set_payload_max_length(kMaxEnvelopeSize);
    http.set_read_timeout(options.io_timeout);
    http.set_write_timeout(options.io_timeout);
    http.set_keep_alive_timeout(options.keep_alive.count());
    // Keep-alive clients (nodes, the benchmark) send many requests per connection.
    http.set_keep_alive_max_count(100000);
    http.set_tcp_nodelay(true);
    add_routes();
    http.set_pre_routing_handler([this](const Request& req, Response& res) { return route(req, res); });
    http.Post("/v1/tx", [this](const Request& req, Response& res) { submit(req, res); });
    // Fills in the body of refusals httplib makes itself (413, 400, ...).
    http.set_error_handler(httplib::Server::HandlerWithResponse([](const Request&, Response& res) {
      if (res.body.empty()) {
        const auto [why, message] = httplib_refusal(res.status);
        send_error(res, res.status, why, message);
      }
      return httplib::Server::HandlerResponse::Handled;
    }));
    http.set_exception_handler([](const Request&, Response& res, std::exception_ptr ep) {
      std::string what = "unexpected failure";
      try {
        if (ep) std::rethrow_exception(ep);
      } catch (const std::exception& e) {
        what = e.what();
      } catch (...) {
      }
      send_error(res, 500, kInternal, what);
    });
  }

  // Dispatches every request here, so that an unknown path is a JSON 404 and
  // a known path with the wrong method a 405. Transactions go on to httplib's
  // own POST handler, which reads the body within the size limit.
  httplib::Server::HandlerResponse route(const Request& req, Response& res) {
    const std::string method = req.method == "HEAD" ? "GET" : req.method;
    for (const Route& r : routes) {
      const auto param = r.match(req.path);
      if (!param) continue;
      if (method != r.method) {
        res.set_header("Allow", r.method);
        send_error(res, 405, "method_not_allowed",
                   req.method + " is not allowed on " + req.path + " (use " + r.method + ")");
        return httplib::Server::HandlerResponse::Handled;
      }
      if (!r.handle) return httplib::Server::HandlerResponse::Unhandled;
      r.handle(req, res, *param);
      return httplib::Server::HandlerResponse::Handled;
    }
    send_error(res, 404, "unknown_path", "no such endpoint: " + req.path);
    return httplib::Server::HandlerResponse::Handled;
  }

  // "/a/{}" takes one path segment as the handler's parameter.
  void add(const char* method, std::string_view path,
           std::function<void(const Request&, Response&, const std::string&)> f) {
    const bool has_param = path.ends_with("/{}");
    if (has_param) path.remove_suffix(3);
    routes.push_back(Route{method, path, has_param, std::move(f)});
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
    add("POST", "/v1/tx", nullptr);
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
  }

  void orders(const Request& req, Response& res) {
    OrderFilter filter;
    if (req.has_param("creator")) {
      const auto id = id_in(req.get_param_value("creator"), res);
      if (!id) return;
      filter.creator = *id;
    }
    if (req.has_param("cvm")) {
      const auto id = id_in(req.get_param_value("cvm"), res);
      if (!id) return;
      filter.cvm = *id;
    }
    if (req.has_param("status")) {
      const std::string text = req.get_param_value("status");
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
    while (!stopping && ledger.size() <= *after) {
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
  int port = address.port;
  if (port == 0) {
    port = impl_->http.bind_to_any_port(address.host);
    if (port <= 0) return fail("ledger.server", "cannot listen on " + address.host + " (any port)");
  } else if (!impl_->http.bind_to_port(address.host, port)) {
    return fail("ledger.server", "cannot listen on " + address.host + ":" + std::to_string(port) +
                                     " (in use, or not an address of this machine)");
  }
  if (!impl_->http.raise_backlog()) return fail("ledger.server", "cannot raise the listen backlog");
  impl_->bound = true;
  return port;
}

Result<void> LedgerServer::serve() {
  if (!impl_->bound) return fail("ledger.server", "serve() before bind()");
  if (impl_->stopping) return {};
  if (!impl_->http.listen_after_bind() && !impl_->stopping) {
    return fail("ledger.server", "the HTTP server stopped unexpectedly");
  }
  return {};
}

void LedgerServer::stop() {
  impl_->stopping = true;
  impl_->http.stop();
}

}  // namespace ward::ledger
