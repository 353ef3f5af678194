// The trusted loader's main loop: provision the CVM, wait until the provider
// has listed it on the ledger, then heartbeat, renew the CVM certificate
// before it expires, and run every order placed on it, one at a time. Orders
// left Processing by a loader that died are run again from the start.
#pragma once

#include <atomic>
#include <chrono>
#include <string>

#include "base/error.h"
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

// The default work root: a directory for this CVM on /dev/shm (a tmpfs).
std::filesystem::path default_work_root(const ledger::CvmId& id);

}  // namespace ward::loader
