// ward accounts register | show | fund: a party's account on the ledger.
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/cli.h"
#include "cli/ledger_common.h"

namespace ward::cli {
namespace {

using json = nlohmann::json;

struct RegisterArgs {
  std::string ledger;
  std::string key;
  std::string name;
  bool json = false;
};

struct ShowArgs {
  std::string ledger;
  std::string id;
  std::string key;
  bool json = false;
};

struct FundArgs {
  std::string ledger;
  std::string key;
  std::optional<std::string> to;  // the signer's own account when absent
  std::uint64_t amount = 0;
  bool json = false;
};

Result<void> run_register(const RegisterArgs& args) {
  auto key = keys::PartyKey::load(args.key);
  if (!key) return std::unexpected(key.error());
  auto client = ledger::open_client(args.ledger);
  if (!client) return std::unexpected(client.error());
  json a = {{"recipient", key->recipient().to_string()}};
  if (!args.name.empty()) a["name"] = args.name;
  auto receipt = submit_transaction(**client, *key, "accounts.register", std::move(a));
  if (!receipt) return std::unexpected(receipt.error());
  const std::string id = hex_encode(key->signing_public_key());
  if (args.json) {
    json out = to_json(*receipt);
    out["account"] = id;
    return print_json(out);
  }
  return print_stdout("registered account " + id + " (record " + std::to_string(receipt->index) + ")\n");
}

Result<void> run_show(const ShowArgs& args) {
  if (args.id.empty() == args.key.empty())
    return fail(std::string(kUsage), "give an account ID or --key FILE");
  ledger::AccountId id{};
  if (!args.key.empty()) {
    auto key = keys::PartyKey::load(args.key);
    if (!key) return std::unexpected(key.error());
    id = key->signing_public_key();
  } else {
    auto parsed = parse_id_arg("account", args.id);
    if (!parsed) return std::unexpected(parsed.error());
    id = *parsed;
  }
  auto client = ledger::open_client(args.ledger);
  if (!client) return std::unexpected(client.error());
  auto account = (*client)->account(id);
  if (!account) return std::unexpected(account.error());
  if (!*account) return fail("cli.not_found", "no account " + hex_encode(id) + " on the ledger");
  if (args.json) return print_json(to_json(**account));
  return print_fields(to_json(**account));
}

Result<void> run_fund(const FundArgs& args) {
  auto key = keys::PartyKey::load(args.key);
  if (!key) return std::unexpected(key.error());
  ledger::AccountId to = key->signing_public_key();
  if (args.to) {
    auto parsed = parse_id_arg("--to", *args.to);
    if (!parsed) return std::unexpected(parsed.error());
    to = *parsed;
  }
  auto client = ledger::open_client(args.ledger);
  if (!client) return std::unexpected(client.error());
  auto receipt =
      submit_transaction(**client, *key, "accounts.fund", {{"to", hex_encode(to)}, {"amount", args.amount}});
  if (!receipt) return std::unexpected(receipt.error());
  if (args.json) return print_json(to_json(*receipt));
  return print_stdout("funded " + hex_encode(to) + " with " + std::to_string(args.amount) + " (record " +
                      std::to_string(receipt->index) + ")\n");
}

}  // namespace

void add_accounts_commands(CLI::App& app, Action& action) {
  CLI::App* group = app.add_subcommand("accounts", "Register and inspect ledger accounts");
  group->require_subcommand(1);
  group->footer(
      "An account is identified by the party's Ed25519 signing public key (hex, see 'ward keys show').\n"
      "Run 'ward accounts COMMAND --help' for a command's options.");

  auto reg = std::make_shared<RegisterArgs>();
  CLI::App* reg_cmd = group->add_subcommand("register", "Register the key's account (its first transaction)");
  reg_cmd->footer("Records the party's age recipient, so others can grant it access to files.");
  add_ledger_option(reg_cmd, reg->ledger);
  add_key_option(reg_cmd, reg->key);
  reg_cmd->add_option("--name", reg->name, "A display name")->option_text("NAME");
  add_json_flag(reg_cmd, reg->json);
  reg_cmd->callback([&action, reg] { action = [reg] { return run_register(*reg); }; });

  auto show = std::make_shared<ShowArgs>();
  CLI::App* show_cmd = group->add_subcommand("show", "Print an account: balance, nonce, recipient");
  add_ledger_option(show_cmd, show->ledger);
  show_cmd->add_option("ID", show->id, "The account id (64 hex digits)")->option_text(" ");
  show_cmd->add_option("--key", show->key, "Show the account of this party key file instead")
      ->option_text("FILE");
  add_json_flag(show_cmd, show->json);
  show_cmd->callback([&action, show] { action = [show] { return run_show(*show); }; });

  auto fund = std::make_shared<FundArgs>();
  CLI::App* fund_cmd = group->add_subcommand("fund", "Mint tokens to an account (dev ledgers only)");
  fund_cmd->footer(
      "The faucet of ledgers made with 'ward ledger init --dev'; any account may use it.\n"
      "Without --to it funds the account of --key, the signer's own.");
  add_ledger_option(fund_cmd, fund->ledger);
  add_key_option(fund_cmd, fund->key);
  fund_cmd->add_option("--to", fund->to, "The account to fund (default: the signer's own)")
      ->option_text("ID");
  add_amount_option(fund_cmd, "--amount", fund->amount, "Tokens to mint")->required();
  add_json_flag(fund_cmd, fund->json);
  fund_cmd->callback([&action, fund] { action = [fund] { return run_fund(*fund); }; });
}

}  // namespace ward::cli
