#include "age/armor.h"

#include <gtest/gtest.h>

#include "crypto/random.h"

namespace ward::age {
namespace {

std::string armor(ByteView data) {
  BytesWriter out;
  ArmorWriter w(out);
  EXPECT_TRUE(w.write(data));
  EXPECT_TRUE(w.finish());
  return std::string(as_chars(out.bytes()));
}

TEST(Armor, RoundTripsEverySizeAroundLineBoundaries) {
  for (std::size_t n : {0, 1, 47, 48, 49, 95, 96, 97, 1000}) {
    Bytes data = crypto::random_bytes(n);
    std::string text = armor(data);
    auto back = dearmor(as_bytes(text));
    ASSERT_TRUE(back) << n << ": " << back.error().message;
    EXPECT_EQ(*back, data) << n;
  }
}

TEST(Armor, WritesFullLinesOf64Columns) {
  std::string text = armor(Bytes(100, 0xab));
  EXPECT_EQ(text.substr(0, 35), "-----BEGIN AGE ENCRYPTED FILE-----\n");
  std::size_t first_nl = text.find('\n', 35);
  EXPECT_EQ(first_nl - 35, 64u);
  EXPECT_TRUE(text.ends_with("=\n-----END AGE ENCRYPTED FILE-----\n"));
}

TEST(Armor, SplitWritesGiveTheSameText) {
  Bytes data = crypto::random_bytes(500);
  BytesWriter out;
  ArmorWriter w(out);
  for (std::size_t i = 0; i < data.size(); i += 7) {
    ASSERT_TRUE(w.write(ByteView(data).subspan(i, std::min<std::size_t>(7, data.size() - i))));
  }
  ASSERT_TRUE(w.finish());
  EXPECT_EQ(std::string(as_chars(out.bytes())), armor(data));
}

TEST(Armor, ShouldRejectTruncatedArmor) {
  std::string text = armor(Bytes(200, 1));
  text.resize(text.find("-----END"));
  auto back = dearmor(as_bytes(text));
  ASSERT_FALSE(back);
  EXPECT_EQ(back.error().code, "age.armor");
}

TEST(Armor, ShouldRejectGarbageAfterEnd) {
  auto back = dearmor(as_bytes(armor(Bytes(10, 1)) + "x"));
  ASSERT_FALSE(back);
  EXPECT_EQ(back.error().code, "age.armor");
}

TEST(Armor, ShouldRejectEndlessLine) {
  std::string text = "-----BEGIN AGE ENCRYPTED FILE-----\n" + std::string(1 << 20, 'A');
  auto back = dearmor(as_bytes(text));
  ASSERT_FALSE(back);
  EXPECT_EQ(back.error().code, "age.armor");
}

}  // namespace
}  // namespace ward::age
