#include "crypto/aead.h"

#include <algorithm>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "base/bytes.h"

namespace ward::crypto {
namespace {

Bytes unhex(std::string_view text) {
  return hex_decode(text).value();
}

struct Vector {
  AeadAlg alg;
  Bytes key, nonce, aad, plaintext, ciphertext, tag;
};

// RFC 8439 section 2.8.2.
Vector rfc8439_section_2_8_2() {
  return {
      AeadAlg::ChaCha20Poly1305,
      unhex("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"),
      unhex("070000004041424344454647"),
      unhex("50515253c0c1c2c3c4c5c6c7"),
      to_bytes("Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, "
               "sunscreen would be it."),
      unhex("d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6"
            "3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36"
            "92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc"
            "3ff4def08e4b7a9de576d26586cec64b6116"),
      unhex("1ae10b594f09e26a7e902ecbd0600691")};
}

// RFC 8439 appendix A.5 (the decryption example).
Vector rfc8439_appendix_a5() {
  return {AeadAlg::ChaCha20Poly1305,
          unhex("1c9240a5eb55d38af333888604f6b5f0473917c1402b80099dca5cbc207075c0"),
          unhex("000000000102030405060708"),
          unhex("f33388860000000000004e91"),
          unhex("496e7465726e65742d4472616674732061726520647261667420646f63756d65"
                "6e74732076616c696420666f722061206d6178696d756d206f6620736978206d"
                "6f6e74687320616e64206d617920626520757064617465642c207265706c6163"
                "65642c206f72206f62736f6c65746564206279206f7468657220646f63756d65"
                "6e747320617420616e792074696d652e20497420697320696e617070726f7072"
                "6961746520746f2075736520496e7465726e65742d4472616674732061732072"
                "65666572656e6365206d6174657269616c206f7220746f206369746520746865"
                "6d206f74686572207468616e206173202fe2809c776f726b20696e2070726f67"
                "726573732e2fe2809d"),
          unhex("64a0861575861af460f062c79be643bd5e805cfd345cf389f108670ac76c8cb2"
                "4c6cfc18755d43eea09ee94e382d26b0bdb7b73c321b0100d4f03b7f355894cf"
                "332f830e710b97ce98c8a84abd0b948114ad176e008d33bd60f982b1ff37c855"
                "9797a06ef4f0ef61c186324e2b3506383606907b6a7c02b0f9f6157b53c867e4"
                "b9166c767b804d46a59b5216cde7a4e99040c5a40433225ee282a1b0a06c523e"
                "af4534d7f83fa1155b0047718cbc546a0d072b04b3564eea1b422273f548271a"
                "0bb2316053fa76991955ebd63159434ecebb4e466dae5a1073a6727627097a10"
                "49e617d91d361094fa68f0ff77987130305beaba2eda04df997b714d6c6f2c29"
                "a6ad5cb4022b02709b"),
          unhex("eead9d67890cbb22392336fea1851f38")};
}

// McGrew & Viega, "The Galois/Counter Mode of Operation", test case 16.
Vector gcm_spec_test_case_16() {
  return {AeadAlg::Aes256Gcm,
          unhex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308"),
          unhex("cafebabefacedbaddecaf888"),
          unhex("feedfacedeadbeeffeedfacedeadbeefabaddad2"),
          unhex("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
                "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39"),
          unhex("522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
                "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662"),
          unhex("76fc6ece0f4e1768cddf8853bb2d551b")};
}

std::vector<Vector> all_vectors() {
  return {rfc8439_section_2_8_2(), rfc8439_appendix_a5(), gcm_spec_test_case_16()};
}

Aead make(const Vector& v) {
  return Aead::create(v.alg, v.key).value();
}

Bytes sealed(const Vector& v) {
  Bytes out = v.ciphertext;
  out.insert(out.end(), v.tag.begin(), v.tag.end());
  return out;
}

bool all_zero(std::span<const std::uint8_t> b) {
  return std::all_of(b.begin(), b.end(), [](std::uint8_t x) { return x == 0; });
}

void expect_seals(const Vector& v) {
  Aead aead = make(v);
  EXPECT_EQ(aead.seal(v.nonce, v.aad, v.plaintext), sealed(v));
  auto opened = aead.open(v.nonce, v.aad, sealed(v));
  ASSERT_TRUE(opened.has_value()) << opened.error().message;
  EXPECT_EQ(Bytes(opened->begin(), opened->end()), v.plaintext);
}

TEST(Aead, ChaChaPolyMatchesRfc8439Section2_8_2) {
  expect_seals(rfc8439_section_2_8_2());
}

TEST(Aead, ChaChaPolyDecryptsRfc8439AppendixA5) {
  expect_seals(rfc8439_appendix_a5());
}

TEST(Aead, AesGcmMatchesGcmSpecTestCase16) {
  expect_seals(gcm_spec_test_case_16());
}

TEST(Aead, ReusedContextGivesSameResultsAcrossMessages) {
  // The per-message path only resets the nonce; state must not leak between
  // messages, whichever order they come in.
  for (const Vector& v : all_vectors()) {
    Aead aead = make(v);
    const Bytes other_nonce(12, 0x42);
    const Bytes first = aead.seal(other_nonce, {}, as_bytes("warm-up message"));
    EXPECT_FALSE(aead.open(other_nonce, v.aad, sealed(v)).has_value());
    EXPECT_EQ(aead.seal(v.nonce, v.aad, v.plaintext), sealed(v));
    EXPECT_TRUE(aead.open(v.nonce, v.aad, sealed(v)).has_value());
    EXPECT_EQ(aead.seal(other_nonce, {}, as_bytes("warm-up message")), first);
  }
}

TEST(Aead, SealsAndOpensInPlace) {
  for (const Vector& v : all_vectors()) {
    Aead aead = make(v);
    Bytes buffer = v.plaintext;
    std::array<std::uint8_t, kAeadTagSize> tag{};
    ASSERT_TRUE(aead.seal(v.nonce, v.aad, buffer, buffer, tag).has_value());
    EXPECT_EQ(buffer, v.ciphertext);
    EXPECT_EQ(Bytes(tag.begin(), tag.end()), v.tag);
    ASSERT_TRUE(aead.open(v.nonce, v.aad, buffer, tag, buffer).has_value());
    EXPECT_EQ(buffer, v.plaintext);
  }
}

TEST(Aead, EmptyPlaintextStillAuthenticatesAad) {
  for (const AeadAlg alg : {AeadAlg::ChaCha20Poly1305, AeadAlg::Aes256Gcm}) {
    Aead aead = Aead::create(alg, Bytes(32, 7)).value();
    const Bytes nonce(12, 1);
    const Bytes out = aead.seal(nonce, as_bytes("header"), {});
    ASSERT_EQ(out.size(), kAeadTagSize);
    EXPECT_TRUE(aead.open(nonce, as_bytes("header"), out).has_value());
    EXPECT_EQ(aead.open(nonce, as_bytes("headeR"), out).error().code, "crypto.auth");
  }
}

// Every single-bit change to tag, ciphertext, AAD or nonce must fail
// authentication and leave nothing of the plaintext behind.
TEST(Aead, EveryTamperFailsAndWipesOutput) {
  for (const Vector& v : all_vectors()) {
    Aead aead = make(v);
    auto expect_rejected = [&](const Bytes& nonce, const Bytes& aad, const Bytes& ct, const Bytes& tag) {
      Bytes out(ct.size(), 0xee);
      auto result = aead.open(nonce, aad, ct, tag, out);
      ASSERT_FALSE(result.has_value());
      EXPECT_EQ(result.error().code, "crypto.auth");
      EXPECT_TRUE(all_zero(out));
    };
    for (std::size_t i = 0; i < v.tag.size(); ++i) {
      Bytes tag = v.tag;
      tag[i] ^= 0x01;
      expect_rejected(v.nonce, v.aad, v.ciphertext, tag);
    }
    for (std::size_t i = 0; i < v.ciphertext.size(); i += 7) {
      Bytes ct = v.ciphertext;
      ct[i] ^= 0x80;
      expect_rejected(v.nonce, v.aad, ct, v.tag);
    }
    for (std::size_t i = 0; i < v.aad.size(); ++i) {
      Bytes aad = v.aad;
      aad[i] ^= 0x01;
      expect_rejected(v.nonce, aad, v.ciphertext, v.tag);
    }
    for (std::size_t i = 0; i < v.nonce.size(); ++i) {
      Bytes nonce = v.nonce;
      nonce[i] ^= 0x01;
      expect_rejected(nonce, v.aad, v.ciphertext, v.tag);
    }
    expect_rejected(v.nonce, {}, v.ciphertext, v.tag);
    Bytes truncated(v.ciphertext.begin(), v.ciphertext.end() - 1);
    expect_rejected(v.nonce, v.aad, truncated, v.tag);
    // The context stays usable after failures.
    EXPECT_TRUE(aead.open(v.nonce, v.aad, sealed(v)).has_value());
  }
}

TEST(Aead, InPlaceTamperWipesTheBuffer) {
  const Vector v = rfc8439_section_2_8_2();
  Aead aead = make(v);
  Bytes buffer = v.ciphertext;
  buffer[0] ^= 1;
  ASSERT_FALSE(aead.open(v.nonce, v.aad, buffer, v.tag, buffer).has_value());
  EXPECT_TRUE(all_zero(buffer));
}

TEST(Aead, RejectsWrongSizesCleanly) {
  EXPECT_EQ(Aead::create(AeadAlg::ChaCha20Poly1305, Bytes(31)).error().code, "crypto.input");
  EXPECT_EQ(Aead::create(AeadAlg::Aes256Gcm, Bytes(33)).error().code, "crypto.input");

  Aead aead = Aead::create(AeadAlg::ChaCha20Poly1305, Bytes(32, 1)).value();
  const Bytes in(10, 2);
  Bytes out(10);
  std::array<std::uint8_t, kAeadTagSize> tag{};
  EXPECT_EQ(aead.seal(Bytes(11), {}, in, out, tag).error().code, "crypto.input");
  EXPECT_EQ(aead.seal(Bytes(12), {}, in, std::span(out).first(9), tag).error().code, "crypto.input");
  EXPECT_EQ(aead.open(Bytes(13), {}, in, tag, out).error().code, "crypto.input");
  EXPECT_EQ(aead.open(Bytes(12), {}, in, Bytes(15), out).error().code, "crypto.input");
  EXPECT_EQ(aead.open(Bytes(12), {}, Bytes(15)).error().code, "crypto.auth");

  Bytes overlapping(20, 3);
  EXPECT_EQ(
      aead.seal(Bytes(12), {}, std::span(overlapping).first(10), std::span(overlapping).subspan(5, 10), tag)
          .error()
          .code,
      "crypto.input");
}

TEST(Aead, SurvivesMove) {
  const Vector v = gcm_spec_test_case_16();
  Aead first = make(v);
  Aead second = std::move(first);
  EXPECT_EQ(second.seal(v.nonce, v.aad, v.plaintext), sealed(v));
}

TEST(Aead, LargeMessageRoundTrips) {
  for (const AeadAlg alg : {AeadAlg::ChaCha20Poly1305, AeadAlg::Aes256Gcm}) {
    Aead aead = Aead::create(alg, Bytes(32, 9)).value();
    Bytes message(64 * 1024 + 3);
    for (std::size_t i = 0; i < message.size(); ++i) message[i] = static_cast<std::uint8_t>(i * 31);
    const Bytes nonce(12, 5);
    auto opened = aead.open(nonce, {}, aead.seal(nonce, {}, message));
    ASSERT_TRUE(opened.has_value());
    EXPECT_TRUE(std::equal(opened->begin(), opened->end(), message.begin(), message.end()));
  }
}

}  // namespace
}  // namespace ward::crypto
