// Timestamps as Ward writes and reads them: RFC 3339 in UTC with second
// precision ("2025-07-01T00:00:00Z"), the form vendors sign into collateral.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "base/error.h"

namespace ward {

std::string format_rfc3339(std::chrono::system_clock::time_point t);

// Accepts exactly "YYYY-MM-DDTHH:MM:SSZ", with an optional fraction of a
// second (".123") that is dropped. Errors: "time.format".
Result<std::chrono::sys_seconds> parse_rfc3339(std::string_view text);

}  // namespace ward
