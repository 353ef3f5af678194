// secp256k1 keys and recoverable ECDSA as Ethereum uses them, over
// libsecp256k1: deterministic nonces (RFC 6979), low-s signatures, and the
// signer's address recovered from (hash, r, s, y parity).
#pragma once

#include <array>
#include <cstdint>

#include "base/bytes.h"
#include "base/error.h"
#include "crypto/secret.h"
#include "evm/address.h"
#include "evm/keccak.h"

namespace ward::evm {

struct Signature {
  std::array<std::uint8_t, 32> r{};
  std::array<std::uint8_t, 32> s{};
  std::uint8_t y_parity = 0;  // 0 or 1: which of the two points with x = r signed

  friend bool operator==(const Signature&, const Signature&) = default;
};

// The uncompressed point (x ‖ y) without SEC 1's 0x04 prefix.
struct PublicKey {
  std::array<std::uint8_t, 64> xy{};

  // keccak256(x ‖ y)[12:].
  Address address() const;

  friend bool operator==(const PublicKey&, const PublicKey&) = default;
};

// A secp256k1 secret key; its bytes live in SecretBytes and are wiped with it.
class PrivateKey {
 public:
  // 32 big-endian bytes in [1, n-1]. Errors: "evm.key".
  static Result<PrivateKey> from_bytes(ByteView secret);
  static PrivateKey generate();

  const crypto::SecretBytes& secret() const { return secret_; }
  const PublicKey& public_key() const { return public_key_; }
  Address address() const { return public_key_.address(); }

  // Signs a 32-byte digest (a transaction's signing hash), low-s. Thread-safe.
  Signature sign(const Hash256& digest) const;

 private:
  PrivateKey(crypto::SecretBytes secret, PublicKey public_key)
      : secret_(std::move(secret)), public_key_(public_key) {}
  crypto::SecretBytes secret_;
  PublicKey public_key_;
};

// The key that made `signature` over `digest`. Refuses r or s out of [1, n-1],
// high s (as Ethereum has since Homestead), y parity other than 0 or 1, and
// signatures no key could have made. Errors: "evm.signature".
Result<PublicKey> recover_public_key(const Hash256& digest, const Signature& signature);
Result<Address> recover_address(const Hash256& digest, const Signature& signature);

}  // namespace ward::evm
