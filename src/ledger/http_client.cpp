#include "ledger/http_client.h"

#include <httplib.h>

#include <utility>

#include "http/message.h"

namespace ward::ledger {
namespace {

using json = nlohmann::json;

constexpr std::chrono::seconds kConnectTimeout{10};
constexpr std::chrono::seconds kRequestTimeout{30};

// Thrown by the field readers below and caught in decode(), so a decoder
// reads like the JSON it expects; it never leaves this file.
struct BadValue {
  std::string what;
};

const json& member(const json& j, const char* key) {
  const auto it = j.find(key);
  if (it == j.end()) throw BadValue{std::string("no \"") + key + "\""};
  return *it;
}

std::uint64_t u64(const json& j, const char* key) {
  const json& v = member(j, key);
  if (!v.is_number_unsigned()) throw BadValue{std::string("\"") + key + "\" is not an unsigned integer"};
  return v.get<std::uint64_t>();
}

std::string str(const json& j, const char* key) {
  const json& v = member(j, key);
  if (!v.is_string()) throw BadValue{std::string("\"") + key + "\" is not a string"};
  return v.get<std::string>();
}

bool boolean(const json& j, const char* key) {
  const json& v = member(j, key);
  if (!v.is_boolean()) throw BadValue{std::string("\"") + key + "\" is not a boolean"};
  return v.get<bool>();
}

std::array<std::uint8_t, 32> id(const json& j, const char* key) {
  auto parsed = parse_id(str(j, key));
  if (!parsed) throw BadValue{std::string("\"") + key + "\": " + parsed.error().message};
  return *parsed;
}

std::vector<std::string> strings(const json& j, const char* key) {
  const json& v = member(j, key);
  if (!v.is_array()) throw BadValue{std::string("\"") + key + "\" is not an array"};
  std::vector<std::string> out;
  for (const auto& s : v) {
    if (!s.is_string()) throw BadValue{std::string("\"") + key + "\" holds a value that is not a string"};
    out.push_back(s.get<std::string>());
  }
  return out;
}

std::vector<std::uint64_t> u64s(const json& j, const char* key) {
  const json& v = member(j, key);
  if (!v.is_array()) throw BadValue{std::string("\"") + key + "\" is not an array"};
  std::vector<std::uint64_t> out;
  for (const auto& n : v) {
    if (!n.is_number_unsigned())
      throw BadValue{std::string("\"") + key + "\" holds a value that is not a number"};
    out.push_back(n.get<std::uint64_t>());
  }
  return out;
}

OfferKind offer_kind(const json& j, const char* key) {
  const std::string name = str(j, key);
  for (auto k : {OfferKind::Engine, OfferKind::Dataset, OfferKind::Model, OfferKind::Tee}) {
    if (to_string(k) == name) return k;
  }
  throw BadValue{"unknown offer kind " + name};
}

Price price(const json& j, const char* key) {
  const json& p = member(j, key);
  if (!p.is_object()) throw BadValue{std::string("\"") + key + "\" is not an object"};
  const std::string model = str(p, "model");
  for (auto m : {PriceModel::Fixed, PriceModel::PerHour, PriceModel::RevenueShare}) {
    if (to_string(m) != model) continue;
    Price out;
    out.model = m;
    if (m == PriceModel::RevenueShare) {
      const std::uint64_t bps = u64(p, "bps");
      if (bps > 10000) throw BadValue{"\"bps\" exceeds 10000"};
      out.bps = static_cast<std::uint32_t>(bps);
    } else {
      out.amount = u64(p, "amount");
    }
    return out;
  }
  throw BadValue{"unknown price model " + model};
}

Account account_of(const json& j) {
  return Account{id(j, "id"),       str(j, "recipient"), str(j, "name"),
                 u64(j, "balance"), u64(j, "nonce"),     u64(j, "created")};
}

Offer offer_of(const json& j) {
  return Offer{u64(j, "id"),          id(j, "owner"),
               offer_kind(j, "kind"), str(j, "name"),
               str(j, "resource"),    price(j, "price"),
               boolean(j, "enabled"), j.contains("timeout") ? u64(j, "timeout") : 0};
}

std::optional<Resources> resources_of(const json& j, const char* key) {
  const auto it = j.find(key);
  if (it == j.end()) return std::nullopt;
  auto r = resources_from_json(*it);
  if (!r) throw BadValue{std::string("\"") + key + "\" is not {cores, memory_mib, gpus}"};
  return r;
}

Cvm cvm_of(const json& j) {
  return Cvm{id(j, "id"),
             id(j, "key"),
             str(j, "recipient"),
             str(j, "certificate"),
             u64(j, "offer"),
             id(j, "provider"),
             u64(j, "registered_at"),
             u64(j, "heartbeat_at"),
             resources_of(j, "resources")};
}

Order order_of(const json& j) {
  Order o;
  o.id = u64(j, "id");
  o.creator = id(j, "creator");
  o.cvm = id(j, "cvm");
  o.engine = str(j, "engine");
  o.inputs = strings(j, "inputs");
  o.outputs = strings(j, "outputs");
  o.offers = u64s(j, "offers");
  o.deposit = u64(j, "deposit");
  const auto status = parse_order_status(str(j, "status"));
  if (!status) throw BadValue{"unknown order status"};
  o.status = *status;
  o.created_at = u64(j, "created_at");
  o.started_at = u64(j, "started_at");
  o.ended_at = u64(j, "ended_at");
  o.error = str(j, "error");
  const json& payments = member(j, "payments");
  if (!payments.is_array()) throw BadValue{"\"payments\" is not an array"};
  for (const auto& p : payments) {
    o.payments.push_back(Payment{u64(p, "offer"), id(p, "to"), price(p, "price"), u64(p, "amount")});
  }
  o.refund = u64(j, "refund");
  if (const auto serve = j.find("serve"); serve != j.end()) {
    auto terms = service_terms_from_json(*serve);
    if (!terms) throw BadValue{terms.error().message};
    o.serve = std::move(*terms);
  }
  if (j.contains("tee_offer")) {
    o.tee_offer = u64(j, "tee_offer");
    o.billed = u64(j, "billed");
  }
  o.needs = resources_of(j, "needs");
  return o;
}

Report report_of(const json& j) {
  return Report{u64(j, "order"), str(j, "report"), u64(j, "index"), u64(j, "time")};
}

Subscription subscription_of(const json& j) {
  auto s = subscription_from_json(j);
  if (!s) throw BadValue{s.error().message};
  return *s;
}

Grant grant_of(const json& j) {
  return Grant{id(j, "id"), id(j, "owner"), u64s(j, "orders"), boolean(j, "revoked"), u64(j, "revoked_at")};
}

LedgerSummary summary_of(const json& j) {
  LedgerSummary s;
  s.info.id = id(j, "id");
  s.info.dev = boolean(j, "dev");
  s.origin = str(j, "origin");
  s.verifier_key = str(j, "verifier_key");
  s.size = u64(j, "size");
  return s;
}

Receipt receipt_of(const json& j) {
  Receipt r;
  r.index = u64(j, "index");
  auto leaf = hex_decode(str(j, "leaf"));
  if (!leaf) throw BadValue{"\"leaf\" is not hex"};
  auto hash = hash_from_bytes(*leaf);
  if (!hash) throw BadValue{"\"leaf\" is not a hash"};
  r.leaf = *hash;
  r.checkpoint = str(j, "checkpoint");
  return r;
}

template <class F>
auto decode(const json& j, const char* what, F f) -> Result<decltype(f(j))> {
  try {
    if (!j.is_object()) throw BadValue{"not an object"};
    return f(j);
  } catch (const BadValue& e) {
    return fail("ledger.http", std::string("the server sent a bad ") + what + ": " + e.what);
  } catch (const json::exception& e) {
    return fail("ledger.http", std::string("the server sent a bad ") + what + ": " + e.what());
  }
}

template <class F>
auto decode_list(const json& j, const char* what, F f) -> Result<std::vector<decltype(f(j))>> {
  if (!j.is_array()) return fail("ledger.http", std::string("the server sent a bad list of ") + what);
  std::vector<decltype(f(j))> out;
  for (const auto& item : j) {
    auto one = decode(item, what, f);
    if (!one) return std::unexpected(one.error());
    out.push_back(std::move(*one));
  }
  return out;
}

template <class T, class F>
Result<std::optional<T>> decode_optional(const std::optional<json>& j, const char* what, F f) {
  if (!j) return std::nullopt;
  auto value = decode(*j, what, f);
  if (!value) return std::unexpected(value.error());
  return std::optional<T>(std::move(*value));
}

struct ApiError {
  std::string reason;
  std::string message;
};

// The {"error": {"reason", "message"}} body of a refusal, when it has one.
std::optional<ApiError> api_error(const std::string& body) {
  const json j = json::parse(body, nullptr, false);
  if (!j.is_object() || !j.contains("error")) return std::nullopt;
  const json& e = j["error"];
  if (!e.is_object() || !e.contains("reason") || !e["reason"].is_string() || !e.contains("message") ||
      !e["message"].is_string()) {
    return std::nullopt;
  }
  return ApiError{e["reason"].get<std::string>(), e["message"].get<std::string>()};
}

class HttpClient final : public LedgerClient {
 public:
  explicit HttpClient(std::string url) : url_(std::move(url)), http_(url_) {
    http_.set_keep_alive(true);
    // A request goes out as two writes (headers, body): without this, Nagle
    // holds the body for the server's delayed ACK, some 40 ms a call.
    http_.set_tcp_nodelay(true);
    http_.set_connection_timeout(kConnectTimeout);
    http_.set_write_timeout(kRequestTimeout);
  }

