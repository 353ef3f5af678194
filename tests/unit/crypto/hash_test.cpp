#include "crypto/hash.h"

#include <string>

#include <gtest/gtest.h>

#include "base/bytes.h"

namespace ward::crypto {
namespace {

Bytes unhex(std::string_view text) {
  return hex_decode(text).value();
}
std::string hex(ByteView b) {
  return hex_encode(b);
}
std::string hex(const SecretBytes& b) {
  return hex_encode(view(b));
}

TEST(Hash, Sha2OfAbcMatchesFips180) {
  EXPECT_EQ(hex(sha256(as_bytes("abc"))), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(
      hex(sha384(as_bytes("abc"))),
      "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7");
  EXPECT_EQ(hex(sha512(as_bytes("abc"))),
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
            "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f");
}

TEST(Hash, Sha2OfEmptyInput) {
  EXPECT_EQ(hex(hash(HashAlg::Sha256, {})),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(
      hex(hash(HashAlg::Sha384, {})),
      "38b060a751ac96384cd9327eb1b1e36a21fdb71114be07434c0cc7bf63f6e1da274edebfe76f65fbd51ad2f14898b95b");
  EXPECT_EQ(hex(hash(HashAlg::Sha512, {})),
            "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
            "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e");
}

TEST(Hash, DigestSizes) {
  EXPECT_EQ(digest_size(HashAlg::Sha256), 32u);
  EXPECT_EQ(digest_size(HashAlg::Sha384), 48u);
  EXPECT_EQ(digest_size(HashAlg::Sha512), 64u);
}

TEST(Hasher, IncrementalEqualsOneShot) {
  const std::string text = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  for (const HashAlg alg : {HashAlg::Sha256, HashAlg::Sha384, HashAlg::Sha512}) {
    Hasher hasher(alg);
    hasher.update(as_bytes(std::string_view(text).substr(0, 7)))
        .update(as_bytes(std::string_view(text).substr(7)));
    EXPECT_EQ(hasher.finish(), hash(alg, as_bytes(text)));
  }
  EXPECT_EQ(hex(hash(HashAlg::Sha256, as_bytes(text))),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(Hasher, SurvivesMove) {
  Hasher first(HashAlg::Sha256);
  first.update(as_bytes("a"));
  Hasher second = std::move(first);
  second.update(as_bytes("bc"));
  EXPECT_EQ(hex(second.finish()), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Hmac, Sha256MatchesRfc4231Case2) {
  EXPECT_EQ(hex(hmac(HashAlg::Sha256, as_bytes("Jefe"), as_bytes("what do ya want for nothing?"))),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(Hmac, AcceptsEmptyKey) {
  EXPECT_EQ(hmac(HashAlg::Sha256, {}, as_bytes("x")).size(), 32u);
}

TEST(Hkdf, Sha256MatchesRfc5869Case1) {
  auto okm = hkdf(HashAlg::Sha256, unhex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b"),
                  unhex("000102030405060708090a0b0c"), unhex("f0f1f2f3f4f5f6f7f8f9"), 42);
  ASSERT_TRUE(okm.has_value()) << okm.error().message;
  EXPECT_EQ(hex(*okm),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");
}

TEST(Hkdf, Sha256MatchesRfc5869Case2) {
  Bytes ikm, salt, info;
  for (int i = 0x00; i <= 0x4f; ++i) ikm.push_back(static_cast<std::uint8_t>(i));
  for (int i = 0x60; i <= 0xaf; ++i) salt.push_back(static_cast<std::uint8_t>(i));
  for (int i = 0xb0; i <= 0xff; ++i) info.push_back(static_cast<std::uint8_t>(i));
  auto okm = hkdf(HashAlg::Sha256, ikm, salt, info, 82);
  ASSERT_TRUE(okm.has_value()) << okm.error().message;
  EXPECT_EQ(hex(*okm),
            "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c"
            "59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71"
            "cc30c58179ec3e87c14c01d5c1f3434f1d87");
}

TEST(Hkdf, Sha256MatchesRfc5869Case3WithEmptySaltAndInfo) {
  auto okm = hkdf(HashAlg::Sha256, unhex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b"), {}, {}, 42);
  ASSERT_TRUE(okm.has_value()) << okm.error().message;
  EXPECT_EQ(hex(*okm),
            "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8");
}

TEST(Hkdf, RejectsBadLengthsAndEmptyKey) {
  const Bytes ikm(16, 1);
  EXPECT_EQ(hkdf(HashAlg::Sha256, ikm, {}, {}, 0).error().code, "crypto.input");
  EXPECT_EQ(hkdf(HashAlg::Sha256, ikm, {}, {}, 255 * 32 + 1).error().code, "crypto.input");
  EXPECT_TRUE(hkdf(HashAlg::Sha256, ikm, {}, {}, 255 * 32).has_value());
  EXPECT_EQ(hkdf(HashAlg::Sha256, {}, {}, {}, 32).error().code, "crypto.input");
}

TEST(Scrypt, MatchesRfc7914Vector1WithEmptyPasswordAndSalt) {
  auto key = scrypt({}, {}, 4, 1, 1, 64);
  ASSERT_TRUE(key.has_value()) << key.error().message;
  EXPECT_EQ(hex(*key),
            "77d6576238657b203b19ca42c18a0497f16b4844e3074ae8dfdffa3fede21442"
            "fcd0069ded0948f8326a753a0fc81f17e8d3e0fb2e0d3628cf35e20c38d18906");
}

TEST(Scrypt, MatchesRfc7914Vector2) {
  auto key = scrypt(as_bytes("password"), as_bytes("NaCl"), 10, 8, 16, 64);
  ASSERT_TRUE(key.has_value()) << key.error().message;
  EXPECT_EQ(hex(*key),
            "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162"
            "2eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640");
}

TEST(Scrypt, RefusesOutOfRangeWorkFactors) {
  EXPECT_EQ(scrypt(as_bytes("p"), as_bytes("s"), 0, 8, 1, 32).error().code, "crypto.input");
  EXPECT_EQ(scrypt(as_bytes("p"), as_bytes("s"), 41, 8, 1, 32).error().code, "crypto.input");
  EXPECT_EQ(scrypt(as_bytes("p"), as_bytes("s"), 10, 0, 1, 32).error().code, "crypto.input");
  EXPECT_EQ(scrypt(as_bytes("p"), as_bytes("s"), 10, 8, 0, 32).error().code, "crypto.input");
}

TEST(Scrypt, RefusesToExceedMaxMemoryWithoutAllocating) {
  // 2^40 * 128 * 8 bytes is far beyond any machine; it must fail up front.
  auto key = scrypt(as_bytes("p"), as_bytes("s"), 40, 8, 1, 32);
  ASSERT_FALSE(key.has_value());
  EXPECT_EQ(key.error().code, "crypto.scrypt");
  // 2^10 * 128 * 8 = 1 MiB: allowed at exactly 1 MiB, refused just below.
  EXPECT_TRUE(scrypt(as_bytes("p"), as_bytes("s"), 10, 8, 1, 32, 1 << 20).has_value());
  EXPECT_EQ(scrypt(as_bytes("p"), as_bytes("s"), 10, 8, 1, 32, (1 << 20) - 1).error().code, "crypto.scrypt");
}

TEST(Scrypt, DefaultLimitStopsOneAboveAgesHighestWorkFactor) {
  // age allows work factors up to 22 (4 GiB with r = 8), the default limit.
  EXPECT_EQ(scrypt(as_bytes("p"), as_bytes("s"), 23, 8, 1, 32).error().code, "crypto.scrypt");
}

}  // namespace
}  // namespace ward::crypto
