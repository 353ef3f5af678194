#include "keys/party_key.h"

#include "base/bytes.h"
#include "base/file.h"
#include "base/time.h"
#include "crypto/hash.h"

namespace ward::keys {

Result<crypto::Ed25519PrivateKey> derive_signing_key(const crypto::SecretBytes& x25519_scalar) {
  auto seed =
      crypto::hkdf(crypto::HashAlg::Sha256, crypto::view(x25519_scalar), {}, as_bytes(kSigningKeyInfo), 32);
  if (!seed) return fail(seed.error(), "deriving the signing key");
  return crypto::Ed25519PrivateKey::from_seed(crypto::view(*seed));
}

Result<evm::PrivateKey> derive_evm_key(const crypto::SecretBytes& x25519_scalar) {
  auto seed =
      crypto::hkdf(crypto::HashAlg::Sha256, crypto::view(x25519_scalar), {}, as_bytes(kEvmKeyInfo), 32);
  if (!seed) return fail(seed.error(), "deriving the EVM key");
  auto key = evm::PrivateKey::from_bytes(crypto::view(*seed));
  if (!key) return fail("keys.evm", "this party's key derives no EVM key (" + key.error().message + ")");
  return key;
}

PartyKey PartyKey::generate() {
  return from_identity(age::X25519Identity::generate()).value();
}

Result<evm::PrivateKey> PartyKey::evm_key() const {
  return derive_evm_key(identity_.secret());
}

Result<PartyKey> PartyKey::from_identity(age::X25519Identity identity) {
  auto signing_key = derive_signing_key(identity.secret());
  if (!signing_key) return std::unexpected(signing_key.error());
  return PartyKey(std::move(identity), std::move(*signing_key));
}

Result<PartyKey> PartyKey::parse(std::string_view identity_file_text) {
  auto identities = age::parse_identity_file(identity_file_text);
  if (!identities) return fail("keys.identity", "not a party key: " + identities.error().message);
  if (identities->size() != 1)
    return fail("keys.identity", "not a party key: it holds " + std::to_string(identities->size()) +
                                     " secret keys, a party key has exactly one");
  return from_identity(std::move(identities->front()));
}

Result<PartyKey> PartyKey::load(const std::filesystem::path& path) {
  auto text = read_file(path, kMaxIdentityFileSize);
  if (!text) return std::unexpected(text.error());
  crypto::SecretBytes secret_text = crypto::to_secret(*text);
  crypto::cleanse(text->data(), text->size());
  auto key = parse(as_chars(crypto::view(secret_text)));
  if (!key) return fail(key.error(), path.string());
  return key;
}

std::string PartyKey::identity_file_text(std::chrono::system_clock::time_point created) const {
  std::string text;
  text += "# created: " + format_rfc3339(created) + "\n";
  text += "# public key: " + recipient().to_string() + "\n";
  text += "# ward signing key: " + hex_encode(signing_public_key()) + "\n";
  text += identity_.to_string() + "\n";
  return text;
}

}  // namespace ward::keys
