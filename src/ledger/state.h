// The ledger's state: the entities the contract reads and writes, the State
// interface it works through (SQLite in the store, maps in memory for replay
// and tests), and a per-transaction overlay that makes a rejection leave no
// trace.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "ledger/tx.h"

namespace ward::ledger {

struct LedgerInfo {
  LedgerId id{};
  bool dev = false;
};

struct Account {
  AccountId id{};
  std::string recipient;
  std::string name;
  std::uint64_t balance = 0;
  std::uint64_t nonce = 0;    // last accepted nonce
  std::uint64_t created = 0;  // index of the record that created it

  bool operator==(const Account&) const = default;
};

struct Offer {
  std::uint64_t id = 0;  // index of the offers.create record
  AccountId owner{};
  OfferKind kind = OfferKind::Engine;
  std::string name;
  std::string resource;
  Price price;
  bool enabled = true;
  // A tee offer's failover timeout in seconds (args::OffersCreate::timeout);
  // 0: kDefaultCvmTimeout.
  std::uint64_t timeout = 0;

  bool operator==(const Offer&) const = default;
};

struct Cvm {
  CvmId id{};  // SHA-256 of `key`
  crypto::Ed25519PublicKey key{};
  std::string recipient;
  std::string certificate;
  std::uint64_t offer = 0;  // the provider's tee offer
  AccountId provider{};
  std::uint64_t registered_at = 0;
  std::uint64_t heartbeat_at = 0;
  std::optional<Resources> resources = std::nullopt;  // as its provider declared them

  bool operator==(const Cvm&) const = default;
};

enum class OrderStatus { New, Processing, Done, Error, Canceled };
std::string_view to_string(OrderStatus status);
std::optional<OrderStatus> parse_order_status(std::string_view text);

// One payee of a settled order. revenue_share payees appear with amount 0 and
// their bps, the record later serving orders account against.
struct Payment {
  std::uint64_t offer = 0;
  AccountId to{};
  Price price;
  std::uint64_t amount = 0;

  bool operator==(const Payment&) const = default;
};

// A worker CVM of a split service order: named by the creator in
// orders.create, it publishes where its tunnel listens with services.join.
struct Worker {
  CvmId cvm{};
  std::string endpoint;                    // HOST:PORT, set by services.join; empty until it joins
  std::optional<std::uint64_t> joined_at;  // the last services.join's record time

  bool operator==(const Worker&) const = default;
};

// A service order's terms: the creator's access rule, then what services.start
// recorded (the TLS key and inputs the CVM serves with), the request to stop
// (the creator's, or the deposit running out), what its subscribers paid, and
// a split service's workers.
struct ServiceTerms {
  ServeRule rule;
  std::optional<crypto::Sha256Digest> tls_key_sha256;  // set by services.start
  std::vector<crypto::Sha256Digest> inputs;            // plaintext digests, set by services.start
  std::optional<std::uint64_t> serving_since;          // the services.start record's time
  std::optional<std::uint64_t> cancel_requested;       // orders.cancel's record time, or exhausted_at
  std::string endpoint;                                // where the gateway listens, set by services.start
  std::optional<std::uint64_t> exhausted_at;           // when the deposit could not pay the per-hour offers
  std::uint64_t revenue = 0;                           // charged to all its subscriptions so far
  std::vector<Worker> workers;                         // a split service's workers, in the order listed

  bool started() const { return tls_key_sha256.has_value(); }
  bool operator==(const ServiceTerms&) const = default;
};

nlohmann::json to_json(const ServiceTerms& t);
// The inverse of to_json; also reads the terms of ledgers made before
// subscriptions (no price, exhausted_at or revenue). "workers" appears only
// for a split service, so the terms of others read and hash as before.
// Errors: "ledger.json" naming the field that does not fit.
Result<ServiceTerms> service_terms_from_json(const nlohmann::json& j);

// {"cores", "memory_mib", "gpus"}; nullopt for a value of another shape.
nlohmann::json to_json(const Resources& r);
std::optional<Resources> resources_from_json(const nlohmann::json& j);

struct Order {
  std::uint64_t id = 0;  // index of the orders.create record
  AccountId creator{};
  CvmId cvm{};
  std::string engine;
  std::vector<std::string> inputs;
  std::vector<std::string> outputs;
  std::vector<std::uint64_t> offers;
  std::uint64_t deposit = 0;
  OrderStatus status = OrderStatus::New;
  std::uint64_t created_at = 0;
  std::uint64_t started_at = 0;
  std::uint64_t ended_at = 0;
  std::string error;  // orders.fail reason
  // Set when settled. A service order's accumulate while it runs: fixed
  // offers at its first start, per_hour ones as time passes, revenue_share
  // ones from its subscribers' charges.
  std::vector<Payment> payments;
  std::uint64_t refund = 0;           // returned to the creator when settled or canceled
  std::optional<ServiceTerms> serve;  // set for a service order
  // An order placed on a tee offer (orders.create {offer}): `cvm` is all zero
  // until a CVM of the offer takes it, and again after orders.reassign.
  std::uint64_t tee_offer = 0;
  // Seconds of the order already billed per hour on CVMs that failed: each
  // from its orders.start to its last heartbeat.
  std::uint64_t billed = 0;
  std::optional<Resources> needs;  // what a CVM must declare to take it

