#include "attest/dcap/verify.h"

#include <algorithm>
#include <array>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "attest/dcap/pck.h"
#include "attest/dcap/quote.h"
#include "attest/dcap/tcb.h"
#include "attest/sim.h"
#include "base/lru.h"
#include "base/time.h"
#include "crypto/ecdsa.h"
#include "crypto/hash.h"

namespace ward::attest::dcap {

namespace {

using TimePoint = std::chrono::system_clock::time_point;

// The Intel SGX Root CA, as published at
// https://certificates.trustedservices.intel.com/Intel_SGX_Provisioning_Certification_RootCA.pem
constexpr std::string_view kIntelSgxRootPem = R"(-----BEGIN CERTIFICATE-----
MIICjzCCAjSgAwIBAgIUImUM1lqdNInzg7SVUr9QGzknBqwwCgYIKoZIzj0EAwIw
aDEaMBgGA1UEAwwRSW50ZWwgU0dYIFJvb3QgQ0ExGjAYBgNVBAoMEUludGVsIENv
cnBvcmF0aW9uMRQwEgYDVQQHDAtTYW50YSBDbGFyYTELMAkGA1UECAwCQ0ExCzAJ
BgNVBAYTAlVTMB4XDTE4MDUyMTEwNDUxMFoXDTQ5MTIzMTIzNTk1OVowaDEaMBgG
A1UEAwwRSW50ZWwgU0dYIFJvb3QgQ0ExGjAYBgNVBAoMEUludGVsIENvcnBvcmF0
aW9uMRQwEgYDVQQHDAtTYW50YSBDbGFyYTELMAkGA1UECAwCQ0ExCzAJBgNVBAYT
AlVTMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEC6nEwMDIYZOj/iPWsCzaEKi7
1OiOSLRFhWGjbnBVJfVnkY4u3IjkDYYL0MxO4mqsyYjlBalTVYxFP2sJBK5zlKOB
uzCBuDAfBgNVHSMEGDAWgBQiZQzWWp00ifODtJVSv1AbOScGrDBSBgNVHR8ESzBJ
MEegRaBDhkFodHRwczovL2NlcnRpZmljYXRlcy50cnVzdGVkc2VydmljZXMuaW50
ZWwuY29tL0ludGVsU0dYUm9vdENBLmRlcjAdBgNVHQ4EFgQUImUM1lqdNInzg7SV
Ur9QGzknBqwwDgYDVR0PAQH/BAQDAgEGMBIGA1UdEwEB/wQIMAYBAf8CAQEwCgYI
KoZIzj0EAwIDSQAwRgIhAOW/5QkR+S9CiSDcNoowLuPRLsWGf/Yi7GSX94BgwTwg
AiEA4J0lrHoMs+Xo5o/sX6O9QWxHRAvZUGOdRQ7cvqRXaqI=
-----END CERTIFICATE-----
)";

template <std::size_t N>
Bytes to_vec(const std::array<std::uint8_t, N>& a) {
  return Bytes(a.begin(), a.end());
}

// A time window [from, until) in which every certificate and CRL behind a
// verification is valid: a verification at one time inside it holds at
// every other, since nothing else in a chain check depends on the time.
struct Window {
  std::chrono::sys_seconds from = std::chrono::sys_seconds::min();
  std::chrono::sys_seconds until = std::chrono::sys_seconds::max();

  void narrow(std::chrono::sys_seconds f, std::chrono::sys_seconds u) {
    from = std::max(from, f);
    until = std::min(until, u);
  }
  void narrow(const crypto::Certificate& c) { narrow(c.not_before(), c.not_after()); }
  void narrow(const crypto::Crl& c) {
    narrow(c.this_update(), c.next_update().value_or(std::chrono::sys_seconds::min()));
  }
  bool contains(TimePoint t) const {
    const auto s = std::chrono::time_point_cast<std::chrono::seconds>(t);
    return from <= s && s < until;
  }
};

using DecodedChain = std::shared_ptr<const std::vector<crypto::Certificate>>;

}  // namespace

struct VerificationCache::Impl {
  explicit Impl(std::size_t capacity)
      : decoded(capacity), certificates(capacity), verified(capacity), crls(capacity) {}
  std::mutex mu;
  Lru<DecodedChain> decoded;              // by PEM text
  Lru<crypto::Certificate> certificates;  // by DER
  Lru<Window> verified;                   // by chain_key
  crypto::VerifiedCrls crls;              // locks itself
};

