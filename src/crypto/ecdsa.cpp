#include "crypto/ecdsa.h"

#include <array>
#include <cstring>
#include <string>
#include <utility>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>

#include "crypto/openssl_util.h"

namespace ward::crypto {
namespace {

using BnCtxPtr = detail::Handle<BN_CTX, BN_CTX_free>;
using EcGroupPtr = detail::Handle<EC_GROUP, EC_GROUP_free>;
using EcPointPtr = detail::Handle<EC_POINT, EC_POINT_free>;
using EcdsaSigPtr = detail::Handle<ECDSA_SIG, ECDSA_SIG_free>;
using ParamBldPtr = detail::Handle<OSSL_PARAM_BLD, OSSL_PARAM_BLD_free>;
using ParamsPtr = detail::Handle<OSSL_PARAM, OSSL_PARAM_free>;
using SecretBignumPtr = detail::Handle<BIGNUM, BN_clear_free>;

const char* group_name(EcCurve curve) {
  return curve == EcCurve::P256 ? "prime256v1" : "secp384r1";
}
const char* display_name(EcCurve curve) {
  return curve == EcCurve::P256 ? "P-256" : "P-384";
}
int curve_nid(EcCurve curve) {
  return curve == EcCurve::P256 ? NID_X9_62_prime256v1 : NID_secp384r1;
}

std::shared_ptr<EVP_PKEY> share(EVP_PKEY* key) {
  return {key, EVP_PKEY_free};
}

Result<std::shared_ptr<EVP_PKEY>> pkey_from_params(const OSSL_PARAM* params, int selection) {
  const detail::PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  EVP_PKEY* raw = nullptr;
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, selection, const_cast<OSSL_PARAM*>(params)) != 1) {
    return fail("crypto.input", "not a valid EC key: " + detail::openssl_error());
  }
  return share(raw);
}

Result<EcdsaSigPtr> parse_der(ByteView der) {
  const unsigned char* p = der.data();
  EcdsaSigPtr sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size())));
  // Re-encoding must give the same bytes: BER variants of one signature
  // would otherwise verify, making signatures malleable.
  unsigned char* encoded = nullptr;
  const int encoded_size = sig ? i2d_ECDSA_SIG(sig.get(), &encoded) : -1;
  const bool canonical = sig && p == der.data() + der.size() &&
                         encoded_size == static_cast<int>(der.size()) &&
                         std::memcmp(encoded, der.data(), der.size()) == 0;
  OPENSSL_free(encoded);
  if (!canonical) {
    ERR_clear_error();
    return fail("crypto.input", "ECDSA signature is not canonical DER");
  }
  return sig;
}

Result<Bytes> to_der(EcCurve curve, ByteView signature, SigFormat format) {
  if (format == SigFormat::Raw) return ecdsa_raw_to_der(curve, signature);
  if (auto sig = parse_der(signature); !sig) return std::unexpected(sig.error());
  return Bytes(signature.begin(), signature.end());
}

Result<void> verified(int rc) {
  ERR_clear_error();
  if (rc != 1) return fail("crypto.verify", "ECDSA signature does not match the key and message");
  return {};
}

Bytes from_der(EcCurve curve, Bytes der, SigFormat format) {
  if (format == SigFormat::Der) return der;
  auto raw = ecdsa_der_to_raw(curve, der);
  if (!raw) detail::fatal("OpenSSL produced an unparsable ECDSA signature");
  return std::move(*raw);
}

}  // namespace

std::size_t ec_field_size(EcCurve curve) {
  return curve == EcCurve::P256 ? 32 : 48;
}

