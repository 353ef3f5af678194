// Attestation verification throughput, each verifier beside its floor: the
// public-key verifications that no correct verification of that evidence can
// skip, timed alone on objects parsed beforehand.
//
//   dcap.verify_quote  dcap-qvl's TDX quote (v4, FMSPC B0C06F000000) with its
//                      collateral parsed once into a Collateral, at
//                      2025-07-01T00:00:00Z (UpToDate): every check runs each
//                      time, with the collateral prepared anew, but the
//                      process's dcap::VerificationCache knows the chains (as
//                      it does in a verifier after its first quote), so they
//                      are neither decoded nor verified again
//   dcap.verify_quote.cold  the same with an empty VerificationCache each
//                      time: nothing is remembered from one verification to
//                      the next, every chain is verified and every
//                      certificate but the built-in root decoded; within
//                      one, the root CA CRL is checked once for the two
//                      chains it covers
//   dcap.verify_quote.prepared  the same quote with the collateral prepared
//                      once (dcap::PreparedCollateral): the verdicts on the
//                      collateral's signatures and on the PCK chain are reused,
//                      every other check runs each time
//   snp.verify         trustee's test-report.bin with test-vcek.der (Milan),
//                      at 2025-06-01T00:00:00Z
//   dcap.floor         its floor: 9 ECDSA P-256 verifications (listed at dcap_floor)
//   dcap.floor.per_quote  what remains per quote when the collateral and the
//                      PCK chain were verified once: 2 ECDSA
//   dcap.part.*        the steps verify_quote takes, timed one by one, to show
//                      where the time above the floor goes
//   snp.floor          its floor: 1 ECDSA P-384 and 2 RSA-PSS 4096 (at snp_floor)
//
// Method: a warm-up round of every row, then R rounds in which every row runs
// for at least S seconds in turn, so that noise from other work on a shared
// machine falls on all rows alike. A row's rate in a round is operations
// divided by the round's wall time; the table gives the best and the median
// round. Every operation's verdict is checked; a failure ends the program.
//
// ECDSA/op and RSA/op are counted, not estimated: this executable exports
// ECDSA_verify and RSA_public_decrypt (CMake ENABLE_EXPORTS), and libcrypto
// calls them through its PLT, so each call lands here, counts, and goes on to
// libcrypto's own. Every ECDSA verification of OpenSSL 3 (EVP_DigestVerify,
// X509_verify, X509_CRL_verify, inside X509_verify_cert too) ends in
// ECDSA_verify, and every RSA one (PKCS#1 v1.5 and PSS) in RSA_public_decrypt.
//
// usage: attest_bench [--rounds R] [--round-seconds S] [--testdata DIR]
//   defaults 5, 0.5 and ../shared/testdata/attestation (run from the repository root)
#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <openssl/crypto.h>

#include "attest/dcap/collateral.h"
#include "attest/dcap/quote.h"
#include "attest/dcap/tcb.h"
#include "attest/dcap/verify.h"
#include "attest/snp.h"
#include "base/bytes.h"
#include "base/file.h"
#include "crypto/ecdsa.h"
#include "crypto/x509.h"

namespace {

std::uint64_t g_ecdsa_verifies = 0;
std::uint64_t g_rsa_verifies = 0;

template <class Fn>
Fn next_definition(const char* name) {
  void* fn = dlsym(RTLD_NEXT, name);
  if (fn == nullptr) {
    std::fprintf(stderr, "attest_bench: libcrypto's %s not found\n", name);
    std::abort();
  }
  return reinterpret_cast<Fn>(fn);
}

}  // namespace

// The signatures are OpenSSL 3's; the headers that declare them are not
// included, so that the counters do not depend on deprecated declarations.
extern "C" int ECDSA_verify(int type, const unsigned char* digest, int digest_len, const unsigned char* sig,
                            int sig_len, EC_KEY* key) {
  using Fn = int (*)(int, const unsigned char*, int, const unsigned char*, int, EC_KEY*);
  static const Fn next = next_definition<Fn>("ECDSA_verify");
  ++g_ecdsa_verifies;
  return next(type, digest, digest_len, sig, sig_len, key);
}

