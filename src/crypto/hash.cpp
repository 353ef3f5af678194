#include "crypto/hash.h"

#include <array>
#include <limits>
#include <string>
#include <utility>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include "crypto/openssl_util.h"

namespace ward::crypto {
namespace detail {

const char* md_name(HashAlg alg) {
  switch (alg) {
    case HashAlg::Sha256:
      return "SHA256";
    case HashAlg::Sha384:
      return "SHA384";
    case HashAlg::Sha512:
      return "SHA512";
  }
  fatal("unknown HashAlg");
}

const EVP_MD* md(HashAlg alg) {
  static const std::array<EVP_MD*, 3> fetched = [] {
    std::array<EVP_MD*, 3> mds{};
    for (int i = 0; i < 3; ++i) {
      mds[i] = EVP_MD_fetch(nullptr, md_name(static_cast<HashAlg>(i)), nullptr);
      if (mds[i] == nullptr) fatal("OpenSSL has no SHA-2 implementation");
    }
    return mds;
  }();
  return fetched[static_cast<std::size_t>(alg)];
}

}  // namespace detail

namespace {

using KdfCtxPtr = detail::Handle<EVP_KDF_CTX, EVP_KDF_CTX_free>;

EVP_KDF* fetch_kdf(const char* name) {
  EVP_KDF* kdf = EVP_KDF_fetch(nullptr, name, nullptr);
  if (kdf == nullptr) detail::fatal("OpenSSL lacks a required KDF");
  return kdf;
}

// OpenSSL wants non-const pointers in OSSL_PARAM even for inputs it only reads.
OSSL_PARAM octets(const char* key, ByteView data) {
  return OSSL_PARAM_construct_octet_string(key, const_cast<std::uint8_t*>(data.data()), data.size());
}

}  // namespace

std::size_t digest_size(HashAlg alg) {
  switch (alg) {
    case HashAlg::Sha256:
      return 32;
    case HashAlg::Sha384:
      return 48;
    case HashAlg::Sha512:
      return 64;
  }
  detail::fatal("unknown HashAlg");
}

struct Hasher::Impl {
  detail::MdCtxPtr ctx;
  HashAlg alg;
};

Hasher::Hasher(HashAlg alg) : impl_(std::make_unique<Impl>(Impl{detail::MdCtxPtr(EVP_MD_CTX_new()), alg})) {
  if (!impl_->ctx || EVP_DigestInit_ex2(impl_->ctx.get(), detail::md(alg), nullptr) != 1) {
    detail::fatal("cannot start a digest");
  }
}
Hasher::Hasher(Hasher&&) noexcept = default;
Hasher& Hasher::operator=(Hasher&&) noexcept = default;
Hasher::~Hasher() = default;

Hasher& Hasher::update(ByteView data) {
  if (EVP_DigestUpdate(impl_->ctx.get(), data.data(), data.size()) != 1)
    detail::fatal("digest update failed");
  return *this;
}

Bytes Hasher::finish() {
  Bytes out(digest_size(impl_->alg));
  unsigned int size = 0;
  if (EVP_DigestFinal_ex(impl_->ctx.get(), out.data(), &size) != 1) detail::fatal("digest final failed");
  return out;
}

Bytes hash(HashAlg alg, ByteView data) {
  Bytes out(digest_size(alg));
  if (EVP_Digest(data.data(), data.size(), out.data(), nullptr, detail::md(alg), nullptr) != 1) {
    detail::fatal("digest failed");
  }
  return out;
}

namespace {
template <class Digest>
Digest fixed_hash(HashAlg alg, ByteView data) {
  Digest out{};
  if (EVP_Digest(data.data(), data.size(), out.data(), nullptr, detail::md(alg), nullptr) != 1) {
    detail::fatal("digest failed");
  }
  return out;
}
}  // namespace

Sha256Digest sha256(ByteView data) {
  return fixed_hash<Sha256Digest>(HashAlg::Sha256, data);
}
Sha384Digest sha384(ByteView data) {
  return fixed_hash<Sha384Digest>(HashAlg::Sha384, data);
}
Sha512Digest sha512(ByteView data) {
  return fixed_hash<Sha512Digest>(HashAlg::Sha512, data);
}

Bytes hmac(HashAlg alg, ByteView key, ByteView data) {
  // EVP_Q_mac treats a null key as "no key"; an empty HMAC key is legal.
  static constexpr std::uint8_t kNoKey = 0;
  Bytes out(digest_size(alg));
  std::size_t size = 0;
  if (EVP_Q_mac(nullptr, "HMAC", nullptr, detail::md_name(alg), nullptr, key.empty() ? &kNoKey : key.data(),
                key.size(), data.data(), data.size(), out.data(), out.size(), &size) == nullptr) {
    detail::fatal("HMAC failed");
  }
  return out;
}

Result<SecretBytes> hkdf(HashAlg alg, ByteView ikm, ByteView salt, ByteView info, std::size_t length) {
  if (length == 0 || length > 255 * digest_size(alg)) {
    return fail("crypto.input", "HKDF output length must be 1 to " + std::to_string(255 * digest_size(alg)) +
                                    " bytes, got " + std::to_string(length));
  }
  if (ikm.empty()) return fail("crypto.input", "HKDF input key material is empty");
  static EVP_KDF* const kdf = fetch_kdf("HKDF");
  const KdfCtxPtr ctx(EVP_KDF_CTX_new(kdf));
  if (!ctx) detail::fatal("cannot allocate a KDF context");

  // An absent salt is HashLen zero bytes (RFC 5869 section 2.2), which HMAC
  // treats exactly like an empty one, so empty salt and info are simply left out.
  std::array<OSSL_PARAM, 5> params{};
  std::size_t n = 0;
  params[n++] =
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, const_cast<char*>(detail::md_name(alg)), 0);
  params[n++] = octets(OSSL_KDF_PARAM_KEY, ikm);
  if (!salt.empty()) params[n++] = octets(OSSL_KDF_PARAM_SALT, salt);
  if (!info.empty()) params[n++] = octets(OSSL_KDF_PARAM_INFO, info);
  params[n] = OSSL_PARAM_construct_end();