Result<EcPublicKey> EcPublicKey::from_sec1(EcCurve curve, ByteView point) {
  const std::size_t size = 1 + 2 * ec_field_size(curve);
  if (point.size() != size || point[0] != 0x04) {
    return fail("crypto.input", std::string(display_name(curve)) + " public key must be " +
                                    std::to_string(size) + " bytes starting with 0x04 (uncompressed), got " +
                                    std::to_string(point.size()) + " bytes");
  }
  const std::array<OSSL_PARAM, 3> params = {
      OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, const_cast<char*>(group_name(curve)), 0),
      OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, const_cast<std::uint8_t*>(point.data()),
                                        point.size()),
      OSSL_PARAM_construct_end(),
  };
  auto key = pkey_from_params(params.data(), EVP_PKEY_PUBLIC_KEY);
  if (!key) {
    return fail("crypto.input", std::string("public key is not a point on ") + display_name(curve));
  }
  // Import already checks the point is on the curve; the explicit check keeps
  // that independent of the provider version. The quick check leaves out
  // only n*Q = O, a scalar multiplication that proves nothing more here: both
  // curves have cofactor 1, so every point on them has order n.
  const detail::PkeyCtxPtr check(EVP_PKEY_CTX_new_from_pkey(nullptr, key->get(), nullptr));
  if (!check || EVP_PKEY_public_check_quick(check.get()) != 1) {
    ERR_clear_error();
    return fail("crypto.input", std::string("public key is not a valid point on ") + display_name(curve));
  }
  return EcPublicKey(curve, std::move(*key));
}

Result<EcPublicKey> EcPublicKey::from_raw(EcCurve curve, ByteView xy) {
  if (xy.size() != 2 * ec_field_size(curve)) {
    return fail("crypto.input", std::string(display_name(curve)) + " raw public key must be " +
                                    std::to_string(2 * ec_field_size(curve)) + " bytes (x||y), got " +
                                    std::to_string(xy.size()));
  }
  Bytes point{0x04};
  point.insert(point.end(), xy.begin(), xy.end());
  return from_sec1(curve, point);
}

Result<EcPublicKey> EcPublicKey::from_evp(EVP_PKEY* key) {
  std::array<char, 64> name{};
  std::size_t name_size = 0;
  if (key == nullptr || EVP_PKEY_is_a(key, "EC") != 1 ||
      EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, name.data(), name.size(), &name_size) !=
          1) {
    ERR_clear_error();
    return fail("crypto.input", "key is not an EC key on a named curve");
  }
  int nid = OBJ_sn2nid(name.data());
  if (nid == NID_undef) nid = EC_curve_nist2nid(name.data());
  EcCurve curve{};
  if (nid == NID_X9_62_prime256v1) {
    curve = EcCurve::P256;
  } else if (nid == NID_secp384r1) {
    curve = EcCurve::P384;
  } else {
    return fail("crypto.input",
                std::string("EC curve ") + name.data() + " is not supported (only P-256, P-384)");
  }
  if (EVP_PKEY_up_ref(key) != 1) detail::fatal("cannot reference an EVP_PKEY");
  return EcPublicKey(curve, share(key));
}

Bytes EcPublicKey::to_sec1() const {
  Bytes out(1 + 2 * ec_field_size(curve_));
  std::size_t size = 0;
  if (EVP_PKEY_get_octet_string_param(key_.get(), OSSL_PKEY_PARAM_PUB_KEY, out.data(), out.size(), &size) !=
          1 ||
      size != out.size()) {
    detail::fatal("cannot encode an EC public key");
  }
  return out;
}

Result<Bytes> ecdsa_raw_to_der(EcCurve curve, ByteView raw) {
  const std::size_t half = ec_field_size(curve);
  if (raw.size() != 2 * half) {
    return fail("crypto.input", std::string("raw ") + display_name(curve) + " ECDSA signature must be " +
                                    std::to_string(2 * half) + " bytes (r||s), got " +
                                    std::to_string(raw.size()));
  }
  EcdsaSigPtr sig(ECDSA_SIG_new());
  BIGNUM* r = BN_bin2bn(raw.data(), static_cast<int>(half), nullptr);
  BIGNUM* s = BN_bin2bn(raw.data() + half, static_cast<int>(half), nullptr);
  if (!sig || r == nullptr || s == nullptr || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
    BN_free(r);
    BN_free(s);
    detail::fatal("cannot build an ECDSA signature");
  }
  const int size = i2d_ECDSA_SIG(sig.get(), nullptr);
  if (size <= 0) detail::fatal("cannot encode an ECDSA signature");
  Bytes der(static_cast<std::size_t>(size));
  unsigned char* p = der.data();
  i2d_ECDSA_SIG(sig.get(), &p);
  return der;
}

