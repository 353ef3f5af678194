#include "base/time.h"

#include <algorithm>
#include <ctime>

namespace ward {

namespace {

bool read_digits(std::string_view text, std::size_t pos, std::size_t n, int& out) {
  if (pos + n > text.size()) return false;
  out = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (text[i] < '0' || text[i] > '9') return false;
    out = out * 10 + (text[i] - '0');
  }
  return true;
}

}  // namespace

std::string format_rfc3339(std::chrono::system_clock::time_point t) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  ::gmtime_r(&seconds, &tm);
  char buf[32];
  const std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return std::string(buf, n);
}

Result<std::chrono::system_clock::time_point> from_unix_seconds(std::uint64_t seconds) {
  if (seconds > static_cast<std::uint64_t>(kLatestTime.time_since_epoch().count())) {
    return fail("time.range", std::to_string(seconds) + " s since 1970 is after " +
                                  format_rfc3339(kLatestTime) + ", the last time Ward can represent");
  }
  return std::chrono::system_clock::time_point(std::chrono::seconds(seconds));
}

std::string unix_seconds_text(std::uint64_t seconds) {
  auto t = from_unix_seconds(seconds);
  return t ? format_rfc3339(*t) : std::to_string(seconds);
}

Result<std::chrono::sys_seconds> parse_rfc3339(std::string_view text) {
  using namespace std::chrono;
  auto bad = [&] {
    return fail("time.format", "\"" + std::string(text.substr(0, 40)) + "\" is not an RFC 3339 UTC time like " +
                                   "2025-07-01T00:00:00Z");
  };
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  if (text.size() < 20 || !read_digits(text, 0, 4, y) || text[4] != '-' || !read_digits(text, 5, 2, mo) ||
      text[7] != '-' || !read_digits(text, 8, 2, d) || text[10] != 'T' || !read_digits(text, 11, 2, h) ||
      text[13] != ':' || !read_digits(text, 14, 2, mi) || text[16] != ':' || !read_digits(text, 17, 2, s)) {
    return bad();
  }
  std::size_t pos = 19;
  if (text[pos] == '.') {
    ++pos;
    const std::size_t start = pos;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') ++pos;
    if (pos == start) return bad();
  }
  if (pos + 1 != text.size() || text[pos] != 'Z') return bad();
  const year_month_day ymd{year{y}, month{static_cast<unsigned>(mo)}, day{static_cast<unsigned>(d)}};
  if (!ymd.ok() || h > 23 || mi > 59 || s > 60) return bad();
  const sys_seconds t = sys_days{ymd} + hours{h} + minutes{mi} + seconds{std::min(s, 59)};
  if (t < kEarliestTime || t > kLatestTime) {
    return fail("time.range", std::string(text.substr(0, 40)) + " is outside the times Ward can represent (" +
                                  format_rfc3339(kEarliestTime) + " to " + format_rfc3339(kLatestTime) + ")");
  }
  return t;
}

}  // namespace ward
