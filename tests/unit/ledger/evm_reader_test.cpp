// ContractReader against a real anvil running WardLedger (the checked-in
// artifact): real transactions from several keys drive every kind of entity,
// and each value the reader returns is compared field by field with what the
// test sent and the chain's block times. Storage writes (anvil_setStorageAt)
// make the state disagree with the events, which the reader must refuse.
#include <chrono>
#include <map>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "crypto/hash.h"
#include "../evm/anvil_testing.h"
#include "evm/abi.h"
#include "evm/keccak.h"
#include "evm/rpc.h"
#include "evm/sender.h"
#include "evm/signer.h"
#include "ledger/evm/reader.h"

namespace ward::ledger::evm {
namespace {

namespace chain = ward::evm;
namespace abi = ward::evm::abi;
using abi::Value;
using chain::Hash256;
using nlohmann::json;

constexpr std::uint64_t kGenesis = 1767225600;  // 2026-01-01
constexpr std::uint64_t kStep = 10;             // seconds between two transactions' blocks

// Storage slots of WardLedgerState's mappings (declaration order) and the
// members the tamper tests overwrite (struct slot offsets).
constexpr std::uint64_t kCvmsSlot = 4;
constexpr std::uint64_t kOrdersSlot = 6;
constexpr std::uint64_t kCvmCertificateSha256 = 3;
constexpr std::uint64_t kOrderEngineHash = 2;
constexpr std::uint64_t kOrderReportSha256 = 5;

Hash256 filled(std::uint8_t b) {
  Hash256 h;
  h.fill(b);
  return h;
}

Hash256 word(std::uint64_t v) {
  return chain::U256(v).big_endian();
}

// keccak256(key ‖ slot) + offset: a mapping member's storage slot.
Hash256 mapping_slot(const Hash256& key, std::uint64_t slot, std::uint64_t offset) {
  Bytes preimage(key.begin(), key.end());
  const Hash256 s = word(slot);
  preimage.insert(preimage.end(), s.begin(), s.end());
  Hash256 out = chain::keccak256(preimage);
  unsigned carry = static_cast<unsigned>(offset);
  for (int i = 31; i >= 0 && carry != 0; --i) {
    carry += out[i];
    out[i] = static_cast<std::uint8_t>(carry);
    carry >>= 8;
  }
  return out;
}

struct Party {
  chain::PrivateKey key;
  AccountId id{};
  std::string recipient;
  std::string name;
};

// What the scenario sent, and when each record was mined.
struct Scenario {
  std::map<std::string, std::uint64_t> index;  // step name -> record index
  std::map<std::string, std::uint64_t> time;   // step name -> block timestamp
  std::uint64_t records = 0;
};

constexpr std::string_view kEngine = "llama.cpp@sha256:0f1e2d3c";
constexpr std::string_view kCert1 = "-----BEGIN CERTIFICATE-----\nZmlyc3Q=\n-----END CERTIFICATE-----\n";
constexpr std::string_view kCert2 = "-----BEGIN CERTIFICATE-----\nc2Vjb25k\n-----END CERTIFICATE-----\n";
constexpr std::string_view kReport = R"({"order":14,"outputs":["age1out"],"signature":"ab"})";
constexpr std::string_view kStartReport = R"({"order":22,"service":{"endpoint":"https://cvm.example:8443"}})";
constexpr std::string_view kEndpoint = "https://cvm.example:8443";
constexpr std::string_view kRestartReport =
    R"({"order":22,"service":{"endpoint":"https://cvm.example:9443"}})";
constexpr std::string_view kRestartEndpoint = "https://cvm.example:9443";

class EvmReaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    ASSERT_TRUE(anvil_.start(why, {"--chain-id", "31337", "--timestamp", std::to_string(kGenesis)})) << why;
    auto rpc = chain::RpcClient::open(anvil_.url());
    ASSERT_TRUE(rpc) << rpc.error().message;
    rpc_ = std::move(*rpc);

    deployer_.emplace(chain::testing::Anvil::dev_key());
    Bytes code = chain::testing::ward_ledger_creation_code();
    ASSERT_FALSE(code.empty()) << "cannot read " << chain::testing::kArtifact;
    auto constructor = abi::encode(*abi::parse_types("bool"), {Value::boolean(true)});
    code.insert(code.end(), constructor->begin(), constructor->end());
    auto deployed = chain::send_call(*rpc_, *deployer_, std::nullopt, code);
    ASSERT_TRUE(deployed) << deployed.error().message;
    ASSERT_FALSE(deployed->reverted);
    contract_ = *deployed->receipt->contract_address;
    deploy_block_ = deployed->receipt->block_number;
    reader_.emplace(*rpc_, contract_, deploy_block_);
  }

