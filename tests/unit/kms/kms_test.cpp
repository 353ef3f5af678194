// The key broker's documents read as an attacker would send them: the
// broker statement (its CVM certificate under the owner's policy, its
// signature), the release request, and the signed, hash-chained release log;
// and the real broker's release path, in process, against a ledger served
// over HTTP and a file store, as the CVMs of an order (its head, a worker
// of a split order, another CVM) would ask it. The whole path also runs end
// to end in tests/e2e/kms.sh.
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "../ca/fixture.h"
#include "files/grant.h"
#include "files/transfer.h"
#include "kms/broker.h"
#include "ledger/client.h"
#include "ledger/server.h"
#include "ledger/tx.h"
#include "store/store.h"

namespace ward::kms {
namespace {

using json = nlohmann::json;
using ca::testing::CaTest;
using ca::testing::kNow;
using std::chrono::system_clock;

// A log of `n` releases signed by `group`, as a broker writes it.
std::string make_log(const keys::PartyKey& group, int n) {
  std::string text;
  crypto::Sha256Digest prev{};
  for (int i = 0; i < n; ++i) {
    const auto grant = crypto::sha256(as_bytes("grant" + std::to_string(i)));
    const auto ledger = crypto::sha256(as_bytes("ledger"));
    const auto cvm = crypto::sha256(as_bytes("cvm"));
    const std::uint64_t order = 10 + static_cast<std::uint64_t>(i);
    const json entry = {{"index", i},
                        {"prev", hex_encode(prev)},
                        {"time", "2026-03-01T12:00:00Z"},
                        {"broker", hex_encode(crypto::sha256(as_bytes("broker")))},
                        {"grant", hex_encode(grant)},
                        {"owner", hex_encode(crypto::sha256(as_bytes("owner")))},
                        {"ledger", hex_encode(ledger)},
                        {"order", order},
                        {"cvm", hex_encode(cvm)},
                        {"binding", hex_encode(files::release_binding(grant, ledger, order, cvm))}};
    const auto sig =
        group.signing_key().sign(as_bytes(std::string(kEntryDomain) + ledger::canonical_json(entry)));
    const std::string line = ledger::canonical_json(json{{"entry", entry}, {"sig", hex_encode(sig)}});
    prev = crypto::sha256(as_bytes(line));
    text += line + "\n";
  }
  return text;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::size_t at = 0;
  while (at < text.size()) {
    const auto end = text.find('\n', at);
    out.push_back(text.substr(at, end - at));
    at = end + 1;
  }
  return out;
}

std::string join(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

void refused(const Result<std::vector<LogEntry>>& r, const std::string& why) {
  ASSERT_FALSE(r) << why << " was accepted";
  EXPECT_EQ(r.error().code, "kms.log");
  EXPECT_NE(r.error().message.find(why), std::string::npos) << r.error().message;
}

TEST(KmsLogTest, ShouldAcceptTheChainAndRefuseEveryEditOfIt) {
  const auto group = keys::PartyKey::generate();
  const std::string log = make_log(group, 3);
  auto entries = verify_log(log, group.signing_public_key());
  ASSERT_TRUE(entries) << entries.error().message;
  ASSERT_EQ(entries->size(), 3u);
  EXPECT_EQ((*entries)[2].order, 12u);
  EXPECT_TRUE(verify_log("", group.signing_public_key()));

  const auto key = group.signing_public_key();
  refused(verify_log(log, keys::PartyKey::generate().signing_public_key()), "not signed by the broker's group key");
  auto lines = lines_of(log);
  // A release dropped from the middle, or two swapped: the chain breaks.
  refused(verify_log(join({lines[0], lines[2]}), key), "is at position 1");
  refused(verify_log(join({lines[1], lines[0], lines[2]}), key), "is at position 0");
  // The last line cut: incomplete.
  refused(verify_log(log.substr(0, log.size() - 1), key), "not complete");
  // An entry's order changed: its signature fails.
  auto edited = lines;
  edited[1].replace(edited[1].find("\"order\":11"), 10, "\"order\":99");
  refused(verify_log(join(edited), key), "not signed");
  // A signed entry whose binding is not its release's (a broker's bug or lie).
  const json entry = {{"index", 0},
                      {"prev", std::string(64, '0')},
                      {"time", "2026-03-01T12:00:00Z"},
                      {"broker", std::string(64, '1')},
                      {"grant", std::string(64, '2')},
                      {"owner", std::string(64, '3')},
                      {"ledger", std::string(64, '4')},
                      {"order", 1},
                      {"cvm", std::string(64, '5')},
                      {"binding", std::string(64, '6')}};
  const auto sig = group.signing_key().sign(as_bytes(std::string(kEntryDomain) + ledger::canonical_json(entry)));
  refused(verify_log(ledger::canonical_json(json{{"entry", entry}, {"sig", hex_encode(sig)}}) + "\n", key),
          "binding is not its release's");
  // Unknown or missing fields.
  auto extra = json::parse(lines[0]);
  extra["entry"]["note"] = "x";
  refused(verify_log(extra.dump() + "\n", key), "\"note\"");
  refused(verify_log("{}\n", key), "entry");
  refused(verify_log("not json\n", key), "");
}

TEST(KmsRequestTest, ShouldReadOnlyWellFormedRequests) {
  const auto cvm = keys::PartyKey::generate();
  const json good = make_request(cvm, "PEM", 7, 1, "age1x", kNow);
  auto parsed = parse_request(good.dump());
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->order, 7u);
  EXPECT_EQ(parsed->input, 1u);
  EXPECT_EQ(parsed->broker, "age1x");
  EXPECT_TRUE(crypto::ed25519_verify(
      cvm.signing_public_key(), as_bytes(std::string(kRequestDomain) + ledger::canonical_json(parsed->request)),
      parsed->sig));
  for (const auto& [edit, why] : std::vector<std::pair<std::function<void(json&)>, std::string>>{
           {[](json& j) { j["extra"] = 1; }, "\"extra\""},
           {[](json& j) { j.erase("sig"); }, "sig"},
           {[](json& j) { j["request"]["order"] = -1; }, "order"},
           {[](json& j) { j["request"]["time"] = "yesterday"; }, "time"},
           {[](json& j) { j["request"]["grant"] = "x"; }, "\"grant\""},
           {[](json& j) { j["certificate"] = std::string(300000, 'x'); }, "256 KiB"}}) {
    json bad = good;
    edit(bad);
    auto r = parse_request(bad.dump());
    ASSERT_FALSE(r) << why;
    EXPECT_EQ(r.error().code, "kms.request");
    EXPECT_NE(r.error().message.find(why), std::string::npos) << r.error().message;
  }
  EXPECT_FALSE(parse_request(R"({"request": {}, "request": {}})"));
}

class KmsStatementTest : public CaTest {
 protected:
  attest::Policy pinned() const {
    attest::Policy p = ca::testing::sim_policy();
    const auto mrtd = attest::sim::measure(as_bytes("ward-loader"));
    p.allowed_measurements["mrtd"] = {Bytes(mrtd.begin(), mrtd.end())};
    return p;
  }
  CvmCredentials broker() {
    const auto cert = issue_for_cvm();
    return CvmCredentials{cvm_, cert, cert.to_pem()};
  }
};

TEST_F(KmsStatementTest, ShouldTrustOnlyAnAttestedBrokersOwnWord) {
  const auto group = keys::PartyKey::generate();
  const auto b = broker();
  const json doc = make_statement(b, group);
  auto ok = verify_statement(doc, center().certificate(), pinned(), kNow);
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->statement.recipient, group.recipient().to_string());
  EXPECT_EQ(ok->statement.group_key, group.signing_public_key());
  EXPECT_TRUE(ok->appraisal.simulated);