  SecretBytes out(length);
  if (EVP_KDF_derive(ctx.get(), out.data(), out.size(), params.data()) != 1) {
    return fail("crypto.kdf", "HKDF failed: " + detail::openssl_error());
  }
  return out;
}

Result<SecretBytes> scrypt(ByteView password, ByteView salt, unsigned log2_n, std::uint32_t r,
                           std::uint32_t p, std::size_t length, std::uint64_t max_memory) {
  if (log2_n == 0 || log2_n > 40) {
    return fail("crypto.input", "scrypt work factor must be 1 to 40, got " + std::to_string(log2_n));
  }
  if (r == 0 || p == 0) return fail("crypto.input", "scrypt r and p must be at least 1");
  if (length == 0) return fail("crypto.input", "scrypt output length must be at least 1 byte");

  // RFC 7914 bounds r*p below 2^30; with it and log2_n <= 40 every product
  // below fits in 64 bits once the shift is checked.
  if (std::uint64_t{r} * p >= (std::uint64_t{1} << 30)) {
    return fail("crypto.input", "scrypt r*p must be below 2^30");
  }
  const std::uint64_t block = std::uint64_t{128} * r;
  constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();
  if (block > (kMax >> log2_n) || (block << log2_n) > max_memory) {
    return fail("crypto.scrypt", "scrypt work factor " + std::to_string(log2_n) +
                                     " with r=" + std::to_string(r) + " needs more than the allowed " +
                                     std::to_string(max_memory) + " bytes of memory");
  }
  std::uint64_t n = std::uint64_t{1} << log2_n;
  // OpenSSL's own limit counts V as 128*r*(N+2) bytes plus 128*r*p for B, a
  // little over the nominal 128*r*N that `max_memory` bounds.
  const std::uint64_t extra = 2 * block + block * p;
  if ((block << log2_n) > kMax - extra) {
    return fail("crypto.scrypt", "scrypt parameters need more memory than this machine can address");
  }
  std::uint64_t maxmem = (block << log2_n) + extra;

  static EVP_KDF* const kdf = fetch_kdf("SCRYPT");
  const KdfCtxPtr ctx(EVP_KDF_CTX_new(kdf));
  if (!ctx) detail::fatal("cannot allocate a KDF context");
  const std::array<OSSL_PARAM, 7> params = {
      octets(OSSL_KDF_PARAM_PASSWORD, password),
      octets(OSSL_KDF_PARAM_SALT, salt),
      OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n),
      OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r),
      OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &p),
      OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_MAXMEM, &maxmem),
      OSSL_PARAM_construct_end(),
  };
  SecretBytes out(length);
  if (EVP_KDF_derive(ctx.get(), out.data(), out.size(), params.data()) != 1) {
    return fail("crypto.scrypt", "scrypt failed: " + detail::openssl_error());
  }
  return out;
}

}  // namespace ward::crypto
