// X25519 key agreement (RFC 7748) and Ed25519 signatures (RFC 8032).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <utility>

#include <openssl/types.h>

#include "base/bytes.h"
#include "base/error.h"
#include "crypto/secret.h"

namespace ward::crypto {

using X25519PublicKey = std::array<std::uint8_t, 32>;
using Ed25519PublicKey = std::array<std::uint8_t, 32>;
using Ed25519Signature = std::array<std::uint8_t, 64>;

class X25519PrivateKey {
 public:
  static X25519PrivateKey generate();
  // REQUIRES: scalar.size() == 32. Clamping is applied by X25519 itself.
  static Result<X25519PrivateKey> from_bytes(ByteView scalar);

  const SecretBytes& bytes() const { return scalar_; }
  X25519PublicKey public_key() const;
  // The shared secret X25519(scalar, peer). Fails with "crypto.x25519" when the
  // result is all zeros (a low-order peer point), as RFC 7748 section 6.1 allows.
  Result<SecretBytes> agree(const X25519PublicKey& peer) const;

 private:
  explicit X25519PrivateKey(SecretBytes scalar) : scalar_(std::move(scalar)) {}
  SecretBytes scalar_;
};

class Ed25519PrivateKey {
 public:
  static Ed25519PrivateKey generate();
  // REQUIRES: seed.size() == 32.
  static Result<Ed25519PrivateKey> from_seed(ByteView seed);

  const SecretBytes& seed() const { return seed_; }
  Ed25519PublicKey public_key() const;
  // Thread-safe: copies share one loaded OpenSSL key, read-only.
  Ed25519Signature sign(ByteView message) const;

 private:
  explicit Ed25519PrivateKey(SecretBytes seed);
  SecretBytes seed_;
  // Loaded once: loading derives the public key, which costs as much as a
  // signature.
  std::shared_ptr<EVP_PKEY> pkey_;
};

// Strict verification (OpenSSL rejects non-canonical S and small-order keys).
bool ed25519_verify(const Ed25519PublicKey& key, ByteView message, ByteView signature);

}  // namespace ward::crypto
