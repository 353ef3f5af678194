// ward services subscribe | show | usage: paid use of a service for
// subscribers (orders create --serve --access subscribers): a client's
// deposit, what the service's CVM reported it used and the ledger charged,
// and that charge checked against the receipts the client kept.
#include "cli/services.h"

#include <algorithm>
#include <map>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/cli.h"
#include "cli/ledger_common.h"
#include "ledger/contract.h"
#include "serve/meter.h"

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

struct UsageArgs {
  std::string ledger;
  std::uint64_t order = 0;
  std::string receipts;
  bool verify = false;
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

// The most each counter reached in an account's receipts: receipts are
// cumulative, and a restarted service carries on from the ledger's counters,
// so the largest of each is what the client acknowledges.
struct Acknowledged {
  serve::Usage usage;
  std::size_t receipts = 0;
};

// Every receipt must be for this order and ledger, and come from a TLS key
// the order's CVM certified (its certificate is signed by the CVM's key).
Result<std::map<ledger::AccountId, Acknowledged>> acknowledged(ledger::LedgerClient& client,
                                                               const ledger::Order& order,
                                                               const std::string& path) {
  auto kept = serve::read_receipt_log(path);
  if (!kept) return std::unexpected(kept.error());
  auto summary = client.summary();
  if (!summary) return std::unexpected(summary.error());
  auto cvm = client.cvm(order.cvm);
  if (!cvm) return std::unexpected(cvm.error());
  if (!*cvm) return fail("cli.not_found", "the order's CVM is not on the ledger");
  auto cvm_cert = crypto::Certificate::from_pem((*cvm)->certificate);
  if (!cvm_cert) return fail(cvm_cert.error(), "the CVM's certificate on the ledger");
  std::map<ledger::AccountId, Acknowledged> out;
  std::size_t line = 0;
  for (const auto& k : *kept) {
    ++line;
    const std::string where = path + " receipt " + std::to_string(line) + ": ";
    if (k.receipt.order != order.id) {
      return fail("serve.receipt", where + "is for order " + std::to_string(k.receipt.order) + ", not " +
                                       std::to_string(order.id));
    }
    if (k.receipt.ledger != summary->info.id) return fail("serve.receipt", where + "is for another ledger");
    if (!k.leaf.verify_signature(*cvm_cert))
      return fail("serve.receipt", where + "its TLS key was not certified by the order's CVM");
    Acknowledged& a = out[k.receipt.account];
    a.usage.requests = std::max(a.usage.requests, k.receipt.usage.requests);
    a.usage.tokens = std::max(a.usage.tokens, k.receipt.usage.tokens);
    a.usage.bytes = std::max(a.usage.bytes, k.receipt.usage.bytes);
    ++a.receipts;
  }
  return out;
}

// What the ledger holds beyond the receipts, one clause per counter ("" when
// nothing): the recorded counters, and the charge against what the receipts'
// counters cost at the order's price.
std::string overcharge(const ledger::Subscription& s, const serve::Usage& ack,
                       const ledger::UsagePrice& price) {
  std::string out;
  const auto more = [&](const char* name, std::uint64_t ledger_value, std::uint64_t receipt_value) {
    if (ledger_value <= receipt_value) return;
    out += std::string(out.empty() ? "" : "; ") + name + " " + std::to_string(ledger_value) +
           " on the ledger, at most " + std::to_string(receipt_value) + " in the receipts";
  };
  more("requests", s.requests, ack.requests);
  more("tokens", s.tokens, ack.tokens);
  more("bytes", s.bytes, ack.bytes);
  more("charged", s.charged, ledger::usage_charge(price, ack.requests, ack.tokens, s.deposit));
  return out;
}

Result<void> run_usage(const UsageArgs& args) {
  if (args.verify && args.receipts.empty())
    return fail(std::string(kUsage), "--verify compares the ledger with --receipts FILE; name the file");
  auto client = ledger::open_client(args.ledger);
  if (!client) return std::unexpected(client.error());
  auto checked = check_usage(**client, args.order, args.receipts);
  if (!checked) return std::unexpected(checked.error());
  auto printed = args.json ? print_json(checked->json) : print_stdout(checked->text);
  if (!printed) return printed;
  if (args.verify && !checked->overcharged.empty()) {
    const auto& over = checked->overcharged;
    return fail("services.overcharged",
                "the ledger charges more than your receipts show: " + over.front() +
                    (over.size() > 1 ? " (and " + std::to_string(over.size() - 1) + " more)" : ""));
  }
  return {};
}

}  // namespace

