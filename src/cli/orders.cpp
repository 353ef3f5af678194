// ward orders create | list | get | cancel: confidential work placed on a CVM.
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/cli.h"
#include "cli/ledger_common.h"

namespace ward::cli {
namespace {

using json = nlohmann::json;

struct CreateArgs {
  std::string ledger;
  std::string key;
  std::string cvm;
  std::string engine;
  std::vector<std::string> inputs;
  std::vector<std::string> outputs;
  std::vector<std::uint64_t> offers;
  std::uint64_t deposit = 0;
  bool json = false;
};

struct ListArgs {
  std::string ledger;
  std::string creator;
  std::string cvm;
  std::string status;
  bool json = false;
};

struct GetArgs {
  std::string ledger;
  std::uint64_t id = 0;
  bool json = false;
};

struct CancelArgs {
  std::string ledger;
  std::string key;
  std::uint64_t id = 0;
  bool json = false;
};

Result<void> run_create(const CreateArgs& args) {
  auto cvm = parse_id_arg("--cvm", args.cvm);
  if (!cvm) return std::unexpected(cvm.error());
  auto key = keys::PartyKey::load(args.key);
  if (!key) return std::unexpected(key.error());
  auto client = ledger::open_client(args.ledger);
  if (!client) return std::unexpected(client.error());
  auto receipt = submit_transaction(**client, *key, "orders.create",
                                    {{"cvm", hex_encode(*cvm)},
                                     {"engine", args.engine},
                                     {"inputs", args.inputs},
                                     {"outputs", args.outputs},
                                     {"offers", args.offers},
                                     {"deposit", args.deposit}});
  if (!receipt) return std::unexpected(receipt.error());
  if (args.json) {
    json out = to_json(*receipt);
    out["order"] = receipt->index;
    return print_json(out);
  }
  return print_stdout("order " + std::to_string(receipt->index) + " created\n");
}

Result<void> run_list(const ListArgs& args) {
  ledger::OrderFilter filter;
  if (!args.creator.empty()) {
    auto id = parse_id_arg("--creator", args.creator);
    if (!id) return std::unexpected(id.error());
    filter.creator = *id;
  }
  if (!args.cvm.empty()) {
    auto id = parse_id_arg("--cvm", args.cvm);
    if (!id) return std::unexpected(id.error());
    filter.cvm = *id;
  }
  if (!args.status.empty()) filter.status = ledger::parse_order_status(args.status);
  auto client = ledger::open_client(args.ledger);
  if (!client) return std::unexpected(client.error());
  auto orders = (*client)->orders(filter);
  if (!orders) return std::unexpected(orders.error());
  json list = json::array();
  for (const auto& o : *orders) list.push_back(to_json(o));
  if (args.json) return print_json({{"orders", std::move(list)}});
  std::string text;
  for (const auto& o : list) {
    text += std::to_string(o["id"].get<std::uint64_t>()) + "  " + o["status"].get<std::string>() +
            "  deposit " + std::to_string(o["deposit"].get<std::uint64_t>()) + "  cvm " +
            o["cvm"].get<std::string>().substr(0, 16) + "  engine " + o["engine"].get<std::string>() + "\n";
  }
  return print_stdout(text);
}

Result<void> run_get(const GetArgs& args) {
  auto client = ledger::open_client(args.ledger);
  if (!client) return std::unexpected(client.error());
  auto order = (*client)->order(args.id);
  if (!order) return std::unexpected(order.error());
  if (!*order) return fail("cli.not_found", "no order " + std::to_string(args.id) + " on the ledger");
  if (args.json) return print_json(to_json(**order));
  return print_fields(to_json(**order));
}

Result<void> run_cancel(const CancelArgs& args) {
  auto key = keys::PartyKey::load(args.key);
  if (!key) return std::unexpected(key.error());
  auto client = ledger::open_client(args.ledger);
  if (!client) return std::unexpected(client.error());
  auto receipt = submit_transaction(**client, *key, "orders.cancel", {{"order", args.id}});
  if (!receipt) return std::unexpected(receipt.error());
  if (args.json) return print_json(to_json(*receipt));
  return print_stdout("order " + std::to_string(args.id) + " canceled, deposit refunded (record " +
                      std::to_string(receipt->index) + ")\n");
}

}  // namespace

void add_orders_commands(CLI::App& app, Action& action) {
  CLI::App* group = app.add_subcommand("orders", "Place, inspect and cancel orders");
  group->require_subcommand(1);
  group->footer("Run 'ward orders COMMAND --help' for a command's options.");

  auto create = std::make_shared<CreateArgs>();
  CLI::App* create_cmd = group->add_subcommand("create", "Place an order on a CVM");
  create_cmd->footer(
      "The deposit moves from your balance into escrow; when the order ends it pays the provider and\n"
      "each --offer by its price, and the rest comes back. The order id is the index of its record.");
  add_ledger_option(create_cmd, create->ledger);
  add_key_option(create_cmd, create->key);
  create_cmd->add_option("--cvm", create->cvm, "The CVM to run on (its id, 64 hex digits)")
      ->option_text("ID")
      ->required();
  create_cmd->add_option("--engine", create->engine, "The engine's image digest")
      ->option_text("DIGEST")
      ->required();
  repeatable(create_cmd->add_option("--input", create->inputs, "An input grant reference. Can be repeated"))
      ->option_text("REF");
  repeatable(create_cmd->add_option("--output-to", create->outputs,
                                    "An age recipient (age1...) the output is encrypted to. Can be repeated"))
      ->option_text("RECIPIENT")
      ->required();
  repeatable(create_cmd->add_option("--offer", create->offers, "An offer id the order pays. Can be repeated"))
      ->option_text("ID");
  add_amount_option(create_cmd, "--deposit", create->deposit, "Tokens put in escrow")->required();
  add_json_flag(create_cmd, create->json);
  create_cmd->callback([&action, create] { action = [create] { return run_create(*create); }; });

  auto list = std::make_shared<ListArgs>();
  CLI::App* list_cmd = group->add_subcommand("list", "List orders (the first 1000 that match)");
  add_ledger_option(list_cmd, list->ledger);
  list_cmd->add_option("--creator", list->creator, "Only orders placed by this account")->option_text("ID");
  list_cmd->add_option("--cvm", list->cvm, "Only orders on this CVM")->option_text("ID");
  list_cmd->add_option("--status", list->status, "Only orders in this status")
      ->option_text("new|processing|done|error|canceled")
      ->check(CLI::IsMember({"new", "processing", "done", "error", "canceled"}));
  add_json_flag(list_cmd, list->json);
  list_cmd->callback([&action, list] { action = [list] { return run_list(*list); }; });

  auto get = std::make_shared<GetArgs>();
  CLI::App* get_cmd = group->add_subcommand("get", "Print one order, with its settlement");
  add_ledger_option(get_cmd, get->ledger);
  get_cmd->add_option("ID", get->id, "The order id")->option_text(" ")->required();
  add_json_flag(get_cmd, get->json);
  get_cmd->callback([&action, get] { action = [get] { return run_get(*get); }; });

  auto cancel = std::make_shared<CancelArgs>();
  CLI::App* cancel_cmd = group->add_subcommand("cancel", "Cancel a new order and get the deposit back");
  cancel_cmd->footer("Only the order's creator may cancel it, and only before its CVM starts it.");
  add_ledger_option(cancel_cmd, cancel->ledger);
  add_key_option(cancel_cmd, cancel->key);
  cancel_cmd->add_option("ID", cancel->id, "The order id")->option_text(" ")->required();
  add_json_flag(cancel_cmd, cancel->json);
  cancel_cmd->callback([&action, cancel] { action = [cancel] { return run_cancel(*cancel); }; });
}

}  // namespace ward::cli