  bool operator==(const Order&) const = default;
};

// An order's final integrity report, or a service's start report.
struct Report {
  std::uint64_t order = 0;
  std::string report;  // canonical JSON of the signed report
  std::uint64_t index = 0;
  std::uint64_t time = 0;

  bool operator==(const Report&) const = default;
};

// One owner's grant as the contract counts it. The contract cannot tell who
// owns a grant id (the policy it hashes is not on the ledger), so it keys
// everything by (grant id, owner): an owner's revocation counts only for the
// entries that name that owner, which the attested CVM copies from the
// owner-signed policy. Exists once a limited grant is used or it is revoked.
struct Grant {
  GrantId id{};
  AccountId owner{};
  std::vector<std::uint64_t> orders;  // the orders that used it under a use limit, in order
  bool revoked = false;
  std::uint64_t revoked_at = 0;  // the grants.revoke record's time; 0 when not revoked

  bool operator==(const Grant&) const = default;
};
using GrantKey = std::pair<GrantId, AccountId>;

// A client's subscription to a service order for subscribers: its deposit
// (in escrow) and what the service's CVM reported it used and the contract
// charged. Closed, with the rest of the deposit refunded, when the order ends.
struct Subscription {
  std::uint64_t order = 0;
  AccountId account{};
  std::uint64_t deposit = 0;  // every services.subscribe's deposit, added up
  std::uint64_t charged = 0;  // never more than deposit
  std::uint64_t requests = 0;
  std::uint64_t tokens = 0;
  std::uint64_t bytes = 0;
  std::uint64_t created_at = 0;  // the first services.subscribe's record time
  std::uint64_t updated_at = 0;  // the last services.subscribe's or services.usage's
  bool closed = false;
  std::uint64_t refund = 0;  // deposit - charged, returned when closed

  // Nothing of the deposit is left to charge.
  bool exhausted() const { return charged == deposit; }
  bool operator==(const Subscription&) const = default;
};
using SubscriptionKey = std::pair<std::uint64_t, AccountId>;  // (order, account)

// supply = sum of all balances + escrow; only the dev faucet changes it.
struct Totals {
  std::uint64_t supply = 0;
  std::uint64_t escrow = 0;

  bool operator==(const Totals&) const = default;
};

nlohmann::json to_json(const Account& a);
nlohmann::json to_json(const Offer& o);
nlohmann::json to_json(const Cvm& c);
nlohmann::json to_json(const Order& o);
nlohmann::json to_json(const Report& r);
nlohmann::json to_json(const Grant& g);
nlohmann::json to_json(const Subscription& s);
nlohmann::json to_json(const Totals& t);

// The inverse of to_json: exactly its fields. Errors: "ledger.json" naming
// the field that does not fit.
Result<Subscription> subscription_from_json(const nlohmann::json& j);

// What the contract reads and writes. Getters return nullopt for a missing
// entity; puts insert or replace.
class State {
 public:
  virtual ~State() = default;
  virtual LedgerInfo info() const = 0;
  virtual std::optional<Account> account(const AccountId& id) const = 0;
  virtual std::optional<Offer> offer(std::uint64_t id) const = 0;
  virtual std::optional<Cvm> cvm(const CvmId& id) const = 0;
  virtual std::optional<Order> order(std::uint64_t id) const = 0;
  virtual std::optional<Report> report(std::uint64_t order) const = 0;
  virtual std::optional<Report> start_report(std::uint64_t order) const = 0;
  virtual std::optional<Grant> grant(const GrantId& id, const AccountId& owner) const = 0;
  virtual std::optional<Subscription> subscription(std::uint64_t order, const AccountId& account) const = 0;
  // Every subscription to `order`, in account order.
  virtual std::vector<Subscription> subscriptions(std::uint64_t order) const = 0;
  virtual Totals totals() const = 0;

  virtual void put(const Account& a) = 0;
  virtual void put(const Offer& o) = 0;
  virtual void put(const Cvm& c) = 0;
  virtual void put(const Order& o) = 0;
  virtual void put(const Report& r) = 0;
  virtual void put_start_report(const Report& r) = 0;
  virtual void put(const Grant& g) = 0;
  virtual void put(const Subscription& s) = 0;
  virtual void put(const Totals& t) = 0;
};

// Every entity of a state, in key order: what verify() compares.
struct Snapshot {
  std::map<AccountId, Account> accounts;
  std::map<std::uint64_t, Offer> offers;
  std::map<CvmId, Cvm> cvms;
  std::map<std::uint64_t, Order> orders;
  std::map<std::uint64_t, Report> reports;
  std::map<std::uint64_t, Report> start_reports;
  std::map<GrantKey, Grant> grants;
  std::map<SubscriptionKey, Subscription> subscriptions;
  Totals totals;

