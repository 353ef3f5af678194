#include "ledger/evm/reader.h"

#include <algorithm>
#include <cstddef>
#include <map>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "base/bytes.h"
#include "crypto/hash.h"
#include "evm/abi.h"
#include "evm/keccak.h"
#include "evm/u256.h"

namespace ward::ledger::evm {
namespace {

namespace chain = ward::evm;
namespace abi = ward::evm::abi;
using chain::Hash256;

constexpr const char* kCode = "ledger.evm";
// Ids per eth_getLogs topic list: nodes bound the size of a filter.
constexpr std::size_t kIdsPerLogQuery = 100;
// What a list view returns per call at most (WardLedgerViews: min(limit, 1000)).
constexpr std::uint64_t kPageSize = 1000;

// ---------------------------------------------------------------------------
// The contract's ABI, as contracts/artifacts/WardLedger.json states it: view
// signatures with their canonical output types (a struct returned alone is
// one tuple), and event signatures with how many leading arguments are
// indexed.
// ---------------------------------------------------------------------------

constexpr std::string_view kAccountView = "(bytes32,address,uint64,uint64)";
constexpr std::string_view kOfferView = "(uint64,bytes32,uint8,(uint8,uint64,uint32),bool,uint64)";
constexpr std::string_view kCvmView =
    "(bytes32,bytes32,address,uint64,bytes32,uint64,uint64,bytes32,bytes32,uint64,(bool,uint64,uint64,uint64)"
    ")";
constexpr std::string_view kOrderView =
    "(uint64,bytes32,bytes32,bytes32,uint64[],uint64,uint8,uint64,uint64,uint64,"
    "(uint64,bytes32,(uint8,uint64,uint32),uint64)[],uint64,bool,"
    "(uint8,uint64,uint64,bool,bytes32,bytes32[],uint64,uint64,uint64,uint64,(bytes32,string,uint64)[]),"
    "uint64,uint64,(bool,uint64,uint64,uint64))";
constexpr std::string_view kReportView = "(uint64,bytes32,uint64,uint64)";
constexpr std::string_view kSubscriptionView =
    "(uint64,bytes32,uint64,uint64,uint64,uint64,uint64,uint64,uint64,bool,uint64)";
constexpr std::string_view kGrantView = "(bytes32,bytes32,uint64,bool,uint64)";
// OrderCreated's and GrantsUsed's `args` are createOrder's and useGrants's
// arguments as sent (msg.data[4:]).
constexpr std::string_view kOrderArgs =
    "(bytes32,bool,uint64,(bool,uint64,uint64,uint64),string,string[],string[],uint64[],uint64,"
    "(bool,uint8,bytes32[],uint64,uint64),bytes32[])";
constexpr std::string_view kGrantsUseArgs = "uint64,(bytes32,bytes32,uint64)[]";

struct View {
  abi::Function function;
  std::vector<abi::Type> outputs;
};

struct Event {
  std::string name;
  Hash256 topic{};
  std::size_t indexed = 0;  // the leading arguments, logged as topics 1..
  std::vector<abi::Type> data;
};

struct Abi {
  View ledger_id, dev, totals, account, offer, offers, cvm, cvms, order, orders, report, start_report,
      subscription, subscriptions, grant, grant_used_by;
  Event account_registered, offer_created, cvm_registered, cvm_updated, order_created, order_failed,
      report_submitted, service_started, grants_used;
  std::vector<abi::Type> order_args, grants_use_args;
};

// Parses signatures, keeping the first error; later parses return empty values.
class AbiParser {
 public:
  std::vector<abi::Type> types(std::string_view list) {
    auto t = abi::parse_types(list);
    if (!t) {
      note(t.error());
      return {};
    }
    return std::move(*t);
  }
  View view(std::string_view signature, std::string_view outputs) {
    auto f = abi::Function::parse(signature);
    if (!f) {
      note(f.error());
      return {};
    }
    return View{std::move(*f), types(outputs)};
  }
  Event event(std::string_view signature, std::size_t indexed) {
    auto f = abi::Function::parse(signature);
    if (!f || f->inputs.size() < indexed) {
      note(f ? Error(kCode, "too few arguments in " + std::string(signature)) : f.error());
      return {};
    }
    return Event{f->name, f->topic(), indexed,
                 std::vector<abi::Type>(f->inputs.begin() + indexed, f->inputs.end())};
  }
  const std::optional<Error>& error() const { return error_; }

 private:
  void note(const Error& e) {
    if (!error_) error_ = e;
  }
  std::optional<Error> error_;
};

Result<Abi> parse_abi() {
  AbiParser p;
  Abi a{
      .ledger_id = p.view("ledgerId()", "bytes32"),
      .dev = p.view("dev()", "bool"),
      .totals = p.view("totals()", "uint64,uint64,uint64"),
      .account = p.view("account(bytes32)", kAccountView),
      .offer = p.view("offer(uint64)", kOfferView),
      .offers = p.view("offers(uint64,uint64)", std::string(kOfferView) + "[],uint64"),
      .cvm = p.view("cvm(bytes32)", kCvmView),
      .cvms = p.view("cvms()", std::string(kCvmView) + "[]"),
      .order = p.view("order(uint64)", kOrderView),
      .orders =
          p.view("orders((bytes32,bytes32,bool,uint8,uint64,uint64))", std::string(kOrderView) + "[],uint64"),
      .report = p.view("report(uint64)", kReportView),
      .start_report = p.view("startReport(uint64)", kReportView),
      .subscription = p.view("subscription(uint64,bytes32)", kSubscriptionView),
      .subscriptions = p.view("subscriptions(uint64)", std::string(kSubscriptionView) + "[]"),
      .grant = p.view("grant(bytes32,bytes32)", kGrantView),
      .grant_used_by = p.view("grantUsedBy(bytes32,bytes32,uint64)", "bool"),
      .account_registered = p.event("AccountRegistered(bytes32,address,uint64,string,string,bytes)", 2),
      .offer_created = p.event("OfferCreated(uint64,bytes32,uint8,(uint8,uint64,uint32),string,string)", 2),
      .cvm_registered = p.event("CvmRegistered(bytes32,bytes32,address,uint64,uint64,string,bytes,bytes)", 2),
      .cvm_updated = p.event("CvmUpdated(bytes32,bytes32,uint64,uint64,bytes)", 1),
      .order_created = p.event("OrderCreated(uint64,bytes32,bytes32,bytes)", 3),
      .order_failed = p.event("OrderFailed(uint64,uint64,string)", 1),
      .report_submitted = p.event("ReportSubmitted(uint64,bytes32,uint64,bytes)", 1),
      .service_started = p.event("ServiceStarted(uint64,bytes32,bytes32,uint64,string,bytes)", 1),
      .grants_used = p.event("GrantsUsed(uint64,uint64,bytes)", 1),
      .order_args = p.types(kOrderArgs),
      .grants_use_args = p.types(kGrantsUseArgs),
  };
  if (p.error()) return std::unexpected(*p.error());
  return a;
}

// The signatures are constants: parsed once, and a failure (a bug) is what
// every query reports.
const Result<Abi>& contract_abi() {
  static const Result<Abi> abi = parse_abi();
  return abi;
}

// ---------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------

// Reads decoded values in order as the types the contract declares. The
// first that does not fit is kept as the problem (shared with the nested
// readers) and later reads return zeros, so an entity is checked once.
class Fields {
 public:
  explicit Fields(std::vector<abi::Value> values)
      : Fields(std::move(values), std::make_shared<std::string>()) {}

