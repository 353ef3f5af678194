// The JSON documents of an order as the loader and verifiers receive them
// from anyone: grants (each with its embedded resource descriptor), resource
// descriptors and integrity reports. Nothing may crash; whatever parses must
// survive a round trip through its own writer unchanged.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "files/grant.h"
#include "files/resource.h"
#include "loader/report.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto grant = ward::files::parse_grant(text)) {
    auto again = ward::files::parse_grant(ward::files::grant_text(*grant));
    if (!again || again->json != grant->json) std::abort();
  }
  if (auto resource = ward::files::parse_resource(text)) {
    auto again = ward::files::parse_resource(ward::files::resource_text(*resource));
    if (!again || !(again->resource == resource->resource)) std::abort();
  }
  if (auto report = ward::loader::parse_report_text(text)) {
    auto again = ward::loader::parse_report(report->json);
    if (!again || ward::loader::report_json(again->report) != ward::loader::report_json(report->report)) std::abort();
  }
  return 0;
}
