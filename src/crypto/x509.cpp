#include "crypto/x509.h"

#include <algorithm>
#include <climits>
#include <ctime>
#include <mutex>
#include <string>
#include <utility>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "base/lru.h"
#include "base/time.h"
#include "crypto/openssl_util.h"
#include "crypto/random.h"

namespace ward::crypto {
namespace {

using Asn1IntegerPtr = detail::Handle<ASN1_INTEGER, ASN1_INTEGER_free>;
using Asn1ObjectPtr = detail::Handle<ASN1_OBJECT, ASN1_OBJECT_free>;
using Asn1OctetStringPtr = detail::Handle<ASN1_OCTET_STRING, ASN1_OCTET_STRING_free>;
using Asn1TimePtr = detail::Handle<ASN1_TIME, ASN1_TIME_free>;
using X509CrlPtr = detail::Handle<X509_CRL, X509_CRL_free>;
using X509ExtensionPtr = detail::Handle<X509_EXTENSION, X509_EXTENSION_free>;
using X509Ptr = detail::Handle<X509, X509_free>;
using X509RevokedPtr = detail::Handle<X509_REVOKED, X509_REVOKED_free>;
using X509StoreCtxPtr = detail::Handle<X509_STORE_CTX, X509_STORE_CTX_free>;
using X509StorePtr = detail::Handle<X509_STORE, X509_STORE_free>;

// The stacks only borrow their elements, so they free just themselves.
struct CertStackFree {
  void operator()(STACK_OF(X509) * s) const noexcept { sk_X509_free(s); }
};
struct CrlStackFree {
  void operator()(STACK_OF(X509_CRL) * s) const noexcept { sk_X509_CRL_free(s); }
};

Result<detail::BioPtr> memory_bio(std::string_view text) {
  if (text.size() > INT_MAX) return fail("crypto.x509", "PEM text is too large");
  detail::BioPtr bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
  if (!bio) detail::fatal("cannot allocate a BIO");
  return bio;
}

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(size));
}

template <class Write>
std::string write_pem(Write write) {
  const detail::BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || write(bio.get()) != 1) detail::fatal("cannot write PEM");
  return bio_text(bio.get());
}

std::string name_text(const X509_NAME* name) {
  const detail::BioPtr bio(BIO_new(BIO_s_mem()));
  // RFC 2253, but UTF-8 stays readable instead of being escaped.
  if (!bio || X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) < 0) {
    detail::fatal("cannot print an X.509 name");
  }
  return bio_text(bio.get());
}

// Clamped to kEarliestTime..kLatestTime rather than refused: RFC 5280 (4.1.2.5)
// has a certificate with no well-defined expiration say 99991231235959Z, and
// vendor roots (Intel, AMD, NVIDIA) do. Clamping cuts off only the part of a
// validity period that Ward cannot represent, so no verdict at a time it can
// represent changes, and comparing with a clock reading cannot overflow.
sys_seconds to_sys_seconds(const ASN1_TIME* time) {
  std::tm tm{};
  if (time == nullptr || ASN1_TIME_to_tm(time, &tm) != 1) return sys_seconds{};
  using namespace std::chrono;
  const sys_days day = year_month_day{year{tm.tm_year + 1900}, month{static_cast<unsigned>(tm.tm_mon + 1)},
                                      std::chrono::day{static_cast<unsigned>(tm.tm_mday)}};
  return std::clamp(day + hours{tm.tm_hour} + minutes{tm.tm_min} + seconds{tm.tm_sec}, kEarliestTime,
                    kLatestTime);
}

std::time_t to_time_t(sys_seconds t) {
  return static_cast<std::time_t>(t.time_since_epoch().count());
}

std::shared_ptr<X509> share(X509* cert) {
  return {cert, X509_free};
}
std::shared_ptr<X509_CRL> share(X509_CRL* crl) {
  return {crl, X509_CRL_free};
}

Result<void> signature_matches(int rc, const char* what) {
  ERR_clear_error();
  if (rc != 1) return fail("crypto.verify", std::string(what) + " was not signed by the given issuer's key");
  return {};
}