VerificationCache::VerificationCache(std::size_t capacity) : impl_(std::make_unique<Impl>(capacity)) {}
VerificationCache::~VerificationCache() = default;

VerificationCache& VerificationCache::process() {
  // Never destroyed: certificates must not be freed after OpenSSL's own
  // clean-up at exit.
  static VerificationCache* const cache = new VerificationCache();
  return *cache;
}

std::size_t VerificationCache::decoded_chains() const {
  std::lock_guard lock(impl_->mu);
  return impl_->decoded.size();
}

std::size_t VerificationCache::verified_chains() const {
  std::lock_guard lock(impl_->mu);
  return impl_->verified.size();
}

std::size_t VerificationCache::verified_crls() const {
  return impl_->crls.size();
}

void VerificationCache::clear() {
  std::lock_guard lock(impl_->mu);
  impl_->decoded.clear();
  impl_->certificates.clear();
  impl_->verified.clear();
  impl_->crls.clear();
}

namespace {

void append_part(std::string& key, char kind, ByteView der) {
  const auto n = static_cast<std::uint32_t>(der.size());
  key += kind;
  for (int shift = 24; shift >= 0; shift -= 8) key += static_cast<char>((n >> shift) & 0xff);
  key.append(as_chars(der));
}

// Every byte a chain verdict depends on besides the time: the anchor, the
// chain leaf first, and the CRLs, each with its kind and length.
std::string chain_key(std::span<const crypto::Certificate> chain, const crypto::Certificate& anchor,
                      std::span<const crypto::Crl> crls) {
  std::string key;
  append_part(key, 'A', anchor.to_der());
  for (const auto& cert : chain) append_part(key, 'C', cert.to_der());
  for (const auto& crl : crls) append_part(key, 'R', crl.to_der());
  return key;
}

}  // namespace

namespace {

// The roots every process has decoded already; a chain that carries one
// (a PCK chain and the collateral's issuer chain both end at the root) takes
// it as it is.
const crypto::Certificate* built_in(ByteView der) {
  static const std::array<std::pair<Bytes, const crypto::Certificate*>, 2> roots{{
      {intel_sgx_root().to_der(), &intel_sgx_root()},
      {sim::root().to_der(), &sim::root()},
  }};
  for (const auto& [root_der, root] : roots) {
    if (std::ranges::equal(root_der, der)) return root;
  }
  return nullptr;
}

}  // namespace

// Decoding is a function of the bytes alone: of the text for a chain, of
// the DER for each certificate, so that a certificate shared by several
// chains is decoded once.
Result<DecodedChain> VerificationCache::decode(std::string_view pem) {
  {
    std::lock_guard lock(impl_->mu);
    if (const DecodedChain* chain = impl_->decoded.find(pem)) return *chain;
  }
  auto ders = crypto::pem_certificate_ders(pem);
  if (!ders) return std::unexpected(ders.error());
  std::vector<crypto::Certificate> chain;
  for (const Bytes& der : *ders) {
    if (const crypto::Certificate* root = built_in(der)) {
      chain.push_back(*root);
      continue;
    }
    const std::string key(as_chars(der));
    {
      std::lock_guard lock(impl_->mu);
      if (const crypto::Certificate* cert = impl_->certificates.find(key)) {
        chain.push_back(*cert);
        continue;
      }
    }
    auto cert = crypto::Certificate::from_der(der);
    if (!cert) {
      return fail("crypto.x509", "PEM certificate " + std::to_string(chain.size() + 1) + " is malformed");
    }
    chain.push_back(*cert);
    std::lock_guard lock(impl_->mu);
    impl_->certificates.put(key, std::move(*cert));
  }
  auto decoded = std::make_shared<const std::vector<crypto::Certificate>>(std::move(chain));
  std::lock_guard lock(impl_->mu);
  impl_->decoded.put(std::string(pem), decoded);
  return decoded;
}

