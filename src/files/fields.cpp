#include "files/fields.h"

#include <algorithm>
#include <limits>

#include "base/time.h"

namespace ward::files::detail {

using json = nlohmann::json;

namespace {
constexpr std::uint64_t kMaxUint = std::numeric_limits<std::int64_t>::max();

bool is_lower_hex(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}
}  // namespace

Result<void> only_fields(const json& object, std::initializer_list<std::string_view> allowed,
                         std::initializer_list<std::string_view> required, std::string_view what) {
  if (!object.is_object()) return field_error(std::string(what) + " is not a JSON object");
  for (const auto& [key, value] : object.items()) {
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end())
      return field_error(std::string(what) + " has unknown field \"" + key + "\"");
  }
  for (const std::string_view key : required) {
    if (!object.contains(key)) return field_error(std::string(what) + " lacks field \"" + std::string(key) + "\"");
  }
  return {};
}

Result<std::string> get_string(const json& object, const char* key, std::size_t max_size) {
  const auto it = object.find(key);
  if (it == object.end()) return field_error(std::string("missing field \"") + key + "\"");
  if (!it->is_string()) return field_error(std::string("\"") + key + "\" is not a string");
  std::string value = it->get<std::string>();
  if (value.empty() || value.size() > max_size)
    return field_error(std::string("\"") + key + "\" must be 1 to " + std::to_string(max_size) + " bytes");
  return value;
}

Result<std::uint64_t> get_uint(const json& object, const char* key) {
  const auto it = object.find(key);
  if (it == object.end()) return field_error(std::string("missing field \"") + key + "\"");
  if (!it->is_number_unsigned() && !(it->is_number_integer() && it->get<std::int64_t>() >= 0))
    return field_error(std::string("\"") + key + "\" is not a non-negative integer");
  const auto n = it->get<std::uint64_t>();
  if (n > kMaxUint) return field_error(std::string("\"") + key + "\" exceeds 2^63-1");
  return n;
}

template <std::size_t N>
Result<std::array<std::uint8_t, N>> parse_lower_hex(std::string_view text) {
  if (text.size() != 2 * N || !is_lower_hex(text))
    return field_error("is not " + std::to_string(2 * N) + " lower-case hex digits");
  auto bytes = hex_decode(text);
  if (!bytes) return field_error("is not hex");
  std::array<std::uint8_t, N> out{};
  std::copy(bytes->begin(), bytes->end(), out.begin());
  return out;
}

template <std::size_t N>
Result<std::array<std::uint8_t, N>> get_hex(const json& object, const char* key) {
  auto text = get_string(object, key, 2 * N);
  if (!text) return std::unexpected(text.error());
  auto value = parse_lower_hex<N>(*text);
  if (!value) return field_error(std::string("\"") + key + "\" " + value.error().message);
  return value;
}

template Result<std::array<std::uint8_t, 32>> get_hex<32>(const json&, const char*);
template Result<std::array<std::uint8_t, 64>> get_hex<64>(const json&, const char*);
template Result<std::array<std::uint8_t, 32>> parse_lower_hex<32>(std::string_view);

Result<std::string> get_time(const json& object, const char* key) {
  auto text = get_string(object, key, 64);
  if (!text) return std::unexpected(text.error());
  auto parsed = parse_rfc3339(*text);
  if (!parsed && parsed.error().code == "time.range")
    return field_error(std::string("\"") + key + "\" " + parsed.error().message);
  if (!parsed || format_rfc3339(*parsed) != *text)
    return field_error(std::string("\"") + key + "\" is not an RFC 3339 UTC time like 2025-07-01T00:00:00Z");
  return text;
}

Result<std::string> parse_engine_digest(std::string_view text, std::string_view what) {
  constexpr std::string_view kPrefix = "sha256:";
  std::string_view hex = text;
  if (hex.starts_with(kPrefix)) hex.remove_prefix(kPrefix.size());
  if (hex.size() != 64 || !is_lower_hex(hex))
    return field_error(std::string(what) + " \"" + std::string(text.substr(0, 80)) +
                       "\" is not an engine digest (sha256:<64 lower-case hex digits>)");
  return std::string(kPrefix) + std::string(hex);
}

}  // namespace ward::files::detail
