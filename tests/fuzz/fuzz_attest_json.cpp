// The JSON a verifier reads from others: evidence bundles (ward/evidence/v1,
// as carried in CVM certificates and sent to the certification center) and
// appraisal policies. Nothing may crash; what parses must survive its own
// serialization.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "attest/evidence.h"
#include "attest/policy.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto b = ward::attest::parse_bundle(text)) {
    auto again = ward::attest::parse_bundle(ward::attest::bundle_to_json(*b));
    if (!again || again->evidence != b->evidence) std::abort();
  }
  if (auto p = ward::attest::Policy::from_json(text)) {
    auto again = ward::attest::Policy::from_json(p->to_json());
    if (!again || again->to_json() != p->to_json()) std::abort();
  }
  return 0;
}
