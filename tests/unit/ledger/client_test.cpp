// The HTTP client against a real LedgerServer on loopback: every value it
// decodes must equal what the embedded ledger holds.
#include "ledger/client.h"

#include <httplib.h>

#include <filesystem>
#include <functional>
#include <thread>

#include <gtest/gtest.h>

#include "crypto/random.h"
#include "ledger/server.h"
#include "ledger_testing.h"

namespace ward::ledger {
namespace {

using testing::json;
using testing::Party;

class HttpClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = std::filesystem::temp_directory_path() / ("ward-client-" + hex_encode(crypto::random_bytes(8)));
    std::filesystem::create_directories(dir);
    auto l = Ledger::init(dir / "ward.db", true);
    ASSERT_TRUE(l) << l.error().message;
    ledger.emplace(std::move(*l));
    server.emplace(*ledger);
    auto port = server->bind({"127.0.0.1", 0});
    ASSERT_TRUE(port) << port.error().message;
    serving = std::thread([this] { (void)server->serve(); });
    port_ = *port;
    auto c = open_client("http://127.0.0.1:" + std::to_string(*port));
    ASSERT_TRUE(c) << c.error().message;
    http = std::move(*c);
    embedded = borrow_client(*ledger);
  }

  void TearDown() override {
    http.reset();
    if (server) server->stop();
    if (serving.joinable()) serving.join();
    server.reset();
    embedded.reset();
    ledger.reset();
    std::filesystem::remove_all(dir);
  }

  void ok(Party& p, std::string_view type, json args) {
    auto r = http->submit(testing::signed_tx(ledger->info().id, p, type, std::move(args)));
    ASSERT_TRUE(r) << r.error().message;
    ASSERT_TRUE(r->accepted()) << type << ": " << r->rejection->reason << ": " << r->rejection->message;
    ++p.nonce;
  }

  // `provider` offers a TEE at 60 an hour and lists `vm` as its CVM.
  void list_cvm(Party& provider, Party& vm) {
    const std::uint64_t tee = ledger->size();
    ok(provider, "offers.create",
       {{"kind", "tee"},
        {"name", "h100"},
        {"resource", "r"},
        {"price", {{"model", "per_hour"}, {"amount", 60}}}});
    ok(provider, "cvms.register",
       {{"key", vm.hex()}, {"recipient", vm.recipient()}, {"certificate", "PEM"}, {"offer", tee}});
  }

  std::filesystem::path dir;
  std::optional<Ledger> ledger;
  std::optional<LedgerServer> server;
  std::thread serving;
  std::unique_ptr<LedgerClient> http;
  std::unique_ptr<LedgerClient> embedded;
  int port_ = 0;
};

