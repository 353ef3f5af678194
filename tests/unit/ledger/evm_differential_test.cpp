// The differential test of Ward's two ledger backends: one random sequence of
// transactions, valid and invalid on purpose, replayed step by step on the
// rules of the SQLite ledger (contract.cpp's apply() on a MemoryState, the
// code the SQLite ledger runs) and on the WardLedger contract on a real anvil
// (through the EVM LedgerClient and ContractReader). Any disagreement fails
// the test, naming the step, the transaction and the first difference.
//
// The world: five parties, two providers (each with a tee offer), three CVMs
// (provider 0 runs CVMs 0 and 1, provider 1 runs CVM 2), a "squatter" key that
// registers as an account and is later offered as a CVM, and an outsider that
// never registers. Every key derives from the seed, so a seed reproduces a run
// exactly. The seed is printed; WARD_DIFF_SEED sets it (default kDefaultSeed,
// so CI is reproducible) and WARD_DIFF_STEPS the number of steps.
//
// The transactions: after a bootstrap (everyone registers and is funded, the
// providers make tee offers and list their CVMs), a weighted random choice of
// every type, cvms.update included (real certificates from ledger_testing.h):
// offers of every kind and price model (fixed, per_hour, revenue_share), batch
// and service orders (public, accounts, subscribers with and without prices),
// the CVM's start, grants.use, reports, services.start (restarts too), usage,
// fail and heartbeat, subscriptions, transfers, fund, cancel (a running
// service's is a stop request), revocations; tee offers with a failover
// timeout, CVMs with declared resources, batch orders placed on a tee offer
// (with needs) that CVMs take and anyone reassigns once the taker is silent
// past the timeout (billing its run), split services with workers that join. About 40% are refused, most on
// purpose: unknown ids, the wrong sender (not the owner, not the order's CVM,
// no account at all), the wrong status, insufficient funds, disabled and tee
// offers listed, revenue shares over 10000 bps, a report naming another order,
// ledger, CVM, engine or TLS key, a service part where none belongs or none
// where one does, a report signed by another CVM, usage that regresses or
// names a non-subscriber, used-up and revoked grants, registering twice, a
// CVM key that already has an account, certificates for other keys or not
// later, fund past 2^63-1, deposits over the balance, and args the Ward parser
// refuses (malformed on both sides). A pick that finds no order or offer in
// the state it wants is rolled again (twice at most), so most steps can
// succeed.
//
// Each step:
// - picks a time t = the previous one + 1..4000 s, sets anvil's next block
//   timestamp to it (evm_setNextBlockTimestamp; again on the next step when a
//   refused call mined nothing) and gives the rules' record the same time;
// - builds one transaction: the rules side signs {v, ledger, sender, nonce,
//   type, args} with the sender's Ed25519 key at its next Ward nonce and
//   applies Record{accepted so far, t, tx}; the EVM side sends the same {type,
//   args} with submit_as (cvms.register adds args.evm, the CVM's address and
//   binding, which only the EVM client reads);
// - compares, after every step: the outcome (both accepted, or both refused
//   with the same reason code; the messages are written separately by
//   contract.cpp and by calls.cpp from the custom error, so they may differ
//   and are only printed), an accepted call's record index and its block's
//   timestamp (= t), the chain's record count (= the records accepted), and
//   a Snapshot of what the step can reach: every known account (balance,
//   nonce, recipient, name, created), the totals (supply, escrow), and the
//   offers, orders (with their report, start report and subscriptions), CVMs
//   and grants the transaction names or creates;
// - every kFullSnapshotEvery steps and after the last: the whole Snapshot
//   (every account, offer, CVM, order, report, start report, subscription,
//   every grant (id, owner) any transaction named, totals).
// Snapshots are compared with first_difference(rules, chain).
//
// Normalisations: none. Account.nonce is the chain's Ethereum nonce of the
// account's address, which equals Ward's last accepted nonce because a
// refused call is refused at gas estimation and never mined (an account's
// first Ethereum transaction is its register, as its first Ward nonce is 1; a
// CVM's first is its first own call, as its Ward account starts at 0). A
// refused call that reached the chain would show as a nonce difference.
//
// Left out: wrong_ledger, bad_nonce, bad_signature of the envelope and
// too_large, which the chain replaces by its own transaction checks
// (contracts/README.md); a report's bad_signature is in (the EVM client
// checks it). dev_only cannot happen on the dev ledger both sides run.
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "../evm/anvil_testing.h"
#include "age/recipients.h"
#include "base/bytes.h"
#include "crypto/hash.h"
#include "keys/party_key.h"
#include "ledger/client.h"
#include "ledger/contract.h"
#include "ledger/evm/calls.h"
#include "ledger/evm/client.h"
#include "ledger/evm/deploy.h"
#include "ledger/evm/reader.h"
#include "ledger/state.h"
#include "ledger/tx.h"
#include "ledger_testing.h"

namespace ward::ledger {
namespace {

using json = nlohmann::json;
namespace chain = ward::evm;
using chain::testing::Anvil;

constexpr std::uint64_t kDefaultSeed = 20251205;
constexpr std::uint64_t kDefaultSteps = 1000;
constexpr std::uint64_t kFullSnapshotEvery = 50;
// Certificates expire this many days after the first step's time, and renew later.
constexpr std::chrono::days kCertificateLife{365};

std::uint64_t env_number(const char* name, std::uint64_t fallback) {
  const char* text = std::getenv(name);
  if (!text || !*text) return fallback;
  char* end = nullptr;
  const unsigned long long n = std::strtoull(text, &end, 0);
  return *end == '\0' ? n : fallback;
}

// A PRNG whose sequence depends on the seed alone (no std distributions,
// whose output differs between standard libraries).
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : g_(seed) {}
  std::uint64_t between(std::uint64_t lo, std::uint64_t hi) {
    const std::uint64_t span = hi - lo + 1;
    return span == 0 ? g_() : lo + g_() % span;
  }
  bool percent(std::uint64_t p) { return between(0, 99) < p; }
  template <class T>
  const T& pick(const std::vector<T>& v) {
    return v[between(0, v.size() - 1)];
  }
  Bytes bytes(std::size_t n) {
    Bytes out(n);
    for (auto& b : out) b = static_cast<std::uint8_t>(g_());
    return out;
  }
  crypto::Sha256Digest digest() { return crypto::sha256(bytes(16)); }

 private:
  std::mt19937_64 g_;
};

struct Actor {
  std::string label;
  keys::PartyKey key;
  chain::Address address;