extern "C" int RSA_public_decrypt(int from_len, const unsigned char* from, unsigned char* to, RSA* rsa,
                                  int padding) {
  using Fn = int (*)(int, const unsigned char*, unsigned char*, RSA*, int);
  static const Fn next = next_definition<Fn>("RSA_public_decrypt");
  ++g_rsa_verifies;
  return next(from_len, from, to, rsa, padding);
}

namespace {

using namespace std::chrono;
namespace attest = ward::attest;
namespace dcap = ward::attest::dcap;
namespace crypto = ward::crypto;
using ward::Bytes;
using ward::ByteView;

[[noreturn]] void die(const std::string& message) {
  std::fprintf(stderr, "attest_bench: %s\n", message.c_str());
  std::exit(1);
}

template <class T>
T must(ward::Result<T> r, std::string_view what) {
  if (!r) die(std::string(what) + ": " + r.error().message);
  return std::move(*r);
}

Bytes read_bytes(const std::string& path) {
  return must(ward::read_file(path, 4 << 20), path);
}

std::string read_text(const std::string& path) {
  const Bytes b = read_bytes(path);
  return std::string(b.begin(), b.end());
}

std::string why(const attest::Appraisal& a) {
  const attest::CheckResult* f = a.checks.first_failure();
  return f ? f->name + ": " + f->detail : "no checks ran";
}

// Everything the DCAP rows need, parsed once.
struct Dcap {
  Bytes quote_bytes;
  dcap::Collateral collateral;
  dcap::PreparedCollateral prepared;
  dcap::Quote quote;
  std::vector<crypto::Certificate> pck_chain;  // PCK leaf, PCK Platform CA, root, as the quote carries them
  std::vector<crypto::Certificate> tcb_chain;  // TCB Signing, root
  crypto::Crl root_crl;
  crypto::Crl pck_crl;
  crypto::EcPublicKey attestation_key;
  crypto::EcPublicKey pck_key;
  crypto::EcPublicKey tcb_signing_key;
  Bytes pck_leaf_der;
  system_clock::time_point at = sys_days{year{2025} / 7 / 1};

  const crypto::Certificate& root() const { return dcap::intel_sgx_root(); }
  const crypto::Certificate& pck_leaf() const { return pck_chain[0]; }
  const crypto::Certificate& platform_ca() const { return pck_chain[1]; }
  const crypto::Certificate& tcb_signing() const { return tcb_chain[0]; }