TEST_F(HttpClientTest, ShouldCarryServiceOrdersAndTheirStartReport) {
  Party provider, vm, creator, alice;
  for (Party* p : {&provider, &creator, &alice}) ok(*p, "accounts.register", {{"recipient", p->recipient()}});
  ok(creator, "accounts.fund", {{"to", creator.hex()}, {"amount", 100}});
  list_cvm(provider, vm);
  json order = {{"cvm", hex_encode(crypto::sha256(vm.id()))},
                {"engine", "sha256:e"},
                {"inputs", {"grant-1"}},
                {"outputs", {"age1o"}},
                {"offers", json::array()},
                {"deposit", 10}};
  const std::uint64_t batch = ledger->size();
  ok(creator, "orders.create", order);
  order["outputs"] = json::array();
  order["serve"] = {{"access", "accounts"}, {"accounts", {alice.hex(), creator.hex()}}};
  const std::uint64_t id = ledger->size();
  ok(creator, "orders.create", order);
  ok(vm, "orders.start", {{"order", id}});

  auto fresh = http->order(id);
  ASSERT_TRUE(fresh && *fresh) << (fresh ? "no order" : fresh.error().message);
  EXPECT_EQ(**fresh, ledger->order(id)->value()) << "a service not yet started";
  auto none = http->start_report(id);
  ASSERT_TRUE(none) << none.error().message;
  EXPECT_FALSE(*none);

  const json report = testing::sign_report_body(
      testing::service_report_body(ledger->info().id, id, vm, "sha256:e", std::string(64, 'a'),
                                   {std::string(64, 'b'), std::string(64, 'c')}),
      vm);
  ok(vm, "services.start", {{"order", id}, {"report", report}});
  ok(creator, "orders.cancel", {{"order", id}});

  const Order stored = ledger->order(id)->value();
  ASSERT_TRUE(stored.serve && stored.serve->started() && stored.serve->cancel_requested);
  auto got = http->order(id);
  ASSERT_TRUE(got && *got) << (got ? "no order" : got.error().message);
  EXPECT_EQ(**got, stored);
  auto start = http->start_report(id);
  ASSERT_TRUE(start && *start) << (start ? "no start report" : start.error().message);
  EXPECT_EQ(**start, ledger->start_report(id)->value());
  EXPECT_EQ((*start)->report, canonical_json(report));
  EXPECT_EQ(**start, embedded->start_report(id)->value());

  auto batch_order = http->order(batch);
  ASSERT_TRUE(batch_order && *batch_order);
  EXPECT_FALSE((*batch_order)->serve);
  auto batch_start = http->start_report(batch);
  ASSERT_TRUE(batch_start);
  EXPECT_FALSE(*batch_start);

  OrderFilter filter;
  filter.creator = creator.id();
  filter.status = OrderStatus::Processing;
  auto listed = http->orders(filter);
  ASSERT_TRUE(listed) << listed.error().message;
  EXPECT_EQ(*listed, std::vector<Order>{stored});
  filter.status = OrderStatus::New;
  listed = http->orders(filter);
  ASSERT_TRUE(listed) << listed.error().message;
  EXPECT_EQ(*listed, std::vector<Order>{ledger->order(batch)->value()});
}

TEST_F(HttpClientTest, ShouldCarryASplitServicesWorkers) {
  Party provider, vm, worker, creator;
  for (Party* p : {&provider, &creator}) ok(*p, "accounts.register", {{"recipient", p->recipient()}});
  ok(creator, "accounts.fund", {{"to", creator.hex()}, {"amount", 100}});
  list_cvm(provider, vm);
  list_cvm(provider, worker);
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
  auto fresh = http->order(id);
  ASSERT_TRUE(fresh && *fresh) << (fresh ? "no order" : fresh.error().message);
  EXPECT_EQ(**fresh, ledger->order(id)->value()) << "a worker not yet joined";
  ASSERT_EQ((*fresh)->serve->workers.size(), 1u);

  ok(worker, "services.join", {{"order", id}, {"endpoint", "[fd00::2]:50052"}});
  const Order stored = ledger->order(id)->value();
  ASSERT_EQ(stored.serve->workers.size(), 1u);
  EXPECT_EQ(stored.serve->workers[0].endpoint, "[fd00::2]:50052");
  auto got = http->order(id);
  ASSERT_TRUE(got && *got) << (got ? "no order" : got.error().message);
  EXPECT_EQ(**got, stored);
  auto listed = http->orders(OrderFilter{});
  ASSERT_TRUE(listed) << listed.error().message;
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ(listed->front(), stored);
}

