#include "evm/u256.h"

#include <algorithm>
#include <bit>

namespace ward::evm {
namespace {

// be = be * factor + addend; false when the result overflows 256 bits.
bool multiply_add(std::array<std::uint8_t, 32>& be, unsigned factor, unsigned addend) {
  unsigned carry = addend;
  for (int i = 31; i >= 0; --i) {
    unsigned v = be[i] * factor + carry;
    be[i] = static_cast<std::uint8_t>(v);
    carry = v >> 8;
  }
  return carry == 0;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

Result<U256> U256::from_big_endian(ByteView bytes) {
  if (bytes.size() > 32) return fail("evm.u256", "a 256-bit integer has at most 32 bytes");
  U256 out;
  std::copy(bytes.begin(), bytes.end(), out.be_.end() - static_cast<std::ptrdiff_t>(bytes.size()));
  return out;
}

Result<U256> U256::from_decimal(std::string_view text) {
  if (text.empty()) return fail("evm.u256", "a decimal number needs at least one digit");
  if (text.size() > 1 && text[0] == '0') return fail("evm.u256", "a decimal number has no leading zero");
  U256 out;
  for (char c : text) {
    if (c < '0' || c > '9') return fail("evm.u256", "a decimal number has digits only");
    if (!multiply_add(out.be_, 10, static_cast<unsigned>(c - '0')))
      return fail("evm.u256", "the number does not fit 256 bits");
  }
  return out;
}

Result<U256> U256::from_quantity(std::string_view text) {
  if (!text.starts_with("0x")) return fail("evm.u256", "a quantity starts with 0x");
  std::string_view digits = text.substr(2);
  if (digits.empty()) return fail("evm.u256", "a quantity needs at least one hex digit (0x0 for zero)");
  if (digits.size() > 1 && digits[0] == '0') return fail("evm.u256", "a quantity has no leading zero");
  if (digits.size() > 64) return fail("evm.u256", "the quantity does not fit 256 bits");
  U256 out;
  for (char c : digits) {
    int d = hex_digit(c);
    if (d < 0) return fail("evm.u256", "a quantity has hex digits only after 0x");
    multiply_add(out.be_, 16, static_cast<unsigned>(d));
  }
  return out;
}

Bytes U256::minimal_big_endian() const {
  auto first = std::find_if(be_.begin(), be_.end(), [](std::uint8_t b) { return b != 0; });
  return Bytes(first, be_.end());
}

Result<std::uint64_t> U256::to_uint64() const {
  if (bit_length() > 64) return fail("evm.u256", "the number does not fit 64 bits");
  std::uint64_t v = 0;
  for (int i = 24; i < 32; ++i) v = (v << 8) | be_[i];
  return v;
}

std::string U256::to_decimal() const {
  std::array<std::uint8_t, 32> n = be_;
  std::string digits;
  do {
    unsigned remainder = 0;
    for (std::uint8_t& b : n) {
      unsigned v = (remainder << 8) | b;
      b = static_cast<std::uint8_t>(v / 10);
      remainder = v % 10;
    }
    digits.push_back(static_cast<char>('0' + remainder));
  } while (std::any_of(n.begin(), n.end(), [](std::uint8_t b) { return b != 0; }));
  std::reverse(digits.begin(), digits.end());
  return digits;
}

std::string U256::to_quantity() const {
  std::string hex = hex_encode(be_);
  std::size_t first = hex.find_first_not_of('0');
  return "0x" + (first == std::string::npos ? std::string("0") : hex.substr(first));
}

unsigned U256::bit_length() const {
  for (unsigned i = 0; i < 32; ++i)
    if (be_[i] != 0) return (32 - i) * 8 - static_cast<unsigned>(std::countl_zero(be_[i]));
  return 0;
}

}  // namespace ward::evm
