#include "ledger/fields.h"

#include <string>

#include <gtest/gtest.h>

namespace ward::ledger::fields {
namespace {

using json = nlohmann::json;

const std::string kHex32 = std::string(62, 'a') + "0f";

// The reason `read` was refused with ("" when it was not).
template <class T>
std::string reason(const Read<T>& read) {
  return read ? std::string() : read.error();
}

TEST(FieldsTest, shouldAcceptAnObjectWithOnlyAllowedFieldsWhenRequiredOnesArePresent) {
  EXPECT_TRUE(only_fields(json{{"a", 1}, {"b", 2}}, {"a", "b", "c"}, {"a"}, "thing"));
}

TEST(FieldsTest, shouldRefuseAnObjectWhenItIsNotOne) {
  EXPECT_EQ(reason(only_fields(json::array(), {"a"}, {}, "thing")), "thing is not a JSON object");
}

TEST(FieldsTest, shouldRefuseAnObjectWhenAFieldIsUnknown) {
  EXPECT_EQ(reason(only_fields(json{{"a", 1}, {"x", 2}}, {"a"}, {}, "thing")),
            "thing has unknown field \"x\"");
}

TEST(FieldsTest, shouldRefuseAnObjectWhenARequiredFieldIsMissing) {
  EXPECT_EQ(reason(only_fields(json{{"a", 1}}, {"a", "b"}, {"a", "b"}, "thing")), "thing lacks field \"b\"");
}

TEST(FieldsTest, shouldRefuseAFieldWhenItIsMissing) {
  EXPECT_EQ(reason(get(json::object(), "n")), "missing field \"n\"");
  EXPECT_EQ(reason(get_uint(json::object(), "n")), "missing field \"n\"");
  EXPECT_EQ(reason(get_string(json::object(), "s", 8)), "missing field \"s\"");
  EXPECT_EQ(reason(get_hex<32>(json::object(), "h")), "missing field \"h\"");
  EXPECT_EQ(reason(get_time(json::object(), "t")), "missing field \"t\"");
}

TEST(FieldsTest, shouldReadAnIntegerWhenItIsFromZeroTo2To63Minus1) {
  EXPECT_EQ(get_uint(json{{"n", 0}}, "n"), 0u);
  EXPECT_EQ(get_uint(json{{"n", kMaxUint}}, "n"), kMaxUint);
}

TEST(FieldsTest, shouldRefuseAnIntegerWhenItIsNegative) {
  EXPECT_EQ(reason(get_uint(json{{"n", -1}}, "n")), "\"n\" must not be negative");
}

TEST(FieldsTest, shouldRefuseAnIntegerWhenItExceeds2To63Minus1) {
  EXPECT_EQ(reason(get_uint(json{{"n", kMaxUint + 1}}, "n")), "\"n\" exceeds 2^63-1");
}

TEST(FieldsTest, shouldRefuseAnIntegerWhenItIsNotOne) {
  EXPECT_EQ(reason(get_uint(json{{"n", "5"}}, "n")), "\"n\" must be an integer");
  EXPECT_EQ(reason(get_uint(json{{"n", 1.5}}, "n")), "\"n\" must be an integer");
  EXPECT_EQ(reason(get_uint(json{{"n", true}}, "n")), "\"n\" must be an integer");
}

TEST(FieldsTest, shouldRefuseAnIntegerListWhenItIsNotAnArrayOrHoldsANegative) {
  EXPECT_EQ(get_uints(json{{"l", {1, 2}}}, "l"), (std::vector<std::uint64_t>{1, 2}));
  EXPECT_EQ(reason(get_uints(json{{"l", 1}}, "l")), "\"l\" must be an array of integers");
  EXPECT_EQ(reason(get_uints(json{{"l", {1, -2}}}, "l")), "\"l\" must not be negative");
}

TEST(FieldsTest, shouldReadAStringWhenItIsWithinItsBound) {
  EXPECT_EQ(get_string(json{{"s", "abc"}}, "s", 3), "abc");
}

TEST(FieldsTest, shouldRefuseAStringWhenItIsNotOne) {
  EXPECT_EQ(reason(get_string(json{{"s", 5}}, "s", 8)), "\"s\" must be a string");
}

TEST(FieldsTest, shouldRefuseAStringWhenItIsEmptyUnlessAllowed) {
  EXPECT_EQ(reason(get_string(json{{"s", ""}}, "s", 8)), "\"s\" must not be empty");
  EXPECT_EQ(get_string(json{{"s", ""}}, "s", 8, Empty::Allowed), "");
}

TEST(FieldsTest, shouldRefuseAStringWhenItIsLongerThanItsBound) {
  EXPECT_EQ(reason(get_string(json{{"s", "abcd"}}, "s", 3)), "\"s\" is longer than 3 bytes");
}

TEST(FieldsTest, shouldRefuseAStringListWhenItIsNotAnArrayOrAnItemIsRefused) {
  EXPECT_EQ(get_strings(json{{"l", {"a", "b"}}}, "l", 4), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(reason(get_strings(json{{"l", "a"}}, "l", 4)), "\"l\" must be an array of strings");
  EXPECT_EQ(reason(get_strings(json{{"l", {"a", 1}}}, "l", 4)), "\"l\" must be a string");
  EXPECT_EQ(reason(get_strings(json{{"l", {"a", ""}}}, "l", 4)), "\"l\" must not be empty");
  EXPECT_EQ(reason(get_strings(json{{"l", {"abcde"}}}, "l", 4)), "\"l\" is longer than 4 bytes");
}

TEST(FieldsTest, shouldReadHexWhenItIsLowerCaseOfExactLength) {
  const auto bytes = get_hex<32>(json{{"h", kHex32}}, "h");
  ASSERT_TRUE(bytes) << bytes.error();
  EXPECT_EQ(bytes->front(), 0xaa);
  EXPECT_EQ(bytes->back(), 0x0f);
}

TEST(FieldsTest, shouldRefuseHexWhenItIsUpperCase) {
  std::string upper = kHex32;
  upper.front() = 'A';
  EXPECT_EQ(reason(get_hex<32>(json{{"h", upper}}, "h")), "\"h\" must be 64 lower-case hex digits");
}

TEST(FieldsTest, shouldRefuseHexWhenItsLengthIsNotExact) {
  EXPECT_EQ(reason(get_hex<32>(json{{"h", kHex32.substr(2)}}, "h")),
            "\"h\" must be 64 lower-case hex digits");
  EXPECT_EQ(reason(get_hex<32>(json{{"h", kHex32 + "00"}}, "h")), "\"h\" must be 64 lower-case hex digits");
  EXPECT_EQ(reason(get_hex<64>(json{{"h", kHex32}}, "h")), "\"h\" must be 128 lower-case hex digits");
}

TEST(FieldsTest, shouldRefuseHexWhenItIsNotAStringOrNotHex) {
  EXPECT_EQ(reason(get_hex<32>(json{{"h", 5}}, "h")), "\"h\" must be 64 lower-case hex digits");
  EXPECT_EQ(reason(get_hex<32>(json{{"h", std::string(64, 'g')}}, "h")),
            "\"h\" must be 64 lower-case hex digits");
}

TEST(FieldsTest, shouldReadATimeWhenItIsCanonicalRfc3339Utc) {
  EXPECT_EQ(get_time(json{{"t", "2025-07-01T00:00:00Z"}}, "t"), "2025-07-01T00:00:00Z");
}

TEST(FieldsTest, shouldRefuseATimeWhenItIsNotInItsCanonicalSpelling) {
  const std::string why = "\"t\" must be an RFC 3339 UTC time like 2025-07-01T00:00:00Z";
  EXPECT_EQ(reason(get_time(json{{"t", "2025-07-01 00:00:00"}}, "t")), why);
  EXPECT_EQ(reason(get_time(json{{"t", "2025-07-01T00:00:00.5Z"}}, "t")), why);
  EXPECT_EQ(reason(get_time(json{{"t", "2025-07-01T02:00:00+02:00"}}, "t")), why);
}

TEST(FieldsTest, shouldRefuseATimeWhenTheClockCannotHoldIt) {
  EXPECT_EQ(reason(get_time(json{{"t", "9999-12-31T23:59:59Z"}}, "t"))
                .rfind("\"t\" 9999-12-31T23:59:59Z is outside", 0),
            0u);
}

TEST(FieldsTest, shouldNormalizeAnEngineDigestWhenGivenBareOrPrefixed) {
  const std::string hex(64, 'e');
  EXPECT_EQ(parse_engine_digest(hex, "engine"), "sha256:" + hex);
  EXPECT_EQ(parse_engine_digest("sha256:" + hex, "engine"), "sha256:" + hex);
}

TEST(FieldsTest, shouldRefuseAnEngineDigestWhenItIsNotSha256LowerHex) {
  EXPECT_EQ(
      reason(parse_engine_digest("sha512:" + std::string(64, 'e'), "engine")).rfind("engine \"sha512:", 0),
      0u);
  EXPECT_NE(reason(parse_engine_digest(std::string(64, 'E'), "engine")).find("is not an engine digest"),
            std::string::npos);
}

}  // namespace
}  // namespace ward::ledger::fields