  AccountId id() const { return key.signing_public_key(); }
  std::string hex() const { return hex_encode(id()); }
  std::string recipient() const { return key.recipient().to_string(); }
  CvmId cvm_id() const { return crypto::sha256(id()); }
};

std::unique_ptr<Actor> make_actor(Rng& rng, std::string label) {
  auto identity = age::X25519Identity::from_secret(rng.bytes(32));
  auto key = keys::PartyKey::from_identity(std::move(identity.value())).value();
  const chain::Address address = key.evm_key().value().address();
  return std::make_unique<Actor>(Actor{std::move(label), std::move(key), address});
}

struct World {
  std::vector<std::unique_ptr<Actor>> all;
  std::vector<const Actor*> parties;    // clients and offer owners
  std::vector<const Actor*> providers;  // each owns a tee offer
  std::vector<const Actor*> cvms;
  std::vector<const Actor*> cvm_provider;  // the provider that lists cvms[i]
  const Actor* squatter = nullptr;         // registers as an account; listing it as a CVM must fail
  const Actor* outsider = nullptr;         // never registers

  explicit World(Rng& rng) {
    const auto add = [&](std::string label) {
      all.push_back(make_actor(rng, std::move(label)));
      return all.back().get();
    };
    for (int i = 0; i < 5; ++i) parties.push_back(add("party " + std::to_string(i)));
    for (int i = 0; i < 2; ++i) providers.push_back(add("provider " + std::to_string(i)));
    for (int i = 0; i < 3; ++i) {
      cvms.push_back(add("cvm " + std::to_string(i)));
      cvm_provider.push_back(providers[i < 2 ? 0 : 1]);
    }
    squatter = add("squatter");
    outsider = add("outsider");
  }

  std::vector<AccountId> ids() const {
    std::vector<AccountId> out;
    for (const auto& a : all) out.push_back(a->id());
    return out;
  }
  const Actor* cvm_actor(const CvmId& id) const {
    for (const Actor* c : cvms) {
      if (c->cvm_id() == id) return c;
    }
    return nullptr;
  }
  // Parties and providers: the accounts that act as people.
  std::vector<const Actor*> people() const {
    std::vector<const Actor*> out = parties;
    out.insert(out.end(), providers.begin(), providers.end());
    return out;
  }
};

// One transaction as the generator meant it.
struct Draft {
  const Actor* sender = nullptr;
  std::string type;
  json args = json::object();
  std::optional<json> evm;  // cvms.register's EVM identity: the EVM client's args.evm only
  std::string intent;       // what the generator aimed at, for a failure message
};

// Makes one random transaction from what the rules' state holds, about a third
// of them invalid on purpose.
class Generator {
 public:
  Generator(Rng& rng, const World& world, const MemoryState& state, std::uint64_t first_time)
      : rng_(rng), world_(world), state_(state), first_time_(first_time) {
    for (int i = 0; i < 4; ++i) grant_ids_.push_back(rng_.digest());
    for (int i = 0; i < 3; ++i) tls_keys_.push_back(rng_.digest());
    for (int i = 0; i < 3; ++i) input_digests_.push_back(rng_.digest());
  }

  // The first steps: everyone registers and is funded, the providers make
  // their tee offers and list their CVMs, and the squatter registers.
  std::vector<std::function<Draft()>> bootstrap() {
    std::vector<std::function<Draft()>> out;
    for (const Actor* a : world_.people()) out.push_back([this, a] { return register_account(a, true); });
    out.push_back([this] { return register_account(world_.squatter, true); });
    for (const Actor* a : world_.people()) {
      out.push_back([this, a] {
        return Draft{
            a, "accounts.fund", {{"to", a->hex()}, {"amount", rng_.between(20000, 200000)}}, {}, "fund"};
      });
    }
    for (const Actor* p : world_.providers)
      out.push_back([this, p] { return create_offer(p, "tee", false); });
    for (std::size_t i = 0; i < world_.cvms.size(); ++i) {
      out.push_back([this, i] { return register_cvm(i, true); });
    }
    return out;
  }

  Draft next() {
    if (rng_.percent(2)) {
      Draft d = fund();
      d.sender = world_.outsider;
      d.intent = "from an address with no account";
      return d;
    }
    struct Choice {
      int weight;
      Draft (Generator::*make)();
    };
    static constexpr Choice kChoices[] = {
        {2, &Generator::register_any},  {6, &Generator::fund},          {7, &Generator::transfer},
        {6, &Generator::offer},         {5, &Generator::enable_offer},  {2, &Generator::register_any_cvm},
        {3, &Generator::heartbeat},     {3, &Generator::update_cvm},    {16, &Generator::create_order},
        {9, &Generator::start_order},   {5, &Generator::cancel_order},  {4, &Generator::fail_order},
        {9, &Generator::submit_report}, {7, &Generator::start_service}, {5, &Generator::use_grants},
        {3, &Generator::revoke_grant},  {7, &Generator::subscribe},     {8, &Generator::usage},
        {3, &Generator::malformed},     {6, &Generator::take_order},    {3, &Generator::reassign_order},
        {4, &Generator::join_service},
    };
    int total = 0;
    for (const auto& c : kChoices) total += c.weight;
    // A transaction about an order or offer in a state that does not exist
    // yet is rolled again (twice at most), so that most steps can succeed.
    for (int attempt = 0;; ++attempt) {
      starved_ = false;
      auto roll = static_cast<int>(rng_.between(0, total - 1));
      const Choice* choice = &kChoices[0];
      for (const auto& c : kChoices) {
        choice = &c;
        if (roll < c.weight) break;
        roll -= c.weight;
      }
      Draft d = (this->*choice->make)();
      if (!starved_ || attempt == 2) return d;
    }
  }

 private:
  const Snapshot& s() const { return state_.snapshot(); }
  bool registered(const Actor* a) const { return s().accounts.contains(a->id()); }
  std::uint64_t balance(const Actor* a) const {
    const auto it = s().accounts.find(a->id());
    return it == s().accounts.end() ? 0 : it->second.balance;
  }
  std::string unknown_id() { return hex_encode(rng_.digest()); }
  std::uint64_t unknown_number() { return rng_.between(1000000, 2000000); }

  // A person with an account, or any of them before they all have one.
  const Actor* person() {
    std::vector<const Actor*> live;
    for (const Actor* a : world_.people()) {
      if (registered(a)) live.push_back(a);
    }
    return live.empty() ? rng_.pick(world_.people()) : rng_.pick(live);
  }
  const Actor* anyone() {
    if (rng_.percent(15)) return rng_.pick(world_.cvms);
    return person();
  }
  // An amount the sender can mostly afford.
  std::uint64_t amount_for(const Actor* a, std::uint64_t over_percent) {
    const std::uint64_t b = balance(a);
    if (rng_.percent(over_percent)) return b + rng_.between(1, 1000);
    return rng_.between(0, std::min<std::uint64_t>(b, 20000));
  }

