#include "ledger/state.h"

#include <algorithm>
#include <iterator>

#include "base/bytes.h"

namespace ward::ledger {
namespace {

using json = nlohmann::json;

template <class Map, class Key>
auto overlay_find(const Map& writes, const Key& key) -> std::optional<typename Map::mapped_type> {
  const auto it = writes.find(key);
  if (it == writes.end()) return std::nullopt;
  return it->second;
}

// Compares the JSON forms of two entities field by field.
std::optional<std::string> field_difference(const std::string& what, const json& stored,
                                            const json& replayed) {
  for (const auto& [key, value] : stored.items()) {
    const auto it = replayed.find(key);
    if (it == replayed.end()) return what + ": field " + key + " missing from the replayed state";
    if (*it != value) return what + ": " + key + ": stored " + value.dump() + ", replayed " + it->dump();
  }
  for (const auto& [key, value] : replayed.items()) {
    if (!stored.contains(key)) return what + ": field " + key + " missing from the stored state";
  }
  return std::nullopt;
}

template <class Map, class Name>
std::optional<std::string> map_difference(const char* kind, const Map& stored, const Map& replayed,
                                          Name name) {
  for (const auto& [key, value] : stored) {
    const auto it = replayed.find(key);
    if (it == replayed.end()) return std::string(kind) + " " + name(key) + " is stored but not replayed";
    if (!(it->second == value)) {
      if (auto d =
              field_difference(std::string(kind) + " " + name(key), to_json(value), to_json(it->second))) {
        return d;
      }
      return std::string(kind) + " " + name(key) + " differs";
    }
  }
  for (const auto& [key, value] : replayed) {
    if (!stored.contains(key)) return std::string(kind) + " " + name(key) + " is replayed but not stored";
  }
  return std::nullopt;
}

}  // namespace

std::string_view to_string(OrderStatus status) {
  switch (status) {
    case OrderStatus::New:
      return "new";
    case OrderStatus::Processing:
      return "processing";
    case OrderStatus::Done:
      return "done";
    case OrderStatus::Error:
      return "error";
    case OrderStatus::Canceled:
      return "canceled";
  }
  return "?";
}

std::optional<OrderStatus> parse_order_status(std::string_view text) {
  for (auto s : {OrderStatus::New, OrderStatus::Processing, OrderStatus::Done, OrderStatus::Error,
                 OrderStatus::Canceled}) {
    if (to_string(s) == text) return s;
  }
  return std::nullopt;
}

json to_json(const Account& a) {
  return {{"id", hex_encode(a.id)}, {"recipient", a.recipient}, {"name", a.name},
          {"balance", a.balance},   {"nonce", a.nonce},         {"created", a.created}};
}

json to_json(const Offer& o) {
  json out = {{"id", o.id},          {"owner", hex_encode(o.owner)}, {"kind", to_string(o.kind)},
              {"name", o.name},      {"resource", o.resource},       {"price", price_json(o.price)},
              {"enabled", o.enabled}};
  if (o.timeout != 0) out["timeout"] = o.timeout;
  return out;
}

json to_json(const Resources& r) {
  return {{"cores", r.cores}, {"memory_mib", r.memory_mib}, {"gpus", r.gpus}};
}

std::optional<Resources> resources_from_json(const json& j) {
  if (!j.is_object() || j.size() != 3) return std::nullopt;
  Resources r;
  for (auto [name, field] :
       {std::pair{"cores", &r.cores}, {"memory_mib", &r.memory_mib}, {"gpus", &r.gpus}}) {
    const auto it = j.find(name);
    if (it == j.end() || !it->is_number_unsigned()) return std::nullopt;
    *field = it->get<std::uint64_t>();
  }
  return r;
}

json to_json(const Cvm& c) {
  json out = {{"id", hex_encode(c.id)},
              {"key", hex_encode(c.key)},
              {"recipient", c.recipient},
              {"certificate", c.certificate},
              {"offer", c.offer},
              {"provider", hex_encode(c.provider)},
              {"registered_at", c.registered_at},
              {"heartbeat_at", c.heartbeat_at}};
  if (c.resources) out["resources"] = to_json(*c.resources);
  return out;
}

json to_json(const ServiceTerms& t) {
  json accounts = json::array();
  for (const auto& a : t.rule.accounts) accounts.push_back(hex_encode(a));
  json inputs = json::array();
  for (const auto& d : t.inputs) inputs.push_back(hex_encode(d));
  const auto time = [](const std::optional<std::uint64_t>& v) { return v ? json(*v) : json(nullptr); };
  json out = {{"access", to_string(t.rule.access)},
              {"accounts", std::move(accounts)},
              {"tls_key_sha256", t.tls_key_sha256 ? json(hex_encode(*t.tls_key_sha256)) : json(nullptr)},
              {"inputs", std::move(inputs)},
              {"serving_since", time(t.serving_since)},
              {"cancel_requested", time(t.cancel_requested)},
              {"endpoint", t.endpoint.empty() ? json(nullptr) : json(t.endpoint)},
              {"exhausted_at", time(t.exhausted_at)},
              {"revenue", t.revenue}};
  if (t.rule.access == ServiceAccess::Subscribers) {
    out["price"] = {{"per_request", t.rule.price.per_request}, {"per_1k_tokens", t.rule.price.per_1k_tokens}};
  }
  // Only a split service has workers: the terms of others keep their bytes.
  if (!t.workers.empty()) {
    json workers = json::array();
    for (const Worker& w : t.workers) {
      workers.push_back({{"cvm", hex_encode(w.cvm)},
                         {"endpoint", w.endpoint.empty() ? json(nullptr) : json(w.endpoint)},
                         {"joined_at", time(w.joined_at)}});
    }
    out["workers"] = std::move(workers);
  }
  return out;
}

namespace {

Result<std::array<std::uint8_t, 32>> id_value(const json& v, const char* key) {
  if (!v.is_string())
    return fail("ledger.json", std::string("serve.") + key + " holds a value that is not an id");
  auto id = parse_id(v.get_ref<const std::string&>());
  if (!id) return fail("ledger.json", std::string("serve.") + key + ": " + id.error().message);
  return *id;
}

Result<std::vector<std::array<std::uint8_t, 32>>> id_list(const json& j, const char* key) {
  const json& list = j.at(key);
  if (!list.is_array()) return fail("ledger.json", std::string("serve.") + key + " is not an array");
  std::vector<std::array<std::uint8_t, 32>> out;
  for (const auto& item : list) {
    auto id = id_value(item, key);
    if (!id) return std::unexpected(id.error());
    out.push_back(*id);
  }
  return out;
}

Result<std::optional<std::uint64_t>> optional_time(const json& j, const char* key,
                                                   const std::string& what = "serve") {
  if (!j.contains(key)) return std::nullopt;
  const json& v = j.at(key);
  if (v.is_null()) return std::nullopt;
  if (!v.is_number_unsigned()) return fail("ledger.json", what + "." + key + " is not a time or null");
  return v.get<std::uint64_t>();
}

// serve.workers: 1..kMaxServiceWorkers of {"cvm", "endpoint", "joined_at"},
// as to_json writes them (it writes no empty list).
Result<std::vector<Worker>> workers_from_json(const json& list) {
  if (!list.is_array() || list.empty() || list.size() > kMaxServiceWorkers)
    return fail("ledger.json", "serve.workers is not a list of 1 to " + std::to_string(kMaxServiceWorkers));
  std::vector<Worker> out;
  for (const auto& item : list) {
    if (!item.is_object() || item.size() != 3 || !item.contains("cvm") || !item.contains("endpoint") ||
        !item.contains("joined_at")) {
      return fail("ledger.json", "serve.workers holds a value that is not {cvm, endpoint, joined_at}");
    }
    Worker w;
    auto cvm = id_value(item.at("cvm"), "workers[].cvm");
    if (!cvm) return std::unexpected(cvm.error());
    w.cvm = *cvm;
    if (const json& endpoint = item.at("endpoint"); !endpoint.is_null()) {
      if (!endpoint.is_string() || endpoint.get_ref<const std::string&>().empty())
        return fail("ledger.json", "serve.workers[].endpoint is not HOST:PORT or null");
      w.endpoint = endpoint.get<std::string>();
    }
    auto joined = optional_time(item, "joined_at", "serve.workers[]");
    if (!joined) return std::unexpected(joined.error());
    w.joined_at = *joined;
    out.push_back(std::move(w));
  }
  return out;
}

Result<std::uint64_t> amount_value(const json& j, const std::string& what) {
  if (!j.is_number_unsigned() || j.get<std::uint64_t>() > kMaxAmount)
    return fail("ledger.json", what + " is not an amount");
  return j.get<std::uint64_t>();
}

Result<UsagePrice> usage_price_from_json(const json& j) {
  if (!j.is_object() || j.size() != 2 || !j.contains("per_request") || !j.contains("per_1k_tokens"))
    return fail("ledger.json", "serve.price is not {per_request, per_1k_tokens}");
  auto per_request = amount_value(j.at("per_request"), "serve.price.per_request");
  if (!per_request) return std::unexpected(per_request.error());
  auto per_1k_tokens = amount_value(j.at("per_1k_tokens"), "serve.price.per_1k_tokens");
  if (!per_1k_tokens) return std::unexpected(per_1k_tokens.error());
  return UsagePrice{*per_request, *per_1k_tokens};
}

}  // namespace

Result<ServiceTerms> service_terms_from_json(const json& j) {
  if (!j.is_object()) return fail("ledger.json", "serve is not an object");
  constexpr const char* kRequired[] = {"access",        "accounts",         "tls_key_sha256", "inputs",
                                       "serving_since", "cancel_requested", "endpoint"};
  // Absent from the terms of service orders made before subscriptions, and
  // of every service that is not split over worker CVMs.
  constexpr const char* kLater[] = {"price", "exhausted_at", "revenue", "workers"};
  for (const char* key : kRequired) {
    if (!j.contains(key)) return fail("ledger.json", std::string("serve has no ") + key);
  }
  for (const auto& [key, value] : j.items()) {
    const auto known = [&](const char* k) { return key == k; };
    if (std::none_of(std::begin(kRequired), std::end(kRequired), known) &&
        std::none_of(std::begin(kLater), std::end(kLater), known)) {
      return fail("ledger.json", "serve has unknown field " + key);
    }
  }
  ServiceTerms t;
  const json& access = j.at("access");
  if (access == "public") {
    t.rule.access = ServiceAccess::Public;
  } else if (access == "accounts") {
    t.rule.access = ServiceAccess::Accounts;
  } else if (access == "subscribers") {
    t.rule.access = ServiceAccess::Subscribers;
  } else {
    return fail("ledger.json", "serve.access is not public, accounts or subscribers");
  }
  if (j.contains("price")) {
    if (t.rule.access != ServiceAccess::Subscribers)
      return fail("ledger.json", "serve.price is only for subscribers");
    auto price = usage_price_from_json(j.at("price"));
    if (!price) return std::unexpected(price.error());
    t.rule.price = *price;
  }
  auto exhausted = optional_time(j, "exhausted_at");
  if (!exhausted) return std::unexpected(exhausted.error());
  t.exhausted_at = *exhausted;
  if (j.contains("revenue")) {
    auto revenue = amount_value(j.at("revenue"), "serve.revenue");
    if (!revenue) return std::unexpected(revenue.error());
    t.revenue = *revenue;
  }
  auto accounts = id_list(j, "accounts");
  if (!accounts) return std::unexpected(accounts.error());
  t.rule.accounts = std::move(*accounts);
  auto inputs = id_list(j, "inputs");
  if (!inputs) return std::unexpected(inputs.error());
  t.inputs = std::move(*inputs);
  if (const json& key = j.at("tls_key_sha256"); !key.is_null()) {
    auto id = id_value(key, "tls_key_sha256");
    if (!id) return std::unexpected(id.error());
    t.tls_key_sha256 = *id;
  }
  auto since = optional_time(j, "serving_since");
  if (!since) return std::unexpected(since.error());
  t.serving_since = *since;
  auto cancel = optional_time(j, "cancel_requested");
  if (!cancel) return std::unexpected(cancel.error());
  t.cancel_requested = *cancel;
  if (const json& endpoint = j.at("endpoint"); !endpoint.is_null()) {
    if (!endpoint.is_string() || endpoint.get_ref<const std::string&>().empty())
      return fail("ledger.json", "serve.endpoint is not a URL or null");
    t.endpoint = endpoint.get<std::string>();
  }
  if (j.contains("workers")) {
    auto workers = workers_from_json(j.at("workers"));
    if (!workers) return std::unexpected(workers.error());
    t.workers = std::move(*workers);
  }
  return t;
}

json to_json(const Order& o) {
  json payments = json::array();
  for (const auto& p : o.payments) {
    payments.push_back(
        {{"offer", p.offer}, {"to", hex_encode(p.to)}, {"price", price_json(p.price)}, {"amount", p.amount}});
  }
  json out = {{"id", o.id},
              {"creator", hex_encode(o.creator)},
              {"cvm", hex_encode(o.cvm)},
              {"engine", o.engine},
              {"inputs", o.inputs},
              {"outputs", o.outputs},
              {"offers", o.offers},
              {"deposit", o.deposit},
              {"status", to_string(o.status)},
              {"created_at", o.created_at},
              {"started_at", o.started_at},
              {"ended_at", o.ended_at},
              {"error", o.error},
              {"payments", std::move(payments)},
              {"refund", o.refund}};
  // Batch orders keep the fields they always had.
  if (o.serve) out["serve"] = to_json(*o.serve);
  if (o.tee_offer != 0) {
    out["tee_offer"] = o.tee_offer;
    out["billed"] = o.billed;
  }
  if (o.needs) out["needs"] = to_json(*o.needs);
  return out;
}

json to_json(const Report& r) {
  return {{"order", r.order}, {"report", r.report}, {"index", r.index}, {"time", r.time}};
}

json to_json(const Grant& g) {
  return {{"id", hex_encode(g.id)},
          {"owner", hex_encode(g.owner)},
          {"orders", g.orders},
          {"revoked", g.revoked},
          {"revoked_at", g.revoked_at}};
}

json to_json(const Subscription& s) {
  return {{"order", s.order},           {"account", hex_encode(s.account)},
          {"deposit", s.deposit},       {"charged", s.charged},
          {"requests", s.requests},     {"tokens", s.tokens},
          {"bytes", s.bytes},           {"created_at", s.created_at},
          {"updated_at", s.updated_at}, {"closed", s.closed},
          {"refund", s.refund}};
}

Result<Subscription> subscription_from_json(const json& j) {
  constexpr const char* kAmounts[] = {"order", "deposit",    "charged",    "requests", "tokens",
                                      "bytes", "created_at", "updated_at", "refund"};
  if (!j.is_object()) return fail("ledger.json", "a subscription is not an object");
  if (j.size() != std::size(kAmounts) + 2) return fail("ledger.json", "a subscription has other fields");
  Subscription s;
  std::uint64_t* const targets[] = {&s.order, &s.deposit,    &s.charged,    &s.requests, &s.tokens,
                                    &s.bytes, &s.created_at, &s.updated_at, &s.refund};
  for (std::size_t i = 0; i < std::size(kAmounts); ++i) {
    const auto it = j.find(kAmounts[i]);
    if (it == j.end()) return fail("ledger.json", std::string("a subscription has no ") + kAmounts[i]);
    auto value = amount_value(*it, std::string("subscription.") + kAmounts[i]);
    if (!value) return std::unexpected(value.error());
    *targets[i] = *value;
  }
  const auto account = j.find("account");
  if (account == j.end() || !account->is_string())
    return fail("ledger.json", "a subscription has no account id");
  auto id = parse_id(account->get_ref<const std::string&>());
  if (!id) return fail("ledger.json", "subscription.account: " + id.error().message);
  s.account = *id;
  const auto closed = j.find("closed");
  if (closed == j.end() || !closed->is_boolean())
    return fail("ledger.json", "subscription.closed is not a boolean");
  s.closed = closed->get<bool>();
  return s;
}

json to_json(const Totals& t) {
  return {{"supply", t.supply}, {"escrow", t.escrow}};
}

std::optional<std::string> first_difference(const Snapshot& stored, const Snapshot& replayed) {
  const auto hex_name = [](const auto& key) { return hex_encode(key); };
  const auto number_name = [](std::uint64_t key) { return std::to_string(key); };
  if (auto d = map_difference("account", stored.accounts, replayed.accounts, hex_name)) return d;
  if (auto d = map_difference("offer", stored.offers, replayed.offers, number_name)) return d;
  if (auto d = map_difference("cvm", stored.cvms, replayed.cvms, hex_name)) return d;
  if (auto d = map_difference("order", stored.orders, replayed.orders, number_name)) return d;
  if (auto d = map_difference("report", stored.reports, replayed.reports, number_name)) return d;
  if (auto d = map_difference("start report", stored.start_reports, replayed.start_reports, number_name)) {
    return d;
  }
  const auto grant_name = [](const GrantKey& key) {
    return hex_encode(key.first) + " of owner " + hex_encode(key.second);
  };
  if (auto d = map_difference("grant", stored.grants, replayed.grants, grant_name)) return d;
  const auto subscription_name = [](const SubscriptionKey& key) {
    return "to order " + std::to_string(key.first) + " of account " + hex_encode(key.second);
  };
  if (auto d =
          map_difference("subscription", stored.subscriptions, replayed.subscriptions, subscription_name)) {
    return d;
  }
  if (!(stored.totals == replayed.totals)) {
    return field_difference("totals", to_json(stored.totals), to_json(replayed.totals));
  }
  return std::nullopt;
}

std::optional<Account> OverlayState::account(const AccountId& id) const {
  if (auto a = overlay_find(writes_.accounts, id)) return a;
  return base_.account(id);
}
std::optional<Offer> OverlayState::offer(std::uint64_t id) const {
  if (auto o = overlay_find(writes_.offers, id)) return o;
  return base_.offer(id);
}
std::optional<Cvm> OverlayState::cvm(const CvmId& id) const {
  if (auto c = overlay_find(writes_.cvms, id)) return c;
  return base_.cvm(id);
}
std::optional<Order> OverlayState::order(std::uint64_t id) const {
  if (auto o = overlay_find(writes_.orders, id)) return o;
  return base_.order(id);
}
std::optional<Report> OverlayState::report(std::uint64_t order) const {
  if (auto r = overlay_find(writes_.reports, order)) return r;
  return base_.report(order);
}

std::optional<Report> OverlayState::start_report(std::uint64_t order) const {
  if (auto r = overlay_find(writes_.start_reports, order)) return r;
  return base_.start_report(order);
}

std::optional<Grant> OverlayState::grant(const GrantId& id, const AccountId& owner) const {
  if (auto g = overlay_find(writes_.grants, GrantKey{id, owner})) return g;
  return base_.grant(id, owner);
}

std::vector<Subscription> MemoryState::subscriptions(std::uint64_t order) const {
  std::vector<Subscription> out;
  for (auto it = s_.subscriptions.lower_bound(SubscriptionKey{order, AccountId{}});
       it != s_.subscriptions.end() && it->first.first == order; ++it) {
    out.push_back(it->second);
  }
  return out;
}

std::optional<Subscription> OverlayState::subscription(std::uint64_t order, const AccountId& account) const {
  if (auto s = overlay_find(writes_.subscriptions, SubscriptionKey{order, account})) return s;
  return base_.subscription(order, account);
}

std::vector<Subscription> OverlayState::subscriptions(std::uint64_t order) const {
  std::map<AccountId, Subscription> merged;
  for (auto& s : base_.subscriptions(order)) merged[s.account] = std::move(s);
  for (auto it = writes_.subscriptions.lower_bound(SubscriptionKey{order, AccountId{}});
       it != writes_.subscriptions.end() && it->first.first == order; ++it) {
    merged[it->second.account] = it->second;
  }
  std::vector<Subscription> out;
  for (auto& [account, s] : merged) out.push_back(std::move(s));
  return out;
}

void OverlayState::commit() {
  for (const auto& [id, a] : writes_.accounts) base_.put(a);
  for (const auto& [id, o] : writes_.offers) base_.put(o);
  for (const auto& [id, c] : writes_.cvms) base_.put(c);
  for (const auto& [id, o] : writes_.orders) base_.put(o);
  for (const auto& [id, r] : writes_.reports) base_.put(r);
  for (const auto& [id, r] : writes_.start_reports) base_.put_start_report(r);
  for (const auto& [key, g] : writes_.grants) base_.put(g);
  for (const auto& [key, sub] : writes_.subscriptions) base_.put(sub);
  if (totals_) base_.put(*totals_);
  writes_ = {};
  totals_.reset();
}

}  // namespace ward::ledger
