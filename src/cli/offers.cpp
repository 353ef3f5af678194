// ward offers create | list | get | enable | disable: what parties sell
// (engines, datasets, models, TEE capacity) and at what price.
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/cli.h"
#include "cli/ledger_common.h"

namespace ward::cli {
namespace {

using json = nlohmann::json;

struct CreateArgs {
  std::string ledger;
  std::string key;
  std::string kind;
  std::string name;
  std::string resource;
  std::string price;
  std::uint64_t timeout = 0;
  bool json = false;
};

struct ListArgs {
  std::string ledger;
  bool json = false;
};

struct GetArgs {
  std::string ledger;
  std::uint64_t id = 0;
  bool json = false;
};

struct ToggleArgs {
  std::string ledger;
  std::string key;
  std::uint64_t id = 0;
  bool json = false;
};

// "fixed:N", "per-hour:N" or "revenue-share:BPS" as the ledger's price object;
// N and BPS are strict decimal (parse_decimal), like every amount.
Result<json> parse_price(std::string_view text) {
  const auto colon = text.find(':');
  const std::string_view model = text.substr(0, colon);
  const std::string_view number = colon == std::string_view::npos ? "" : text.substr(colon + 1);
  const bool share = model == "revenue-share";
  if (model != "fixed" && model != "per-hour" && !share) {
    return fail(std::string(kUsage),
                "--price '" + std::string(text) +
                    "' is not fixed:N, per-hour:N or revenue-share:BPS (BPS at most 10000)");
  }
  auto n = parse_decimal(number, share ? 10000 : ledger::kMaxAmount);
  if (!n) {
    return fail(std::string(kUsage), "--price '" + std::string(text) +
                                         "': " + std::string(share ? "BPS" : "N") + " '" +
                                         std::string(number) + "' " + n.error().message);
  }
  if (share) return json{{"model", "revenue_share"}, {"bps", *n}};
  return json{{"model", model == "fixed" ? "fixed" : "per_hour"}, {"amount", *n}};
}

Result<void> print_receipt(const ledger::Receipt& receipt, bool as_json, const std::string& line) {
  if (as_json) return print_json(to_json(receipt));
  return print_stdout(line + " (record " + std::to_string(receipt.index) + ")\n");
}

Result<void> run_create(const CreateArgs& args) {
  auto price = parse_price(args.price);
  if (!price) return std::unexpected(price.error());
  auto key = keys::PartyKey::load(args.key);
  if (!key) return std::unexpected(key.error());
  auto client = ledger::open_client(args.ledger);
  if (!client) return std::unexpected(client.error());
  json tx_args = {
      {"kind", args.kind}, {"name", args.name}, {"resource", args.resource}, {"price", std::move(*price)}};
  if (args.timeout != 0) {
    if (args.kind != "tee") return fail(std::string(kUsage), "--timeout is a tee offer's");
    tx_args["timeout"] = args.timeout;
  }
  auto receipt = submit_transaction(**client, *key, "offers.create", std::move(tx_args));
  if (!receipt) return std::unexpected(receipt.error());
  if (args.json) {
    json out = to_json(*receipt);
    out["offer"] = receipt->index;
    return print_json(out);
  }
  return print_stdout("offer " + std::to_string(receipt->index) + " created\n");
}

Result<void> run_list(const ListArgs& args) {
  auto client = ledger::open_client(args.ledger);
  if (!client) return std::unexpected(client.error());
  auto offers = (*client)->offers();
  if (!offers) return std::unexpected(offers.error());
  json list = json::array();
  for (const auto& o : *offers) list.push_back(to_json(o));
  if (args.json) return print_json({{"offers", std::move(list)}});
  std::string text;
  for (const auto& o : list) {
    text += std::to_string(o["id"].get<std::uint64_t>()) + "  " + o["kind"].get<std::string>() + "  " +
            price_text(o["price"]) + "  " + (o["enabled"].get<bool>() ? "enabled" : "disabled") + "  " +
            o["name"].get<std::string>() + "  owner " + o["owner"].get<std::string>().substr(0, 16) + "\n";
  }
  return print_stdout(text);
}

Result<void> run_get(const GetArgs& args) {
  auto client = ledger::open_client(args.ledger);
  if (!client) return std::unexpected(client.error());
  auto offer = (*client)->offer(args.id);
  if (!offer) return std::unexpected(offer.error());
  if (!*offer) return fail("cli.not_found", "no offer " + std::to_string(args.id) + " on the ledger");
  if (args.json) return print_json(to_json(**offer));
  return print_fields(to_json(**offer));
}

Result<void> run_toggle(const ToggleArgs& args, bool enable) {
  auto key = keys::PartyKey::load(args.key);
  if (!key) return std::unexpected(key.error());
  auto client = ledger::open_client(args.ledger);
  if (!client) return std::unexpected(client.error());
  auto receipt =
      submit_transaction(**client, *key, enable ? "offers.enable" : "offers.disable", {{"offer", args.id}});
  if (!receipt) return std::unexpected(receipt.error());
  return print_receipt(*receipt, args.json,
                       "offer " + std::to_string(args.id) + (enable ? " enabled" : " disabled"));
}

void add_toggle(CLI::App* group, Action& action, bool enable) {
  auto args = std::make_shared<ToggleArgs>();
  CLI::App* cmd =
      group->add_subcommand(enable ? "enable" : "disable",
                            enable ? "Take orders for an offer again" : "Stop taking orders for an offer");
  cmd->footer("Only the offer's owner may do this. Orders already placed are not affected.");
  add_ledger_option(cmd, args->ledger);
  add_key_option(cmd, args->key);
  decimal(cmd->add_option("ID", args->id, "The offer id"))->option_text(" ")->required();
  add_json_flag(cmd, args->json);
  cmd->callback([&action, args, enable] { action = [args, enable] { return run_toggle(*args, enable); }; });
}

}  // namespace

void add_offers_commands(CLI::App& app, Action& action) {
  CLI::App* group = app.add_subcommand("offers", "Offer engines, datasets, models and TEE capacity");
  group->require_subcommand(1);
  group->footer("Run 'ward offers COMMAND --help' for a command's options.");

  auto create = std::make_shared<CreateArgs>();
  CLI::App* create_cmd = group->add_subcommand("create", "Create an offer");
  create_cmd->footer(
      "The offer id is the index of the record that created it. Prices: fixed:N (paid when the order\n"
      "is done; by a service when it first starts), per-hour:N (per started hour of processing),\n"
      "revenue-share:BPS (basis points of what a service's subscribers are charged).");
  add_ledger_option(create_cmd, create->ledger);
  add_key_option(create_cmd, create->key);
  create_cmd->add_option("--kind", create->kind, "What is offered")
      ->option_text("engine|dataset|model|tee")
      ->check(CLI::IsMember({"engine", "dataset", "model", "tee"}))
      ->required();
  create_cmd->add_option("--name", create->name, "A display name")->option_text("NAME")->required();
  create_cmd->add_option("--resource", create->resource, "What the offer refers to: a digest, a URI")
      ->option_text("R")
      ->required();
  create_cmd->add_option("--price", create->price, "The price")
      ->option_text("fixed:N|per-hour:N|revenue-share:BPS")
      ->required();
  decimal(
      create_cmd->add_option("--timeout", create->timeout,
                             "A tee offer's failover timeout: seconds without a heartbeat after which its "
                             "CVM's orders placed on the offer may be reassigned (default 90)"),
      1, ledger::kMaxCvmTimeout)
      ->option_text("SECONDS");
  add_json_flag(create_cmd, create->json);
  create_cmd->callback([&action, create] { action = [create] { return run_create(*create); }; });

  auto list = std::make_shared<ListArgs>();
  CLI::App* list_cmd = group->add_subcommand("list", "List every offer");
  add_ledger_option(list_cmd, list->ledger);
  add_json_flag(list_cmd, list->json);
  list_cmd->callback([&action, list] { action = [list] { return run_list(*list); }; });

  auto get = std::make_shared<GetArgs>();
  CLI::App* get_cmd = group->add_subcommand("get", "Print one offer");
  add_ledger_option(get_cmd, get->ledger);
  decimal(get_cmd->add_option("ID", get->id, "The offer id"))->option_text(" ")->required();
  add_json_flag(get_cmd, get->json);
  get_cmd->callback([&action, get] { action = [get] { return run_get(*get); }; });

  add_toggle(group, action, false);
  add_toggle(group, action, true);
}

}  // namespace ward::cli