  Draft register_account(const Actor* a, bool valid) {
    Draft d{a, "accounts.register", {{"recipient", a->recipient()}, {"name", a->label}}, {}, "register"};
    if (!valid && rng_.percent(30)) {
      d.args["recipient"] = "not-a-recipient";
      d.intent = "register with a bad recipient";
    }
    return d;
  }
  Draft register_any() {
    std::vector<const Actor*> candidates = world_.people();
    candidates.push_back(world_.squatter);
    for (const Actor* c : world_.cvms) {
      if (registered(c)) candidates.push_back(c);  // an unlisted CVM key stays free for cvms.register
    }
    const Actor* a = rng_.pick(candidates);
    Draft d = register_account(a, false);
    if (registered(a) && d.intent == "register") d.intent = "register twice";
    return d;
  }

  Draft fund() {
    const Actor* from = anyone();
    const std::uint64_t supply = s().totals.supply;
    Draft d{from, "accounts.fund", {}, {}, "fund"};
    const Actor* to = rng_.pick(world_.all).get();
    d.args = {{"to", to->hex()}, {"amount", rng_.between(1, 50000)}};
    const auto roll = rng_.between(0, 99);
    if (roll < 8) {
      d.args["to"] = unknown_id();
      d.intent = "fund an unknown account";
    } else if (roll < 16) {
      // Past 2^63-1 with the supply; over it alone (a supply under 1000) the parser refuses it.
      d.args["amount"] = kMaxAmount - supply + rng_.between(1, 1000);
      d.intent = "fund past 2^63-1";
    } else if (roll < 20) {
      d.args["amount"] = std::uint64_t{1} << 63;
      d.intent = "fund an amount the parser refuses";
    }
    return d;
  }

  Draft transfer() {
    const Actor* from = anyone();
    const Actor* to = rng_.pick(world_.all).get();
    Draft d{from, "accounts.transfer", {{"to", to->hex()}, {"amount", amount_for(from, 15)}}, {}, "transfer"};
    if (rng_.percent(8)) {
      d.args["to"] = unknown_id();
      d.intent = "transfer to an unknown account";
    }
    return d;
  }

  json price(const std::string& model) {
    if (model == "fixed") return {{"model", "fixed"}, {"amount", rng_.between(0, 3000)}};
    if (model == "per_hour") return {{"model", "per_hour"}, {"amount", rng_.between(1, 2000)}};
    return {{"model", "revenue_share"}, {"bps", rng_.between(0, 6000)}};
  }

  Draft create_offer(const Actor* owner, const std::string& kind, bool may_break) {
    static const std::vector<std::string> kModels = {"fixed", "per_hour", "revenue_share"};
    const std::string model = kind == "tee" && rng_.percent(70) ? "per_hour" : rng_.pick(kModels);
    Draft d{owner,
            "offers.create",
            {{"kind", kind},
             {"name", kind + " offer " + std::to_string(rng_.between(1, 99))},
             {"resource", "ward://resource/" + std::to_string(rng_.between(1, 9999))},
             {"price", price(model)}},
            {},
            "create a " + kind + " " + model + " offer"};
    // A tee offer's failover timeout: from seconds (most reassigns succeed
    // at the steps' 1..4000 s) to longer than most gaps.
    if (kind == "tee" && rng_.percent(50)) d.args["timeout"] = rng_.between(1, 6000);
    if (may_break && rng_.percent(12)) {
      const auto roll = rng_.between(0, 4);
      if (roll == 0) d.args["price"] = {{"model", "revenue_share"}, {"bps", rng_.between(10001, 20000)}};
      if (roll == 1) d.args["kind"] = "gpu";
      if (roll == 2) d.args["name"] = "";
      if (roll == 3) d.args["timeout"] = kind == "tee" ? kMaxCvmTimeout + 1 : 60;
      if (roll == 4) d.args["timeout"] = 0;
      d.intent = "an offer the parser refuses";
    }
    return d;
  }
  Draft offer() {
    static const std::vector<std::string> kKinds = {"engine", "dataset", "model", "tee"};
    return create_offer(person(), rng_.pick(kKinds), true);
  }

  std::uint64_t pick_offer(const std::function<bool(const Offer&)>& wanted) {
    if (s().offers.empty() || rng_.percent(8)) return unknown_number();
    std::vector<std::uint64_t> good, any;
    for (const auto& [id, o] : s().offers) {
      any.push_back(id);
      if (wanted(o)) good.push_back(id);
    }
    starved_ = starved_ || good.empty();
    return !good.empty() && rng_.percent(85) ? rng_.pick(good) : rng_.pick(any);
  }

  Draft enable_offer() {
    const bool enable = rng_.percent(40);
    const std::uint64_t id = pick_offer([&](const Offer& o) { return o.enabled != enable; });
    const auto it = s().offers.find(id);
    const Actor* sender = person();
    if (it != s().offers.end() && rng_.percent(80)) {
      for (const Actor* a : world_.people()) {
        if (a->id() == it->second.owner) sender = a;
      }
    }
    return Draft{sender, enable ? "offers.enable" : "offers.disable", {{"offer", id}}, {}, "toggle an offer"};
  }

  std::string certificate(const Actor* cvm, std::chrono::sys_seconds not_after, const Actor* key_of = nullptr,
                          std::optional<std::string> recipient = {}) {
    return testing::cvm_certificate((key_of ? key_of : cvm)->key.signing_key(),
                                    recipient.value_or(cvm->recipient()), not_after);
  }
  std::chrono::sys_seconds first_expiry() const {
    return std::chrono::sys_seconds(std::chrono::seconds(first_time_)) + kCertificateLife;
  }

  json evm_identity(const Actor* cvm) {
    return {{"address", cvm->address.to_checksum()},
            {"binding", hex_encode(evm::sign_binding(cvm->key.signing_key(), cvm->address))}};
  }

  Draft register_cvm(std::size_t i, bool valid) {
    const Actor* cvm = world_.cvms[i];
    const Actor* provider = world_.cvm_provider[i];
    std::uint64_t tee = unknown_number();
    for (const auto& [id, o] : s().offers) {
      if (o.owner == provider->id() && o.kind == OfferKind::Tee) tee = id;
    }
    Draft d{provider,
            "cvms.register",
            {{"key", cvm->hex()},
             {"recipient", cvm->recipient()},
             {"certificate", certificate(cvm, first_expiry())},
             {"offer", tee}},
            evm_identity(cvm),
            "list a CVM"};
    if (rng_.percent(70)) d.args["resources"] = resources();
    if (valid) return d;
    const auto roll = rng_.between(0, 10);
    if (roll == 0) {
      d.args["offer"] = pick_offer([&](const Offer& o) { return o.owner != provider->id(); });
      d.intent = "list a CVM under another's offer";
    } else if (roll == 1) {
      d.args["offer"] = pick_offer([&](const Offer& o) { return o.kind != OfferKind::Tee; });
      d.intent = "list a CVM under a non-tee offer";
    } else if (roll == 2) {
      d.args["key"] = world_.squatter->hex();
      d.args["recipient"] = world_.squatter->recipient();
      d.evm = evm_identity(world_.squatter);
      d.intent = "list a CVM whose key has an account";
    } else if (roll == 3) {
      d.args["recipient"] = "x";
      d.intent = "list a CVM with a bad recipient";
    } else if (roll == 4) {
      d.args["resources"] = {{"cores", kMaxCores + 1}, {"memory_mib", 1}, {"gpus", 0}};
      d.intent = "list a CVM with resources the parser refuses";
    }
    return d;
  }

