#include "ledger/fields.h"

#include <algorithm>

#include "base/bytes.h"
#include "base/time.h"

namespace ward::ledger::fields {
namespace {

using json = nlohmann::json;

std::string in_quotes(std::string_view name) {
  return "\"" + std::string(name) + "\"";
}

std::unexpected<std::string> refuse(std::string_view name, std::string_view why) {
  return std::unexpected(in_quotes(name) + " " + std::string(why));
}

bool is_lower_hex(std::string_view text) {
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

}  // namespace

Read<void> only_fields(const json& object, std::initializer_list<std::string_view> allowed,
                       std::initializer_list<std::string_view> required, std::string_view what) {
  if (!object.is_object()) return std::unexpected(std::string(what) + " is not a JSON object");
  for (const auto& [key, value] : object.items()) {
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end())
      return std::unexpected(std::string(what) + " has unknown field " + in_quotes(key));
  }
  for (const std::string_view key : required) {
    if (!object.contains(key)) return std::unexpected(std::string(what) + " lacks field " + in_quotes(key));
  }
  return {};
}

Read<const json*> get(const json& object, std::string_view key) {
  const auto it = object.find(key);
  if (it == object.end()) return std::unexpected("missing field " + in_quotes(key));
  return &*it;
}

Read<std::uint64_t> uint_value(const json& value, std::string_view name) {
  if (!value.is_number_integer()) return refuse(name, "must be an integer");
  // Parsed text holds a non-negative integer as unsigned; a document built in
  // code may hold it as signed.
  if (!value.is_number_unsigned() && value.get<std::int64_t>() < 0)
    return refuse(name, "must not be negative");
  const auto n = value.get<std::uint64_t>();
  if (n > kMaxUint) return refuse(name, "exceeds 2^63-1");
  return n;
}

Read<std::uint64_t> get_uint(const json& object, std::string_view key) {
  auto value = get(object, key);
  if (!value) return std::unexpected(std::move(value.error()));
  return uint_value(**value, key);
}

Read<std::vector<std::uint64_t>> get_uints(const json& object, std::string_view key) {
  auto list = get(object, key);
  if (!list) return std::unexpected(std::move(list.error()));
  if (!(*list)->is_array()) return refuse(key, "must be an array of integers");
  std::vector<std::uint64_t> out;
  for (const auto& item : **list) {
    auto n = uint_value(item, key);
    if (!n) return std::unexpected(std::move(n.error()));
    out.push_back(*n);
  }
  return out;
}

Read<std::string> string_value(const json& value, std::string_view name, std::size_t max_size, Empty empty) {
  if (!value.is_string()) return refuse(name, "must be a string");
  const auto& text = value.get_ref<const std::string&>();
  if (text.empty() && empty == Empty::Refused) return refuse(name, "must not be empty");
  if (text.size() > max_size) return refuse(name, "is longer than " + std::to_string(max_size) + " bytes");
  return text;
}

Read<std::string> get_string(const json& object, std::string_view key, std::size_t max_size, Empty empty) {
  auto value = get(object, key);
  if (!value) return std::unexpected(std::move(value.error()));
  return string_value(**value, key, max_size, empty);
}

Read<std::vector<std::string>> get_strings(const json& object, std::string_view key, std::size_t max_size) {
  auto list = get(object, key);
  if (!list) return std::unexpected(std::move(list.error()));
  if (!(*list)->is_array()) return refuse(key, "must be an array of strings");
  std::vector<std::string> out;
  for (const auto& item : **list) {
    auto text = string_value(item, key, max_size);
    if (!text) return std::unexpected(std::move(text.error()));
    out.push_back(std::move(*text));
  }
  return out;
}

Read<void> hex_value(const json& value, std::string_view name, std::span<std::uint8_t> out) {
  const std::size_t digits = 2 * out.size();
  const auto refused = [&] {
    return refuse(name, "must be " + std::to_string(digits) + " lower-case hex digits");
  };
  if (!value.is_string()) return refused();
  const auto& text = value.get_ref<const std::string&>();
  if (text.size() != digits || !is_lower_hex(text)) return refused();
  const auto bytes = hex_decode(text);
  if (!bytes) return refused();
  std::copy(bytes->begin(), bytes->end(), out.begin());
  return {};
}

Read<std::string> get_time(const json& object, std::string_view key) {
  auto text = get_string(object, key, 64);
  if (!text) return text;
  auto parsed = parse_rfc3339(*text);
  // Out of range is its own reason: the spelling was right, the clock cannot hold it.
  if (!parsed && parsed.error().code == "time.range") return refuse(key, parsed.error().message);
  if (!parsed || format_rfc3339(*parsed) != *text)
    return refuse(key, "must be an RFC 3339 UTC time like 2025-07-01T00:00:00Z");
  return text;
}

Read<std::string> parse_engine_digest(std::string_view text, std::string_view what) {
  constexpr std::string_view kPrefix = "sha256:";
  std::string_view hex = text;
  if (hex.starts_with(kPrefix)) hex.remove_prefix(kPrefix.size());
  if (hex.size() != 64 || !is_lower_hex(hex))
    return std::unexpected(std::string(what) + " \"" + std::string(text.substr(0, 80)) +
                           "\" is not an engine digest (sha256:<64 lower-case hex digits>)");
  return std::string(kPrefix) + std::string(hex);
}

}  // namespace ward::ledger::fields
