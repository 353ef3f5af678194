// What metering reads from outside: a Ward-Receipt header value (`ward proxy`
// reads the gateway's) and a response body the engine wrote, scanned for its
// "usage". Nothing may crash; a parsed receipt must read back the same from
// its own canonical body; the token count of a body must not depend on how
// it was split into pieces.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "base/bytes.h"
#include "serve/meter.h"

namespace {

std::uint64_t count(std::string_view type, std::string_view body, std::size_t step) {
  ward::serve::TokenCounter counter(type);
  for (std::size_t at = 0; at < body.size(); at += step) counter.feed(body.substr(at, step));
  return counter.tokens();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto receipt = ward::serve::parse_receipt(text);
  if (receipt) {
    const std::string body = ward::serve::receipt_body(*receipt);
    const std::string again =
        ward::base64_encode(ward::as_bytes(body)) + std::string(text.substr(text.find('.')));
    auto reread = ward::serve::parse_receipt(again);
    if (!reread || !(*reread == *receipt)) std::abort();
  }
  for (std::string_view type : {"application/json", "text/event-stream"}) {
    const std::uint64_t whole = count(type, text, text.size() + 1);
    if (count(type, text, 1) != whole || count(type, text, 13) != whole) std::abort();
  }
  return 0;
}
