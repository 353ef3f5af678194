#include "ledger/state.h"

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
  return {{"id", o.id},          {"owner", hex_encode(o.owner)}, {"kind", to_string(o.kind)},
          {"name", o.name},      {"resource", o.resource},       {"price", price_json(o.price)},
          {"enabled", o.enabled}};
}

json to_json(const Cvm& c) {
  return {{"id", hex_encode(c.id)},
          {"key", hex_encode(c.key)},
          {"recipient", c.recipient},
          {"certificate", c.certificate},
          {"offer", c.offer},
          {"provider", hex_encode(c.provider)},
          {"registered_at", c.registered_at},
          {"heartbeat_at", c.heartbeat_at}};
}

json to_json(const ServiceTerms& t) {
  json accounts = json::array();
  for (const auto& a : t.rule.accounts) accounts.push_back(hex_encode(a));
  json inputs = json::array();
  for (const auto& d : t.inputs) inputs.push_back(hex_encode(d));
  const auto time = [](const std::optional<std::uint64_t>& v) { return v ? json(*v) : json(nullptr); };
  return {{"access", to_string(t.rule.access)},
          {"accounts", std::move(accounts)},
          {"tls_key_sha256", t.tls_key_sha256 ? json(hex_encode(*t.tls_key_sha256)) : json(nullptr)},
          {"inputs", std::move(inputs)},
          {"serving_since", time(t.serving_since)},
          {"cancel_requested", time(t.cancel_requested)},
          {"endpoint", t.endpoint.empty() ? json(nullptr) : json(t.endpoint)}};
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

Result<std::optional<std::uint64_t>> optional_time(const json& j, const char* key) {
  const json& v = j.at(key);
  if (v.is_null()) return std::nullopt;
  if (!v.is_number_unsigned())
    return fail("ledger.json", std::string("serve.") + key + " is not a time or null");
  return v.get<std::uint64_t>();
}

}  // namespace

Result<ServiceTerms> service_terms_from_json(const json& j) {
  if (!j.is_object()) return fail("ledger.json", "serve is not an object");
  for (const char* key :
       {"access", "accounts", "tls_key_sha256", "inputs", "serving_since", "cancel_requested", "endpoint"}) {
    if (!j.contains(key)) return fail("ledger.json", std::string("serve has no ") + key);
  }
  if (j.size() != 7) return fail("ledger.json", "serve has unknown fields");
  ServiceTerms t;
  const json& access = j.at("access");
  if (access == "public") {
    t.rule.access = ServiceAccess::Public;
  } else if (access == "accounts") {
    t.rule.access = ServiceAccess::Accounts;
  } else {
    return fail("ledger.json", "serve.access is neither public nor accounts");
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

void OverlayState::commit() {
  for (const auto& [id, a] : writes_.accounts) base_.put(a);
  for (const auto& [id, o] : writes_.offers) base_.put(o);
  for (const auto& [id, c] : writes_.cvms) base_.put(c);
  for (const auto& [id, o] : writes_.orders) base_.put(o);
  for (const auto& [id, r] : writes_.reports) base_.put(r);
  for (const auto& [id, r] : writes_.start_reports) base_.put_start_report(r);
  for (const auto& [key, g] : writes_.grants) base_.put(g);
  if (totals_) base_.put(*totals_);
  writes_ = {};
  totals_.reset();
}

}  // namespace ward::ledger