  static Dcap load(const std::string& dir) {
    Bytes quote_bytes = read_bytes(dir + "/tdx-sgx/dcap-qvl/tdx_quote");
    dcap::Collateral c = must(
        dcap::parse_collateral(read_text(dir + "/tdx-sgx/dcap-qvl/tdx_quote_collateral.json")), "collateral");
    dcap::Quote q = must(dcap::parse_quote(quote_bytes), "quote");
    auto pck_chain = must(crypto::parse_pem_chain(q.certification.pck_chain_pem), "PCK chain");
    auto tcb_chain = must(crypto::parse_pem_chain(c.tcb_info_issuer_chain), "TCB Info issuer chain");
    if (pck_chain.size() != 3 || tcb_chain.size() != 2)
      die("unexpected chain lengths in the DCAP test vector");
    if (c.qe_identity_issuer_chain != c.tcb_info_issuer_chain)
      die("the QE Identity has another issuer chain");
    auto root_crl = must(crypto::Crl::from_der(c.root_ca_crl), "root CA CRL");
    auto pck_crl = must(crypto::Crl::from_der(c.pck_crl), "PCK CRL");
    auto attestation_key =
        must(crypto::EcPublicKey::from_raw(crypto::EcCurve::P256, q.attestation_key), "AK");
    auto pck_key = must(pck_chain[0].ec_public_key(), "PCK key");
    auto tcb_signing_key = must(tcb_chain[0].ec_public_key(), "TCB Signing key");
    Bytes pck_leaf_der = pck_chain[0].to_der();
    auto prepared = must(dcap::PreparedCollateral::prepare(c), "prepared collateral");
    return Dcap{std::move(quote_bytes), std::move(c),
                std::move(prepared),    std::move(q),           std::move(pck_chain),
                std::move(tcb_chain),   std::move(root_crl),
                std::move(pck_crl),     std::move(attestation_key),
                std::move(pck_key),     std::move(tcb_signing_key),
                std::move(pck_leaf_der)};
  }
};

bool verify_quote(const Dcap& d) {
  attest::Appraisal a;
  dcap::verify_quote(d.quote_bytes, &d.collateral, std::span(&d.root(), 1), d.at, a);
  return a.accepted() && a.tcb_status == attest::TcbStatus::UpToDate;
}

bool verify_quote_cold(const Dcap& d) {
  attest::Appraisal a;
  dcap::VerificationCache empty;
  dcap::verify_quote(d.quote_bytes, &d.collateral, std::span(&d.root(), 1), d.at, a, empty);
  return a.accepted() && a.tcb_status == attest::TcbStatus::UpToDate;
}

bool verify_quote_prepared(const Dcap& d) {
  attest::Appraisal a;
  dcap::verify_quote(d.quote_bytes, d.prepared, std::span(&d.root(), 1), d.at, a);
  return a.accepted() && a.tcb_status == attest::TcbStatus::UpToDate;
}

// The DCAP floor: nine ECDSA P-256 verifications. Each proves something no
// other one does, so a verifier that skips any of them accepts a forgery:
//   1 quote signature by the attestation key      binds the TD report
//   2 QE report signature by the PCK key          binds the attestation key
//   3 PCK certificate, signed by the Platform CA  the PCK key is Intel's
//   4 PCK Platform CA certificate, by the root    the Platform CA is Intel's
//   5 PCK CRL, signed by the Platform CA          the PCK is not revoked
//   6 root CA CRL, signed by the root             the Platform CA and TCB Signing are not revoked
//   7 TCB Signing certificate, by the root        the collateral signer is Intel's
//   8 TCB Info signature by TCB Signing           the TCB levels are Intel's
//   9 QE Identity signature by TCB Signing        the QE identity is Intel's
// Not counted: the root's self-signature (the root is pinned by its bytes)
// and a second check of TCB Signing for the QE Identity (the same
// certificate as for the TCB Info). A verifier that remembers verified
// chains across quotes (dcap.verify_quote) can go below this floor; the
// floor is what one verification from scratch, with the collateral merely
// parsed, costs (dcap.verify_quote.cold).
bool dcap_floor(const Dcap& d) {
  using crypto::HashAlg;
  using crypto::SigFormat;
  const auto& q = d.quote;
  return crypto::ecdsa_verify(d.attestation_key, HashAlg::Sha256, q.signed_region, q.signature,
                              SigFormat::Raw) &&
         crypto::ecdsa_verify(d.pck_key, HashAlg::Sha256, q.certification.qe_report_raw,
                              q.certification.qe_report_signature, SigFormat::Raw) &&
         d.pck_leaf().verify_signature(d.platform_ca()) && d.platform_ca().verify_signature(d.root()) &&
         d.pck_crl.verify_signature(d.platform_ca()) && d.root_crl.verify_signature(d.root()) &&
         d.tcb_signing().verify_signature(d.root()) &&
         crypto::ecdsa_verify(d.tcb_signing_key, HashAlg::Sha256, ward::as_bytes(d.collateral.tcb_info),
                              d.collateral.tcb_info_signature, SigFormat::Raw) &&
         crypto::ecdsa_verify(d.tcb_signing_key, HashAlg::Sha256, ward::as_bytes(d.collateral.qe_identity),
                              d.collateral.qe_identity_signature, SigFormat::Raw);
}

// What each quote needs when its collateral and its PCK chain were verified
// beforehand (dcap::PreparedCollateral keeps those verdicts, each for the
// window in which every certificate and CRL involved is valid): the quote
// signature and the QE report signature, the two that cover this quote's
// own bytes. Two ECDSA P-256 verifications.
bool dcap_floor_per_quote(const Dcap& d) {
  using crypto::HashAlg;
  using crypto::SigFormat;
  const auto& q = d.quote;
  return crypto::ecdsa_verify(d.attestation_key, HashAlg::Sha256, q.signed_region, q.signature,
                              SigFormat::Raw) &&
         crypto::ecdsa_verify(d.pck_key, HashAlg::Sha256, q.certification.qe_report_raw,
                              q.certification.qe_report_signature, SigFormat::Raw);
}

// The steps of verify_quote, each as verify_quote does it.
bool part_parse_quote(const Dcap& d) {
  return dcap::parse_quote(d.quote_bytes).has_value();
}

// As the cold verify_quote decodes them, with nothing remembered: the QE
// Identity's issuer chain is the TCB Info's, text for text, and is decoded
// once; the root, in both chains, is the built-in one. Three certificates
// are decoded.
bool part_pem_chains(const Dcap& d) {
  dcap::VerificationCache fresh;
  return fresh.decode(d.quote.certification.pck_chain_pem) &&
         fresh.decode(d.collateral.tcb_info_issuer_chain);
}

// One certificate from DER: OpenSSL 3.0 decodes its public key through the
// provider decoders (a decoder context built per key, about 90% of the
// time), which is most of the cost of decoding a chain.
bool part_certificate(const Dcap& d) {
  return crypto::Certificate::from_der(d.pck_leaf_der).has_value();
}

bool part_attestation_key(const Dcap& d) {
  return crypto::EcPublicKey::from_raw(crypto::EcCurve::P256, d.quote.attestation_key).has_value();
}

bool part_crls(const Dcap& d) {
  return crypto::Crl::from_der(d.collateral.root_ca_crl) && crypto::Crl::from_der(d.collateral.pck_crl);
}

bool part_json(const Dcap& d) {
  return dcap::parse_tcb_info(d.collateral.tcb_info) && dcap::parse_qe_identity(d.collateral.qe_identity);
}

bool part_chain_pck(const Dcap& d) {
  const crypto::Crl crls[] = {d.root_crl, d.pck_crl};
  return crypto::verify_chain(d.pck_leaf(), std::span(d.pck_chain).subspan(1), std::span(&d.root(), 1), crls,
                              d.at)
      .has_value();
}

bool part_chain_collateral(const Dcap& d) {
  return crypto::verify_chain(d.tcb_signing(), std::span(d.tcb_chain).subspan(1), std::span(&d.root(), 1),
                              std::span(&d.root_crl, 1), d.at)
      .has_value();
}

// The four signatures outside X.509, with the key extraction verify_quote does.
bool part_signatures(const Dcap& d) {
  using crypto::HashAlg;
  using crypto::SigFormat;
  const auto& q = d.quote;
  auto ak = crypto::EcPublicKey::from_raw(crypto::EcCurve::P256, q.attestation_key);
  auto pck = d.pck_leaf().ec_public_key();
  return ak && pck &&
         crypto::ecdsa_verify(*ak, HashAlg::Sha256, q.signed_region, q.signature, SigFormat::Raw) &&
         crypto::ecdsa_verify(*pck, HashAlg::Sha256, q.certification.qe_report_raw,
                              q.certification.qe_report_signature, SigFormat::Raw) &&
         dcap::verify_signed_json(d.collateral.tcb_info, d.collateral.tcb_info_signature, d.tcb_signing()) &&
         dcap::verify_signed_json(d.collateral.qe_identity, d.collateral.qe_identity_signature,
                                  d.tcb_signing());
}

struct Snp {
  Bytes report_bytes;
  attest::snp::Report report;
  crypto::Certificate vcek;
  crypto::Certificate ask;
  crypto::Certificate ark;
  crypto::EcPublicKey vcek_key;
  Bytes signature;  // raw r||s
  system_clock::time_point at = sys_days{year{2025} / 6 / 1};