  std::string target() const override { return url_; }

  Result<LedgerSummary> summary() override {
    auto body = get_json("/v1/info", false);
    if (!body) return std::unexpected(body.error());
    return decode(**body, "summary", summary_of);
  }

  Result<Receipt> submit(std::string_view envelope) override {
    http_.set_read_timeout(kRequestTimeout);
    auto res = http_.Post("/v1/tx", std::string(envelope), "application/json");
    if (!res) return unreachable(res.error());
    if (res->status == 200) {
      return decode(json::parse(res->body, nullptr, false), "receipt", receipt_of);
    }
    // Every 4xx answer to a transaction is a refusal of it, with its reason.
    if (res->status >= 400 && res->status < 500) {
      if (auto e = api_error(res->body)) return Receipt{Rejection{e->reason, e->message}, 0, {}, {}};
    }
    return refused("/v1/tx", res->status, res->body);
  }

  Result<std::optional<Account>> account(const AccountId& account) override {
    auto body = get_json("/v1/accounts/" + hex_encode(account), true);
    if (!body) return std::unexpected(body.error());
    return decode_optional<Account>(*body, "account", account_of);
  }

  Result<std::vector<Offer>> offers() override { return get_list("/v1/offers", "offers", "offer", offer_of); }

  Result<std::optional<Offer>> offer(std::uint64_t offer) override {
    auto body = get_json("/v1/offers/" + std::to_string(offer), true);
    if (!body) return std::unexpected(body.error());
    return decode_optional<Offer>(*body, "offer", offer_of);
  }

