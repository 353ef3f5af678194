#include "evm/signer.h"

#include <algorithm>
#include <cstdlib>
#include <secp256k1.h>
#include <secp256k1_recovery.h>

#include "crypto/random.h"

namespace ward::evm {
namespace {

// n / 2, the largest s Ethereum accepts.
constexpr std::array<std::uint8_t, 32> kHalfOrder = {
    0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0x5d, 0x57, 0x6e, 0x73, 0x57, 0xa4, 0x50, 0x1d, 0xdf, 0xe9, 0x2f, 0x46, 0x68, 0x1b, 0x20, 0xa0};

// One context for the process, randomized once (blinding against side
// channels) before any thread can use it; afterwards it is only read.
const secp256k1_context* context() {
  static const secp256k1_context* ctx = [] {
    secp256k1_context* c = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
    if (c == nullptr) std::abort();
    crypto::SecretBytes seed(32);
    crypto::random_fill(seed);
    if (!secp256k1_context_randomize(c, seed.data())) std::abort();
    return c;
  }();
  return ctx;
}

PublicKey serialize(const secp256k1_pubkey& key) {
  std::array<std::uint8_t, 65> sec1;
  std::size_t size = sec1.size();
  secp256k1_ec_pubkey_serialize(context(), sec1.data(), &size, &key, SECP256K1_EC_UNCOMPRESSED);
  PublicKey out;
  std::copy(sec1.begin() + 1, sec1.end(), out.xy.begin());
  return out;
}

}  // namespace

Address PublicKey::address() const {
  Hash256 h = keccak256(xy);
  Address out;
  std::copy(h.begin() + 12, h.end(), out.bytes.begin());
  return out;
}

Result<PrivateKey> PrivateKey::from_bytes(ByteView secret) {
  if (secret.size() != 32) return fail("evm.key", "a secp256k1 secret key has 32 bytes");
  if (!secp256k1_ec_seckey_verify(context(), secret.data()))
    return fail("evm.key", "the bytes are not a secp256k1 secret key (zero, or not below the group order)");
  secp256k1_pubkey key;
  if (!secp256k1_ec_pubkey_create(context(), &key, secret.data()))
    return fail("evm.key", "the bytes are not a secp256k1 secret key");
  return PrivateKey(crypto::to_secret(secret), serialize(key));
}

PrivateKey PrivateKey::generate() {
  for (;;) {
    crypto::SecretBytes secret(32);
    crypto::random_fill(secret);
    // Fails with probability about 2^-128 per draw.
    if (auto key = from_bytes(crypto::view(secret))) return std::move(*key);
  }
}

Signature PrivateKey::sign(const Hash256& digest) const {
  secp256k1_ecdsa_recoverable_signature sig;
  if (!secp256k1_ecdsa_sign_recoverable(context(), &sig, digest.data(), secret_.data(), nullptr, nullptr))
    std::abort();  // only an invalid key can fail, and from_bytes refused those
  std::array<std::uint8_t, 64> compact;
  int recid = 0;
  secp256k1_ecdsa_recoverable_signature_serialize_compact(context(), compact.data(), &recid, &sig);
  Signature out;
  std::copy(compact.begin(), compact.begin() + 32, out.r.begin());
  std::copy(compact.begin() + 32, compact.end(), out.s.begin());
  out.y_parity = static_cast<std::uint8_t>(recid);
  return out;
}

Result<PublicKey> recover_public_key(const Hash256& digest, const Signature& signature) {
  if (signature.y_parity > 1) return fail("evm.signature", "the y parity is neither 0 nor 1");
  if (signature.s > kHalfOrder)
    return fail("evm.signature", "s is in the upper half of the order (malleable)");
  std::array<std::uint8_t, 64> compact;
  std::copy(signature.r.begin(), signature.r.end(), compact.begin());
  std::copy(signature.s.begin(), signature.s.end(), compact.begin() + 32);
  secp256k1_ecdsa_recoverable_signature sig;
  if (!secp256k1_ecdsa_recoverable_signature_parse_compact(context(), &sig, compact.data(),
                                                           signature.y_parity))
    return fail("evm.signature", "r or s is not below the group order");
  secp256k1_pubkey key;
  if (!secp256k1_ecdsa_recover(context(), &key, &sig, digest.data()))
    return fail("evm.signature", "no key makes this signature (r or s is zero, or r is not on the curve)");
  return serialize(key);
}

Result<Address> recover_address(const Hash256& digest, const Signature& signature) {
  auto key = recover_public_key(digest, signature);
  if (!key) return std::unexpected(key.error());
  return key->address();
}

}  // namespace ward::evm
