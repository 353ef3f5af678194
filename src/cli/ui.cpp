// ward ui: the local web app (docs/ui.md). This process holds the party key
// and does every signature and check; the page it serves is a view.
#include <memory>
#include <string>

#include "cli/cli.h"
#include "cli/evidence.h"
#include "cli/ledger_common.h"
#include "cli/serve.h"
#include "cli/services.h"
#include "keys/party_key.h"
#include "ledger/server.h"
#include "ui/server.h"

namespace ward::cli {
namespace {

struct UiArgs {
  std::string ledger;
  std::string key;
  std::string store;
  std::string ca_cert;
  std::string policy;
  std::string listen = "127.0.0.1:0";
  std::string receipts_dir = "./ward-ui-receipts";
};

Result<void> run_ui(const UiArgs& args) {
  auto address = ledger::parse_listen_address(args.listen);
  if (!address) return fail(std::string(kUsage), address.error().message);
  auto stop_signals = StopSignals::block();
  if (!stop_signals) return std::unexpected(stop_signals.error());
  auto key = keys::PartyKey::load(args.key);
  if (!key) return std::unexpected(key.error());
  auto ca_cert = load_certificate_file(args.ca_cert);
  if (!ca_cert) return std::unexpected(ca_cert.error());
  auto policy = load_policy(args.policy, attest::Policy::strict());
  if (!policy) return std::unexpected(policy.error());
  ui::Options options{args.ledger,        std::move(*key),   args.store, std::move(*ca_cert),
                      std::move(*policy), args.receipts_dir, {}};
  options.usage = check_usage_json;
  auto server = ui::Server::create(std::move(options));
  if (!server) return std::unexpected(server.error());
  auto port = (*server)->bind(address->host, address->port);
  if (!port) return std::unexpected(port.error());
  if (auto printed = print_stdout((*server)->url() + "\n"); !printed) return printed;
  auto& s = **server;
  return stop_signals->serve([&s] { return s.serve(); }, [&s] { s.stop(); });
}

}  // namespace

void add_ui_command(CLI::App& app, Action& action) {
  auto args = std::make_shared<UiArgs>();
  CLI::App* cmd = app.add_subcommand("ui", "A local web app: marketplace, deploy, verified chat, orders");
  cmd->footer(
      "Prints one line, the URL to open (http://127.0.0.1:PORT/#token=...), then serves until SIGINT or\n"
      "SIGTERM. The page never sees your key: this process signs every transaction, makes the grants of a\n"
      "deploy, verifies each service under your pins before chat reaches it, and verifies reports. Only\n"
      "the page opened with the printed token is answered; other sites, Host names and origins are refused.");
  add_ledger_option(cmd, args->ledger);
  add_key_option(cmd, args->key);
  cmd->add_option("--store", args->store, "The blob store for grants and offered descriptors")
      ->option_text("URI")
      ->required();
  cmd->add_option("--ca-cert", args->ca_cert, "The certification center's certificate (PEM)")
      ->option_text("FILE")
      ->required();
  cmd->add_option("--policy", args->policy,
                  "The attestation policy (JSON, docs/attest.md); default strict: no simulation")
      ->option_text("FILE");
  cmd->add_option("--listen", args->listen, "127.0.0.1:PORT to serve on (default 127.0.0.1:0: a free port)")
      ->option_text("127.0.0.1:PORT");
  cmd->add_option("--receipts-dir", args->receipts_dir,
                  "Where each service's usage receipts are kept (default ./ward-ui-receipts)")
      ->option_text("DIR");
  cmd->callback([args, &action] { action = [args] { return run_ui(*args); }; });
}

}  // namespace ward::cli
