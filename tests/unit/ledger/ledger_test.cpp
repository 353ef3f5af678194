#include "ledger/ledger.h"

#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <set>
#include <sqlite3.h>
#include <sstream>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>

#include <gtest/gtest.h>

#include "crypto/random.h"
#include "ledger/checkpoint.h"
#include "ledger_testing.h"

namespace ward::ledger {
namespace {

using testing::json;
using testing::Party;

std::filesystem::path temp_dir() {
  auto dir = std::filesystem::temp_directory_path() / ("ward-ledger-" + hex_encode(crypto::random_bytes(8)));
  std::filesystem::create_directories(dir);
  return dir;
}

// Runs SQL on a closed ledger's file, as an attacker or a bad disk would.
void tamper(const std::filesystem::path& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* message = nullptr;
  EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &message), SQLITE_OK) << (message ? message : "");
  sqlite3_free(message);
  sqlite3_close(db);
}

class LedgerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = temp_dir();
    path = dir / "ward.db";
    auto l = Ledger::init(path, true);
    ASSERT_TRUE(l) << l.error().message;
    ledger.emplace(std::move(*l));
  }
  void TearDown() override {
    ledger.reset();
    std::filesystem::remove_all(dir);
  }

  void reopen() {
    ledger.reset();
    auto l = Ledger::open(path);
    ASSERT_TRUE(l) << l.error().message;
    ledger.emplace(std::move(*l));
  }

  Receipt submit(Party& p, std::string_view type, json args,
                 std::optional<std::uint64_t> nonce = std::nullopt) {
    auto r = ledger->submit(testing::signed_tx(ledger->info().id, p, type, std::move(args), nonce));
    EXPECT_TRUE(r) << r.error().message;
    if (!r) return Receipt{Rejection{"error", r.error().message}, 0, {}, {}};
    if (r->accepted()) p.nonce = nonce.value_or(p.nonce + 1);
    return *r;
  }

  void ok(Party& p, std::string_view type, json args) {
    const Receipt r = submit(p, type, std::move(args));
    ASSERT_TRUE(r.accepted()) << type << ": " << r.rejection->reason << ": " << r.rejection->message;
  }

  Party account(std::uint64_t balance = 0) {
    Party p;
    ok(p, "accounts.register", {{"recipient", p.recipient()}});
    if (balance > 0) ok(p, "accounts.fund", {{"to", p.hex()}, {"amount", balance}});
    return p;
  }

  void expect_verified() {
    auto report = ledger->verify();
    ASSERT_TRUE(report) << report.error().message;
    EXPECT_TRUE(report->ok) << report->problem;
  }

  std::filesystem::path dir;
  std::filesystem::path path;
  std::optional<Ledger> ledger;
};

TEST_F(LedgerTest, InitShouldRefuseAnExistingFile) {
  auto again = Ledger::init(path, true);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, "ledger.exists");
}

TEST_F(LedgerTest, InitShouldCreateAPrivateFile) {
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u) << "the file holds the checkpoint-signing seed";
}

TEST_F(LedgerTest, OpenShouldRefuseMissingOrForeignFiles) {
  EXPECT_FALSE(Ledger::open(dir / "missing.db"));
  std::ofstream(dir / "junk.db") << "not a database";
  EXPECT_FALSE(Ledger::open(dir / "junk.db"));
}

TEST_F(LedgerTest, ShouldStartWithASignedEmptyCheckpoint) {
  EXPECT_EQ(ledger->size(), 0u);
  auto key = parse_verifier_key(ledger->verifier_key());
  ASSERT_TRUE(key);
  auto body = open_note(ledger->latest_checkpoint(), std::vector<NoteVerifier>{*key});
  ASSERT_TRUE(body) << body.error().message;
  auto cp = parse_checkpoint(*body);
  ASSERT_TRUE(cp);
  EXPECT_EQ(cp->origin, ledger->origin());
  EXPECT_EQ(cp->size, 0u);
  expect_verified();
}

TEST_F(LedgerTest, AcceptedReceiptShouldProveInclusionUnderItsCheckpoint) {
  Party a = account(100);
  Party b = account();
  const Receipt r = submit(a, "accounts.transfer", {{"to", b.hex()}, {"amount", 30}});
  ASSERT_TRUE(r.accepted());
  auto key = parse_verifier_key(ledger->verifier_key());
  ASSERT_TRUE(key);
  auto body = open_note(r.checkpoint, std::vector<NoteVerifier>{*key});
  ASSERT_TRUE(body) << body.error().message;
  auto cp = parse_checkpoint(*body);
  ASSERT_TRUE(cp);
  EXPECT_EQ(cp->size, r.index + 1);
  auto record = ledger->record(r.index);
  ASSERT_TRUE(record && *record);
  EXPECT_EQ(leaf_hash(as_bytes((*record)->bytes)), r.leaf);
  auto proof = ledger->inclusion_proof(r.index, cp->size);
  ASSERT_TRUE(proof) << proof.error().message;
  EXPECT_TRUE(verify_inclusion(r.index, cp->size, r.leaf, *proof, cp->root));
  EXPECT_EQ(ledger->account(b.id())->value().balance, 30u);
  EXPECT_EQ(ledger->account(a.id())->value().balance, 70u);
}

