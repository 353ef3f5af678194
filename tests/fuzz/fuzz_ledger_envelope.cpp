// The transaction envelope parser (what POST /v1/tx and `ward ledger submit`
// take from anyone) and the stored-record parser: any bytes in; whatever
// parses must re-encode canonically to a record that parses back the same.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "ledger/tx.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto record = ward::ledger::parse_record(text)) {
    if (ward::ledger::record_bytes(*record) != text) std::abort();
  }
  auto stx = ward::ledger::parse_envelope(text);
  if (!stx) {
    if (stx.error().reason.empty() || stx.error().message.empty()) std::abort();
    return 0;
  }
  ward::ledger::Record record{7, 1700000000, *stx};
  std::string bytes = ward::ledger::record_bytes(record);
  auto again = ward::ledger::parse_record(bytes);
  // parse_record also checks the signature, which random input rarely carries.
  if (again && ward::ledger::record_bytes(*again) != bytes) std::abort();
  return 0;
}
