// A party's keys: one age X25519 identity, and the Ed25519 signing key derived
// from the same secret, so a single age identity file holds a whole party.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>

#include "age/recipients.h"
#include "base/error.h"
#include "crypto/keys.h"
#include "evm/signer.h"

namespace ward::keys {

// HKDF info for the signing-key seed. Changing it changes every party's
// signing key, so a new derivation needs a new version suffix.
inline constexpr std::string_view kSigningKeyInfo = "ward/party-signing-key/v1";
// HKDF info for the EVM (secp256k1) key seed; versioned like kSigningKeyInfo.
inline constexpr std::string_view kEvmKeyInfo = "ward/party-evm-key/v1";

// Identity files larger than this are refused (a real one is under 300 bytes).
inline constexpr std::size_t kMaxIdentityFileSize = std::size_t{64} << 10;

class PartyKey {
 public:
  static PartyKey generate();
  static Result<PartyKey> from_identity(age::X25519Identity identity);
  // Parses identity file text holding exactly one AGE-SECRET-KEY-1 line
  // (comments and blank lines ignored). Errors: "keys.identity".
  static Result<PartyKey> parse(std::string_view identity_file_text);
  static Result<PartyKey> load(const std::filesystem::path& path);

  const age::X25519Identity& identity() const { return identity_; }
  age::X25519Recipient recipient() const { return identity_.recipient(); }
  const crypto::Ed25519PrivateKey& signing_key() const { return signing_key_; }
  crypto::Ed25519PublicKey signing_public_key() const { return signing_key_.public_key(); }
  // The party's account on an EVM chain (derive_evm_key). Derived on each
  // call: a party that never touches a chain pays nothing for it.
  Result<evm::PrivateKey> evm_key() const;

  // The identity file as age-keygen writes it ("# created: <RFC 3339 UTC>",
  // "# public key: age1..."), plus "# ward signing key: <hex>", then the secret.
  std::string identity_file_text(std::chrono::system_clock::time_point created) const;

 private:
  PartyKey(age::X25519Identity identity, crypto::Ed25519PrivateKey signing_key)
      : identity_(std::move(identity)), signing_key_(std::move(signing_key)) {}
  age::X25519Identity identity_;
  crypto::Ed25519PrivateKey signing_key_;
};

// seed = HKDF-SHA256(ikm = scalar, salt = empty, info = kSigningKeyInfo, 32 bytes).
Result<crypto::Ed25519PrivateKey> derive_signing_key(const crypto::SecretBytes& x25519_scalar);

// seed = HKDF-SHA256(ikm = scalar, salt = empty, info = kEvmKeyInfo, 32 bytes),
// used as the secp256k1 secret key. A seed that is not a valid key (zero or
// not below the group order, probability about 2^-128) is an error, not a
// retry, so the derivation stays one fixed function. Errors: "keys.evm".
Result<evm::PrivateKey> derive_evm_key(const crypto::SecretBytes& x25519_scalar);

}  // namespace ward::keys