TEST_F(LedgerTest, RejectionsShouldCarryAReasonAndLeaveNoTrace) {
  Party a = account(100);
  Party b = account();
  const std::uint64_t size = ledger->size();
  const std::string checkpoint = ledger->latest_checkpoint();
  const auto reason_of = [&](const std::string& text) {
    auto r = ledger->submit(text);
    EXPECT_TRUE(r);
    return r && r->rejection ? r->rejection->reason : std::string();
  };
  const json t = {{"to", b.hex()}, {"amount", 1}};
  EXPECT_EQ(reason_of(testing::signed_tx(LedgerId{1}, a, "accounts.transfer", t)), reason::kWrongLedger);
  EXPECT_EQ(reason_of(testing::signed_tx(ledger->info().id, a, "accounts.transfer", t, a.nonce)),
            reason::kBadNonce);
  EXPECT_EQ(reason_of(testing::signed_tx(ledger->info().id, a, "accounts.transfer",
                                         {{"to", b.hex()}, {"amount", 101}})),
            reason::kInsufficientFunds);
  EXPECT_EQ(reason_of("{\"tx\":"), reason::kMalformed);
  EXPECT_EQ(reason_of(std::string(kMaxEnvelopeSize + 1, ' ')), reason::kTooLarge);
  Party stranger;
  EXPECT_EQ(reason_of(testing::envelope(
                testing::tx_json(ledger->info().id, a, a.nonce + 1, "accounts.transfer", t), stranger.key)),
            reason::kBadSignature);
  EXPECT_EQ(ledger->size(), size);
  EXPECT_EQ(ledger->latest_checkpoint(), checkpoint);
  EXPECT_EQ(ledger->account(a.id())->value().balance, 100u);
  expect_verified();
}

TEST_F(LedgerTest, ProductionLedgerShouldHaveNoFaucet) {
  ledger.reset();
  auto prod = Ledger::init(dir / "prod.db", false);
  ASSERT_TRUE(prod);
  Party a;
  ASSERT_TRUE(prod->submit(testing::signed_tx(prod->info().id, a, "accounts.register",
                                              {{"recipient", a.recipient()}}))
                  ->accepted());
  a.nonce = 1;
  auto r =
      prod->submit(testing::signed_tx(prod->info().id, a, "accounts.fund", {{"to", a.hex()}, {"amount", 1}}));
  ASSERT_TRUE(r);
  ASSERT_TRUE(r->rejection);
  EXPECT_EQ(r->rejection->reason, reason::kDevOnly);
}

TEST_F(LedgerTest, ReopenShouldKeepStateAndTheLogShouldOnlyGrow) {
  Party a = account(100);
  Party b = account();
  const std::string old_note = ledger->latest_checkpoint();
  const std::uint64_t old_size = ledger->size();
  reopen();
  EXPECT_EQ(ledger->size(), old_size);
  EXPECT_EQ(ledger->latest_checkpoint(), old_note);
  ok(a, "accounts.transfer", {{"to", b.hex()}, {"amount", 5}});
  auto key = parse_verifier_key(ledger->verifier_key());
  ASSERT_TRUE(key);
  const std::vector<NoteVerifier> keys{*key};
  auto c1 = parse_checkpoint(open_note(old_note, keys).value()).value();
  auto c2 = parse_checkpoint(open_note(ledger->latest_checkpoint(), keys).value()).value();
  auto proof = ledger->consistency_proof(c1.size, c2.size);
  ASSERT_TRUE(proof) << proof.error().message;
  EXPECT_TRUE(verify_consistency(c1.size, c2.size, c1.root, c2.root, *proof));
  EXPECT_EQ(ledger->account(b.id())->value().balance, 5u);
  expect_verified();
}

