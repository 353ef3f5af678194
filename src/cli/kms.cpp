// ward kms serve | log: the key broker (docs/kms.md).
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "base/file.h"
#include "ca/server.h"
#include "cli/cli.h"
#include "cli/evidence.h"
#include "cli/ledger_common.h"
#include "cli/serve.h"
#include "kms/broker.h"
#include "ledger/server.h"
#include "loader/cvm.h"

namespace ward::cli {
namespace {

using json = nlohmann::json;

struct ServeArgs {
  std::string dir;
  std::string ledger;
  std::string ca;
  std::string ca_cert;
  std::string platform;
  std::string peer;
  std::string listen = "127.0.0.1:7470";
  bool json = false;
};

Result<void> run_serve(const ServeArgs& args) {
  auto address = ledger::parse_listen_address(args.listen);
  if (!address) return fail(std::string(kUsage), address.error().message);
  // Its own center's certificate, fetched from it unless given.
  auto ca_cert = args.ca_cert.empty() ? trusted_ca("", args.ca) : trusted_ca(args.ca_cert, "");
  if (!ca_cert) return std::unexpected(ca_cert.error());
  // The broker's CVM: keys made inside it, certified over its evidence, as a
  // loader's CVM is.
  std::error_code ec;
  std::filesystem::create_directories(args.dir, ec);
  loader::CvmOptions cvm_options;
  cvm_options.dir = args.dir;
  cvm_options.platform = args.platform;
  cvm_options.ca_url = args.ca;
  auto cvm = loader::provision_cvm(cvm_options);
  if (!cvm) return std::unexpected(cvm.error());
  kms::BrokerOptions options{args.dir, args.ledger, *ca_cert, args.peer};
  auto broker =
      kms::Broker::open(kms::CvmCredentials{cvm->key, cvm->certificate, cvm->certificate_pem}, options);
  if (!broker) return std::unexpected(broker.error());

  auto stop_signals = StopSignals::block();
  if (!stop_signals) return std::unexpected(stop_signals.error());
  kms::Server server(**broker);
  auto port = server.bind(address->host, address->port);
  if (!port) return std::unexpected(port.error());
  const std::string url = url_of(*address, *port);
  auto printed = args.json ? print_json({{"url", url},
                                         {"recipient", (*broker)->recipient()},
                                         {"cvm", hex_encode(cvm->id)},
                                         {"simulated", cvm->simulated}})
                           : print_stdout(url + "\n");
  if (!printed) return printed;
  return stop_signals->serve([&server] { return server.serve(); }, [&server] { server.stop(); });
}

struct LogArgs {
  std::string url;
  std::string ca;
  std::string ca_cert;
  std::string policy;
  bool json = false;
};

// Fetches a broker's release log and checks it: the statement under the
// owner's policy, then every entry's signature by the group key and the chain.
Result<void> run_log(const LogArgs& args) {
  auto ca_cert = trusted_ca(args.ca_cert, args.ca);
  if (!ca_cert) return std::unexpected(ca_cert.error());
  auto policy = load_policy(args.policy, attest::Policy::strict());
  if (!policy) return std::unexpected(policy.error());
  auto statement = kms::fetch_statement(args.url, *ca_cert, *policy);
  if (!statement) return std::unexpected(statement.error());
  auto text = kms::fetch_log(args.url);
  if (!text) return std::unexpected(text.error());
  auto entries = kms::verify_log(*text, statement->statement.group_key);
  if (!entries) return std::unexpected(entries.error());
  if (args.json) {
    json list = json::array();
    for (const auto& e : *entries) list.push_back(json::parse(e.line)["entry"]);
    return print_json({{"broker", statement->statement.recipient},
                       {"simulated", statement->appraisal.simulated},
                       {"releases", list}});
  }
  std::string out = "broker " + statement->statement.recipient +
                    (statement->appraisal.simulated ? " (SIMULATED evidence)" : "") + ": " +
                    std::to_string(entries->size()) + " releases, every signature and link checked\n";
  for (const auto& e : *entries)
    out += std::to_string(e.index) + " " + e.time + " order " + std::to_string(e.order) + " grant " +
           hex_encode(e.grant) + " to CVM " + hex_encode(e.cvm) + "\n";
  return print_stdout(out);
}

}  // namespace

void add_kms_commands(CLI::App& app, Action& action) {
  CLI::App* group = app.add_subcommand("kms", "Run a key broker that re-wraps grants for any qualified CVM");
  group->require_subcommand(1);
  group->footer("Run 'ward kms COMMAND --help' for a command's options. docs/kms.md explains the broker.");

  auto serve = std::make_shared<ServeArgs>();
  CLI::App* serve_cmd = group->add_subcommand("serve", "Serve a key broker from a CVM of its own");
  serve_cmd->footer(
      "Provisions the broker's CVM in DIR (keys, evidence, a certificate from --ca), unseals its group\n"
      "key from DIR (or takes it from --peer, a broker of the same measurement, or makes one), prints\n"
      "the URL it listens on and serves GET /v1/broker, POST /v1/release, GET /v1/releases and\n"
      "POST /v1/replicate until SIGINT or SIGTERM. With --platform sim the evidence and the sealing\n"
      "are SIMULATED: anyone can derive the sealing key.");
  serve_cmd->add_option("--dir", serve->dir, "The broker CVM's private directory")
      ->option_text("DIR")
      ->required();
  add_ledger_option(serve_cmd, serve->ledger);
  serve_cmd->add_option("--ca", serve->ca, "The certification center's URL")->option_text("URL")->required();
  serve_cmd->add_option("--ca-cert", serve->ca_cert, "The CA certificate (default: fetched from --ca)")
      ->option_text("FILE");
  serve_cmd
      ->add_option("--platform", serve->platform,
                   "sim (Ward's NOT SECURE simulated TEE) or tsm (configfs-tsm)")
      ->required()
      ->check(CLI::IsMember({"sim", "tsm"}));
  serve_cmd->add_option("--peer", serve->peer, "A broker to take the group key from (a replica)")
      ->option_text("URL");
  serve_cmd
      ->add_option("--listen", serve->listen,
                   "Address to listen on (default 127.0.0.1:7470; port 0: any free port)")
      ->option_text("HOST:PORT");
  add_json_flag(serve_cmd, serve->json);
  serve_cmd->callback([&action, serve] { action = [serve] { return run_serve(*serve); }; });

  auto log = std::make_shared<LogArgs>();
  CLI::App* log_cmd = group->add_subcommand("log", "Fetch and verify a key broker's release log");
  log_cmd->footer(
      "Verifies the broker's statement (its CVM certificate down to the hardware under --policy, which\n"
      "must pin the broker's measurement), then every release's signature by the broker's group key and\n"
      "the hash chain, and lists the releases.");
  log_cmd->add_option("url", log->url, "The broker's URL")->required();
  log_cmd->add_option("--ca-cert", log->ca_cert, "The CA certificate (PEM)")->option_text("FILE");
  log_cmd->add_option("--ca", log->ca, "Or the certification center to fetch it from")->option_text("URL");
  log_cmd->add_option("--policy", log->policy, "Attestation policy for the broker (JSON, docs/attest.md)")
      ->option_text("FILE")
      ->required();
  add_json_flag(log_cmd, log->json);
  log_cmd->callback([&action, log] { action = [log] { return run_log(*log); }; });
}

}  // namespace ward::cli