  Result<std::vector<Order>> orders(const OrderFilter& filter) override {
    std::string path =
        "/v1/orders?first=" + std::to_string(filter.first_id) + "&limit=" + std::to_string(filter.limit);
    if (filter.creator) path += "&creator=" + hex_encode(*filter.creator);
    if (filter.cvm) path += "&cvm=" + hex_encode(*filter.cvm);
    if (filter.status) path += "&status=" + std::string(to_string(*filter.status));
    return get_list(path, "orders", "order", order_of);
  }

  Result<std::optional<Order>> order(std::uint64_t order) override {
    auto body = get_json("/v1/orders/" + std::to_string(order), true);
    if (!body) return std::unexpected(body.error());
    return decode_optional<Order>(*body, "order", order_of);
  }

  Result<std::vector<Cvm>> cvms() override { return get_list("/v1/cvms", "cvms", "CVM", cvm_of); }

  Result<std::optional<Cvm>> cvm(const CvmId& cvm) override {
    auto body = get_json("/v1/cvms/" + hex_encode(cvm), true);
    if (!body) return std::unexpected(body.error());
    return decode_optional<Cvm>(*body, "CVM", cvm_of);
  }

  Result<std::optional<Report>> report(std::uint64_t order) override {
    auto body = get_json("/v1/reports/" + std::to_string(order), true);
    if (!body) return std::unexpected(body.error());
    return decode_optional<Report>(*body, "report", report_of);
  }

  Result<std::optional<Report>> start_report(std::uint64_t order) override {
    auto body = get_json("/v1/start-reports/" + std::to_string(order), true);
    if (!body) return std::unexpected(body.error());
    return decode_optional<Report>(*body, "start report", report_of);
  }

  Result<std::vector<Subscription>> subscriptions(std::uint64_t order) override {
    return get_list("/v1/subscriptions/" + std::to_string(order), "subscriptions", "subscription",
                    subscription_of);
  }

  Result<std::optional<Subscription>> subscription(std::uint64_t order, const AccountId& account) override {
    auto body =
        get_json("/v1/subscriptions/" + std::to_string(order) + "?account=" + hex_encode(account), true);
    if (!body) return std::unexpected(body.error());
    return decode_optional<Subscription>(*body, "subscription", subscription_of);
  }

  Result<std::optional<Grant>> grant(const GrantId& grant, const AccountId& owner) override {
    auto body = get_json("/v1/grants/" + hex_encode(grant) + "?owner=" + hex_encode(owner), true);
    if (!body) return std::unexpected(body.error());
    return decode_optional<Grant>(*body, "grant", grant_of);
  }