  static Snp load(const std::string& dir) {
    Bytes report_bytes = read_bytes(dir + "/snp/trustee/test-report.bin");
    auto report = must(attest::snp::parse_report(report_bytes), "SNP report");
    auto vcek = must(crypto::Certificate::from_der(read_bytes(dir + "/snp/trustee/test-vcek.der")), "VCEK");
    const auto& milan = attest::snp::amd_roots().front();
    if (milan.product != attest::snp::Product::Milan) die("the first built-in AMD roots are not Milan's");
    auto vcek_key = must(vcek.ec_public_key(), "VCEK key");
    auto signature = must(
        crypto::ecdsa_raw_from_little_endian(crypto::EcCurve::P384, report.signature_r, report.signature_s),
        "report signature");
    return Snp{std::move(report_bytes), std::move(report),   std::move(vcek), milan.ask, milan.ark,
               std::move(vcek_key),     std::move(signature)};
  }
};

bool snp_verify(const Snp& s) {
  attest::Appraisal a;
  attest::snp::verify(s.report_bytes, std::span(&s.vcek, 1), s.at, a);
  return a.accepted();
}

// The SNP floor: the report's ECDSA P-384 signature by the VCEK, the VCEK
// certificate (RSA-PSS 4096) by the ASK, and the ASK by the ARK. The ARK's
// self-signature is not counted: the ARK is pinned. The ASK is built in too,
// so a verifier could check it once per process rather than per report; the
// floor still counts it, as a verifier of a supplied ASK must.
bool snp_floor(const Snp& s) {
  return crypto::ecdsa_verify(s.vcek_key, crypto::HashAlg::Sha384, s.report.signed_region, s.signature,
                              crypto::SigFormat::Raw) &&
         s.vcek.verify_signature(s.ask) && s.ask.verify_signature(s.ark);
}

struct Row {
  std::string key;
  std::string what;
  std::function<bool()> op;
  std::vector<double> rates;  // operations per second, one per round
  std::uint64_t ecdsa = 0;    // per operation
  std::uint64_t rsa = 0;

