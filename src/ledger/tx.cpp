#include "ledger/tx.h"

#include <algorithm>
#include <initializer_list>
#include <optional>
#include <set>
#include <utility>

#include "ca/oids.h"
#include "crypto/der.h"
#include "crypto/x509.h"
#include "ledger/fields.h"

namespace ward::ledger {
namespace {

using json = nlohmann::json;
using Parsed = std::expected<Action, Rejection>;

// Deeper nesting than this has no use in a transaction and would only cost
// stack in serialisation.
constexpr int kMaxDepth = 32;
constexpr std::size_t kMaxShortString = 256;
constexpr std::size_t kMaxLongString = 4096;

// Thrown only inside the parser callback and caught in parse_strict_json.
struct StrictnessViolation {
  std::string message;
};

}  // namespace

// nlohmann keeps the last of duplicate keys silently; two readers of the same
// bytes could then disagree about what was signed, so duplicates are refused.
Result<json> parse_strict_json(std::string_view text) {
  std::vector<std::set<std::string>> keys;
  auto callback = [&keys](int depth, json::parse_event_t event, json& parsed) {
    if (depth > kMaxDepth) throw StrictnessViolation{"nested deeper than " + std::to_string(kMaxDepth)};
    switch (event) {
      case json::parse_event_t::object_start:
        keys.emplace_back();
        break;
      case json::parse_event_t::object_end:
        keys.pop_back();
        break;
      case json::parse_event_t::key:
        if (!keys.back().insert(parsed.get<std::string>()).second) {
          throw StrictnessViolation{"duplicate key \"" + parsed.get<std::string>() + "\""};
        }
        break;
      case json::parse_event_t::value:
        if (parsed.is_number_float()) throw StrictnessViolation{"floating point numbers are not allowed"};
        break;
      default:
        break;
    }
    return true;
  };
  try {
    return json::parse(text.begin(), text.end(), callback);
  } catch (const StrictnessViolation& v) {
    return fail("ledger.json", v.message);
  } catch (const json::exception& e) {
    std::string message = e.what();
    std::replace(message.begin(), message.end(), '\n', ' ');
    return fail("ledger.json", "invalid JSON: " + message);
  }
}

namespace {

std::unexpected<Rejection> malformed(std::string message) {
  return reject(reason::kMalformed, std::move(message));
}

// A field the shared readers refused is a malformed transaction; WARD_TRY
// passes both their reasons and this file's own rejections through.
Rejection as_rejection(std::string reason) {
  return Rejection{reason::kMalformed, std::move(reason)};
}
Rejection as_rejection(Rejection rejection) {
  return rejection;
}

using fields::Empty;
using fields::get_hex;
using fields::get_string;
using fields::get_strings;
using fields::get_uint;
using fields::get_uints;
using fields::string_value;

// Unknown fields are refused here; each parser then requires its fields as it reads them.
fields::Read<void> only_fields(const json& object, std::initializer_list<std::string_view> allowed,
                               std::string_view what) {
  return fields::only_fields(object, allowed, {}, what);
}

// An age recipient is checked for its prefix only: its encoding is the age
// module's business, and the ledger depends on crypto alone.
std::expected<std::string, Rejection> get_recipient(const json& object, const char* key) {
  auto s = get_string(object, key, kMaxLongString);
  if (!s) return malformed(std::move(s.error()));
  if (!s->starts_with("age1"))
    return malformed(std::string("\"") + key + "\" is not an age recipient (age1...)");
  return std::move(*s);
}

std::expected<Price, Rejection> get_price(const json& object) {
  auto v = fields::get(object, "price");
  if (!v) return malformed(v.error());
  const json& p = **v;
  if (!p.is_object()) return malformed("\"price\" must be an object");
  auto model = get_string(p, "model", kMaxShortString);
  if (!model) return malformed(model.error());
  Price price;
  if (*model == "fixed" || *model == "per_hour") {
    if (auto ok = only_fields(p, {"model", "amount"}, "price"); !ok) return malformed(ok.error());
    auto amount = get_uint(p, "amount");
    if (!amount) return malformed(amount.error());
    price.model = *model == "fixed" ? PriceModel::Fixed : PriceModel::PerHour;
    price.amount = *amount;
    return price;
  }
  if (*model == "revenue_share") {
    if (auto ok = only_fields(p, {"model", "bps"}, "price"); !ok) return malformed(ok.error());
    auto bps = get_uint(p, "bps");
    if (!bps) return malformed(bps.error());
    if (*bps > kMaxBps) return malformed("\"bps\" exceeds 10000");
    price.model = PriceModel::RevenueShare;
    price.bps = static_cast<std::uint32_t>(*bps);
    return price;
  }
  return malformed("unknown price model \"" + *model + "\"");
}

// Each parser: (args object) -> typed arguments. The TRY macro keeps each to
// its list of fields.
#define WARD_TRY(var, expr)                                                       \
  auto var##_r = (expr);                                                          \
  if (!var##_r) return std::unexpected(as_rejection(std::move(var##_r.error()))); \
  auto var = std::move(*var##_r)
#define WARD_FIELDS(...) \
  if (auto ok = only_fields(a, {__VA_ARGS__}, "args"); !ok) return malformed(ok.error())

Parsed parse_accounts_register(const json& a) {
  WARD_FIELDS("recipient", "name");
  WARD_TRY(recipient, get_recipient(a, "recipient"));
  std::string name;
  if (a.contains("name")) {
    WARD_TRY(n, string_value(a.at("name"), "name", kMaxShortString, Empty::Allowed));
    name = std::move(n);
  }
  return args::AccountsRegister{std::move(recipient), std::move(name)};
}

Parsed parse_accounts_fund(const json& a) {
  WARD_FIELDS("to", "amount");
  WARD_TRY(to, get_hex<32>(a, "to"));
  WARD_TRY(amount, get_uint(a, "amount"));
  return args::AccountsFund{to, amount};
}

Parsed parse_accounts_transfer(const json& a) {
  WARD_FIELDS("to", "amount");
  WARD_TRY(to, get_hex<32>(a, "to"));
  WARD_TRY(amount, get_uint(a, "amount"));
  return args::AccountsTransfer{to, amount};
}

Parsed parse_offers_create(const json& a) {
  WARD_FIELDS("kind", "name", "resource", "price", "timeout");
  WARD_TRY(kind_name, get_string(a, "kind", kMaxShortString));
  OfferKind kind;
  if (kind_name == "engine") {
    kind = OfferKind::Engine;
  } else if (kind_name == "dataset") {
    kind = OfferKind::Dataset;
  } else if (kind_name == "model") {
    kind = OfferKind::Model;
  } else if (kind_name == "tee") {
    kind = OfferKind::Tee;
  } else {
    return malformed("unknown offer kind \"" + kind_name + "\"");
  }
  WARD_TRY(name, get_string(a, "name", kMaxShortString));
  WARD_TRY(resource, get_string(a, "resource", kMaxLongString));
  WARD_TRY(price, get_price(a));
  std::uint64_t timeout = 0;
  if (a.contains("timeout")) {
    if (kind != OfferKind::Tee) return malformed("only a tee offer has a failover \"timeout\"");
    WARD_TRY(seconds, get_uint(a, "timeout"));
    if (seconds == 0 || seconds > kMaxCvmTimeout)
      return malformed("\"timeout\" must be 1 to " + std::to_string(kMaxCvmTimeout) + " seconds");
    timeout = seconds;
  }
  return args::OffersCreate{kind, std::move(name), std::move(resource), price, timeout};
}

Parsed parse_offers_enable(const json& a) {
  WARD_FIELDS("offer");
  WARD_TRY(offer, get_uint(a, "offer"));
  return args::OffersEnable{offer};
}

Parsed parse_offers_disable(const json& a) {
  WARD_FIELDS("offer");
  WARD_TRY(offer, get_uint(a, "offer"));
  return args::OffersDisable{offer};
}

// {"cores", "memory_mib", "gpus"}, each within its bound.
std::expected<Resources, Rejection> resources_value(const json& j, const char* what) {
  if (auto ok = only_fields(j, {"cores", "memory_mib", "gpus"}, what); !ok) return malformed(ok.error());
  WARD_TRY(cores, get_uint(j, "cores"));
  WARD_TRY(memory_mib, get_uint(j, "memory_mib"));
  WARD_TRY(gpus, get_uint(j, "gpus"));
  if (cores > kMaxCores || memory_mib > kMaxMemoryMib || gpus > kMaxGpus) {
    return malformed(std::string("\"") + what + "\" holds more than " + std::to_string(kMaxCores) +
                     " cores, 2^32 MiB or " + std::to_string(kMaxGpus) + " GPUs");
  }
  return Resources{cores, memory_mib, gpus};
}

Parsed parse_cvms_register(const json& a) {
  WARD_FIELDS("key", "recipient", "certificate", "offer", "resources");
  WARD_TRY(key, get_hex<32>(a, "key"));
  WARD_TRY(recipient, get_recipient(a, "recipient"));
  WARD_TRY(certificate, get_string(a, "certificate", kMaxEnvelopeSize));
  WARD_TRY(offer, get_uint(a, "offer"));
  std::optional<Resources> resources;
  if (a.contains("resources")) {
    WARD_TRY(declared, resources_value(a.at("resources"), "resources"));
    resources = declared;
  }
  return args::CvmsRegister{key, std::move(recipient), std::move(certificate), offer, resources};
}

Parsed parse_cvms_heartbeat(const json& a) {
  WARD_FIELDS();
  return args::CvmsHeartbeat{};
}

Parsed parse_cvms_update(const json& a) {
  WARD_FIELDS("certificate");
  WARD_TRY(certificate, get_string(a, "certificate", kMaxEnvelopeSize));
  WARD_TRY(claims, read_cvm_certificate_claims(certificate));
  return args::CvmsUpdate{std::move(certificate), std::move(claims)};
}

// "price": {"per_request": N, "per_1k_tokens": M}, both required.
std::expected<UsagePrice, Rejection> usage_price(const json& price) {
  if (auto ok = only_fields(price, {"per_request", "per_1k_tokens"}, "price"); !ok) {
    return malformed(ok.error());
  }
  WARD_TRY(per_request, get_uint(price, "per_request"));
  WARD_TRY(per_1k_tokens, get_uint(price, "per_1k_tokens"));
  return UsagePrice{per_request, per_1k_tokens};
}

// "serve": {"access": "public"}, {"access": "accounts", "accounts": [ids]} or
// {"access": "subscribers", "price"?: {...}}; only subscribers pay a price.
std::expected<ServeRule, Rejection> serve_rule(const json& serve) {
  if (!serve.is_object()) return malformed("\"serve\" must be a JSON object");
  WARD_TRY(access, get_string(serve, "access", kMaxShortString));
  if (access == "public") {
    if (auto ok = only_fields(serve, {"access"}, "serve"); !ok) return malformed(ok.error());
    return ServeRule{ServiceAccess::Public, {}};
  }
  if (access == "subscribers") {
    if (auto ok = only_fields(serve, {"access", "price"}, "serve"); !ok) return malformed(ok.error());
    ServeRule rule{ServiceAccess::Subscribers, {}};
    if (serve.contains("price")) {
      WARD_TRY(price, usage_price(serve.at("price")));
      rule.price = price;
    }
    return rule;
  }
  if (access != "accounts") {
    return malformed("unknown serve access \"" + access + "\" (public, accounts or subscribers)");
  }
  if (auto ok = only_fields(serve, {"access", "accounts"}, "serve"); !ok) return malformed(ok.error());
  WARD_TRY(list, fields::get(serve, "accounts"));
  if (!list->is_array()) return malformed("\"accounts\" must be an array of account ids");
  if (list->empty() || list->size() > kMaxServiceAccounts) {
    return malformed("\"accounts\" must list 1 to " + std::to_string(kMaxServiceAccounts) + " accounts");
  }
  ServeRule rule{ServiceAccess::Accounts, {}};
  std::set<AccountId> seen;
  for (const auto& item : *list) {
    WARD_TRY(account, fields::hex_value<32>(item, "accounts"));
    if (!seen.insert(account).second) {
      return malformed("\"accounts\" lists account " + hex_encode(account) + " twice");
    }
    rule.accounts.push_back(account);
  }
  return rule;
}

// "workers": [CVM ids] of a split service: 1..kMaxServiceWorkers, none
// twice, none its head `cvm`.
std::expected<std::vector<CvmId>, Rejection> worker_list(const json& list, const CvmId& head) {
  if (!list.is_array()) return malformed("\"workers\" must be an array of CVM ids");
  if (list.empty() || list.size() > kMaxServiceWorkers) {
    return malformed("\"workers\" must list 1 to " + std::to_string(kMaxServiceWorkers) + " CVMs");
  }
  std::vector<CvmId> workers;
  for (const auto& item : list) {
    WARD_TRY(worker, fields::hex_value<32>(item, "workers"));
    if (worker == head) {
      return malformed("\"workers\" lists the order's own CVM " + hex_encode(worker) +
                       ": the head is not its own worker");
    }
    if (std::find(workers.begin(), workers.end(), worker) != workers.end()) {
      return malformed("\"workers\" lists CVM " + hex_encode(worker) + " twice");
    }
    workers.push_back(worker);
  }
  return workers;
}

Parsed parse_orders_create(const json& a) {
  WARD_FIELDS("cvm", "offer", "needs", "engine", "inputs", "outputs", "offers", "deposit", "serve",
              "workers");
  if (a.contains("cvm") == a.contains("offer"))
    return malformed("an order names exactly one of \"cvm\" and \"offer\" (a tee offer)");
  CvmId cvm{};
  std::optional<std::uint64_t> tee_offer;
  if (a.contains("cvm")) {
    WARD_TRY(id, get_hex<32>(a, "cvm"));
    cvm = id;
  } else {
    WARD_TRY(id, get_uint(a, "offer"));
    tee_offer = id;
    if (a.contains("serve"))
      return malformed("a service order names its CVM; only batch orders go on an offer");
  }
  std::optional<Resources> needs;
  if (a.contains("needs")) {
    if (!tee_offer) return malformed("\"needs\" goes with \"offer\": an order on a CVM needs no CVM to fit");
    WARD_TRY(need, resources_value(a.at("needs"), "needs"));
    needs = need;
  }
  WARD_TRY(engine, get_string(a, "engine", kMaxShortString));
  WARD_TRY(inputs, get_strings(a, "inputs", kMaxLongString));
  WARD_TRY(outputs, get_strings(a, "outputs", kMaxLongString));
  std::optional<ServeRule> serve;
  if (a.contains("serve")) {
    WARD_TRY(rule, serve_rule(a.at("serve")));
    serve = std::move(rule);
  }
  if (serve && !outputs.empty()) {
    return malformed("a service order has no downloadable output: \"outputs\" must be empty");
  }
  if (!serve && outputs.empty()) return malformed("\"outputs\" must name at least one recipient");
  std::vector<CvmId> workers;
  if (a.contains("workers")) {
    if (!serve) return malformed("\"workers\" goes with \"serve\": only a service is split over CVMs");
    WARD_TRY(listed, worker_list(a.at("workers"), cvm));
    workers = std::move(listed);
  }
  for (const auto& r : outputs) {
    if (!r.starts_with("age1")) return malformed("\"outputs\" holds a value that is not an age recipient");
  }
  WARD_TRY(offers, get_uints(a, "offers"));
  if (std::set<std::uint64_t>(offers.begin(), offers.end()).size() != offers.size()) {
    return malformed("\"offers\" lists an offer twice");
  }
  WARD_TRY(deposit, get_uint(a, "deposit"));
  return args::OrdersCreate{cvm,
                            tee_offer,
                            needs,
                            std::move(engine),
                            std::move(inputs),
                            std::move(outputs),
                            std::move(offers),
                            deposit,
                            std::move(serve),
                            std::move(workers)};
}

// {order}: all that orders.start, .cancel, .take and .reassign take.
template <class A>
Parsed parse_order_only(const json& a) {
  WARD_FIELDS("order");
  WARD_TRY(order, get_uint(a, "order"));
  return A{order};
}

Parsed parse_orders_fail(const json& a) {
  WARD_FIELDS("order", "reason");
  WARD_TRY(order, get_uint(a, "order"));
  WARD_TRY(why, get_string(a, "reason", kMaxLongString));
  return args::OrdersFail{order, std::move(why)};
}

// report.service.tls_key_sha256 and .endpoint, and report.inputs[].plaintext_sha256;
// the service's other fields (its certificate) are the client's to check.
std::expected<args::ServiceClaims, Rejection> service_claims(const json& body) {
  const json& service = body.at("service");
  if (!service.is_object()) return malformed("\"service\" must be a JSON object");
  args::ServiceClaims claims;
  WARD_TRY(key, get_hex<32>(service, "tls_key_sha256"));
  claims.tls_key_sha256 = key;
  WARD_TRY(endpoint, get_string(service, "endpoint", 300));
  if (!endpoint.starts_with("https://")) return malformed("\"service.endpoint\" must be an https:// URL");
  claims.endpoint = std::move(endpoint);
  WARD_TRY(inputs, fields::get(body, "inputs"));
  if (!inputs->is_array()) return malformed("\"inputs\" must be an array of inputs");
  for (const auto& input : *inputs) {
    if (!input.is_object()) return malformed("\"inputs\" holds a value that is not an object");
    WARD_TRY(digest, get_hex<32>(input, "plaintext_sha256"));
    claims.inputs.push_back(digest);
  }
  return claims;
}

// The fields of a signed report {"report": {...}, "sig": hex} that the
// contract checks; the rest of the report is the loader's format to judge
// (src/loader/report.h), and is stored as sent.
std::expected<args::ReportClaims, Rejection> report_claims(const json& signed_report) {
  if (!signed_report.is_object()) return malformed("must be a JSON object");
  if (auto ok = only_fields(signed_report, {"report", "sig"}, "the signed report"); !ok) {
    return malformed(ok.error());
  }
  WARD_TRY(body, fields::get(signed_report, "report"));
  if (!body->is_object()) return malformed("\"report\" must be a JSON object");
  args::ReportClaims claims;
  WARD_TRY(ledger, get_hex<32>(*body, "ledger"));
  WARD_TRY(order, get_uint(*body, "order"));
  WARD_TRY(cvm, get_hex<32>(*body, "cvm"));
  WARD_TRY(engine, get_string(*body, "engine", kMaxShortString));
  if (body->contains("service")) {
    WARD_TRY(service, service_claims(*body));
    claims.service = std::move(service);
  }
  WARD_TRY(sig, get_hex<64>(signed_report, "sig"));
  claims.ledger = ledger;
  claims.order = order;
  claims.cvm = cvm;
  claims.engine = std::move(engine);
  claims.sig = sig;
  claims.body = canonical_json(*body);
  return claims;
}

Parsed parse_reports_submit(const json& a) {
  WARD_FIELDS("order", "report");
  WARD_TRY(order, get_uint(a, "order"));
  WARD_TRY(report, fields::get(a, "report"));
  auto claims = report_claims(*report);
  if (!claims) return malformed("\"report\": " + claims.error().message);
  return args::ReportsSubmit{order, canonical_json(*report), std::move(*claims)};
}

Parsed parse_services_start(const json& a) {
  WARD_FIELDS("order", "report");
  WARD_TRY(order, get_uint(a, "order"));
  WARD_TRY(report, fields::get(a, "report"));
  auto claims = report_claims(*report);
  if (!claims) return malformed("\"report\": " + claims.error().message);
  return args::ServicesStart{order, canonical_json(*report), std::move(*claims)};
}

std::expected<args::GrantUse, Rejection> grant_use(const json& g) {
  if (auto ok = only_fields(g, {"id", "owner", "uses"}, "a grant"); !ok) return malformed(ok.error());
  WARD_TRY(id, get_hex<32>(g, "id"));
  WARD_TRY(owner, get_hex<32>(g, "owner"));
  WARD_TRY(uses, get_uint(g, "uses"));
  if (uses > kMaxGrantUses) return malformed("\"uses\" exceeds " + std::to_string(kMaxGrantUses));
  return args::GrantUse{id, owner, uses};
}

Parsed parse_grants_use(const json& a) {
  WARD_FIELDS("order", "grants");
  WARD_TRY(order, get_uint(a, "order"));
  WARD_TRY(list, fields::get(a, "grants"));
  if (!list->is_array()) return malformed("\"grants\" must be an array of grants");
  if (list->empty() || list->size() > kMaxGrantsPerUse) {
    return malformed("\"grants\" must list 1 to " + std::to_string(kMaxGrantsPerUse) + " grants");
  }
  std::vector<args::GrantUse> grants;
  std::set<std::pair<GrantId, AccountId>> seen;
  for (const auto& item : *list) {
    WARD_TRY(g, grant_use(item));
    if (!seen.emplace(g.id, g.owner).second) {
      return malformed("\"grants\" lists grant " + hex_encode(g.id).substr(0, 16) + " of owner " +
                       hex_encode(g.owner).substr(0, 16) + " twice");
    }
    grants.push_back(g);
  }
  return args::GrantsUse{order, std::move(grants)};
}

Parsed parse_grants_revoke(const json& a) {
  WARD_FIELDS("grant");
  WARD_TRY(grant, get_hex<32>(a, "grant"));
  return args::GrantsRevoke{grant};
}

Parsed parse_services_subscribe(const json& a) {
  WARD_FIELDS("order", "deposit");
  WARD_TRY(order, get_uint(a, "order"));
  WARD_TRY(deposit, get_uint(a, "deposit"));
  if (deposit == 0) return malformed("\"deposit\" must be at least 1");
  return args::ServicesSubscribe{order, deposit};
}

std::expected<args::Usage, Rejection> usage_entry(const json& u) {
  if (auto ok = only_fields(u, {"account", "requests", "tokens", "bytes"}, "a usage entry"); !ok) {
    return malformed(ok.error());
  }
  WARD_TRY(account, get_hex<32>(u, "account"));
  WARD_TRY(requests, get_uint(u, "requests"));
  WARD_TRY(tokens, get_uint(u, "tokens"));
  WARD_TRY(bytes, get_uint(u, "bytes"));
  return args::Usage{account, requests, tokens, bytes};
}

Parsed parse_services_usage(const json& a) {
  WARD_FIELDS("order", "usage");
  WARD_TRY(order, get_uint(a, "order"));
  WARD_TRY(list, fields::get(a, "usage"));
  if (!list->is_array()) return malformed("\"usage\" must be an array of usage entries");
  if (list->size() > kMaxUsageEntries) {
    return malformed("\"usage\" must list at most " + std::to_string(kMaxUsageEntries) + " accounts");
  }
  std::vector<args::Usage> usage;
  std::set<AccountId> seen;
  for (const auto& item : *list) {
    WARD_TRY(u, usage_entry(item));
    if (!seen.insert(u.account).second) {
      return malformed("\"usage\" lists account " + hex_encode(u.account).substr(0, 16) + " twice");
    }
    usage.push_back(u);
  }
  return args::ServicesUsage{order, std::move(usage)};
}

// HOST:PORT as a worker's tunnel listens: printable ASCII without spaces, a
// host (an IPv6 one in brackets) and a port 1..65535 in its one spelling.
bool is_endpoint(std::string_view text) {
  if (!std::all_of(text.begin(), text.end(), [](char c) { return c > ' ' && c < 0x7f; })) return false;
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  const std::string_view host = text.substr(0, colon);
  if (host.front() == '[' && (host.size() < 3 || host.back() != ']')) return false;
  const std::string_view port = text.substr(colon + 1);
  if (port.empty() || port.size() > 5 || port.front() == '0' ||
      !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return false;
  }
  return std::stoul(std::string(port)) <= 65535;
}

Parsed parse_services_join(const json& a) {
  WARD_FIELDS("order", "endpoint");
  WARD_TRY(order, get_uint(a, "order"));
  WARD_TRY(endpoint, get_string(a, "endpoint", kMaxWorkerEndpoint));
  if (!is_endpoint(endpoint)) {
    return malformed("\"endpoint\" must be HOST:PORT, port 1 to 65535, in printable ASCII without spaces");
  }
  return args::ServicesJoin{order, std::move(endpoint)};
}

#undef WARD_FIELDS
#undef WARD_TRY

struct TxParser {
  std::string_view type;
  Parsed (*parse)(const json&);
};

constexpr TxParser kParsers[] = {
    {"accounts.register", parse_accounts_register},
    {"accounts.fund", parse_accounts_fund},
    {"accounts.transfer", parse_accounts_transfer},
    {"offers.create", parse_offers_create},
    {"offers.enable", parse_offers_enable},
    {"offers.disable", parse_offers_disable},
    {"cvms.register", parse_cvms_register},
    {"cvms.heartbeat", parse_cvms_heartbeat},
    {"cvms.update", parse_cvms_update},
    {"orders.create", parse_orders_create},
    {"orders.start", parse_order_only<args::OrdersStart>},
    {"orders.take", parse_order_only<args::OrdersTake>},
    {"orders.reassign", parse_order_only<args::OrdersReassign>},
    {"orders.cancel", parse_order_only<args::OrdersCancel>},
    {"orders.fail", parse_orders_fail},
    {"reports.submit", parse_reports_submit},
    {"services.start", parse_services_start},
    {"grants.use", parse_grants_use},
    {"grants.revoke", parse_grants_revoke},
    {"services.subscribe", parse_services_subscribe},
    {"services.usage", parse_services_usage},
    {"services.join", parse_services_join},
};

std::expected<Transaction, Rejection> parse_tx(const json& tx) {
  if (auto ok = only_fields(tx, {"v", "ledger", "sender", "nonce", "type", "args"}, "tx"); !ok) {
    return malformed(ok.error());
  }
  auto version = get_uint(tx, "v");
  if (!version) return malformed(version.error());
  if (*version != 1) return malformed("unsupported transaction version " + std::to_string(*version));
  Transaction out;
  auto ledger = get_hex<32>(tx, "ledger");
  if (!ledger) return malformed(ledger.error());
  out.ledger = *ledger;
  auto sender = get_hex<32>(tx, "sender");
  if (!sender) return malformed(sender.error());
  out.sender = *sender;
  auto nonce = get_uint(tx, "nonce");
  if (!nonce) return malformed(nonce.error());
  out.nonce = *nonce;
  auto type = get_string(tx, "type", kMaxShortString);
  if (!type) return malformed(type.error());
  const auto* parser = std::find_if(std::begin(kParsers), std::end(kParsers),
                                    [&](const TxParser& p) { return p.type == *type; });
  if (parser == std::end(kParsers)) return malformed("unknown transaction type \"" + *type + "\"");
  out.type = std::move(*type);
  auto args_json = fields::get(tx, "args");
  if (!args_json) return malformed(args_json.error());
  if (!(*args_json)->is_object()) return malformed("\"args\" must be a JSON object");
  auto action = parser->parse(**args_json);
  if (!action) return std::unexpected(action.error());
  out.args = **args_json;
  out.action = std::move(*action);
  return out;
}

std::expected<SignedTx, Rejection> parse_signed(const json& sig, const json& tx) {
  if (!sig.is_string()) return malformed("\"sig\" must be a base64 string");
  const auto sig_bytes = base64_decode(sig.get<std::string>());
  if (!sig_bytes || sig_bytes->size() != 64) return malformed("\"sig\" is not a base64 Ed25519 signature");
  auto parsed = parse_tx(tx);
  if (!parsed) return std::unexpected(parsed.error());
  SignedTx out;
  out.tx = std::move(*parsed);
  std::copy(sig_bytes->begin(), sig_bytes->end(), out.sig.begin());
  out.canonical = canonical_json(tx);
  return out;
}

}  // namespace

std::string_view to_string(OfferKind kind) {
  switch (kind) {
    case OfferKind::Engine:
      return "engine";
    case OfferKind::Dataset:
      return "dataset";
    case OfferKind::Model:
      return "model";
    case OfferKind::Tee:
      return "tee";
  }
  return "?";
}

std::string_view to_string(PriceModel model) {
  switch (model) {
    case PriceModel::Fixed:
      return "fixed";
    case PriceModel::PerHour:
      return "per_hour";
    case PriceModel::RevenueShare:
      return "revenue_share";
  }
  return "?";
}

std::string_view to_string(ServiceAccess access) {
  switch (access) {
    case ServiceAccess::Public:
      return "public";
    case ServiceAccess::Accounts:
      return "accounts";
    case ServiceAccess::Subscribers:
      return "subscribers";
  }
  return "?";
}

nlohmann::json price_json(const Price& price) {
  if (price.model == PriceModel::RevenueShare) return {{"model", "revenue_share"}, {"bps", price.bps}};
  return {{"model", to_string(price.model)}, {"amount", price.amount}};
}

std::expected<CvmCertificateClaims, Rejection> read_cvm_certificate_claims(std::string_view pem) {
  auto cert = crypto::Certificate::from_pem(pem);
  if (!cert) return malformed("\"certificate\": " + cert.error().message);
  auto key = cert->ed25519_public_key();
  if (!key) return malformed("\"certificate\" certifies no Ed25519 key");
  const auto extension = cert->extension(ca::kAgeRecipientExtensionOid);
  if (!extension) return malformed("\"certificate\" has no age recipient extension");
  auto text = crypto::der::read_whole(*extension, crypto::der::kTagUtf8String);
  if (!text) return malformed("\"certificate\": the age recipient extension: " + text.error().message);
  std::string recipient(as_chars(*text));
  if (!recipient.starts_with("age1")) {
    return malformed("\"certificate\": the age recipient extension holds no age recipient (age1...)");
  }
  return CvmCertificateClaims{*key, std::move(recipient), cert->not_after()};
}

Result<std::array<std::uint8_t, 32>> parse_id(std::string_view text) {
  if (text.size() != 64 || !std::all_of(text.begin(), text.end(), [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
      })) {
    return fail("ledger.id", "expected 64 lower-case hex digits");
  }
  const auto bytes = hex_decode(text);
  if (!bytes) return fail(bytes.error(), "id");
  std::array<std::uint8_t, 32> out{};
  std::copy(bytes->begin(), bytes->end(), out.begin());
  return out;
}

std::string canonical_json(const nlohmann::json& value) {
  // nlohmann's default object is a std::map, so dump() already sorts keys
  // bytewise; `replace` only matters for values not produced by the parser.
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string canonical_bytes(const SignedTx& stx) {
  std::string out;
  out.reserve(kTxDomain.size() + stx.canonical.size());
  out.append(kTxDomain).append(stx.canonical);
  return out;
}

std::string canonical_bytes(const nlohmann::json& tx) {
  return std::string(kTxDomain) + canonical_json(tx);
}

Result<std::string> sign_transaction(const nlohmann::json& tx, const crypto::Ed25519PrivateKey& key) {
  try {
    (void)tx.dump();
  } catch (const json::exception&) {
    return fail("ledger.tx", "transaction holds a string that is not UTF-8");
  }
  const auto sender = tx.is_object() && tx.contains("sender") && tx["sender"].is_string()
                          ? parse_id(tx["sender"].get<std::string>())
                          : fail("ledger.tx", "transaction has no sender");
  if (!sender) return fail("ledger.tx", "transaction has no valid sender");
  if (*sender != key.public_key()) return fail("ledger.tx", "the sender is not the signing key's public key");
  const auto sig = key.sign(as_bytes(canonical_bytes(tx)));
  const json envelope = {{"sig", base64_encode(sig)}, {"tx", tx}};
  std::string text = canonical_json(envelope);
  if (auto parsed = parse_and_verify(text); !parsed) {
    return fail("ledger.tx", parsed.error().reason + ": " + parsed.error().message);
  }
  return text;
}

std::expected<SignedTx, Rejection> parse_envelope(std::string_view text) {
  if (text.size() > kMaxEnvelopeSize) {
    return reject(reason::kTooLarge,
                  "envelope is larger than " + std::to_string(kMaxEnvelopeSize) + " bytes");
  }
  auto doc = parse_strict_json(text);
  if (!doc) return malformed(doc.error().message);
  if (auto ok = only_fields(*doc, {"sig", "tx"}, "envelope"); !ok) return malformed(ok.error());
  auto sig = fields::get(*doc, "sig");
  if (!sig) return malformed(sig.error());
  auto tx = fields::get(*doc, "tx");
  if (!tx) return malformed(tx.error());
  return parse_signed(**sig, **tx);
}

bool verify_signature(const SignedTx& stx) {
  return crypto::ed25519_verify(stx.tx.sender, as_bytes(canonical_bytes(stx)), stx.sig);
}

std::expected<SignedTx, Rejection> parse_and_verify(std::string_view text) {
  auto stx = parse_envelope(text);
  if (!stx) return stx;
  if (!verify_signature(*stx))
    return reject(reason::kBadSignature, "the signature does not verify for the sender");
  return stx;
}

std::string record_bytes(const Record& record) {
  // Keys in canonical (sorted) order: index, sig, time, tx; the tx object is
  // already canonical, so the record is built without re-serialising it.
  const std::string sig = base64_encode(record.stx.sig);
  std::string out;
  out.reserve(64 + sig.size() + record.stx.canonical.size());
  out.append("{\"index\":").append(std::to_string(record.index));
  out.append(",\"sig\":\"").append(sig);
  out.append("\",\"time\":").append(std::to_string(record.time));
  out.append(",\"tx\":").append(record.stx.canonical).append("}");
  return out;
}

Result<Record> parse_record(std::string_view bytes) {
  auto doc = parse_strict_json(bytes);
  if (!doc) return fail("ledger.record", doc.error().message);
  const auto bad = [](const std::string& message) { return fail("ledger.record", message); };
  if (auto ok = only_fields(*doc, {"index", "sig", "time", "tx"}, "record"); !ok) return bad(ok.error());
  Record record;
  auto index = get_uint(*doc, "index");
  if (!index) return bad(index.error());
  auto time = get_uint(*doc, "time");
  if (!time) return bad(time.error());
  if (!doc->contains("sig") || !doc->contains("tx")) return bad("record lacks \"sig\" or \"tx\"");
  auto stx = parse_signed(doc->at("sig"), doc->at("tx"));
  if (!stx) return bad(stx.error().message);
  record.index = *index;
  record.time = *time;
  record.stx = std::move(*stx);
  if (!verify_signature(record.stx))
    return bad("record " + std::to_string(*index) + ": signature does not verify");
  if (record_bytes(record) != bytes)
    return bad("record " + std::to_string(*index) + " is not in canonical form");
  return record;
}

}  // namespace ward::ledger
