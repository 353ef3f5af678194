#include "crypto/keys.h"

#include <algorithm>
#include <string>

#include <gtest/gtest.h>

#include "base/bytes.h"
#include "crypto/hash.h"

namespace ward::crypto {
namespace {

Bytes unhex(std::string_view text) {
  return hex_decode(text).value();
}

std::array<std::uint8_t, 32> key32(std::string_view text) {
  const Bytes b = unhex(text);
  std::array<std::uint8_t, 32> out{};
  std::copy(b.begin(), b.end(), out.begin());
  return out;
}

std::string hex(const SecretBytes& b) {
  return hex_encode(view(b));
}

// X25519(k, u) through the public API: the scalar is a private key and u the peer.
std::string x25519(std::string_view k, std::string_view u) {
  auto shared = X25519PrivateKey::from_bytes(unhex(k)).value().agree(key32(u));
  return shared ? hex(*shared) : shared.error().code;
}

TEST(X25519, MatchesRfc7748Section5_2Vectors) {
  EXPECT_EQ(x25519("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
                   "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c"),
            "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552");
  // The u-coordinate has its top bit set, which X25519 must ignore.
  EXPECT_EQ(x25519("4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
                   "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493"),
            "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957");
}

TEST(X25519, MatchesRfc7748Section5_2IteratedVector) {
  std::string k = "0900000000000000000000000000000000000000000000000000000000000000";
  std::string u = k;
  for (int i = 1; i <= 1000; ++i) {
    std::string next = x25519(k, u);
    u = k;
    k = next;
    if (i == 1) {
      EXPECT_EQ(k, "422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079");
    }
  }
  EXPECT_EQ(k, "684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51");
}

TEST(X25519, MatchesRfc7748Section6_1DiffieHellman) {
  const auto alice =
      X25519PrivateKey::from_bytes(unhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"))
          .value();
  const auto bob =
      X25519PrivateKey::from_bytes(unhex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"))
          .value();
  EXPECT_EQ(alice.public_key(), key32("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"));
  EXPECT_EQ(bob.public_key(), key32("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"));
  const std::string shared = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";
  EXPECT_EQ(hex(alice.agree(bob.public_key()).value()), shared);
  EXPECT_EQ(hex(bob.agree(alice.public_key()).value()), shared);
}

TEST(X25519, GeneratedKeysAgree) {
  const auto a = X25519PrivateKey::generate();
  const auto b = X25519PrivateKey::generate();
  EXPECT_NE(a.bytes(), b.bytes());
  EXPECT_EQ(a.agree(b.public_key()).value(), b.agree(a.public_key()).value());
}

TEST(X25519, LowOrderPeerPointsFail) {
  const auto key = X25519PrivateKey::generate();
  // u = 0 and u = 1 are points of small order; so is this one of order 8.
  for (const char* point : {"0000000000000000000000000000000000000000000000000000000000000000",
                            "0100000000000000000000000000000000000000000000000000000000000000",
                            "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"}) {
    auto shared = key.agree(key32(point));
    ASSERT_FALSE(shared.has_value()) << point;
    EXPECT_EQ(shared.error().code, "crypto.x25519");
  }
}

TEST(X25519, RejectsWrongKeySize) {
  EXPECT_EQ(X25519PrivateKey::from_bytes(Bytes(31)).error().code, "crypto.input");
  EXPECT_EQ(X25519PrivateKey::from_bytes(Bytes(33)).error().code, "crypto.input");
}

struct Ed25519Vector {
  const char* seed;
  const char* public_key;
  Bytes message;
  const char* signature;
};

void expect_rfc8032(const Ed25519Vector& v) {
  const auto key = Ed25519PrivateKey::from_seed(unhex(v.seed)).value();
  EXPECT_EQ(key.public_key(), key32(v.public_key));
  const Ed25519Signature sig = key.sign(v.message);
  EXPECT_EQ(hex_encode(sig), v.signature);
  EXPECT_TRUE(ed25519_verify(key32(v.public_key), v.message, sig));
}

TEST(Ed25519, MatchesRfc8032Test1) {
  expect_rfc8032({"9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
                  "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
                  {},
                  "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
                  "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"});
}

TEST(Ed25519, MatchesRfc8032Test2) {
  expect_rfc8032({"4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
                  "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", unhex("72"),
                  "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
                  "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"});
}

TEST(Ed25519, MatchesRfc8032Test3) {
  expect_rfc8032({"c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
                  "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", unhex("af82"),
                  "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac"
                  "18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"});
}

TEST(Ed25519, MatchesRfc8032TestShaAbc) {
  const Sha512Digest abc = sha512(as_bytes("abc"));
  expect_rfc8032({"833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
                  "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
                  Bytes(abc.begin(), abc.end()),
                  "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b589"
                  "09351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704"});
}

TEST(Ed25519, WrongSignatureMessageOrKeyFails) {
  const auto key = Ed25519PrivateKey::generate();
  const Bytes message = to_bytes("order 42: pay 10 to carol");
  const Ed25519Signature sig = key.sign(message);
  ASSERT_TRUE(ed25519_verify(key.public_key(), message, sig));

  for (std::size_t i = 0; i < sig.size(); ++i) {
    Ed25519Signature bad = sig;
    bad[i] ^= 0x01;
    EXPECT_FALSE(ed25519_verify(key.public_key(), message, bad)) << "byte " << i;
  }
  Bytes other = message;
  other.back() ^= 0x01;
  EXPECT_FALSE(ed25519_verify(key.public_key(), other, sig));
  EXPECT_FALSE(ed25519_verify(Ed25519PrivateKey::generate().public_key(), message, sig));
  Ed25519PublicKey flipped = key.public_key();
  flipped[0] ^= 0x01;
  EXPECT_FALSE(ed25519_verify(flipped, message, sig));
  EXPECT_FALSE(ed25519_verify(key.public_key(), message, ByteView(sig).first(63)));
  Bytes longer(sig.begin(), sig.end());
  longer.push_back(0);
  EXPECT_FALSE(ed25519_verify(key.public_key(), message, longer));
}

TEST(Ed25519, RejectsNonCanonicalS) {
  // S + L (the group order) verifies under a lax implementation.
  const auto key = Ed25519PrivateKey::generate();
  const Bytes message = to_bytes("m");
  Ed25519Signature sig = key.sign(message);
  const Bytes order = unhex("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010");
  unsigned carry = 0;
  for (std::size_t i = 0; i < 32; ++i) {
    const unsigned sum = sig[32 + i] + order[i] + carry;
    sig[32 + i] = static_cast<std::uint8_t>(sum);
    carry = sum >> 8;
  }
  EXPECT_FALSE(ed25519_verify(key.public_key(), message, sig));
}

TEST(Ed25519, RejectsWrongSeedSize) {
  EXPECT_EQ(Ed25519PrivateKey::from_seed(Bytes(64)).error().code, "crypto.input");
}

}  // namespace
}  // namespace ward::crypto
