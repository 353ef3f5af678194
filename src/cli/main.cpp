// ward: the command line for Ward's parties.
#include <exception>
#include <string>

#include <CLI/CLI.hpp>

#include "cli/cli.h"

namespace {

int run(int argc, char** argv) {
  CLI::App app("Ward: confidential AI collaboration. Try `ward demo`.", "ward");
  app.set_version_flag("--version", "ward " WARD_VERSION);
  app.require_subcommand(1);
  app.footer("Run 'ward COMMAND --help' for a command's options.");

  ward::cli::Action action;
  ward::cli::add_keys_commands(app, action);
  ward::cli::add_crypt_commands(app, action);
  ward::cli::add_ledger_commands(app, action);
  ward::cli::add_accounts_commands(app, action);
  ward::cli::add_offers_commands(app, action);
  ward::cli::add_orders_commands(app, action);
  ward::cli::add_services_commands(app, action);
  ward::cli::add_attest_commands(app, action);
  ward::cli::add_ca_commands(app, action);
  ward::cli::add_kms_commands(app, action);
  ward::cli::add_tunnel_commands(app, action);
  ward::cli::add_engine_commands(app, action);
  ward::cli::add_files_commands(app, action);
  ward::cli::add_node_commands(app, action);
  ward::cli::add_serve_commands(app, action);
  ward::cli::add_proxy_command(app, action);
  ward::cli::add_ui_command(app, action);
  ward::cli::add_demo_command(app, action);

  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);  // --help, --version
  } catch (const CLI::ParseError& e) {
    // Point at the help of the deepest command the user got to.
    std::string command = "ward";
    for (const CLI::App* sub = &app; !sub->get_subcommands().empty();) {
      sub = sub->get_subcommands().front();
      command += " " + sub->get_name();
    }
    ward::cli::print_error(std::string(e.what()) + " (see '" + command + " --help')");
    return 2;
  }

  auto result = action();
  if (!result) {
    ward::cli::print_error(result.error().message);
    return result.error().code == ward::cli::kUsage ? 2 : 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // Libraries report errors as values; an exception here is an internal failure
  // such as memory exhaustion, and still gets the one-line error format.
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    ward::cli::print_error(std::string("internal error: ") + e.what());
    return 1;
  }
}
