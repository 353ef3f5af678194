// ECDSA over NIST P-256 and P-384: verification of vendor attestation
// signatures (Intel DCAP, AMD SEV-SNP, NVIDIA) and P-256/P-384 signing for the
// simulated TEE and the certification center.
//
// Signatures come in two encodings: DER (X.509, NVIDIA) and raw r||s, each
// big-endian and zero-padded to the curve's field size (Intel quotes).
// SEV-SNP stores r and s little-endian; see ecdsa_raw_from_little_endian.
#pragma once

#include <cstddef>
#include <memory>
#include <utility>

#include <openssl/types.h>

#include "base/bytes.h"
#include "base/error.h"
#include "crypto/hash.h"
#include "crypto/secret.h"

namespace ward::crypto {

enum class EcCurve { P256, P384 };
enum class SigFormat { Der, Raw };

// Bytes in one coordinate or scalar: 32 for P-256, 48 for P-384.
std::size_t ec_field_size(EcCurve curve);

// An EC public key on P-256 or P-384, always a valid point on its curve.
// Cheap to copy (shared, immutable); safe to use from several threads.
class EcPublicKey {
 public:
  // Uncompressed SEC1: 0x04 || x || y.
  static Result<EcPublicKey> from_sec1(EcCurve curve, ByteView point);
  // x || y without the 0x04 prefix, as in Intel quotes.
  static Result<EcPublicKey> from_raw(EcCurve curve, ByteView xy);
  // Takes its own reference to `key`. Fails for keys that are not EC on
  // P-256 or P-384.
  static Result<EcPublicKey> from_evp(EVP_PKEY* key);

  EcCurve curve() const { return curve_; }
  Bytes to_sec1() const;
  // Borrowed; valid while this key (or a copy) lives.
  EVP_PKEY* evp() const { return key_.get(); }

 private:
  EcPublicKey(EcCurve curve, std::shared_ptr<EVP_PKEY> key) : curve_(curve), key_(std::move(key)) {}
  EcCurve curve_;
  std::shared_ptr<EVP_PKEY> key_;
};

// Verifies `signature` over `message` hashed with `hash`. Errors: "crypto.input"
// for a signature of the wrong size or encoding, "crypto.verify" when it does
// not match.
Result<void> ecdsa_verify(const EcPublicKey& key, HashAlg hash, ByteView message, ByteView signature,
                          SigFormat format);
// As ecdsa_verify, for a caller that already holds the message digest.
Result<void> ecdsa_verify_digest(const EcPublicKey& key, ByteView digest, ByteView signature,
                                 SigFormat format);

// Conversions between the encodings. Raw is r||s, each ec_field_size(curve) bytes.
Result<Bytes> ecdsa_raw_to_der(EcCurve curve, ByteView raw);
Result<Bytes> ecdsa_der_to_raw(EcCurve curve, ByteView der);
// SEV-SNP reports hold r and s little-endian in 72-byte fields; this takes
// such fields (any length, zero-padded at the end) and returns raw r||s.
Result<Bytes> ecdsa_raw_from_little_endian(EcCurve curve, ByteView r_le, ByteView s_le);

// An EC private key on P-256 or P-384. Copies share the key (immutable).
class EcPrivateKey {
 public:
  static EcPrivateKey generate(EcCurve curve);
  // The big-endian private scalar, ec_field_size(curve) bytes, in [1, n-1].
  static Result<EcPrivateKey> from_scalar(EcCurve curve, ByteView scalar);

  EcCurve curve() const { return public_.curve(); }
  const EcPublicKey& public_key() const { return public_; }
  SecretBytes scalar() const;
  // Signs `message` hashed with `hash` (randomized ECDSA).
  Bytes sign(HashAlg hash, ByteView message, SigFormat format = SigFormat::Raw) const;
  Bytes sign_digest(ByteView digest, SigFormat format = SigFormat::Raw) const;
  // Borrowed; valid while this key (or a copy) lives.
  EVP_PKEY* evp() const { return key_.get(); }

 private:
  EcPrivateKey(std::shared_ptr<EVP_PKEY> key, EcPublicKey pub)
      : key_(std::move(key)), public_(std::move(pub)) {}
  std::shared_ptr<EVP_PKEY> key_;
  EcPublicKey public_;
};

}  // namespace ward::crypto