const EVP_MD* md_for(const EcPrivateKey& key) {
  return detail::md(key.curve() == EcCurve::P256 ? HashAlg::Sha256 : HashAlg::Sha384);
}

detail::PkeyPtr ed25519_pkey(const Ed25519PrivateKey& key) {
  detail::PkeyPtr pkey(
      EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, key.seed().data(), key.seed().size()));
  if (!pkey) detail::fatal("cannot load an Ed25519 key");
  return pkey;
}

// An extension from OpenSSL's configuration syntax ("critical,CA:TRUE").
bool add_conf_extension(X509* cert, X509V3_CTX* ctx, int nid, const std::string& value) {
  const X509ExtensionPtr ext(X509V3_EXT_nconf_nid(nullptr, ctx, nid, value.c_str()));
  return ext && X509_add_ext(cert, ext.get(), -1) == 1;
}

std::string chain_error(X509_STORE_CTX* ctx, const Certificate& leaf) {
  const int error = X509_STORE_CTX_get_error(ctx);
  const X509* failing = X509_STORE_CTX_get_current_cert(ctx);
  const std::string subject = failing != nullptr ? name_text(X509_get_subject_name(failing)) : leaf.subject();
  return "certificate '" + subject + "' (depth " + std::to_string(X509_STORE_CTX_get_error_depth(ctx)) +
         "): " + X509_verify_cert_error_string(error);
}

}  // namespace

// Certificate

Result<Certificate> Certificate::from_der(ByteView der) {
  const unsigned char* p = der.data();
  X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  if (!cert || p != der.data() + der.size()) {
    ERR_clear_error();
    return fail("crypto.x509", "not a DER X.509 certificate");
  }
  return Certificate(share(cert.release()));
}

Result<Certificate> Certificate::from_pem(std::string_view pem) {
  auto chain = parse_pem_chain(pem);
  if (!chain) return std::unexpected(chain.error());
  if (chain->size() != 1) {
    return fail("crypto.x509", "expected one PEM certificate, found " + std::to_string(chain->size()));
  }
  return std::move(chain->front());
}

Result<std::vector<Bytes>> pem_certificate_ders(std::string_view pem) {
  auto bio = memory_bio(pem);
  if (!bio) return std::unexpected(bio.error());
  std::vector<Bytes> ders;
  for (;;) {
    unsigned char* data = nullptr;
    long size = 0;
    // The block names PEM_read_bio_X509 accepts ("CERTIFICATE", "X509 CERTIFICATE").
    if (PEM_bytes_read_bio(&data, &size, nullptr, PEM_STRING_X509, bio->get(), nullptr, nullptr) != 1) break;
    ders.emplace_back(data, data + size);
    OPENSSL_free(data);
  }
  // Reading stops with "no start line" at the end of the text; anything else
  // means a block was there but broken.
  const unsigned long error = ERR_peek_last_error();
  ERR_clear_error();
  if (ERR_GET_LIB(error) != ERR_LIB_PEM || ERR_GET_REASON(error) != PEM_R_NO_START_LINE) {
    return fail("crypto.x509", "PEM certificate " + std::to_string(ders.size() + 1) + " is malformed");
  }
  if (ders.empty()) return fail("crypto.x509", "no PEM certificate found");
  return ders;
}

Result<std::vector<Certificate>> parse_pem_chain(std::string_view pem) {
  auto ders = pem_certificate_ders(pem);
  if (!ders) return std::unexpected(ders.error());
  std::vector<Certificate> certs;
  for (const Bytes& der : *ders) {
    auto cert = Certificate::from_der(der);
    if (!cert) {
      return fail("crypto.x509", "PEM certificate " + std::to_string(certs.size() + 1) + " is malformed");
    }
    certs.push_back(std::move(*cert));
  }
  return certs;
}

Bytes Certificate::to_der() const {
  const int size = i2d_X509(cert_.get(), nullptr);
  if (size <= 0) detail::fatal("cannot encode a certificate");
  Bytes out(static_cast<std::size_t>(size));
  unsigned char* p = out.data();
  i2d_X509(cert_.get(), &p);
  return out;
}