TEST_F(HttpClientTest, ShouldCarryAServicesSubscriptions) {
  Party provider, vm, creator, alice, bob;
  for (Party* p : {&provider, &creator, &alice, &bob})
    ok(*p, "accounts.register", {{"recipient", p->recipient()}});
  for (Party* p : {&creator, &alice, &bob}) ok(*p, "accounts.fund", {{"to", p->hex()}, {"amount", 100}});
  list_cvm(provider, vm);
  const std::uint64_t id = ledger->size();
  ok(creator, "orders.create",
     {{"cvm", hex_encode(crypto::sha256(vm.id()))},
      {"engine", "sha256:e"},
      {"inputs", {"grant-1"}},
      {"outputs", json::array()},
      {"offers", json::array()},
      {"deposit", 10},
      {"serve", {{"access", "subscribers"}, {"price", {{"per_request", 3}, {"per_1k_tokens", 1}}}}}});
  ok(alice, "services.subscribe", {{"order", id}, {"deposit", 20}});
  ok(bob, "services.subscribe", {{"order", id}, {"deposit", 7}});

  auto listed = http->subscriptions(id);
  ASSERT_TRUE(listed) << listed.error().message;
  EXPECT_EQ(*listed, ledger->subscriptions(id).value());
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ(*listed, embedded->subscriptions(id).value());
  auto one = http->subscription(id, alice.id());
  ASSERT_TRUE(one && *one) << (one ? "no subscription" : one.error().message);
  EXPECT_EQ(**one, ledger->subscription(id, alice.id())->value());
  EXPECT_EQ((*one)->deposit, 20u);
  auto order = http->order(id);
  ASSERT_TRUE(order && *order);
  EXPECT_EQ((*order)->serve->rule, (ServeRule{ServiceAccess::Subscribers, {}, UsagePrice{3, 1}}));

  auto none = http->subscription(id, provider.id());
  ASSERT_TRUE(none) << none.error().message;
  EXPECT_FALSE(*none) << "404 not_found";
  auto empty = http->subscriptions(id + 100);
  ASSERT_TRUE(empty) << empty.error().message;
  EXPECT_TRUE(empty->empty());

  // The routes as any HTTP client sees them.
  httplib::Client raw("127.0.0.1", port_);
  const std::string path = "/v1/subscriptions/" + std::to_string(id);
  auto res = raw.Get(path);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(json::parse(res->body)["subscriptions"].size(), 2u);
  res = raw.Get(path + "?account=" + bob.hex());
  ASSERT_TRUE(res);
  EXPECT_EQ(json::parse(res->body), to_json(ledger->subscription(id, bob.id())->value()));
  res = raw.Get(path + "?account=" + provider.hex());
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
  EXPECT_EQ(
      json::parse(res->body),
      (json{{"error",
             {{"reason", "not_found"},
              {"message", "no subscription of " + provider.hex() + " to order " + std::to_string(id)}}}}));
  for (const std::string& bad : {path + "?account=" + provider.hex().substr(1), path + "?account=",
                                 std::string("/v1/subscriptions/x"), std::string("/v1/subscriptions/01")}) {
    res = raw.Get(bad);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 400) << bad;
    EXPECT_EQ(json::parse(res->body)["error"]["reason"], "bad_request") << bad;
  }
}

TEST_F(HttpClientTest, ShouldCarryAGrantsUsesAndRevocation) {
  Party provider, vm, creator, alice;
  for (Party* p : {&provider, &creator, &alice}) ok(*p, "accounts.register", {{"recipient", p->recipient()}});
  ok(creator, "accounts.fund", {{"to", creator.hex()}, {"amount", 100}});
  list_cvm(provider, vm);
  const std::uint64_t id = ledger->size();
  ok(creator, "orders.create",
     {{"cvm", hex_encode(crypto::sha256(vm.id()))},
      {"engine", "sha256:e"},
      {"inputs", {"grant-1"}},
      {"outputs", {alice.recipient()}},
      {"offers", json::array()},
      {"deposit", 10}});
  ok(vm, "orders.start", {{"order", id}});
  const std::string limited(64, 'a'), revoked(64, 'b');
  ok(vm, "grants.use", {{"order", id}, {"grants", {{{"id", limited}, {"owner", alice.hex()}, {"uses", 2}}}}});
  ok(alice, "grants.revoke", {{"grant", revoked}});

  const auto grant_id = [](const std::string& hex) { return parse_id(hex).value(); };
  auto used = http->grant(grant_id(limited), alice.id());
  ASSERT_TRUE(used && *used) << (used ? "no grant" : used.error().message);
  EXPECT_EQ(**used, ledger->grant(grant_id(limited), alice.id())->value());
  EXPECT_EQ((*used)->orders, std::vector<std::uint64_t>{id});
  EXPECT_FALSE((*used)->revoked);
  auto gone = http->grant(grant_id(revoked), alice.id());
  ASSERT_TRUE(gone && *gone) << (gone ? "no grant" : gone.error().message);
  EXPECT_TRUE((*gone)->revoked);
  EXPECT_NE((*gone)->revoked_at, 0u);
  // Keyed by owner: the same id is another owner's, and unknown.
  auto other = http->grant(grant_id(revoked), creator.id());
  ASSERT_TRUE(other) << other.error().message;
  EXPECT_FALSE(*other);
  EXPECT_EQ(embedded->grant(grant_id(revoked), alice.id()).value(), *gone);

  httplib::Client raw("127.0.0.1", port_);
  for (const std::string& bad : {"/v1/grants/" + revoked, "/v1/grants/" + revoked + "?owner=x",
                                 "/v1/grants/xyz?owner=" + alice.hex()}) {
    auto res = raw.Get(bad);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 400) << bad;
  }
}

