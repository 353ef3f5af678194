// ward demo: the three-party confidential order of DESIGN.md on one machine.
// Alice and Bob each hold half of a medical data set, Carol a training
// engine; a CVM of Ward's simulated TEE trains on both halves, only Carol
// gets the model, and anyone can verify the report. Everything runs here: the
// embedded ledger and the certification center (served on 127.0.0.1), a node
// with one CVM (a ward-loader process), a file store. Nothing keeps running
// afterwards.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include <nlohmann/json.hpp>

#include "attest/sim.h"
#include "base/file.h"
#include "ca/center.h"
#include "ca/server.h"
#include "cli/cli.h"
#include "cli/serve.h"
#include "engine/image.h"
#include "engine/sandbox.h"
#include "files/grant.h"
#include "files/grantee.h"
#include "files/transfer.h"
#include "ledger/client.h"
#include "ledger/server.h"
#include "loader/verify.h"
#include "node/node.h"
#include "store/store.h"

namespace ward::cli {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using std::chrono::system_clock;

struct DemoArgs {
  std::string dir;
  std::string data;
  std::string trainer;
  std::string loader;
  bool keep = false;
};

void say(const std::string& line) {
  std::cout << line << std::endl;
}

void step(const std::string& title) {
  std::cout << "\n== " << title << std::endl;
}

// The first of `candidates` that exists.
std::optional<fs::path> first_existing(const std::vector<fs::path>& candidates) {
  std::error_code ec;
  for (const auto& c : candidates) {
    if (!c.empty() && fs::exists(c, ec)) return fs::absolute(c);
  }
  return std::nullopt;
}

fs::path self_dir() {
  std::error_code ec;
  return fs::read_symlink("/proc/self/exe", ec).parent_path();
}

// Runs a program to completion, its output captured; fails with its last line.
Result<std::string> run_program(const std::vector<std::string>& argv) {
  std::string command;
  for (const auto& a : argv) command += "'" + a + "' ";
  command += "2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) return fail("demo.run", "cannot run " + argv[0]);
  std::string out;
  char buffer[4096];
  while (std::size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) out.append(buffer, n);
  const int status = ::pclose(pipe);
  if (status != 0) {
    std::string last = out;
    while (!last.empty() && last.back() == '\n') last.pop_back();
    if (auto nl = last.rfind('\n'); nl != std::string::npos) last = last.substr(nl + 1);
    return fail("demo.run", fs::path(argv[0]).filename().string() + " failed: " + last);
  }
  return out;
}

// A server of ours on a thread, stopped and joined on destruction.
template <class Server>
class Background {
 public:
  explicit Background(Server& server) : server_(server), thread_([this] { (void)server_.serve(); }) {}
  ~Background() {
    server_.stop();
    thread_.join();
  }

