#include "http/parser.h"

#include <algorithm>
#include <charconv>
#include <limits>

namespace ward::http {
namespace {

constexpr std::size_t kMaxChunkSizeDigits = 15;

Refusal bad_request(std::string message) {
  return Refusal{400, "malformed", "the request is not valid HTTP: " + std::move(message)};
}

Refusal head_too_large(const Limits& limits) {
  return Refusal{
      431, "too_large",
      "the request line and headers are larger than " + std::to_string(limits.max_head_bytes) + " bytes"};
}

Refusal body_too_large(const Limits& limits) {
  return Refusal{413, "too_large",
                 "the request body is larger than " + std::to_string(limits.max_body_bytes) + " bytes"};
}

bool is_tchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// The line at the start of `bytes` without its terminator (LF or CRLF) and
// the bytes it took; nullopt when no LF yet. A CR anywhere else is refused.
std::expected<std::optional<std::pair<std::string_view, std::size_t>>, Refusal> next_line(
    std::string_view bytes) {
  const auto lf = bytes.find('\n');
  if (lf == std::string_view::npos) return std::nullopt;
  std::string_view line = bytes.substr(0, lf);
  if (line.ends_with('\r')) line.remove_suffix(1);
  if (line.find('\r') != std::string_view::npos) return std::unexpected(bad_request("a bare CR in a line"));
  return std::pair{line, lf + 1};
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::expected<void, Refusal> parse_target(RequestHead& head) {
  const std::string_view target = head.target;
  if (!target.starts_with('/')) {
    return std::unexpected(
        bad_request("the request target '" + head.target.substr(0, 100) + "' is not a path (origin-form)"));
  }
  const auto q = target.find('?');
  auto path = percent_decode(target.substr(0, q), false);
  if (!path || path->find('\0') != std::string::npos) {
    return std::unexpected(bad_request("the request path has a bad percent-escape"));
  }
  head.path = std::move(*path);
  if (q == std::string_view::npos) return {};
  std::string_view query = target.substr(q + 1);
  const auto hash = query.find('#');
  if (hash != std::string_view::npos) query = query.substr(0, hash);
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    if (!pair.empty()) {
      const auto eq = pair.find('=');
      auto key = percent_decode(pair.substr(0, eq), true);
      auto value = percent_decode(eq == std::string_view::npos ? "" : pair.substr(eq + 1), true);
      if (!key || !value) return std::unexpected(bad_request("the query has a bad percent-escape"));
      head.query.emplace_back(std::move(*key), std::move(*value));
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return {};
}

std::expected<void, Refusal> parse_request_line(std::string_view line, RequestHead& head) {
  const auto sp1 = line.find(' ');
  const auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
    return std::unexpected(bad_request("the request line is not METHOD TARGET VERSION"));
  }
  const std::string_view method = line.substr(0, sp1);
  const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  if (!is_token(method)) return std::unexpected(bad_request("the method is not a token"));
  if (target.empty() || !std::ranges::all_of(target, [](char c) {
        const auto u = static_cast<unsigned char>(c);
        return u > 0x20 && u < 0x7f;
      })) {
    return std::unexpected(bad_request("the request target has spaces or control characters"));
  }
  if (version == "HTTP/1.1") {
    head.version_minor = 1;
  } else if (version == "HTTP/1.0") {
    head.version_minor = 0;
  } else if (version.starts_with("HTTP/") && version.size() == 8 && version[6] == '.') {
    return std::unexpected(Refusal{505, "http_version", "only HTTP/1.0 and HTTP/1.1 are served"});
  } else {
    return std::unexpected(bad_request("the protocol is not HTTP/1.x"));
  }
  head.method = std::string(method);
  head.target = std::string(target);
  return parse_target(head);
}

// Framing and connection semantics from the header fields (RFC 9112 §6).
std::expected<void, Refusal> interpret_headers(RequestHead& head, const Limits& limits) {
  std::optional<std::size_t> length;
  bool has_transfer_encoding = false;
  bool close = false;
  bool keep_alive = false;
  for (const Header& h : head.headers) {
    if (iequals(h.name, "Content-Length")) {
      std::size_t value = 0;
      const std::string_view text = h.value;
      const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
      if (text.empty() || !std::ranges::all_of(text, [](char c) { return c >= '0' && c <= '9'; })) {
        return std::unexpected(bad_request("Content-Length is not a number"));
      }
      if (ec == std::errc::result_out_of_range) return std::unexpected(body_too_large(limits));
      if (ec != std::errc() || end != text.data() + text.size()) {
        return std::unexpected(bad_request("Content-Length is not a number"));
      }
      if (length && *length != value) return std::unexpected(bad_request("two different Content-Lengths"));
      length = value;
    } else if (iequals(h.name, "Transfer-Encoding")) {
      if (has_transfer_encoding || !iequals(trim(h.value), "chunked")) {
        return std::unexpected(
            Refusal{501, "not_implemented", "only Transfer-Encoding: chunked is accepted in requests"});
      }
      has_transfer_encoding = true;
    } else if (iequals(h.name, "Connection")) {
      close = close || list_has(h.value, "close");
      keep_alive = keep_alive || list_has(h.value, "keep-alive");
    } else if (iequals(h.name, "Expect")) {
      if (!iequals(trim(h.value), "100-continue")) {
        return std::unexpected(Refusal{417, "expectation_failed", "only Expect: 100-continue is understood"});
      }
      head.expect_continue = true;
    }
  }
  if (has_transfer_encoding && length) {
    return std::unexpected(bad_request("both Content-Length and Transfer-Encoding"));
  }
  if (has_transfer_encoding) {
    if (head.version_minor == 0)
      return std::unexpected(bad_request("Transfer-Encoding in an HTTP/1.0 request"));
    head.body = BodyKind::Chunked;
  } else if (length && *length > 0) {
    if (*length > limits.max_body_bytes) return std::unexpected(body_too_large(limits));
    head.body = BodyKind::Length;
    head.content_length = *length;
  }
  head.keep_alive = head.version_minor == 1 ? !close : keep_alive && !close;
  if (head.body == BodyKind::None) head.expect_continue = false;
  return {};
}

}  // namespace

bool is_token(std::string_view s) {
  return !s.empty() && std::ranges::all_of(s, is_tchar);
}

bool is_field_value(std::string_view s) {
  return std::ranges::all_of(s, [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u == '\t' || (u >= 0x20 && u != 0x7f);
  });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool list_has(std::string_view list, std::string_view token) {
  while (!list.empty()) {
    const auto comma = list.find(',');
    if (iequals(trim(list.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

std::optional<std::string> percent_decode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '%') {
      if (i + 2 >= text.size()) return std::nullopt;
      const int hi = hex_digit(text[i + 1]);
      const int lo = hex_digit(text[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

Parsed<ParsedHead> parse_head(std::string_view bytes, const Limits& limits) {
  std::size_t pos = 0;
  // RFC 9112 §2.2: ignore at least one empty line before the request line.
  while (pos < bytes.size() && (bytes[pos] == '\r' || bytes[pos] == '\n') && pos < limits.max_head_bytes)
    ++pos;
  ParsedHead out{};
  bool first = true;
  for (;;) {
    if (pos > limits.max_head_bytes) return std::unexpected(head_too_large(limits));
    auto line = next_line(bytes.substr(pos));
    if (!line) return std::unexpected(line.error());
    if (!*line) {
      if (bytes.size() > limits.max_head_bytes) return std::unexpected(head_too_large(limits));
      return std::nullopt;
    }
    const auto [text, taken] = **line;
    pos += taken;
    if (pos > limits.max_head_bytes) return std::unexpected(head_too_large(limits));
    if (first) {
      if (auto ok = parse_request_line(text, out.head); !ok) return std::unexpected(ok.error());
      first = false;
      continue;
    }
    if (text.empty()) break;
    if (text.front() == ' ' || text.front() == '\t') {
      return std::unexpected(bad_request("obsolete line folding in a header"));
    }
    const auto colon = text.find(':');
    if (colon == std::string_view::npos || !is_token(text.substr(0, colon))) {
      return std::unexpected(bad_request("a header line is not NAME: VALUE"));
    }
    const std::string_view value = trim(text.substr(colon + 1));
    if (!is_field_value(value)) return std::unexpected(bad_request("a header value has control characters"));
    if (out.head.headers.size() >= limits.max_headers) {
      return std::unexpected(
          Refusal{431, "too_large",
                  "the request has more than " + std::to_string(limits.max_headers) + " header fields"});
    }
    out.head.headers.push_back(Header{std::string(text.substr(0, colon)), std::string(value)});
  }
  if (auto ok = interpret_headers(out.head, limits); !ok) return std::unexpected(ok.error());
  out.size = pos;
  return out;
}

Parsed<ParsedBody> parse_chunked_body(std::string_view bytes, const Limits& limits) {
  ParsedBody out{};
  std::size_t pos = 0;
  for (;;) {
    auto line = next_line(bytes.substr(pos));
    if (!line) return std::unexpected(line.error());
    if (!*line) {
      // A chunk-size line is short; a long one without LF is not a chunk size.
      if (bytes.size() - pos > kMaxChunkSizeDigits + 1024) {
        return std::unexpected(bad_request("a chunk-size line is too long"));
      }
      return std::nullopt;
    }
    auto [text, taken] = **line;
    const std::string_view size_text = trim(text.substr(0, text.find(';')));
    std::size_t size = 0;
    if (size_text.empty() || size_text.size() > kMaxChunkSizeDigits) {
      return std::unexpected(bad_request("a chunk size is not 1 to 15 hex digits"));
    }
    for (char c : size_text) {
      const int d = hex_digit(c);
      if (d < 0) return std::unexpected(bad_request("a chunk size is not hex"));
      size = size * 16 + static_cast<std::size_t>(d);
    }
    pos += taken;
    if (size == 0) break;
    if (size > limits.max_body_bytes - out.body.size()) return std::unexpected(body_too_large(limits));
    if (bytes.size() - pos < size + 2) {
      if (bytes.size() - pos > size && bytes[pos + size] != '\r' && bytes[pos + size] != '\n') {
        return std::unexpected(bad_request("chunk data is longer than its size"));
      }
      return std::nullopt;
    }
    out.body.append(bytes.substr(pos, size));
    pos += size;
    if (bytes.substr(pos, 2) == "\r\n") {
      pos += 2;
    } else if (bytes[pos] == '\n') {
      pos += 1;
    } else {
      return std::unexpected(bad_request("chunk data is longer than its size"));
    }
  }
  // The trailer section: fields until an empty line, dropped.
  const std::size_t trailer_start = pos;
  for (;;) {
    auto line = next_line(bytes.substr(pos));
    if (!line) return std::unexpected(line.error());
    if (!*line) {
      if (bytes.size() - trailer_start > limits.max_head_bytes)
        return std::unexpected(head_too_large(limits));
      return std::nullopt;
    }
    pos += (**line).second;
    if (pos - trailer_start > limits.max_head_bytes) return std::unexpected(head_too_large(limits));
    if ((**line).first.empty()) break;
  }
  out.size = pos;
  return out;
}

}  // namespace ward::http
