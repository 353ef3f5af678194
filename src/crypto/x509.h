// X.509 certificates and CRLs: parsing, inspection, signature and chain
// verification, and small builders for the certificates and CRLs Ward issues
// itself (the certification center, the simulated TEE's PCK chain).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <openssl/types.h>

#include "base/bytes.h"
#include "base/error.h"
#include "crypto/ecdsa.h"
#include "crypto/keys.h"

namespace ward::crypto {

using std::chrono::sys_seconds;

// An immutable certificate. Copies share it; safe to read from several threads.
class Certificate {
 public:
  // Exactly one certificate, with no trailing bytes. Errors: "crypto.x509".
  static Result<Certificate> from_der(ByteView der);
  // Exactly one CERTIFICATE block; use parse_pem_chain for several.
  static Result<Certificate> from_pem(std::string_view pem);

  Bytes to_der() const;
  std::string to_pem() const;

  // Distinguished names on one line in RFC 2253 form, which lists the RDNs
  // in reverse of their encoded order ("CN=cvm-1,O=Ward" for a name encoded
  // O then CN), with UTF-8 left unescaped.
  std::string subject() const;
  std::string issuer() const;
  // Big-endian, lowercase hex, as printed by most tools without colons.
  std::string serial_hex() const;
  // Clamped to kEarliestTime..kLatestTime (base/time.h): a notAfter of
  // 9999-12-31 (RFC 5280's "no well-defined expiration") reads as kLatestTime.
  sys_seconds not_before() const;
  sys_seconds not_after() const;
  // basicConstraints cA is TRUE.
  bool is_ca() const;

  // Borrowed; valid while this certificate (or a copy) lives.
  EVP_PKEY* public_key() const;
  Result<EcPublicKey> ec_public_key() const;
  Result<Ed25519PublicKey> ed25519_public_key() const;

  // The contents of the extension's extnValue OCTET STRING (itself DER), by
  // dotted OID such as "1.2.840.113741.1.13.1"; nullopt when absent or when
  // `oid` is not a dotted OID.
  std::optional<Bytes> extension(std::string_view oid) const;
  // The first URI among the full names of the CRL distribution points
  // extension; nullopt when there is none.
  std::optional<std::string> crl_distribution_point() const;

  // Checks only that `issuer`'s key signed this certificate (any algorithm
  // OpenSSL knows, RSA-PSS included); names, validity and extensions are
  // verify_chain's business. Errors: "crypto.verify".
  Result<void> verify_signature(const Certificate& issuer) const;

  X509* native() const { return cert_.get(); }
  friend bool operator==(const Certificate& a, const Certificate& b);

 private:
  friend class CertificateBuilder;
  explicit Certificate(std::shared_ptr<X509> cert) : cert_(std::move(cert)) {}
  std::shared_ptr<X509> cert_;
};

// Every CERTIFICATE block in `pem`, in order; text between blocks is ignored.
// Fails when there is none or one is malformed.
Result<std::vector<Certificate>> parse_pem_chain(std::string_view pem);
// The same blocks as DER, not decoded: decoding is most of a chain's cost
// (OpenSSL 3.0 builds a key decoder for each certificate), so a caller that
// holds some of them already decodes only the others. Errors as parse_pem_chain.
Result<std::vector<Bytes>> pem_certificate_ders(std::string_view pem);

// An immutable certificate revocation list. Copies share it.
class Crl {
 public:
  static Result<Crl> from_der(ByteView der);
  static Result<Crl> from_pem(std::string_view pem);

  Bytes to_der() const;
  std::string to_pem() const;
  std::string issuer() const;
  // Both clamped like Certificate::not_after().
  sys_seconds this_update() const;
  // Absent when the CRL has no nextUpdate (RFC 5280 requires one).
  std::optional<sys_seconds> next_update() const;
  // Whether `cert`'s serial is listed (the issuer is not compared).
  bool lists(const Certificate& cert) const;
  Result<void> verify_signature(const Certificate& issuer) const;

  X509_CRL* native() const { return crl_.get(); }