  const auto expect = [&](const json& d, const attest::Policy& policy, const std::string& why) {
    auto r = verify_statement(d, center().certificate(), policy, kNow);
    ASSERT_FALSE(r) << why;
    EXPECT_EQ(r.error().code, "kms.statement");
    EXPECT_NE(r.error().message.find(why), std::string::npos) << r.error().message;
  };
  // A broker of other code, and a policy that pins nothing.
  attest::Policy other = pinned();
  other.allowed_measurements["mrtd"] = {Bytes(48, 7)};
  expect(doc, other, "policy.measurement.mrtd");
  expect(doc, ca::testing::sim_policy(), "pins no measurement");
  // Another group's key swapped in: the CVM did not say it.
  json swapped = doc;
  swapped["broker"]["recipient"] = keys::PartyKey::generate().recipient().to_string();
  expect(swapped, pinned(), "not the broker CVM's");
  // The statement re-signed by a party key that is not the certified CVM's.
  const auto thief = keys::PartyKey::generate();
  json resigned = doc;
  resigned["sig"] = hex_encode(
      thief.signing_key().sign(as_bytes(std::string(kStatementDomain) + ledger::canonical_json(doc["broker"]))));
  expect(resigned, pinned(), "not the broker CVM's");
  // Another CVM's id in the statement.
  json renamed = doc;
  renamed["broker"]["cvm"] = std::string(64, 'a');
  expect(renamed, pinned(), "another CVM");
  json extra = doc;
  extra["broker"]["url"] = "x";
  expect(extra, pinned(), "\"url\"");
}

// --- the release path --------------------------------------------------------

// A CVM as the ledger lists it, certified by the CA over simulated evidence
// of `code`'s measurement.
struct TestCvm {
  keys::PartyKey key = keys::PartyKey::generate();
  std::string pem;
  ledger::CvmId id{};
};

// A world with a ledger (served over HTTP, as a broker reads one), a file
// store, the broker in its CVM, a provider listing CVMs, an owner who
// granted the engine image and a data input to the broker, and a creator
// who orders services from those grants.
class KmsReleaseTest : public CaTest {
 protected:
  static constexpr std::uint64_t kEngineInput = 0;
  static constexpr std::uint64_t kDataInput = 1;