std::string Certificate::to_pem() const {
  return write_pem([this](BIO* bio) { return PEM_write_bio_X509(bio, cert_.get()); });
}

std::string Certificate::subject() const {
  return name_text(X509_get_subject_name(cert_.get()));
}
std::string Certificate::issuer() const {
  return name_text(X509_get_issuer_name(cert_.get()));
}

std::string Certificate::serial_hex() const {
  const detail::BignumPtr bn(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert_.get()), nullptr));
  if (!bn) detail::fatal("cannot read a serial number");
  Bytes bytes(static_cast<std::size_t>(BN_num_bytes(bn.get())));
  BN_bn2bin(bn.get(), bytes.data());
  std::string hex = bytes.empty() ? "00" : hex_encode(bytes);
  return BN_is_negative(bn.get()) ? "-" + hex : hex;
}

sys_seconds Certificate::not_before() const {
  return to_sys_seconds(X509_get0_notBefore(cert_.get()));
}
sys_seconds Certificate::not_after() const {
  return to_sys_seconds(X509_get0_notAfter(cert_.get()));
}

bool Certificate::is_ca() const {
  return (X509_get_extension_flags(cert_.get()) & EXFLAG_CA) != 0;
}

EVP_PKEY* Certificate::public_key() const {
  return X509_get0_pubkey(cert_.get());
}

Result<EcPublicKey> Certificate::ec_public_key() const {
  auto key = EcPublicKey::from_evp(public_key());
  if (!key) return fail(key.error(), "certificate '" + subject() + "'");
  return key;
}

Result<Ed25519PublicKey> Certificate::ed25519_public_key() const {
  EVP_PKEY* key = public_key();
  Ed25519PublicKey out{};
  std::size_t size = out.size();
  if (key == nullptr || EVP_PKEY_get_id(key) != EVP_PKEY_ED25519 ||
      EVP_PKEY_get_raw_public_key(key, out.data(), &size) != 1 || size != out.size()) {
    ERR_clear_error();
    return fail("crypto.input", "certificate '" + subject() + "' does not hold an Ed25519 key");
  }
  return out;
}

std::optional<Bytes> Certificate::extension(std::string_view oid) const {
  const Asn1ObjectPtr object(OBJ_txt2obj(std::string(oid).c_str(), 1));
  if (!object) {
    ERR_clear_error();
    return std::nullopt;
  }
  const int index = X509_get_ext_by_OBJ(cert_.get(), object.get(), -1);
  if (index < 0) return std::nullopt;
  const ASN1_OCTET_STRING* data = X509_EXTENSION_get_data(X509_get_ext(cert_.get(), index));
  const unsigned char* bytes = ASN1_STRING_get0_data(data);
  return Bytes(bytes, bytes + ASN1_STRING_length(data));
}

std::optional<std::string> Certificate::crl_distribution_point() const {
  auto* points = static_cast<CRL_DIST_POINTS*>(
      X509_get_ext_d2i(cert_.get(), NID_crl_distribution_points, nullptr, nullptr));
  std::optional<std::string> url;
  for (int i = 0; points != nullptr && !url && i < sk_DIST_POINT_num(points); ++i) {
    const DIST_POINT* point = sk_DIST_POINT_value(points, i);
    if (point->distpoint == nullptr || point->distpoint->type != 0) continue;  // 0: a full name
    const GENERAL_NAMES* names = point->distpoint->name.fullname;
    for (int j = 0; !url && j < sk_GENERAL_NAME_num(names); ++j) {
      const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, j);
      if (name->type != GEN_URI) continue;
      const ASN1_IA5STRING* uri = name->d.uniformResourceIdentifier;
      url.emplace(reinterpret_cast<const char*>(ASN1_STRING_get0_data(uri)),
                  static_cast<std::size_t>(ASN1_STRING_length(uri)));
    }
  }
  CRL_DIST_POINTS_free(points);
  ERR_clear_error();  // an absent extension leaves nothing to report
  return url;
}

Result<void> Certificate::verify_signature(const Certificate& issuer) const {
  EVP_PKEY* key = issuer.public_key();
  return signature_matches(key != nullptr ? X509_verify(cert_.get(), key) : 0, "certificate");
}

