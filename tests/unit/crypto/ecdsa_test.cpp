#include "crypto/ecdsa.h"

#include <algorithm>
#include <string>

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include "base/bytes.h"
#include "crypto/hash.h"

namespace ward::crypto {
namespace {

Bytes unhex(std::string_view text) {
  return hex_decode(text).value();
}
Bytes concat(ByteView a, ByteView b) {
  Bytes out(a.begin(), a.end());
  out.insert(out.end(), b.begin(), b.end());
  return out;
}

// RFC 6979 appendix A.2.5 (P-256) and A.2.6 (P-384): keys and the
// deterministic signatures of "sample".
struct Rfc6979 {
  EcCurve curve;
  HashAlg hash;
  Bytes scalar, x, y, r, s;
};

Rfc6979 p256_sample() {
  return {EcCurve::P256,
          HashAlg::Sha256,
          unhex("c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721"),
          unhex("60fed4ba255a9d31c961eb74c6356d68c049b8923b61fa6ce669622e60f29fb6"),
          unhex("7903fe1008b8bc99a41ae9e95628bc64f2f1b20c2d7e9f5177a3c294d4462299"),
          unhex("efd48b2aacb6a8fd1140dd9cd45e81d69d2c877b56aaf991c34d0ea84eaf3716"),
          unhex("f7cb1c942d657c41d436c7a1b6e29f65f3e900dbb9aff4064dc4ab2f843acda8")};
}

Rfc6979 p384_sample() {
  return {
      EcCurve::P384,
      HashAlg::Sha384,
      unhex(
          "6b9d3dad2e1b8c1c05b19875b6659f4de23c3b667bf297ba9aa47740787137d896d5724e4c70a825f872c9ea60d2edf5"),
      unhex(
          "ec3a4e415b4e19a4568618029f427fa5da9a8bc4ae92e02e06aae5286b300c64def8f0ea9055866064a254515480bc13"),
      unhex(
          "8015d9b72d7d57244ea8ef9ac0c621896708a59367f9dfb9f54ca84b3f1c9db1288b231c3ae0d4fe7344fd2533264720"),
      unhex(
          "94edbb92a5ecb8aad4736e56c691916b3f88140666ce9fa73d64c4ea95ad133c81a648152e44acf96e36dd1e80fabe46"),
      unhex("99ef4aeb15f178cea1fe40db2603138f130e740a19624526203b6351d0a3a94fa329c145786e679e7b82c71a38628ac"
            "8")};
}

void expect_rfc6979_verifies(const Rfc6979& v) {
  const EcPublicKey key = EcPublicKey::from_raw(v.curve, concat(v.x, v.y)).value();
  const Bytes raw = concat(v.r, v.s);
  const Bytes message = to_bytes("sample");
  auto ok = ecdsa_verify(key, v.hash, message, raw, SigFormat::Raw);
  EXPECT_TRUE(ok.has_value()) << ok.error().message;
  const Bytes der = ecdsa_raw_to_der(v.curve, raw).value();
  EXPECT_TRUE(ecdsa_verify(key, v.hash, message, der, SigFormat::Der).has_value());
  EXPECT_EQ(ecdsa_der_to_raw(v.curve, der).value(), raw);
  EXPECT_TRUE(ecdsa_verify_digest(key, hash(v.hash, message), raw, SigFormat::Raw).has_value());
  EXPECT_EQ(ecdsa_verify(key, v.hash, to_bytes("test"), raw, SigFormat::Raw).error().code, "crypto.verify");
}

TEST(Ecdsa, VerifiesRfc6979P256Sha256Sample) {
  expect_rfc6979_verifies(p256_sample());
}

TEST(Ecdsa, VerifiesRfc6979P384Sha384Sample) {
  expect_rfc6979_verifies(p384_sample());
}

TEST(Ecdsa, DerEncodingOfP384SampleMatchesKnownBytes) {
  const Rfc6979 v = p384_sample();
  EXPECT_EQ(hex_encode(ecdsa_raw_to_der(v.curve, concat(v.r, v.s)).value()),
            "306602310094edbb92a5ecb8aad4736e56c691916b3f88140666ce9fa73d64c4ea95ad133c81a648152e44acf96e36"
            "dd1e80fabe4602310099ef4aeb15f178cea1fe40db2603138f130e740a19624526203b6351d0a3a94fa329c145786e"
            "679e7b82c71a38628ac8");
}

TEST(EcPrivateKey, FromScalarDerivesRfc6979PublicKeys) {
  for (const Rfc6979& v : {p256_sample(), p384_sample()}) {
    const EcPrivateKey key = EcPrivateKey::from_scalar(v.curve, v.scalar).value();
    EXPECT_EQ(key.public_key().to_sec1(), concat(Bytes{0x04}, concat(v.x, v.y)));
    const SecretBytes scalar = key.scalar();
    EXPECT_EQ(Bytes(scalar.begin(), scalar.end()), v.scalar);
    const Bytes sig = key.sign(v.hash, as_bytes("sample"));
    EXPECT_TRUE(ecdsa_verify(key.public_key(), v.hash, as_bytes("sample"), sig, SigFormat::Raw).has_value());
  }
}

TEST(EcPrivateKey, RejectsScalarsOutOfRange) {
  EXPECT_EQ(EcPrivateKey::from_scalar(EcCurve::P256, Bytes(32, 0)).error().code, "crypto.input");
  EXPECT_EQ(EcPrivateKey::from_scalar(EcCurve::P256, Bytes(32, 0xff)).error().code, "crypto.input");
  // n itself, the P-256 group order.
  EXPECT_EQ(EcPrivateKey::from_scalar(
                EcCurve::P256, unhex("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551"))
                .error()
                .code,
            "crypto.input");
  EXPECT_EQ(EcPrivateKey::from_scalar(EcCurve::P384, Bytes(32, 1)).error().code, "crypto.input");
}

TEST(Ecdsa, FreshKeysSignAndVerifyInBothFormats) {
  for (const EcCurve curve : {EcCurve::P256, EcCurve::P384}) {
    const EcPrivateKey key = EcPrivateKey::generate(curve);
    const Bytes message = to_bytes("quote body");
    for (const HashAlg alg : {HashAlg::Sha256, HashAlg::Sha384}) {
      const Bytes raw = key.sign(alg, message, SigFormat::Raw);
      EXPECT_EQ(raw.size(), 2 * ec_field_size(curve));
      EXPECT_TRUE(ecdsa_verify(key.public_key(), alg, message, raw, SigFormat::Raw).has_value());
      const Bytes der = key.sign(alg, message, SigFormat::Der);
      EXPECT_TRUE(ecdsa_verify(key.public_key(), alg, message, der, SigFormat::Der).has_value());
      // The same signature in the other format, and the other hash, fail.
      EXPECT_FALSE(ecdsa_verify(key.public_key(), alg, message, raw, SigFormat::Der).has_value());
      const HashAlg other = alg == HashAlg::Sha256 ? HashAlg::Sha384 : HashAlg::Sha256;
      EXPECT_EQ(ecdsa_verify(key.public_key(), other, message, raw, SigFormat::Raw).error().code,
                "crypto.verify");
    }
    const Bytes digest = hash(HashAlg::Sha512, message);
    const Bytes sig = key.sign_digest(digest);
    EXPECT_TRUE(ecdsa_verify_digest(key.public_key(), digest, sig, SigFormat::Raw).has_value());
  }
}

TEST(Ecdsa, TamperedSignatureMessageOrKeyFails) {
  for (const EcCurve curve : {EcCurve::P256, EcCurve::P384}) {
    const EcPrivateKey key = EcPrivateKey::generate(curve);
    const Bytes message = to_bytes("report");
    const Bytes sig = key.sign(HashAlg::Sha256, message);
    for (std::size_t i = 0; i < sig.size(); i += 5) {
      Bytes bad = sig;
      bad[i] ^= 0x01;
      EXPECT_EQ(ecdsa_verify(key.public_key(), HashAlg::Sha256, message, bad, SigFormat::Raw).error().code,
                "crypto.verify")
          << "byte " << i;
    }
    EXPECT_EQ(
        ecdsa_verify(key.public_key(), HashAlg::Sha256, to_bytes("reporT"), sig, SigFormat::Raw).error().code,
        "crypto.verify");
    const EcPrivateKey other = EcPrivateKey::generate(curve);
    EXPECT_EQ(ecdsa_verify(other.public_key(), HashAlg::Sha256, message, sig, SigFormat::Raw).error().code,
              "crypto.verify");
    const Bytes zeros(sig.size(), 0);
    EXPECT_EQ(ecdsa_verify(key.public_key(), HashAlg::Sha256, message, zeros, SigFormat::Raw).error().code,
              "crypto.verify");
  }
}

TEST(Ecdsa, RejectsWrongLengthRawSignatures) {
  const EcPrivateKey key = EcPrivateKey::generate(EcCurve::P256);
  const Bytes sig = key.sign(HashAlg::Sha256, as_bytes("m"));
  for (const std::size_t size : {std::size_t{0}, std::size_t{63}, std::size_t{65}, std::size_t{96}}) {
    Bytes resized = sig;
    resized.resize(size);
    auto result = ecdsa_verify(key.public_key(), HashAlg::Sha256, as_bytes("m"), resized, SigFormat::Raw);
    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().code, "crypto.input");
  }
}

TEST(Ecdsa, RejectsNonCanonicalDer) {
  const EcPrivateKey key = EcPrivateKey::generate(EcCurve::P256);
  const Bytes der = key.sign(HashAlg::Sha256, as_bytes("m"), SigFormat::Der);
  Bytes trailing = der;
  trailing.push_back(0);
  EXPECT_EQ(
      ecdsa_verify(key.public_key(), HashAlg::Sha256, as_bytes("m"), trailing, SigFormat::Der).error().code,
      "crypto.input");
  // The same SEQUENCE with its length in long form is valid BER, not DER.
  ASSERT_LT(der[1], 0x80);
  Bytes long_form = {0x30, 0x81, der[1]};
  long_form.insert(long_form.end(), der.begin() + 2, der.end());
  EXPECT_EQ(
      ecdsa_verify(key.public_key(), HashAlg::Sha256, as_bytes("m"), long_form, SigFormat::Der).error().code,
      "crypto.input");
  EXPECT_EQ(ecdsa_der_to_raw(EcCurve::P256, as_bytes("not der")).error().code, "crypto.input");
}

TEST(Ecdsa, DerToRawRejectsValuesTooLargeForTheCurve) {
  const EcPrivateKey key = EcPrivateKey::generate(EcCurve::P384);
  const Bytes der = key.sign(HashAlg::Sha384, as_bytes("m"), SigFormat::Der);
  EXPECT_EQ(ecdsa_der_to_raw(EcCurve::P256, der).error().code, "crypto.input");
}

TEST(EcPublicKey, RejectsMalformedAndOffCurvePoints) {
  const Rfc6979 v = p256_sample();
  const Bytes point = concat(Bytes{0x04}, concat(v.x, v.y));
  ASSERT_TRUE(EcPublicKey::from_sec1(EcCurve::P256, point).has_value());

  Bytes off_curve = point;
  off_curve.back() ^= 0x01;
  EXPECT_EQ(EcPublicKey::from_sec1(EcCurve::P256, off_curve).error().code, "crypto.input");
  Bytes compressed_prefix = point;
  compressed_prefix[0] = 0x02;
  EXPECT_EQ(EcPublicKey::from_sec1(EcCurve::P256, compressed_prefix).error().code, "crypto.input");
  EXPECT_EQ(EcPublicKey::from_sec1(EcCurve::P384, point).error().code, "crypto.input");
  EXPECT_EQ(EcPublicKey::from_raw(EcCurve::P256, point).error().code, "crypto.input");
  EXPECT_EQ(EcPublicKey::from_raw(EcCurve::P256, Bytes(64, 0)).error().code, "crypto.input");
}

TEST(EcPublicKey, FromEvpIdentifiesTheCurveAndRejectsOtherKeys) {
  const EcPrivateKey key = EcPrivateKey::generate(EcCurve::P384);
  const EcPublicKey pub = EcPublicKey::from_evp(key.evp()).value();
  EXPECT_EQ(pub.curve(), EcCurve::P384);
  EXPECT_EQ(pub.to_sec1(), key.public_key().to_sec1());

  const Bytes ed_public(32, 0x11);
  EVP_PKEY* ed = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, ed_public.data(), ed_public.size());
  ASSERT_NE(ed, nullptr);
  EXPECT_EQ(EcPublicKey::from_evp(ed).error().code, "crypto.input");
  EVP_PKEY_free(ed);
  EXPECT_EQ(EcPublicKey::from_evp(nullptr).error().code, "crypto.input");
}