  void SetUp() override {
    CaTest::SetUp();
    auto l = ledger::Ledger::init(dir() / "ward.db", true);
    ASSERT_TRUE(l) << l.error().message;
    ledger_.emplace(std::move(*l));
    ledger_id_ = ledger_->info().id;
    server_.emplace(*ledger_);
    auto port = server_->bind({"127.0.0.1", 0});
    ASSERT_TRUE(port) << port.error().message;
    serving_ = std::thread([this] { (void)server_->serve(); });
    client_ = ledger::borrow_client(*ledger_);
    auto store = store::open_store((dir() / "store").string());
    ASSERT_TRUE(store) << store.error().message;
    store_ = std::move(*store);

    const TestCvm broker_cvm = certified("ward-loader");
    auto cert = crypto::Certificate::from_pem(broker_cvm.pem);
    ASSERT_TRUE(cert) << cert.error().message;
    std::filesystem::create_directories(dir() / "broker");
    auto broker = Broker::open(CvmCredentials{broker_cvm.key, *cert, broker_cvm.pem},
                               BrokerOptions{dir() / "broker", "http://127.0.0.1:" + std::to_string(*port),
                                             center().certificate(), ""});
    ASSERT_TRUE(broker) << broker.error().message;
    broker_ = std::move(*broker);

    submit(provider_, "accounts.register", {{"recipient", provider_.recipient().to_string()}});
    tee_offer_ = submit(provider_, "offers.create",
                        {{"kind", "tee"},
                         {"name", "h100"},
                         {"resource", "r"},
                         {"price", {{"model", "per_hour"}, {"amount", 60}}}});
    head_ = listed("ward-loader");
    worker_ = listed("ward-loader");
    other_worker_ = listed("ward-loader");
    stranger_ = listed("ward-loader");
    submit(owner_, "accounts.register", {{"recipient", owner_.recipient().to_string()}});
    submit(creator_, "accounts.register", {{"recipient", creator_.recipient().to_string()}});
    submit(creator_, "accounts.fund", {{"to", hex_encode(creator_.signing_public_key())}, {"amount", 1000}});

    files::UploadOptions as_engine;
    as_engine.engine = kEngine;
    engine_grant_ = granted(upload("engine.tar", "an engine image", as_engine), 0);
    data_grant_ = granted(upload("weights.gguf", "the model's weights", {}), 0);
    limited_engine_grant_ = granted(upload("engine2.tar", "another engine image", as_engine), 1);
  }

  void TearDown() override {
    broker_.reset();
    client_.reset();
    if (server_) server_->stop();
    if (serving_.joinable()) serving_.join();
    server_.reset();
    ledger_.reset();
    CaTest::TearDown();
  }

  // The index of the accepted transaction (an order's id, for orders.create).
  std::uint64_t submit(const keys::PartyKey& key, std::string_view type, json args) {
    auto r = ledger::submit_signed(*client_, key, type, std::move(args));
    EXPECT_TRUE(r) << type << ": " << (r ? "" : r.error().message);
    return r ? r->index : 0;
  }