  std::size_t size() const { return values_.size(); }
  bool ok() const { return problem_->empty(); }
  const std::string& problem() const { return *problem_; }

  std::uint64_t u64() { return take(&abi::Value::as_uint64); }
  bool flag() { return take(&abi::Value::as_bool); }
  Hash256 word() { return take(&abi::Value::as_bytes32); }
  chain::Address address() { return take(&abi::Value::as_address); }
  Bytes bytes() { return take(&abi::Value::as_bytes); }
  std::string text() { return take(&abi::Value::as_string); }
  // An enum's value: at most `max`.
  std::uint64_t code(std::uint64_t max, std::string_view what) {
    const std::uint64_t v = u64();
    if (v > max && ok()) *problem_ = std::string(what) + " " + std::to_string(v) + " is out of range";
    return v;
  }
  // A tuple, or an array read element by element.
  Fields nested() { return Fields(take(&abi::Value::as_list), problem_); }

  std::vector<std::uint64_t> u64s() {
    Fields items = nested();
    std::vector<std::uint64_t> out;
    for (std::size_t i = 0; i < items.size(); ++i) out.push_back(items.u64());
    return out;
  }
  std::vector<Hash256> words() {
    Fields items = nested();
    std::vector<Hash256> out;
    for (std::size_t i = 0; i < items.size(); ++i) out.push_back(items.word());
    return out;
  }
  std::vector<std::string> texts() {
    Fields items = nested();
    std::vector<std::string> out;
    for (std::size_t i = 0; i < items.size(); ++i) out.push_back(items.text());
    return out;
  }
  // WardLedgerState.Resources: nullopt when not present.
  std::optional<Resources> resources() {
    Fields r = nested();
    const bool present = r.flag();
    const Resources v{r.u64(), r.u64(), r.u64()};
    if (!present) return std::nullopt;
    return v;
  }
  Price price() {
    Fields p = nested();
    Price out;
    out.model = static_cast<PriceModel>(p.code(2, "price model"));
    out.amount = p.u64();
    out.bps = static_cast<std::uint32_t>(p.u64());
    return out;
  }

 private:
  Fields(std::vector<abi::Value> values, std::shared_ptr<std::string> problem)
      : values_(std::move(values)), problem_(std::move(problem)) {}

  template <class T>
  T take(Result<T> (abi::Value::*read)() const) {
    if (!ok()) return T{};
    if (next_ >= values_.size()) {
      *problem_ = "fewer fields than its type has";
      return T{};
    }
    auto r = (values_[next_++].*read)();
    if (!r) {
      *problem_ = r.error().message;
      return T{};
    }
    return std::move(*r);
  }

  std::vector<abi::Value> values_;
  std::size_t next_ = 0;
  std::shared_ptr<std::string> problem_;
};

std::unexpected<Error> unreadable(const std::string& what, std::string_view source, const Fields& f) {
  return fail(kCode, what + ": " + std::string(source) + " does not read: " + f.problem());
}

// Events and state disagree: the ledger cannot be read as Ward's.
std::unexpected<Error> disagree(const std::string& what, const std::string& detail) {
  return fail(kCode, what + ": " + detail + " (the contract's events and state disagree)");
}

Hash256 word_of(std::uint64_t v) {
  return chain::U256(v).big_endian();
}

Hash256 word_of(const chain::Address& a) {
  Hash256 w{};
  std::copy(a.bytes.begin(), a.bytes.end(), w.begin() + 12);
  return w;
}

bool is_zero(const Hash256& w) {
  return w == Hash256{};
}

std::optional<std::uint64_t> time_or_null(std::uint64_t t) {
  if (t == 0) return std::nullopt;
  return t;
}

std::string short_hex(const Hash256& w) {
  return hex_encode(w).substr(0, 16);
}
std::string account_name(const AccountId& id) {
  return "account " + short_hex(id);
}
std::string offer_name(std::uint64_t id) {
  return "offer " + std::to_string(id);
}
std::string cvm_name(const CvmId& id) {
  return "CVM " + short_hex(id);
}
std::string order_name(std::uint64_t id) {
  return "order " + std::to_string(id);
}

// ---------------------------------------------------------------------------
// Reading at one block
// ---------------------------------------------------------------------------

// One log of an event, its data decoded.
struct EventLog {
  std::vector<Hash256> indexed;  // topics 1..: the indexed arguments
  std::vector<abi::Value> data;
  std::uint64_t block = 0;
  std::uint64_t position = 0;  // the log's index in its block
};

bool before(const EventLog& a, const EventLog& b) {
  return std::pair(a.block, a.position) < std::pair(b.block, b.position);
}

// Groups logs by one indexed argument, each group in chain order.
std::map<Hash256, std::vector<EventLog>> by_topic(std::vector<EventLog> logs, std::size_t topic) {
  std::map<Hash256, std::vector<EventLog>> out;
  for (auto& log : logs) out[log.indexed[topic]].push_back(std::move(log));
  return out;
}

const std::vector<EventLog>& group(const std::map<Hash256, std::vector<EventLog>>& groups,
                                   const Hash256& key) {
  static const std::vector<EventLog> none;
  const auto it = groups.find(key);
  return it == groups.end() ? none : it->second;
}

class Query {
 public:
  static Result<Query> at_head(chain::RpcClient& rpc, const chain::Address& contract,
                               std::uint64_t from_block, const std::string& what) {
    const auto& abi = contract_abi();
    if (!abi) return std::unexpected(abi.error());
    auto head = rpc.block_number();
    if (!head) return fail(head.error(), "reading " + what);
    return Query(rpc, contract, from_block, *head, *abi);
  }

