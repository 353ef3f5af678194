// A service order inside the CVM (docs/serving.md): prepared like a batch
// order, then its engine runs until the order ends, listening on the port
// its image declares inside its sandbox, behind the TLS gateway. The TLS key
// is made here for this order; its certificate is issued by the CVM's key
// and names the order, the ledger, the engine and the inputs; the start
// report (services.start) publishes the key's hash.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>

#include "base/error.h"
#include "ledger/client.h"
#include "loader/cvm.h"
#include "loader/pipeline.h"
#include "loader/report.h"

namespace ward::loader {

// The error serve_order returns when options.stop ended it: the order is
// not over, and nothing is published.
inline constexpr std::string_view kStoppedCode = "loader.stopped";

// Serves `order` (Processing, a service order, on this CVM) until its
// creator cancels it or it leaves Processing, and returns the signed final
// report. An error is the order's failure reason: it could not start, or
// its engine kept exiting (options.service.max_restarts). While it serves
// it renews `cvm`'s certificate when due (options.renewal) and re-issues the
// service certificate under the renewed one; the final report carries it.
Result<SignedReport> serve_order(CvmState& cvm, ledger::LedgerClient& ledger,
                                 const ledger::LedgerId& ledger_id, const ledger::Order& order,
                                 const PipelineOptions& options, const std::filesystem::path& work,
                                 std::map<std::string, std::uint64_t>& stages);

// A worker's part of a split service order (pipeline.h, process_worker),
// in `work`.
Result<void> work_for_order(CvmState& cvm, ledger::LedgerClient& ledger, const ledger::LedgerId& ledger_id,
                            const ledger::Order& order, const PipelineOptions& options,
                            const std::filesystem::path& work);

}  // namespace ward::loader