TEST_F(LedgerTest, QueriesShouldReturnTheState) {
  Party provider = account();
  const std::uint64_t tee = ledger->size();
  ok(provider, "offers.create",
     {{"kind", "tee"},
      {"name", "h100"},
      {"resource", "r"},
      {"price", {{"model", "per_hour"}, {"amount", 60}}}});
  Party vm;
  ok(provider, "cvms.register",
     {{"key", vm.hex()}, {"recipient", vm.recipient()}, {"certificate", "PEM"}, {"offer", tee}});
  Party alice = account(100);
  const CvmId cvm_id = crypto::sha256(vm.id());
  const json order = {{"cvm", hex_encode(cvm_id)}, {"engine", "sha256:e"},    {"inputs", json::array()},
                      {"outputs", {"age1o"}},      {"offers", json::array()}, {"deposit", 10}};
  const std::uint64_t first = ledger->size();
  ok(alice, "orders.create", order);
  ok(alice, "orders.create", order);
  ok(vm, "orders.start", {{"order", first}});
  EXPECT_EQ(ledger->offers()->size(), 1u);
  EXPECT_EQ(ledger->offer(tee)->value().name, "h100");
  EXPECT_EQ(ledger->cvms()->size(), 1u);
  EXPECT_EQ(ledger->cvm(cvm_id)->value().certificate, "PEM");
  EXPECT_EQ(ledger->orders(OrderFilter{alice.id(), {}, {}, 0, 100})->size(), 2u);
  EXPECT_EQ(ledger->orders(OrderFilter{{}, cvm_id, OrderStatus::Processing, 0, 100})->size(), 1u);
  EXPECT_EQ(ledger->orders(OrderFilter{provider.id(), {}, {}, 0, 100})->size(), 0u);
  EXPECT_EQ(ledger->order(first)->value().status, OrderStatus::Processing);
  EXPECT_FALSE(ledger->order(9999)->has_value());
  EXPECT_EQ(ledger->totals()->escrow, 20u);
  EXPECT_EQ(ledger->records_from(0, 3)->size(), 3u);
  EXPECT_EQ(to_json(ledger->records_from(0, 1)->front())["record"]["index"], 0);
  expect_verified();
}

TEST_F(LedgerTest, WaitForRecordsShouldWakeOnCommit) {
  const std::uint64_t size = ledger->size();
  EXPECT_EQ(ledger->wait_for_records(size, std::chrono::milliseconds(10)), size);
  std::jthread writer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    Party p;
    (void)ledger->submit(
        testing::signed_tx(ledger->info().id, p, "accounts.register", {{"recipient", p.recipient()}}));
  });
  EXPECT_EQ(ledger->wait_for_records(size, std::chrono::seconds(10)), size + 1);
}

TEST_F(LedgerTest, ConcurrentSubmittersShouldLoseAndDuplicateNothing) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 150;
  Party sink = account();
  std::vector<Party> parties;
  for (int t = 0; t < kThreads; ++t) parties.push_back(account(kPerThread));
  const std::uint64_t start = ledger->size();
  std::vector<std::vector<std::uint64_t>> indices(kThreads);
  {
    std::vector<std::jthread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        Party& p = parties[t];
        for (int i = 0; i < kPerThread; ++i) {
          auto r = ledger->submit(testing::signed_tx(ledger->info().id, p, "accounts.transfer",
                                                     {{"to", sink.hex()}, {"amount", 1}}));
          if (r && r->accepted()) {
            ++p.nonce;
            indices[t].push_back(r->index);
          }
        }
      });
    }
  }
  std::set<std::uint64_t> all;
  for (const auto& v : indices) {
    EXPECT_EQ(v.size(), static_cast<std::size_t>(kPerThread));
    EXPECT_TRUE(std::is_sorted(v.begin(), v.end()));
    all.insert(v.begin(), v.end());
  }
  EXPECT_EQ(all.size(), static_cast<std::size_t>(kThreads * kPerThread)) << "an index was handed out twice";
  EXPECT_EQ(ledger->size(), start + kThreads * kPerThread);
  EXPECT_EQ(*all.begin(), start);
  EXPECT_EQ(*all.rbegin(), ledger->size() - 1);
  EXPECT_EQ(ledger->account(sink.id())->value().balance, static_cast<std::uint64_t>(kThreads * kPerThread));
  expect_verified();
}

TEST_F(LedgerTest, SubmitManyShouldKeepOrderAndMixRejections) {
  Party a = account(10);
  Party b = account();
  const LedgerId id = ledger->info().id;
  std::vector<std::string> batch;
  for (std::uint64_t n = 1; n <= 5; ++n) {
    batch.push_back(
        testing::signed_tx(id, a, "accounts.transfer", {{"to", b.hex()}, {"amount", 3}}, a.nonce + n));
  }
  batch.insert(batch.begin() + 2, "garbage");
  auto receipts = ledger->submit_many(batch);
  ASSERT_TRUE(receipts) << receipts.error().message;
  ASSERT_EQ(receipts->size(), 6u);
  EXPECT_TRUE((*receipts)[0].accepted());
  EXPECT_TRUE((*receipts)[1].accepted());
  EXPECT_EQ((*receipts)[2].rejection->reason, reason::kMalformed);
  EXPECT_TRUE((*receipts)[3].accepted());
  EXPECT_EQ((*receipts)[4].rejection->reason, reason::kInsufficientFunds);
  EXPECT_EQ((*receipts)[5].rejection->reason, reason::kBadNonce);
  EXPECT_EQ(ledger->account(b.id())->value().balance, 9u);
  expect_verified();
}

