#include "evm/signer.h"

#include <string>

#include <gtest/gtest.h>

#include "evm/u256.h"

namespace ward::evm {
namespace {

PrivateKey key_from_hex(std::string_view hex) {
  return PrivateKey::from_bytes(hex_decode(hex).value()).value();
}

TEST(Address, shouldKeepTheChecksumOfTheEip55Examples) {
  for (std::string_view text :
       {"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
        "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB", "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb"}) {
    auto address = Address::parse(text);
    ASSERT_TRUE(address) << text << ": " << address.error().message;
    EXPECT_EQ(address->to_checksum(), text);
  }
}

TEST(Address, shouldAcceptAllLowerAndAllUpperCase) {
  auto lower = Address::parse("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed");
  auto upper = Address::parse("0x5AAEB6053F3E94C9B9A09F33669435E7EF1BEAED");
  ASSERT_TRUE(lower);
  ASSERT_TRUE(upper);
  EXPECT_EQ(*lower, *upper);
  EXPECT_EQ(lower->to_checksum(), "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed");
}

TEST(Address, shouldRefuseAWrongChecksum) {
  auto address = Address::parse("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD");
  ASSERT_FALSE(address);
  EXPECT_EQ(address.error().code, "evm.address");
}

TEST(Address, shouldRefuseTextOfTheWrongForm) {
  EXPECT_FALSE(Address::parse("5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"));
  EXPECT_FALSE(Address::parse("0x5aaeb6053f3e94c9b9a09f33669435e7ef1bea"));
  EXPECT_FALSE(Address::parse("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaedaa"));
  EXPECT_FALSE(Address::parse("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaeg"));
  EXPECT_FALSE(Address::parse("0X5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"));
  EXPECT_FALSE(Address::from_bytes(Bytes(19, 0)));
}

TEST(PrivateKey, shouldGiveTheKnownAddresses) {
  // EIP-155's example key, the key 1, and anvil's first dev account.
  std::string k46;
  for (int i = 0; i < 32; ++i) k46 += "46";
  EXPECT_EQ(key_from_hex(k46).address().to_checksum(), "0x9d8A62f656a8d1615C1294fd71e9CFb3E4855A4F");
  EXPECT_EQ(key_from_hex(std::string(63, '0') + "1").address().to_checksum(),
            "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf");
  EXPECT_EQ(key_from_hex("ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80")
                .address()
                .to_checksum(),
            "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266");
}

TEST(PrivateKey, shouldRefuseZeroTheGroupOrderAndWrongSizes) {
  EXPECT_EQ(PrivateKey::from_bytes(Bytes(32, 0)).error().code, "evm.key");
  auto order = hex_decode("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141").value();
  EXPECT_FALSE(PrivateKey::from_bytes(order));
  order[31] = 0x40;  // n - 1 is the largest key
  EXPECT_TRUE(PrivateKey::from_bytes(order));
  EXPECT_FALSE(PrivateKey::from_bytes(Bytes(31, 1)));
}

TEST(PrivateKey, shouldSignSoThatTheSignerIsRecovered) {
  PrivateKey key = PrivateKey::generate();
  Hash256 digest = keccak256(as_bytes("a message"));
  Signature sig = key.sign(digest);
  EXPECT_EQ(key.sign(digest), sig) << "RFC 6979 nonces are deterministic";
  EXPECT_EQ(recover_address(digest, sig), key.address());
  EXPECT_EQ(recover_public_key(digest, sig), key.public_key());
  Hash256 other = keccak256(as_bytes("another message"));
  auto recovered = recover_address(other, sig);
  EXPECT_TRUE(!recovered || *recovered != key.address());
}

TEST(PrivateKey, shouldSignWithLowS) {
  PrivateKey key = PrivateKey::generate();
  for (int i = 0; i < 32; ++i) {
    Signature sig = key.sign(keccak256(Bytes{static_cast<std::uint8_t>(i)}));
    EXPECT_LT(sig.s[0], 0x80) << i;
  }
}

TEST(RecoverAddress, shouldRefuseHighSWrongParityAndOutOfRangeScalars) {
  PrivateKey key = PrivateKey::generate();
  Hash256 digest = keccak256(as_bytes("a message"));
  Signature sig = key.sign(digest);

  // s' = n - s verifies too under plain ECDSA; Ethereum refuses it.
  auto n = hex_decode("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141").value();
  Signature high = sig;
  int borrow = 0;
  for (int i = 31; i >= 0; --i) {
    int d = n[i] - sig.s[i] - borrow;
    borrow = d < 0;
    high.s[i] = static_cast<std::uint8_t>(d + (borrow ? 256 : 0));
  }
  high.y_parity ^= 1;
  EXPECT_EQ(recover_address(digest, high).error().code, "evm.signature");

  Signature parity = sig;
  parity.y_parity = 2;
  EXPECT_FALSE(recover_address(digest, parity));

  Signature zero = sig;
  zero.r = {};
  EXPECT_FALSE(recover_address(digest, zero));

  Signature big = sig;
  big.r.fill(0xff);
  EXPECT_FALSE(recover_address(digest, big));
}

}  // namespace
}  // namespace ward::evm