TEST(Ecdsa, LittleEndianFieldsConvertToRaw) {
  // SEV-SNP layout: 72-byte little-endian r and s, zero beyond the 48 bytes of P-384.
  const Rfc6979 v = p384_sample();
  Bytes r_le(72, 0), s_le(72, 0);
  std::reverse_copy(v.r.begin(), v.r.end(), r_le.begin());
  std::reverse_copy(v.s.begin(), v.s.end(), s_le.begin());
  const Bytes raw = ecdsa_raw_from_little_endian(EcCurve::P384, r_le, s_le).value();
  EXPECT_EQ(raw, concat(v.r, v.s));
  const EcPublicKey key = EcPublicKey::from_raw(v.curve, concat(v.x, v.y)).value();
  EXPECT_TRUE(ecdsa_verify(key, HashAlg::Sha384, as_bytes("sample"), raw, SigFormat::Raw).has_value());

  s_le[60] = 1;
  EXPECT_EQ(ecdsa_raw_from_little_endian(EcCurve::P384, r_le, s_le).error().code, "crypto.input");
}

TEST(EcPublicKey, CopiesShareTheKey) {
  const EcPrivateKey key = EcPrivateKey::generate(EcCurve::P256);
  const EcPublicKey copy = key.public_key();
  EXPECT_EQ(copy.evp(), key.public_key().evp());
  const EcPrivateKey key_copy = key;
  EXPECT_EQ(key_copy.evp(), key.evp());
}

}  // namespace
}  // namespace ward::crypto
