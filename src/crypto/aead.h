// Authenticated encryption: ChaCha20-Poly1305 (RFC 8439) and AES-256-GCM,
// both with 32-byte keys, 12-byte nonces and 16-byte tags.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "base/bytes.h"
#include "base/error.h"
#include "crypto/secret.h"

namespace ward::crypto {

enum class AeadAlg { ChaCha20Poly1305, Aes256Gcm };

inline constexpr std::size_t kAeadKeySize = 32;
inline constexpr std::size_t kAeadNonceSize = 12;
inline constexpr std::size_t kAeadTagSize = 16;

// A keyed AEAD context, built once and reused for many messages (the key
// schedule and cipher fetch are paid once). Not thread-safe: use one per thread.
class Aead {
 public:
  // REQUIRES: key.size() == kAeadKeySize.
  static Result<Aead> create(AeadAlg alg, ByteView key);
  Aead(Aead&&) noexcept;
  Aead& operator=(Aead&&) noexcept;
  ~Aead();

  // Encrypts `in` into `out` (which may alias `in` exactly) and writes the tag.
  // REQUIRES: nonce.size() == kAeadNonceSize, out.size() == in.size().
  Result<void> seal(ByteView nonce, ByteView aad, ByteView in, std::span<std::uint8_t> out,
                    std::span<std::uint8_t, kAeadTagSize> tag);
  // Decrypts and authenticates. On failure `out` is wiped and an
  // "crypto.auth" error returned; the caller must not use any of `out`.
  Result<void> open(ByteView nonce, ByteView aad, ByteView in, ByteView tag, std::span<std::uint8_t> out);

  // Convenience forms: ciphertext || tag. REQUIRES: nonce.size() ==
  // kAeadNonceSize; seal aborts the process if that is violated, since it has
  // no error channel. open fails with "crypto.auth" for input shorter than a tag.
  Bytes seal(ByteView nonce, ByteView aad, ByteView plaintext);
  Result<SecretBytes> open(ByteView nonce, ByteView aad, ByteView ciphertext_and_tag);

 private:
  struct Impl;
  explicit Aead(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ward::crypto