bool operator==(const Certificate& a, const Certificate& b) {
  return X509_cmp(a.native(), b.native()) == 0;
}

// Crl

Result<Crl> Crl::from_der(ByteView der) {
  const unsigned char* p = der.data();
  X509CrlPtr crl(d2i_X509_CRL(nullptr, &p, static_cast<long>(der.size())));
  if (!crl || p != der.data() + der.size()) {
    ERR_clear_error();
    return fail("crypto.x509", "not a DER X.509 CRL");
  }
  return Crl(share(crl.release()));
}

Result<Crl> Crl::from_pem(std::string_view pem) {
  auto bio = memory_bio(pem);
  if (!bio) return std::unexpected(bio.error());
  X509_CRL* crl = PEM_read_bio_X509_CRL(bio->get(), nullptr, nullptr, nullptr);
  if (crl == nullptr) {
    ERR_clear_error();
    return fail("crypto.x509", "no valid PEM X509 CRL found");
  }
  return Crl(share(crl));
}

Bytes Crl::to_der() const {
  const int size = i2d_X509_CRL(crl_.get(), nullptr);
  if (size <= 0) detail::fatal("cannot encode a CRL");
  Bytes out(static_cast<std::size_t>(size));
  unsigned char* p = out.data();
  i2d_X509_CRL(crl_.get(), &p);
  return out;
}

std::string Crl::to_pem() const {
  return write_pem([this](BIO* bio) { return PEM_write_bio_X509_CRL(bio, crl_.get()); });
}

std::string Crl::issuer() const {
  return name_text(X509_CRL_get_issuer(crl_.get()));
}

sys_seconds Crl::this_update() const {
  return to_sys_seconds(X509_CRL_get0_lastUpdate(crl_.get()));
}

std::optional<sys_seconds> Crl::next_update() const {
  const ASN1_TIME* t = X509_CRL_get0_nextUpdate(crl_.get());
  if (t == nullptr) return std::nullopt;
  return to_sys_seconds(t);
}

bool Crl::lists(const Certificate& cert) const {
  X509_REVOKED* entry = nullptr;
  return X509_CRL_get0_by_serial(crl_.get(), &entry, X509_get0_serialNumber(cert.native())) == 1;
}

Result<void> Crl::verify_signature(const Certificate& issuer) const {
  EVP_PKEY* key = issuer.public_key();
  return signature_matches(key != nullptr ? X509_CRL_verify(crl_.get(), key) : 0, "CRL");
}

// VerifiedCrls

namespace {

// [from, until): the CRL's thisUpdate..nextUpdate within its issuer's validity.
struct CrlWindow {
  sys_seconds from;
  sys_seconds until;
};

}  // namespace

struct VerifiedCrls::Impl {
  explicit Impl(std::size_t capacity) : windows(capacity) {}
  mutable std::mutex mu;
  Lru<CrlWindow> windows;  // by crl_key
};

VerifiedCrls::VerifiedCrls(std::size_t capacity) : impl_(std::make_unique<Impl>(capacity)) {}
VerifiedCrls::~VerifiedCrls() = default;

std::size_t VerifiedCrls::size() const {
  std::lock_guard lock(impl_->mu);
  return impl_->windows.size();
}

void VerifiedCrls::clear() {
  std::lock_guard lock(impl_->mu);
  impl_->windows.clear();
}

struct VerifiedCrlsAccess {
  static bool holds(VerifiedCrls& v, std::string_view key, sys_seconds at) {
    std::lock_guard lock(v.impl_->mu);
    const CrlWindow* w = v.impl_->windows.find(key);
    return w != nullptr && w->from <= at && at < w->until;
  }
  static void add(VerifiedCrls& v, std::string key, CrlWindow w) {
    std::lock_guard lock(v.impl_->mu);
    v.impl_->windows.put(std::move(key), w);
  }
};