Result<Bytes> ecdsa_der_to_raw(EcCurve curve, ByteView der) {
  auto sig = parse_der(der);
  if (!sig) return std::unexpected(sig.error());
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(sig->get(), &r, &s);
  const std::size_t half = ec_field_size(curve);
  if (BN_is_negative(r) || BN_is_negative(s) || static_cast<std::size_t>(BN_num_bytes(r)) > half ||
      static_cast<std::size_t>(BN_num_bytes(s)) > half) {
    return fail("crypto.input",
                std::string("ECDSA signature values are too large for ") + display_name(curve));
  }
  Bytes raw(2 * half);
  BN_bn2binpad(r, raw.data(), static_cast<int>(half));
  BN_bn2binpad(s, raw.data() + half, static_cast<int>(half));
  return raw;
}

Result<Bytes> ecdsa_raw_from_little_endian(EcCurve curve, ByteView r_le, ByteView s_le) {
  const std::size_t half = ec_field_size(curve);
  Bytes raw(2 * half);
  for (auto [field, offset] : {std::pair{r_le, std::size_t{0}}, std::pair{s_le, half}}) {
    for (std::size_t i = 0; i < field.size(); ++i) {
      if (i < half) {
        raw[offset + half - 1 - i] = field[i];
      } else if (field[i] != 0) {
        return fail("crypto.input", std::string("little-endian ECDSA value exceeds ") + display_name(curve) +
                                        " (nonzero byte past " + std::to_string(half) + ")");
      }
    }
  }
  return raw;
}

Result<void> ecdsa_verify(const EcPublicKey& key, HashAlg hash, ByteView message, ByteView signature,
                          SigFormat format) {
  auto der = to_der(key.curve(), signature, format);
  if (!der) return std::unexpected(der.error());
  const detail::MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestVerifyInit_ex(ctx.get(), nullptr, detail::md_name(hash), nullptr, nullptr, key.evp(),
                                      nullptr) != 1) {
    return fail("crypto.verify", "cannot start ECDSA verification: " + detail::openssl_error());
  }
  return verified(EVP_DigestVerify(ctx.get(), der->data(), der->size(), message.data(), message.size()));
}

Result<void> ecdsa_verify_digest(const EcPublicKey& key, ByteView digest, ByteView signature,
                                 SigFormat format) {
  auto der = to_der(key.curve(), signature, format);
  if (!der) return std::unexpected(der.error());
  const detail::PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, key.evp(), nullptr));
  if (!ctx || EVP_PKEY_verify_init(ctx.get()) != 1) {
    return fail("crypto.verify", "cannot start ECDSA verification: " + detail::openssl_error());
  }
  return verified(EVP_PKEY_verify(ctx.get(), der->data(), der->size(), digest.data(), digest.size()));
}

EcPrivateKey EcPrivateKey::generate(EcCurve curve) {
  EVP_PKEY* raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", group_name(curve));
  if (raw == nullptr) detail::fatal("EC key generation failed");
  auto key = share(raw);
  auto pub = EcPublicKey::from_evp(raw);
  if (!pub) detail::fatal("generated EC key has no usable public key");
  return EcPrivateKey(std::move(key), std::move(*pub));
}

