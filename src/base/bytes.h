// Byte buffers, views and the text encodings Ward uses for them.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace ward {

using Bytes = std::vector<std::uint8_t>;
using ByteView = std::span<const std::uint8_t>;

inline ByteView as_bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}
inline std::string_view as_chars(ByteView b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}
inline Bytes to_bytes(std::string_view s) { return Bytes(s.begin(), s.end()); }

std::string hex_encode(ByteView data);
// Accepts upper or lower case; rejects odd length and non-hex characters.
Result<Bytes> hex_decode(std::string_view text);

// Standard alphabet (RFC 4648 section 4).
std::string base64_encode(ByteView data, bool pad = true);
// Strict: rejects characters outside the alphabet, and with `pad` false also
// any '=' padding. Non-canonical trailing bits are rejected (age requires it).
Result<Bytes> base64_decode(std::string_view text, bool pad = true);

}  // namespace ward
