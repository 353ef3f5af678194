// Ethereum account addresses and their EIP-55 mixed-case checksum text.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/bytes.h"
#include "base/error.h"

namespace ward::evm {

struct Address {
  std::array<std::uint8_t, 20> bytes{};

  // Exactly 20 bytes. Errors: "evm.address".
  static Result<Address> from_bytes(ByteView b);
  // "0x" and 40 hex digits, all lower-case, all upper-case, or with a correct
  // EIP-55 checksum; mixed case with a wrong checksum is refused, since it is
  // most likely a typo. Errors: "evm.address".
  static Result<Address> parse(std::string_view text);

  // EIP-55 text: "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed".
  std::string to_checksum() const;

  friend constexpr auto operator<=>(const Address&, const Address&) = default;
};

}  // namespace ward::evm
