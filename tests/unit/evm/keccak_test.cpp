#include "evm/keccak.h"

#include <string>

#include <gtest/gtest.h>

#include "evm/u256.h"

namespace ward::evm {
namespace {

std::string hex(const Hash256& h) {
  return hex_encode(h);
}

TEST(Keccak256, shouldMatchTheKnownAnswersForShortInputs) {
  EXPECT_EQ(hex(keccak256({})), "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470");
  EXPECT_EQ(hex(keccak256(as_bytes("abc"))),
            "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45");
}

TEST(Keccak256, shouldGiveTheWellKnownFunctionSelectors) {
  EXPECT_EQ(hex(keccak256(as_bytes("transfer(address,uint256)"))).substr(0, 8), "a9059cbb");
  EXPECT_EQ(hex(keccak256(as_bytes("balanceOf(address)"))).substr(0, 8), "70a08231");
  EXPECT_EQ(hex(keccak256(as_bytes("Error(string)"))).substr(0, 8), "08c379a0");
  EXPECT_EQ(hex(keccak256(as_bytes("Panic(uint256)"))).substr(0, 8), "4e487b71");
}

TEST(Keccak256, shouldMatchTheKeccakTeamsVectorOf200BytesA3) {
  Bytes input(200, 0xa3);
  EXPECT_EQ(hex(keccak256(input)), "3a57666b048777f2c953dc4456f45a2588e1cb6f2da760122d530ac2ce607d4a");
}

// Input byte i is i % 251. Expected digests from npm js-sha3 0.8.0 (`keccak256`),
// generated once with node; sizes straddle the 136-byte rate and its multiples.
TEST(Keccak256, shouldMatchJsSha3AroundTheRateBoundary) {
  const std::pair<std::size_t, std::string_view> vectors[] = {
      {1, "bc36789e7a1e281436464229828f817d6612f7b477d66591ff96a9e064bcc98a"},
      {55, "797f92d5e159d80a886c0a7802a255b475a1e8e473e8cf4345144824a2aee79c"},
      {56, "0d0bf4902a749dee22eae5f1b6e2b867ba696ce9be7632eba14315ac09bd1856"},
      {135, "cbdfd9dee5faad3818d6b06f95a219fd290b0e1706f6a82e5a595b9ce9faca62"},
      {136, "7ce759f1ab7f9ce437719970c26b0a66ff11fe3e38e17df89cf5d29c7d7f807e"},
      {137, "ac73d4fae68b8453f764007c1a20ce95994187861f0c3227a3a8e99a73a3b1db"},
      {271, "27eceb59ebc3dc8a04a5b135be641591a7278540e4556a2ba9f408194e666ec3"},
      {272, "8e2476e65823b24d96ebe239f2c1534cdf763e689e2410c3b1cb0c74e6177bfc"},
      {273, "3f02f134370e4debb95140ef49ddd3aed8c65ff1ed83a43f1b269421f179c5f9"},
      {408, "2fa03dab557315e48395073815c6aefeb1e78b5f750fa85b623ab3a1f1d988a1"},
      {1000, "af692982e84a5a9688359025660a7857cd28ee7c8d867cfa1677baf2e6d1f63b"},
  };
  for (const auto& [size, expected] : vectors) {
    Bytes input(size);
    for (std::size_t i = 0; i < size; ++i) input[i] = static_cast<std::uint8_t>(i % 251);
    EXPECT_EQ(hex(keccak256(input)), expected) << size << " bytes";
  }
}

TEST(Keccak256, shouldGiveTheSameDigestWhenFedInPieces) {
  Bytes input(1000);
  for (std::size_t i = 0; i < input.size(); ++i) input[i] = static_cast<std::uint8_t>(i % 251);
  for (std::size_t piece : {1, 7, 135, 136, 137, 500}) {
    Keccak256 hasher;
    for (std::size_t at = 0; at < input.size(); at += piece)
      hasher.update(ByteView(input).subspan(at, std::min(piece, input.size() - at)));
    EXPECT_EQ(hasher.finish(), keccak256(input)) << "pieces of " << piece;
  }
}

TEST(U256, shouldRoundTripTheLargestValueThroughDecimalAndQuantity) {
  const std::string max = "115792089237316195423570985008687907853269984665640564039457584007913129639935";
  auto v = U256::from_decimal(max);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->to_decimal(), max);
  EXPECT_EQ(v->to_quantity(), "0x" + std::string(64, 'f'));
  EXPECT_EQ(U256::from_quantity(v->to_quantity()).value(), *v);
  EXPECT_EQ(U256(0).to_decimal(), "0");
  EXPECT_EQ(U256(0).to_quantity(), "0x0");
  EXPECT_EQ(U256::from_quantity("0x1A")->to_uint64(), 26u);
}

TEST(U256, shouldRefuseNumbersThatAreNotCanonicalOrDoNotFit) {
  EXPECT_FALSE(
      U256::from_decimal("115792089237316195423570985008687907853269984665640564039457584007913129639936"));
  EXPECT_FALSE(U256::from_decimal("01"));
  EXPECT_FALSE(U256::from_decimal("-1"));
  EXPECT_FALSE(U256::from_decimal(""));
  EXPECT_FALSE(U256::from_quantity("0x"));
  EXPECT_FALSE(U256::from_quantity("0x01"));
  EXPECT_FALSE(U256::from_quantity("12"));
  EXPECT_FALSE(U256::from_quantity("0x" + std::string(65, '1')));
  EXPECT_FALSE(U256::from_big_endian(Bytes(33, 0)));
  EXPECT_FALSE(U256::from_decimal("18446744073709551616")->to_uint64());
  EXPECT_EQ(U256::from_decimal("18446744073709551615")->to_uint64(), 18446744073709551615u);
}

}  // namespace
}  // namespace ward::evm