Result<nlohmann::json> check_usage_json(ledger::LedgerClient& client, std::uint64_t order,
                                        const std::string& receipts) {
  auto checked = check_usage(client, order, receipts);
  if (!checked) return std::unexpected(checked.error());
  return checked->json;
}

Result<UsageCheck> check_usage(ledger::LedgerClient& client, std::uint64_t order_id,
                               const std::string& receipts_path) {
  auto order = client.order(order_id);
  if (!order) return std::unexpected(order.error());
  if (!*order || !(*order)->serve) {
    return fail("cli.not_found", "no service order " + std::to_string(order_id) + " on the ledger");
  }
  auto subscriptions = client.subscriptions(order_id);
  if (!subscriptions) return std::unexpected(subscriptions.error());
  std::map<ledger::AccountId, Acknowledged> receipts;
  if (!receipts_path.empty()) {
    auto read = acknowledged(client, **order, receipts_path);
    if (!read) return std::unexpected(read.error());
    receipts = std::move(*read);
  }
  const ledger::UsagePrice price = (*order)->serve->rule.price;
  UsageCheck out;
  json list = json::array();
  for (const auto& [account, ack] : receipts) {
    const auto it = std::find_if(subscriptions->begin(), subscriptions->end(),
                                 [&](const ledger::Subscription& s) { return s.account == account; });
    const ledger::Subscription s = it != subscriptions->end() ? *it : ledger::Subscription{order_id, account};
    const std::string over = overcharge(s, ack.usage, price);
    const std::string name = hex_encode(account);
    json entry = to_json(s);
    entry["receipts"] = {{"count", ack.receipts},
                         {"requests", ack.usage.requests},
                         {"tokens", ack.usage.tokens},
                         {"bytes", ack.usage.bytes}};
    entry["overcharge"] = over.empty() ? json(nullptr) : json(over);
    list.push_back(std::move(entry));
    out.text += name + "  receipts " + std::to_string(ack.receipts) + ": requests " +
                std::to_string(ack.usage.requests) + "  tokens " + std::to_string(ack.usage.tokens) +
                "  bytes " + std::to_string(ack.usage.bytes) + "\n  ledger: " + subscription_line(s);
    out.text += over.empty() ? "  ok: the ledger charges no more than the receipts show\n"
                             : "  OVERCHARGED: " + over + "\n";
    if (!over.empty()) out.overcharged.push_back(name.substr(0, 16) + "...: " + over);
  }
  if (receipts.empty()) {
    for (const auto& s : *subscriptions) {
      list.push_back(to_json(s));
      out.text += subscription_line(s);
    }
  }
  out.json = {{"order", order_id}, {"accounts", std::move(list)}};
  return out;
}

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

  auto usage = std::make_shared<UsageArgs>();
  CLI::App* usage_cmd =
      group->add_subcommand("usage", "Compare what the ledger charged with the usage receipts you kept");
  usage_cmd->footer(
      "Every response of a metered service carries a receipt of your cumulative use (requests, tokens,\n"
      "bytes) signed by the service's TLS key; `ward proxy --key K --receipts FILE` keeps them. This reads\n"
      "FILE, checks each receipt's signature, that it is for ORDER on this ledger, and that its key was\n"
      "certified by the order's CVM, then compares each account's largest counters with what the ledger\n"
      "recorded and charged at the order's price. With --verify, any charge beyond the receipts is an\n"
      "error (exit 1) naming the account and the counter. Without --receipts: the ledger's side only.");
  add_ledger_option(usage_cmd, usage->ledger);
  decimal(usage_cmd->add_option("ORDER", usage->order, "The service order id"))->option_text(" ")->required();
  usage_cmd->add_option("--receipts", usage->receipts, "The receipts `ward proxy --receipts` kept")
      ->option_text("FILE");
  usage_cmd->add_flag("--verify", usage->verify, "Fail when the ledger charges more than the receipts show");
  add_json_flag(usage_cmd, usage->json);
  usage_cmd->callback([&action, usage] { action = [usage] { return run_usage(*usage); }; });
}

}  // namespace ward::cli