  // Resources a CVM declares (`have`) or an order needs: most needs fit most CVMs.
  json resources(bool have = true) {
    if (have)
      return {{"cores", rng_.between(2, 16)},
              {"memory_mib", rng_.between(2, 16) * 1024},
              {"gpus", rng_.between(0, 2)}};
    return {{"cores", rng_.between(0, 6)},
            {"memory_mib", rng_.between(0, 6) * 1024},
            {"gpus", rng_.between(0, 1)}};
  }
  Draft register_any_cvm() { return register_cvm(rng_.between(0, world_.cvms.size() - 1), false); }

  // A CVM with an account, usually; anyone else sometimes.
  const Actor* cvm_sender() {
    std::vector<const Actor*> listed;
    for (const Actor* c : world_.cvms) {
      if (registered(c)) listed.push_back(c);
    }
    if (listed.empty() || rng_.percent(12)) return person();
    return rng_.pick(listed);
  }

  Draft heartbeat() { return Draft{cvm_sender(), "cvms.heartbeat", json::object(), {}, "heartbeat"}; }

  Draft update_cvm() {
    const Actor* sender = cvm_sender();
    const Actor* cvm = sender;
    auto expiry = first_expiry();
    if (const auto it = s().cvms.find(sender->cvm_id()); it != s().cvms.end()) {
      if (auto c = read_cvm_certificate_claims(it->second.certificate)) expiry = c->not_after;
    } else {
      cvm = rng_.pick(world_.cvms);
    }
    Draft d{sender, "cvms.update", {}, {}, "renew a certificate"};
    const auto roll = rng_.between(0, 9);
    auto later = expiry + std::chrono::days(rng_.between(1, 30));
    if (roll == 0) {
      later = expiry - std::chrono::days(rng_.between(0, 3));
      d.intent = "renew with a certificate that is not later";
    }
    const Actor* key_of = nullptr;
    std::optional<std::string> recipient;
    if (roll == 1) {
      key_of = rng_.pick(world_.parties);
      d.intent = "renew with a certificate for another key";
    } else if (roll == 2) {
      recipient = rng_.pick(world_.parties)->recipient();
      d.intent = "renew with a certificate for another recipient";
    }
    d.args = {{"certificate", certificate(cvm, later, key_of, recipient)}};
    if (roll == 3) {
      d.args = {{"certificate", "not a certificate"}};
      d.intent = "renew with a certificate that does not parse";
    }
    return d;
  }

  std::vector<std::uint64_t> offers_for_order() {
    std::vector<std::uint64_t> out;
    const auto n = rng_.between(0, 3);
    std::vector<std::uint64_t> listable;
    for (const auto& [id, o] : s().offers) {
      if (o.kind != OfferKind::Tee && o.enabled) listable.push_back(id);
    }
    for (std::uint64_t i = 0; i < n && !listable.empty(); ++i) {
      const std::uint64_t id = rng_.pick(listable);
      if (std::find(out.begin(), out.end(), id) == out.end()) out.push_back(id);
    }
    return out;
  }

  Draft create_order() {
    static const std::vector<std::string> kEngines = {"llama-3-8b", "whisper-small"};
    const Actor* creator = person();
    CvmId cvm = rng_.pick(world_.cvms)->cvm_id();
    if (!s().cvms.empty() && rng_.percent(85)) {
      std::vector<CvmId> listed;
      for (const auto& [id, c] : s().cvms) listed.push_back(id);
      cvm = rng_.pick(listed);
    }
    json inputs = json::array();
    for (std::uint64_t i = rng_.between(0, 2); i > 0; --i) {
      inputs.push_back("ward://input/" + std::to_string(rng_.between(1, 999)));
    }
    Draft d{creator,
            "orders.create",
            {{"cvm", hex_encode(cvm)},
             {"engine", rng_.pick(kEngines)},
             {"inputs", inputs},
             {"outputs", json::array({creator->recipient()})},
             {"offers", offers_for_order()},
             {"deposit", amount_for(creator, 10)}},
            {},
            "create a batch order"};
    if (rng_.percent(50)) {
      d.args["outputs"] = json::array();
      const auto roll = rng_.between(0, 2);
      if (roll == 0) {
        d.args["serve"] = {{"access", "public"}};
      } else if (roll == 1) {
        json accounts = json::array();
        for (const Actor* p : world_.parties) {
          if (rng_.percent(40)) accounts.push_back(p->hex());
        }
        if (accounts.empty()) accounts.push_back(creator->hex());
        d.args["serve"] = {{"access", "accounts"}, {"accounts", accounts}};
      } else {
        d.args["serve"] = {{"access", "subscribers"}};
        if (rng_.percent(80)) {
          d.args["serve"]["price"] = {{"per_request", rng_.between(0, 50)},
                                      {"per_1k_tokens", rng_.between(0, 200)}};
        }
      }
      d.intent = "create a service order";
      if (rng_.percent(30)) {
        // A split service: 1..2 other CVMs as workers (any listed one).
        json workers = json::array();
        for (const auto& [id, c] : s().cvms) {
          if (id != cvm && workers.size() < 2 && rng_.percent(60)) workers.push_back(hex_encode(id));
        }
        if (workers.empty()) workers.push_back(hex_encode(rng_.pick(world_.cvms)->cvm_id()));
        if (rng_.percent(10)) {
          workers.push_back(rng_.percent(50) ? json(hex_encode(cvm)) : json(workers[0]));
          d.intent += " listing the head or a worker twice";
        } else if (rng_.percent(5)) {
          workers.push_back(unknown_id());
          d.intent += " listing an unknown worker";
        }
        d.args["workers"] = workers;
        d.intent = "create a split service order";
      }
    } else if (rng_.percent(35)) {
      // Placed on a tee offer: any CVM of it takes it.
      d.args.erase("cvm");
      // Mostly an enabled tee offer with CVMs listed under it, which can take it.
      d.args["offer"] = pick_offer([this](const Offer& o) {
        if (o.kind != OfferKind::Tee || !o.enabled) return false;
        for (const auto& [id, c] : s().cvms) {
          if (c.offer == o.id) return true;
        }
        return false;
      });
      if (rng_.percent(40)) d.args["needs"] = resources(false);
      d.intent = "create a batch order on a tee offer";
      if (rng_.percent(8)) {
        d.args["cvm"] = hex_encode(cvm);
        d.intent += " naming a CVM too";
      }
    } else if (rng_.percent(3)) {
      d.args["needs"] = resources(false);
      d.intent = "create an order on a CVM with needs";
    }
    const auto roll = rng_.between(0, 19);
    if (roll == 0) {
      d.args["offers"].push_back(pick_offer([](const Offer& o) { return o.kind == OfferKind::Tee; }));
      d.intent += " listing a tee offer";
    } else if (roll == 1) {
      d.args["offers"].push_back(pick_offer([](const Offer& o) { return !o.enabled; }));
      d.intent += " listing a disabled offer";
    } else if (roll == 2) {
      d.args["outputs"] = d.args.contains("serve") ? json::array({creator->recipient()}) : json::array();
      d.intent += " with outputs the parser refuses";
    } else if (roll == 3) {
      json shares = json::array();
      for (const auto& [id, o] : s().offers) {
        if (o.price.model == PriceModel::RevenueShare && o.enabled && o.kind != OfferKind::Tee)
          shares.push_back(id);
      }
      d.args["offers"] = shares;
      d.intent += " listing every revenue_share offer";
    }
    return d;
  }