  void TearDown() override {
    reader_.reset();
    rpc_.reset();
    anvil_.stop();
  }

  Party party(std::uint8_t tag, std::string name) {
    Party p{chain::PrivateKey::generate(), filled(tag), "age1" + name + "recipient", std::move(name)};
    auto funded = rpc_->request(
        "anvil_setBalance", json::array({chain::data_text(p.key.address().bytes), "0x56bc75e2d63100000"}));
    EXPECT_TRUE(funded) << funded.error().message;
    return p;
  }

  // Sends `signature(args)` from `from` in the block `kStep` seconds after the
  // last, and notes its record index and time under `step`.
  void send(const Party& from, std::string_view signature, const std::vector<Value>& args,
            const std::string& step) {
    auto f = abi::Function::parse(signature);
    ASSERT_TRUE(f) << f.error().message;
    auto data = f->encode_call(args);
    ASSERT_TRUE(data) << signature << ": " << data.error().message;
    now_ = now_ == 0 ? kGenesis + 1000 : now_ + kStep;
    ASSERT_TRUE(rpc_->request("evm_setNextBlockTimestamp", json::array({now_})));
    auto out = chain::send_call(*rpc_, from.key, contract_, *data);
    ASSERT_TRUE(out) << step << ": " << out.error().message;
    auto why = abi::decode_revert(out->revert_data);
    ASSERT_FALSE(out->reverted) << step << ": " << (why ? why->describe() : "?") << " "
                                << hex_encode(out->revert_data);
    s_.index[step] = s_.records++;
    s_.time[step] = now_;
  }

  Value id(const Hash256& h) { return Value::bytes(h); }
  static Value strings(const std::vector<std::string>& v) {
    std::vector<Value> out;
    for (const auto& s : v) out.push_back(Value::string(s));
    return Value::list(out);
  }
  static Value words(const std::vector<Hash256>& v) {
    std::vector<Value> out;
    for (const auto& h : v) out.push_back(Value::bytes(h));
    return Value::list(out);
  }
  static Value price(std::uint64_t model, std::uint64_t amount, std::uint64_t bps) {
    return Value::list({Value::uint(model), Value::uint(amount), Value::uint(bps)});
  }
  Value order_args(const std::vector<std::uint64_t>& offers, std::uint64_t deposit, const Value& serve,
                   std::vector<std::string> outputs) {
    std::vector<Value> listed;
    for (auto o : offers) listed.push_back(Value::uint(o));
    return Value::list({id(cvm_id), Value::boolean(false), Value::uint(0), no_resources(),
                        Value::string(kEngine), strings({"ward://dana/data.csv", "ward://dana/more.csv"}),
                        strings(outputs), Value::list(listed), Value::uint(deposit), serve, Value::list({})});
  }
  static Value no_resources() {
    return Value::list({Value::boolean(false), Value::uint(0), Value::uint(0), Value::uint(0)});
  }
  static Value batch() {
    return Value::list(
        {Value::boolean(false), Value::uint(0), Value::list({}), Value::uint(0), Value::uint(0)});
  }
  Value claims(std::uint64_t order, bool service, const Hash256& tls, std::string_view endpoint,
               const std::vector<Hash256>& inputs) {
    return Value::list({id(ledger_id), id(cvm_id), Value::uint(order), Value::string(kEngine),
                        Value::boolean(service), id(tls), Value::string(endpoint), words(inputs)});
  }
  static Value grant_use(const Hash256& grant, const AccountId& owner, std::uint64_t uses) {
    return Value::list({Value::bytes(grant), Value::bytes(owner), Value::uint(uses)});
  }