TEST_F(HttpClientTest, ShouldCarryOrdersOnATeeOfferAndTheOffersTimeout) {
  Party provider, vm, creator;
  for (Party* p : {&provider, &creator}) ok(*p, "accounts.register", {{"recipient", p->recipient()}});
  ok(creator, "accounts.fund", {{"to", creator.hex()}, {"amount", 100}});
  const std::uint64_t tee = ledger->size();
  ok(provider, "offers.create",
     {{"kind", "tee"},
      {"name", "h100"},
      {"resource", "r"},
      {"price", {{"model", "per_hour"}, {"amount", 60}}},
      {"timeout", 7}});
  ok(provider, "cvms.register",
     {{"key", vm.hex()}, {"recipient", vm.recipient()}, {"certificate", "PEM"}, {"offer", tee}});
  const std::uint64_t id = ledger->size();
  ok(creator, "orders.create",
     {{"offer", tee},
      {"engine", "sha256:e"},
      {"inputs", {"grant-1"}},
      {"outputs", {creator.recipient()}},
      {"offers", json::array()},
      {"deposit", 10}});
  ok(vm, "orders.take", {{"order", id}});
  auto offer = http->offer(tee);
  ASSERT_TRUE(offer && *offer);
  EXPECT_EQ((*offer)->timeout, 7u);
  EXPECT_EQ(**offer, ledger->offer(tee)->value());
  auto order = http->order(id);
  ASSERT_TRUE(order && *order);
  EXPECT_EQ((*order)->tee_offer, tee);
  EXPECT_EQ((*order)->cvm, crypto::sha256(vm.id()));
  EXPECT_EQ(**order, ledger->order(id)->value());
}

// A server that lies: it forwards to a real client, then alters the records
// it sends (`alter_records`) or sends another checkpoint (`checkpoint_note`).
class LyingClient final : public LedgerClient {
 public:
  explicit LyingClient(LedgerClient& real) : real_(real) {}

  std::function<void(std::vector<StoredRecord>&)> alter_records;
  std::optional<std::string> checkpoint_note;

