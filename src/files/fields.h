// Strict readers for the fields of Ward's signed JSON documents (resource
// descriptors, grants): each returns a one-line reason naming the field, and
// the caller wraps it in its own error code. Internal to src/files.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "base/bytes.h"
#include "base/error.h"

namespace ward::files::detail {

// Only `allowed` keys may appear in `object` (which must be an object), and
// every one of `required` must.
Result<void> only_fields(const nlohmann::json& object, std::initializer_list<std::string_view> allowed,
                         std::initializer_list<std::string_view> required, std::string_view what);

// A string of 1..max_size bytes.
Result<std::string> get_string(const nlohmann::json& object, const char* key, std::size_t max_size);
// A non-negative integer, at most 2^63-1.
Result<std::uint64_t> get_uint(const nlohmann::json& object, const char* key);
// Exactly N bytes as 2N lower-case hex digits.
template <std::size_t N>
Result<std::array<std::uint8_t, N>> get_hex(const nlohmann::json& object, const char* key);
// An RFC 3339 UTC time in its canonical spelling ("2025-07-01T00:00:00Z").
Result<std::string> get_time(const nlohmann::json& object, const char* key);

// N bytes from 2N lower-case hex digits, the only spelling Ward writes.
template <std::size_t N>
Result<std::array<std::uint8_t, N>> parse_lower_hex(std::string_view text);

// An engine digest as "sha256:<64 lower-case hex>", given that way or as the
// bare 64 hex digits. Errors name `what`.
Result<std::string> parse_engine_digest(std::string_view text, std::string_view what);

// The message `Result::error()` carries, for callers that re-wrap it.
inline std::unexpected<Error> field_error(std::string message) {
  return fail("files.field", std::move(message));
}

}  // namespace ward::files::detail