  // Three parties, a subscriber and a CVM: offers of each price model, a
  // CVM registered and updated, a batch order settled by its report, one
  // failed, a service for subscribers started and charged, a service for
  // listed accounts canceled, limited and unlimited grants used, one revoked.
  void drive() {
    auto info = reader_->info();
    ASSERT_TRUE(info) << info.error().message;
    ledger_id = info->id;
    dana = party(0x11, "dana");
    mo = party(0x22, "mo");
    pat = party(0x33, "pat");
    sue = party(0x44, "sue");
    cvm = party(0x55, "cvm");
    cvm->name = "";
    cvm_id = crypto::sha256(cvm->id);
    const Bytes binding(64, 0xbb);
    const auto reg = [&](const Party& p) {
      send(p, "register(bytes32,string,string,bytes)",
           {id(p.id), Value::string(p.recipient), Value::string(p.name), Value::bytes(binding)},
           "register " + p.name);
    };
    reg(*dana);
    reg(*mo);
    reg(*pat);
    reg(*sue);
    send(*mo, "fund(bytes32,uint64)", {id(mo->id), Value::uint(1'000'000)}, "fund mo");
    send(*sue, "fund(bytes32,uint64)", {id(sue->id), Value::uint(10'000)}, "fund sue");
    constexpr std::string_view create = "createOffer(uint8,string,string,(uint8,uint64,uint32),uint64)";
    send(*pat, create,
         {Value::uint(3), Value::string("tee-small"), Value::string("https://pat.example/tee"),
          price(1, 3600, 0), Value::uint(0)},
         "offer tee");
    send(*dana, create,
         {Value::uint(1), Value::string("census"), Value::string("ward://dana/census"), price(0, 100, 0),
          Value::uint(0)},
         "offer dataset");
    send(*dana, create,
         {Value::uint(2), Value::string("weights"), Value::string("ward://dana/weights"), price(2, 0, 2500),
          Value::uint(0)},
         "offer model");
    send(*pat, create,
         {Value::uint(0), Value::string("engine"), Value::string("oci://pat/engine"), price(0, 5, 0),
          Value::uint(0)},
         "offer engine");
    send(*pat, "disableOffer(uint64)", {Value::uint(s_.index["offer engine"])}, "disable engine");
    tee = s_.index["offer tee"];
    dataset = s_.index["offer dataset"];
    model = s_.index["offer model"];
    send(*pat, "registerCvm(bytes32,address,bytes,string,bytes,uint64,uint64,(bool,uint64,uint64,uint64))",
         {id(cvm->id), Value::address(cvm->key.address()), Value::bytes(binding),
          Value::string(cvm->recipient), Value::bytes(as_bytes(kCert1)), Value::uint(tee), Value::uint(0),
          no_resources()},
         "register cvm");
    send(*cvm, "heartbeat()", {}, "heartbeat");
    send(*cvm, "updateCvm(bytes,bytes32,string,uint64)",
         {Value::bytes(as_bytes(kCert2)), id(cvm->id), Value::string(cvm->recipient),
          Value::uint(2'000'000'000)},
         "update cvm");

    constexpr std::string_view create_order =
        "createOrder((bytes32,bool,uint64,(bool,uint64,uint64,uint64),string,string[],string[],uint64[],"
        "uint64,"
        "(bool,uint8,bytes32[],uint64,uint64),bytes32[]))";
    send(*mo, create_order, {order_args({dataset}, 1000, batch(), {"age1outputrecipient"})}, "order done");
    done_order = s_.index["order done"];
    send(*cvm, "startOrder(uint64)", {Value::uint(done_order)}, "start done");
    constexpr std::string_view use = "useGrants(uint64,(bytes32,bytes32,uint64)[])";
    send(*cvm, use,
         {Value::uint(done_order), Value::list({grant_use(g1, dana->id, 2), grant_use(g2, dana->id, 0)})},
         "grants done");
    constexpr std::string_view submit =
        "submitReport(uint64,bytes,(bytes32,bytes32,uint64,string,bool,bytes32,string,bytes32[]))";
    send(*cvm, submit,
         {Value::uint(done_order), Value::bytes(as_bytes(kReport)), claims(done_order, false, {}, "", {})},
         "report done");

    send(*mo, create_order, {order_args({}, 50, batch(), {"age1outputrecipient"})}, "order failed");
    failed_order = s_.index["order failed"];
    send(*cvm, "startOrder(uint64)", {Value::uint(failed_order)}, "start failed");
    send(*cvm, use, {Value::uint(failed_order), Value::list({grant_use(g1, dana->id, 2)})}, "grants failed");
    send(*cvm, "failOrder(uint64,string)", {Value::uint(failed_order), Value::string("out of memory")},
         "fail");

    const Value subscribers =
        Value::list({Value::boolean(true), Value::uint(2), Value::list({}), Value::uint(2), Value::uint(3)});
    send(*mo, create_order, {order_args({dataset, model}, 5000, subscribers, {})}, "order service");
    service_order = s_.index["order service"];
    send(*sue, "subscribe(uint64,uint64)", {Value::uint(service_order), Value::uint(1000)}, "subscribe");
    send(*cvm, "startOrder(uint64)", {Value::uint(service_order)}, "start service order");
    constexpr std::string_view start_service =
        "startService(uint64,bytes,(bytes32,bytes32,uint64,string,bool,bytes32,string,bytes32[]))";
    send(*cvm, start_service,
         {Value::uint(service_order), Value::bytes(as_bytes(kStartReport)),
          claims(service_order, true, tls_key, kEndpoint, {served_input})},
         "start service");
    // The loader started again: a new TLS key, endpoint and inputs replace the first.
    send(*cvm, start_service,
         {Value::uint(service_order), Value::bytes(as_bytes(kRestartReport)),
          claims(service_order, true, restarted_tls_key, kRestartEndpoint, {served_input, restarted_input})},
         "restart service");
    send(*cvm, "recordUsage(uint64,(bytes32,uint64,uint64,uint64)[])",
         {Value::uint(service_order),
          Value::list({Value::list({id(sue->id), Value::uint(10), Value::uint(1500), Value::uint(999)})})},
         "usage");

    const Value listed = Value::list(
        {Value::boolean(true), Value::uint(1), words({dana->id, sue->id}), Value::uint(0), Value::uint(0)});
    send(*mo, create_order, {order_args({}, 10, listed, {})}, "order canceled");
    canceled_order = s_.index["order canceled"];
    send(*dana, "revokeGrant(bytes32)", {id(g3)}, "revoke");
    send(*mo, "cancelOrder(uint64)", {Value::uint(canceled_order)}, "cancel");
  }

  // Seconds between two steps' blocks.
  std::uint64_t seconds(const std::string& from, const std::string& to) {
    return s_.time.at(to) - s_.time.at(from);
  }

  // Overwrites one storage word of the contract.
  void poke(const Hash256& slot, const Hash256& expected, const Hash256& value) {
    auto old =
        rpc_->request("eth_getStorageAt",
                      json::array({chain::data_text(contract_.bytes), chain::data_text(slot), "latest"}));
    ASSERT_TRUE(old) << old.error().message;
    ASSERT_EQ(old->get<std::string>(), chain::data_text(expected))
        << "the storage layout is not the one assumed";
    auto set = rpc_->request(
        "anvil_setStorageAt",
        json::array({chain::data_text(contract_.bytes), chain::data_text(slot), chain::data_text(value)}));
    ASSERT_TRUE(set) << set.error().message;
  }

  chain::testing::Anvil anvil_;
  std::unique_ptr<chain::RpcClient> rpc_;
  std::optional<chain::PrivateKey> deployer_;
  chain::Address contract_;
  std::uint64_t deploy_block_ = 0;
  std::optional<ContractReader> reader_;
  std::uint64_t now_ = 0;
  Scenario s_;

  LedgerId ledger_id{};
  std::optional<Party> dana, mo, pat, sue, cvm;
  CvmId cvm_id{};
  std::uint64_t tee = 0, dataset = 0, model = 0;
  std::uint64_t done_order = 0, failed_order = 0, service_order = 0, canceled_order = 0;
  const GrantId g1 = crypto::sha256(as_bytes("grant one"));
  const GrantId g2 = crypto::sha256(as_bytes("grant two"));
  const GrantId g3 = crypto::sha256(as_bytes("grant three"));
  const Hash256 tls_key = filled(0x7a);
  const Hash256 served_input = filled(0x1b);
  const Hash256 restarted_tls_key = filled(0x7c);
  const Hash256 restarted_input = filled(0x1d);
};

TEST_F(EvmReaderTest, shouldReadLedgerIdAndDevWhenDeployed) {
  auto chain_id = rpc_->chain_id();
  ASSERT_TRUE(chain_id);
  Bytes preimage = to_bytes("ward/evm-ledger/v1");
  const Hash256 id_word = word(*chain_id);
  preimage.insert(preimage.end(), id_word.begin(), id_word.end());
  preimage.insert(preimage.end(), contract_.bytes.begin(), contract_.bytes.end());
  auto info = reader_->info();
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_EQ(info->id, crypto::sha256(preimage));
  EXPECT_TRUE(info->dev);
  auto totals = reader_->totals();
  ASSERT_TRUE(totals) << totals.error().message;
  EXPECT_EQ(*totals, ChainTotals{});
}

TEST_F(EvmReaderTest, shouldReadTotalsWhenOrdersMovedMoney) {
  ASSERT_NO_FATAL_FAILURE(drive());
  auto totals = reader_->totals();
  ASSERT_TRUE(totals) << totals.error().message;
  EXPECT_EQ(totals->records, s_.records);
  EXPECT_EQ(totals->totals.supply, 1'010'000u);
  // The service's deposit less its fixed and per-hour payments, and the
  // subscription less its charge.
  EXPECT_EQ(totals->totals.escrow, 5000 - 100 - seconds("start service order", "usage") + 1000 - 25);
}

TEST_F(EvmReaderTest, shouldReadAccountFromAccountRegisteredWhenRegistered) {
  ASSERT_NO_FATAL_FAILURE(drive());
  // The tee offer is paid one token a second of each order's run.
  const std::uint64_t done = seconds("start done", "report done");
  const std::uint64_t failed = seconds("start failed", "fail");
  const std::uint64_t served = seconds("start service order", "usage");
  const struct {
    const Party& p;
    std::uint64_t balance;
    std::uint64_t transactions;
  } want[] = {
      {*dana, 100 + 100 + 6, 4},  // two fixed payments, a revenue share
      // Deposits, the refunds of the done, failed and canceled orders, the creator's share of revenue.
      {*mo, 1'000'000 - 1000 + (1000 - done - 100) - 50 + (50 - failed) - 5000 + 19 - 10 + 10, 7},
      {*pat, done + failed + served, 5},
      {*sue, 10'000 - 1000, 3},
  };
  for (const auto& w : want) {
    auto a = reader_->account(w.p.id);
    ASSERT_TRUE(a) << a.error().message;
    ASSERT_TRUE(*a) << w.p.name;
    EXPECT_EQ((*a)->id, w.p.id);
    EXPECT_EQ((*a)->recipient, w.p.recipient);
    EXPECT_EQ((*a)->name, w.p.name);
    EXPECT_EQ((*a)->balance, w.balance) << w.p.name;
    EXPECT_EQ((*a)->nonce, w.transactions) << w.p.name;
    EXPECT_EQ((*a)->created, s_.index["register " + w.p.name]);
  }
}

TEST_F(EvmReaderTest, shouldReadCvmAccountFromCvmRegisteredWhenItIsACvm) {
  ASSERT_NO_FATAL_FAILURE(drive());
  auto a = reader_->account(cvm->id);
  ASSERT_TRUE(a) << a.error().message;
  ASSERT_TRUE(*a);
  // Named as contract.cpp names a CVM's account: "cvm " and its id's first 16 hex.
  const CvmId cvm_id = crypto::sha256(cvm->id);
  const Account want{cvm->id, cvm->recipient, "cvm " + hex_encode(cvm_id).substr(0, 16), 0, 12,
                     s_.index["register cvm"]};
  EXPECT_EQ(**a, want);
}

TEST_F(EvmReaderTest, shouldReturnNulloptWhenAccountDoesNotExist) {
  ASSERT_NO_FATAL_FAILURE(drive());
  auto a = reader_->account(filled(0x99));
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_FALSE(*a);
}

TEST_F(EvmReaderTest, shouldReadEveryPriceModelWhenOffersCreated) {
  ASSERT_NO_FATAL_FAILURE(drive());
  const std::vector<Offer> want{
      {tee,
       pat->id,
       OfferKind::Tee,
       "tee-small",
       "https://pat.example/tee",
       {PriceModel::PerHour, 3600, 0},
       true},
      {dataset,
       dana->id,
       OfferKind::Dataset,
       "census",
       "ward://dana/census",
       {PriceModel::Fixed, 100, 0},
       true},
      {model,
       dana->id,
       OfferKind::Model,
       "weights",
       "ward://dana/weights",
       {PriceModel::RevenueShare, 0, 2500},
       true},
      {s_.index["offer engine"],
       pat->id,
       OfferKind::Engine,
       "engine",
       "oci://pat/engine",
       {PriceModel::Fixed, 5, 0},
       false},
  };
  auto all = reader_->offers();
  ASSERT_TRUE(all) << all.error().message;
  EXPECT_EQ(*all, want);
  for (const Offer& o : want) {
    auto one = reader_->offer(o.id);
    ASSERT_TRUE(one) << one.error().message;
    ASSERT_TRUE(*one);
    EXPECT_EQ(**one, o);
  }
}

TEST_F(EvmReaderTest, shouldReadLatestCertificateWhenCvmUpdated) {
  ASSERT_NO_FATAL_FAILURE(drive());
  const Cvm want{cvm_id, cvm->id, cvm->recipient,          std::string(kCert2),
                 tee,    pat->id, s_.time["register cvm"], s_.time["heartbeat"]};
  auto one = reader_->cvm(cvm_id);
  ASSERT_TRUE(one) << one.error().message;
  ASSERT_TRUE(*one);
  EXPECT_EQ(**one, want);
  auto all = reader_->cvms();
  ASSERT_TRUE(all) << all.error().message;
  EXPECT_EQ(*all, std::vector<Cvm>{want});
}

TEST_F(EvmReaderTest, shouldReadSettledBatchOrderWhenReportSubmitted) {
  ASSERT_NO_FATAL_FAILURE(drive());
  Order want;
  want.id = done_order;
  want.creator = mo->id;
  want.cvm = cvm_id;
  want.engine = kEngine;
  want.inputs = {"ward://dana/data.csv", "ward://dana/more.csv"};
  want.outputs = {"age1outputrecipient"};
  want.offers = {dataset};
  want.deposit = 1000;
  want.status = OrderStatus::Done;
  want.created_at = s_.time["order done"];
  want.started_at = s_.time["start done"];
  want.ended_at = s_.time["report done"];
  const std::uint64_t seconds = want.ended_at - want.started_at;  // 3600 an hour: one a second
  want.payments = {{tee, pat->id, {PriceModel::PerHour, 3600, 0}, seconds},
                   {dataset, dana->id, {PriceModel::Fixed, 100, 0}, 100}};
  want.refund = 1000 - seconds - 100;
  auto o = reader_->order(done_order);
  ASSERT_TRUE(o) << o.error().message;
  ASSERT_TRUE(*o);
  EXPECT_EQ(**o, want);

  auto r = reader_->report(done_order);
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_TRUE(*r);
  EXPECT_EQ(**r, (Report{done_order, std::string(kReport), s_.index["report done"], s_.time["report done"]}));
  auto start = reader_->start_report(done_order);
  ASSERT_TRUE(start) << start.error().message;
  EXPECT_FALSE(*start);
}

TEST_F(EvmReaderTest, shouldReadFailReasonWhenOrderFailed) {
  ASSERT_NO_FATAL_FAILURE(drive());
  auto o = reader_->order(failed_order);
  ASSERT_TRUE(o) << o.error().message;
  ASSERT_TRUE(*o);
  EXPECT_EQ((*o)->status, OrderStatus::Error);
  EXPECT_EQ((*o)->error, "out of memory");
  EXPECT_EQ((*o)->ended_at, s_.time["fail"]);
  const std::uint64_t seconds = s_.time["fail"] - s_.time["start failed"];
  EXPECT_EQ((*o)->payments, (std::vector<Payment>{{tee, pat->id, {PriceModel::PerHour, 3600, 0}, seconds}}));
  EXPECT_EQ((*o)->refund, 50 - seconds);
  EXPECT_FALSE((*o)->serve);
  auto r = reader_->report(failed_order);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_FALSE(*r);
}

TEST_F(EvmReaderTest, shouldReadServiceTermsAndStartReportWhenServiceStarted) {
  ASSERT_NO_FATAL_FAILURE(drive());
  auto o = reader_->order(service_order);
  ASSERT_TRUE(o) << o.error().message;
  ASSERT_TRUE(*o);
  EXPECT_EQ((*o)->status, OrderStatus::Processing);
  EXPECT_TRUE((*o)->outputs.empty());
  EXPECT_EQ((*o)->offers, (std::vector<std::uint64_t>{dataset, model}));
  EXPECT_EQ((*o)->started_at, s_.time["start service order"]);
  EXPECT_EQ((*o)->ended_at, 0u);
  EXPECT_EQ((*o)->error, "");
  const std::uint64_t seconds = s_.time["usage"] - s_.time["start service order"];
  // Usage: 10 requests at 2 and 1500 tokens at 3 per 1000 (rounded up): 25;
  // the model's revenue share is 25%, rounded down.
  EXPECT_EQ((*o)->payments,
            (std::vector<Payment>{{tee, pat->id, {PriceModel::PerHour, 3600, 0}, seconds},
                                  {dataset, dana->id, {PriceModel::Fixed, 100, 0}, 100},
                                  {model, dana->id, {PriceModel::RevenueShare, 0, 2500}, 6}}));
  EXPECT_EQ((*o)->refund, 0u);
  ServiceTerms want;
  want.rule = ServeRule(ServiceAccess::Subscribers, {}, UsagePrice{2, 3});
  want.tls_key_sha256 = restarted_tls_key;
  want.inputs = {served_input, restarted_input};
  want.serving_since = s_.time["restart service"];
  want.endpoint = kRestartEndpoint;
  want.revenue = 25;
  ASSERT_TRUE((*o)->serve);
  EXPECT_EQ(*(*o)->serve, want);

  auto start = reader_->start_report(service_order);
  ASSERT_TRUE(start) << start.error().message;
  ASSERT_TRUE(*start);
  EXPECT_EQ(**start, (Report{service_order, std::string(kRestartReport), s_.index["restart service"],
                             s_.time["restart service"]}));

  const Subscription sub{service_order,        sue->id,          1000,  25, 10, 1500, 999,
                         s_.time["subscribe"], s_.time["usage"], false, 0};
  auto subs = reader_->subscriptions(service_order);
  ASSERT_TRUE(subs) << subs.error().message;
  EXPECT_EQ(*subs, std::vector<Subscription>{sub});
  auto one = reader_->subscription(service_order, sue->id);
  ASSERT_TRUE(one) << one.error().message;
  ASSERT_TRUE(*one);
  EXPECT_EQ(**one, sub);
  auto none = reader_->subscription(service_order, dana->id);
  ASSERT_TRUE(none) << none.error().message;
  EXPECT_FALSE(*none);
}

TEST_F(EvmReaderTest, shouldReadAccessListWhenServiceOrderCanceled) {
  ASSERT_NO_FATAL_FAILURE(drive());
  auto o = reader_->order(canceled_order);
  ASSERT_TRUE(o) << o.error().message;
  ASSERT_TRUE(*o);
  EXPECT_EQ((*o)->status, OrderStatus::Canceled);
  EXPECT_EQ((*o)->ended_at, s_.time["cancel"]);
  EXPECT_EQ((*o)->refund, 10u);
  EXPECT_TRUE((*o)->payments.empty());
  ServiceTerms want;
  want.rule = ServeRule(ServiceAccess::Accounts, {dana->id, sue->id});
  ASSERT_TRUE((*o)->serve);
  EXPECT_EQ(*(*o)->serve, want);
  auto start = reader_->start_report(canceled_order);
  ASSERT_TRUE(start) << start.error().message;
  EXPECT_FALSE(*start);
  auto subs = reader_->subscriptions(canceled_order);
  ASSERT_TRUE(subs) << subs.error().message;
  EXPECT_TRUE(subs->empty());
}

std::vector<std::uint64_t> ids_of(const Result<std::vector<Order>>& orders) {
  std::vector<std::uint64_t> out;
  if (orders) {
    for (const Order& o : *orders) out.push_back(o.id);
  }
  return out;
}

OrderFilter filter(std::optional<AccountId> creator, std::optional<CvmId> cvm,
                   std::optional<OrderStatus> status, std::uint64_t first_id = 0, std::size_t limit = 1000) {
  OrderFilter f;
  f.creator = creator;
  f.cvm = cvm;
  f.status = status;
  f.first_id = first_id;
  f.limit = limit;
  return f;
}

TEST_F(EvmReaderTest, shouldFilterAndPageOrdersWhenListed) {
  ASSERT_NO_FATAL_FAILURE(drive());
  auto all = reader_->orders({});
  ASSERT_TRUE(all) << all.error().message;
  EXPECT_EQ(ids_of(all),
            (std::vector<std::uint64_t>{done_order, failed_order, service_order, canceled_order}));
  for (const Order& o : *all) {
    auto one = reader_->order(o.id);
    ASSERT_TRUE(one && *one);
    EXPECT_EQ(**one, o);
  }
  EXPECT_EQ(ids_of(reader_->orders(filter(mo->id, {}, {}))), ids_of(all));
  EXPECT_TRUE(ids_of(reader_->orders(filter(dana->id, {}, {}))).empty());
  EXPECT_EQ(ids_of(reader_->orders(filter({}, cvm_id, OrderStatus::Error))),
            std::vector<std::uint64_t>{failed_order});
  EXPECT_TRUE(ids_of(reader_->orders(filter({}, filled(0x01), {}))).empty());
  EXPECT_EQ(ids_of(reader_->orders(filter({}, {}, {}, failed_order, 2))),
            (std::vector<std::uint64_t>{failed_order, service_order}));
  EXPECT_EQ(ids_of(reader_->orders(filter({}, {}, {}, failed_order + 1))),
            (std::vector<std::uint64_t>{service_order, canceled_order}));
  auto none = reader_->orders(filter({}, {}, {}, 0, 0));
  ASSERT_TRUE(none) << none.error().message;
  EXPECT_TRUE(none->empty());
}

TEST_F(EvmReaderTest, shouldListCountedOrdersWhenLimitedGrantUsed) {
  ASSERT_NO_FATAL_FAILURE(drive());
  auto limited = reader_->grant(g1, dana->id);
  ASSERT_TRUE(limited) << limited.error().message;
  ASSERT_TRUE(*limited);
  EXPECT_EQ(**limited, (Grant{g1, dana->id, {done_order, failed_order}, false, 0}));
  // Used without a limit: nothing is counted, so there is no grant.
  auto unlimited = reader_->grant(g2, dana->id);
  ASSERT_TRUE(unlimited) << unlimited.error().message;
  EXPECT_FALSE(*unlimited);
  auto revoked = reader_->grant(g3, dana->id);
  ASSERT_TRUE(revoked) << revoked.error().message;
  ASSERT_TRUE(*revoked);
  EXPECT_EQ(**revoked, (Grant{g3, dana->id, {}, true, s_.time["revoke"]}));
  // Keyed by owner: another owner's entry is another grant.
  auto other = reader_->grant(g1, mo->id);
  ASSERT_TRUE(other) << other.error().message;
  EXPECT_FALSE(*other);
}

TEST_F(EvmReaderTest, shouldReturnNulloptWhenEntitiesDoNotExist) {
  ASSERT_NO_FATAL_FAILURE(drive());
  const std::uint64_t missing = 12345;
  auto offer = reader_->offer(missing);
  ASSERT_TRUE(offer) << offer.error().message;
  EXPECT_FALSE(*offer);
  // A record that exists but made no offer.
  auto not_offer = reader_->offer(done_order);
  ASSERT_TRUE(not_offer) << not_offer.error().message;
  EXPECT_FALSE(*not_offer);
  auto c = reader_->cvm(filled(0x42));
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_FALSE(*c);
  auto o = reader_->order(missing);
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_FALSE(*o);
  auto r = reader_->report(missing);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_FALSE(*r);
  auto subs = reader_->subscriptions(missing);
  ASSERT_TRUE(subs) << subs.error().message;
  EXPECT_TRUE(subs->empty());
  auto g = reader_->grant(filled(0x43), dana->id);
  ASSERT_TRUE(g) << g.error().message;
  EXPECT_FALSE(*g);
}

TEST_F(EvmReaderTest, shouldFailClearlyWhenNoContractAtAddress) {
  ContractReader nowhere(*rpc_, deployer_->address());
  auto info = nowhere.info();
  ASSERT_FALSE(info);
  EXPECT_EQ(info.error().code, "ledger.evm");
  EXPECT_NE(info.error().message.find("no WardLedger contract at " + deployer_->address().to_checksum()),
            std::string::npos)
      << info.error().message;
  auto account = nowhere.account(filled(0x11));
  ASSERT_FALSE(account);
  EXPECT_EQ(account.error().code, "ledger.evm");
}

TEST_F(EvmReaderTest, shouldFailWhenEventsAreBeforeTheBlockItSearchesFrom) {
  ASSERT_NO_FATAL_FAILURE(drive());
  auto head = rpc_->block_number();
  ASSERT_TRUE(head);
  ContractReader late(*rpc_, contract_, *head + 1);
  auto a = late.account(dana->id);
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().code, "ledger.evm");
  EXPECT_NE(a.error().message.find("events and state disagree"), std::string::npos) << a.error().message;
}

TEST_F(EvmReaderTest, shouldFailClosedWhenCertificateHashDisagreesWithEvents) {
  ASSERT_NO_FATAL_FAILURE(drive());
  ASSERT_NO_FATAL_FAILURE(poke(mapping_slot(cvm_id, kCvmsSlot, kCvmCertificateSha256),
                               crypto::sha256(as_bytes(kCert2)), filled(0xee)));
  auto c = reader_->cvm(cvm_id);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, "ledger.evm");
  EXPECT_NE(c.error().message.find("certificateSha256"), std::string::npos) << c.error().message;
  EXPECT_FALSE(reader_->cvms());
}

TEST_F(EvmReaderTest, shouldFailClosedWhenEngineHashDisagreesWithEvents) {
  ASSERT_NO_FATAL_FAILURE(drive());
  ASSERT_NO_FATAL_FAILURE(poke(mapping_slot(word(done_order), kOrdersSlot, kOrderEngineHash),
                               chain::keccak256(as_bytes(kEngine)), filled(0xee)));
  auto o = reader_->order(done_order);
  ASSERT_FALSE(o);
  EXPECT_EQ(o.error().code, "ledger.evm");
  EXPECT_NE(o.error().message.find("engineHash"), std::string::npos) << o.error().message;
  EXPECT_FALSE(reader_->orders({}));
  EXPECT_TRUE(reader_->order(failed_order));
}

TEST_F(EvmReaderTest, shouldFailClosedWhenReportHashDisagreesWithEvents) {
  ASSERT_NO_FATAL_FAILURE(drive());
  ASSERT_NO_FATAL_FAILURE(poke(mapping_slot(word(done_order), kOrdersSlot, kOrderReportSha256),
                               crypto::sha256(as_bytes(kReport)), filled(0xee)));
  auto r = reader_->report(done_order);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, "ledger.evm");
  EXPECT_NE(r.error().message.find("reportSha256"), std::string::npos) << r.error().message;
}

}  // namespace
}  // namespace ward::ledger::evm