  TestCvm certified(std::string_view code) {
    TestCvm cvm;
    cvm.id = ca::cvm_id(cvm.key.signing_public_key());
    const auto now = system_clock::now();
    auto quote =
        attest::sim::make_quote(ca::cvm_report_data(cvm.key.signing_public_key(), cvm.key.recipient().key()),
                                attest::sim::measure(as_bytes(code)), now);
    if (!quote) {
      ADD_FAILURE() << quote.error().message;
      return cvm;
    }
    attest::EvidenceBundle evidence;
    evidence.platform = attest::Platform::Sim;
    evidence.evidence = quote->quote;
    evidence.collateral = attest::dcap::collateral_to_json(quote->collateral);
    auto issued = center().issue(evidence, cvm.key.signing_public_key(), cvm.key.recipient(),
                                 ca::testing::sim_policy(), now);
    if (!issued || !issued->certificate) {
      ADD_FAILURE() << (issued ? ca::testing::first_failure(issued->appraisal) : issued.error().message);
      return cvm;
    }
    cvm.pem = issued->certificate->to_pem();
    return cvm;
  }

  // A CVM of `code` that the provider lists on its tee offer.
  TestCvm listed(std::string_view code) {
    TestCvm cvm = certified(code);
    submit(provider_, "cvms.register",
           {{"key", hex_encode(cvm.key.signing_public_key())},
            {"recipient", cvm.key.recipient().to_string()},
            {"certificate", cvm.pem},
            {"offer", tee_offer_}});
    return cvm;
  }

  files::SignedResource upload(const std::string& name, std::string_view text,
                               const files::UploadOptions& options) {
    const auto path = dir() / name;
    std::ofstream(path, std::ios::binary) << text;
    auto r = files::upload(path, owner_, *store_, options);
    if (!r) {
      ADD_FAILURE() << r.error().message;
      return {};
    }
    return *r;
  }

  // What the owner grants to the broker: CVMs of the loader's measurement,
  // serving orders of kEngine, for `uses` orders (0: any number).
  struct Granted {
    files::Grant grant;
    std::string uri;  // the grant's blob URI, which orders name as an input
  };
  Granted granted(const files::SignedResource& resource, std::uint64_t uses) {
    files::GrantLimits limits;
    limits.serve = true;
    limits.uses = uses;
    limits.broker = files::BrokerTerms{broker_->recipient(), loader_code(), {}};
    auto recipient = age::X25519Recipient::parse(broker_->recipient());
    EXPECT_TRUE(recipient);
    auto grant = files::make_grant(resource, *store_, owner_, *recipient, ledger::CvmId{}, kEngine, {},
                                   system_clock::now() + std::chrono::hours(1), limits);
    if (!grant) {
      ADD_FAILURE() << grant.error().message;
      return {};
    }
    auto stored = store_->put_bytes(as_bytes(files::grant_text(*grant)));
    if (!stored) {
      ADD_FAILURE() << stored.error().message;
      return {};
    }
    return Granted{*grant, stored->uri};
  }

  // A service order on head_ of `engine` and the data (kEngineInput,
  // kDataInput), split over `workers` when any are named; started by its
  // head unless `start` is false.
  std::uint64_t order(const std::vector<const TestCvm*>& workers, bool start = true,
                      const Granted* engine = nullptr) {
    if (!engine) engine = &engine_grant_;
    json args = {{"cvm", hex_encode(head_.id)},
                 {"engine", kEngine},
                 {"inputs", {engine->uri, data_grant_.uri}},
                 {"outputs", json::array()},
                 {"offers", json::array()},
                 {"deposit", 10},
                 {"serve", {{"access", "public"}}}};
    if (!workers.empty()) {
      args["workers"] = json::array();
      for (const TestCvm* w : workers) args["workers"].push_back(hex_encode(w->id));
    }
    const std::uint64_t id = submit(creator_, "orders.create", std::move(args));
    if (start) submit(head_.key, "orders.start", {{"order", id}});
    return id;
  }

  // The head's grants.use: the ledger counts the order against its grants.
  void use_grants(std::uint64_t order, const Granted& engine) {
    submit(head_.key, "grants.use",
           {{"order", order},
            {"grants", {files::grant_use_entry(engine.grant), files::grant_use_entry(data_grant_.grant)}}});
  }
  void use_grants(std::uint64_t order) { use_grants(order, engine_grant_); }

  Result<json> ask(const TestCvm& cvm, std::uint64_t order, std::uint64_t input) {
    const json request =
        make_request(cvm.key, cvm.pem, order, input, broker_->recipient(), system_clock::now());
    return broker_->release(request.dump());
  }