namespace {

// What the check_crl hook needs of the verify_chain call it serves.
struct CrlCheck {
  VerifiedCrls* verified;
  sys_seconds at;
};

// OpenSSL's own CRL check (issuer fit to sign CRLs, scope, time, signature),
// which the hook calls for any CRL it does not hold.
X509_STORE_CTX_check_crl_fn openssl_check_crl() {
  static const X509_STORE_CTX_check_crl_fn check = [] {
    const X509StorePtr store(X509_STORE_new());
    const X509StoreCtxPtr ctx(X509_STORE_CTX_new());
    if (!store || !ctx || X509_STORE_CTX_init(ctx.get(), store.get(), nullptr, nullptr) != 1) {
      detail::fatal("cannot set up chain verification");
    }
    return X509_STORE_CTX_get_check_crl(ctx.get());
  }();
  return check;
}

template <class T, int (*I2d)(const T*, unsigned char**)>
void append_der(std::string& key, const T* object) {
  const int size = I2d(object, nullptr);
  if (size <= 0) detail::fatal("cannot encode a CRL or certificate");
  const std::size_t start = key.size();
  key.resize(start + 4 + static_cast<std::size_t>(size));
  for (int i = 0; i < 4; ++i) key[start + i] = static_cast<char>((size >> (24 - 8 * i)) & 0xff);
  auto* p = reinterpret_cast<unsigned char*>(key.data() + start + 4);
  I2d(object, &p);
}

std::string crl_key(const X509_CRL* crl, const X509* issuer) {
  std::string key;
  append_der<X509_CRL, i2d_X509_CRL>(key, crl);
  append_der<X509, i2d_X509>(key, issuer);
  return key;
}

// OpenSSL's verdict on such a CRL depends only on its bytes, its issuer's
// and the time: without an issuing distribution point every certificate of
// the issuer is in scope, and a delta would need its base.
bool covers_whole_issuer(const X509_CRL* crl) {
  return X509_CRL_get_ext_by_NID(crl, NID_issuing_distribution_point, -1) < 0 &&
         X509_CRL_get_ext_by_NID(crl, NID_delta_crl, -1) < 0;
}

bool in_chain(X509_STORE_CTX* ctx, const X509* cert) {
  const STACK_OF(X509)* chain = X509_STORE_CTX_get0_chain(ctx);
  for (int i = 0; i < sk_X509_num(chain); ++i) {
    if (sk_X509_value(chain, i) == cert) return true;
  }
  return false;
}

// Runs as X509_verify_cert's check_crl. The issuer must be in the path under
// verification, so that its own validity is checked there.
int check_crl_once(X509_STORE_CTX* ctx, X509_CRL* crl) {
  const auto* check = static_cast<const CrlCheck*>(X509_STORE_CTX_get_app_data(ctx));
  const X509* issuer = X509_STORE_CTX_get0_current_issuer(ctx);
  if (issuer == nullptr || !covers_whole_issuer(crl) || !in_chain(ctx, issuer)) {
    return openssl_check_crl()(ctx, crl);
  }
  std::string key = crl_key(crl, issuer);
  if (VerifiedCrlsAccess::holds(*check->verified, key, check->at)) return 1;
  const int ok = openssl_check_crl()(ctx, crl);
  const ASN1_TIME* next_update = X509_CRL_get0_nextUpdate(crl);
  if (ok == 1 && next_update != nullptr) {
    const CrlWindow window{
        std::max(to_sys_seconds(X509_CRL_get0_lastUpdate(crl)), to_sys_seconds(X509_get0_notBefore(issuer))),
        std::min(to_sys_seconds(next_update), to_sys_seconds(X509_get0_notAfter(issuer)))};
    VerifiedCrlsAccess::add(*check->verified, std::move(key), window);
  }
  return ok;
}

}  // namespace

// Chain verification