  double best() const { return *std::max_element(rates.begin(), rates.end()); }
  double median() const {
    std::vector<double> r = rates;
    std::sort(r.begin(), r.end());
    const std::size_t n = r.size();
    return n % 2 ? r[n / 2] : (r[n / 2 - 1] + r[n / 2]) / 2;
  }
};

void count(Row& row) {
  g_ecdsa_verifies = g_rsa_verifies = 0;
  if (!row.op()) die(row.key + " failed");
  row.ecdsa = g_ecdsa_verifies;
  row.rsa = g_rsa_verifies;
}

double run_round(Row& row, double seconds) {
  std::uint64_t n = 0;
  const auto start = steady_clock::now();
  double elapsed = 0;
  do {
    if (!row.op()) die(row.key + " failed during timing");
    ++n;
    elapsed = duration<double>(steady_clock::now() - start).count();
  } while (elapsed < seconds);
  return static_cast<double>(n) / elapsed;
}

Row* row_named(std::vector<Row>& rows, std::string_view key) {
  for (Row& r : rows) {
    if (r.key == key) return &r;
  }
  die("no row " + std::string(key));
}

struct Options {
  int rounds = 5;
  double round_seconds = 0.5;
  std::string testdata = "../shared/testdata/attestation";
};

Options parse_options(int argc, char** argv) {
  Options o;
  auto number = [&](int i, auto& out) {
    if (i >= argc) die(std::string(argv[i - 1]) + " needs a value");
    const std::string_view v = argv[i];
    if (std::from_chars(v.data(), v.data() + v.size(), out).ec != std::errc{} || out <= 0) {
      die("bad value '" + std::string(v) + "' for " + argv[i - 1]);
    }
  };
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--rounds") {
      number(++i, o.rounds);
    } else if (a == "--round-seconds") {
      number(++i, o.round_seconds);
    } else if (a == "--testdata" && i + 1 < argc) {
      o.testdata = argv[++i];
    } else {
      die("usage: attest_bench [--rounds R] [--round-seconds S] [--testdata DIR]");
    }
  }
  return o;
}