TEST_F(LedgerTest, VerifyShouldNameATamperedBalance) {
  Party a = account(100);
  ledger.reset();
  tamper(path, "UPDATE accounts SET balance = 1000 WHERE balance = 100");
  reopen();
  auto report = ledger->verify();
  ASSERT_TRUE(report);
  EXPECT_FALSE(report->ok);
  EXPECT_NE(report->problem.find("account " + a.hex() + ": balance: stored 1000, replayed 100"),
            std::string::npos)
      << report->problem;
}

TEST_F(LedgerTest, VerifyShouldCatchATamperedRecord) {
  Party a = account(100);
  ledger.reset();
  tamper(path, "UPDATE records SET bytes = replace(bytes, '\"amount\":100', '\"amount\":900') WHERE idx = 1");
  reopen();
  auto report = ledger->verify();
  ASSERT_TRUE(report);
  EXPECT_FALSE(report->ok);
  EXPECT_NE(report->problem.find("record 1"), std::string::npos) << report->problem;
}

TEST_F(LedgerTest, VerifyShouldCatchARemovedCheckpointSignature) {
  account(1);
  ledger.reset();
  tamper(path, "UPDATE checkpoints SET note = replace(note, '—', '-') WHERE size = 1");
  reopen();
  auto report = ledger->verify();
  ASSERT_TRUE(report);
  EXPECT_FALSE(report->ok);
  EXPECT_NE(report->problem.find("checkpoint at size 1"), std::string::npos) << report->problem;
}

// A provider, its CVM and a funded creator on the file ledger, for the
// order-driven transactions.
class LedgerOrderTest : public LedgerTest {
 protected:
  void SetUp() override {
    LedgerTest::SetUp();
    provider = account();
    const std::uint64_t tee = ledger->size();
    ok(provider, "offers.create",
       {{"kind", "tee"},
        {"name", "h100"},
        {"resource", "r"},
        {"price", {{"model", "fixed"}, {"amount", 3}}}});
    ok(provider, "cvms.register",
       {{"key", vm.hex()}, {"recipient", vm.recipient()}, {"certificate", "PEM"}, {"offer", tee}});
    creator = account(100);
    alice = account();
  }

  std::uint64_t processing_order() {
    const std::uint64_t id = ledger->size();
    ok(creator, "orders.create",
       {{"cvm", hex_encode(crypto::sha256(vm.id()))},
        {"engine", "sha256:e"},
        {"inputs", json::array()},
        {"outputs", {"age1o"}},
        {"offers", json::array()},
        {"deposit", 10}});
    ok(vm, "orders.start", {{"order", id}});
    return id;
  }

  std::string reason_of(Party& p, std::string_view type, json args) {
    const Receipt r = submit(p, type, std::move(args));
    return r.rejection ? r.rejection->reason : std::string();
  }

  json grant_entry(const GrantId& id, std::uint64_t uses) {
    return {{"id", hex_encode(id)}, {"owner", alice.hex()}, {"uses", uses}};
  }

  Party provider, vm, creator, alice;
  const GrantId grant = crypto::sha256(Bytes{7});
};

TEST_F(LedgerOrderTest, ShouldSettleOnlyAConsistentReport) {
  const std::uint64_t first = processing_order();
  const std::uint64_t second = processing_order();
  const json first_report = testing::signed_report(ledger->info().id, first, vm, "sha256:e");
  EXPECT_EQ(reason_of(vm, "reports.submit", {{"order", second}, {"report", first_report}}),
            reason::kReportMismatch);
  EXPECT_EQ(ledger->order(second)->value().status, OrderStatus::Processing);
  EXPECT_FALSE(ledger->report(second)->has_value());
  EXPECT_EQ(ledger->account(provider.id())->value().balance, 0u);
  EXPECT_EQ(reason_of(vm, "reports.submit", {{"order", first}, {"report", first_report}}), "");
  EXPECT_EQ(ledger->report(first)->value().report, canonical_json(first_report));
  EXPECT_EQ(ledger->account(provider.id())->value().balance, 3u);
  expect_verified();
}