  std::uint64_t pick_order(const std::function<bool(const Order&)>& wanted) {
    std::vector<std::uint64_t> good, any;
    for (const auto& [id, o] : s().orders) {
      any.push_back(id);
      if (wanted(o)) good.push_back(id);
    }
    starved_ = starved_ || good.empty();
    if (any.empty() || rng_.percent(5)) return unknown_number();
    return !good.empty() && rng_.percent(90) ? rng_.pick(good) : rng_.pick(any);
  }
  const Order* order(std::uint64_t id) const {
    const auto it = s().orders.find(id);
    return it == s().orders.end() ? nullptr : &it->second;
  }
  // The order's CVM, usually; another CVM or a person sometimes.
  const Actor* order_cvm(const Order* o) {
    if (o && rng_.percent(90)) {
      if (const Actor* c = world_.cvm_actor(o->cvm)) return c;
    }
    return rng_.percent(50) ? rng_.pick(world_.cvms) : person();
  }
  static bool processing(const Order& o) { return o.status == OrderStatus::Processing; }
  static bool running_service(const Order& o) { return o.serve && processing(o); }

  Draft start_order() {
    const std::uint64_t id = pick_order([](const Order& o) { return o.status == OrderStatus::New; });
    return Draft{order_cvm(order(id)), "orders.start", {{"order", id}}, {}, "start an order"};
  }

  static bool on_offer(const Order& o) { return o.tee_offer != 0; }

  // A CVM of the order's offer, usually; any CVM or a person sometimes.
  Draft take_order() {
    const std::uint64_t id = pick_order(
        [](const Order& o) { return on_offer(o) && o.status == OrderStatus::New && o.cvm == CvmId{}; });
    const Actor* sender = rng_.percent(10) ? person() : rng_.pick(world_.cvms);
    if (const Order* o = order(id); o && rng_.percent(70)) {
      std::vector<const Actor*> fit;
      for (std::size_t i = 0; i < world_.cvms.size(); ++i) {
        const auto c = s().cvms.find(world_.cvms[i]->cvm_id());
        if (c != s().cvms.end() && c->second.offer == o->tee_offer) fit.push_back(world_.cvms[i]);
      }
      if (!fit.empty()) sender = rng_.pick(fit);
    }
    return Draft{sender, "orders.take", {{"order", id}}, {}, "take an order"};
  }

  Draft reassign_order() {
    const std::uint64_t id = pick_order([](const Order& o) {
      return on_offer(o) && o.cvm != CvmId{} &&
             (o.status == OrderStatus::New || o.status == OrderStatus::Processing);
    });
    return Draft{anyone(), "orders.reassign", {{"order", id}}, {}, "reassign an order"};
  }

  Draft join_service() {
    const std::uint64_t id =
        pick_order([](const Order& o) { return running_service(o) && !o.serve->workers.empty(); });
    const Actor* sender = rng_.pick(world_.cvms);
    if (const Order* o = order(id); o && o->serve && !o->serve->workers.empty() && rng_.percent(85)) {
      if (const Actor* w = world_.cvm_actor(rng_.pick(o->serve->workers).cvm)) sender = w;
    }
    Draft d{sender,
            "services.join",
            {{"order", id}, {"endpoint", "10.0.0." + std::to_string(rng_.between(1, 9)) + ":50052"}},
            {},
            "join a split service"};
    if (rng_.percent(10)) {
      static const char* const kBad[] = {"10.0.0.1",   ":50052",      "10.0.0.1:0",  "10.0.0.1:65536",
                                         "[::1:50052", "10.0.0.1:05", "host name:1", "10.0.0.1:"};
      d.args["endpoint"] = kBad[rng_.between(0, 7)];
      d.intent = "join with an endpoint the parser refuses";
    }
    return d;
  }

  Draft cancel_order() {
    const std::uint64_t id = pick_order([](const Order& o) {
      return o.status == OrderStatus::New || (o.serve && o.status == OrderStatus::Processing);
    });
    const Actor* sender = person();
    if (const Order* o = order(id); o && rng_.percent(80)) {
      for (const Actor* a : world_.people()) {
        if (a->id() == o->creator) sender = a;
      }
    }
    return Draft{sender, "orders.cancel", {{"order", id}}, {}, "cancel an order"};
  }

  Draft fail_order() {
    const std::uint64_t id = pick_order(processing);
    return Draft{order_cvm(order(id)),
                 "orders.fail",
                 {{"order", id}, {"reason", "the engine exited 137"}},
                 {},
                 "fail an order"};
  }

