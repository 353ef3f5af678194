// What the ledger verb groups (ledger, accounts, offers, orders) share: the
// --ledger, --key and --json options, building, signing and submitting a
// transaction, and printing what the ledger returns.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "keys/party_key.h"
#include "ledger/client.h"

namespace ward::cli {

inline constexpr const char* kDefaultLedger = "./ward.db";

// --ledger FILE|URL (default ./ward.db).
void add_ledger_option(CLI::App* command, std::string& target);
// --key FILE, required: the party key that signs.
void add_key_option(CLI::App* command, std::string& path);
// --json.
void add_json_flag(CLI::App* command, bool& json);
// An --amount/--deposit style option: a whole number of tokens, 0..2^63-1.
CLI::Option* add_amount_option(CLI::App* command, const std::string& name, std::uint64_t& value,
                               const std::string& help);

// An account or CVM id given on the command line: 64 lower-case hex digits.
Result<std::array<std::uint8_t, 32>> parse_id_arg(std::string_view what, std::string_view text);

// Signs {type, args} as `key` with the sender's next nonce and submits it.
// A refusal becomes the error "rejected (<reason>): <message>".
Result<ledger::Receipt> submit_transaction(ledger::LedgerClient& client, const keys::PartyKey& key,
                                           std::string_view type, nlohmann::json args);

// The same for an envelope signed elsewhere.
Result<ledger::Receipt> submit_envelope(ledger::LedgerClient& client, std::string_view envelope);

// Indented JSON and a newline on standard output.
Result<void> print_json(const nlohmann::json& value);
// A JSON object as "key: value" lines (strings bare, arrays comma-separated).
Result<void> print_fields(const nlohmann::json& object);

// "fixed:N", "per-hour:N", "revenue-share:BPS": the CLI's spelling of a price.
std::string price_text(const nlohmann::json& price);

}  // namespace ward::cli