  std::string target() const override { return real_.target(); }
  Result<LedgerSummary> summary() override { return real_.summary(); }
  Result<Receipt> submit(std::string_view envelope) override { return real_.submit(envelope); }
  Result<std::optional<Account>> account(const AccountId& id) override { return real_.account(id); }
  Result<std::vector<Offer>> offers() override { return real_.offers(); }
  Result<std::optional<Offer>> offer(std::uint64_t id) override { return real_.offer(id); }
  Result<std::vector<Order>> orders(const OrderFilter& filter) override { return real_.orders(filter); }
  Result<std::optional<Order>> order(std::uint64_t id) override { return real_.order(id); }
  Result<std::vector<Cvm>> cvms() override { return real_.cvms(); }
  Result<std::optional<Cvm>> cvm(const CvmId& id) override { return real_.cvm(id); }
  Result<std::optional<Report>> report(std::uint64_t order) override { return real_.report(order); }
  Result<std::optional<Report>> start_report(std::uint64_t order) override {
    return real_.start_report(order);
  }
  Result<std::vector<Subscription>> subscriptions(std::uint64_t order) override {
    return real_.subscriptions(order);
  }
  Result<std::optional<Subscription>> subscription(std::uint64_t order, const AccountId& account) override {
    return real_.subscription(order, account);
  }
  Result<std::optional<Grant>> grant(const GrantId& id, const AccountId& owner) override {
    return real_.grant(id, owner);
  }
  Result<std::optional<RecordProof>> record(std::uint64_t index, std::optional<std::uint64_t> size) override {
    return real_.record(index, size);
  }
  Result<std::string> checkpoint() override {
    if (checkpoint_note) return *checkpoint_note;
    return real_.checkpoint();
  }
  Result<std::vector<Hash>> consistency_proof(std::uint64_t old_size, std::uint64_t new_size) override {
    return real_.consistency_proof(old_size, new_size);
  }
  Result<FeedPage> records_after(std::uint64_t first, std::chrono::seconds wait) override {
    auto page = real_.records_after(first, wait);
    if (page && alter_records) alter_records(page->records);
    return page;
  }

 private:
  LedgerClient& real_;
};

class VerifyThroughApiTest : public HttpClientTest {
 protected:
  void SetUp() override {
    HttpClientTest::SetUp();
    auto key = parse_verifier_key(ledger->verifier_key());
    ASSERT_TRUE(key) << key.error().message;
    verifier = std::move(*key);
    for (Party* p : {&alice, &bob}) ok(*p, "accounts.register", {{"recipient", p->recipient()}});
    ok(alice, "accounts.fund", {{"to", alice.hex()}, {"amount", 100}});
    ok(bob, "accounts.fund", {{"to", bob.hex()}, {"amount", 40}});
    ok(alice, "accounts.transfer", {{"to", bob.hex()}, {"amount", 30}});
  }

  // The problem verify_through_api reports through `client`; "" when it passes.
  std::string problem_via(LedgerClient& client) {
    auto report = verify_through_api(client, verifier);
    EXPECT_TRUE(report) << report.error().message;
    if (!report) return "error";
    EXPECT_EQ(report->ok, report->problem.empty());
    return report->problem;
  }

  NoteVerifier verifier;
  Party alice, bob;
};

TEST_F(VerifyThroughApiTest, ShouldPassOverHttpAndEmbedded) {
  for (LedgerClient* client : {http.get(), embedded.get()}) {
    auto report = verify_through_api(*client, verifier);
    ASSERT_TRUE(report) << report.error().message;
    EXPECT_TRUE(report->ok) << report->problem;
    EXPECT_EQ(report->records, ledger->size());
    EXPECT_EQ(report->checkpoints, 1u);
  }
}

TEST_F(VerifyThroughApiTest, ShouldPassOverManyPages) {
  std::vector<std::string> envelopes;
  for (std::size_t i = 0; i < kMaxFeedRecords + 10; ++i) {
    envelopes.push_back(testing::signed_tx(ledger->info().id, bob, "accounts.transfer",
                                           {{"to", alice.hex()}, {"amount", 0}}, bob.nonce + 1 + i));
  }
  auto receipts = ledger->submit_many(envelopes);
  ASSERT_TRUE(receipts) << receipts.error().message;
  for (const auto& r : *receipts) ASSERT_TRUE(r.accepted()) << r.rejection->message;
  auto report = verify_through_api(*http, verifier);
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_TRUE(report->ok) << report->problem;
  EXPECT_EQ(report->records, ledger->size());
}