  // A signed report for order `id` as `sender` would send it: right for the
  // order, or (`breaks`) wrong in one claim.
  json report(std::uint64_t id, const Actor* sender, bool start, std::string& intent) {
    const Order* o = order(id);
    json body = {{"v", 1},
                 {"ledger", hex_encode(state_.info().id)},
                 {"order", id},
                 {"cvm", hex_encode(o ? o->cvm : sender->cvm_id())},
                 {"engine", o ? o->engine : "llama-3-8b"},
                 {"exit_code", 0}};
    const bool service = o ? o->serve.has_value() : start;
    if (service) {
      crypto::Sha256Digest tls = rng_.pick(tls_keys_);
      if (!start && o && o->serve && o->serve->tls_key_sha256) tls = *o->serve->tls_key_sha256;
      body["service"] = {{"tls_key_sha256", hex_encode(tls)},
                         {"endpoint", "https://10.0.0." + std::to_string(rng_.between(1, 9)) + ":8443"}};
      body["inputs"] = json::array();
      for (std::uint64_t i = rng_.between(0, 2); i > 0; --i) {
        body["inputs"].push_back({{"plaintext_sha256", hex_encode(rng_.pick(input_digests_))}});
      }
    }
    const Actor* signer = sender;
    if (rng_.percent(30)) {
      switch (rng_.between(0, 8)) {
        case 0:
          body["order"] = id + 1;
          intent += ", the report naming another order";
          break;
        case 1:
          body["ledger"] = unknown_id();
          intent += ", the report naming another ledger";
          break;
        case 2:
          body["cvm"] = hex_encode(rng_.pick(world_.cvms)->cvm_id());
          intent += ", the report naming some CVM";
          break;
        case 3:
          body["engine"] = "other-engine";
          intent += ", the report naming another engine";
          break;
        case 4:
          if (service) {
            body.erase("service");
            intent += ", a service's report without its service part";
          } else {
            body["service"] = {{"tls_key_sha256", hex_encode(rng_.pick(tls_keys_))},
                               {"endpoint", "https://10.0.0.1:8443"}};
            body["inputs"] = json::array();
            intent += ", a batch report with a service part";
          }
          break;
        case 5:
          if (service) {
            body["service"]["tls_key_sha256"] = hex_encode(rng_.pick(tls_keys_));
            intent += ", the report naming some TLS key";
          }
          break;
        case 6: {
          std::vector<const Actor*> others;
          for (const Actor* c : world_.cvms) {
            if (c != sender) others.push_back(c);
          }
          signer = rng_.pick(others);
          intent += ", the report signed by another CVM";
          break;
        }
        case 7:
          if (service) {
            body["service"]["endpoint"] = "http://10.0.0.1";
            intent += ", a report the parser refuses (endpoint)";
          }
          break;
        default:
          body.erase("engine");
          intent += ", a report the parser refuses (no engine)";
      }
    }
    const auto sig =
        signer->key.signing_key().sign(as_bytes(std::string(kReportDomain) + canonical_json(body)));
    return {{"report", body}, {"sig", hex_encode(sig)}};
  }

  Draft submit_report() {
    const std::uint64_t id =
        pick_order([](const Order& o) { return processing(o) && (!o.serve || o.serve->started()); });
    Draft d{order_cvm(order(id)), "reports.submit", {}, {}, "submit a report"};
    d.args = {{"order", id}, {"report", report(id, d.sender, false, d.intent)}};
    return d;
  }

  Draft start_service() {
    const std::uint64_t id = pick_order(running_service);
    Draft d{order_cvm(order(id)), "services.start", {}, {}, "start a service"};
    d.args = {{"order", id}, {"report", report(id, d.sender, true, d.intent)}};
    return d;
  }

  Draft use_grants() {
    const std::uint64_t id = pick_order(processing);
    Draft d{order_cvm(order(id)), "grants.use", {{"order", id}, {"grants", json::array()}}, {}, "use grants"};
    std::set<std::pair<std::string, std::string>> seen;
    for (std::uint64_t n = rng_.between(1, 3); n > 0; --n) {
      const std::string grant = hex_encode(rng_.pick(grant_ids_));
      const std::string owner = rng_.pick(world_.parties)->hex();
      if (!seen.emplace(grant, owner).second) continue;
      d.args["grants"].push_back({{"id", grant}, {"owner", owner}, {"uses", rng_.between(0, 3)}});
    }
    if (rng_.percent(6)) {
      d.args["grants"][0]["uses"] = kMaxGrantUses + 1;
      d.intent = "use a grant with a limit the parser refuses";
    } else if (rng_.percent(4)) {
      d.args["grants"].push_back(d.args["grants"][0]);
      d.intent = "use a grant listed twice";
    }
    return d;
  }

  Draft revoke_grant() {
    // Only the first two grants are ever revoked, so the others stay usable.
    const GrantId& grant = grant_ids_[rng_.between(0, 1)];
    return Draft{person(), "grants.revoke", {{"grant", hex_encode(grant)}}, {}, "revoke a grant"};
  }

  Draft subscribe() {
    const std::uint64_t id = pick_order([](const Order& o) {
      return o.serve && o.serve->rule.access == ServiceAccess::Subscribers && o.status != OrderStatus::Done &&
             o.status != OrderStatus::Error && o.status != OrderStatus::Canceled;
    });
    const Actor* client = person();
    Draft d{client,
            "services.subscribe",
            {{"order", id}, {"deposit", amount_for(client, 10) + 1}},
            {},
            "subscribe"};
    if (rng_.percent(5)) {
      d.args["deposit"] = 0;
      d.intent = "subscribe with a deposit the parser refuses";
    }
    return d;
  }

  Draft usage() {
    const std::uint64_t id =
        pick_order([](const Order& o) { return running_service(o) && o.serve->started(); });
    Draft d{order_cvm(order(id)),
            "services.usage",
            {{"order", id}, {"usage", json::array()}},
            {},
            "record usage"};
    for (const auto& [key, sub] : s().subscriptions) {
      if (key.first != id || rng_.percent(30)) continue;
      json entry = {{"account", hex_encode(sub.account)},
                    {"requests", sub.requests + rng_.between(0, 5)},
                    {"tokens", sub.tokens + rng_.between(0, 4000)},
                    {"bytes", sub.bytes + rng_.between(0, 100000)}};
      if (rng_.percent(8)) {
        static const char* const kCounters[] = {"requests", "tokens", "bytes"};
        const char* counter = kCounters[rng_.between(0, 2)];
        const std::uint64_t recorded = counter[0] == 'r'   ? sub.requests
                                       : counter[0] == 't' ? sub.tokens
                                                           : sub.bytes;
        if (recorded > 0) {
          entry[counter] = recorded - 1;
          d.intent = "record usage that regresses";
        }
      }
      d.args["usage"].push_back(entry);
    }
    if (rng_.percent(8)) {
      d.args["usage"].push_back(
          {{"account", rng_.pick(world_.all)->hex()}, {"requests", 1}, {"tokens", 10}, {"bytes", 10}});
      d.intent = "record usage for some account";
    }
    return d;
  }

  Draft malformed() {
    const Actor* sender = anyone();
    switch (rng_.between(0, 3)) {
      case 0:
        return Draft{sender, "orders.explode", json::object(), {}, "an unknown type"};
      case 1:
        return Draft{sender,
                     "accounts.transfer",
                     {{"to", sender->hex()}, {"amount", 1}, {"memo", "hi"}},
                     {},
                     "an unknown field"};
      case 2:
        return Draft{sender, "orders.start", json::object(), {}, "a missing field"};
      default:
        return Draft{
            sender, "accounts.transfer", {{"to", "0xnothex"}, {"amount", 1}}, {}, "an id that is not hex"};
    }
  }

