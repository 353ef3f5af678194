// ward node run: the provider's agent, which starts CVMs and lists them on
// the ledger.
#include "node/node.h"

#include <atomic>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "base/bytes.h"
#include "base/time.h"
#include "cli/cli.h"
#include "cli/ledger_common.h"
#include "cli/serve.h"
#include "crypto/x509.h"

namespace ward::cli {
namespace {

struct RunArgs {
  std::string ledger;
  std::string key;
  std::string store;
  std::string ca;
  std::string platform;
  std::size_t cvms = 1;
  std::string dir = "./ward-node";
  std::uint64_t offer = 0;
  std::uint64_t price = 0;
  std::string loader;
  std::uint64_t time_limit = 600;
  std::uint64_t memory_limit = 4096;
  std::string work;
  std::string serve_listen = "127.0.0.1";
  std::string serve_host;
  std::uint64_t usage_interval_ms = 10000;
  std::uint64_t renew_before = 0;  // seconds; 0: the loader's default
  std::vector<std::string> kms;
  std::uint64_t heartbeat_ms = 30000;
  std::uint64_t cores = 0, memory_mib = 0, gpus = 0;  // declared per CVM; all 0: none declared
};

Result<void> run_node_command(const RunArgs& args) {
  // The node and each CVM write to the ledger from their own processes;
  // only a server (or a chain) serializes them.
  if (!args.ledger.starts_with("http://") && !args.ledger.starts_with("https://") &&
      !args.ledger.starts_with("evm+")) {
    return fail(std::string(kUsage),
                "--ledger must be a `ward ledger serve` URL or an EVM ledger (the node and its CVMs all write "
                "to it)");
  }
  auto key = keys::PartyKey::load(args.key);
  if (!key) return std::unexpected(key.error());
  node::NodeOptions options;
  options.ledger = args.ledger;
  options.store = args.store;
  options.ca_url = args.ca;
  options.platform = args.platform;
  options.cvms = args.cvms;
  options.dir = std::filesystem::absolute(args.dir);
  options.provider = &*key;
  if (args.offer != 0) options.offer = args.offer;
  options.price_per_hour = args.price;
  options.loader = args.loader.empty() ? node::default_loader_path() : std::filesystem::path(args.loader);
  options.loader_args = {"--time-limit", std::to_string(args.time_limit), "--memory-limit",
                         std::to_string(args.memory_limit)};
  // Each CVM's gateway takes a free port on the serving address.
  const bool ipv6 = args.serve_listen.find(':') != std::string::npos;
  options.loader_args.insert(
      options.loader_args.end(),
      {"--serve-listen", (ipv6 ? "[" + args.serve_listen + "]" : args.serve_listen) + ":0"});
  if (!args.serve_host.empty())
    options.loader_args.insert(options.loader_args.end(), {"--serve-host", args.serve_host});
  options.loader_args.insert(options.loader_args.end(),
                             {"--usage-interval-ms", std::to_string(args.usage_interval_ms)});
  if (args.renew_before != 0)
    options.loader_args.insert(options.loader_args.end(),
                               {"--renew-before", std::to_string(args.renew_before)});
  for (const auto& url : args.kms) options.loader_args.insert(options.loader_args.end(), {"--kms", url});
  options.loader_args.insert(options.loader_args.end(),
                             {"--heartbeat-ms", std::to_string(args.heartbeat_ms)});
  if (args.cores + args.memory_mib + args.gpus != 0)
    options.resources = ledger::Resources{args.cores, args.memory_mib, args.gpus};
  if (!args.work.empty()) options.work_root = std::filesystem::absolute(args.work);
  options.log = [](std::string_view line) { std::cout << "ward node: " << line << std::endl; };

  auto stop_signals = StopSignals::block();
  if (!stop_signals) return std::unexpected(stop_signals.error());
  std::atomic<bool> stop{false};
  std::cout << "ward node: starting " << args.cvms << " " << (args.platform == "sim" ? "SIMULATED " : "")
            << "CVM(s) in " << options.dir.string() << std::endl;
  return stop_signals->serve([&] { return node::run_node(options, stop); }, [&] { stop.store(true); });
}

struct CvmsArgs {
  std::string ledger;
  bool json = false;
};

Result<void> run_cvms(const CvmsArgs& args) {
  auto client = ledger::open_client(args.ledger);
  if (!client) return std::unexpected(client.error());
  auto cvms = (*client)->cvms();
  if (!cvms) return std::unexpected(cvms.error());
  nlohmann::json list = nlohmann::json::array();
  std::string text;
  for (const auto& c : *cvms) {
    nlohmann::json j = to_json(c);
    j.erase("certificate");  // the PEM is long; `ward ledger records` or the HTTP API has it
    // When the certificate runs out (its loader renews it, cvms.update);
    // unread and unverified, as the ledger holds it.
    const auto cert = crypto::Certificate::from_pem(c.certificate);
    j["certificate_not_after"] =
        cert ? nlohmann::json(format_rfc3339(cert->not_after())) : nlohmann::json(nullptr);
    const auto at = from_unix_seconds(c.heartbeat_at);
    const std::string beat = c.heartbeat_at == 0 ? std::string("never")
                             : at                ? format_rfc3339(*at)
                                                 : std::to_string(c.heartbeat_at) + " (unrepresentable)";
    text += hex_encode(c.id) + "  offer " + std::to_string(c.offer) + "  last heartbeat " + beat +
            "  certificate until " +
            (cert ? format_rfc3339(cert->not_after()) : std::string("(unreadable)")) + "  " + c.recipient +
            "\n";
    list.push_back(std::move(j));
  }
  if (args.json) return print_json({{"cvms", std::move(list)}});
  return print_stdout(text);
}

}  // namespace

void add_node_commands(CLI::App& app, Action& action) {
  CLI::App* group = app.add_subcommand("node", "Run a provider node: CVMs that take confidential orders");
  group->require_subcommand(1);

  auto run = std::make_shared<RunArgs>();
  CLI::App* run_cmd = group->add_subcommand("run", "Start CVMs, get them certified, list them on the ledger");
  run_cmd->footer(
      "Each CVM runs ward-loader, which makes the CVM's keys, gets a certificate from the certification\n"
      "center over hardware evidence binding them, and runs the orders placed on the CVM. The node lists\n"
      "each certified CVM on the ledger under the provider's tee offer (created if there is none) and\n"
      "restarts a loader that dies. With --platform sim a CVM is a local process under Ward's simulated,\n"
      "NOT SECURE, TEE. Stops its CVMs on SIGINT or SIGTERM.");
  run_cmd->add_option("--ledger", run->ledger, "The ledger: a `ward ledger serve` URL")->required();
  add_key_option(run_cmd, run->key);
  run_cmd->add_option("--store", run->store, "Where the CVMs upload encrypted outputs")->required();
  run_cmd->add_option("--ca", run->ca, "The certification center's URL")->required();
  run_cmd->add_option("--platform", run->platform, "sim or tsm")
      ->required()
      ->check(CLI::IsMember({"sim", "tsm"}));
  decimal(run_cmd->add_option("--cvms", run->cvms, "How many CVMs to run (default 1)"), 1, 64);
  run_cmd->add_option("--dir", run->dir,
                      "The node's directory, one subdirectory per CVM (default ./ward-node)");
  decimal(run_cmd->add_option("--offer", run->offer, "The tee offer to list the CVMs under"))
      ->option_text("ID");
  add_amount_option(run_cmd, "--price", run->price, "Tokens per hour, for a new tee offer (default 0)");
  run_cmd->add_option("--loader", run->loader, "The ward-loader binary (default: next to ward)");
  // The bounds match 'ward engine run' (366 days, 2^62 bytes), so the loader's
  // conversions to milliseconds and bytes cannot overflow.
  decimal(run_cmd->add_option("--time-limit", run->time_limit,
                              "An engine's wall-clock limit, seconds (default 600)"),
          1, 366 * 86400);
  decimal(run_cmd->add_option("--memory-limit", run->memory_limit,
                              "An engine's memory limit, MiB (default 4096)"),
          1, std::uint64_t{1} << 42);
  run_cmd->add_option("--work", run->work,
                      "tmpfs directory under which each CVM decrypts its orders (default /dev/shm)");
  decimal(
      run_cmd->add_option("--cvm-cores", run->cores, "Cores each CVM declares on the ledger (orders.take)"),
      0, ledger::kMaxCores);
  decimal(run_cmd->add_option("--cvm-memory-mib", run->memory_mib, "Memory each CVM declares, MiB"), 0,
          ledger::kMaxMemoryMib);
  decimal(run_cmd->add_option("--cvm-gpus", run->gpus, "GPUs each CVM declares"), 0, ledger::kMaxGpus);
  decimal(run_cmd->add_option(
              "--heartbeat-ms", run->heartbeat_ms,
              "How often each CVM sends a heartbeat, also while it runs an order (default 30000; a "
              "tee offer's --timeout should be several of these)"),
          100, 3600 * 1000);
  run_cmd
      ->add_option(
          "--kms", run->kms,
          "A key broker (`ward kms serve` URL) the CVMs ask for grants made to it; repeat for replicas")
      ->option_text("URL");
  run_cmd->add_option(
      "--serve-listen", run->serve_listen,
      "The address service orders' TLS gateways listen on, each CVM's on a free port (default "
      "127.0.0.1)");
  run_cmd->add_option("--serve-host", run->serve_host,
                      "The host name clients reach the gateways by, in the published endpoints (default: "
                      "--serve-listen)");
  decimal(run_cmd->add_option("--usage-interval-ms", run->usage_interval_ms,
                              "How often a service reports its subscribers' usage to the ledger, which also "
                              "charges per-hour offers (default 10000)"),
          100, 3600 * 1000);
  decimal(run_cmd->add_option("--renew-before", run->renew_before,
                              "Renew a CVM's certificate once this many seconds or fewer are left of it "
                              "(default: the last third of its lifetime)"),
          1, 366 * 86400)
      ->option_text("SECONDS");
  run_cmd->callback([&action, run] { action = [run] { return run_node_command(*run); }; });

  auto cvms = std::make_shared<CvmsArgs>();
  CLI::App* cvms_cmd = group->add_subcommand(
      "cvms", "List the CVMs on the ledger (id, offer, last heartbeat, certificate expiry, recipient)");
  add_ledger_option(cvms_cmd, cvms->ledger);
  add_json_flag(cvms_cmd, cvms->json);
  cvms_cmd->callback([&action, cvms] { action = [cvms] { return run_cvms(*cvms); }; });
}

}  // namespace ward::cli
