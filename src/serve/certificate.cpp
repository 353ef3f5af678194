#include "serve/certificate.h"

#include <algorithm>
#include <memory>
#include <new>
#include <string_view>
#include <utility>

#include <openssl/objects.h>
#include <openssl/x509.h>

#include "ca/oids.h"
#include "crypto/der.h"

namespace ward::serve {
namespace {

constexpr std::uint8_t kTagInteger = 0x02;
constexpr std::uint8_t kTagOctetString = 0x04;
constexpr std::uint8_t kTagUtf8String = 0x0c;
constexpr std::uint8_t kTagSequence = 0x30;
constexpr std::string_view kEngineDigestPrefix = "sha256:";

// extendedKeyUsage (2.5.29.37): SEQUENCE { id-kp-serverAuth (1.3.6.1.5.5.7.3.1) }.
constexpr std::string_view kExtKeyUsageOid = "2.5.29.37";
constexpr std::uint8_t kServerAuthEku[] = {0x30, 0x0a, 0x06, 0x08, 0x2b, 0x06,
                                           0x01, 0x05, 0x05, 0x07, 0x03, 0x01};

Error bad(std::string_view what, const std::string& why) {
  return Error{"serve.certificate", "the " + std::string(what) + " extension " + why};
}

bool is_engine_digest(std::string_view text) {
  if (!text.starts_with(kEngineDigestPrefix)) return false;
  const std::string_view hex = text.substr(kEngineDigestPrefix.size());
  auto bytes = hex_decode(hex);
  // Decoding and encoding again admits only the one lowercase spelling.
  return bytes && bytes->size() == 32 && hex_encode(*bytes) == hex;
}

// The one TLV with tag `tag` that spans all of `der`.
Result<ByteView> decode_whole(ByteView der, std::uint8_t tag, std::string_view what) {
  auto tlv = crypto::der::read(der);
  if (!tlv) return std::unexpected(bad(what, "is not valid DER: " + tlv.error().message));
  if (tlv->tag != tag) return std::unexpected(bad(what, "has an unexpected tag"));
  if (!der.empty()) return std::unexpected(bad(what, "has trailing bytes"));
  return tlv->contents;
}

Bytes encode_order(std::uint64_t order) {
  Bytes value;
  for (int shift = 56; shift >= 0; shift -= 8) {
    const auto byte = static_cast<std::uint8_t>(order >> shift);
    if (value.empty() && byte == 0 && shift > 0) continue;
    value.push_back(byte);
  }
  // A set top bit would read as negative: DER puts a zero octet first.
  if ((value.front() & 0x80) != 0) value.insert(value.begin(), 0);
  return crypto::der::encode(kTagInteger, value);
}

Result<std::uint64_t> parse_order(ByteView der) {
  constexpr std::string_view what = "order id";
  auto contents = decode_whole(der, kTagInteger, what);
  if (!contents) return std::unexpected(contents.error());
  const ByteView v = *contents;
  if (v.empty()) return std::unexpected(bad(what, "is an empty INTEGER"));
  if ((v[0] & 0x80) != 0) return std::unexpected(bad(what, "is negative"));
  if (v.size() > 1 && v[0] == 0 && (v[1] & 0x80) == 0)
    return std::unexpected(bad(what, "is not minimally encoded"));
  if (v.size() > 9 || (v.size() == 9 && v[0] != 0)) return std::unexpected(bad(what, "exceeds 64 bits"));
  std::uint64_t order = 0;
  for (const std::uint8_t byte : v) order = (order << 8) | byte;
  return order;
}

Result<crypto::Sha256Digest> digest_of(ByteView contents, std::string_view what) {
  crypto::Sha256Digest digest{};
  if (contents.size() != digest.size())
    return std::unexpected(bad(what, "holds " + std::to_string(contents.size()) + " bytes, not 32"));
  std::ranges::copy(contents, digest.begin());
  return digest;
}

Result<ledger::LedgerId> parse_ledger(ByteView der) {
  auto contents = decode_whole(der, kTagOctetString, "ledger id");
  if (!contents) return std::unexpected(contents.error());
  return digest_of(*contents, "ledger id");
}

Result<std::string> parse_engine(ByteView der) {
  auto contents = decode_whole(der, kTagUtf8String, "engine digest");
  if (!contents) return std::unexpected(contents.error());
  std::string engine(as_chars(*contents));
  if (!is_engine_digest(engine))
    return std::unexpected(bad("engine digest", "is not sha256:<64 lowercase hex digits>"));
  return engine;
}

Bytes encode_inputs(const std::vector<crypto::Sha256Digest>& inputs) {
  Bytes contents;
  for (const auto& digest : inputs) crypto::der::append(contents, kTagOctetString, digest);
  return crypto::der::encode(kTagSequence, contents);
}

Result<std::vector<crypto::Sha256Digest>> parse_inputs(ByteView der) {
  constexpr std::string_view what = "inputs";
  auto contents = decode_whole(der, kTagSequence, what);
  if (!contents) return std::unexpected(contents.error());
  std::vector<crypto::Sha256Digest> inputs;
  for (ByteView rest = *contents; !rest.empty();) {
    auto element = crypto::der::read(rest);
    if (!element) return std::unexpected(bad(what, "is not valid DER: " + element.error().message));
    if (element->tag != kTagOctetString)
      return std::unexpected(bad(what, "holds an element that is not an OCTET STRING"));
    auto digest = digest_of(element->contents, what);
    if (!digest) return std::unexpected(digest.error());
    inputs.push_back(*digest);
  }
  return inputs;
}

// Certificate::extension reads the first copy; a second one could tell
// another reader something else, so exactly one must be there.
template <class T>
Result<T> read_extension(const crypto::Certificate& cert, std::string_view oid, std::string_view what,
                         Result<T> (*parse)(ByteView)) {
  const auto value = cert.extension(oid);
  if (!value) return std::unexpected(bad(what, "is missing"));
  const std::unique_ptr<ASN1_OBJECT, decltype(&ASN1_OBJECT_free)> object(
      OBJ_txt2obj(std::string(oid).c_str(), 1), ASN1_OBJECT_free);
  const int first = X509_get_ext_by_OBJ(cert.native(), object.get(), -1);
  if (X509_get_ext_by_OBJ(cert.native(), object.get(), first) >= 0)
    return std::unexpected(bad(what, "appears more than once"));
  return parse(*value);
}

}  // namespace

Result<ServiceCredentials> issue_service_certificate(const ServiceClaims& claims,
                                                     const crypto::Ed25519PrivateKey& cvm_key,
                                                     const crypto::Certificate& cvm_cert,
                                                     sys_seconds not_before, sys_seconds not_after,
                                                     const crypto::EcPrivateKey* key) {
  if (!is_engine_digest(claims.engine))
    return fail("serve.certificate",
                "engine \"" + claims.engine.substr(0, 80) + "\" is not sha256:<64 lowercase hex digits>");
  const auto certified = cvm_cert.ed25519_public_key();
  if (!certified || *certified != cvm_key.public_key())
    return fail("serve.certificate", "the CVM key is not the one its certificate certifies");
  if (key != nullptr && key->curve() != crypto::EcCurve::P256)
    return fail("serve.certificate", "the TLS key is not a P-256 key");
  crypto::EcPrivateKey tls_key =
      key != nullptr ? *key : crypto::EcPrivateKey::generate(crypto::EcCurve::P256);
  auto cert =
      crypto::CertificateBuilder()
          .subject("order-" + std::to_string(claims.order))
          .validity(not_before, not_after)
          .public_key(tls_key.public_key())
          .ca(false)
          .extension(kExtKeyUsageOid, kServerAuthEku)
          .extension(ca::kServiceOrderExtensionOid, encode_order(claims.order))
          .extension(ca::kServiceLedgerExtensionOid, crypto::der::encode(kTagOctetString, claims.ledger))
          .extension(ca::kServiceEngineExtensionOid,
                     crypto::der::encode(kTagUtf8String, as_bytes(claims.engine)))
          .extension(ca::kServiceInputsExtensionOid, encode_inputs(claims.inputs))
          .sign(cvm_cert, cvm_key);
  if (!cert)
    return fail("serve.certificate", "cannot issue the service certificate: " + cert.error().message);
  return ServiceCredentials{std::move(tls_key), std::move(*cert)};
}

Result<ServiceClaims> read_service_certificate(const crypto::Certificate& cert) {
  const auto key = cert.ec_public_key();
  if (!key || key->curve() != crypto::EcCurve::P256)
    return fail("serve.certificate", "the certified key is not a P-256 key");
  auto order = read_extension(cert, ca::kServiceOrderExtensionOid, "order id", parse_order);
  if (!order) return std::unexpected(order.error());
  auto ledger = read_extension(cert, ca::kServiceLedgerExtensionOid, "ledger id", parse_ledger);
  if (!ledger) return std::unexpected(ledger.error());
  auto engine = read_extension(cert, ca::kServiceEngineExtensionOid, "engine digest", parse_engine);
  if (!engine) return std::unexpected(engine.error());
  auto inputs = read_extension(cert, ca::kServiceInputsExtensionOid, "inputs", parse_inputs);
  if (!inputs) return std::unexpected(inputs.error());
  return ServiceClaims{*ledger, *order, std::move(*engine), std::move(*inputs)};
}

crypto::Sha256Digest tls_key_digest(const crypto::Certificate& cert) {
  const X509_PUBKEY* spki = X509_get_X509_PUBKEY(cert.native());
  unsigned char* der = nullptr;
  const int size = i2d_X509_PUBKEY(spki, &der);
  // Only memory exhaustion makes a parsed certificate's key fail to encode.
  if (size <= 0) throw std::bad_alloc();
  const std::unique_ptr<unsigned char, void (*)(unsigned char*)> owned(
      der, [](unsigned char* p) { OPENSSL_free(p); });
  return crypto::sha256(ByteView(der, static_cast<std::size_t>(size)));
}

}  // namespace ward::serve
