// Whole numbers as people type them and Ward reads them: plain decimal only.
#pragma once

#include <cstdint>
#include <limits>
#include <string_view>

#include "base/error.h"

namespace ward {

// The largest number parse_decimal accepts by default: 2^63-1, so a value
// always fits a signed 64-bit integer (SQLite, JSON readers, Solidity int256).
inline constexpr std::uint64_t kMaxDecimal = std::numeric_limits<std::int64_t>::max();

// Accepts digits only: no sign, no whitespace, no base prefix ("0x10"), no
// exponent, no leading zero except "0" itself (so "010" is never octal 8 nor
// decimal 10), at most `max`. Errors: "number.format", "number.range"; the
// message states the rule and does not repeat the text.
Result<std::uint64_t> parse_decimal(std::string_view text, std::uint64_t max = kMaxDecimal);

}  // namespace ward
