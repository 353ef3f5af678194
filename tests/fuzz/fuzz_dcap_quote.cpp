// Intel DCAP quotes as a verifier receives them from a guest it does not
// trust: the parser, and the whole verifier without collateral (PCK chain
// from the quote, QE report and quote signatures). Nothing may crash, a
// parsed quote never claims more bytes than it was given, and nothing made
// up by the fuzzer may be accepted (it cannot sign under the Intel root).
#include <chrono>
#include <cstdint>
#include <cstdlib>

#include "attest/dcap/quote.h"
#include "attest/dcap/verify.h"
#include "attest/evidence.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const ward::ByteView input(data, size);
  if (auto q = ward::attest::dcap::parse_quote(input)) {
    if (q->length > size || q->signed_region.size() > q->length) std::abort();
  }
  (void)ward::attest::detect_platform(input);
  static const auto at = std::chrono::sys_days{std::chrono::year{2025} / 7 / 1};
  ward::attest::Appraisal out;
  ward::attest::dcap::verify_quote(input, nullptr, std::span(&ward::attest::dcap::intel_sgx_root(), 1), at, out);
  return 0;
}
