// What `ward services usage` finds, for `ward demo serve` to show too.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "ledger/client.h"

namespace ward::cli {

struct UsageCheck {
  std::string text;                      // what `ward services usage` prints
  nlohmann::json json;                   // its --json
  std::vector<std::string> overcharged;  // one line per account the ledger charged beyond its receipts
};

// The subscriptions of service order `order` on the ledger, compared with the
// receipts kept in `receipts` (none when empty): each receipt checked (its
// signature, order, ledger, and a key the order's CVM certified), then each
// account's largest counters against what the ledger recorded and charged.
Result<UsageCheck> check_usage(ledger::LedgerClient& client, std::uint64_t order,
                               const std::string& receipts);

// check_usage's JSON alone: what `ward ui` shows next to the receipts
// (ui::Options::usage).
Result<nlohmann::json> check_usage_json(ledger::LedgerClient& client, std::uint64_t order,
                                        const std::string& receipts);

}  // namespace ward::cli