  Rng& rng_;
  const World& world_;
  const MemoryState& state_;
  std::uint64_t first_time_;
  std::vector<GrantId> grant_ids_;
  std::vector<crypto::Sha256Digest> tls_keys_;
  std::vector<crypto::Sha256Digest> input_digests_;
  bool starved_ = false;  // the last pick found nothing in the state it wanted
};

// The rules' side of a step: the envelope the SQLite ledger would get, parsed
// as it parses it, then applied as record `index` at `time`.
std::expected<void, Rejection> apply_rules(MemoryState& state, const Draft& d, std::uint64_t index,
                                           std::uint64_t time) {
  const auto account = state.account(d.sender->id());
  const json tx = {{"v", 1},
                   {"ledger", hex_encode(state.info().id)},
                   {"sender", d.sender->hex()},
                   {"nonce", account ? account->nonce + 1 : 1},
                   {"type", d.type},
                   {"args", d.args}};
  const auto sig = d.sender->key.signing_key().sign(as_bytes(canonical_bytes(tx)));
  auto stx = parse_and_verify(json{{"sig", base64_encode(sig)}, {"tx", tx}}.dump());
  if (!stx) return std::unexpected(stx.error());
  return apply(state, Record{index, time, std::move(*stx)});
}

// What a step names or makes, beyond the accounts and totals every step compares.
struct Reach {
  std::set<std::uint64_t> offers;
  std::set<std::uint64_t> orders;
  std::set<CvmId> cvms;
  std::set<GrantKey> grants;
};

std::optional<std::array<std::uint8_t, 32>> id_in(const json& j) {
  if (!j.is_string()) return std::nullopt;
  auto id = parse_id(j.get<std::string>());
  if (!id) return std::nullopt;
  return *id;
}

Reach reach_of(const Draft& d, std::optional<std::uint64_t> created) {
  Reach r;
  const json& a = d.args;
  if (!a.is_object()) return r;
  if (a.contains("offer") && a["offer"].is_number_unsigned())
    r.offers.insert(a["offer"].get<std::uint64_t>());
  if (a.contains("order") && a["order"].is_number_unsigned())
    r.orders.insert(a["order"].get<std::uint64_t>());
  if (a.contains("offers") && a["offers"].is_array()) {
    for (const auto& o : a["offers"]) {
      if (o.is_number_unsigned()) r.offers.insert(o.get<std::uint64_t>());
    }
  }
  if (d.type == "orders.create") {
    if (auto id = id_in(a.value("cvm", json()))) r.cvms.insert(*id);
  }
  if (d.type == "cvms.register") {
    if (auto key = id_in(a.value("key", json()))) r.cvms.insert(crypto::sha256(*key));
  }
  r.cvms.insert(d.sender->cvm_id());  // a CVM's own calls (heartbeat, update) change it
  if (a.contains("grants") && a["grants"].is_array()) {
    for (const auto& g : a["grants"]) {
      if (!g.is_object()) continue;
      auto id = id_in(g.value("id", json()));
      auto owner = id_in(g.value("owner", json()));
      if (id && owner) r.grants.emplace(*id, *owner);
    }
  }
  if (d.type == "grants.revoke") {
    if (auto id = id_in(a.value("grant", json()))) r.grants.emplace(*id, d.sender->id());
  }
  if (created && d.type == "offers.create") r.offers.insert(*created);
  if (created && d.type == "orders.create") r.orders.insert(*created);
  return r;
}

// Reads the chain's side of a Snapshot: every account of `ids`, the totals,
// and what `reach` names (everything when `reach` is nullopt).
class ChainView {
 public:
  ChainView(LedgerClient& client, evm::ContractReader& reader) : client_(client), reader_(reader) {}

  Result<Snapshot> read(const std::vector<AccountId>& ids, const std::optional<Reach>& reach,
                        const std::set<GrantKey>& every_grant) {
    Snapshot s;
    for (const AccountId& id : ids) {
      auto a = client_.account(id);
      if (!a) return std::unexpected(a.error());
      if (*a) s.accounts[id] = **a;
    }
    auto totals = reader_.totals();
    if (!totals) return std::unexpected(totals.error());
    s.totals = totals->totals;

    std::vector<std::uint64_t> order_ids;
    if (reach) {
      for (const std::uint64_t id : reach->offers) {
        auto o = client_.offer(id);
        if (!o) return std::unexpected(o.error());
        if (*o) s.offers[id] = **o;
      }
      for (const CvmId& id : reach->cvms) {
        auto c = client_.cvm(id);
        if (!c) return std::unexpected(c.error());
        if (*c) s.cvms[id] = **c;
      }
      for (const std::uint64_t id : reach->orders) {
        auto o = client_.order(id);
        if (!o) return std::unexpected(o.error());
        if (*o) s.orders[id] = **o;
        order_ids.push_back(id);
      }
    } else {
      auto offers = client_.offers();
      if (!offers) return std::unexpected(offers.error());
      for (auto& o : *offers) s.offers[o.id] = o;
      auto cvms = client_.cvms();
      if (!cvms) return std::unexpected(cvms.error());
      for (auto& c : *cvms) s.cvms[c.id] = c;
      OrderFilter all;
      all.limit = std::size_t{1} << 30;
      auto orders = client_.orders(all);
      if (!orders) return std::unexpected(orders.error());
      for (auto& o : *orders) {
        order_ids.push_back(o.id);
        s.orders[o.id] = o;
      }
    }
    for (const std::uint64_t id : order_ids) {
      auto r = client_.report(id);
      if (!r) return std::unexpected(r.error());
      if (*r) s.reports[id] = **r;
      auto st = client_.start_report(id);
      if (!st) return std::unexpected(st.error());
      if (*st) s.start_reports[id] = **st;
      auto subs = client_.subscriptions(id);
      if (!subs) return std::unexpected(subs.error());
      for (auto& sub : *subs) s.subscriptions[{sub.order, sub.account}] = sub;
    }
    for (const GrantKey& key : reach ? reach->grants : every_grant) {
      auto g = reader_.grant(key.first, key.second);
      if (!g) return std::unexpected(g.error());
      if (*g) s.grants[key] = **g;
    }
    return s;
  }