TEST_F(LedgerOrderTest, ARenewedCertificateShouldBeStoredAndReplayedByVerify) {
  // Registered with "PEM", which the contract never reads: the first renewal replaces it.
  const auto expiry = std::chrono::sys_seconds(std::chrono::seconds(1'900'000'000));
  const std::string renewed = testing::cvm_certificate(vm.key, vm.recipient(), expiry);
  ok(vm, "cvms.update", {{"certificate", renewed}});
  EXPECT_EQ(reason_of(vm, "cvms.update",
                      {{"certificate", testing::cvm_certificate(vm.key, vm.recipient(), expiry)}}),
            reason::kBadState);
  reopen();
  EXPECT_EQ(ledger->cvm(crypto::sha256(vm.id()))->value().certificate, renewed);
  expect_verified();
}

TEST_F(LedgerOrderTest, GrantsShouldBeStoredAndReplayedByVerify) {
  const std::uint64_t first = processing_order();
  const std::uint64_t second = processing_order();
  ok(vm, "grants.use", {{"order", first}, {"grants", json::array({grant_entry(grant, 1)})}});
  ok(vm, "grants.use", {{"order", first}, {"grants", json::array({grant_entry(grant, 1)})}});
  EXPECT_EQ(
      reason_of(vm, "grants.use", {{"order", second}, {"grants", json::array({grant_entry(grant, 1)})}}),
      reason::kUsedUp);
  ok(alice, "grants.revoke", {{"grant", hex_encode(grant)}});
  EXPECT_EQ(
      reason_of(vm, "grants.use", {{"order", second}, {"grants", json::array({grant_entry(grant, 0)})}}),
      reason::kRevoked);
  reopen();
  const Grant g = ledger->grant(grant, alice.id())->value();
  EXPECT_EQ(g.orders, std::vector<std::uint64_t>{first});
  EXPECT_TRUE(g.revoked);
  EXPECT_GT(g.revoked_at, 0u);
  EXPECT_FALSE(ledger->grant(grant, creator.id())->has_value());
  expect_verified();
}

TEST_F(LedgerOrderTest, VerifyShouldNameATamperedGrant) {
  const std::uint64_t id = processing_order();
  ok(vm, "grants.use", {{"order", id}, {"grants", json::array({grant_entry(grant, 2)})}});
  const std::string name = "grant " + hex_encode(grant) + " of owner " + alice.hex();
  ledger.reset();
  tamper(path, "UPDATE grants SET orders = '[]'");
  reopen();
  auto report = ledger->verify();
  ASSERT_TRUE(report);
  EXPECT_FALSE(report->ok);
  EXPECT_NE(report->problem.find(name + ": orders: stored [], replayed [" + std::to_string(id) + "]"),
            std::string::npos)
      << report->problem;
  ledger.reset();
  tamper(path, "DELETE FROM grants");
  reopen();
  report = ledger->verify();
  ASSERT_TRUE(report);
  EXPECT_NE(report->problem.find(name + " is replayed but not stored"), std::string::npos) << report->problem;
}

TEST_F(LedgerOrderTest, ALedgerMadeBeforeGrantsShouldGainTheirTableOnOpen) {
  const std::uint64_t id = processing_order();
  ledger.reset();
  tamper(path, "DROP TABLE grants");
  reopen();
  expect_verified();
  ok(vm, "grants.use", {{"order", id}, {"grants", json::array({grant_entry(grant, 1)})}});
  ok(alice, "grants.revoke", {{"grant", hex_encode(crypto::sha256(Bytes{8}))}});
  EXPECT_EQ(ledger->grant(grant, alice.id())->value().orders, std::vector<std::uint64_t>{id});
  expect_verified();
}

// A service order through the file ledger: created, started, asked to stop,
// ended; what the store keeps must be what replaying the log rebuilds.
class LedgerServiceTest : public LedgerOrderTest {
 protected:
  const std::string kKey = std::string(64, 'c');

  std::uint64_t service_order(json serve) {
    const std::uint64_t id = ledger->size();
    ok(creator, "orders.create",
       {{"cvm", hex_encode(crypto::sha256(vm.id()))},
        {"engine", "sha256:e"},
        {"inputs", {"grant-1"}},
        {"outputs", json::array()},
        {"offers", json::array()},
        {"deposit", 10},
        {"serve", std::move(serve)}});
    ok(vm, "orders.start", {{"order", id}});
    return id;
  }

  json service_report(std::uint64_t order) {
    return testing::sign_report_body(
        testing::service_report_body(ledger->info().id, order, vm, "sha256:e", kKey, {std::string(64, 'd')}),
        vm);
  }
};

TEST_F(LedgerServiceTest, ShouldStoreAServiceAndRebuildItByReplay) {
  const std::uint64_t id = service_order({{"access", "accounts"}, {"accounts", {alice.hex()}}});
  const json start_report = service_report(id);
  ok(vm, "services.start", {{"order", id}, {"report", start_report}});
  ok(creator, "orders.cancel", {{"order", id}});
  const Order running = ledger->order(id)->value();
  ASSERT_TRUE(running.serve);
  EXPECT_EQ(running.serve->rule, (ServeRule{ServiceAccess::Accounts, {alice.id()}}));
  EXPECT_EQ(hex_encode(running.serve->tls_key_sha256.value()), kKey);
  crypto::Sha256Digest input;
  input.fill(0xdd);
  EXPECT_EQ(running.serve->inputs, std::vector{input});
  EXPECT_TRUE(running.serve->serving_since);
  EXPECT_TRUE(running.serve->cancel_requested);
  expect_verified();
  ok(vm, "reports.submit", {{"order", id}, {"report", service_report(id)}});
  const std::uint64_t batch = processing_order();
  reopen();
  const Order done = ledger->order(id)->value();
  EXPECT_EQ(done.status, OrderStatus::Done);
  EXPECT_EQ(done.serve, running.serve);
  EXPECT_EQ(ledger->start_report(id)->value().report, canonical_json(start_report));
  EXPECT_FALSE(ledger->start_report(batch)->has_value());
  EXPECT_FALSE(ledger->order(batch)->value().serve);
  OrderFilter filter;
  filter.status = OrderStatus::Done;
  const auto listed = ledger->orders(filter).value();
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0], done);
  expect_verified();
}