Result<void> verify_chain(const Certificate& leaf, std::span<const Certificate> intermediates,
                          std::span<const Certificate> trust_anchors, std::span<const Crl> crls,
                          std::chrono::system_clock::time_point at, VerifiedCrls* verified_crls) {
  if (trust_anchors.empty()) return fail("crypto.verify", "no trust anchor given to verify against");
  const X509StorePtr store(X509_STORE_new());
  const X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  const std::unique_ptr<STACK_OF(X509), CertStackFree> untrusted(sk_X509_new_null());
  const std::unique_ptr<STACK_OF(X509_CRL), CrlStackFree> crl_stack(sk_X509_CRL_new_null());
  if (!store || !ctx || !untrusted || !crl_stack) detail::fatal("cannot allocate a certificate store");
  for (const Certificate& anchor : trust_anchors) {
    if (X509_STORE_add_cert(store.get(), anchor.native()) != 1) detail::fatal("cannot add a trust anchor");
  }
  for (const Certificate& cert : intermediates) {
    if (sk_X509_push(untrusted.get(), cert.native()) <= 0) detail::fatal("cannot collect intermediates");
  }
  for (const Crl& crl : crls) {
    if (sk_X509_CRL_push(crl_stack.get(), crl.native()) <= 0) detail::fatal("cannot collect CRLs");
  }
  CrlCheck crl_check{verified_crls, std::chrono::time_point_cast<std::chrono::seconds>(at)};
  if (verified_crls != nullptr && !crls.empty()) X509_STORE_set_check_crl(store.get(), check_crl_once);
  if (X509_STORE_CTX_init(ctx.get(), store.get(), leaf.native(), untrusted.get()) != 1) {
    detail::fatal("cannot set up chain verification");
  }
  X509_STORE_CTX_set_app_data(ctx.get(), &crl_check);
  X509_STORE_CTX_set0_crls(ctx.get(), crl_stack.get());
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
  X509_VERIFY_PARAM_set_time(param, std::chrono::system_clock::to_time_t(at));
  unsigned long flags = X509_V_FLAG_X509_STRICT;
  if (!crls.empty()) flags |= X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL;
  X509_VERIFY_PARAM_set_flags(param, flags);

  const int rc = X509_verify_cert(ctx.get());
  ERR_clear_error();
  if (rc == 1) return {};
  switch (X509_STORE_CTX_get_error(ctx.get())) {
    case X509_V_ERR_CERT_REVOKED:
      return fail("crypto.revoked", chain_error(ctx.get(), leaf));
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CERT_NOT_YET_VALID:
    case X509_V_ERR_CRL_HAS_EXPIRED:
    case X509_V_ERR_CRL_NOT_YET_VALID:
      return fail("crypto.expired", chain_error(ctx.get(), leaf));
    default:
      return fail("crypto.verify", chain_error(ctx.get(), leaf));
  }
}

// CertificateBuilder

CertificateBuilder::CertificateBuilder() : serial_(random_bytes(16)) {
  // A positive INTEGER of at most 20 octets (RFC 5280 section 4.1.2.2).
  serial_[0] = static_cast<std::uint8_t>((serial_[0] & 0x7f) | 0x01);
}

CertificateBuilder& CertificateBuilder::subject(std::string_view common_name, std::string_view organization) {
  common_name_ = common_name;
  organization_ = organization;
  return *this;
}

CertificateBuilder& CertificateBuilder::serial(ByteView big_endian) {
  serial_.assign(big_endian.begin(), big_endian.end());
  return *this;
}

CertificateBuilder& CertificateBuilder::validity(sys_seconds not_before, sys_seconds not_after) {
  not_before_ = not_before;
  not_after_ = not_after;
  return *this;
}

CertificateBuilder& CertificateBuilder::public_key(const EcPublicKey& key) {
  if (EVP_PKEY_up_ref(key.evp()) != 1) detail::fatal("cannot reference an EVP_PKEY");
  public_key_ = std::shared_ptr<EVP_PKEY>(key.evp(), EVP_PKEY_free);
  return *this;
}

CertificateBuilder& CertificateBuilder::public_key(const Ed25519PublicKey& key) {
  EVP_PKEY* pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, key.data(), key.size());
  if (pkey == nullptr) detail::fatal("cannot load an Ed25519 public key");
  public_key_ = std::shared_ptr<EVP_PKEY>(pkey, EVP_PKEY_free);
  return *this;
}

CertificateBuilder& CertificateBuilder::ca(bool is_ca, std::optional<int> path_length) {
  is_ca_ = is_ca;
  path_length_ = path_length;
  return *this;
}

