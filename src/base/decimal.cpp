#include "base/decimal.h"

#include <string>

namespace ward {

Result<std::uint64_t> parse_decimal(std::string_view text, std::uint64_t max) {
  if (text.empty()) return fail("number.format", "is empty; expected a whole number in decimal digits");
  for (char c : text) {
    if (c < '0' || c > '9')
      return fail("number.format",
                  "is not a whole number in decimal digits (no sign, spaces, 0x or exponent)");
  }
  if (text.size() > 1 && text[0] == '0')
    return fail("number.format", "has a leading zero; write decimal digits without one");
  const auto too_big = [max] {
    return fail("number.range", "is above the maximum of " + std::to_string(max));
  };
  std::uint64_t n = 0;
  for (char c : text) {
    const auto digit = static_cast<std::uint64_t>(c - '0');
    if (n > max / 10) return too_big();
    n *= 10;
    if (digit > max - n) return too_big();
    n += digit;
  }
  return n;
}

}  // namespace ward