TEST_F(LedgerServiceTest, VerifyShouldNameATamperedServiceOrStartReport) {
  const std::uint64_t id = service_order({{"access", "public"}});
  ok(vm, "services.start", {{"order", id}, {"report", service_report(id)}});
  ledger.reset();
  tamper(path, "UPDATE orders SET serve = replace(serve, '" + kKey + "', '" + std::string(64, 'e') + "')");
  reopen();
  auto report = ledger->verify();
  ASSERT_TRUE(report);
  EXPECT_NE(report->problem.find("order " + std::to_string(id) + ": serve:"), std::string::npos)
      << report->problem;
  ledger.reset();
  tamper(path, "UPDATE orders SET serve = replace(serve, '" + std::string(64, 'e') + "', '" + kKey + "')");
  tamper(path, "DELETE FROM start_reports");
  reopen();
  report = ledger->verify();
  ASSERT_TRUE(report);
  EXPECT_NE(report->problem.find("start report " + std::to_string(id) + " is replayed but not stored"),
            std::string::npos)
      << report->problem;
}

// A split service's workers and where they joined live in the orders.serve
// column, as to_json writes them, and replay rebuilds them.
TEST_F(LedgerServiceTest, ShouldStoreASplitServicesWorkersAndRebuildThemByReplay) {
  Party worker;
  const std::uint64_t tee = ledger->size();
  ok(provider, "offers.create",
     {{"kind", "tee"},
      {"name", "h100-worker"},
      {"resource", "r"},
      {"price", {{"model", "fixed"}, {"amount", 1}}}});
  ok(provider, "cvms.register",
     {{"key", worker.hex()}, {"recipient", worker.recipient()}, {"certificate", "PEM"}, {"offer", tee}});
  const std::uint64_t id = ledger->size();
  ok(creator, "orders.create",
     {{"cvm", hex_encode(crypto::sha256(vm.id()))},
      {"engine", "sha256:e"},
      {"inputs", {"grant-1"}},
      {"outputs", json::array()},
      {"offers", json::array()},
      {"deposit", 10},
      {"serve", {{"access", "public"}}},
      {"workers", {hex_encode(crypto::sha256(worker.id()))}}});
  ok(vm, "orders.start", {{"order", id}});
  EXPECT_EQ(ledger->order(id)->value().serve->workers,
            (std::vector<Worker>{{crypto::sha256(worker.id()), "", std::nullopt}}));
  ok(worker, "services.join", {{"order", id}, {"endpoint", "10.0.0.2:50052"}});
  const Order joined = ledger->order(id)->value();
  ASSERT_EQ(joined.serve->workers.size(), 1u);
  EXPECT_EQ(joined.serve->workers[0].endpoint, "10.0.0.2:50052");
  EXPECT_TRUE(joined.serve->workers[0].joined_at);
  reopen();
  EXPECT_EQ(ledger->order(id)->value(), joined);
  expect_verified();
  ledger.reset();
  tamper(path, "UPDATE orders SET serve = replace(serve, '10.0.0.2:50052', '10.6.6.6:50052')");
  reopen();
  auto report = ledger->verify();
  ASSERT_TRUE(report);
  EXPECT_NE(report->problem.find("order " + std::to_string(id) + ": serve:"), std::string::npos)
      << report->problem;
}

TEST_F(LedgerServiceTest, ALedgerMadeBeforeServicesShouldGainTheirColumnAndTableOnOpen) {
  const std::uint64_t batch = processing_order();
  ledger.reset();
  tamper(path, "DROP TABLE start_reports; ALTER TABLE orders DROP COLUMN serve");
  reopen();
  expect_verified();
  EXPECT_FALSE(ledger->order(batch)->value().serve);
  const std::uint64_t id = service_order({{"access", "public"}});
  ok(vm, "services.start", {{"order", id}, {"report", service_report(id)}});
  EXPECT_TRUE(ledger->start_report(id)->has_value());
  expect_verified();
}

// A service for subscribers through the file ledger: subscriptions, usage and
// the per-hour charges must be stored as replaying the log rebuilds them.
class LedgerSubscriptionTest : public LedgerServiceTest {
 protected:
  void SetUp() override {
    LedgerServiceTest::SetUp();
    ok(alice, "accounts.fund", {{"to", alice.hex()}, {"amount", 50}});
  }