CertificateBuilder& CertificateBuilder::extension(std::string_view oid, ByteView der, bool critical) {
  extensions_.push_back({std::string(oid), Bytes(der.begin(), der.end()), critical});
  return *this;
}

Result<Certificate> CertificateBuilder::sign(const Certificate& issuer,
                                             const EcPrivateKey& issuer_key) const {
  return build(&issuer, public_key_.get(), issuer_key.evp(), md_for(issuer_key));
}

Result<Certificate> CertificateBuilder::sign(const Certificate& issuer,
                                             const Ed25519PrivateKey& issuer_key) const {
  return build(&issuer, public_key_.get(), ed25519_pkey(issuer_key).get(), nullptr);
}

Result<Certificate> CertificateBuilder::self_sign(const EcPrivateKey& key) const {
  return build(nullptr, key.evp(), key.evp(), md_for(key));
}

Result<Certificate> CertificateBuilder::self_sign(const Ed25519PrivateKey& key) const {
  const detail::PkeyPtr pkey = ed25519_pkey(key);
  return build(nullptr, pkey.get(), pkey.get(), nullptr);
}

Result<Certificate> CertificateBuilder::build(const Certificate* issuer, EVP_PKEY* subject_key,
                                              EVP_PKEY* signer, const EVP_MD* md) const {
  if (common_name_.empty()) return fail("crypto.input", "certificate needs a subject common name");
  if (subject_key == nullptr) return fail("crypto.input", "certificate needs a public key");
  if (not_after_ <= not_before_) return fail("crypto.input", "certificate validity ends before it starts");
  if (serial_.empty() || serial_.size() > 20 || (serial_[0] & 0x80) != 0) {
    return fail("crypto.input", "certificate serial must be 1 to 20 bytes and positive");
  }
  X509Ptr cert(X509_new());
  const detail::BignumPtr serial(BN_bin2bn(serial_.data(), static_cast<int>(serial_.size()), nullptr));
  if (!cert || !serial) detail::fatal("cannot allocate a certificate");
  X509_NAME* name = X509_get_subject_name(cert.get());
  const auto add_entry = [name](const char* field, const std::string& value) {
    return X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8,
                                      reinterpret_cast<const unsigned char*>(value.data()),
                                      static_cast<int>(value.size()), -1, 0) == 1;
  };
  bool ok = X509_set_version(cert.get(), X509_VERSION_3) == 1 &&
            BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get())) != nullptr &&
            (organization_.empty() || add_entry("O", organization_)) && add_entry("CN", common_name_) &&
            X509_set_issuer_name(cert.get(),
                                 issuer != nullptr ? X509_get_subject_name(issuer->native()) : name) == 1 &&
            ASN1_TIME_set(X509_getm_notBefore(cert.get()), to_time_t(not_before_)) != nullptr &&
            ASN1_TIME_set(X509_getm_notAfter(cert.get()), to_time_t(not_after_)) != nullptr &&
            X509_set_pubkey(cert.get(), subject_key) == 1;
  if (!ok) return fail("crypto.input", "cannot fill in the certificate: " + detail::openssl_error());

  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer != nullptr ? issuer->native() : cert.get(), cert.get(), nullptr, nullptr, 0);
  std::string constraints = is_ca_ ? "critical,CA:TRUE" : "critical,CA:FALSE";
  if (is_ca_ && path_length_) constraints += ",pathlen:" + std::to_string(*path_length_);
  ok = add_conf_extension(cert.get(), &ctx, NID_basic_constraints, constraints) &&
       add_conf_extension(cert.get(), &ctx, NID_key_usage,
                          is_ca_ ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature") &&
       add_conf_extension(cert.get(), &ctx, NID_subject_key_identifier, "hash") &&
       (issuer == nullptr ||
        add_conf_extension(cert.get(), &ctx, NID_authority_key_identifier, "keyid:always"));
  if (!ok) return fail("crypto.input", "cannot add standard extensions: " + detail::openssl_error());

  for (const Extension& ext : extensions_) {
    const Asn1ObjectPtr object(OBJ_txt2obj(ext.oid.c_str(), 1));
    const Asn1OctetStringPtr value(ASN1_OCTET_STRING_new());
    if (!object) return fail("crypto.input", "extension OID '" + ext.oid + "' is not a dotted OID");
    if (!value || ASN1_OCTET_STRING_set(value.get(), ext.der.data(), static_cast<int>(ext.der.size())) != 1) {
      detail::fatal("cannot allocate an extension");
    }
    const X509ExtensionPtr extension(
        X509_EXTENSION_create_by_OBJ(nullptr, object.get(), ext.critical ? 1 : 0, value.get()));
    if (!extension || X509_add_ext(cert.get(), extension.get(), -1) != 1) {
      return fail("crypto.input", "cannot add extension " + ext.oid + ": " + detail::openssl_error());
    }
  }
  if (X509_sign(cert.get(), signer, md) <= 0) {
    return fail("crypto.input", "cannot sign the certificate: " + detail::openssl_error());
  }
  return Certificate(share(cert.release()));
}

