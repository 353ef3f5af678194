// Strict readers for the fields of Ward's JSON documents: transactions,
// resource descriptors, grants and integrity reports. Each returns the value
// or a one-line reason naming the field; the caller wraps the reason in its
// own error ("malformed", "files.resource", "report.parse"), so every format
// refuses the same things in the same words.
#pragma once

#include <array>
#include <cstdint>
#include <expected>
#include <initializer_list>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace ward::ledger::fields {

// A value, or why the field holding it was refused.
template <class T>
using Read = std::expected<T, std::string>;

// Integers travel as JSON numbers that signed 64-bit readers must hold too.
inline constexpr std::uint64_t kMaxUint = std::numeric_limits<std::int64_t>::max();

// Only `allowed` keys may appear in `object` (which must be an object), and
// every one of `required` must. `what` names the object in the reason.
Read<void> only_fields(const nlohmann::json& object, std::initializer_list<std::string_view> allowed,
                       std::initializer_list<std::string_view> required, std::string_view what);

// The value under `key`, which must be present. The pointer is into `object`.
Read<const nlohmann::json*> get(const nlohmann::json& object, std::string_view key);

// A non-negative integer, at most kMaxUint. `name` names the field in the reason.
Read<std::uint64_t> uint_value(const nlohmann::json& value, std::string_view name);
Read<std::uint64_t> get_uint(const nlohmann::json& object, std::string_view key);
// An array of such integers.
Read<std::vector<std::uint64_t>> get_uints(const nlohmann::json& object, std::string_view key);

// Whether a string field may be "" (a start report's "finished", an account's name).
enum class Empty { Refused, Allowed };

// A string of at most `max_size` bytes, empty only when allowed.
Read<std::string> string_value(const nlohmann::json& value, std::string_view name, std::size_t max_size,
                               Empty empty = Empty::Refused);
Read<std::string> get_string(const nlohmann::json& object, std::string_view key, std::size_t max_size,
                             Empty empty = Empty::Refused);
// An array of non-empty strings of at most `max_size` bytes each.
Read<std::vector<std::string>> get_strings(const nlohmann::json& object, std::string_view key,
                                           std::size_t max_size);

// Exactly out.size() bytes spelt as twice as many lower-case hex digits, the
// only spelling Ward writes, so that one value has one spelling.
Read<void> hex_value(const nlohmann::json& value, std::string_view name, std::span<std::uint8_t> out);

template <std::size_t N>
Read<std::array<std::uint8_t, N>> hex_value(const nlohmann::json& value, std::string_view name) {
  std::array<std::uint8_t, N> out{};
  if (auto ok = hex_value(value, name, out); !ok) return std::unexpected(std::move(ok.error()));
  return out;
}

template <std::size_t N>
Read<std::array<std::uint8_t, N>> get_hex(const nlohmann::json& object, std::string_view key) {
  auto value = get(object, key);
  if (!value) return std::unexpected(std::move(value.error()));
  return hex_value<N>(**value, key);
}

// An RFC 3339 UTC time in its canonical spelling ("2025-07-01T00:00:00Z"),
// within the times a system_clock holds.
Read<std::string> get_time(const nlohmann::json& object, std::string_view key);

// An engine digest as "sha256:<64 lower-case hex>", given that way or as the
// bare 64 hex digits; returned in the first spelling. `what` names it.
Read<std::string> parse_engine_digest(std::string_view text, std::string_view what);

}  // namespace ward::ledger::fields