  std::uint64_t paid_service() {
    const std::uint64_t id =
        service_order({{"access", "subscribers"}, {"price", {{"per_request", 2}, {"per_1k_tokens", 5}}}});
    ok(vm, "services.start", {{"order", id}, {"report", service_report(id)}});
    return id;
  }

  json usage(std::uint64_t requests, std::uint64_t tokens) {
    return json::array(
        {{{"account", alice.hex()}, {"requests", requests}, {"tokens", tokens}, {"bytes", 9}}});
  }
};

TEST_F(LedgerSubscriptionTest, ShouldStoreSubscriptionsAndRebuildThemByReplay) {
  const std::uint64_t id = paid_service();
  ok(alice, "services.subscribe", {{"order", id}, {"deposit", 30}});
  ok(creator, "services.subscribe", {{"order", id}, {"deposit", 5}});
  ok(vm, "services.usage", {{"order", id}, {"usage", usage(3, 1001)}});
  expect_verified();
  reopen();
  const Subscription s = ledger->subscription(id, alice.id())->value();
  EXPECT_EQ(s.deposit, 30u);
  EXPECT_EQ(s.charged, 6u + 6) << "3 * 2 + ceil(1001 * 5 / 1000)";
  EXPECT_EQ(s.requests, 3u);
  EXPECT_EQ(s.tokens, 1001u);
  EXPECT_EQ(s.bytes, 9u);
  EXPECT_FALSE(s.closed);
  const auto all = ledger->subscriptions(id).value();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_LT(all[0].account, all[1].account);
  EXPECT_EQ(all[alice.id() < creator.id() ? 0 : 1], s);
  EXPECT_TRUE(ledger->subscriptions(id + 100).value().empty());
  EXPECT_FALSE(ledger->subscription(id, provider.id()).value());
  EXPECT_EQ(ledger->order(id)->value().serve->revenue, 12u);
  ok(vm, "reports.submit", {{"order", id}, {"report", service_report(id)}});
  reopen();
  EXPECT_TRUE(ledger->subscription(id, alice.id())->value().closed);
  EXPECT_EQ(ledger->subscription(id, alice.id())->value().refund, 30u - 12);
  EXPECT_EQ(ledger->totals()->escrow, 0u);
  expect_verified();
}

// The tee offer is fixed(3) here: paid at the first start, not at the end.
TEST_F(LedgerSubscriptionTest, ShouldStoreWhatAServicePaidAsItRan) {
  const std::uint64_t id = paid_service();
  EXPECT_EQ(ledger->account(provider.id())->value().balance, 3u);
  EXPECT_EQ(ledger->order(id)->value().payments.at(0).amount, 3u);
  ok(alice, "services.subscribe", {{"order", id}, {"deposit", 30}});
  ok(vm, "services.usage", {{"order", id}, {"usage", usage(1, 0)}});
  ok(vm, "reports.submit", {{"order", id}, {"report", service_report(id)}});
  const Order done = ledger->order(id)->value();
  EXPECT_EQ(done.payments.at(0).amount, 3u);
  EXPECT_EQ(done.refund, 7u);
  EXPECT_EQ(ledger->account(provider.id())->value().balance, 3u);
  expect_verified();
}

TEST_F(LedgerSubscriptionTest, VerifyShouldNameATamperedSubscription) {
  const std::uint64_t id = paid_service();
  ok(alice, "services.subscribe", {{"order", id}, {"deposit", 30}});
  ok(vm, "services.usage", {{"order", id}, {"usage", usage(1, 0)}});
  const std::string name = "subscription to order " + std::to_string(id) + " of account " + alice.hex();
  ledger.reset();
  tamper(path, "UPDATE subscriptions SET charged = 1");
  reopen();
  auto report = ledger->verify();
  ASSERT_TRUE(report);
  EXPECT_FALSE(report->ok);
  EXPECT_NE(report->problem.find(name + ": charged: stored 1, replayed 2"), std::string::npos)
      << report->problem;
  ledger.reset();
  tamper(path, "DELETE FROM subscriptions");
  reopen();
  report = ledger->verify();
  ASSERT_TRUE(report);
  EXPECT_NE(report->problem.find(name + " is replayed but not stored"), std::string::npos) << report->problem;
}

TEST_F(LedgerSubscriptionTest, ALedgerMadeBeforeSubscriptionsShouldGainTheirTableOnOpen) {
  const std::uint64_t started = service_order({{"access", "public"}});
  ok(vm, "services.start", {{"order", started}, {"report", service_report(started)}});
  ledger.reset();
  // A service order's terms as the code before subscriptions stored them.
  tamper(path,
         "DROP TABLE subscriptions; UPDATE orders SET serve = json_remove(serve, '$.exhausted_at', "
         "'$.revenue')");
  reopen();
  expect_verified();
  EXPECT_EQ(ledger->order(started)->value().serve->revenue, 0u);
  const std::uint64_t id = paid_service();
  ok(alice, "services.subscribe", {{"order", id}, {"deposit", 30}});
  EXPECT_EQ(ledger->subscriptions(id)->size(), 1u);
  expect_verified();
}