  Result<std::optional<RecordProof>> record(std::uint64_t index, std::optional<std::uint64_t> size) override {
    std::string path = "/v1/records/" + std::to_string(index);
    if (size) path += "?size=" + std::to_string(*size);
    auto body = get_json(path, true);
    if (!body) return std::unexpected(body.error());
    if (!*body) return std::nullopt;
    auto proof = record_proof_from_json(**body);
    if (!proof) return std::unexpected(proof.error());
    return std::optional<RecordProof>(std::move(*proof));
  }

  Result<std::string> checkpoint() override {
    auto res = get("/v1/checkpoint", kRequestTimeout);
    if (!res) return std::unexpected(res.error());
    return std::move(res->body);
  }

  Result<std::vector<Hash>> consistency_proof(std::uint64_t old_size, std::uint64_t new_size) override {
    auto body = get_json(
        "/v1/proofs/consistency?old=" + std::to_string(old_size) + "&new=" + std::to_string(new_size), false);
    if (!body) return std::unexpected(body.error());
    if (!(*body)->is_object() || !(*body)->contains("proof"))
      return fail("ledger.http", "the server sent no proof");
    return hashes_from_json((**body)["proof"]);
  }

  Result<FeedPage> records_after(std::uint64_t first, std::chrono::seconds wait) override {
    wait = std::clamp(wait, std::chrono::seconds{0}, kMaxFeedWait);
    auto res = get("/v1/records?after=" + std::to_string(first) + "&wait=" + std::to_string(wait.count()),
                   wait + kRequestTimeout);
    if (!res) return std::unexpected(res.error());
    const json body = json::parse(res->body, nullptr, false);
    if (!body.is_object() || !body.contains("records") || !body["records"].is_array() ||
        !body.contains("size") || !body["size"].is_number_unsigned()) {
      return fail("ledger.http", "the server sent a bad page of records");
    }
    FeedPage page;
    page.size = body["size"].get<std::uint64_t>();
    for (const auto& r : body["records"]) {
      auto record = stored_record_from_json(r);
      if (!record) return std::unexpected(record.error());
      page.records.push_back(std::move(*record));
    }
    return page;
  }

 private:
  std::unexpected<Error> unreachable(httplib::Error error) const {
    return fail("ledger.http", "cannot reach the ledger at " + url_ + ": " + httplib::to_string(error));
  }

  std::unexpected<Error> refused(const std::string& path, int status, const std::string& body) const {
    std::string message =
        "the ledger at " + url_ + " answered " + path + " with HTTP " + std::to_string(status);
    if (auto e = api_error(body)) message += " (" + e->reason + "): " + e->message;
    return fail("ledger.http", message);
  }

  // A successful response; any other is an error.
  Result<httplib::Response> get(const std::string& path, std::chrono::seconds read_timeout) {
    http_.set_read_timeout(read_timeout);
    auto res = http_.Get(path);
    if (!res) return unreachable(res.error());
    if (res->status != 200) return refused(path, res->status, res->body);
    return std::move(*res);
  }

  // The JSON body of a 200 response; nullopt for a 404 "not_found" when the
  // entity asked for may be missing.
  Result<std::optional<json>> get_json(const std::string& path, bool may_be_missing) {
    http_.set_read_timeout(kRequestTimeout);
    auto res = http_.Get(path);
    if (!res) return unreachable(res.error());
    if (res->status == 404 && may_be_missing) {
      if (auto e = api_error(res->body); e && e->reason == reason::kNotFound) return std::nullopt;
    }
    if (res->status != 200) return refused(path, res->status, res->body);
    json body = json::parse(res->body, nullptr, false);
    if (body.is_discarded())
      return fail("ledger.http", "the ledger at " + url_ + " sent invalid JSON for " + path);
    return std::optional<json>(std::move(body));
  }

  template <class F>
  auto get_list(const std::string& path, const char* key, const char* what, F f)
      -> Result<std::vector<decltype(f(json()))>> {
    auto body = get_json(path, false);
    if (!body) return std::unexpected(body.error());
    if (!(*body)->is_object() || !(*body)->contains(key)) {
      return fail("ledger.http", std::string("the server sent no ") + key);
    }
    return decode_list((**body)[key], what, f);
  }

  std::string url_;
  httplib::Client http_;
};

}  // namespace

Result<std::unique_ptr<LedgerClient>> open_http_client(std::string_view url) {
  const auto base = http::base_url(url);
  if (!base)
    return fail("ledger.client", "bad ledger URL '" + std::string(url) + "' (expected http://HOST:PORT)");
  auto client = std::make_unique<HttpClient>(*base);
  return std::unique_ptr<LedgerClient>(std::move(client));
}

}  // namespace ward::ledger