Result<void> VerificationCache::verify_chain(std::span<const crypto::Certificate> chain,
                                             const crypto::Certificate& anchor,
                                             std::span<const crypto::Crl> crls, TimePoint at) {
  if (chain.empty()) return fail("crypto.verify", "the chain is empty");
  std::string key = chain_key(chain, anchor, crls);
  {
    std::lock_guard lock(impl_->mu);
    if (const Window* w = impl_->verified.find(key); w != nullptr && w->contains(at)) return {};
  }
  auto r =
      crypto::verify_chain(chain.front(), chain.subspan(1), std::span(&anchor, 1), crls, at, &impl_->crls);
  if (!r) return r;
  Window w;
  for (const auto& cert : chain) w.narrow(cert);
  w.narrow(anchor);
  for (const auto& crl : crls) w.narrow(crl);
  // OpenSSL accepts a certificate at its notAfter second; the window does not.
  if (!w.contains(at)) return {};
  std::lock_guard lock(impl_->mu);
  impl_->verified.put(std::move(key), w);
  return {};
}

struct PreparedCollateral::Parsed {
  std::vector<crypto::Crl> crls;  // root CA CRL, PCK CRL
  TcbInfo tcb_info;
  QeIdentity qe_identity;
  std::vector<crypto::Certificate> tcb_info_chain;  // signer first
  std::vector<crypto::Certificate> qe_identity_chain;
  std::string tcb_info_text;
  Bytes tcb_info_signature;
  std::string qe_identity_text;
  Bytes qe_identity_signature;
  std::string pck_crl_issuer;
};

// A PCK chain found valid under this collateral's CRLs.
struct VerifiedPck {
  crypto::Certificate anchor;
  Window window;
  std::vector<crypto::Certificate> chain;
  crypto::EcPublicKey leaf_key;
  PckExtensions extensions;
  std::string leaf_subject;
  std::string anchor_subject;
};

// The TCB Info and QE Identity found signed under an anchor.
struct VerifiedBodies {
  crypto::Certificate anchor;
  Window window;
  std::string tcb_info_signer;
  std::string qe_identity_signer;
};

struct PreparedCollateral::Memo {
  // Bounds the memory a verifier serving many platforms spends on PCK chains.
  static constexpr std::size_t kMaxPckChains = 4096;
  std::mutex mu;
  std::vector<VerifiedBodies> bodies;
  std::unordered_map<std::string, std::vector<VerifiedPck>> pck;  // by PEM text
  std::size_t pck_count = 0;
  // Attestation keys as points (a QE keeps its key until it restarts, and
  // importing one costs about as much as a signature check); by raw x||y.
  std::unordered_map<std::string, crypto::EcPublicKey> attestation_keys;
};

Result<PreparedCollateral> PreparedCollateral::prepare(const Collateral& c, VerificationCache& cache) {
  auto p = std::make_shared<Parsed>();
  auto root_crl = crypto::Crl::from_der(c.root_ca_crl);
  if (!root_crl) return fail("collateral.crls", "root CA CRL: " + root_crl.error().message);
  auto pck_crl = crypto::Crl::from_der(c.pck_crl);
  if (!pck_crl) return fail("collateral.crls", "PCK CRL: " + pck_crl.error().message);
  p->pck_crl_issuer = pck_crl->issuer();
  p->crls = {*root_crl, *pck_crl};
  auto tcb = parse_tcb_info(c.tcb_info);
  if (!tcb) return fail("collateral.tcb_info.parse", tcb.error().message);
  p->tcb_info = std::move(*tcb);
  auto qe = parse_qe_identity(c.qe_identity);
  if (!qe) return fail("collateral.qe_identity.parse", qe.error().message);
  p->qe_identity = std::move(*qe);
  auto tcb_chain = cache.decode(c.tcb_info_issuer_chain);
  if (!tcb_chain) return fail("collateral.tcb_info.chain", tcb_chain.error().message);
  p->tcb_info_chain = **tcb_chain;
  auto qe_chain = cache.decode(c.qe_identity_issuer_chain);
  if (!qe_chain) return fail("collateral.qe_identity.chain", qe_chain.error().message);
  p->qe_identity_chain = **qe_chain;
  p->tcb_info_text = c.tcb_info;
  p->tcb_info_signature = c.tcb_info_signature;
  p->qe_identity_text = c.qe_identity;
  p->qe_identity_signature = c.qe_identity_signature;
  return PreparedCollateral(std::move(p), std::make_shared<Memo>());
}