// The crash test: a writer process is SIGKILLed at random points while it
// appends; after each kill every acknowledged transaction must be in the
// reopened ledger, which must verify.
TEST(LedgerCrash, ShouldKeepEveryAcknowledgedTransactionAcrossSigkill) {
  constexpr int kLedgers = 6;
  constexpr int kKillsPerLedger = 20;
  const auto dir = temp_dir();
  std::mt19937_64 rng(std::random_device{}());
  int kills = 0;
  int kills_mid_stream = 0;  // kills after the writer had acknowledged something
  for (int l = 0; l < kLedgers; ++l) {
    const auto path = dir / ("crash-" + std::to_string(l) + ".db");
    Party sender;
    Party receiver;
    {
      auto ledger = Ledger::init(path, true);
      ASSERT_TRUE(ledger);
      const LedgerId id = ledger->info().id;
      for (Party* p : {&sender, &receiver}) {
        ASSERT_TRUE(
            ledger->submit(testing::signed_tx(id, *p, "accounts.register", {{"recipient", p->recipient()}}))
                ->accepted());
        p->nonce = 1;
      }
      ASSERT_TRUE(ledger
                      ->submit(testing::signed_tx(id, sender, "accounts.fund",
                                                  {{"to", sender.hex()}, {"amount", 1 << 30}}))
                      ->accepted());
    }
    std::uint64_t max_acked = 2;
    for (int k = 0; k < kKillsPerLedger; ++k, ++kills) {
      int out[2];
      ASSERT_EQ(::pipe(out), 0);
      const std::string seed = hex_encode(crypto::view(sender.key.seed()));
      const pid_t pid = ::fork();
      ASSERT_GE(pid, 0);
      if (pid == 0) {
        ::dup2(out[1], STDOUT_FILENO);
        ::close(out[0]);
        ::close(out[1]);
        ::execl(WARD_CRASH_WRITER, WARD_CRASH_WRITER, path.c_str(), seed.c_str(), receiver.hex().c_str(),
                nullptr);
        ::_exit(127);
      }
      ::close(out[1]);
      // Most kills land while appending: after the first ack (startup time
      // differs by build), plus a random delay. Every eighth lands early, in
      // startup or the first batch.
      std::string output;
      char buf[4096];
      if (k % 8 != 0) {
        pollfd pfd{out[0], POLLIN, 0};
        if (::poll(&pfd, 1, 20000) > 0) {
          const ssize_t n = ::read(out[0], buf, sizeof buf);
          if (n > 0) output.append(buf, static_cast<std::size_t>(n));
        }
      }
      std::this_thread::sleep_for(std::chrono::microseconds(rng() % 30000));
      ::kill(pid, SIGKILL);
      for (ssize_t n; (n = ::read(out[0], buf, sizeof buf)) > 0;)
        output.append(buf, static_cast<std::size_t>(n));
      ::close(out[0]);
      int status = 0;
      ::waitpid(pid, &status, 0);
      ASSERT_TRUE(WIFSIGNALED(status)) << "the writer stopped by itself: " << output;
      std::set<std::uint64_t> acked;
      std::istringstream lines(output);
      for (std::string word, n; lines >> word >> n;) {
        ASSERT_EQ(word, "ack");
        acked.insert(std::stoull(n));
      }
      auto ledger = Ledger::open(path);
      ASSERT_TRUE(ledger) << ledger.error().message;
      std::set<std::uint64_t> present;
      for (std::uint64_t first = 0; first < ledger->size(); first += 1000) {
        const auto records = ledger->records_from(first, 1000).value();
        for (const auto& r : records) {
          const json tx = json::parse(r.bytes)["tx"];
          if (tx["sender"] == sender.hex()) present.insert(tx["nonce"].get<std::uint64_t>());
        }
      }
      for (const std::uint64_t n : acked)
        ASSERT_TRUE(present.contains(n)) << "acknowledged nonce " << n << " lost";
      const std::uint64_t nonce = ledger->account(sender.id())->value().nonce;
      EXPECT_EQ(nonce, *present.rbegin());
      EXPECT_GE(nonce, max_acked);
      if (!acked.empty()) ++kills_mid_stream;
      max_acked = std::max(max_acked, acked.empty() ? 0 : *acked.rbegin());
      auto report = ledger->verify();
      ASSERT_TRUE(report) << report.error().message;
      ASSERT_TRUE(report->ok) << "after kill " << kills << ": " << report->problem;
    }
  }
  EXPECT_GE(kills, 100);
  EXPECT_GE(kills_mid_stream, kills / 2);
  std::cout << kills << " kills, " << kills_mid_stream << " while appending\n";
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace ward::ledger
