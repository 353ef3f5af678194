// Unsigned 256-bit integers as the EVM holds them: only what encoding,
// decoding and display need, no arithmetic beyond that.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/bytes.h"
#include "base/error.h"

namespace ward::evm {

class U256 {
 public:
  constexpr U256() = default;
  constexpr U256(std::uint64_t v) {  // NOLINT(google-explicit-constructor): a number is a number
    for (int i = 0; i < 8; ++i) be_[31 - i] = static_cast<std::uint8_t>(v >> (8 * i));
  }

  // Big-endian, at most 32 bytes; leading zeros allowed (ABI words, r and s).
  // Errors: "evm.u256".
  static Result<U256> from_big_endian(ByteView bytes);
  // Plain decimal digits, no sign or leading zero ("0" itself is fine), < 2^256.
  // Errors: "evm.u256".
  static Result<U256> from_decimal(std::string_view text);
  // JSON-RPC quantity: "0x" then lower- or upper-case hex without leading
  // zeros ("0x0" for zero). Errors: "evm.u256".
  static Result<U256> from_quantity(std::string_view text);

  const std::array<std::uint8_t, 32>& big_endian() const { return be_; }
  // Without leading zero bytes: empty for zero (how RLP writes integers).
  Bytes minimal_big_endian() const;
  // Errors: "evm.u256" when the value does not fit.
  Result<std::uint64_t> to_uint64() const;
  std::string to_decimal() const;
  // JSON-RPC quantity, lower-case: "0x0", "0x1a".
  std::string to_quantity() const;

  bool is_zero() const { return *this == U256(); }
  // Bits needed to write the value: 0 for zero, 256 when the top bit is set.
  unsigned bit_length() const;

  friend constexpr auto operator<=>(const U256&, const U256&) = default;

 private:
  std::array<std::uint8_t, 32> be_{};
};

}  // namespace ward::evm
