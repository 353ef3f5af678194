// Timestamps as Ward writes and reads them: RFC 3339 in UTC with second
// precision ("2025-07-01T00:00:00Z"), the form vendors sign into collateral.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/error.h"

namespace ward {

// The whole seconds a std::chrono::system_clock::time_point (64-bit
// nanoseconds since 1970) can hold: 1677-09-21T00:12:44Z to
// 2262-04-11T23:47:16Z. Every time Ward reads lies inside them, so comparing
// it with a clock reading, or converting it to one, never overflows.
inline constexpr std::chrono::sys_seconds kEarliestTime =
    std::chrono::ceil<std::chrono::seconds>(std::chrono::system_clock::time_point::min());
inline constexpr std::chrono::sys_seconds kLatestTime =
    std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::time_point::max());

std::string format_rfc3339(std::chrono::system_clock::time_point t);

// Seconds since 1970 as stored in ledger records, as a clock time.
// Errors: "time.range" above kLatestTime (such a number would wrap).
Result<std::chrono::system_clock::time_point> from_unix_seconds(std::uint64_t seconds);
// Those seconds in RFC 3339, or as the bare number past kLatestTime: for
// showing a time someone else recorded (a block's timestamp).
std::string unix_seconds_text(std::uint64_t seconds);

// Accepts exactly "YYYY-MM-DDTHH:MM:SSZ", with an optional fraction of a
// second (".123") that is dropped; a leap second (:60) reads as :59.
// Errors: "time.format"; "time.range" outside kEarliestTime..kLatestTime.
Result<std::chrono::sys_seconds> parse_rfc3339(std::string_view text);

}  // namespace ward