  const Abi& abi() const { return abi_; }

  // The view's outputs, read at the query's block.
  Result<Fields> call(const View& view, const std::vector<abi::Value>& args, const std::string& what) {
    auto data = view.function.encode_call(args);
    if (!data) return fail(kCode, what + ": " + data.error().message);
    auto r = rpc_.call(std::nullopt, contract_, *data, chain::quantity_text(head_));
    if (!r) return fail(r.error(), "reading " + what);
    const std::string name = view.function.name + "()";
    if (r->reverted) {
      auto why = abi::decode_revert(r->data);
      return fail(kCode, what + ": the view " + name + " of " + contract_.to_checksum() + " reverted" +
                             (why ? ": " + why->describe() : ""));
    }
    // Every view returns at least one word; nothing at all is what a call to
    // an address without code answers.
    if (r->data.empty()) {
      return fail(kCode, "no WardLedger contract at " + contract_.to_checksum() + " (its " + name +
                             " answered nothing) reading " + what);
    }
    auto values = abi::decode(view.outputs, r->data);
    if (!values) return fail(kCode, what + ": the view " + name + " answered: " + values.error().message);
    return Fields(std::move(*values));
  }

  // Logs of `event` whose indexed argument `topic` (0: topic 1) is one of
  // `ids`, in chain order; none for no ids.
  Result<std::vector<EventLog>> logs(const Event& event, std::size_t topic, std::span<const Hash256> ids,
                                     const std::string& what) {
    std::vector<EventLog> out;
    const std::set<Hash256> wanted(ids.begin(), ids.end());
    for (std::size_t i = 0; i < ids.size(); i += kIdsPerLogQuery) {
      const auto chunk = ids.subspan(i, std::min(kIdsPerLogQuery, ids.size() - i));
      std::vector<std::vector<Hash256>> topics(topic + 2);
      topics[0] = {event.topic};
      topics[topic + 1].assign(chunk.begin(), chunk.end());
      if (auto ok = fetch(event, std::move(topics), what, out); !ok) return std::unexpected(ok.error());
    }
    for (const auto& log : out) {
      if (!wanted.contains(log.indexed[topic])) {
        return fail(kCode, what + ": the node answered a " + event.name + " event that was not asked for");
      }
    }
    std::stable_sort(out.begin(), out.end(), before);
    return out;
  }

  // Every log of `event`, in chain order.
  Result<std::vector<EventLog>> all_logs(const Event& event, const std::string& what) {
    std::vector<EventLog> out;
    if (auto ok = fetch(event, {{event.topic}}, what, out); !ok) return std::unexpected(ok.error());
    std::stable_sort(out.begin(), out.end(), before);
    return out;
  }

  Result<std::uint64_t> nonce(const chain::Address& owner, const std::string& what) {
    auto n = rpc_.transaction_count(owner, chain::quantity_text(head_));
    if (!n) return fail(n.error(), "reading " + what);
    return *n;
  }

 private:
  Query(chain::RpcClient& rpc, const chain::Address& contract, std::uint64_t from_block, std::uint64_t head,
        const Abi& abi)
      : rpc_(rpc), contract_(contract), from_block_(from_block), head_(head), abi_(abi) {}

  Result<void> fetch(const Event& event, std::vector<std::vector<Hash256>> topics, const std::string& what,
                     std::vector<EventLog>& out) {
    // Nothing was mined in a range that starts past the head.
    if (from_block_ > head_) return {};
    chain::LogFilter filter{contract_, std::move(topics), from_block_, head_};
    auto logs = rpc_.logs(filter);
    if (!logs) return fail(logs.error(), "reading " + what);
    for (auto& log : *logs) {
      if (log.removed) continue;
      if (log.log.address != contract_ || log.log.topics.size() != event.indexed + 1 ||
          log.log.topics[0] != event.topic || log.block_number < from_block_ || log.block_number > head_) {
        return fail(kCode,
                    what + ": the node answered a log that does not match the " + event.name + " filter");
      }
      auto data = abi::decode(event.data, log.log.data);
      if (!data)
        return fail(kCode, what + ": its " + event.name + " event does not decode: " + data.error().message);
      out.push_back(EventLog{std::vector<Hash256>(log.log.topics.begin() + 1, log.log.topics.end()),
                             std::move(*data), log.block_number, log.log_index});
    }
    return {};
  }

