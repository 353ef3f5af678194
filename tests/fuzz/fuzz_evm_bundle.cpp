// An offline report bundle (`ward orders verify --bundle`), as a stranger
// hands it over: any bytes in; a bundle either checks or is refused with a
// "ledger.bundle" line, never a crash.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "ledger/evm/bundle.h"
#include "ledger/tx.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto doc = ward::ledger::parse_strict_json(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!doc) return 0;
  auto checked = ward::ledger::evm::check_report_bundle(*doc);
  if (checked) {
    // A bundle that checks has its three or four blocks and a Done order.
    if (checked->blocks.size() < 3 || checked->report.order != checked->order.id) std::abort();
  } else if (checked.error().message.empty()) {
    std::abort();
  }
  return 0;
}