// CrlBuilder

CrlBuilder& CrlBuilder::validity(sys_seconds this_update, sys_seconds next_update) {
  this_update_ = this_update;
  next_update_ = next_update;
  return *this;
}

CrlBuilder& CrlBuilder::revoke(const Certificate& cert, sys_seconds when) {
  revoked_.push_back({cert, when});
  return *this;
}

Result<Crl> CrlBuilder::sign(const Certificate& issuer, const EcPrivateKey& issuer_key) const {
  return build(issuer, issuer_key.evp(), md_for(issuer_key));
}

Result<Crl> CrlBuilder::sign(const Certificate& issuer, const Ed25519PrivateKey& issuer_key) const {
  return build(issuer, ed25519_pkey(issuer_key).get(), nullptr);
}

Result<Crl> CrlBuilder::build(const Certificate& issuer, EVP_PKEY* signer, const EVP_MD* md) const {
  if (next_update_ <= this_update_) return fail("crypto.input", "CRL validity ends before it starts");
  X509CrlPtr crl(X509_CRL_new());
  const Asn1TimePtr this_update(ASN1_TIME_set(nullptr, to_time_t(this_update_)));
  const Asn1TimePtr next_update(ASN1_TIME_set(nullptr, to_time_t(next_update_)));
  if (!crl || !this_update || !next_update) detail::fatal("cannot allocate a CRL");
  bool ok = X509_CRL_set_version(crl.get(), X509_CRL_VERSION_2) == 1 &&
            X509_CRL_set_issuer_name(crl.get(), X509_get_subject_name(issuer.native())) == 1 &&
            X509_CRL_set1_lastUpdate(crl.get(), this_update.get()) == 1 &&
            X509_CRL_set1_nextUpdate(crl.get(), next_update.get()) == 1;
  for (const Entry& entry : revoked_) {
    X509RevokedPtr revoked(X509_REVOKED_new());
    const Asn1TimePtr when(ASN1_TIME_set(nullptr, to_time_t(entry.when)));
    ok = ok && revoked && when &&
         X509_REVOKED_set_serialNumber(revoked.get(), X509_get_serialNumber(entry.cert.native())) == 1 &&
         X509_REVOKED_set_revocationDate(revoked.get(), when.get()) == 1 &&
         X509_CRL_add0_revoked(crl.get(), revoked.get()) == 1;
    if (ok) revoked.release();
  }
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer.native(), nullptr, nullptr, crl.get(), 0);
  ok = ok && X509_CRL_sort(crl.get()) == 1;
  if (ok) {
    const X509ExtensionPtr akid(
        X509V3_EXT_nconf_nid(nullptr, &ctx, NID_authority_key_identifier, "keyid:always"));
    ok = akid && X509_CRL_add_ext(crl.get(), akid.get(), -1) == 1;
  }
  if (!ok || X509_CRL_sign(crl.get(), signer, md) <= 0) {
    return fail("crypto.input", "cannot build the CRL: " + detail::openssl_error());
  }
  return Crl(share(crl.release()));
}

}  // namespace ward::crypto
