// ward services subscribe | show: paid use of a service for subscribers
// (orders create --serve --access subscribers): a client's deposit, and what
// the service's CVM reported it used and the ledger charged.
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/cli.h"
#include "cli/ledger_common.h"

namespace ward::cli {
namespace {

using json = nlohmann::json;

struct SubscribeArgs {
  std::string ledger;
  std::string key;
  std::uint64_t order = 0;
  std::uint64_t deposit = 0;
  bool json = false;
};

struct ShowArgs {
  std::string ledger;
  std::uint64_t order = 0;
  std::string account;
  bool json = false;
};

// One line: the account, its deposit and charge, the counters, and whether
// it is open, exhausted or closed (with its refund).
std::string subscription_line(const ledger::Subscription& s) {
  std::string state = s.closed        ? "closed, refund " + std::to_string(s.refund)
                      : s.exhausted() ? "exhausted"
                                      : "open";
  return hex_encode(s.account) + "  deposit " + std::to_string(s.deposit) + "  charged " +
         std::to_string(s.charged) + "  requests " + std::to_string(s.requests) + "  tokens " +
         std::to_string(s.tokens) + "  bytes " + std::to_string(s.bytes) + "  " + state + "\n";
}

Result<ledger::Subscription> find_subscription(ledger::LedgerClient& client, std::uint64_t order,
                                               const ledger::AccountId& account) {
  auto found = client.subscription(order, account);
  if (!found) return std::unexpected(found.error());
  if (!*found) {
    return fail("cli.not_found",
                "account " + hex_encode(account) + " has no subscription to order " + std::to_string(order));
  }
  return **found;
}

Result<void> run_subscribe(const SubscribeArgs& args) {
  auto key = keys::PartyKey::load(args.key);
  if (!key) return std::unexpected(key.error());
  auto client = ledger::open_client(args.ledger);
  if (!client) return std::unexpected(client.error());
  auto receipt = submit_transaction(**client, *key, "services.subscribe",
                                    {{"order", args.order}, {"deposit", args.deposit}});
  if (!receipt) return std::unexpected(receipt.error());
  auto subscription = find_subscription(**client, args.order, key->signing_public_key());
  if (!subscription) return std::unexpected(subscription.error());
  if (args.json) {
    json out = to_json(*receipt);
    out["subscription"] = to_json(*subscription);
    return print_json(out);
  }
  return print_stdout("subscribed to service order " + std::to_string(args.order) + " (record " +
                      std::to_string(receipt->index) + "): " + subscription_line(*subscription));
}

Result<void> run_show(const ShowArgs& args) {
  auto client = ledger::open_client(args.ledger);
  if (!client) return std::unexpected(client.error());
  if (!args.account.empty()) {
    auto account = parse_id_arg("--account", args.account);
    if (!account) return std::unexpected(account.error());
    auto subscription = find_subscription(**client, args.order, *account);
    if (!subscription) return std::unexpected(subscription.error());
    if (args.json) return print_json(to_json(*subscription));
    return print_stdout(subscription_line(*subscription));
  }
  auto subscriptions = (*client)->subscriptions(args.order);
  if (!subscriptions) return std::unexpected(subscriptions.error());
  if (args.json) {
    json list = json::array();
    for (const auto& s : *subscriptions) list.push_back(to_json(s));
    return print_json({{"subscriptions", std::move(list)}});
  }
  std::string text;
  for (const auto& s : *subscriptions) text += subscription_line(s);
  return print_stdout(text);
}

}  // namespace

void add_services_commands(CLI::App& app, Action& action) {
  CLI::App* group = app.add_subcommand("services", "Subscribe to a service and see what its use cost");
  group->require_subcommand(1);
  group->footer("Run 'ward services COMMAND --help' for a command's options.");

  auto subscribe = std::make_shared<SubscribeArgs>();
  CLI::App* subscribe_cmd =
      group->add_subcommand("subscribe", "Subscribe to a service for subscribers, or top up a subscription");
  subscribe_cmd->footer(
      "The deposit moves from your balance into escrow. The service's CVM reports what you used, and the\n"
      "ledger charges it from the deposit at the order's price, never more than the deposit. Subscribing\n"
      "again adds to the deposit. When the order ends, what was not charged comes back. The order must be\n"
      "new or running, for subscribers, and not asked to stop.");
  add_ledger_option(subscribe_cmd, subscribe->ledger);
  add_key_option(subscribe_cmd, subscribe->key);
  decimal(subscribe_cmd->add_option("ORDER", subscribe->order, "The service order id"))
      ->option_text(" ")
      ->required();
  decimal(subscribe_cmd->add_option("--deposit", subscribe->deposit, "Tokens put in escrow (at least 1)"), 1,
          ledger::kMaxAmount)
      ->option_text("N")
      ->required();
  add_json_flag(subscribe_cmd, subscribe->json);
  subscribe_cmd->callback(
      [&action, subscribe] { action = [subscribe] { return run_subscribe(*subscribe); }; });

  auto show = std::make_shared<ShowArgs>();
  CLI::App* show_cmd =
      group->add_subcommand("show", "List a service's subscriptions and what each was charged");
  show_cmd->footer(
      "One line per subscriber, in account order: deposit, charged, the counters the CVM reported\n"
      "(requests, tokens, bytes, cumulative), and open, exhausted (charged all of its deposit) or closed\n"
      "with its refund.");
  add_ledger_option(show_cmd, show->ledger);
  decimal(show_cmd->add_option("ORDER", show->order, "The service order id"))->option_text(" ")->required();
  show_cmd->add_option("--account", show->account, "Only this subscriber's (its account id, 64 hex)")
      ->option_text("ID");
  add_json_flag(show_cmd, show->json);
  show_cmd->callback([&action, show] { action = [show] { return run_show(*show); }; });
}

}  // namespace ward::cli
