// HTTP responses as an upstream may send them to the serving relay (the
// engine to the gateway, the gateway to `ward proxy`): the head parser and
// the streaming chunked decoder. Nothing may crash; a parsed head must lie
// within the input and the limits and parse the same from its own bytes; the
// decoder must decode the same, and stop at the same byte, whether the body
// comes at once or one byte at a time.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "serve/relay.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  ward::http::Limits limits;
  limits.max_head_bytes = 4096;
  limits.max_headers = 16;

  std::string_view rest = text;
  auto head = ward::serve::parse_response_head(text, limits);
  if (head && *head) {
    const std::size_t used = (*head)->size;
    const auto& h = (*head)->head;
    if (used > text.size() || used > limits.max_head_bytes || h.headers.size() > limits.max_headers ||
        h.status < 100 || h.status > 599) {
      std::abort();
    }
    auto again = ward::serve::parse_response_head(text.substr(0, used), limits);
    if (!again || !*again || (*again)->size != used || (*again)->head.status != h.status ||
        (*again)->head.body != h.body || (*again)->head.content_length != h.content_length) {
      std::abort();
    }
    if (h.body == ward::serve::ResponseBody::UntilClose && h.keep_alive) std::abort();
    rest = text.substr(used);
  }

  ward::serve::ChunkedDecoder whole(limits);
  std::string at_once;
  const auto used = whole.decode(rest, at_once);

  ward::serve::ChunkedDecoder split(limits);
  std::string byte_by_byte;
  std::size_t pos = 0;
  bool refused = false;
  while (pos < rest.size() && !split.done()) {
    const auto n = split.decode(rest.substr(pos, 1), byte_by_byte);
    if (!n) {
      refused = true;
      break;
    }
    pos += *n;
  }
  if (used.has_value() == refused) std::abort();
  if (used && (*used != pos || *used > rest.size() || at_once != byte_by_byte ||
               whole.done() != split.done() || at_once.size() > *used)) {
    std::abort();
  }
  return 0;
}
