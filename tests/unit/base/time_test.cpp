#include "base/time.h"

#include <gtest/gtest.h>

namespace ward {
namespace {

using namespace std::chrono;

TEST(Rfc3339, RoundTripsASecond) {
  const sys_seconds t = parse_rfc3339("2025-07-01T12:34:56Z").value();
  EXPECT_EQ(format_rfc3339(t), "2025-07-01T12:34:56Z");
  EXPECT_EQ(parse_rfc3339("2025-07-01T12:34:56.999Z").value(), t);
}

TEST(Rfc3339, ReadsALeapSecondAsTheSecondBefore) {
  EXPECT_EQ(parse_rfc3339("2016-12-31T23:59:60Z").value(), parse_rfc3339("2016-12-31T23:59:59Z").value());
  EXPECT_EQ(parse_rfc3339("2016-12-31T23:59:61Z").error().code, "time.format");
}

TEST(Rfc3339, ShouldRejectWhatIsNotTheOneForm) {
  for (const char* text :
       {"", "2025-07-01", "2025-07-01T00:00:00", "2025-07-01T00:00:00+00:00", "2025-07-01 00:00:00Z",
        "2025-02-30T00:00:00Z", "2025-07-01T24:00:00Z", "2025-07-01T00:60:00Z", "2025-07-01T00:00:00.Z",
        "+025-07-01T00:00:00Z", "2025-07-01T00:00:00Zjunk"}) {
    auto t = parse_rfc3339(text);
    ASSERT_FALSE(t) << text;
    EXPECT_EQ(t.error().code, "time.format") << text;
  }
}

TEST(Rfc3339, TheRangeIsWhatSystemClockHolds) {
  EXPECT_EQ(format_rfc3339(kEarliestTime), "1677-09-21T00:12:44Z");
  EXPECT_EQ(format_rfc3339(kLatestTime), "2262-04-11T23:47:16Z");
  // Both ends convert to the clock's nanoseconds and back without overflow.
  EXPECT_EQ(time_point_cast<seconds>(system_clock::time_point(kLatestTime)), kLatestTime);
  EXPECT_EQ(time_point_cast<seconds>(system_clock::time_point(kEarliestTime)), kEarliestTime);
}

TEST(Rfc3339, AcceptsTheEdgesOfTheRange) {
  EXPECT_EQ(parse_rfc3339("2262-04-11T23:47:16Z").value(), kLatestTime);
  EXPECT_EQ(parse_rfc3339("2262-04-11T23:47:16.999999999Z").value(), kLatestTime);
  EXPECT_EQ(parse_rfc3339("1677-09-21T00:12:44Z").value(), kEarliestTime);
  EXPECT_TRUE(parse_rfc3339("1970-01-01T00:00:00Z"));
  EXPECT_TRUE(parse_rfc3339("2262-01-01T00:00:00Z"));
}

TEST(Rfc3339, ShouldRejectTimesPastTheRange) {
  // 4052-11-26T02:55:48Z is the grant expiry fuzz_order_documents found:
  // 65730106548 s times 10^9 wrapped in the expiry check.
  for (const char* text :
       {"2262-04-11T23:47:17Z", "2262-04-12T00:00:00Z", "4052-11-26T02:55:48Z", "9999-12-31T23:59:59Z",
        "1677-09-21T00:12:43Z", "1677-01-01T00:00:00Z", "0000-01-01T00:00:00Z"}) {
    auto t = parse_rfc3339(text);
    ASSERT_FALSE(t) << text << " was read as " << t->time_since_epoch().count();
    EXPECT_EQ(t.error().code, "time.range") << text;
    EXPECT_NE(t.error().message.find("2262-04-11T23:47:16Z"), std::string::npos) << t.error().message;
  }
}

}  // namespace
}  // namespace ward
