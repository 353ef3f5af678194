#include "crypto/der.h"

#include <algorithm>

#include <gtest/gtest.h>

namespace ward::crypto::der {
namespace {

TEST(Der, ShouldRoundTripShortAndLongLengths) {
  for (std::size_t n : {0u, 1u, 127u, 128u, 255u, 256u, 70000u}) {
    const Bytes contents(n, 0x5a);
    const Bytes encoded = encode(0x04, contents);
    ByteView in = encoded;
    auto tlv = read(in);
    ASSERT_TRUE(tlv) << n << ": " << tlv.error().message;
    EXPECT_EQ(tlv->tag, 0x04);
    EXPECT_TRUE(std::ranges::equal(tlv->contents, contents));
    EXPECT_TRUE(in.empty());
  }
}

TEST(Der, ShouldReadElementsInTurn) {
  Bytes two = encode(0x02, Bytes{1});
  append(two, 0x04, Bytes{2, 3});
  ByteView in = two;
  ASSERT_TRUE(read(in));
  auto second = read(in);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->contents.size(), 2u);
  EXPECT_TRUE(in.empty());
}

TEST(Der, ShouldRejectWhatBerAllowsButDerDoesNot) {
  for (const Bytes& bad : {Bytes{0x04}, Bytes{0x04, 0x80}, Bytes{0x04, 0x81, 0x05, 1, 2, 3, 4, 5},
                           Bytes{0x04, 0x82, 0x00, 0x90}, Bytes{0x04, 0x85, 1, 1, 1, 1, 1},
                           Bytes{0x1f, 0x01, 0x00}, Bytes{0x04, 0x03, 1, 2}, Bytes{0x04, 0x81}}) {
    ByteView in = bad;
    auto tlv = read(in);
    EXPECT_FALSE(tlv);
    if (!tlv) {
      EXPECT_EQ(tlv.error().code, "crypto.der");
    }
    EXPECT_EQ(in.size(), bad.size());  // nothing consumed
  }
}

TEST(Der, ReadWholeShouldTakeOneElementOfItsTagAndNothingMore) {
  const Bytes text = encode(kTagUtf8String, as_bytes(std::string_view("age1")));
  auto contents = read_whole(text, kTagUtf8String);
  ASSERT_TRUE(contents) << contents.error().message;
  EXPECT_EQ(as_chars(*contents), "age1");

  auto other_tag = read_whole(text, kTagOctetString);
  ASSERT_FALSE(other_tag);
  EXPECT_EQ(other_tag.error().message, "unexpected tag");
  Bytes trailing = text;
  trailing.push_back(0);
  auto more = read_whole(trailing, kTagUtf8String);
  ASSERT_FALSE(more);
  EXPECT_EQ(more.error().message, "trailing bytes");
  EXPECT_FALSE(read_whole(Bytes{kTagUtf8String, 0x05, 'a'}, kTagUtf8String));
}

}  // namespace
}  // namespace ward::crypto::der
