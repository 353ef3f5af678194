#include "crypto/keys.h"

#include <algorithm>
#include <array>
#include <string>
#include <utility>

#include <openssl/evp.h>

#include "crypto/openssl_util.h"
#include "crypto/random.h"

namespace ward::crypto {
namespace {

constexpr std::size_t kKeySize = 32;

detail::PkeyPtr raw_private(int type, const SecretBytes& key) {
  detail::PkeyPtr pkey(EVP_PKEY_new_raw_private_key(type, nullptr, key.data(), key.size()));
  if (!pkey) detail::fatal("cannot load a 32-byte Curve25519 private key");
  return pkey;
}

std::array<std::uint8_t, 32> raw_public(EVP_PKEY* pkey) {
  std::array<std::uint8_t, 32> out{};
  std::size_t size = out.size();
  if (EVP_PKEY_get_raw_public_key(pkey, out.data(), &size) != 1 || size != out.size()) {
    detail::fatal("cannot derive a Curve25519 public key");
  }
  return out;
}

SecretBytes random_secret(std::size_t size) {
  SecretBytes out(size);
  random_fill(out);
  return out;
}

}  // namespace

X25519PrivateKey X25519PrivateKey::generate() {
  return X25519PrivateKey(random_secret(kKeySize));
}

Result<X25519PrivateKey> X25519PrivateKey::from_bytes(ByteView scalar) {
  if (scalar.size() != kKeySize) {
    return fail("crypto.input", "X25519 private key must be 32 bytes, got " + std::to_string(scalar.size()));
  }
  return X25519PrivateKey(to_secret(scalar));
}

X25519PublicKey X25519PrivateKey::public_key() const {
  return raw_public(raw_private(EVP_PKEY_X25519, scalar_).get());
}

Result<SecretBytes> X25519PrivateKey::agree(const X25519PublicKey& peer) const {
  const detail::PkeyPtr self = raw_private(EVP_PKEY_X25519, scalar_);
  const detail::PkeyPtr other(
      EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr, peer.data(), peer.size()));
  const detail::PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, self.get(), nullptr));
  if (!other || !ctx) detail::fatal("cannot set up X25519");
  SecretBytes shared(kKeySize);
  std::size_t size = shared.size();
  // OpenSSL itself refuses an all-zero result; the explicit check below keeps
  // that guarantee independent of the provider.
  if (EVP_PKEY_derive_init(ctx.get()) != 1 || EVP_PKEY_derive_set_peer(ctx.get(), other.get()) != 1 ||
      EVP_PKEY_derive(ctx.get(), shared.data(), &size) != 1 || size != kKeySize ||
      std::all_of(shared.begin(), shared.end(), [](std::uint8_t b) { return b == 0; })) {
    ERR_clear_error();
    return fail("crypto.x25519", "X25519 with this peer key gives no shared secret (a low-order public key)");
  }
  return shared;
}

Ed25519PrivateKey::Ed25519PrivateKey(SecretBytes seed)
    : seed_(std::move(seed)), pkey_(raw_private(EVP_PKEY_ED25519, seed_)) {}

Ed25519PrivateKey Ed25519PrivateKey::generate() {
  return Ed25519PrivateKey(random_secret(kKeySize));
}

Result<Ed25519PrivateKey> Ed25519PrivateKey::from_seed(ByteView seed) {
  if (seed.size() != kKeySize) {
    return fail("crypto.input", "Ed25519 seed must be 32 bytes, got " + std::to_string(seed.size()));
  }
  return Ed25519PrivateKey(to_secret(seed));
}

Ed25519PublicKey Ed25519PrivateKey::public_key() const {
  return raw_public(pkey_.get());
}

Ed25519Signature Ed25519PrivateKey::sign(ByteView message) const {
  EVP_PKEY* const pkey = pkey_.get();
  const detail::MdCtxPtr ctx(EVP_MD_CTX_new());
  Ed25519Signature sig{};
  std::size_t size = sig.size();
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, pkey) != 1 ||
      EVP_DigestSign(ctx.get(), sig.data(), &size, message.data(), message.size()) != 1 ||
      size != sig.size()) {
    detail::fatal("Ed25519 signing failed");
  }
  return sig;
}

bool ed25519_verify(const Ed25519PublicKey& key, ByteView message, ByteView signature) {
  if (signature.size() != 64) return false;
  const detail::PkeyPtr pkey(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, key.data(), key.size()));
  const detail::MdCtxPtr ctx(EVP_MD_CTX_new());
  const bool ok =
      pkey && ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, pkey.get()) == 1 &&
      EVP_DigestVerify(ctx.get(), signature.data(), signature.size(), message.data(), message.size()) == 1;
  ERR_clear_error();
  return ok;
}

}  // namespace ward::crypto