  static void expect_refused(const Result<json>& r, const std::string& check, const std::string& why = "") {
    ASSERT_FALSE(r) << check << " was not refused";
    EXPECT_EQ(r.error().code, "refused") << r.error().message;
    EXPECT_TRUE(r.error().message.starts_with(check + ": ")) << r.error().message;
    EXPECT_NE(r.error().message.find(why), std::string::npos) << r.error().message;
  }

  crypto::Sha256Digest binding(const Granted& g, std::uint64_t order, const TestCvm& cvm) const {
    return files::release_binding(g.grant.id, ledger_id_, order, cvm.id);
  }

  // The released header, accepted by `reader` as released for `as` (the
  // CVM whose binding it checks): what the loader does with a broker's answer.
  Result<void> accept(const Result<json>& released, const Granted& g, const TestCvm& reader,
                      std::uint64_t order, const TestCvm& as) const {
    if (!released) return std::unexpected(released.error());
    auto header = base64_decode(released->at("header").get<std::string>());
    if (!header) return fail("test", "the header is not base64");
    files::Grant grant = g.grant;
    return files::accept_release(grant, std::move(*header), reader.key.identity(), binding(g, order, as));
  }

  // The broker's group key, from its statement as an owner checks it.
  crypto::Ed25519PublicKey group_key() {
    auto statement =
        verify_statement(broker_->statement(), center().certificate(), loader_code(), system_clock::now());
    EXPECT_TRUE(statement) << statement.error().message;
    return statement ? statement->statement.group_key : crypto::Ed25519PublicKey{};
  }

  // The released entry, read with the broker's group key.
  LogEntry entry_of(const json& released) {
    auto entry = parse_entry(released.at("entry").get<std::string>(), group_key());
    EXPECT_TRUE(entry) << entry.error().message;
    return entry ? *entry : LogEntry{};
  }

  // Simulated CVMs (and the broker) of the loader's measurement.
  static attest::Policy loader_code() {
    attest::Policy p = ca::testing::sim_policy();
    const auto mrtd = attest::sim::measure(as_bytes("ward-loader"));
    p.allowed_measurements["mrtd"] = {Bytes(mrtd.begin(), mrtd.end())};
    return p;
  }

  const std::string kEngine = "sha256:" + hex_encode(crypto::sha256(as_bytes("an engine image")));

