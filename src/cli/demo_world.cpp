#include "cli/demo_world.h"

#include <signal.h>
#include <spawn.h>
#include <unistd.h>

#include <algorithm>
#include <arpa/inet.h>
#include <cstdio>
#include <iostream>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <nlohmann/json.hpp>

#include "attest/sim.h"
#include "base/bytes.h"
#include "base/file.h"
#include "base/work_dir.h"
#include "cli/cli.h"
#include "engine/image.h"
#include "engine/sandbox.h"
#include "evm/anvil.h"
#include "ledger/evm/deploy.h"
#include "node/node.h"
#include "serve/meter.h"

namespace ward::cli::demo {

using std::chrono::system_clock;

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

std::optional<fs::path> llama_binary(const std::string& name, const std::string& given) {
  const fs::path here = self_dir();
  if (auto found = first_existing({given, here / name})) return found;
  for (const fs::path& deps : {here / "../../../.deps", fs::path(".deps")}) {
    std::error_code ec;
    std::vector<fs::path> found;
    for (const auto& entry : fs::directory_iterator(deps / "llama", ec)) {
      const fs::path candidate = entry.path() / "bin" / name;
      if (fs::is_regular_file(candidate, ec)) found.push_back(fs::absolute(candidate));
    }
    std::sort(found.begin(), found.end());
    if (!found.empty()) return found.front();
  }
  return std::nullopt;
}

void add_ledger_choice(CLI::App* command, std::string& ledger) {
  command
      ->add_option(
          "--ledger", ledger,
          "sqlite (default: an embedded ledger served on loopback) or evm (the WardLedger contract on "
          "an anvil the demo starts and stops)")
      ->check(CLI::IsMember({"sqlite", "evm"}));
}

void say(const std::string& line) {
  std::cout << line << std::endl;
}

void step(const std::string& title) {
  std::cout << "\n== " << title << std::endl;
}

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

Result<ledger::Order> wait_for_order(ledger::LedgerClient& ledger, std::uint64_t id,
                                     std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto order = ledger.order(id);
    if (!order) return std::unexpected(order.error());
    if (*order &&
        ((*order)->status == ledger::OrderStatus::Done || (*order)->status == ledger::OrderStatus::Error)) {
      return **order;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      return fail("demo.timeout", "order " + std::to_string(id) + " did not finish in time");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

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
  (void)remove_tree(work / "rootfs");
  return work / "output" / "model.json";
}

Result<std::unique_ptr<DemoWorld>> DemoWorld::open(const DemoArgs& args, const std::string& title) {
  std::unique_ptr<DemoWorld> w(new DemoWorld());
  auto data = first_existing(
      {args.data, ".deps/data/breast_cancer.csv", self_dir() / "../../../.deps/data/breast_cancer.csv"});
  if (!data) {
    return fail("demo.data", "no breast_cancer.csv: run scripts/fetch-dataset.sh (or give --data FILE)");
  }
  auto trainer = first_existing({args.trainer, self_dir() / "cancer-trainer",
                                 self_dir() / "../../engines/cancer-trainer/cancer-trainer"});
  if (!trainer) return fail("demo.trainer", "no cancer-trainer binary next to ward (give --trainer FILE)");
  auto loader =
      first_existing({args.loader, self_dir() / "ward-loader", self_dir() / "../loader/ward-loader"});
  if (!loader) return fail("demo.loader", "no ward-loader binary next to ward (give --loader FILE)");
  w->data = *data;
  w->trainer = *trainer;
  w->loader_path = *loader;

  std::error_code ec;
  w->dir = args.dir.empty() ? fs::temp_directory_path(ec) / ("ward-demo-" + std::to_string(::getpid()))
                            : fs::absolute(args.dir);
  if (fs::exists(w->dir, ec)) return fail(std::string(kUsage), w->dir.string() + " already exists");
  fs::create_directories(w->dir, ec);
  if (ec) return fail("demo.io", "cannot create " + w->dir.string() + ": " + ec.message());
  w->keep_ = args.keep;
  for (const char* sub : {"keys", "data", "ca", "node"}) fs::create_directories(w->dir / sub, ec);

  step(title);
  say("Everything lives in " + w->dir.string() + (args.keep ? " (kept)" : " (removed at the end)"));

  // The ledger (embedded SQLite, served on loopback so the CVM's loader can
  // reach it, or the contract on a local chain) and the certification center.
  std::string ledger_text;
  if (args.ledger == "evm") {
    if (auto started = w->start_chain(); !started) return std::unexpected(started.error());
    ledger_text = "ledger " + w->ledger_url + " (WardLedger on anvil)";
  } else {
    auto ledger_db = ledger::Ledger::init(w->dir / "ledger.db", true);
    if (!ledger_db) return std::unexpected(ledger_db.error());
    w->ledger_db_.emplace(std::move(*ledger_db));
    w->ledger_server_ = std::make_unique<ledger::LedgerServer>(*w->ledger_db_);
    auto ledger_port = w->ledger_server_->bind({"127.0.0.1", 0});
    if (!ledger_port) return std::unexpected(ledger_port.error());
    w->ledger_thread_ = std::thread([s = w->ledger_server_.get()] { (void)s->serve(); });
    w->ledger_url = "http://127.0.0.1:" + std::to_string(*ledger_port);
    ledger_text = "ledger " + w->ledger_url + " (SQLite " + (w->dir / "ledger.db").string() + ")";
  }

  auto center = ca::CertificationCenter::init(w->dir / "ca", system_clock::now());
  if (!center) return std::unexpected(center.error());
  w->center.emplace(std::move(*center));
  w->ca_policy_ = attest::Policy::strict();
  w->ca_policy_.allow_simulated = true;
  w->ca_server_ = std::make_unique<ca::CaServer>(*w->center, w->ca_policy_);
  auto ca_port = w->ca_server_->bind("127.0.0.1", 0);
  if (!ca_port) return std::unexpected(ca_port.error());
  w->ca_thread_ = std::thread([s = w->ca_server_.get()] { (void)s->serve(); });
  w->ca_url = "http://127.0.0.1:" + std::to_string(*ca_port);
  auto store = store::open_store((w->dir / "store").string());
  if (!store) return std::unexpected(store.error());
  w->store = std::move(*store);
  say(ledger_text + ", certification center " + w->ca_url + ", store " + w->store->uri());
  auto client = ledger::open_client(w->ledger_url);
  if (!client) return std::unexpected(client.error());
  w->ledger = std::move(*client);
  return w;
}

DemoWorld::~DemoWorld() {
  node_stop_.store(true);
  if (node_thread_.joinable()) node_thread_.join();
  if (ca_server_) ca_server_->stop();
  if (ca_thread_.joinable()) ca_thread_.join();
  if (ledger_server_) ledger_server_->stop();
  if (ledger_thread_.joinable()) ledger_thread_.join();
  anvil_.reset();
  if (!work_.empty()) (void)remove_tree(work_);
  if (!keep_ && !dir.empty()) (void)remove_tree(dir);
}

Result<void> DemoWorld::start_chain() {
  auto binary = evm::find_anvil(self_dir());
  if (!binary)
    return fail("demo.chain", "no anvil: run scripts/setup.sh (it installs npm @foundry-rs/anvil)");
  auto anvil = evm::Anvil::start(*binary);
  if (!anvil) return std::unexpected(anvil.error());
  anvil_ = std::move(*anvil);
  const keys::PartyKey deployer = keys::PartyKey::generate();
  if (auto ok = give_gas(deployer); !ok) return ok;
  auto deployed = ledger::evm::deploy_ledger(anvil_->url(), deployer, /*dev=*/true);
  if (!deployed) return std::unexpected(deployed.error());
  ledger_url = deployed->target;
  return give_gas(provider_);
}

Result<void> DemoWorld::give_gas(const keys::PartyKey& key) {
  if (!anvil_) return {};
  auto evm_key = key.evm_key();
  if (!evm_key) return std::unexpected(evm_key.error());
  return anvil_->fund(evm_key->address());
}

Result<Party> DemoWorld::make_party(const std::string& name) {
  Party p{name, keys::PartyKey::generate()};
  if (auto ok = give_gas(p.key); !ok) return std::unexpected(ok.error());
  auto file = AtomicFile::create(dir / "keys" / (name + ".key"), 0600);
  if (!file) return std::unexpected(file.error());
  if (auto ok = file->write(as_bytes(p.key.identity_file_text(system_clock::now()))); !ok) {
    return std::unexpected(ok.error());
  }
  if (auto ok = file->commit(); !ok) return std::unexpected(ok.error());
  auto receipt = ledger::submit_signed(*ledger, p.key, "accounts.register",
                                       {{"recipient", p.key.recipient().to_string()}, {"name", name}});
  if (!receipt) return fail(receipt.error(), "registering " + name);
  return p;
}

Answer call(serve::Forwarder& http, const std::string& method, const std::string& target, std::string body,
            const std::function<void(std::string_view)>& on_data) {
  http::Request request;
  request.method = method;
  request.target = target;
  request.path = target;
  request.body = std::move(body);
  if (!request.body.empty()) request.headers.push_back({"Content-Type", "application/json"});
  http::Response response = http.forward(request);
  Answer a{response.status, response.body, ""};
  if (response.stream) {
    struct Collect final : http::ChunkSink {
      std::string body;
      const std::function<void(std::string_view)>& on_data;
      explicit Collect(const std::function<void(std::string_view)>& f) : on_data(f) {}
      Result<void> write(std::string_view data) override {
        body += data;
        if (on_data) on_data(data);
        return {};
      }
    } collect(on_data);
    response.stream(collect);
    a.body = collect.body;
  } else if (on_data) {
    on_data(a.body);
  }
  if (auto r = http::find_header(response.headers, serve::kReceiptHeader)) a.receipt = std::string(*r);
  return a;
}

std::string error_of(const Answer& a) {
  const nlohmann::json j = nlohmann::json::parse(a.body, nullptr, false);
  if (j.is_object() && j.contains("error") && j["error"].is_object())
    return j["error"].value("reason", "") + ": " + j["error"].value("message", "");
  return a.body.substr(0, 200);
}

Result<std::uint64_t> balance(ledger::LedgerClient& ledger, const keys::PartyKey& key) {
  auto account = ledger.account(key.signing_public_key());
  if (!account) return std::unexpected(account.error());
  return *account ? (*account)->balance : 0;
}

Result<std::string> wait_for_endpoint(ledger::LedgerClient& ledger, std::uint64_t id,
                                      const fs::path& loader_log) {
  for (int i = 0; i < 600; ++i) {
    auto order = ledger.order(id);
    if (order && *order && (*order)->serve && !(*order)->serve->endpoint.empty())
      return (*order)->serve->endpoint;
    if (order && *order && (*order)->status == ledger::OrderStatus::Error)
      return fail("demo.order", "the service failed: " + (*order)->error);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return fail("demo.serve", "the service did not start within 60 s (see " + loader_log.string() + ")");
}

Result<std::unique_ptr<serve::VerifiedClient>> verify_and_show(const std::string& endpoint,
                                                               const serve::ClientOptions& options) {
  auto client = serve::VerifiedClient::open(endpoint, options);
  if (!client) return std::unexpected(client.error());
  auto verified = (*client)->verify_now();
  if (!verified) return std::unexpected(verified.error());
  std::cout << serve::endpoint_verification_text(**verified);
  if (!(*verified)->accepted()) return fail("demo.verify", serve::rejection_line(**verified));
  return std::move(*client);
}

Result<LocalProxy> open_proxy(std::unique_ptr<serve::VerifiedClient> client, const keys::PartyKey& key,
                              const fs::path& receipts, std::size_t threads) {
  serve::ProxyOptions options;
  options.key = key.signing_key();
  options.receipts = receipts.string();
  options.threads = threads;
  options.warn = [](const std::string& line) { say("proxy: " + line); };
  auto proxy = serve::Proxy::create(std::move(client), std::move(options));
  if (!proxy) return std::unexpected(proxy.error());
  auto port = (*proxy)->bind("127.0.0.1", 0);
  if (!port) return std::unexpected(port.error());
  return LocalProxy{std::move(*proxy), *port};
}

Result<void> DemoWorld::fund(const Party& party, std::uint64_t amount) {
  auto ok = ledger::submit_signed(*ledger, party.key, "accounts.fund",
                                  {{"to", hex_encode(party.key.signing_public_key())}, {"amount", amount}});
  if (!ok) return std::unexpected(ok.error());
  return {};
}

Result<void> DemoWorld::start_node(const std::vector<std::string>& loader_args,
                                   std::uint64_t price_per_hour) {
  std::error_code ec;
  node::NodeOptions options;
  options.ledger = ledger_url;
  options.store = store->uri();
  options.ca_url = ca_url;
  options.platform = "sim";
  options.cvms = 1;
  options.dir = dir / "node";
  options.provider = &provider_;
  options.price_per_hour = price_per_hour;
  options.loader = loader_path;
  options.loader_args = {"--time-limit", "120", "--memory-limit", "2048", "--poll-ms", "100"};
  options.loader_args.insert(options.loader_args.end(), loader_args.begin(), loader_args.end());
  // The CVM decrypts into a tmpfs: /dev/shm when there is one.
  options.work_root = fs::is_directory("/dev/shm", ec)
                          ? fs::path("/dev/shm") / ("ward-demo-" + std::to_string(::getpid()))
                          : dir / "work";
  options.loader_log = dir / "node" / "loader.log";
  loader_log = options.loader_log;
  work_ = options.work_root;
  node_thread_ = std::thread([this, options] { (void)node::run_node(options, node_stop_); });

  std::optional<ledger::Cvm> cvm;
  for (int i = 0; i < 300 && !cvm; ++i) {
    auto cvms = ledger->cvms();
    if (cvms && !cvms->empty()) cvm = cvms->front();
    if (!cvm) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (!cvm) return fail("demo.node", "the CVM was not listed within 30 s (see " + loader_log.string() + ")");
  cvm_id = cvm->id;
  auto measured = attest::sim::measure_file(loader_path);
  if (!measured) return std::unexpected(measured.error());
  mrtd = *measured;
  policy = attest::Policy::strict();
  policy.allow_simulated = true;
  policy.allowed_measurements["mrtd"] = {Bytes(mrtd.begin(), mrtd.end())};
  return {};
}

}  // namespace ward::cli::demo