  chain::RpcClient& rpc_;
  chain::Address contract_;
  std::uint64_t from_block_;
  std::uint64_t head_;
  const Abi& abi_;
};

// ---------------------------------------------------------------------------
// Entities: a view's answer and the events it points to
// ---------------------------------------------------------------------------

// The single log of a creating event, or why there is not exactly one.
Result<const EventLog*> only_log(const std::vector<EventLog>& logs, const Event& event,
                                 const std::string& what) {
  if (logs.size() != 1) {
    return disagree(what, "it has " + std::to_string(logs.size()) + " " + event.name + " events, not one");
  }
  return &logs.front();
}

Result<std::optional<Offer>> make_offer(Fields v, const std::vector<EventLog>& created, const Abi& abi,
                                        std::uint64_t expected_id) {
  std::string what = offer_name(expected_id);
  Offer o;
  o.id = v.u64();
  o.owner = v.word();
  o.kind = static_cast<OfferKind>(v.code(3, "kind"));
  o.price = v.price();
  o.enabled = v.flag();
  o.timeout = v.u64();
  if (!v.ok()) return unreadable(what, "the view offer()", v);
  if (is_zero(o.owner)) return std::nullopt;
  if (o.id != expected_id) return disagree(what, "the view answered for offer " + std::to_string(o.id));
  auto log = only_log(created, abi.offer_created, what);
  if (!log) return std::unexpected(log.error());
  Fields d((*log)->data);
  const auto kind = static_cast<OfferKind>(d.code(3, "kind"));
  const Price price = d.price();
  o.name = d.text();
  o.resource = d.text();
  if (!d.ok()) return unreadable(what, "OfferCreated", d);
  if ((*log)->indexed[1] != o.owner) return disagree(what, "OfferCreated names another owner");
  if (kind != o.kind || price != o.price) return disagree(what, "OfferCreated states another kind or price");
  return o;
}

Result<std::optional<Cvm>> make_cvm(Fields v, const std::vector<EventLog>& registered,
                                    const std::vector<EventLog>& updated, const Abi& abi,
                                    const CvmId& expected_id) {
  std::string what = cvm_name(expected_id);
  Cvm c;
  c.id = v.word();
  c.key = v.word();
  const chain::Address address = v.address();
  c.offer = v.u64();
  c.provider = v.word();
  c.registered_at = v.u64();
  c.heartbeat_at = v.u64();
  const Hash256 recipient_hash = v.word();
  const Hash256 certificate_sha256 = v.word();
  v.u64();  // notAfter: the CVM's claim, which Ward's Cvm does not keep
  c.resources = v.resources();
  if (!v.ok()) return unreadable(what, "the view cvm()", v);
  if (address == chain::Address{}) return std::nullopt;
  if (c.id != expected_id) return disagree(what, "the view answered for " + cvm_name(c.id));
  if (crypto::sha256(c.key) != c.id) return disagree(what, "its id is not the sha256 of its key");
  auto log = only_log(registered, abi.cvm_registered, what);
  if (!log) return std::unexpected(log.error());
  Fields d((*log)->data);
  const chain::Address registered_address = d.address();
  const std::uint64_t registered_offer = d.u64();
  d.u64();  // index: the CVM account's `created`, which account() checks
  c.recipient = d.text();
  Bytes certificate = d.bytes();
  if (!d.ok()) return unreadable(what, "CvmRegistered", d);
  if ((*log)->indexed[1] != c.key || registered_address != address || registered_offer != c.offer) {
    return disagree(what, "CvmRegistered names another key, address or offer");
  }
  if (chain::keccak256(as_bytes(c.recipient)) != recipient_hash) {
    return disagree(what, "its recipient in CvmRegistered does not hash to the recorded recipientHash");
  }
  if (!updated.empty()) {
    if (before(updated.front(), **log))
      return disagree(what, "a CvmUpdated event precedes its CvmRegistered");
    Fields u(updated.back().data);
    u.word();  // certificateSha256: checked below against the state's
    u.u64();
    u.u64();
    certificate = u.bytes();
    if (!u.ok()) return unreadable(what, "CvmUpdated", u);
  }
  if (crypto::sha256(certificate) != certificate_sha256) {
    return disagree(what, "its latest certificate does not hash to the recorded certificateSha256");
  }
  c.certificate = std::string(as_chars(certificate));
  return c;
}

// The parts of an order that only its events hold.
struct OrderLogs {
  const std::vector<EventLog>& created;
  const std::vector<EventLog>& failed;   // OrderFailed
  const std::vector<EventLog>& started;  // ServiceStarted
};

Result<std::optional<Order>> make_order(Fields v, const OrderLogs& logs, const Abi& abi,
                                        std::uint64_t expected_id) {
  std::string what = order_name(expected_id);
  Order o;
  o.id = v.u64();
  o.creator = v.word();
  o.cvm = v.word();
  const Hash256 engine_hash = v.word();
  o.offers = v.u64s();
  o.deposit = v.u64();
  o.status = static_cast<OrderStatus>(v.code(4, "status"));
  o.created_at = v.u64();
  o.started_at = v.u64();
  o.ended_at = v.u64();
  Fields payments = v.nested();
  for (std::size_t i = 0; i < payments.size(); ++i) {
    Fields p = payments.nested();
    Payment pay;
    pay.offer = p.u64();
    pay.to = p.word();
    pay.price = p.price();
    pay.amount = p.u64();
    o.payments.push_back(pay);
  }
  o.refund = v.u64();
  const bool service = v.flag();
  Fields s = v.nested();
  const auto access = static_cast<ServiceAccess>(s.code(2, "access"));
  const UsagePrice usage_price{s.u64(), s.u64()};
  const bool started = s.flag();
  const Hash256 tls_key = s.word();
  std::vector<crypto::Sha256Digest> served_inputs = s.words();
  const std::uint64_t serving_since = s.u64();
  const std::uint64_t cancel_requested = s.u64();
  const std::uint64_t exhausted_at = s.u64();
  const std::uint64_t revenue = s.u64();
  std::vector<Worker> workers;
  Fields listed = s.nested();
  for (std::size_t i = 0; i < listed.size(); ++i) {
    Fields w = listed.nested();
    Worker worker;
    worker.cvm = w.word();
    worker.endpoint = w.text();
    worker.joined_at = time_or_null(w.u64());
    workers.push_back(std::move(worker));
  }
  o.tee_offer = v.u64();
  o.billed = v.u64();
  o.needs = v.resources();
  if (!v.ok()) return unreadable(what, "the view order()", v);
  if (is_zero(o.creator)) return std::nullopt;
  if (o.id != expected_id) return disagree(what, "the view answered for " + order_name(o.id));

  auto created = only_log(logs.created, abi.order_created, what);
  if (!created) return std::unexpected(created.error());
  // An order placed on an offer names no CVM when created; its CVM is the
  // one that took it last (OrderTaken), which the view states.
  const CvmId created_cvm = o.tee_offer != 0 ? CvmId{} : o.cvm;
  if ((*created)->indexed[1] != o.creator || (*created)->indexed[2] != created_cvm) {
    return disagree(what, "OrderCreated names another creator or CVM");
  }
  Fields event((*created)->data);
  const Bytes encoded = event.bytes();
  if (!event.ok()) return unreadable(what, "OrderCreated", event);
  auto args = decode_order_created(encoded);
  if (!args) return fail(kCode, what + ": " + args.error().message);
  o.engine = std::move(args->engine);
  o.inputs = std::move(args->inputs);
  o.outputs = std::move(args->outputs);
  if (args->cvm != created_cvm || args->offers != o.offers || args->deposit != o.deposit ||
      args->offer.value_or(0) != o.tee_offer || args->needs != o.needs) {
    return disagree(what, "OrderCreated's args state another CVM, tee offer, needs, offers or deposit");
  }
  std::vector<CvmId> listed_workers;
  for (const Worker& w : workers) listed_workers.push_back(w.cvm);
  if (args->workers != listed_workers) return disagree(what, "OrderCreated's args list other workers");
  if (chain::keccak256(as_bytes(o.engine)) != engine_hash) {
    return disagree(what, "its engine in OrderCreated does not hash to the recorded engineHash");
  }
  if (args->serve.has_value() != service ||
      (service && (args->serve->access != access || args->serve->price != usage_price))) {
    return disagree(what, "OrderCreated's service terms are not the recorded ones");
  }

  if (o.status != OrderStatus::Error && !logs.failed.empty()) {
    return disagree(what, "it is " + std::string(to_string(o.status)) + " but has an OrderFailed event");
  }
  if (o.status == OrderStatus::Error) {
    auto failed = only_log(logs.failed, abi.order_failed, what);
    if (!failed) return std::unexpected(failed.error());
    Fields f((*failed)->data);
    f.u64();  // index
    o.error = f.text();
    if (!f.ok()) return unreadable(what, "OrderFailed", f);
  }

  if (!service && !logs.started.empty()) return disagree(what, "a batch order has a ServiceStarted event");
  if (service) {
    ServiceTerms t;
    t.rule = std::move(*args->serve);
    if (started != !logs.started.empty()) {
      return disagree(
          what, std::string(started ? "started without" : "not started but has") + " a ServiceStarted event");
    }
    if (started) {
      Fields st(logs.started.back().data);
      st.word();  // reportSha256: start_report() checks it
      const Hash256 started_key = st.word();
      st.u64();
      t.endpoint = st.text();
      if (!st.ok()) return unreadable(what, "ServiceStarted", st);
      if (started_key != tls_key) return disagree(what, "its latest ServiceStarted names another TLS key");
      t.tls_key_sha256 = tls_key;
    }
    t.inputs = std::move(served_inputs);
    t.serving_since = time_or_null(serving_since);
    t.cancel_requested = time_or_null(cancel_requested);
    t.exhausted_at = time_or_null(exhausted_at);
    t.revenue = revenue;
    t.workers = std::move(workers);
    o.serve = std::move(t);
  }
  return o;
}

// A final report (the one ReportSubmitted) or a start report (the latest
// ServiceStarted), with the view's record of it.
Result<std::optional<Report>> make_report(Fields v, const std::vector<EventLog>& logs, const Abi& abi,
                                          bool start, std::uint64_t expected_order) {
  const std::string what =
      std::string(start ? "the start report of " : "the report of ") + order_name(expected_order);
  const Event& event = start ? abi.service_started : abi.report_submitted;
  Report r;
  r.order = v.u64();
  const Hash256 sha = v.word();
  r.index = v.u64();
  r.time = v.u64();
  if (!v.ok()) return unreadable(what, start ? "the view startReport()" : "the view report()", v);
  if (is_zero(sha)) return std::nullopt;
  if (r.order != expected_order) return disagree(what, "the view answered for " + order_name(r.order));
  if (logs.empty() || (!start && logs.size() != 1)) {
    return disagree(what, "it has " + std::to_string(logs.size()) + " " + event.name + " events");
  }
  Fields d(logs.back().data);
  const Hash256 event_sha = d.word();
  if (start) d.word();  // tlsKeySha256: order() checks it
  const std::uint64_t index = d.u64();
  if (start) d.text();  // endpoint: order() reads it
  const Bytes report = d.bytes();
  if (!d.ok()) return unreadable(what, event.name, d);
  if (index != r.index) return disagree(what, "its latest " + event.name + " is not the recorded record");
  if (event_sha != sha || crypto::sha256(report) != sha) {
    return disagree(what, "its bytes in " + event.name + " do not hash to the recorded reportSha256");
  }
  r.report = std::string(as_chars(report));
  return r;
}

Result<std::optional<Subscription>> make_subscription(Fields v, std::uint64_t expected_order,
                                                      const std::string& what) {
  Subscription s;
  s.order = v.u64();
  s.account = v.word();
  s.deposit = v.u64();
  s.charged = v.u64();
  s.requests = v.u64();
  s.tokens = v.u64();
  s.bytes = v.u64();
  s.created_at = v.u64();
  s.updated_at = v.u64();
  s.closed = v.flag();
  s.refund = v.u64();
  if (!v.ok()) return unreadable(what, "the view subscription()", v);
  if (is_zero(s.account)) return std::nullopt;
  if (s.order != expected_order) return disagree(what, "the view answered for " + order_name(s.order));
  return s;
}

Result<ChainTotals> read_totals(Query& q) {
  const std::string what = "the ledger's totals";
  auto v = q.call(q.abi().totals, {}, what);
  if (!v) return std::unexpected(v.error());
  ChainTotals t{v->u64(), Totals{v->u64(), v->u64()}};
  if (!v->ok()) return unreadable(what, "the view totals()", *v);
  return t;
}

// The id a view's entity tuple starts with, read from a copy.
Hash256 first_word(Fields f) {
  return f.word();
}
std::uint64_t first_u64(Fields f) {
  return f.u64();
}

// Logs of `event` for each of `ids` (its first indexed argument), by id.
Result<std::map<Hash256, std::vector<EventLog>>> logs_by_id(Query& q, const Event& event,
                                                            const std::vector<Hash256>& ids,
                                                            const std::string& what) {
  auto logs = q.logs(event, 0, ids, what);
  if (!logs) return std::unexpected(logs.error());
  return by_topic(std::move(*logs), 0);
}

// The events of orders `ids`, by order id.
struct OrderEvents {
  std::map<Hash256, std::vector<EventLog>> created, failed, started;

