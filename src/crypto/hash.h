// Hashes, HMAC and key derivation over OpenSSL 3 EVP.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "base/bytes.h"
#include "base/error.h"
#include "crypto/secret.h"

namespace ward::crypto {

enum class HashAlg { Sha256, Sha384, Sha512 };

std::size_t digest_size(HashAlg alg);

using Sha256Digest = std::array<std::uint8_t, 32>;
using Sha384Digest = std::array<std::uint8_t, 48>;
using Sha512Digest = std::array<std::uint8_t, 64>;

// Incremental hashing. Not thread-safe; movable, not copyable.
class Hasher {
 public:
  explicit Hasher(HashAlg alg);
  Hasher(Hasher&&) noexcept;
  Hasher& operator=(Hasher&&) noexcept;
  ~Hasher();

  Hasher& update(ByteView data);
  // Returns the digest; the Hasher must not be updated afterwards.
  Bytes finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

Bytes hash(HashAlg alg, ByteView data);
Sha256Digest sha256(ByteView data);
Sha384Digest sha384(ByteView data);
Sha512Digest sha512(ByteView data);

Bytes hmac(HashAlg alg, ByteView key, ByteView data);

// HKDF (RFC 5869), extract-and-expand.
Result<SecretBytes> hkdf(HashAlg alg, ByteView ikm, ByteView salt, ByteView info, std::size_t length);

// scrypt (RFC 7914). `log2_n` is the work factor (N = 2^log2_n). Memory use is
// 128 * r * N bytes; the call fails cleanly rather than exceed `max_memory`.
Result<SecretBytes> scrypt(ByteView password, ByteView salt, unsigned log2_n, std::uint32_t r,
                           std::uint32_t p, std::size_t length,
                           std::uint64_t max_memory = std::uint64_t{1} << 32);

}  // namespace ward::crypto