TEST_F(VerifyThroughApiTest, ShouldFailWhenARecordIsAltered) {
  LyingClient liar(*http);
  liar.alter_records = [](std::vector<StoredRecord>& records) {
    if (records.size() > 2)
      records[2].bytes = records[2].bytes.replace(records[2].bytes.find("100"), 3, "900");
  };
  EXPECT_EQ(problem_via(liar), "record 2: record 2: signature does not verify");
}

TEST_F(VerifyThroughApiTest, ShouldFailWhenALeafIsNotItsRecordsHash) {
  LyingClient liar(*http);
  liar.alter_records = [](std::vector<StoredRecord>& records) {
    if (records.size() > 3) records[3].leaf[0] ^= 1;
  };
  EXPECT_EQ(problem_via(liar), "record 3: stored leaf hash differs from its bytes");
}

TEST_F(VerifyThroughApiTest, ShouldFailWhenRecordsAreWithheldOrOutOfOrder) {
  LyingClient withholds(*http);
  withholds.alter_records = [](std::vector<StoredRecord>& records) {
    std::erase_if(records, [](const StoredRecord& r) { return r.index >= 3; });
  };
  EXPECT_EQ(problem_via(withholds),
            "the ledger sent 3 records; its checkpoint covers " + std::to_string(ledger->size()));

  LyingClient swaps(*http);
  swaps.alter_records = [](std::vector<StoredRecord>& records) {
    if (records.size() > 2) std::swap(records[1], records[2]);
  };
  EXPECT_EQ(problem_via(swaps), "record 1 is missing");

  LyingClient repeats(*http);
  repeats.alter_records = [](std::vector<StoredRecord>& records) {
    if (records.size() > 4) {
      records[4] = records[3];
      records[4].index = 4;
    }
  };
  EXPECT_EQ(problem_via(repeats), "record 4: holds index 3");
}

TEST_F(VerifyThroughApiTest, ShouldFailWhenTheCheckpointIsOfAnotherLog) {
  // Another ledger of the same size, whose key the verifier is given: its
  // checkpoint verifies, but its root is not the one of these records.
  auto other = Ledger::init(dir / "other.db", true);
  ASSERT_TRUE(other) << other.error().message;
  Party carol;
  auto submitted = other->submit(
      testing::signed_tx(other->info().id, carol, "accounts.register", {{"recipient", carol.recipient()}}));
  ASSERT_TRUE(submitted && submitted->accepted());
  ++carol.nonce;
  while (other->size() < ledger->size()) {
    submitted = other->submit(
        testing::signed_tx(other->info().id, carol, "accounts.fund", {{"to", carol.hex()}, {"amount", 1}}));
    ASSERT_TRUE(submitted && submitted->accepted());
    ++carol.nonce;
  }
  auto key = parse_verifier_key(other->verifier_key());
  ASSERT_TRUE(key) << key.error().message;
  verifier = std::move(*key);
  LyingClient liar(*http);
  liar.checkpoint_note = other->latest_checkpoint();
  EXPECT_EQ(problem_via(liar), "checkpoint at size " + std::to_string(ledger->size()) +
                                   ": root differs from the recomputed tree");
}

TEST_F(VerifyThroughApiTest, ShouldAcceptAnOlderCheckpointForTheRecordsItCovers) {
  LyingClient stale(*http);
  stale.checkpoint_note = ledger->latest_checkpoint();
  const std::uint64_t covered = ledger->size();
  ok(alice, "accounts.transfer", {{"to", bob.hex()}, {"amount", 1}});
  auto report = verify_through_api(stale, verifier);
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_TRUE(report->ok) << report->problem;
  EXPECT_EQ(report->records, covered);
}

TEST_F(VerifyThroughApiTest, ShouldFailWhenTheCheckpointIsSignedByAnotherKey) {
  auto other = Ledger::init(dir / "other.db", true);
  ASSERT_TRUE(other) << other.error().message;
  LyingClient liar(*http);
  liar.checkpoint_note = other->latest_checkpoint();
  const std::string problem = problem_via(liar);
  EXPECT_TRUE(problem.starts_with("the latest checkpoint: ")) << problem;
}

