// The trusted loader's main loop: provision the CVM, wait until the provider
// has listed it on the ledger, then heartbeat, renew the CVM certificate
// before it expires, and run every order placed on it, one at a time. Orders
// left Processing by a loader that died are run again from the start.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "base/error.h"
#include "ledger/client.h"
#include "loader/cvm.h"
#include "loader/pipeline.h"

namespace ward::loader {

struct LoaderOptions {
  CvmOptions cvm;
  std::string ledger;  // a `ward ledger serve` URL (several processes write)
  PipelineOptions pipeline;
  std::chrono::milliseconds poll{200};
  std::chrono::milliseconds heartbeat{30000};
  // When the CVM certificate is renewed, here and while a service runs.
  RenewalOptions renewal;
  // Stop once no order is waiting (tests and benchmarks).
  bool exit_when_idle = false;
};

// Runs until `stop` becomes true. Errors: provisioning failures, and a
// ledger that cannot be reached for 30 s in a row.
Result<void> run_loader(const LoaderOptions& options, const std::atomic<bool>& stop);

// The open orders (New and Processing) a CVM looks at each poll (its own,
// and when it has none, its offer's and the split orders it works for), read
// from `from` on in pages of `page`, in id order. Then `from` is the oldest
// order still open, or past every order listed when none is: an order that
// ended stays ended and a later order has a larger id, so no order before
// `from` is open, and a ledger with a long history is not read from its
// start at every poll (on an EVM ledger that is views and logs). One listing
// of every status, not one per status: an order moving between New and
// Processing between two listings would be in neither.
struct OpenOrders {
  std::vector<ledger::Order> processing;
  std::vector<ledger::Order> fresh;  // New
};
Result<OpenOrders> open_orders(ledger::LedgerClient& ledger, std::uint64_t& from, std::size_t page = 1000);

// The default work root: a directory for this CVM on /dev/shm (a tmpfs).
std::filesystem::path default_work_root(const ledger::CvmId& id);

}  // namespace ward::loader