  std::optional<ledger::Ledger> ledger_;
  ledger::LedgerId ledger_id_{};
  std::optional<ledger::LedgerServer> server_;
  std::thread serving_;
  std::unique_ptr<ledger::LedgerClient> client_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<Broker> broker_;
  std::uint64_t tee_offer_ = 0;
  keys::PartyKey provider_ = keys::PartyKey::generate();
  keys::PartyKey owner_ = keys::PartyKey::generate();
  keys::PartyKey creator_ = keys::PartyKey::generate();
  TestCvm head_, worker_, other_worker_, stranger_;
  Granted engine_grant_, data_grant_, limited_engine_grant_;
};

TEST_F(KmsReleaseTest, ShouldReleaseEveryGrantToTheHeadAndNoneToAnotherCvm) {
  const std::uint64_t id = order({});
  use_grants(id);
  for (const auto& [input, g] :
       {std::pair{kEngineInput, &engine_grant_}, std::pair{kDataInput, &data_grant_}}) {
    auto released = ask(head_, id, input);
    ASSERT_TRUE(released) << released.error().message;
    auto ok = accept(released, *g, head_, id, head_);
    EXPECT_TRUE(ok) << ok.error().message;
    EXPECT_EQ(entry_of(*released).cvm, head_.id);
  }
  // A listed CVM of the right code that the order does not name.
  expect_refused(ask(stranger_, id, kEngineInput), "order.cvm", "not CVM " + hex_encode(stranger_.id));
  expect_refused(ask(worker_, id, kEngineInput), "order.cvm");
}

// Split service orders: the creator names the worker CVMs (orders.create "workers").

TEST_F(KmsReleaseTest, ShouldReleaseTheEngineToAWorkerBoundToThatWorker) {
  const std::uint64_t id = order({&worker_, &other_worker_});
  use_grants(id);
  auto released = ask(worker_, id, kEngineInput);
  ASSERT_TRUE(released) << released.error().message;
  auto ok = accept(released, engine_grant_, worker_, id, worker_);
  EXPECT_TRUE(ok) << ok.error().message;
  // Bound to this worker: not the head's release, nor the other worker's.
  for (const TestCvm* as : {&head_, &other_worker_}) {
    auto wrong = accept(released, engine_grant_, worker_, id, *as);
    ASSERT_FALSE(wrong);
    EXPECT_NE(wrong.error().message.find("grant.release"), std::string::npos) << wrong.error().message;
  }
  // Wrapped to the worker alone: the head cannot open it.
  EXPECT_FALSE(accept(released, engine_grant_, head_, id, worker_));
  // Logged like any release, with the worker's id.
  const LogEntry entry = entry_of(*released);
  EXPECT_EQ(entry.cvm, worker_.id);
  EXPECT_EQ(entry.order, id);
  EXPECT_EQ(entry.grant, engine_grant_.grant.id);
  EXPECT_EQ(entry.binding, binding(engine_grant_, id, worker_));
  auto log = broker_->log_text();
  ASSERT_TRUE(log) << log.error().message;
  auto entries = verify_log(*log, group_key());
  ASSERT_TRUE(entries) << entries.error().message;
  ASSERT_EQ(entries->size(), 1u);
  EXPECT_EQ(entries->back().cvm, worker_.id);
  // The head is still released everything.
  auto data = ask(head_, id, kDataInput);
  ASSERT_TRUE(data) << data.error().message;
  auto head_ok = accept(data, data_grant_, head_, id, head_);
  EXPECT_TRUE(head_ok) << head_ok.error().message;
}

TEST_F(KmsReleaseTest, ShouldReleaseAWorkerTheEngineOnly) {
  const std::uint64_t id = order({&worker_});
  use_grants(id);
  expect_refused(ask(worker_, id, kDataInput), "order.worker", "engine only");
  // A made-up input is refused before any grant is read.
  expect_refused(ask(worker_, id, 7), "order.input");
}

TEST_F(KmsReleaseTest, ShouldRefuseACvmThatIsNeitherHeadNorWorker) {
  const std::uint64_t id = order({&worker_});
  use_grants(id);
  expect_refused(ask(stranger_, id, kEngineInput), "order.cvm", "not CVM " + hex_encode(stranger_.id));
  // A worker of one split order is no worker of another.
  const std::uint64_t other = order({&other_worker_});
  use_grants(other);
  expect_refused(ask(worker_, other, kEngineInput), "order.cvm");
  ASSERT_TRUE(ask(other_worker_, other, kEngineInput));
}

TEST_F(KmsReleaseTest, ShouldRefuseAWorkerOfAnOrderThatIsNotProcessing) {
  const std::uint64_t id = order({&worker_}, false);
  expect_refused(ask(worker_, id, kEngineInput), "order.status", "is new");
  submit(creator_, "orders.cancel", {{"order", id}});
  expect_refused(ask(worker_, id, kEngineInput), "order.status");
}

TEST_F(KmsReleaseTest, ShouldHoldAWorkerToTheGrantsPolicyAndTheLedgersCount) {
  const TestCvm rogue = listed("other-code");
  const std::uint64_t id = order({&worker_, &rogue}, true, &limited_engine_grant_);
  // A limited grant the head has not counted yet (it sends grants.use, a worker none).
  expect_refused(ask(worker_, id, kEngineInput), "grant.uses");
  use_grants(id, limited_engine_grant_);
  auto released = ask(worker_, id, kEngineInput);
  ASSERT_TRUE(released) << released.error().message;
  // A worker of other code than the grant's policy pins.
  expect_refused(ask(rogue, id, kEngineInput), "cvm.evidence", "policy.measurement.mrtd");
  // A revoked grant.
  submit(owner_, "grants.revoke", {{"grant", hex_encode(limited_engine_grant_.grant.id)}});
  expect_refused(ask(worker_, id, kEngineInput), "grant.revoked");
}

TEST_F(KmsReleaseTest, ShouldNotOpenABrokerWhoseOwnCertificateDoesNotVerify) {
  // The broker's own certificate under another CA: it cannot say what code it runs.
  const TestCvm b = certified("ward-loader");
  auto cert = crypto::Certificate::from_pem(b.pem);
  ASSERT_TRUE(cert) << cert.error().message;
  std::filesystem::create_directories(dir() / "broker2");
  auto broker = Broker::open(CvmCredentials{b.key, *cert, b.pem},
                             BrokerOptions{dir() / "broker2", "http://127.0.0.1:1", *cert, ""});
  ASSERT_FALSE(broker);
  EXPECT_EQ(broker.error().code, "kms.broker");
  EXPECT_NE(broker.error().message.find("own certificate"), std::string::npos) << broker.error().message;
}

}  // namespace
}  // namespace ward::kms