TEST(SubscriptionJson, ShouldRefuseWhatToJsonNeverWrites) {
  const Subscription s{7, AccountId{1}, 20, 5, 3, 1001, 9, 100, 200, true, 15};
  const json good = to_json(s);
  EXPECT_EQ(subscription_from_json(good).value(), s);
  const std::vector<std::pair<const char*, json>> bad = {{"order", -1},
                                                         {"account", "AB"},
                                                         {"deposit", "20"},
                                                         {"charged", nullptr},
                                                         {"requests", 1.5},
                                                         {"tokens", json::array()},
                                                         {"bytes", kMaxAmount + 1},
                                                         {"created_at", false},
                                                         {"updated_at", -2},
                                                         {"closed", 1},
                                                         {"refund", "x"}};
  for (const auto& [key, value] : bad) {
    json j = good;
    j[key] = value;
    EXPECT_FALSE(subscription_from_json(j)) << key << " = " << value.dump();
  }
  for (const auto& [key, value] : good.items()) {
    json j = good;
    j.erase(key);
    EXPECT_FALSE(subscription_from_json(j)) << "without " << key;
  }
  json extra = good;
  extra["exhausted"] = false;
  EXPECT_FALSE(subscription_from_json(extra));
  EXPECT_FALSE(subscription_from_json(json::array()));
}

TEST(ServiceTermsJson, ShouldReadPricesAndWhatTheServicePaid) {
  ServiceTerms t;
  t.rule = ServeRule{ServiceAccess::Subscribers, {}, UsagePrice{4, kMaxAmount}};
  t.exhausted_at = 9;
  t.cancel_requested = 9;
  t.revenue = 33;
  const json good = to_json(t);
  EXPECT_EQ(good["price"], (json{{"per_request", 4}, {"per_1k_tokens", kMaxAmount}}));
  EXPECT_EQ(service_terms_from_json(good).value(), t);
  json old = to_json(ServiceTerms{});
  for (const char* key : {"price", "exhausted_at", "revenue"}) old.erase(key);
  EXPECT_EQ(service_terms_from_json(old).value(), ServiceTerms{}) << "the terms of a ledger made before";
  const std::vector<std::pair<const char*, json>> bad = {
      {"access", "subscriber"},
      {"price", {{"per_request", 1}}},
      {"price", {{"per_request", 1}, {"per_1k_tokens", -1}}},
      {"price", {{"per_request", 1}, {"per_1k_tokens", 1}, {"per_byte", 1}}},
      {"exhausted_at", "now"},
      {"revenue", -1},
      {"revenue", kMaxAmount + 1}};
  for (const auto& [key, value] : bad) {
    json j = good;
    j[key] = value;
    EXPECT_FALSE(service_terms_from_json(j)) << key << " = " << value.dump();
  }
  json priced_public = to_json(ServiceTerms{});
  priced_public["price"] = good["price"];
  EXPECT_FALSE(service_terms_from_json(priced_public)) << "only subscribers pay a price";
}

