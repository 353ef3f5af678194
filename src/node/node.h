// The provider's agent (DESIGN.md step 2): starts CVMs, lists them on the
// ledger once the certification center has certified them, and restarts a
// CVM's loader when it dies. With the `sim` platform a CVM is a `ward-loader`
// process with its own directory, keys and simulated evidence.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "keys/party_key.h"
#include "ledger/tx.h"

namespace ward::node {

struct NodeOptions {
  std::string ledger;     // a `ward ledger serve` URL
  std::string store;      // passed to each loader
  std::string ca_url;     // the certification center
  std::string platform;   // sim | tsm
  std::size_t cvms = 1;
  std::filesystem::path dir;  // one subdirectory per CVM: cvm-0, cvm-1, ...
  const keys::PartyKey* provider = nullptr;  // owns the tee offer, registers the CVMs
  std::optional<std::uint64_t> offer;        // the tee offer; default: the provider's first enabled one, or a new one
  std::uint64_t price_per_hour = 0;          // for a new offer
  std::filesystem::path loader;              // the ward-loader binary
  std::vector<std::string> loader_args;      // passed through (--time-limit, ...)
  std::filesystem::path work_root;           // each CVM's tmpfs work directory goes below (default: the loader's)
  std::filesystem::path loader_log;          // the loaders' stdout and stderr (default: the node's)
  // What each CVM declares it has (cvms.register), for orders placed on the
  // offer that name what they need; none declared: it takes only orders
  // that need nothing.
  std::optional<::ward::ledger::Resources> resources;
  std::function<void(std::string_view)> log;
};

// Runs until `stop`, then stops every loader (SIGTERM, then SIGKILL after
// 5 s). Errors: "node.*", the ledger's.
Result<void> run_node(const NodeOptions& options, const std::atomic<bool>& stop);

// The ward-loader next to the running executable.
std::filesystem::path default_loader_path();

}  // namespace ward::node
