// HTTP requests as any client on the network may send them to a Ward server:
// the head parser and the chunked-body decoder. Nothing may crash; a parsed
// head or body must lie within the input, must not depend on the bytes after
// it, and must respect the limits.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "http/parser.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  ward::http::Limits limits;
  limits.max_head_bytes = 4096;
  limits.max_headers = 16;
  limits.max_body_bytes = 8192;

  auto head = ward::http::parse_head(text, limits);
  std::string_view rest = text;
  if (head && *head) {
    const std::size_t used = (*head)->size;
    if (used > text.size() || used > limits.max_head_bytes ||
        (*head)->head.headers.size() > limits.max_headers) {
      std::abort();
    }
    auto again = ward::http::parse_head(text.substr(0, used), limits);
    if (!again || !*again || (*again)->size != used || (*again)->head.path != (*head)->head.path)
      std::abort();
    if ((*head)->head.body == ward::http::BodyKind::Length &&
        (*head)->head.content_length > limits.max_body_bytes) {
      std::abort();
    }
    rest = text.substr(used);
  }
  auto body = ward::http::parse_chunked_body(rest, limits);
  if (body && *body) {
    const std::size_t used = (*body)->size;
    if (used > rest.size() || (*body)->body.size() > limits.max_body_bytes) std::abort();
    auto again = ward::http::parse_chunked_body(rest.substr(0, used), limits);
    if (!again || !*again || (*again)->body != (*body)->body) std::abort();
  }
  return 0;
}