TEST(ServiceTermsJson, ShouldCarryASplitServicesWorkers) {
  ServiceTerms t;
  t.workers = {{CvmId{1}, "10.0.0.2:50052", 7}, {CvmId{2}, "", std::nullopt}};
  const json good = to_json(t);
  EXPECT_EQ(good["workers"], json::parse(R"([{"cvm":")" + hex_encode(CvmId{1}) +
                                         R"(","endpoint":"10.0.0.2:50052","joined_at":7},{"cvm":")" +
                                         hex_encode(CvmId{2}) + R"(","endpoint":null,"joined_at":null}])"));
  EXPECT_EQ(service_terms_from_json(good).value(), t);
  const std::vector<json> bad = {
      json::array(),
      json("x"),
      json::array({json{{"cvm", "AB"}, {"endpoint", nullptr}, {"joined_at", nullptr}}}),
      json::array({json{{"cvm", hex_encode(CvmId{1})}, {"endpoint", ""}, {"joined_at", nullptr}}}),
      json::array({json{{"cvm", hex_encode(CvmId{1})}, {"endpoint", 80}, {"joined_at", nullptr}}}),
      json::array({json{{"cvm", hex_encode(CvmId{1})}, {"endpoint", nullptr}, {"joined_at", "now"}}}),
      json::array({json{{"cvm", hex_encode(CvmId{1})}, {"endpoint", nullptr}, {"joined_at", -1}}}),
      json::array({json{{"cvm", hex_encode(CvmId{1})}, {"endpoint", nullptr}}}),
      json::array(
          {json{{"cvm", hex_encode(CvmId{1})}, {"endpoint", nullptr}, {"joined_at", 1}, {"port", 1}}}),
      json::array({hex_encode(CvmId{1})}),
      json(std::vector<json>(kMaxServiceWorkers + 1, good["workers"][1]))};
  for (const json& workers : bad) {
    json j = good;
    j["workers"] = workers;
    EXPECT_FALSE(service_terms_from_json(j)) << workers.dump().substr(0, 200);
  }
}

// Every ledger made before split services holds terms without "workers":
// they must serialise to the same bytes, so their records' and states'
// hashes do not change.
TEST(ServiceTermsJson, ShouldWriteTermsWithoutWorkersExactlyAsBefore) {
  ServiceTerms t;
  t.rule = ServeRule{ServiceAccess::Subscribers, {}, UsagePrice{1, 2}};
  t.tls_key_sha256 = crypto::Sha256Digest{2};
  t.serving_since = 5;
  t.endpoint = "https://127.0.0.1:1";
  const std::string key = hex_encode(crypto::Sha256Digest{2});
  EXPECT_EQ(
      to_json(t).dump(),
      R"({"access":"subscribers","accounts":[],"cancel_requested":null,"endpoint":"https://127.0.0.1:1",)"
      R"("exhausted_at":null,"inputs":[],"price":{"per_1k_tokens":2,"per_request":1},"revenue":0,)"
      R"("serving_since":5,"tls_key_sha256":")" +
          key + R"("})");
  EXPECT_EQ(to_json(ServiceTerms{}).dump(),
            R"({"access":"public","accounts":[],"cancel_requested":null,"endpoint":null,"exhausted_at":null,)"
            R"("inputs":[],"revenue":0,"serving_since":null,"tls_key_sha256":null})");
  EXPECT_EQ(service_terms_from_json(to_json(t)).value(), t);
}

TEST(ServiceTermsJson, ShouldRefuseWhatToJsonNeverWrites) {
  ServiceTerms t;
  t.rule = ServeRule{ServiceAccess::Accounts, {AccountId{1}}};
  t.tls_key_sha256 = crypto::Sha256Digest{2};
  t.inputs = {crypto::Sha256Digest{3}};
  t.serving_since = 5;
  t.endpoint = "https://127.0.0.1:1";
  const json good = to_json(t);
  EXPECT_EQ(service_terms_from_json(good).value(), t);
  const std::vector<std::pair<const char*, json>> bad = {
      {"access", "anyone"},     {"accounts", "x"}, {"accounts", {"AB"}},
      {"tls_key_sha256", 1},    {"inputs", {1}},   {"serving_since", "soon"},
      {"cancel_requested", -1}, {"endpoint", ""},  {"endpoint", 7}};
  for (const auto& [key, value] : bad) {
    json j = good;
    j[key] = value;
    EXPECT_FALSE(service_terms_from_json(j)) << key << " = " << value.dump();
  }
  for (const char* key :
       {"access", "accounts", "tls_key_sha256", "inputs", "serving_since", "cancel_requested", "endpoint"}) {
    json j = good;
    j.erase(key);
    EXPECT_FALSE(service_terms_from_json(j)) << "without " << key;
  }
  json extra = good;
  extra["note"] = 1;
  EXPECT_FALSE(service_terms_from_json(extra));
}

}  // namespace
}  // namespace ward::ledger
