// Parsing HTTP/1.1 requests from untrusted bytes (RFC 9112), strictly enough
// that no request is read two ways: Content-Length and Transfer-Encoding
// together, conflicting lengths, obsolete line folding and bare CR are all
// refused. Pure functions over a buffer, so the server's loop and the fuzzer
// drive the same code.
#pragma once

#include <cstddef>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http/message.h"

namespace ward::http {

struct Limits {
  // Request line and header fields together, blank line included.
  std::size_t max_head_bytes = 16 * 1024;
  std::size_t max_headers = 64;
  // The body after de-chunking, whatever its content type.
  std::size_t max_body_bytes = 1024 * 1024;
};

// Why a request is refused before any handler sees it: the status to answer
// with, a stable reason code and a message for the client.
struct Refusal {
  int status;
  std::string reason;
  std::string message;
};

enum class BodyKind { None, Length, Chunked };

struct RequestHead {
  std::string method;
  std::string target;
  std::string path;
  std::vector<std::pair<std::string, std::string>> query;
  Headers headers;
  int version_minor = 1;
  BodyKind body = BodyKind::None;
  std::size_t content_length = 0;
  bool keep_alive = true;
  bool expect_continue = false;
};

// A value, or nullopt while more bytes are needed, or a refusal.
template <class T>
using Parsed = std::expected<std::optional<T>, Refusal>;

struct ParsedHead {
  RequestHead head;
  std::size_t size;  // bytes of `bytes` the head took, blank line included
};
// The request head at the start of `bytes` (empty lines before it skipped).
Parsed<ParsedHead> parse_head(std::string_view bytes, const Limits& limits);

struct ParsedBody {
  std::string body;
  std::size_t size;  // bytes of `bytes` the chunks and trailer took
};
// A chunked body at the start of `bytes` (RFC 9112 §7.1). Extensions and
// trailer fields are read past and dropped; the trailer counts against
// `limits.max_head_bytes`, the data against `limits.max_body_bytes`.
Parsed<ParsedBody> parse_chunked_body(std::string_view bytes, const Limits& limits);

// The field syntax of RFC 9110 §5, shared with the response parser of the
// serving relay (serve/relay.h).
bool is_token(std::string_view s);
// Field values: visible characters, space, tab and obs-text; no controls.
bool is_field_value(std::string_view s);
// Without leading and trailing spaces and tabs.
std::string_view trim(std::string_view s);
// Whether a comma-separated header list holds `token` (case-insensitively).
bool list_has(std::string_view list, std::string_view token);

// Percent-decoding; `plus_is_space` for query components. nullopt on a bad escape.
std::optional<std::string> percent_decode(std::string_view text, bool plus_is_space);

}  // namespace ward::http
