#include "evm/rlp.h"

#include <string>

#include <gtest/gtest.h>

namespace ward::evm {
namespace {

RlpItem str(std::string_view s) {
  return RlpItem::string(as_bytes(s));
}

std::string encoded(const RlpItem& item) {
  return hex_encode(rlp_encode(item));
}

std::string refusal(std::string_view hex) {
  auto item = rlp_decode(hex_decode(hex).value());
  if (item) return "decoded";
  EXPECT_EQ(item.error().code, "evm.rlp");
  return item.error().message;
}

// The examples of the Ethereum wiki's RLP page and the yellow paper.
TEST(Rlp, shouldEncodeTheSpecificationExamples) {
  EXPECT_EQ(encoded(str("dog")), "83646f67");
  EXPECT_EQ(encoded(RlpItem::list({str("cat"), str("dog")})), "c88363617483646f67");
  EXPECT_EQ(encoded(str("")), "80");
  EXPECT_EQ(encoded(RlpItem::list({})), "c0");
  EXPECT_EQ(encoded(RlpItem::uint(0)), "80");
  EXPECT_EQ(encoded(RlpItem::string(Bytes{0x00})), "00");
  EXPECT_EQ(encoded(RlpItem::uint(15)), "0f");
  EXPECT_EQ(encoded(RlpItem::uint(1024)), "820400");
  RlpItem empty = RlpItem::list({});
  RlpItem one = RlpItem::list({empty});
  EXPECT_EQ(encoded(RlpItem::list({empty, one, RlpItem::list({empty, one})})), "c7c0c1c0c3c0c1c0");
  EXPECT_EQ(encoded(str("Lorem ipsum dolor sit amet, consectetur adipisicing elit")),
            "b8384c6f72656d20697073756d20646f6c6f722073697420616d65742c20636f6e7365637465747572206164697069"
            "736963696e6720656c6974");
}

TEST(Rlp, shouldRoundTripLongStringsAndLists) {
  for (std::size_t size : {55, 56, 255, 256, 70000}) {
    RlpItem item = RlpItem::string(Bytes(size, 0xab));
    EXPECT_EQ(rlp_decode(rlp_encode(item)), item) << size;
    RlpItem list = RlpItem::list(std::vector<RlpItem>(size, RlpItem::uint(0x80)));
    EXPECT_EQ(rlp_decode(rlp_encode(list)), list) << size;
  }
  EXPECT_EQ(encoded(RlpItem::string(Bytes(1024, 0))).substr(0, 6), "b90400");
}

TEST(Rlp, shouldReadIntegersAndRefuseLeadingZeros) {
  EXPECT_EQ(rlp_decode(hex_decode("820400").value())->to_uint64(), 1024u);
  EXPECT_EQ(rlp_decode(hex_decode("80").value())->to_uint64(), 0u);
  auto padded = rlp_decode(hex_decode("820004").value());
  ASSERT_TRUE(padded);
  EXPECT_EQ(padded->to_uint64().error().message, "an integer has a leading zero byte");
  EXPECT_FALSE(RlpItem::string(Bytes{0x00}).to_uint64());
  EXPECT_FALSE(RlpItem::string(Bytes(9, 0x01)).to_uint64());
  EXPECT_FALSE(RlpItem::string(Bytes(33, 0x01)).to_u256());
  EXPECT_FALSE(RlpItem::list({}).to_uint64());
}

TEST(Rlp, shouldRefuseASingleByteWrappedInAStringPrefix) {
  EXPECT_EQ(refusal("8105"), "a single byte under 0x80 is wrapped in a string prefix");
  EXPECT_EQ(refusal("8180"), "decoded");
}

TEST(Rlp, shouldRefuseTheLongFormForShortItems) {
  EXPECT_EQ(refusal("b803646f67"), "the long form is used for a length under 56");
  EXPECT_EQ(refusal("f801c0"), "the long form is used for a length under 56");
}

TEST(Rlp, shouldRefuseLengthsWithLeadingZeros) {
  EXPECT_EQ(refusal("b90038" + std::string(112, 'a')), "a length has a leading zero byte");
}

TEST(Rlp, shouldRefuseLengthsPastTheEnd) {
  EXPECT_EQ(refusal("83646f"), "an item's length runs past the end of the data");
  EXPECT_EQ(refusal("b9"), "a length runs past the end of the data");
  EXPECT_EQ(refusal("c3836461"), "an item's length runs past the end of the data");
  // The inner string claims more than its list holds, though the data has it.
  EXPECT_EQ(refusal("c283646f67"), "an item's length runs past the end of the data");
  EXPECT_EQ(refusal("bfffffffffffffffff00"), "an item's length runs past the end of the data");
  EXPECT_EQ(refusal(""), "an item runs past the end of its enclosing data");
}

TEST(Rlp, shouldRefuseTrailingBytes) {
  EXPECT_EQ(refusal("83646f6700"), "trailing bytes after the item");
  EXPECT_EQ(refusal("c0c0"), "trailing bytes after the item");
}

TEST(Rlp, shouldRefuseNestingDeeperThanTheBound) {
  RlpItem deep = RlpItem::list({});
  for (std::size_t i = 0; i < kMaxRlpDepth; ++i) deep = RlpItem::list({deep});
  EXPECT_EQ(refusal(hex_encode(rlp_encode(deep))), "lists are nested deeper than 32");
  EXPECT_EQ(refusal(hex_encode(rlp_encode(deep.items[0]))), "decoded");
}

}  // namespace
}  // namespace ward::evm