  bool operator==(const Snapshot&) const = default;
};

// The first difference between two snapshots, naming the entity and field
// ("account 3b6a...: balance: 5 vs 7"); nullopt when they are equal.
std::optional<std::string> first_difference(const Snapshot& stored, const Snapshot& replayed);

class MemoryState final : public State {
 public:
  explicit MemoryState(LedgerInfo info) : info_(info) {}

  LedgerInfo info() const override { return info_; }
  std::optional<Account> account(const AccountId& id) const override { return find(s_.accounts, id); }
  std::optional<Offer> offer(std::uint64_t id) const override { return find(s_.offers, id); }
  std::optional<Cvm> cvm(const CvmId& id) const override { return find(s_.cvms, id); }
  std::optional<Order> order(std::uint64_t id) const override { return find(s_.orders, id); }
  std::optional<Report> report(std::uint64_t order) const override { return find(s_.reports, order); }
  std::optional<Report> start_report(std::uint64_t order) const override {
    return find(s_.start_reports, order);
  }
  std::optional<Grant> grant(const GrantId& id, const AccountId& owner) const override {
    return find(s_.grants, GrantKey{id, owner});
  }
  std::optional<Subscription> subscription(std::uint64_t order, const AccountId& account) const override {
    return find(s_.subscriptions, SubscriptionKey{order, account});
  }
  std::vector<Subscription> subscriptions(std::uint64_t order) const override;
  Totals totals() const override { return s_.totals; }

  void put(const Account& a) override { s_.accounts[a.id] = a; }
  void put(const Offer& o) override { s_.offers[o.id] = o; }
  void put(const Cvm& c) override { s_.cvms[c.id] = c; }
  void put(const Order& o) override { s_.orders[o.id] = o; }
  void put(const Report& r) override { s_.reports[r.order] = r; }
  void put_start_report(const Report& r) override { s_.start_reports[r.order] = r; }
  void put(const Grant& g) override { s_.grants[GrantKey{g.id, g.owner}] = g; }
  void put(const Subscription& s) override { s_.subscriptions[SubscriptionKey{s.order, s.account}] = s; }
  void put(const Totals& t) override { s_.totals = t; }

  const Snapshot& snapshot() const { return s_; }

 private:
  template <class Map, class Key>
  static std::optional<typename Map::mapped_type> find(const Map& map, const Key& key) {
    const auto it = map.find(key);
    if (it == map.end()) return std::nullopt;
    return it->second;
  }

  LedgerInfo info_;
  Snapshot s_;
};

// Buffers one transaction's writes over a base state; commit() writes them
// through, and dropping the overlay discards them.
class OverlayState final : public State {
 public:
  explicit OverlayState(State& base) : base_(base) {}

  LedgerInfo info() const override { return base_.info(); }
  std::optional<Account> account(const AccountId& id) const override;
  std::optional<Offer> offer(std::uint64_t id) const override;
  std::optional<Cvm> cvm(const CvmId& id) const override;
  std::optional<Order> order(std::uint64_t id) const override;
  std::optional<Report> report(std::uint64_t order) const override;
  std::optional<Report> start_report(std::uint64_t order) const override;
  std::optional<Grant> grant(const GrantId& id, const AccountId& owner) const override;
  std::optional<Subscription> subscription(std::uint64_t order, const AccountId& account) const override;
  std::vector<Subscription> subscriptions(std::uint64_t order) const override;
  Totals totals() const override { return totals_ ? *totals_ : base_.totals(); }

  void put(const Account& a) override { writes_.accounts[a.id] = a; }
  void put(const Offer& o) override { writes_.offers[o.id] = o; }
  void put(const Cvm& c) override { writes_.cvms[c.id] = c; }
  void put(const Order& o) override { writes_.orders[o.id] = o; }
  void put(const Report& r) override { writes_.reports[r.order] = r; }
  void put_start_report(const Report& r) override { writes_.start_reports[r.order] = r; }
  void put(const Grant& g) override { writes_.grants[GrantKey{g.id, g.owner}] = g; }
  void put(const Subscription& s) override { writes_.subscriptions[SubscriptionKey{s.order, s.account}] = s; }
  void put(const Totals& t) override { totals_ = t; }

  void commit();

 private:
  State& base_;
  Snapshot writes_;  // its totals field is unused: totals_ says whether they were written
  std::optional<Totals> totals_;
};

}  // namespace ward::ledger