Result<EcPrivateKey> EcPrivateKey::from_scalar(EcCurve curve, ByteView scalar) {
  const std::size_t size = ec_field_size(curve);
  if (scalar.size() != size) {
    return fail("crypto.input", std::string(display_name(curve)) + " private key must be " +
                                    std::to_string(size) + " bytes, got " + std::to_string(scalar.size()));
  }
  const EcGroupPtr group(EC_GROUP_new_by_curve_name(curve_nid(curve)));
  const BnCtxPtr bn_ctx(BN_CTX_new());
  const SecretBignumPtr d(BN_bin2bn(scalar.data(), static_cast<int>(size), nullptr));
  if (!group || !bn_ctx || !d) detail::fatal("cannot set up EC arithmetic");
  if (BN_is_zero(d.get()) || BN_cmp(d.get(), EC_GROUP_get0_order(group.get())) >= 0) {
    return fail("crypto.input", std::string(display_name(curve)) + " private key is out of range [1, n-1]");
  }
  // OpenSSL 3.0 does not derive the public point on import, so compute it.
  const EcPointPtr point(EC_POINT_new(group.get()));
  std::array<std::uint8_t, 97> encoded{};
  const std::size_t encoded_size = 1 + 2 * size;
  if (!point || EC_POINT_mul(group.get(), point.get(), d.get(), nullptr, nullptr, bn_ctx.get()) != 1 ||
      EC_POINT_point2oct(group.get(), point.get(), POINT_CONVERSION_UNCOMPRESSED, encoded.data(),
                         encoded_size, bn_ctx.get()) != encoded_size) {
    detail::fatal("cannot derive an EC public key");
  }
  const ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (!bld ||
      OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, group_name(curve), 0) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_PRIV_KEY, d.get()) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, encoded.data(), encoded_size) !=
          1) {
    detail::fatal("cannot build EC key parameters");
  }
  const ParamsPtr params(OSSL_PARAM_BLD_to_param(bld.get()));
  if (!params) detail::fatal("cannot build EC key parameters");
  auto key = pkey_from_params(params.get(), EVP_PKEY_KEYPAIR);
  if (!key) return std::unexpected(key.error());
  auto pub = EcPublicKey::from_sec1(curve, ByteView(encoded.data(), encoded_size));
  if (!pub) return std::unexpected(pub.error());
  return EcPrivateKey(std::move(*key), std::move(*pub));
}

SecretBytes EcPrivateKey::scalar() const {
  BIGNUM* raw = nullptr;
  if (EVP_PKEY_get_bn_param(key_.get(), OSSL_PKEY_PARAM_PRIV_KEY, &raw) != 1) {
    detail::fatal("cannot read an EC private key");
  }
  const SecretBignumPtr d(raw);
  SecretBytes out(ec_field_size(curve()));
  if (BN_bn2binpad(d.get(), out.data(), static_cast<int>(out.size())) < 0)
    detail::fatal("EC scalar too large");
  return out;
}

Bytes EcPrivateKey::sign(HashAlg hash, ByteView message, SigFormat format) const {
  const detail::MdCtxPtr ctx(EVP_MD_CTX_new());
  std::size_t size = 0;
  if (!ctx ||
      EVP_DigestSignInit_ex(ctx.get(), nullptr, detail::md_name(hash), nullptr, nullptr, key_.get(),
                            nullptr) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &size, message.data(), message.size()) != 1) {
    detail::fatal("cannot start ECDSA signing");
  }
  Bytes der(size);
  if (EVP_DigestSign(ctx.get(), der.data(), &size, message.data(), message.size()) != 1) {
    detail::fatal("ECDSA signing failed");
  }
  der.resize(size);
  return from_der(curve(), std::move(der), format);
}

Bytes EcPrivateKey::sign_digest(ByteView digest, SigFormat format) const {
  const detail::PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, key_.get(), nullptr));
  std::size_t size = 0;
  if (!ctx || EVP_PKEY_sign_init(ctx.get()) != 1 ||
      EVP_PKEY_sign(ctx.get(), nullptr, &size, digest.data(), digest.size()) != 1) {
    detail::fatal("cannot start ECDSA signing");
  }
  Bytes der(size);
  if (EVP_PKEY_sign(ctx.get(), der.data(), &size, digest.data(), digest.size()) != 1) {
    detail::fatal("ECDSA signing failed");
  }
  der.resize(size);
  return from_der(curve(), std::move(der), format);
}

}  // namespace ward::crypto
