#include "evm/address.h"

#include <algorithm>
#include <cctype>

#include "evm/keccak.h"

namespace ward::evm {
namespace {

// EIP-55: a letter is upper-case when the matching nibble of
// keccak256(lower-case hex) is 8 or more.
std::string checksum_case(std::string_view lower_hex) {
  Hash256 h = keccak256(as_bytes(lower_hex));
  std::string out(lower_hex);
  for (std::size_t i = 0; i < out.size(); ++i) {
    std::uint8_t nibble = (i % 2 == 0) ? h[i / 2] >> 4 : h[i / 2] & 0x0f;
    if (nibble >= 8) out[i] = static_cast<char>(std::toupper(static_cast<unsigned char>(out[i])));
  }
  return out;
}

}  // namespace

Result<Address> Address::from_bytes(ByteView b) {
  if (b.size() != 20) return fail("evm.address", "an address has 20 bytes, not " + std::to_string(b.size()));
  Address out;
  std::copy(b.begin(), b.end(), out.bytes.begin());
  return out;
}

Result<Address> Address::parse(std::string_view text) {
  if (!text.starts_with("0x") || text.size() != 42)
    return fail("evm.address", "an address is 0x followed by 40 hex digits");
  std::string_view hex = text.substr(2);
  auto bytes = hex_decode(hex);
  if (!bytes) return fail("evm.address", "an address is 0x followed by 40 hex digits");
  bool has_lower = std::any_of(hex.begin(), hex.end(), [](char c) { return c >= 'a' && c <= 'f'; });
  bool has_upper = std::any_of(hex.begin(), hex.end(), [](char c) { return c >= 'A' && c <= 'F'; });
  if (has_lower && has_upper && checksum_case(hex_encode(*bytes)) != hex)
    return fail("evm.address", "the address's mixed case is not its EIP-55 checksum (a typo?)");
  return from_bytes(*bytes);
}

std::string Address::to_checksum() const {
  return "0x" + checksum_case(hex_encode(bytes));
}

}  // namespace ward::evm