  OrderLogs of(const Hash256& id) const {
    return {group(created, id), group(failed, id), group(started, id)};
  }
};

Result<OrderEvents> order_events(Query& q, const std::vector<Hash256>& ids, const std::string& what) {
  auto created = logs_by_id(q, q.abi().order_created, ids, what);
  if (!created) return std::unexpected(created.error());
  auto failed = logs_by_id(q, q.abi().order_failed, ids, what);
  if (!failed) return std::unexpected(failed.error());
  auto started = logs_by_id(q, q.abi().service_started, ids, what);
  if (!started) return std::unexpected(started.error());
  return OrderEvents{std::move(*created), std::move(*failed), std::move(*started)};
}

// The orders of one page of a view, with their events.
Result<std::vector<Order>> orders_of(Query& q, std::vector<Fields> views, const std::string& what) {
  std::vector<Hash256> ids;
  for (const Fields& v : views) ids.push_back(word_of(first_u64(v)));
  auto events = order_events(q, ids, what);
  if (!events) return std::unexpected(events.error());
  std::vector<Order> out;
  for (std::size_t i = 0; i < views.size(); ++i) {
    const std::uint64_t id = first_u64(views[i]);
    auto order = make_order(std::move(views[i]), events->of(ids[i]), q.abi(), id);
    if (!order) return std::unexpected(order.error());
    if (!*order) return disagree(what, "the list names " + order_name(id) + ", which does not exist");
    out.push_back(std::move(**order));
  }
  return out;
}

}  // namespace

Result<CreatedOrder> decode_order_created(ByteView args) {
  const auto& abi = contract_abi();
  if (!abi) return std::unexpected(abi.error());
  auto decoded = abi::decode(abi->order_args, args);
  if (!decoded) return fail(kCode, "OrderCreated's args do not decode: " + decoded.error().message);
  Fields a = Fields(std::move(*decoded)).nested();
  CreatedOrder o;
  o.cvm = a.word();
  const bool on_offer = a.flag();
  const std::uint64_t offer = a.u64();
  o.needs = a.resources();
  o.engine = a.text();
  o.inputs = a.texts();
  o.outputs = a.texts();
  o.offers = a.u64s();
  o.deposit = a.u64();
  Fields serve = a.nested();
  const bool present = serve.flag();
  const auto access = static_cast<ServiceAccess>(serve.code(2, "access"));
  std::vector<Hash256> accounts = serve.words();
  const UsagePrice price{serve.u64(), serve.u64()};
  o.workers = a.words();
  if (!a.ok()) return fail(kCode, "OrderCreated's args hold " + a.problem());
  if (present) o.serve = ServeRule(access, std::move(accounts), price);
  if (on_offer) o.offer = offer;
  return o;
}

Result<LedgerInfo> ContractReader::info() {
  const std::string what = "the ledger's id";
  auto q = Query::at_head(rpc_, contract_, from_block_, what);
  if (!q) return std::unexpected(q.error());
  auto id = q->call(q->abi().ledger_id, {}, what);
  if (!id) return std::unexpected(id.error());
  auto dev = q->call(q->abi().dev, {}, what);
  if (!dev) return std::unexpected(dev.error());
  LedgerInfo info{id->word(), dev->flag()};
  if (!id->ok()) return unreadable(what, "the view ledgerId()", *id);
  if (!dev->ok()) return unreadable(what, "the view dev()", *dev);
  return info;
}

Result<ChainTotals> ContractReader::totals() {
  auto q = Query::at_head(rpc_, contract_, from_block_, "the ledger's totals");
  if (!q) return std::unexpected(q.error());
  return read_totals(*q);
}

Result<std::optional<Account>> ContractReader::account(const AccountId& id) {
  const std::string what = account_name(id);
  auto q = Query::at_head(rpc_, contract_, from_block_, what);
  if (!q) return std::unexpected(q.error());
  const Abi& abi = q->abi();
  auto view = q->call(abi.account, {abi::Value::bytes(id)}, what);
  if (!view) return std::unexpected(view.error());
  Fields v = view->nested();
  Account a;
  a.id = v.word();
  const chain::Address owner = v.address();
  a.balance = v.u64();
  a.created = v.u64();
  if (!v.ok()) return unreadable(what, "the view account()", v);
  if (owner == chain::Address{}) return std::nullopt;
  if (a.id != id) return disagree(what, "the view answered for " + account_name(a.id));

  const std::vector<Hash256> ids{id};
  auto registered = q->logs(abi.account_registered, 0, ids, what);
  if (!registered) return std::unexpected(registered.error());
  std::uint64_t index = 0;
  Hash256 event_owner{};  // the registering address as a topic word
  if (!registered->empty()) {
    auto log = only_log(*registered, abi.account_registered, what);
    if (!log) return std::unexpected(log.error());
    event_owner = (*log)->indexed[1];
    Fields d((*log)->data);
    index = d.u64();
    a.recipient = d.text();
    a.name = d.text();
    if (!d.ok()) return unreadable(what, "AccountRegistered", d);
  } else {
    // A CVM's account is registered with the CVM, under its key.
    auto cvm = q->logs(abi.cvm_registered, 1, ids, what);
    if (!cvm) return std::unexpected(cvm.error());
    if (cvm->size() != 1) {
      return disagree(what, "it has no AccountRegistered event and " + std::to_string(cvm->size()) +
                                " CvmRegistered events, not one");
    }
    Fields d(cvm->front().data);
    event_owner = word_of(d.address());
    d.u64();  // the CVM's tee offer
    index = d.u64();
    a.recipient = d.text();
    if (!d.ok()) return unreadable(what, "CvmRegistered", d);
    // The name apply_cvms_register gives a CVM's account, which no event
    // needs to carry: it is made of the CVM id.
    a.name = "cvm " + short_hex(cvm->front().indexed[0]);
  }
  if (event_owner != word_of(owner)) return disagree(what, "its registration names another address");
  if (index != a.created) return disagree(what, "its registration is not the recorded record");
  auto nonce = q->nonce(owner, what);
  if (!nonce) return std::unexpected(nonce.error());
  a.nonce = *nonce;
  return a;
}

Result<std::optional<Offer>> ContractReader::offer(std::uint64_t id) {
  const std::string what = offer_name(id);
  auto q = Query::at_head(rpc_, contract_, from_block_, what);
  if (!q) return std::unexpected(q.error());
  auto view = q->call(q->abi().offer, {abi::Value::uint(id)}, what);
  if (!view) return std::unexpected(view.error());
  auto created = q->logs(q->abi().offer_created, 0, std::vector<Hash256>{word_of(id)}, what);
  if (!created) return std::unexpected(created.error());
  return make_offer(view->nested(), *created, q->abi(), id);
}

Result<std::vector<Offer>> ContractReader::offers() {
  const std::string what = "the offers";
  auto q = Query::at_head(rpc_, contract_, from_block_, what);
  if (!q) return std::unexpected(q.error());
  auto totals = read_totals(*q);
  if (!totals) return std::unexpected(totals.error());
  std::vector<Fields> views;
  for (std::uint64_t next = 0; next < totals->records;) {
    auto page = q->call(q->abi().offers, {abi::Value::uint(next), abi::Value::uint(kPageSize)}, what);
    if (!page) return std::unexpected(page.error());
    Fields list = page->nested();
    for (std::size_t i = 0; i < list.size(); ++i) views.push_back(list.nested());
    const std::uint64_t after = page->u64();
    if (!page->ok()) return unreadable(what, "the view offers()", *page);
    if (after <= next || after > totals->records)
      return fail(kCode, what + ": the view offers() does not advance");
    next = after;
  }
  std::vector<Hash256> ids;
  for (const Fields& v : views) ids.push_back(word_of(first_u64(v)));
  auto created = logs_by_id(*q, q->abi().offer_created, ids, what);
  if (!created) return std::unexpected(created.error());
  std::vector<Offer> out;
  for (std::size_t i = 0; i < views.size(); ++i) {
    const std::uint64_t id = first_u64(views[i]);
    auto offer = make_offer(std::move(views[i]), group(*created, ids[i]), q->abi(), id);
    if (!offer) return std::unexpected(offer.error());
    if (!*offer) return disagree(what, "the list names " + offer_name(id) + ", which does not exist");
    out.push_back(std::move(**offer));
  }
  return out;
}

Result<std::optional<Cvm>> ContractReader::cvm(const CvmId& id) {
  const std::string what = cvm_name(id);
  auto q = Query::at_head(rpc_, contract_, from_block_, what);
  if (!q) return std::unexpected(q.error());
  auto view = q->call(q->abi().cvm, {abi::Value::bytes(id)}, what);
  if (!view) return std::unexpected(view.error());
  const std::vector<Hash256> ids{id};
  auto registered = q->logs(q->abi().cvm_registered, 0, ids, what);
  if (!registered) return std::unexpected(registered.error());
  auto updated = q->logs(q->abi().cvm_updated, 0, ids, what);
  if (!updated) return std::unexpected(updated.error());
  return make_cvm(view->nested(), *registered, *updated, q->abi(), id);
}

Result<std::vector<Cvm>> ContractReader::cvms() {
  const std::string what = "the CVMs";
  auto q = Query::at_head(rpc_, contract_, from_block_, what);
  if (!q) return std::unexpected(q.error());
  auto view = q->call(q->abi().cvms, {}, what);
  if (!view) return std::unexpected(view.error());
  Fields list = view->nested();
  std::vector<Fields> views;
  for (std::size_t i = 0; i < list.size(); ++i) views.push_back(list.nested());
  if (!view->ok()) return unreadable(what, "the view cvms()", *view);
  std::vector<Hash256> ids;
  for (const Fields& v : views) ids.push_back(first_word(v));
  auto registered = logs_by_id(*q, q->abi().cvm_registered, ids, what);
  if (!registered) return std::unexpected(registered.error());
  auto updated = logs_by_id(*q, q->abi().cvm_updated, ids, what);
  if (!updated) return std::unexpected(updated.error());
  std::vector<Cvm> out;
  for (std::size_t i = 0; i < views.size(); ++i) {
    auto cvm =
        make_cvm(std::move(views[i]), group(*registered, ids[i]), group(*updated, ids[i]), q->abi(), ids[i]);
    if (!cvm) return std::unexpected(cvm.error());
    if (!*cvm) return disagree(what, "the list names " + cvm_name(ids[i]) + ", which does not exist");
    out.push_back(std::move(**cvm));
  }
  return out;
}

Result<std::optional<Order>> ContractReader::order(std::uint64_t id) {
  const std::string what = order_name(id);
  auto q = Query::at_head(rpc_, contract_, from_block_, what);
  if (!q) return std::unexpected(q.error());
  auto view = q->call(q->abi().order, {abi::Value::uint(id)}, what);
  if (!view) return std::unexpected(view.error());
  auto events = order_events(*q, {word_of(id)}, what);
  if (!events) return std::unexpected(events.error());
  return make_order(view->nested(), events->of(word_of(id)), q->abi(), id);
}

Result<std::vector<Order>> ContractReader::orders(const OrderFilter& filter) {
  const std::string what = "the orders";
  auto q = Query::at_head(rpc_, contract_, from_block_, what);
  if (!q) return std::unexpected(q.error());
  auto totals = read_totals(*q);
  if (!totals) return std::unexpected(totals.error());
  std::vector<Order> out;
  std::uint64_t next = filter.first_id;
  while (out.size() < filter.limit && next < totals->records) {
    const std::uint64_t want = std::min<std::uint64_t>(filter.limit - out.size(), kPageSize);
    const abi::Value f = abi::Value::list({
        abi::Value::bytes(filter.creator.value_or(AccountId{})),
        abi::Value::bytes(filter.cvm.value_or(CvmId{})),
        abi::Value::boolean(filter.status.has_value()),
        abi::Value::uint(filter.status ? static_cast<std::uint64_t>(*filter.status) : 0),
        abi::Value::uint(next),
        abi::Value::uint(want),
    });
    auto page = q->call(q->abi().orders, {f}, what);
    if (!page) return std::unexpected(page.error());
    Fields list = page->nested();
    std::vector<Fields> views;
    for (std::size_t i = 0; i < list.size(); ++i) views.push_back(list.nested());
    const std::uint64_t after = page->u64();
    if (!page->ok()) return unreadable(what, "the view orders()", *page);
    if (views.size() > want || after <= next || after > totals->records) {
      return fail(kCode, what + ": the view orders() answered a page out of bounds");
    }
    auto orders = orders_of(*q, std::move(views), what);
    if (!orders) return std::unexpected(orders.error());
    std::uint64_t previous = next;
    for (Order& o : *orders) {
      const bool in_page = o.id >= previous && o.id < after;
      if (!in_page || (filter.creator && o.creator != *filter.creator) ||
          (filter.cvm && o.cvm != *filter.cvm) || (filter.status && o.status != *filter.status)) {
        return fail(
            kCode, what + ": the view orders() answered " + order_name(o.id) + ", which the filter excludes");
      }
      previous = o.id + 1;
      out.push_back(std::move(o));
    }
    next = after;
  }
  return out;
}

Result<std::optional<Report>> ContractReader::report(std::uint64_t order) {
  const std::string what = "the report of " + order_name(order);
  auto q = Query::at_head(rpc_, contract_, from_block_, what);
  if (!q) return std::unexpected(q.error());
  auto view = q->call(q->abi().report, {abi::Value::uint(order)}, what);
  if (!view) return std::unexpected(view.error());
  auto logs = q->logs(q->abi().report_submitted, 0, std::vector<Hash256>{word_of(order)}, what);
  if (!logs) return std::unexpected(logs.error());
  return make_report(view->nested(), *logs, q->abi(), false, order);
}

Result<std::optional<Report>> ContractReader::start_report(std::uint64_t order) {
  const std::string what = "the start report of " + order_name(order);
  auto q = Query::at_head(rpc_, contract_, from_block_, what);
  if (!q) return std::unexpected(q.error());
  auto view = q->call(q->abi().start_report, {abi::Value::uint(order)}, what);
  if (!view) return std::unexpected(view.error());
  auto logs = q->logs(q->abi().service_started, 0, std::vector<Hash256>{word_of(order)}, what);
  if (!logs) return std::unexpected(logs.error());
  return make_report(view->nested(), *logs, q->abi(), true, order);
}

Result<std::vector<Subscription>> ContractReader::subscriptions(std::uint64_t order) {
  const std::string what = "the subscriptions to " + order_name(order);
  auto q = Query::at_head(rpc_, contract_, from_block_, what);
  if (!q) return std::unexpected(q.error());
  auto view = q->call(q->abi().subscriptions, {abi::Value::uint(order)}, what);
  if (!view) return std::unexpected(view.error());
  Fields list = view->nested();
  std::vector<Subscription> out;
  for (std::size_t i = 0; i < list.size(); ++i) {
    auto s = make_subscription(list.nested(), order, what);
    if (!s) return std::unexpected(s.error());
    if (!*s) return fail(kCode, what + ": the view subscriptions() lists an empty subscription");
    out.push_back(**s);
  }
  if (!view->ok()) return unreadable(what, "the view subscriptions()", *view);
  return out;
}

Result<std::optional<Subscription>> ContractReader::subscription(std::uint64_t order,
                                                                 const AccountId& account) {
  const std::string what = "the subscription of " + account_name(account) + " to " + order_name(order);
  auto q = Query::at_head(rpc_, contract_, from_block_, what);
  if (!q) return std::unexpected(q.error());
  auto view = q->call(q->abi().subscription, {abi::Value::uint(order), abi::Value::bytes(account)}, what);
  if (!view) return std::unexpected(view.error());
  auto s = make_subscription(view->nested(), order, what);
  if (!s || !*s) return s;
  if ((*s)->account != account) return fail(kCode, what + ": the view answered for another account");
  return s;
}

Result<std::optional<Grant>> ContractReader::grant(const GrantId& id, const AccountId& owner) {
  const std::string what = "grant " + short_hex(id) + " of " + account_name(owner);
  auto q = Query::at_head(rpc_, contract_, from_block_, what);
  if (!q) return std::unexpected(q.error());
  const Abi& abi = q->abi();
  auto view = q->call(abi.grant, {abi::Value::bytes(id), abi::Value::bytes(owner)}, what);
  if (!view) return std::unexpected(view.error());
  Fields v = view->nested();
  Grant g;
  g.id = v.word();
  g.owner = v.word();
  const std::uint64_t uses = v.u64();
  g.revoked = v.flag();
  g.revoked_at = v.u64();
  if (!v.ok()) return unreadable(what, "the view grant()", v);
  if (uses == 0 && !g.revoked) return std::nullopt;
  if (g.id != id || g.owner != owner) return fail(kCode, what + ": the view answered for another grant");
  if (uses == 0) return g;

  // GrantsUsed is indexed by order only, so every one is read: an order
  // counts where it first names (id, owner) with a limit, as the contract
  // counts it once.
  auto logs = q->all_logs(abi.grants_used, what);
  if (!logs) return std::unexpected(logs.error());
  for (const EventLog& log : *logs) {
    Fields d(log.data);
    d.u64();  // index
    const Bytes encoded = d.bytes();
    if (!d.ok()) return unreadable(what, "GrantsUsed", d);
    auto decoded = abi::decode(abi.grants_use_args, encoded);
    if (!decoded) return fail(kCode, what + ": GrantsUsed's args do not decode: " + decoded.error().message);
    Fields a(std::move(*decoded));
    const std::uint64_t order = a.u64();
    Fields entries = a.nested();
    for (std::size_t i = 0; i < entries.size(); ++i) {
      Fields e = entries.nested();
      const Hash256 entry_id = e.word();
      const Hash256 entry_owner = e.word();
      const std::uint64_t limit = e.u64();
      if (entry_id == id && entry_owner == owner && limit != 0 &&
          std::find(g.orders.begin(), g.orders.end(), order) == g.orders.end()) {
        g.orders.push_back(order);
      }
    }
    if (!a.ok()) return unreadable(what, "GrantsUsed's args", a);
    if (word_of(order) != log.indexed[0])
      return disagree(what, "a GrantsUsed event's args name another order");
  }
  if (g.orders.size() != uses) {
    return disagree(what, "its GrantsUsed events name " + std::to_string(g.orders.size()) +
                              " orders, the state counts " + std::to_string(uses));
  }
  for (const std::uint64_t order : g.orders) {
    auto used = q->call(abi.grant_used_by,
                        {abi::Value::bytes(id), abi::Value::bytes(owner), abi::Value::uint(order)}, what);
    if (!used) return std::unexpected(used.error());
    const bool counted = used->flag();
    if (!used->ok()) return unreadable(what, "the view grantUsedBy()", *used);
    if (!counted) return disagree(what, order_name(order) + " is not counted against it");
  }
  return g;
}

}  // namespace ward::ledger::evm
