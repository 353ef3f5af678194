#include "cli/ledger_common.h"

#include "cli/cli.h"

namespace ward::cli {

using json = nlohmann::json;

void add_ledger_option(CLI::App* command, std::string& target) {
  target = kDefaultLedger;
  command
      ->add_option(
          "--ledger", target,
          "The ledger: a database file, or http://HOST:PORT of a 'ward ledger serve' (default ./ward.db)")
      ->option_text("FILE|URL");
}

void add_key_option(CLI::App* command, std::string& path) {
  command->add_option("--key", path, "The party key file (from 'ward keys new') that signs")
      ->option_text("FILE")
      ->required();
}

void add_json_flag(CLI::App* command, bool& json) {
  command->add_flag("--json", json, "Print JSON");
}

CLI::Option* add_amount_option(CLI::App* command, const std::string& name, std::uint64_t& value,
                               const std::string& help) {
  static_assert(ledger::kMaxAmount == kMaxDecimal);
  return decimal(command->add_option(name, value, help), 0, ledger::kMaxAmount)->option_text("N");
}

Result<std::array<std::uint8_t, 32>> parse_id_arg(std::string_view what, std::string_view text) {
  auto id = ledger::parse_id(text);
  if (!id)
    return fail(std::string(kUsage),
                std::string(what) + " '" + std::string(text) + "' is not 64 lower-case hex digits");
  return id;
}

Result<ledger::Receipt> submit_envelope(ledger::LedgerClient& client, std::string_view envelope) {
  return ledger::submit_accepted(client, envelope);
}

Result<ledger::Receipt> submit_transaction(ledger::LedgerClient& client, const keys::PartyKey& key,
                                           std::string_view type, json args) {
  return ledger::submit_signed(client, key, type, std::move(args));
}

Result<void> print_json(const json& value) {
  return print_stdout(value.dump(2, ' ', false, json::error_handler_t::replace) + "\n");
}

namespace {

std::string field_text(const json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_array()) {
    std::string out;
    for (const auto& item : value) {
      if (!out.empty()) out += ", ";
      out += field_text(item);
    }
    return out.empty() ? "-" : out;
  }
  if (value.is_object() && value.contains("model")) return price_text(value);
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace

Result<void> print_fields(const json& object) {
  std::string out;
  for (const auto& [key, value] : object.items()) out += key + ": " + field_text(value) + "\n";
  return print_stdout(out);
}

std::string price_text(const json& price) {
  const std::string model = price.value("model", "");
  if (model == "revenue_share") return "revenue-share:" + price.value("bps", json(0)).dump();
  std::string name = model;
  for (char& c : name) c = c == '_' ? '-' : c;
  return name + ":" + price.value("amount", json(0)).dump();
}

}  // namespace ward::cli