std::string counted(std::uint64_t n, bool measured) {
  return measured ? std::to_string(n) : "?";
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse_options(argc, argv);
  const Dcap d = Dcap::load(o.testdata);
  const Snp s = Snp::load(o.testdata);

  {
    attest::Appraisal a;
    dcap::verify_quote(d.quote_bytes, &d.collateral, std::span(&d.root(), 1), d.at, a);
    if (!a.accepted()) die("the DCAP quote does not verify: " + why(a));
    if (a.tcb_status != attest::TcbStatus::UpToDate) die("the DCAP quote is not UpToDate");
    // Fills the prepared collateral's memo, as a verifier's first quote does.
    if (!verify_quote_prepared(d)) die("the DCAP quote does not verify with prepared collateral");
    attest::Appraisal b;
    attest::snp::verify(s.report_bytes, std::span(&s.vcek, 1), s.at, b);
    if (!b.accepted()) die("the SNP report does not verify: " + why(b));
  }

  std::vector<Row> rows;
  auto add = [&](std::string key, std::string what, bool (*fn)(const Dcap&)) {
    rows.push_back({std::move(key), std::move(what), [fn, &d] { return fn(d); }, {}, 0, 0});
  };
  auto add_snp = [&](std::string key, std::string what, bool (*fn)(const Snp&)) {
    rows.push_back({std::move(key), std::move(what), [fn, &s] { return fn(s); }, {}, 0, 0});
  };
  add("dcap.verify_quote", "dcap::verify_quote, collateral parsed once, chains known to the process",
      verify_quote);
  add("dcap.verify_quote.cold", "dcap::verify_quote, collateral parsed once, nothing remembered",
      verify_quote_cold);
  add("dcap.verify_quote.prepared", "dcap::verify_quote, collateral prepared once (verdicts reused)",
      verify_quote_prepared);
  add("dcap.floor", "the 9 ECDSA P-256 verifications of a check from scratch", dcap_floor);
  add("dcap.floor.per_quote", "the 2 ECDSA left per quote once collateral and PCK chain are verified",
      dcap_floor_per_quote);
  add("dcap.part.parse_quote", "parse_quote", part_parse_quote);
  add("dcap.part.pem_chains", "VerificationCache::decode x2: PCK chain, the collateral issuer chain",
      part_pem_chains);
  add("dcap.part.certificate", "Certificate::from_der of the PCK certificate (1 of the 3 above)",
      part_certificate);
  add("dcap.part.attestation_key", "EcPublicKey::from_raw of the attestation key", part_attestation_key);
  add("dcap.part.crls", "Crl::from_der x2: root CA CRL, PCK CRL", part_crls);
  add("dcap.part.json", "parse_tcb_info + parse_qe_identity", part_json);
  add("dcap.part.chain_pck", "verify_chain PCK -> Platform CA -> root, 2 CRLs", part_chain_pck);
  add("dcap.part.chain_collateral", "verify_chain TCB Signing -> root, root CRL (once for both bodies)",
      part_chain_collateral);
  add("dcap.part.signatures", "quote, QE report, TCB Info, QE Identity signatures", part_signatures);
  add_snp("snp.verify", "snp::verify, report + VCEK, all checks", snp_verify);
  add_snp("snp.floor", "report P-384 + VCEK by ASK + ASK by ARK (RSA-PSS 4096)", snp_floor);

  for (Row& r : rows) count(r);
  // Without the counters' interposition (a static libcrypto) nothing counts.
  const bool measured = row_named(rows, "dcap.floor")->ecdsa == 9;

  std::printf(
      "attest_bench: %s; %ld cores; %d rounds of >= %.2f s per row, interleaved, after a warm-up round\n",
      OpenSSL_version(OPENSSL_VERSION), sysconf(_SC_NPROCESSORS_ONLN), o.rounds, o.round_seconds);
  std::fflush(stdout);
  for (Row& r : rows) run_round(r, o.round_seconds);
  for (int round = 0; round < o.rounds; ++round) {
    for (Row& r : rows) r.rates.push_back(run_round(r, o.round_seconds));
  }

  std::printf("\n%-28s %12s %12s %10s %6s %4s  %s\n", "row", "ops/s best", "ops/s median", "us/op best",
              "ECDSA", "RSA", "what");
  for (const Row& r : rows) {
    std::printf("%-28s %12.0f %12.0f %10.1f %6s %4s  %s\n", r.key.c_str(), r.best(), r.median(),
                1e6 / r.best(), counted(r.ecdsa, measured).c_str(), counted(r.rsa, measured).c_str(),
                r.what.c_str());
  }

  // Time per operation from the best rounds, of the parts the cold
  // verify_quote runs.
  auto us = [&](std::string_view key) { return 1e6 / row_named(rows, key)->best(); };
  const double parts = us("dcap.part.parse_quote") + us("dcap.part.pem_chains") + us("dcap.part.crls") +
                       us("dcap.part.json") + us("dcap.part.chain_pck") + us("dcap.part.chain_collateral") +
                       us("dcap.part.signatures");
  const Row& dv = *row_named(rows, "dcap.verify_quote");
  const Row& df = *row_named(rows, "dcap.floor");
  const Row& sv = *row_named(rows, "snp.verify");
  const Row& sf = *row_named(rows, "snp.floor");
  const Row& dc = *row_named(rows, "dcap.verify_quote.cold");
  std::printf(
      "\ndcap: verify_quote takes %.2fx the floor's time (best), %.2fx (median), chains known; goal <= 2x\n",
      df.best() / dv.best(), df.median() / dv.median());
  std::printf("dcap: verify_quote takes %.2fx the floor's time (best), %.2fx (median), nothing remembered\n",
              df.best() / dc.best(), df.median() / dc.median());
  std::printf(
      "dcap: the parts add up to %.0f us of the cold verify_quote's %.0f us; the rest is appraisal "
      "bookkeeping\n",
      parts, us("dcap.verify_quote.cold"));
  std::printf("dcap: verify_quote does %s ECDSA verifications (%s cold) where the floor does %s\n",
              counted(dv.ecdsa, measured).c_str(), counted(dc.ecdsa, measured).c_str(),
              counted(df.ecdsa, measured).c_str());
  const Row& dp = *row_named(rows, "dcap.verify_quote.prepared");
  const Row& dq = *row_named(rows, "dcap.floor.per_quote");
  std::printf("dcap: with prepared collateral verify_quote takes %.2fx the per-quote floor's time (best), %.2fx "
              "(median), and does %s ECDSA verifications where that floor does %s\n",
              dq.best() / dp.best(), dq.median() / dp.median(), counted(dp.ecdsa, measured).c_str(),
              counted(dq.ecdsa, measured).c_str());
  std::printf("snp: verify takes %.2fx the floor's time (best), %.2fx (median)\n", sf.best() / sv.best(),
              sf.median() / sv.median());
  if (!measured)
    std::printf("(ECDSA/RSA counts unavailable: the counting shims did not interpose libcrypto)\n");
  return 0;
}
