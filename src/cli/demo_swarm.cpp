// ward demo swarm: the swarm of issue 14 on one machine (docs/kms.md,
// docs/serving.md, "Split inference"). A ledger, a certification center, a
// key broker in a CVM of its own, and four nodes, each a separate `ward node
// run` process with one CVM of Ward's simulated TEE on one tee offer. Alice
// and Bob grant their halves of a data set, and Carol her trainer, to the
// broker; Carol places the order on the offer; the CVM that takes it is
// killed with its whole node, and another CVM takes the order over through
// the broker and finishes it. Then Carol's LLM is served split over three
// CVMs, their loaders joined by attested tunnels, and chatted with. Nothing
// keeps running afterwards.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "attest/sim.h"
#include "base/bytes.h"
#include "ca/certificate.h"
#include "cli/cli.h"
#include "cli/demo_world.h"
#include "engine/image.h"
#include "files/grant.h"
#include "files/transfer.h"
#include "kms/broker.h"
#include "loader/cvm.h"
#include "loader/verify.h"
#include "serve/client.h"

namespace ward::cli {
namespace {

namespace fs = std::filesystem;
using demo::Answer;
using demo::DemoArgs;
using demo::DemoWorld;
using demo::Party;
using demo::Running;
using demo::say;
using demo::step;
using json = nlohmann::json;
using std::chrono::system_clock;

constexpr int kNodes = 4;
constexpr std::uint64_t kOfferTimeout = 2;  // seconds of silence before a CVM's orders move
constexpr const char* kHeartbeatMs = "500";

struct DemoSwarmArgs {
  DemoArgs common;
  std::string model;
  std::string prompt = "Tell me a story about a little robot.";
  std::uint64_t max_tokens = 48;
};

// The `ward node run` processes, each in a process group of its own (its
// loaders included), killed and reaped when this goes; then their work root
// (the CVMs' tmpfs, where a killed CVM leaves what it had decrypted) is removed.
class NodeProcesses {
 public:
  explicit NodeProcesses(fs::path work_root) : work_root_(std::move(work_root)) {}
  NodeProcesses(const NodeProcesses&) = delete;
  NodeProcesses& operator=(const NodeProcesses&) = delete;
  ~NodeProcesses() {
    for (const pid_t pid : pids_) ::kill(-pid, SIGTERM);
    for (const pid_t pid : pids_) {
      int status = 0;
      for (int i = 0; i < 100 && ::waitpid(pid, &status, WNOHANG) == 0; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      if (::waitpid(pid, &status, WNOHANG) == 0) {
        ::kill(-pid, SIGKILL);
        ::waitpid(pid, &status, 0);
      }
    }
    std::error_code ec;
    fs::remove_all(work_root_, ec);
  }
  Result<pid_t> start(const std::vector<std::string>& argv, const fs::path& log) {
    const int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0) return fail("demo.io", "cannot write " + log.string());
    std::vector<char*> args;
    std::vector<std::string> copy = argv;
    for (auto& a : copy) args.push_back(a.data());
    args.push_back(nullptr);
    const pid_t pid = ::fork();
    if (pid < 0) {
      ::close(out);
      return fail("demo.node", "cannot fork a node");
    }
    if (pid == 0) {
      ::setsid();
      ::dup2(out, 1);
      ::dup2(out, 2);
      // The demo blocks SIGINT/SIGTERM in no thread here; a node takes them itself.
      ::execv(args[0], args.data());
      ::_exit(127);
    }
    ::close(out);
    pids_.push_back(pid);
    return pid;
  }
  // SIGKILL to the node and its loaders, with no goodbye.
  void kill(pid_t pid) {
    ::kill(-pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    std::erase(pids_, pid);
  }

 private:
  fs::path work_root_;
  std::vector<pid_t> pids_;
};

// The key broker, in this process, in a CVM of its own.
struct BrokerRun {
  std::unique_ptr<kms::Broker> broker;
  std::unique_ptr<kms::Server> server;
  std::string url;
  std::string recipient;
  attest::Policy policy;  // the broker's measurement (this ward binary), simulated allowed
};

Result<BrokerRun> start_broker(DemoWorld& w) {
  loader::CvmOptions options;
  options.dir = w.dir / "broker";
  options.platform = "sim";
  options.ca_url = w.ca_url;
  std::error_code ec;
  fs::create_directories(options.dir, ec);
  auto cvm = loader::provision_cvm(options);
  if (!cvm) return std::unexpected(cvm.error());
  BrokerRun run;
  auto broker = kms::Broker::open(kms::CvmCredentials{cvm->key, cvm->certificate, cvm->certificate_pem},
                                  kms::BrokerOptions{options.dir, w.ledger_url, w.center->certificate(), ""});
  if (!broker) return std::unexpected(broker.error());
  run.broker = std::move(*broker);
  run.server = std::make_unique<kms::Server>(*run.broker);
  auto port = run.server->bind("127.0.0.1", 0);
  if (!port) return std::unexpected(port.error());
  run.url = "http://127.0.0.1:" + std::to_string(*port);
  auto measured = attest::sim::measure_file("/proc/self/exe");
  if (!measured) return std::unexpected(measured.error());
  run.policy.allow_simulated = true;
  run.policy.allowed_measurements["mrtd"] = {Bytes(measured->begin(), measured->end())};
  return run;
}

ledger::CvmId cvm_of_node(const fs::path& node_dir) {
  auto cert = crypto::Certificate::from_pem(
      as_chars(read_file(node_dir / "cvm-0" / "cvm.pem", 1 << 20).value_or(Bytes{})));
  if (!cert) return {};
  auto contents = ca::read_cvm_certificate(*cert);
  return contents ? contents->identity.id : ledger::CvmId{};
}

std::string short_id(const ledger::CvmId& id) {
  return hex_encode(id).substr(0, 12) + "...";
}

Result<void> run_demo_swarm(const DemoSwarmArgs& args) {
  const auto started = std::chrono::steady_clock::now();
  if (::geteuid() != 0) {
    return fail("demo.root",
                "ward demo swarm needs root: a split order's loaders reach the engines inside "
                "their sandboxes' network namespaces (run it as root, as in a CVM)");
  }
  const fs::path here = demo::self_dir();
  auto model = demo::first_existing(
      {args.model, here / "../../../../shared/models/stories260K.gguf", "../shared/models/stories260K.gguf"});
  if (!model)
    return fail("demo.model", "no model: give --model FILE.gguf (../shared/models/stories260K.gguf)");
  const auto llama_server = demo::llama_binary("llama-server");
  const auto rpc_server = demo::llama_binary("rpc-server");
  const auto launcher = demo::first_existing({here / "ward-llm"});
  if (!llama_server || !rpc_server || !launcher)
    return fail("demo.llama",
                "no llama-server, rpc-server or ward-llm: run scripts/build-llama.sh and build ward-llm");

  auto world = DemoWorld::open(args.common,
                               "Ward demo swarm: a key broker, four nodes, failover and an LLM split over "
                               "three CVMs (SIMULATED TEE: no hardware protection)");
  if (!world) return std::unexpected(world.error());
  DemoWorld& w = **world;
  ledger::LedgerClient& ledger = *w.ledger;
  store::Store& store = *w.store;
  std::error_code ec;

  step("1. Alice and Bob hold halves of a data set, Carol a trainer and a model; a provider runs nodes");
  auto alice = w.make_party("alice");
  auto bob = w.make_party("bob");
  auto carol = w.make_party("carol");
  auto provider = w.make_party("provider");
  for (const auto* p : {&alice, &bob, &carol, &provider}) {
    if (!*p) return std::unexpected(p->error());
  }
  if (auto ok = w.fund(*carol, 1000); !ok) return ok;
  for (const auto* p : {&alice, &bob, &carol, &provider})
    say((*p)->name + ": " + (*p)->key.recipient().to_string());

  step("2. A key broker starts in a CVM of its own; grants name it, with the policy a CVM must meet");
  auto broker = start_broker(w);
  if (!broker) return std::unexpected(broker.error());
  Running broker_running(*broker->server);
  auto statement = kms::fetch_statement(broker->url, w.center->certificate(), broker->policy);
  if (!statement) return std::unexpected(statement.error());
  broker->recipient = statement->statement.recipient;
  say("broker " + broker->url + ", group key " + broker->recipient.substr(0, 24) +
      "..., statement signed by its certified CVM (SIMULATED sealing: anyone can derive the key)");

  step("3. The provider lists a tee offer (failover after " + std::to_string(kOfferTimeout) +
       " s of silence) and starts " + std::to_string(kNodes) + " nodes, each a separate process");
  auto offer = ledger::submit_signed(ledger, provider->key, "offers.create",
                                     {{"kind", "tee"},
                                      {"name", "swarm"},
                                      {"resource", "sim"},
                                      {"price", {{"model", "fixed"}, {"amount", 0}}},
                                      {"timeout", kOfferTimeout}});
  if (!offer) return std::unexpected(offer.error());
  const fs::path work_root = fs::is_directory("/dev/shm", ec)
                                 ? fs::path("/dev/shm") / ("ward-swarm-" + std::to_string(::getpid()))
                                 : w.dir / "work";
  NodeProcesses nodes(work_root);
  std::vector<pid_t> node_pid(kNodes);
  std::vector<ledger::CvmId> node_cvm(kNodes);
  for (int i = 0; i < kNodes; ++i) {
    const std::string name = "node-" + std::to_string(i);
    auto pid = nodes.start({(here / "ward").string(),
                            "node",
                            "run",
                            "--ledger",
                            w.ledger_url,
                            "--key",
                            (w.dir / "keys" / "provider.key").string(),
                            "--store",
                            store.uri(),
                            "--ca",
                            w.ca_url,
                            "--platform",
                            "sim",
                            "--cvms",
                            "1",
                            "--offer",
                            std::to_string(offer->index),
                            "--dir",
                            (w.dir / name).string(),
                            "--work",
                            (work_root / name).string(),
                            "--kms",
                            broker->url,
                            "--heartbeat-ms",
                            kHeartbeatMs,
                            "--loader",
                            w.loader_path.string(),
                            "--memory-limit",
                            "1024",
                            "--time-limit",
                            "120"},
                           w.dir / (name + ".log"));
    if (!pid) return std::unexpected(pid.error());
    node_pid[i] = *pid;
  }
  for (int i = 0; i < 600; ++i) {
    auto cvms = ledger.cvms();
    if (cvms && cvms->size() == kNodes) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  for (int i = 0; i < kNodes; ++i) {
    node_cvm[i] = cvm_of_node(w.dir / ("node-" + std::to_string(i)));
    if (node_cvm[i] == ledger::CvmId{})
      return fail("demo.node",
                  "node " + std::to_string(i) + " has no CVM (see " + (w.dir / "node-0.log").string() + ")");
    say("node " + std::to_string(i) + " (pid " + std::to_string(node_pid[i]) + "): CVM " +
        short_id(node_cvm[i]));
  }
  auto measured = attest::sim::measure_file(w.loader_path);
  if (!measured) return std::unexpected(measured.error());
  attest::Policy cvm_policy;  // what a CVM must show: the loader's measurement
  cvm_policy.allow_simulated = true;
  cvm_policy.allowed_measurements["mrtd"] = {Bytes(measured->begin(), measured->end())};

  step("4. Carol packs her trainer; Alice and Bob upload their halves; all three grant to the broker");
  const fs::path data = w.dir / "data";
  fs::create_directories(data / "engine", ec);
  fs::copy_file(w.trainer, data / "engine" / "cancer-trainer", ec);
  if (ec) return fail("demo.io", "cannot stage the trainer: " + ec.message());
  auto trainer =
      engine::pack_image(data / "engine", {{"/cancer-trainer"}, {}, {}, "/", {}}, data / "trainer.tar");
  if (!trainer) return std::unexpected(trainer.error());
  auto split =
      demo::run_program({w.trainer.string(), "split", "--data", w.data.string(), "--out", data.string()});
  if (!split) return std::unexpected(split.error());
  auto trainer_res = files::upload(data / "trainer.tar", carol->key, store, {*trainer});
  auto alice_res = files::upload(data / "alice.csv", alice->key, store);
  auto bob_res = files::upload(data / "bob.csv", bob->key, store);
  for (const auto* r : {&trainer_res, &alice_res, &bob_res}) {
    if (!*r) return std::unexpected(r->error());
  }
  const auto expires = system_clock::now() + std::chrono::hours(1);
  const std::vector<std::string> outputs = {carol->key.recipient().to_string()};
  auto broker_recipient = age::X25519Recipient::parse(broker->recipient);
  if (!broker_recipient) return std::unexpected(broker_recipient.error());
  // A grant to the broker: any CVM meeting the policy, for an order by Carol.
  const auto grant_to_broker = [&](const files::SignedResource& res, const Party& owner,
                                   const std::string& engine, std::vector<std::string> outs,
                                   bool serve) -> Result<std::string> {
    files::GrantLimits limits{carol->key.signing_public_key(), 0, serve,
                              files::BrokerTerms{broker->recipient, cvm_policy, {}}};
    auto grant = files::make_grant(res, store, owner.key, *broker_recipient, ledger::CvmId{}, engine,
                                   std::move(outs), expires, limits);
    if (!grant) return std::unexpected(grant.error());
    auto blob = store.put_bytes(as_bytes(files::grant_text(*grant)));
    if (!blob) return std::unexpected(blob.error());
    return blob->uri;
  };
  auto g_trainer = grant_to_broker(*trainer_res, *carol, *trainer, outputs, false);
  auto g_alice = grant_to_broker(*alice_res, *alice, *trainer, outputs, false);
  auto g_bob = grant_to_broker(*bob_res, *bob, *trainer, outputs, false);
  for (const auto* g : {&g_trainer, &g_alice, &g_bob}) {
    if (!*g) return std::unexpected(g->error());
  }
  say("grants to the broker, each binding {resource, engine " + trainer->substr(0, 19) +
      "..., output to Carol, orders by Carol, CVMs with MRTD = ward-loader}");

  step("5. Carol places the order on the tee offer; a CVM takes it, and its whole node is killed");
  auto placed = ledger::submit_signed(ledger, carol->key, "orders.create",
                                      {{"offer", offer->index},
                                       {"engine", *trainer},
                                       {"inputs", {*g_trainer, *g_alice, *g_bob}},
                                       {"outputs", outputs},
                                       {"offers", json::array()},
                                       {"deposit", 100}});
  if (!placed) return std::unexpected(placed.error());
  const std::uint64_t order_id = placed->index;
  ledger::CvmId first{};
  for (int i = 0; i < 600 && first == ledger::CvmId{}; ++i) {
    auto o = ledger.order(order_id);
    if (o && *o && (*o)->status == ledger::OrderStatus::Processing) first = (*o)->cvm;
    if (first == ledger::CvmId{}) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (first == ledger::CvmId{}) return fail("demo.order", "no CVM took order " + std::to_string(order_id));
  int dead = -1;
  for (int i = 0; i < kNodes; ++i)
    if (node_cvm[i] == first) dead = i;
  if (dead < 0) return fail("demo.order", "order " + std::to_string(order_id) + " is on an unknown CVM");
  nodes.kill(node_pid[dead]);
  const auto killed_at = std::chrono::steady_clock::now();
  say("order " + std::to_string(order_id) + " taken by CVM " + short_id(first) + " of node " +
      std::to_string(dead) + "; node " + std::to_string(dead) + " killed (SIGKILL, its loader with it)");

  step("6. Another CVM sees the silence, reassigns the order, gets the keys from the broker and finishes it");
  auto done = demo::wait_for_order(ledger, order_id, std::chrono::seconds(120));
  if (!done) return std::unexpected(done.error());
  if (done->status != ledger::OrderStatus::Done)
    return fail("demo.order", "order " + std::to_string(order_id) + " failed: " + done->error);
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - killed_at).count();
  say("order " + std::to_string(order_id) + " done on CVM " + short_id(done->cvm) + ", " +
      std::to_string(took).substr(0, 4) + " s after the kill; no owner acted");
  auto log_text = kms::fetch_log(broker->url);
  if (!log_text) return std::unexpected(log_text.error());
  auto entries = kms::verify_log(*log_text, statement->statement.group_key);
  if (!entries) return std::unexpected(entries.error());
  std::map<ledger::CvmId, int> released;
  for (const auto& e : *entries)
    if (e.order == order_id) ++released[e.cvm];
  for (const auto& [cvm, n] : released)
    say("the broker's signed log: " + std::to_string(n) + " keys released to CVM " + short_id(cvm) +
        " for order " + std::to_string(order_id));
  loader::VerifyOptions verify{w.center->certificate(),
                               cvm_policy,
                               {*trainer_res, *alice_res, *bob_res},
                               std::nullopt,
                               "",
                               true,
                               "",
                               {{broker->url, broker->recipient, *entries}}};
  const auto verdict = loader::verify_order(ledger, order_id, verify);
  say("ward orders verify " + std::to_string(order_id) + " --kms: " +
      (verdict.accepted() ? std::string("verified (SIMULATED TEE), every key's release in the broker's log")
                          : "REJECTED: " + verdict.checks.first_failure_text()));
  if (!verdict.accepted()) return fail("demo.verify", verdict.checks.first_failure_text());

  step("7. Carol's LLM (llama.cpp) and model, granted to the broker, served split over three CVMs");
  fs::create_directories(data / "llm", ec);
  for (const auto& [from, to] :
       {std::pair{*launcher, "ward-llm"}, {*llama_server, "llama-server"}, {*rpc_server, "rpc-server"}})
    if (!ec) fs::copy_file(from, data / "llm" / to, ec);
  if (ec) return fail("demo.io", "cannot stage the LLM engine: " + ec.message());
  auto llm = engine::pack_image(data / "llm",
                                {{"/ward-llm"},
                                 {"--ctx-size", "512", "--parallel", "1"},
                                 {},
                                 "/",
                                 {{std::string(engine::kServePortLabel), "8080"}}},
                                data / "llm.tar");
  if (!llm) return std::unexpected(llm.error());
  auto llm_res = files::upload(data / "llm.tar", carol->key, store, {*llm});
  if (!llm_res) return std::unexpected(llm_res.error());
  auto model_res = files::upload(*model, carol->key, store);
  if (!model_res) return std::unexpected(model_res.error());
  auto g_llm = grant_to_broker(*llm_res, *carol, *llm, {}, true);
  auto g_model = grant_to_broker(*model_res, *carol, *llm, {}, true);
  if (!g_llm) return std::unexpected(g_llm.error());
  if (!g_model) return std::unexpected(g_model.error());
  std::vector<ledger::CvmId> live;
  for (int i = 0; i < kNodes; ++i)
    if (i != dead) live.push_back(node_cvm[i]);
  auto service = ledger::submit_signed(ledger, carol->key, "orders.create",
                                       {{"cvm", hex_encode(live[0])},
                                        {"workers", {hex_encode(live[1]), hex_encode(live[2])}},
                                        {"engine", *llm},
                                        {"inputs", {*g_llm, *g_model}},
                                        {"outputs", json::array()},
                                        {"offers", json::array()},
                                        {"deposit", 10},
                                        {"serve", {{"access", "public"}}}});
  if (!service) return std::unexpected(service.error());
  const std::uint64_t service_id = service->index;
  auto endpoint = demo::wait_for_endpoint(ledger, service_id, w.dir / "node-0.log");
  if (!endpoint) return std::unexpected(endpoint.error());
  say("service order " + std::to_string(service_id) + ": head CVM " + short_id(live[0]) + ", workers " +
      short_id(live[1]) + " and " + short_id(live[2]) +
      "; each worker runs rpc-server in its sandbox, the "
      "head llama-server --rpc, every RPC byte through a TLS tunnel both loaders verified");
  serve::EndpointPins pins;
  pins.engine = *llm;
  pins.models = {model_res->resource.plaintext_sha256};
  auto client = demo::verify_and_show(*endpoint, {w.center->certificate(), cvm_policy, w.ledger_url, pins});
  if (!client) return std::unexpected(client.error());
  auto proxy = demo::open_proxy(std::move(*client), alice->key, w.dir / "alice-receipts.jsonl", 4);
  if (!proxy) return std::unexpected(proxy.error());
  Running proxy_running(*proxy->proxy);
  serve::Forwarder http(
      [port = proxy->port]() { return serve::connect_tcp("127.0.0.1", port, std::chrono::seconds(30)); });

  step("8. Alice chats with it through the verifying proxy");
  say("Alice: " + args.prompt);
  Answer chat;
  for (int i = 0; i < 40; ++i) {
    chat = demo::call(http, "POST", "/v1/chat/completions",
                      json{{"messages", json::array({{{"role", "user"}, {"content", args.prompt}}})},
                           {"max_tokens", args.max_tokens},
                           {"temperature", 0}}
                          .dump());
    if (chat.status != 503) break;  // llama-server answers 503 while its model loads
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  if (chat.status != 200)
    return fail("demo.query", "the chat: HTTP " + std::to_string(chat.status) + " " + demo::error_of(chat));
  const json answer = json::parse(chat.body, nullptr, false);
  std::string text;
  if (answer.is_object() && answer.contains("choices") && answer["choices"].is_array() &&
      !answer["choices"].empty())
    text = answer["choices"][0]["message"].value("content", "");
  say("model: " + text);
  say("(stories260K is a toy: it continues children's stories)");

  step("9. Carol stops the service; the nodes, the broker and the servers stop");
  if (auto canceled = ledger::submit_signed(ledger, carol->key, "orders.cancel", {{"order", service_id}});
      !canceled)
    return std::unexpected(canceled.error());
  auto ended = demo::wait_for_order(ledger, service_id, std::chrono::seconds(60));
  if (!ended) return std::unexpected(ended.error());
  say("service order " + std::to_string(service_id) + " " + std::string(ledger::to_string(ended->status)));
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started)
          .count();
  say("\ndemo finished in " + std::to_string(ms / 1000) + "." + std::to_string(ms % 1000 / 100) + " s");
  return {};
}

}  // namespace

void add_demo_swarm_command(CLI::App& demo, Action& action) {
  auto args = std::make_shared<DemoSwarmArgs>();
  CLI::App* cmd =
      demo.add_subcommand("swarm", "A key broker, four nodes, failover, and an LLM split over three CVMs");
  cmd->footer(
      "Starts a ledger, a certification center and a key broker here, and four `ward node run` processes\n"
      "with one CVM each of Ward's simulated TEE (NOT SECURE) on one tee offer. Alice, Bob and Carol grant\n"
      "to the broker; Carol's order runs on the offer; the node that takes it is killed, and another\n"
      "takes the order over and finishes it. Then an LLM (stories260K, a toy) is served split over three\n"
      "CVMs through attested tunnels, and chatted with. Needs root and scripts/build-llama.sh's binaries.\n"
      "Runs everything here and stops it.");
  cmd->add_option("--dir", args->common.dir, "Work in this new directory (default: a temporary one)");
  cmd->add_option("--data", args->common.data, "The data set CSV (default .deps/data/breast_cancer.csv)");
  cmd->add_option("--model", args->model, "The GGUF model (default ../shared/models/stories260K.gguf)");
  cmd->add_option("--prompt", args->prompt, "What Alice asks the LLM");
  decimal(cmd->add_option("--max-tokens", args->max_tokens, "Tokens in the answer (default 48)"), 1, 4096);
  cmd->add_option("--trainer", args->common.trainer, "The cancer-trainer binary (default: next to ward)");
  cmd->add_option("--loader", args->common.loader, "The ward-loader binary (default: next to ward)");
  cmd->callback([&action, args] { action = [args] { return run_demo_swarm(*args); }; });
}

}  // namespace ward::cli