 private:
  friend class CrlBuilder;
  explicit Crl(std::shared_ptr<X509_CRL> crl) : crl_(std::move(crl)) {}
  std::shared_ptr<X509_CRL> crl_;
};

// CRLs that verify_chain has found signed by their issuer, fit to sign
// them and current, by the exact DER of the CRL and of the issuer's
// certificate, each for the window where both are valid (the CRL's
// thisUpdate..nextUpdate within the issuer's validity). Given one,
// verify_chain checks each such CRL once per window rather than once per
// chain; whether a certificate is listed is looked up every time. Only full,
// direct CRLs are kept (no issuing distribution point, not a delta), whose
// check does not depend on the certificate it covers. Failures are never
// kept. At most `capacity` entries, the least recently used dropped first.
// Safe to use from several threads.
class VerifiedCrls {
 public:
  static constexpr std::size_t kDefaultCapacity = 256;
  explicit VerifiedCrls(std::size_t capacity = kDefaultCapacity);
  ~VerifiedCrls();
  VerifiedCrls(const VerifiedCrls&) = delete;
  VerifiedCrls& operator=(const VerifiedCrls&) = delete;

  std::size_t size() const;
  void clear();

 private:
  friend struct VerifiedCrlsAccess;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Builds and verifies the path leaf -> intermediates -> one of
// `trust_anchors` (self-signed roots) as of `at`, with RFC 5280 strict
// checks. When `crls` is not empty every certificate in the path must be
// covered by a valid CRL from its issuer; a CRL that `verified_crls` holds
// for its issuer at `at` is not checked again, and one that passes is added.
// Errors name the failing certificate: "crypto.revoked" when one is revoked,
// "crypto.expired" when a certificate or CRL is outside its validity at `at`,
// "crypto.verify" otherwise.
Result<void> verify_chain(const Certificate& leaf, std::span<const Certificate> intermediates,
                          std::span<const Certificate> trust_anchors, std::span<const Crl> crls,
                          std::chrono::system_clock::time_point at, VerifiedCrls* verified_crls = nullptr);

// Issues X.509 v3 certificates. Key usage follows the CA flag: a CA gets
// keyCertSign and cRLSign, a leaf digitalSignature. Subject and authority key
// identifiers are added so that chains pass strict verification.
class CertificateBuilder {
 public:
  CertificateBuilder();

  CertificateBuilder& subject(std::string_view common_name, std::string_view organization = {});
  // Big-endian serial; by default 16 random bytes.
  CertificateBuilder& serial(ByteView big_endian);
  CertificateBuilder& validity(sys_seconds not_before, sys_seconds not_after);
  CertificateBuilder& public_key(const EcPublicKey& key);
  CertificateBuilder& public_key(const Ed25519PublicKey& key);
  // `path_length` limits the CAs that may follow this one; none by default.
  CertificateBuilder& ca(bool is_ca, std::optional<int> path_length = std::nullopt);
  // `der` becomes the extnValue contents verbatim.
  CertificateBuilder& extension(std::string_view oid, ByteView der, bool critical = false);

  // Signs as `issuer`, whose private key is `issuer_key` (ECDSA with SHA-256
  // on P-256 and SHA-384 on P-384, or Ed25519). Errors: "crypto.input".
  Result<Certificate> sign(const Certificate& issuer, const EcPrivateKey& issuer_key) const;
  Result<Certificate> sign(const Certificate& issuer, const Ed25519PrivateKey& issuer_key) const;
  // A self-signed certificate for `key`, whose public key it certifies.
  Result<Certificate> self_sign(const EcPrivateKey& key) const;
  Result<Certificate> self_sign(const Ed25519PrivateKey& key) const;

 private:
  struct Extension {
    std::string oid;
    Bytes der;
    bool critical;
  };
  Result<Certificate> build(const Certificate* issuer, EVP_PKEY* subject_key, EVP_PKEY* signer,
                            const EVP_MD* md) const;

  std::string common_name_;
  std::string organization_;
  Bytes serial_;
  sys_seconds not_before_{};
  sys_seconds not_after_{};
  std::shared_ptr<EVP_PKEY> public_key_;
  bool is_ca_ = false;
  std::optional<int> path_length_;
  std::vector<Extension> extensions_;
};

// Issues CRLs (v2) for certificates the issuer signed.
class CrlBuilder {
 public:
  CrlBuilder& validity(sys_seconds this_update, sys_seconds next_update);
  CrlBuilder& revoke(const Certificate& cert, sys_seconds when);

  Result<Crl> sign(const Certificate& issuer, const EcPrivateKey& issuer_key) const;
  Result<Crl> sign(const Certificate& issuer, const Ed25519PrivateKey& issuer_key) const;

 private:
  struct Entry {
    Certificate cert;
    sys_seconds when;
  };
  Result<Crl> build(const Certificate& issuer, EVP_PKEY* signer, const EVP_MD* md) const;

  sys_seconds this_update_{};
  sys_seconds next_update_{};
  std::vector<Entry> revoked_;
};

}  // namespace ward::crypto