 private:
  LedgerClient& client_;
  evm::ContractReader& reader_;
};

// The rules' Snapshot cut to what ChainView::read reads for `reach`.
Snapshot rules_part(const Snapshot& all, const Reach& reach) {
  Snapshot s;
  s.accounts = all.accounts;
  s.totals = all.totals;
  for (const auto id : reach.offers) {
    if (auto it = all.offers.find(id); it != all.offers.end()) s.offers.insert(*it);
  }
  for (const auto& id : reach.cvms) {
    if (auto it = all.cvms.find(id); it != all.cvms.end()) s.cvms.insert(*it);
  }
  for (const auto id : reach.orders) {
    if (auto it = all.orders.find(id); it != all.orders.end()) s.orders.insert(*it);
    if (auto it = all.reports.find(id); it != all.reports.end()) s.reports.insert(*it);
    if (auto it = all.start_reports.find(id); it != all.start_reports.end()) s.start_reports.insert(*it);
    for (const auto& [key, sub] : all.subscriptions) {
      if (key.first == id) s.subscriptions.emplace(key, sub);
    }
  }
  for (const auto& key : reach.grants) {
    if (auto it = all.grants.find(key); it != all.grants.end()) s.grants.insert(*it);
  }
  return s;
}

std::string describe(const Draft& d) {
  json args = d.args;
  if (d.evm) args["evm"] = *d.evm;
  std::string text = args.dump();
  if (text.size() > 600) text = text.substr(0, 600) + "...";
  return d.type + " from " + d.sender->label + " (" + d.intent + "): " + text;
}

std::string outcome(const std::optional<Rejection>& r) {
  return r ? "refused " + r->reason + " (" + r->message + ")" : "accepted";
}

TEST(LedgerEvmDifferential, shouldAgreeAfterEveryStepWhenReplayingRandomTransactionsOnSqliteRulesAndAnvil) {
  const std::uint64_t seed = env_number("WARD_DIFF_SEED", kDefaultSeed);
  const std::uint64_t steps = env_number("WARD_DIFF_STEPS", kDefaultSteps);
  std::cout << "[ differential ] seed " << seed << " (WARD_DIFF_SEED), " << steps << " steps" << std::endl;

  Anvil anvil;
  std::string why;
  ASSERT_TRUE(anvil.start(why)) << why;
  auto rpc = chain::RpcClient::open(anvil.url()).value();

  Rng rng(seed);
  World world(rng);
  const auto deployer = make_actor(rng, "deployer");
  ASSERT_TRUE(Anvil::fund_gas(*rpc, deployer->address));
  for (const auto& a : world.all) ASSERT_TRUE(Anvil::fund_gas(*rpc, a->address)) << a->label;
  auto deployed = evm::deploy_ledger(anvil.url(), deployer->key, /*dev=*/true);
  ASSERT_TRUE(deployed) << deployed.error().message;
  auto client = open_client(deployed->target);
  ASSERT_TRUE(client) << client.error().message;
  evm::ContractReader reader(*rpc, deployed->contract, deployed->block);
  auto info = reader.info();
  ASSERT_TRUE(info) << info.error().message;
  ASSERT_TRUE(info->dev);

  MemoryState state(LedgerInfo{info->id, true});
  ChainView chain_view(**client, reader);
  const std::vector<AccountId> ids = world.ids();

  std::uint64_t time = rpc->latest_block().value().timestamp + 10;
  Generator generator(rng, world, state, time);
  auto bootstrap = generator.bootstrap();

  std::uint64_t accepted = 0;
  std::map<std::string, std::uint64_t> refused;
  std::map<std::string, std::pair<std::uint64_t, std::uint64_t>> by_type;  // accepted, refused
  std::set<GrantKey> every_grant;
  const auto started = std::chrono::steady_clock::now();

  for (std::uint64_t step = 0; step < steps; ++step) {
    const Draft d = step < bootstrap.size() ? bootstrap[step]() : generator.next();
    const std::string where = "step " + std::to_string(step) + ": " + describe(d);
    time += rng.between(1, 4000);
    ASSERT_TRUE(rpc->request("evm_setNextBlockTimestamp", json::array({time}))) << where;

    std::optional<Rejection> by_rules;
    if (auto r = apply_rules(state, d, accepted, time); !r) by_rules = r.error();
    json evm_args = d.args;
    if (d.evm) evm_args[std::string(evm::kCvmIdentityField)] = *d.evm;
    auto receipt = (*client)->submit_as(d.sender->key, d.type, evm_args);
    ASSERT_TRUE(receipt) << where << "\nthe EVM client failed: " << receipt.error().message;
    const std::optional<Rejection>& by_chain = receipt->rejection;

    ASSERT_EQ(by_rules.has_value(), by_chain.has_value())
        << where << "\noutcome: rules " << outcome(by_rules) << ", chain " << outcome(by_chain);
    if (by_rules) {
      ASSERT_EQ(by_rules->reason, by_chain->reason)
          << where << "\noutcome: rules " << outcome(by_rules) << ", chain " << outcome(by_chain);
      ++refused[by_rules->reason];
      if (std::getenv("WARD_DIFF_TRACE"))
        std::cerr << d.type << " (" << d.intent << "): " << by_rules->message << "\n";
      ++by_type[d.type].second;
    } else {
      ASSERT_EQ(receipt->index, accepted) << where << "\nthe chain's record index";
      chain::Hash256 hash{};
      std::copy(receipt->leaf.begin(), receipt->leaf.end(), hash.begin());
      auto mined = rpc->receipt(hash);
      ASSERT_TRUE(mined && *mined) << where;
      auto block = rpc->block((*mined)->block_number);
      ASSERT_TRUE(block && *block) << where;
      ASSERT_EQ((*block)->timestamp, time) << where << "\nthe block's timestamp";
      ++accepted;
      ++by_type[d.type].first;
    }

    auto totals = reader.totals();
    ASSERT_TRUE(totals) << where << "\n" << totals.error().message;
    ASSERT_EQ(totals->records, accepted) << where << "\nthe chain's record count";

    const Reach reach = reach_of(d, by_rules ? std::nullopt : std::optional(accepted - 1));
    every_grant.insert(reach.grants.begin(), reach.grants.end());
    const bool full = (step + 1) % kFullSnapshotEvery == 0 || step + 1 == steps;
    auto on_chain = chain_view.read(ids, full ? std::nullopt : std::optional(reach), every_grant);
    ASSERT_TRUE(on_chain) << where << "\nreading the chain: " << on_chain.error().message;
    const Snapshot by_rules_state = full ? state.snapshot() : rules_part(state.snapshot(), reach);
    const auto difference = first_difference(by_rules_state, *on_chain);
    ASSERT_FALSE(difference) << where << "\n"
                             << (full ? "full" : "reached")
                             << " snapshot (stored: the rules, replayed: the chain): " << *difference;
  }

  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::uint64_t refusals = 0;
  std::cout << "[ differential ] " << steps << " transactions, " << accepted << " accepted, ";
  for (const auto& [reason, n] : refused) refusals += n;
  std::cout << refusals << " refused:";
  for (const auto& [reason, n] : refused) std::cout << " " << reason << " " << n;
  std::cout << "\n[ differential ] by type (accepted/refused):";
  for (const auto& [type, n] : by_type) std::cout << " " << type << " " << n.first << "/" << n.second;
  std::cout << "\n[ differential ] " << seconds << " s, " << static_cast<double>(steps) / seconds
            << " steps/s; final state: " << state.snapshot().accounts.size() << " accounts, "
            << state.snapshot().offers.size() << " offers, " << state.snapshot().orders.size() << " orders, "
            << state.snapshot().subscriptions.size() << " subscriptions, " << state.snapshot().grants.size()
            << " grants" << std::endl;
}

}  // namespace
}  // namespace ward::ledger