 private:
  Server& server_;
  std::thread thread_;
};

struct Party {
  std::string name;
  keys::PartyKey key;
};

Result<Party> make_party(const std::string& name, const fs::path& dir, ledger::LedgerClient& ledger) {
  Party p{name, keys::PartyKey::generate()};
  auto file = AtomicFile::create(dir / (name + ".key"), 0600);
  if (!file) return std::unexpected(file.error());
  if (auto ok = file->write(as_bytes(p.key.identity_file_text(system_clock::now()))); !ok) {
    return std::unexpected(ok.error());
  }
  if (auto ok = file->commit(); !ok) return std::unexpected(ok.error());
  auto receipt = ledger::submit_signed(ledger, p.key.signing_key(), "accounts.register",
                                       {{"recipient", p.key.recipient().to_string()}, {"name", name}});
  if (!receipt) return fail(receipt.error(), "registering " + name);
  return p;
}

Result<ledger::Order> wait_for_order(ledger::LedgerClient& ledger, std::uint64_t id, std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto order = ledger.order(id);
    if (!order) return std::unexpected(order.error());
    if (*order && ((*order)->status == ledger::OrderStatus::Done || (*order)->status == ledger::OrderStatus::Error)) {
      return **order;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      return fail("demo.timeout", "order " + std::to_string(id) + " did not finish in time");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

struct Metrics {
  double accuracy = 0;
  double auc = 0;
};

Result<Metrics> evaluate(const fs::path& trainer, const fs::path& model, const fs::path& data) {
  auto out = run_program({trainer.string(), "evaluate", "--model", model.string(), "--data", data.string(), "--json"});
  if (!out) return std::unexpected(out.error());
  try {
    const json j = json::parse(*out);
    return Metrics{j.at("accuracy").get<double>(), j.at("roc_auc").get<double>()};
  } catch (const std::exception& e) {
    return fail("demo.metrics", std::string("cannot read the trainer's evaluation: ") + e.what());
  }
}

// A party training on its own data alone, on its own machine, in the same
// sandbox the CVM uses.
Result<fs::path> train_locally(const fs::path& image, const fs::path& csv, const fs::path& work) {
  std::error_code ec;
  fs::create_directories(work / "input", ec);
  fs::copy_file(csv, work / "input" / csv.filename(), ec);
  if (ec) return fail("demo.io", "cannot stage " + csv.string() + ": " + ec.message());
  auto config = engine::unpack_image(image, work / "rootfs");
  if (!config) return std::unexpected(config.error());
  fs::create_directories(work / "output", ec);
  engine::SandboxSpec spec;
  spec.rootfs = work / "rootfs";
  spec.inputs = {work / "input"};
  spec.output = work / "output";
  spec.args_json = "{}";
  spec.argv = config->entrypoint;
  spec.argv.insert(spec.argv.end(), config->cmd.begin(), config->cmd.end());
  spec.env = config->env;
  spec.working_dir = config->working_dir;
  spec.log = work / "engine.log";
  spec.limits.wall_time = std::chrono::seconds(120);
  auto run = engine::run_sandboxed(spec);
  if (!run) return std::unexpected(run.error());
  if (run->outcome != engine::RunResult::Outcome::Exited || run->code != 0) {
    return fail("demo.train", "the trainer " + run->describe());
  }
  (void)engine::remove_rootfs(work / "rootfs");
  return work / "output" / "model.json";
}

std::string percent(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%5.1f%%", 100 * x);
  return buf;
}

std::string fixed3(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", x);
  return buf;
}

Result<void> run_demo(const DemoArgs& args) {
  const auto started = std::chrono::steady_clock::now();
  // Inputs of the demo itself.
  auto data = first_existing({args.data, ".deps/data/breast_cancer.csv",
                              self_dir() / "../../../.deps/data/breast_cancer.csv"});
  if (!data) {
    return fail("demo.data", "no breast_cancer.csv: run scripts/fetch-dataset.sh (or give --data FILE)");
  }
  auto trainer = first_existing({args.trainer, self_dir() / "cancer-trainer",
                                 self_dir() / "../../engines/cancer-trainer/cancer-trainer"});
  if (!trainer) return fail("demo.trainer", "no cancer-trainer binary next to ward (give --trainer FILE)");
  auto loader_path = first_existing({args.loader, self_dir() / "ward-loader", self_dir() / "../loader/ward-loader"});
  if (!loader_path) return fail("demo.loader", "no ward-loader binary next to ward (give --loader FILE)");

  std::error_code ec;
  fs::path dir = args.dir.empty() ? fs::temp_directory_path(ec) / ("ward-demo-" + std::to_string(::getpid()))
                                  : fs::absolute(args.dir);
  if (fs::exists(dir, ec)) return fail(std::string(kUsage), dir.string() + " already exists");
  fs::create_directories(dir, ec);
  if (ec) return fail("demo.io", "cannot create " + dir.string() + ": " + ec.message());
  struct Cleanup {
    fs::path dir;
    bool keep;
    ~Cleanup() {
      if (!keep) (void)engine::remove_rootfs(dir);
    }
  } cleanup{dir, args.keep};
  struct WorkCleanup {
    fs::path dir;
    ~WorkCleanup() {
      if (!dir.empty()) (void)engine::remove_rootfs(dir);
    }
  } work_cleanup;
  for (const char* sub : {"keys", "data", "ca", "node"}) fs::create_directories(dir / sub, ec);

  step("Ward demo: a confidential order between three parties (SIMULATED TEE: no hardware protection)");
  say("Everything lives in " + dir.string() + (args.keep ? " (kept)" : " (removed at the end)"));

  // The ledger (embedded SQLite, served on loopback so the CVM's loader can
  // reach it) and the certification center.
  auto ledger_db = ledger::Ledger::init(dir / "ledger.db", true);
  if (!ledger_db) return std::unexpected(ledger_db.error());
  ledger::LedgerServer ledger_server(*ledger_db);
  auto ledger_port = ledger_server.bind({"127.0.0.1", 0});
  if (!ledger_port) return std::unexpected(ledger_port.error());
  Background ledger_thread(ledger_server);
  const std::string ledger_url = "http://127.0.0.1:" + std::to_string(*ledger_port);

  auto center = ca::CertificationCenter::init(dir / "ca", system_clock::now());
  if (!center) return std::unexpected(center.error());
  attest::Policy ca_policy = attest::Policy::strict();
  ca_policy.allow_simulated = true;
  ca::CaServer ca_server(*center, ca_policy);
  auto ca_port = ca_server.bind("127.0.0.1", 0);
  if (!ca_port) return std::unexpected(ca_port.error());
  Background ca_thread(ca_server);
  const std::string ca_url = "http://127.0.0.1:" + std::to_string(*ca_port);
  auto store = store::open_store((dir / "store").string());
  if (!store) return std::unexpected(store.error());
  say("ledger " + ledger_url + " (SQLite " + (dir / "ledger.db").string() + "), certification center " + ca_url +
      ", store " + (*store)->uri());

  auto ledger = ledger::open_client(ledger_url);
  if (!ledger) return std::unexpected(ledger.error());

  step("1. Each party makes an identity and registers it on the ledger");
  auto alice = make_party("alice", dir / "keys", **ledger);
  auto bob = make_party("bob", dir / "keys", **ledger);
  auto carol = make_party("carol", dir / "keys", **ledger);
  auto provider = keys::PartyKey::generate();
  for (const auto* p : {&alice, &bob, &carol}) {
    if (!*p) return std::unexpected(p->error());
    say((*p)->name + ": " + (*p)->key.recipient().to_string());
  }
  if (auto ok = ledger::submit_signed(**ledger, carol->key.signing_key(), "accounts.fund",
                                      {{"to", hex_encode(carol->key.signing_public_key())}, {"amount", 1000}});
      !ok) {
    return std::unexpected(ok.error());
  }

  step("2. A provider starts a node; its CVM gets certified and listed on the ledger");
  std::atomic<bool> node_stop{false};
  node::NodeOptions node_options;
  node_options.ledger = ledger_url;
  node_options.store = (*store)->uri();
  node_options.ca_url = ca_url;
  node_options.platform = "sim";
  node_options.cvms = 1;
  node_options.dir = dir / "node";
  node_options.provider = &provider;
  node_options.loader = *loader_path;
  node_options.loader_args = {"--time-limit", "120", "--memory-limit", "2048", "--poll-ms", "100"};
  // The CVM decrypts into a tmpfs: /dev/shm when there is one.
  node_options.work_root = fs::is_directory("/dev/shm", ec)
                               ? fs::path("/dev/shm") / ("ward-demo-" + std::to_string(::getpid()))
                               : dir / "work";
  node_options.loader_log = dir / "node" / "loader.log";
  work_cleanup.dir = node_options.work_root;
  Result<void> node_result;
  std::thread node_thread([&] { node_result = node::run_node(node_options, node_stop); });
  struct NodeStopper {
    std::atomic<bool>& stop;
    std::thread& thread;
    ~NodeStopper() {
      stop.store(true);
      thread.join();
    }
  } node_stopper{node_stop, node_thread};

  std::optional<ledger::Cvm> cvm;
  for (int i = 0; i < 300 && !cvm; ++i) {
    auto cvms = (*ledger)->cvms();
    if (cvms && !cvms->empty()) cvm = cvms->front();
    if (!cvm) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (!cvm) return fail("demo.node", "the CVM was not listed within 30 s (see " + node_options.loader_log.string() + ")");
  const ledger::CvmId cvm_id = cvm->id;
  auto loader_mrtd = attest::sim::measure_file(*loader_path);
  if (!loader_mrtd) return std::unexpected(loader_mrtd.error());
  say("CVM " + hex_encode(cvm_id) + " listed; loader measurement (MRTD) " + hex_encode(*loader_mrtd).substr(0, 32) +
      "...");

  step("3. Carol packs her trainer as an OCI image, encrypts and uploads it");
  const fs::path engine_dir = dir / "data" / "engine";
  fs::create_directories(engine_dir, ec);
  fs::copy_file(*trainer, engine_dir / "cancer-trainer", ec);
  if (ec) return fail("demo.io", "cannot stage the trainer: " + ec.message());
  auto engine_digest = engine::pack_image(engine_dir, {{"/cancer-trainer"}, {}, {}, "/", {}},
                                          dir / "data" / "cancer-trainer.tar");
  if (!engine_digest) return std::unexpected(engine_digest.error());
  auto engine_res = files::upload(dir / "data" / "cancer-trainer.tar", carol->key, **store, {*engine_digest});
  if (!engine_res) return std::unexpected(engine_res.error());
  say("engine digest " + *engine_digest + " (the image config digest; Carol publishes it with the source)");

  step("4. Alice and Bob encrypt and upload their halves of the data set");
  auto split = run_program({trainer->string(), "split", "--data", data->string(), "--out", (dir / "data").string()});
  if (!split) return std::unexpected(split.error());
  auto alice_res = files::upload(dir / "data" / "alice.csv", alice->key, **store);
  if (!alice_res) return std::unexpected(alice_res.error());
  auto bob_res = files::upload(dir / "data" / "bob.csv", bob->key, **store);
  if (!bob_res) return std::unexpected(bob_res.error());
  say("alice.csv: " + std::to_string(alice_res->resource.plaintext_size) + " bytes, stored as ciphertext " +
      hex_encode(alice_res->resource.ciphertext_sha256).substr(0, 16));
  say("bob.csv:   " + std::to_string(bob_res->resource.plaintext_size) + " bytes, stored as ciphertext " +
      hex_encode(bob_res->resource.ciphertext_sha256).substr(0, 16));
  say("holdout.csv (" + std::to_string(fs::file_size(dir / "data" / "holdout.csv", ec)) +
      " bytes) is kept aside to score the models");

  step("5. Each owner verifies the CVM (certificate, evidence, loader measurement) and grants it access");
  attest::Policy policy = attest::Policy::strict();
  policy.allow_simulated = true;
  policy.allowed_measurements["mrtd"] = {Bytes(loader_mrtd->begin(), loader_mrtd->end())};
  auto grantee = files::verify_grantee(**ledger, cvm_id, center->certificate(), policy, system_clock::now());
  if (!grantee) return std::unexpected(grantee.error());
  const age::X25519Recipient recipient = grantee->recipient;
  say("CVM verified: chain to the CA, SIMULATED TDX quote, MRTD = ward-loader, keys bound by the report data");
  const auto expires = system_clock::now() + std::chrono::hours(1);
  const std::vector<std::string> outputs = {carol->key.recipient().to_string()};
  // Alice and Bob also limit their grants to orders Carol creates.
  const files::GrantLimits by_carol{carol->key.signing_public_key(), 0};
  auto grant_of = [&](const files::SignedResource& res, const Party& owner,
                      const std::string& engine) -> Result<std::string> {
    auto grant =
        files::make_grant(res, **store, owner.key, recipient, cvm_id, engine, outputs, expires, by_carol);
    if (!grant) return std::unexpected(grant.error());
    auto blob = (*store)->put_bytes(as_bytes(files::grant_text(*grant)));
    if (!blob) return std::unexpected(blob.error());
    return blob->uri;
  };
  auto alice_grant = grant_of(*alice_res, *alice, *engine_digest);
  auto bob_grant = grant_of(*bob_res, *bob, *engine_digest);
  auto carol_grant = grant_of(*engine_res, *carol, *engine_digest);
  for (const auto* g : {&alice_grant, &bob_grant, &carol_grant}) {
    if (!*g) return std::unexpected(g->error());
  }
  say("grants: a new age header for the CVM over the same ciphertext, signed policy {resource, engine " +
      engine_digest->substr(0, 19) +
      "..., CVM, output to Carol, expiry in 1 h, orders by Carol}; the header's MAC "
      "covers the policy's digest, so the key works under no other policy");

  step("6. Carol places the order: engine + grants + output recipient + deposit");
  auto order_receipt = ledger::submit_signed(**ledger, carol->key.signing_key(), "orders.create",
                                             {{"cvm", hex_encode(cvm_id)},
                                              {"engine", *engine_digest},
                                              {"inputs", {*carol_grant, *alice_grant, *bob_grant}},
                                              {"outputs", outputs},
                                              {"offers", json::array()},
                                              {"deposit", 100}});
  if (!order_receipt) return std::unexpected(order_receipt.error());
  const std::uint64_t order_id = order_receipt->index;
  say("order " + std::to_string(order_id) + " placed");

  step("7-10. The CVM fetches, verifies, decrypts in its tmpfs, trains in the sandbox, encrypts, reports");
  auto order = wait_for_order(**ledger, order_id, std::chrono::seconds(120));
  if (!order) return std::unexpected(order.error());
  if (order->status != ledger::OrderStatus::Done) {
    return fail("demo.order", "order " + std::to_string(order_id) + " failed: " + order->error);
  }
  say("order " + std::to_string(order_id) + " done; the report is on the ledger");

  step("11. Carol downloads and decrypts the model; nobody else can");
  auto report = (*ledger)->report(order_id);
  if (!report || !*report) return fail("demo.report", "the ledger has no report for the order");
  auto signed_report = loader::parse_report_text((*report)->report);
  if (!signed_report) return std::unexpected(signed_report.error());
  const fs::path result = dir / "carol-result";
  if (auto ok = files::download_sealed(signed_report->report.output.uri, carol->key.identity(), result); !ok) {
    return std::unexpected(ok.error());
  }
  if (auto ok = files::download_sealed(signed_report->report.output.uri, alice->key.identity(), dir / "alice-try");
      ok) {
    return fail("demo.leak", "Alice could decrypt Carol's output");
  }
  say("Carol: " + (result / "output" / "model.json").string() + " and metrics.json; Alice's key: refused");

  // The same engine on each half alone, by its owner, for comparison.
  auto alice_model = train_locally(dir / "data" / "cancer-trainer.tar", dir / "data" / "alice.csv",
                                   dir / "data" / "alice-alone");
  if (!alice_model) return std::unexpected(alice_model.error());
  auto bob_model =
      train_locally(dir / "data" / "cancer-trainer.tar", dir / "data" / "bob.csv", dir / "data" / "bob-alone");
  if (!bob_model) return std::unexpected(bob_model.error());
  const fs::path holdout = dir / "data" / "holdout.csv";
  auto m_alice = evaluate(*trainer, *alice_model, holdout);
  auto m_bob = evaluate(*trainer, *bob_model, holdout);
  auto m_both = evaluate(*trainer, result / "output" / "model.json", holdout);
  for (const auto* m : {&m_alice, &m_bob, &m_both}) {
    if (!*m) return std::unexpected(m->error());
  }
  say("");
  say("  model trained on              accuracy   ROC AUC   (same held-out rows)");
  say("  Alice's half alone             " + percent(m_alice->accuracy) + "     " + fixed3(m_alice->auc));
  say("  Bob's half alone               " + percent(m_bob->accuracy) + "     " + fixed3(m_bob->auc));
  say("  both, in the CVM               " + percent(m_both->accuracy) + "     " + fixed3(m_both->auc));

  step("12. A grant for another engine is refused before anything is decrypted");
  // Carol tries to run a different engine (her trainer with other
  // arguments) on Alice's and Bob's data, which they granted for the first.
  auto other_digest = engine::pack_image(engine_dir, {{"/cancer-trainer"}, {"train"}, {}, "/", {}},
                                         dir / "data" / "other-engine.tar");
  if (!other_digest) return std::unexpected(other_digest.error());
  auto other_res = files::upload(dir / "data" / "other-engine.tar", carol->key, **store, {*other_digest});
  if (!other_res) return std::unexpected(other_res.error());
  auto other_grant = grant_of(*other_res, *carol, *other_digest);
  if (!other_grant) return std::unexpected(other_grant.error());
  auto bad_receipt = ledger::submit_signed(**ledger, carol->key.signing_key(), "orders.create",
                                           {{"cvm", hex_encode(cvm_id)},
                                            {"engine", *other_digest},
                                            {"inputs", {*other_grant, *alice_grant, *bob_grant}},
                                            {"outputs", outputs},
                                            {"offers", json::array()},
                                            {"deposit", 100}});
  if (!bad_receipt) return std::unexpected(bad_receipt.error());
  auto bad_order = wait_for_order(**ledger, bad_receipt->index, std::chrono::seconds(60));
  if (!bad_order) return std::unexpected(bad_order.error());
  if (bad_order->status != ledger::OrderStatus::Error) {
    return fail("demo.refusal", "the order for another engine was not refused");
  }
  say("order " + std::to_string(bad_receipt->index) + " (engine " + other_digest->substr(0, 19) + "...): error: " +
      bad_order->error);

  step("Anyone verifies order " + std::to_string(order_id) + ": ward orders verify");
  loader::VerifyOptions verify_options{center->certificate(), policy, {*alice_res, *bob_res, *engine_res},
                                       std::nullopt, "", true};
  auto verification = loader::verify_order(**ledger, order_id, verify_options);
  std::cout << loader::verification_text(verification);
  if (!verification.accepted()) return fail("demo.verify", "the report did not verify");

  const auto seconds =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
  say("\ndemo finished in " + std::to_string(seconds / 1000) + "." + std::to_string(seconds % 1000 / 100) + " s");
  return {};
}

}  // namespace

void add_demo_command(CLI::App& app, Action& action) {
  auto args = std::make_shared<DemoArgs>();
  CLI::App* cmd = app.add_subcommand("demo", "Run the three-party confidential order end to end, on this machine");
  cmd->footer(
      "Alice and Bob each hold half of the Breast Cancer Wisconsin data set, Carol a trainer; a CVM of\n"
      "Ward's simulated TEE (NOT SECURE) trains on both halves, only Carol can read the model, and the\n"
      "integrity report verifies. Runs the ledger, the certification center and a node here; stops them.");
  cmd->add_option("--dir", args->dir, "Work in this new directory (default: a temporary one)");
  cmd->add_flag("--keep", args->keep, "Keep the directory afterwards");
  cmd->add_option("--data", args->data, "breast_cancer.csv (default .deps/data/breast_cancer.csv)");
  cmd->add_option("--trainer", args->trainer, "The cancer-trainer binary (default: next to ward)");
  cmd->add_option("--loader", args->loader, "The ward-loader binary (default: next to ward)");
  cmd->callback([&action, args] { action = [args] { return run_demo(*args); }; });
}

}  // namespace ward::cli
