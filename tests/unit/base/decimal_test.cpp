#include "base/decimal.h"

#include <gtest/gtest.h>

namespace ward {
namespace {

TEST(Decimal, AcceptsPlainDigits) {
  EXPECT_EQ(parse_decimal("0").value(), 0u);
  EXPECT_EQ(parse_decimal("5").value(), 5u);
  EXPECT_EQ(parse_decimal("1000").value(), 1000u);
  EXPECT_EQ(parse_decimal("9223372036854775807").value(), 9223372036854775807u);
}

// Each of these was read by CLI11 (strtoull, base 0) as a number: 010 as 8,
// 0x10 as 16, +5 and " 5" as 5.
TEST(Decimal, ShouldRejectWhatStrtoullWouldReinterpret) {
  for (const char* text : {"010", "00", "0x10", "0X10", "+5", " 5", "5 ", "\t5", "-1", "-0", "1e3", "1.0",
                           "1_000", "1,000", "", "٣"}) {
    auto n = parse_decimal(text);
    ASSERT_FALSE(n) << "'" << text << "' was read as " << *n;
    EXPECT_EQ(n.error().code, "number.format") << text;
  }
}

TEST(Decimal, ShouldRejectAboveTwoToThe63MinusOne) {
  for (const char* text :
       {"9223372036854775808", "18446744073709551615", "18446744073709551616", "99999999999999999999999"}) {
    auto n = parse_decimal(text);
    ASSERT_FALSE(n) << text;
    EXPECT_EQ(n.error().code, "number.range") << text;
  }
}

TEST(Decimal, ShouldRejectAboveAGivenMaximum) {
  EXPECT_EQ(parse_decimal("10000", 10000).value(), 10000u);
  EXPECT_EQ(parse_decimal("10001", 10000).error().code, "number.range");
  EXPECT_EQ(parse_decimal("3", 3).value(), 3u);
  EXPECT_EQ(parse_decimal("5", 3).error().code, "number.range");
  EXPECT_EQ(parse_decimal("0", 0).value(), 0u);
  EXPECT_EQ(parse_decimal("9", 0).error().code, "number.range");
  EXPECT_EQ(parse_decimal("18446744073709551615", UINT64_MAX).value(), UINT64_MAX);
  EXPECT_EQ(parse_decimal("18446744073709551616", UINT64_MAX).error().code, "number.range");
}

TEST(Decimal, ErrorStatesTheRuleInOneLine) {
  const std::string message = parse_decimal("010").error().message;
  EXPECT_NE(message.find("leading zero"), std::string::npos) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos);
  EXPECT_NE(parse_decimal("9223372036854775808").error().message.find("9223372036854775807"),
            std::string::npos);
}

}  // namespace
}  // namespace ward