namespace {

// What the checks have established so far, passed from one to the next.
struct State {
  Quote quote;
  std::vector<crypto::Certificate> pck_chain;  // leaf first
  const crypto::Certificate* anchor = nullptr;
  std::optional<crypto::EcPublicKey> pck_key;
  PckExtensions pck;
  std::vector<crypto::Crl> crls;
  const PreparedCollateral::Parsed* collateral = nullptr;
  std::optional<VerifiedPck> known_pck;  // found in the collateral's memo, under `anchor`
  VerificationCache* cache = nullptr;
};

void record_body(const Quote& q, Appraisal& out) {
  if (const TdReport* td = q.td_report()) {
    out.platform = Platform::Tdx;
    out.debug = td->debug();
    out.report_data = to_vec(td->report_data);
    out.measurements = {
        {"mrtd", to_vec(td->mr_td)},
        {"rtmr0", to_vec(td->rtmr[0])},
        {"rtmr1", to_vec(td->rtmr[1])},
        {"rtmr2", to_vec(td->rtmr[2])},
        {"rtmr3", to_vec(td->rtmr[3])},
        {"mrseam", to_vec(td->mr_seam)},
        {"mrsignerseam", to_vec(td->mr_signer_seam)},
        {"mrconfigid", to_vec(td->mr_config_id)},
        {"mrowner", to_vec(td->mr_owner)},
        {"mrownerconfig", to_vec(td->mr_owner_config)},
    };
    if (td->mr_servicetd) out.measurements.push_back({"mrservicetd", to_vec(*td->mr_servicetd)});
    out.claims["td_attributes"] = hex_encode(td->td_attributes);
    out.claims["xfam"] = hex_encode(td->xfam);
    out.claims["tee_tcb_svn"] = hex_encode(td->tee_tcb_svn);
    if (td->tee_tcb_svn_2) out.claims["tee_tcb_svn_2"] = hex_encode(*td->tee_tcb_svn_2);
    out.claims["tdx_module"] = q.body_type == 3 ? "1.5" : "1.0";
  } else {
    const EnclaveReport& e = *q.enclave_report();
    out.platform = Platform::Sgx;
    out.debug = e.debug();
    out.report_data = to_vec(e.report_data);
    out.measurements = {{"mrenclave", to_vec(e.mr_enclave)}, {"mrsigner", to_vec(e.mr_signer)}};
    out.claims["isv_prod_id"] = std::to_string(e.isv_prod_id);
    out.claims["isv_svn"] = std::to_string(e.isv_svn);
    out.claims["attributes"] = hex_encode(e.attributes);
  }
  out.claims["quote_version"] = std::to_string(q.header.version);
}

bool check_parse(ByteView data, State& s, Appraisal& out) {
  auto q = parse_quote(data);
  if (!q) return out.checks.fail("quote.parse", q.error().message);
  s.quote = std::move(*q);
  record_body(s.quote, out);
  std::string detail = std::string(s.quote.is_tdx() ? "TDX" : "SGX") + " quote v" +
                       std::to_string(s.quote.header.version);
  if (s.quote.length < data.size()) detail += ", " + std::to_string(data.size() - s.quote.length) + " padding bytes ignored";
  return out.checks.pass("quote.parse", detail);
}

bool check_pck_chain_parse(State& s, Appraisal& out) {
  if (s.known_pck) {
    return out.checks.pass("pck.chain.parse", std::to_string(s.known_pck->chain.size()) + " certificates, leaf " +
                                                  s.known_pck->leaf_subject);
  }
  auto chain = s.cache->decode(s.quote.certification.pck_chain_pem);
  if (!chain) return out.checks.fail("pck.chain.parse", chain.error().message);
  if ((*chain)->size() < 2) {
    return out.checks.fail("pck.chain.parse", "the PCK chain has " + std::to_string((*chain)->size()) +
                                                  " certificate(s); a PCK leaf and its CA are required");
  }
  s.pck_chain = **chain;
  return out.checks.pass("pck.chain.parse", std::to_string(s.pck_chain.size()) + " certificates, leaf " +
                                                s.pck_chain.front().subject());
}

// Tries each anchor in turn: the chain must end at one of them, and which one
// decides whether the evidence is simulated.
Result<const crypto::Certificate*> verify_to_anchor(VerificationCache& cache,
                                                    const std::vector<crypto::Certificate>& chain,
                                                    std::span<const crypto::Certificate> anchors,
                                                    std::span<const crypto::Crl> crls, TimePoint at) {
  std::optional<Error> first_error;
  for (const auto& anchor : anchors) {
    auto r = cache.verify_chain(chain, anchor, crls, at);
    if (r) return &anchor;
    if (!first_error) first_error = r.error();
  }
  if (!first_error) return fail("attest.chain", "no trust anchor configured");
  return std::unexpected(*first_error);
}

void record_anchor(const crypto::Certificate& anchor, const std::string& anchor_subject, const State& s,
                   Appraisal& out) {
  out.simulated = anchor == sim::root();
  std::string detail = "chains to " + anchor_subject;
  detail += s.crls.empty() ? " (no collateral: revocation not checked)" : ", not revoked";
  out.checks.pass("pck.chain", detail);
}

void record_extensions(const PckExtensions& ext, Appraisal& out) {
  out.claims["fmspc"] = hex_encode(ext.fmspc);
  out.claims["pce_id"] = hex_encode(ext.pce_id);
  out.checks.pass("pck.extensions", "FMSPC " + hex_encode(ext.fmspc) + ", PCE-ID " + hex_encode(ext.pce_id));
}

bool check_pck_chain(State& s, std::span<const crypto::Certificate> anchors, TimePoint at, Appraisal& out) {
  if (s.known_pck) {
    s.pck_chain = s.known_pck->chain;
    record_anchor(*s.anchor, s.known_pck->anchor_subject, s, out);
    return true;
  }
  auto anchor = verify_to_anchor(*s.cache, s.pck_chain, anchors, s.crls, at);
  if (!anchor) return out.checks.fail("pck.chain", anchor.error().message);
  s.anchor = *anchor;
  // A root carried in the quote must be the trusted one itself, byte for
  // byte: an altered copy proves nothing and must not pass unnoticed.
  const crypto::Certificate& top = s.pck_chain.back();
  if (top.subject() == top.issuer() && !(top == **anchor)) {
    return out.checks.fail("pck.chain", "the quote's root certificate differs from the trusted " +
                                            (*anchor)->subject());
  }
  record_anchor(**anchor, (*anchor)->subject(), s, out);
  return true;
}

bool check_pck_extensions(State& s, Appraisal& out) {
  if (s.known_pck) {
    s.pck = s.known_pck->extensions;
    s.pck_key = s.known_pck->leaf_key;
    record_extensions(s.pck, out);
    return true;
  }
  auto ext = parse_pck_extensions(s.pck_chain.front());
  if (!ext) return out.checks.fail("pck.extensions", ext.error().message);
  s.pck = *ext;
  record_extensions(s.pck, out);
  return true;
}

bool check_qe_report_signature(State& s, Appraisal& out) {
  if (!s.pck_key) {
    auto key = s.pck_chain.front().ec_public_key();
    if (!key || key->curve() != crypto::EcCurve::P256) {
      return out.checks.fail("qe_report.signature", "the PCK certificate's key is not ECDSA P-256");
    }
    s.pck_key = *key;
  }
  auto r = crypto::ecdsa_verify(*s.pck_key, crypto::HashAlg::Sha256, s.quote.certification.qe_report_raw,
                                s.quote.certification.qe_report_signature, crypto::SigFormat::Raw);
  if (!r) return out.checks.fail("qe_report.signature", "the QE report is not signed by the PCK key");
  return out.checks.pass("qe_report.signature");
}

// The QE vouches for the attestation key by putting SHA-256(key || QE
// authentication data) in the first half of its report data, zeros after.
bool check_attestation_key_binding(const State& s, Appraisal& out) {
  crypto::Hasher h(crypto::HashAlg::Sha256);
  h.update(s.quote.attestation_key);
  h.update(s.quote.certification.qe_auth_data);
  const Bytes expected = h.finish();
  const auto& rd = s.quote.certification.qe_report.report_data;
  const bool hash_ok = std::equal(expected.begin(), expected.end(), rd.begin());
  const bool zeros_ok = std::all_of(rd.begin() + 32, rd.end(), [](std::uint8_t b) { return b == 0; });
  if (!hash_ok) {
    return out.checks.fail("qe_report.key_binding",
                           "the QE report does not bind the attestation key (SHA-256 of key and auth data differs)");
  }
  if (!zeros_ok) return out.checks.fail("qe_report.key_binding", "the QE report data's second half is not zero");
  return out.checks.pass("qe_report.key_binding");
}

// The attestation key as a point, from the memo when one is at hand.
Result<crypto::EcPublicKey> attestation_key(const State& s, const PreparedCollateral* collateral) {
  const auto& raw = s.quote.attestation_key;
  if (!collateral) return crypto::EcPublicKey::from_raw(crypto::EcCurve::P256, raw);
  const std::string id(as_chars(raw));
  auto& memo = collateral->memo();
  {
    std::lock_guard lock(memo.mu);
    if (auto it = memo.attestation_keys.find(id); it != memo.attestation_keys.end()) return it->second;
  }
  auto key = crypto::EcPublicKey::from_raw(crypto::EcCurve::P256, raw);
  if (!key) return key;
  std::lock_guard lock(memo.mu);
  if (memo.attestation_keys.size() >= PreparedCollateral::Memo::kMaxPckChains) memo.attestation_keys.clear();
  memo.attestation_keys.emplace(id, *key);
  return key;
}

bool check_quote_signature(const State& s, const PreparedCollateral* collateral, Appraisal& out) {
  auto key = attestation_key(s, collateral);
  if (!key) return out.checks.fail("quote.signature", "the attestation key is not a P-256 point");
  auto r = crypto::ecdsa_verify(*key, crypto::HashAlg::Sha256, s.quote.signed_region, s.quote.signature,
                                crypto::SigFormat::Raw);
  if (!r) return out.checks.fail("quote.signature", "the quote is not signed by its attestation key");
  return out.checks.pass("quote.signature");
}

// The quote's PCK chain, when the collateral's memo holds it as verified
// under one of `anchors` at `at`; sets s.known_pck and s.anchor.
void find_verified_pck(const PreparedCollateral& c, std::span<const crypto::Certificate> anchors, TimePoint at,
                       State& s) {
  auto& memo = c.memo();
  std::lock_guard lock(memo.mu);
  auto it = memo.pck.find(s.quote.certification.pck_chain_pem);
  if (it == memo.pck.end()) return;
  for (const auto& v : it->second) {
    if (!v.window.contains(at)) continue;
    for (const auto& a : anchors) {
      if (a == v.anchor) {
        s.known_pck = v;
        s.anchor = &a;
        return;
      }
    }
  }
}

void remember_pck(const PreparedCollateral& c, const State& s) {
  Window w;
  for (const auto& cert : s.pck_chain) w.narrow(cert);
  w.narrow(*s.anchor);
  for (const auto& crl : s.crls) w.narrow(crl);
  VerifiedPck v{*s.anchor,         w, s.pck_chain, *s.pck_key, s.pck, s.pck_chain.front().subject(),
                s.anchor->subject()};
  auto& memo = c.memo();
  std::lock_guard lock(memo.mu);
  if (memo.pck_count >= PreparedCollateral::Memo::kMaxPckChains) {
    memo.pck.clear();
    memo.pck_count = 0;
  }
  memo.pck[s.quote.certification.pck_chain_pem].push_back(std::move(v));
  ++memo.pck_count;
}

// Every piece of collateral must be current at `at`: a verdict holds only
// inside the window where all of them are.
bool check_collateral_validity(const State& s, TimePoint at, Appraisal& out) {
  const TcbInfo& tcb = s.collateral->tcb_info;
  const QeIdentity& qe = s.collateral->qe_identity;
  const auto now = std::chrono::time_point_cast<std::chrono::seconds>(at);
  struct Piece {
    std::string name;
    std::chrono::sys_seconds from;
    std::optional<std::chrono::sys_seconds> until;
  };
  std::vector<Piece> pieces{{"TCB Info", tcb.issue_date, tcb.next_update},
                            {"QE Identity", qe.issue_date, qe.next_update}};
  pieces.push_back({"root CA CRL", s.crls[0].this_update(), s.crls[0].next_update()});
  pieces.push_back({"PCK CRL", s.crls[1].this_update(), s.crls[1].next_update()});
  for (const auto& p : pieces) {
    if (!p.until) return out.checks.fail("collateral.validity", p.name + " has no next update time");
    if (now < p.from) {
      return out.checks.fail("collateral.validity",
                             p.name + " is not yet valid: issued " + format_rfc3339(p.from) + ", after " + format_rfc3339(now));
    }
    if (now >= *p.until) {
      return out.checks.fail("collateral.validity", "collateral expired: " + p.name + " was due for update at " +
                                                        format_rfc3339(*p.until) + ", before " + format_rfc3339(now));
    }
  }
  return out.checks.pass("collateral.validity", "current at " + format_rfc3339(now));
}

// Collateral is parsed and its validity window checked before any chain, so
// that stale collateral is reported as such rather than as a chain error.
bool check_collateral(const PreparedCollateral::Parsed& c, State& s, TimePoint at, Appraisal& out) {
  s.collateral = &c;
  s.crls = c.crls;
  out.checks.pass("collateral.crls", "root CA CRL and PCK CRL (" + c.pck_crl_issuer + ")");
  out.checks.pass("collateral.tcb_info.parse");
  out.checks.pass("collateral.qe_identity.parse");
  return check_collateral_validity(s, at, out);
}

// A signed collateral body: its issuer chain must end at the anchor that
// vouched for the PCK chain (sim collateral cannot bless a real quote, nor
// the reverse), unrevoked under the root CA CRL, and its signature must
// cover the exact text.
bool check_signed_body(std::string_view check, const std::vector<crypto::Certificate>& chain, std::string_view text,
                       ByteView signature, const State& s, TimePoint at, Appraisal& out, Window& window) {
  const std::string name(check);
  if (chain.empty()) return out.checks.fail(name + ".chain", "the issuer chain is empty");
  auto r = s.cache->verify_chain(chain, *s.anchor, std::span(&s.crls[0], 1), at);
  if (!r) return out.checks.fail(name + ".chain", r.error().message);
  for (const auto& cert : chain) window.narrow(cert);
  out.checks.pass(name + ".chain", "signed by " + chain.front().subject());
  return out.checks.record(name + ".signature", verify_signed_json(text, signature, chain.front()));
}

// Both signed bodies, or what the memo says of them under this anchor.
bool check_signed_bodies(const PreparedCollateral& prepared, const State& s, TimePoint at, Appraisal& out) {
  auto& memo = prepared.memo();
  {
    std::lock_guard lock(memo.mu);
    for (const auto& v : memo.bodies) {
      if (v.anchor == *s.anchor && v.window.contains(at)) {
        out.checks.pass("collateral.tcb_info.chain", "signed by " + v.tcb_info_signer);
        out.checks.pass("collateral.tcb_info.signature");
        out.checks.pass("collateral.qe_identity.chain", "signed by " + v.qe_identity_signer);
        out.checks.pass("collateral.qe_identity.signature");
        return true;
      }
    }
  }
  const auto& c = prepared.parsed();
  Window w;
  w.narrow(*s.anchor);
  w.narrow(c.crls[0]);
  if (!check_signed_body("collateral.tcb_info", c.tcb_info_chain, c.tcb_info_text, c.tcb_info_signature, s, at, out,
                         w) ||
      !check_signed_body("collateral.qe_identity", c.qe_identity_chain, c.qe_identity_text, c.qe_identity_signature,
                         s, at, out, w)) {
    return false;
  }
  std::lock_guard lock(memo.mu);
  memo.bodies.push_back({*s.anchor, w, c.tcb_info_chain.front().subject(), c.qe_identity_chain.front().subject()});
  return true;
}

std::string status_detail(const TcbMatch& m) {
  std::string d(tcb_status_name(m.status));
  if (!m.tcb_date.empty()) d += ", TCB date " + m.tcb_date;
  if (!m.advisories.empty()) {
    d += ", advisories";
    for (const auto& a : m.advisories) d += " " + a;
  }
  return d;
}

void verify_with_collateral(const PreparedCollateral& prepared, State& s, TimePoint at, Appraisal& out) {
  const bool tdx = s.quote.is_tdx();
  if (!check_signed_bodies(prepared, s, at, out)) return;
  const TcbInfo& tcb = prepared.parsed().tcb_info;
  const QeIdentity& qe = prepared.parsed().qe_identity;
  if (!out.checks.record("tcb_info.applies", check_tcb_info_applies(tcb, s.pck, tdx),
                         "FMSPC " + hex_encode(s.pck.fmspc) + ", TCB evaluation data number " +
                             std::to_string(tcb.tcb_evaluation_data_number))) {
    return;
  }
  if (!out.checks.record("qe_identity.applies", check_qe_identity_applies(qe, tdx))) return;
  if (const TdReport* td = s.quote.td_report()) {
    if (!out.checks.record("tdx_module.identity", check_tdx_module(tcb, *td))) return;
  }
  auto qe_match = match_qe_identity(qe, s.quote.certification.qe_report);
  if (!qe_match) {
    out.checks.fail("qe_identity.match", qe_match.error().message);
    return;
  }
  out.checks.pass("qe_identity.match", "QE " + status_detail(*qe_match));
  auto platform = match_tcb_level(tcb, s.pck, s.quote.td_report());
  if (!platform) {
    out.checks.fail("tcb.level", platform.error().message);
    return;
  }
  const TcbMatch folded = fold_status(*platform, *qe_match);
  out.tcb_status = folded.status;
  out.advisories = folded.advisories;
  if (!folded.tcb_date.empty()) out.claims["tcb_date"] = folded.tcb_date;
  if (folded.status == TcbStatus::NotSupported) {
    out.checks.fail("tcb.level", "no TCB level of the TCB Info matches this platform: TCB not supported");
    return;
  }
  out.checks.pass("tcb.level", status_detail(folded));
}

void verify(ByteView data, const PreparedCollateral* collateral, std::span<const crypto::Certificate> anchors,
            TimePoint at, Appraisal& out, VerificationCache& cache) {
  State s;
  s.cache = &cache;
  if (!check_parse(data, s, out)) return;
  if (collateral) find_verified_pck(*collateral, anchors, at, s);
  if (!check_pck_chain_parse(s, out)) return;
  if (collateral && !check_collateral(collateral->parsed(), s, at, out)) return;
  if (!check_pck_chain(s, anchors, at, out)) return;
  if (!check_pck_extensions(s, out)) return;
  if (!check_qe_report_signature(s, out)) return;
  if (!check_attestation_key_binding(s, out)) return;
  if (!check_quote_signature(s, collateral, out)) return;
  if (!collateral) {
    out.checks.pass("collateral", "none supplied: TCB status and revocation not appraised");
    return;
  }
  if (!s.known_pck) remember_pck(*collateral, s);
  verify_with_collateral(*collateral, s, at, out);
}

// The checks preparation passed before the one that failed.
void record_preparation_failure(const Error& e, Appraisal& out) {
  for (const char* check : {"collateral.crls", "collateral.tcb_info.parse", "collateral.qe_identity.parse"}) {
    if (e.code == check) break;
    out.checks.pass(check);
  }
  out.checks.fail(e.code, e.message);
}

}  // namespace

const crypto::Certificate& intel_sgx_root() {
  static const crypto::Certificate root = crypto::Certificate::from_pem(kIntelSgxRootPem).value();
  return root;
}

void verify_quote(ByteView data, const Collateral* collateral, std::span<const crypto::Certificate> anchors,
                  TimePoint at, Appraisal& out, VerificationCache& cache) {
  if (!collateral) {
    verify(data, nullptr, anchors, at, out, cache);
    return;
  }
  auto prepared = PreparedCollateral::prepare(*collateral, cache);
  if (!prepared) {
    // The quote's own parse still comes first, as with prepared collateral.
    State s;
    s.cache = &cache;
    if (!check_parse(data, s, out)) return;
    if (!check_pck_chain_parse(s, out)) return;
    record_preparation_failure(prepared.error(), out);
    return;
  }
  verify(data, &*prepared, anchors, at, out, cache);
}

void verify_quote(ByteView data, const PreparedCollateral& collateral,
                  std::span<const crypto::Certificate> anchors, TimePoint at, Appraisal& out,
                  VerificationCache& cache) {
  verify(data, &collateral, anchors, at, out, cache);
}

}  // namespace ward::attest::dcap
