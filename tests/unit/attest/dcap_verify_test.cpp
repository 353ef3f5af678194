// The DCAP verifier against every Intel quote in ../shared/testdata (the
// verdicts of its EXPECTED.md), a byte-flip matrix over what each quote's
// signatures cover, and one failing variation per named check built with the
// simulated TEE's pieces.
#include <atomic>
#include <chrono>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "appraisal_testing.h"
#include "attest/dcap/quote.h"
#include "attest/dcap/quote_builder.h"
#include "attest/dcap/verify.h"
#include "attest/evidence.h"
#include "attest/sim.h"
#include "base/bytes.h"

namespace ward::attest::dcap {
namespace {

using namespace std::chrono;

constexpr std::string_view kDir = "../shared/testdata/attestation/tdx-sgx/";

std::string read_text(std::string_view relative) {
  std::ifstream in(std::string(kDir) + std::string(relative), std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

Bytes read_quote(std::string_view relative) {
  std::string text = read_text(relative);
  if (relative.ends_with(".hex")) {
    std::erase_if(text, [](char c) { return c == '\n' || c == '\r' || c == ' '; });
    if (text.starts_with("0x")) text.erase(0, 2);
    auto bytes = hex_decode(text);
    EXPECT_TRUE(bytes.has_value()) << relative;
    return bytes.value_or(Bytes{});
  }
  return to_bytes(text);
}

system_clock::time_point at(int y, unsigned m, unsigned d) { return sys_days{year{y} / m / d}; }

const system_clock::time_point kNow = at(2026, 11, 25);

Appraisal verify_real(std::string_view quote, std::optional<std::string_view> collateral, system_clock::time_point t) {
  std::optional<Collateral> c;
  if (collateral) {
    auto parsed = parse_collateral(read_text(*collateral));
    EXPECT_TRUE(parsed.has_value());
    c = *parsed;
  }
  Appraisal out;
  verify_quote(read_quote(quote), c ? &*c : nullptr, std::span(&intel_sgx_root(), 1), t, out);
  return out;
}

TEST(DcapRoot, ShouldEmbedTheIntelSgxRootCa) {
  const Bytes der = to_bytes(read_text("dcap-qvl/TrustedRootCA.der"));
  EXPECT_EQ(intel_sgx_root().to_der(), der);
  EXPECT_EQ(hex_encode(crypto::sha256(der)), "44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3");
}

TEST(DcapExpected, ShouldAcceptDcapQvlTdxQuoteAsUpToDateWithoutAdvisories) {
  const Appraisal a = verify_real("dcap-qvl/tdx_quote", "dcap-qvl/tdx_quote_collateral.json", at(2025, 7, 1));
  ASSERT_TRUE(a.accepted()) << why(a);
  EXPECT_EQ(a.platform, Platform::Tdx);
  EXPECT_FALSE(a.simulated);
  EXPECT_EQ(a.tcb_status, TcbStatus::UpToDate);
  EXPECT_TRUE(a.advisories.empty());
  EXPECT_EQ(a.claims.at("fmspc"), "b0c06f000000");
}

TEST(DcapExpected, ShouldRejectDcapQvlTdxQuoteOnceItsCollateralExpired) {
  const Appraisal a = verify_real("dcap-qvl/tdx_quote", "dcap-qvl/tdx_quote_collateral.json", at(2025, 8, 1));
  EXPECT_EQ(failed(a), "collateral.validity");
  EXPECT_NE(a.checks.first_failure()->detail.find("expired"), std::string::npos);
}

TEST(DcapExpected, ShouldRejectDcapQvlTdxQuoteBeforeItsCollateralWasIssued) {
  const Appraisal a = verify_real("dcap-qvl/tdx_quote", "dcap-qvl/tdx_quote_collateral.json", at(2025, 6, 1));
  EXPECT_EQ(failed(a), "collateral.validity");
}

TEST(DcapExpected, ShouldAcceptDcapQvlSgxQuoteAsConfigurationAndSwHardeningNeeded) {
  const Appraisal a = verify_real("dcap-qvl/sgx_quote", "dcap-qvl/sgx_quote_collateral.json", at(2025, 7, 1));
  ASSERT_TRUE(a.accepted()) << why(a);
  EXPECT_EQ(a.platform, Platform::Sgx);
  EXPECT_EQ(a.tcb_status, TcbStatus::ConfigurationAndSWHardeningNeeded);
  EXPECT_EQ(a.advisories, (std::vector<std::string>{"INTEL-SA-00289", "INTEL-SA-00615"}));
  EXPECT_EQ(a.claims.at("fmspc"), "00a067110000");
}

TEST(DcapExpected, ShouldFindNoTcbLevelForGoTdxGuestSprE4Quote) {
  const Appraisal a =
      verify_real("go-tdx-guest/tdx_prod_quote_SPR_E4.dat", "go-tdx-guest/derived_collateral_v4_SPR_E4.json",
                  at(2023, 6, 20));
  EXPECT_EQ(failed(a), "tcb.level");
  EXPECT_EQ(a.tcb_status, TcbStatus::NotSupported);
  for (const char* check : {"pck.chain", "qe_report.signature", "qe_report.key_binding", "quote.signature",
                            "collateral.tcb_info.signature", "collateral.qe_identity.signature"}) {
    bool passed = false;
    for (const auto& c : a.checks.results()) passed |= c.name == check && c.ok;
    EXPECT_TRUE(passed) << check;
  }
}

TEST(DcapExpected, ShouldReportExpiredCollateralForTheV5SampleAtAnyTime) {
  for (auto t : {at(2023, 6, 20), at(2024, 6, 1), at(2025, 7, 1), at(2026, 2, 2), at(2026, 6, 1)}) {
    const Appraisal a =
        verify_real("go-tdx-guest/quote_v5_sample.dat", "go-tdx-guest/derived_collateral_v5_sample.json", t);
    EXPECT_EQ(failed(a), "collateral.validity");
  }
  const Appraisal signatures_only = verify_real("go-tdx-guest/quote_v5_sample.dat", std::nullopt, kNow);
  EXPECT_TRUE(signatures_only.accepted()) << why(signatures_only);
  EXPECT_EQ(signatures_only.claims.at("quote_version"), "5");
}

class DcapWithoutCollateral : public testing::TestWithParam<const char*> {};

TEST_P(DcapWithoutCollateral, ShouldVerifySignaturesKeyBindingAndPckChain) {
  const Appraisal a = verify_real(GetParam(), std::nullopt, kNow);
  ASSERT_TRUE(a.accepted()) << why(a);
  EXPECT_FALSE(a.tcb_status.has_value());
  EXPECT_EQ(a.report_data.size(), 64u);
}

INSTANTIATE_TEST_SUITE_P(Testdata, DcapWithoutCollateral,
                         testing::Values("trustee/tdx_quote_5.dat", "trustee/tdx_quote_6.dat",
                                         "trustee/az-tdx-vtpm_td-quote.bin", "dcap-qvl/tdx-quote.hex",
                                         "dcap-qvl/quote-from-tappd.hex", "go-tdx-guest/ccel/cos-113-tdx-quote.dat",
                                         "trustee/occlum_quote.dat", "trustee/tdx_quote_4.dat",
                                         "go-tdx-guest/tdx_prod_quote_SPR_E4.dat", "dcap-qvl/tdx_quote",
                                         "dcap-qvl/sgx_quote"));

TEST(DcapExpected, ShouldReportTheDebugAttributeOfTrusteeQuote4ForThePolicyToRefuse) {
  const Appraisal a = verify_real("trustee/tdx_quote_4.dat", std::nullopt, kNow);
  ASSERT_TRUE(a.accepted()) << why(a);
  EXPECT_TRUE(a.debug);
  EvidenceBundle b{Platform::Tdx, read_quote("trustee/tdx_quote_4.dat"), std::nullopt, {}};
  const Appraisal appraised = verify_evidence(b, Policy::report_only(), kNow);
  EXPECT_EQ(failed(appraised), "policy.debug");
}

TEST(DcapExpected, ShouldMatchTrusteesParseOfQuote4) {
  const Appraisal a = verify_real("trustee/tdx_quote_4.dat", std::nullopt, kNow);
  const std::string expected = read_text("trustee/parse_tdx_claims_expected.json");
  for (const char* name : {"mrtd", "rtmr0", "rtmr1", "mrseam"}) {
    ASSERT_NE(a.measurement(name), nullptr);
    EXPECT_NE(expected.find(hex_encode(a.measurement(name)->value)), std::string::npos) << name;
  }
}

// Every byte that a signature covers, flipped alone, must be refused: the
// header and body (quote signature), the attestation key and QE
// authentication data (bound in the QE report), the QE report (PCK
// signature), and the two signatures themselves.
class DcapTamper : public testing::TestWithParam<const char*> {};

TEST_P(DcapTamper, ShouldRejectEveryFlippedSignedByte) {
  const Bytes original = read_quote(GetParam());
  auto q = parse_quote(original);
  ASSERT_TRUE(q);
  const std::size_t body_end = q->signed_region.size();
  // signature data: u32 size, signature 64, key 64, [v4+: type 2, size 4], QE report 384, signature 64,
  // auth size 2 + auth data.
  const std::size_t sig_start = body_end + 4;
  const std::size_t qe_start = sig_start + 128 + (q->header.version == 3 ? 0 : 6);
  const std::size_t signed_end = qe_start + 384 + 64 + 2 + q->certification.qe_auth_data.size();
  const std::set<std::string> allowed{"quote.parse", "qe_report.signature", "qe_report.key_binding",
                                      "quote.signature", "pck.chain.parse"};
  std::size_t flipped = 0;
  for (std::size_t i = 0; i < signed_end; ++i) {
    if (i >= body_end && i < sig_start) continue;  // the signature data size: a length, not content
    Bytes tampered = original;
    tampered[i] ^= 0x01;
    Appraisal a;
    verify_quote(tampered, nullptr, std::span(&intel_sgx_root(), 1), kNow, a);
    ASSERT_FALSE(a.accepted()) << GetParam() << " byte " << i << " flipped was accepted";
    ASSERT_TRUE(allowed.contains(failed(a))) << "byte " << i << ": " << why(a);
    ++flipped;
  }
  EXPECT_GT(flipped, 1000u);
}

INSTANTIATE_TEST_SUITE_P(Testdata, DcapTamper,
                         testing::Values("dcap-qvl/tdx_quote", "dcap-qvl/sgx_quote", "trustee/tdx_quote_5.dat",
                                         "go-tdx-guest/quote_v5_sample.dat", "trustee/occlum_quote.dat"));

TEST(DcapTamper, ShouldNameTheRuleForEachRegion) {
  const Bytes original = read_quote("dcap-qvl/tdx_quote");
  auto flip = [&](std::size_t i) {
    Bytes t = original;
    t[i] ^= 0x01;
    Appraisal a;
    verify_quote(t, nullptr, std::span(&intel_sgx_root(), 1), kNow, a);
    return failed(a);
  };
  EXPECT_EQ(flip(0), "quote.parse");                        // version
  EXPECT_EQ(flip(48 + 136), "quote.signature");             // MRTD
  EXPECT_EQ(flip(48 + 520), "quote.signature");             // report data
  EXPECT_EQ(flip(48 + 584 + 4 + 10), "quote.signature");    // the signature itself
  EXPECT_EQ(flip(48 + 584 + 4 + 64 + 5), "qe_report.key_binding");  // attestation key
  EXPECT_EQ(flip(48 + 584 + 4 + 128 + 6 + 10), "qe_report.signature");  // QE report
}

TEST(DcapParse, ShouldRejectEveryTruncation) {
  const Bytes original = read_quote("dcap-qvl/tdx_quote");
  auto q = parse_quote(original);
  ASSERT_TRUE(q);
  for (std::size_t n = 0; n < q->length; n += (n < 700 ? 1 : 13)) {
    auto r = parse_quote(ByteView(original.data(), n));
    ASSERT_FALSE(r) << n;
    EXPECT_EQ(r.error().code, "attest.quote");
  }
}

TEST(DcapParse, ShouldIgnoreTrailingPadding) {
  Bytes padded = read_quote("dcap-qvl/tdx_quote");
  padded.resize(padded.size() + 100, 0);
  auto q = parse_quote(padded);
  ASSERT_TRUE(q);
  EXPECT_LT(q->length, padded.size());
}

TEST(DcapParse, ShouldRejectOversizedInput) {
  Bytes big = read_quote("dcap-qvl/tdx_quote");
  big.resize(kMaxQuoteSize + 1, 0);
  EXPECT_FALSE(parse_quote(big));
}

TEST(DcapParse, ShouldRejectUnknownVersionsKeyTypesAndTeeTypes) {
  const Bytes original = read_quote("dcap-qvl/tdx_quote");
  Bytes v = original;
  v[0] = 6;
  EXPECT_FALSE(parse_quote(v));
  Bytes k = original;
  k[2] = 3;
  EXPECT_FALSE(parse_quote(k));
  Bytes t = original;
  t[4] = 0x82;
  EXPECT_FALSE(parse_quote(t));
}

// One failing variation per check, on the simulated TEE's pieces (the same
// format and code path as real quotes).
struct SimCase {
  sim::Pki pki = *sim::make_pki(kNow);
  std::array<std::uint8_t, 64> report_data{};
  QuoteParts parts = sim::quote_parts(report_data, sim::measure(as_bytes("loader")), pki);
  Collateral collateral = *sim::make_collateral(pki, kNow);
  crypto::EcPrivateKey attestation_key = crypto::EcPrivateKey::generate(crypto::EcCurve::P256);

  Appraisal verify(std::optional<Bytes> quote = std::nullopt) const {
    const Bytes q = quote ? *quote : *build_quote(parts, attestation_key, pki.pck_key);
    Appraisal out;
    verify_quote(q, &collateral, std::span(&sim::root(), 1), kNow, out);
    return out;
  }
};

TEST(DcapChecks, ShouldAcceptTheSimulatedBaseline) {
  const Appraisal a = SimCase().verify();
  EXPECT_TRUE(a.accepted()) << why(a);
  EXPECT_TRUE(a.simulated);
}

TEST(DcapChecks, ShouldFailPckChainParseWhenTheChainIsOnlyALeaf) {
  SimCase c;
  c.parts.pck_chain_pem = c.pki.pck.to_pem();
  EXPECT_EQ(failed(c.verify()), "pck.chain.parse");
}

TEST(DcapChecks, ShouldFailPckChainWhenTheQuotesRootCopyIsNotTheTrustedRoot) {
  SimCase c;
  const auto now = floor<seconds>(kNow);
  // Same name, same key, other bytes: OpenSSL would build the path through
  // the trusted root and never look at this copy.
  auto copy = crypto::CertificateBuilder()
                  .subject("Ward simulated TEE - NOT SECURE", "Ward")
                  .validity(now - days{1}, now + days{30})
                  .ca(true, 1)
                  .self_sign(sim::root_key());
  ASSERT_TRUE(copy);
  c.parts.pck_chain_pem = c.pki.pck.to_pem() + c.pki.pck_ca.to_pem() + copy->to_pem();
  const Appraisal a = c.verify();
  EXPECT_EQ(failed(a), "pck.chain");
  EXPECT_NE(a.checks.first_failure()->detail.find("differs"), std::string::npos);
}

TEST(DcapChecks, ShouldFailCollateralCrlsWhenACrlIsGarbage) {
  SimCase c;
  c.collateral.pck_crl = to_bytes("not a CRL");
  EXPECT_EQ(failed(c.verify()), "collateral.crls");
}

TEST(DcapChecks, ShouldFailTcbInfoParseWhenItIsNotJson) {
  SimCase c;
  c.collateral.tcb_info = "{";
  EXPECT_EQ(failed(c.verify()), "collateral.tcb_info.parse");
}

TEST(DcapChecks, ShouldFailQeIdentityParseWhenItIsNotJson) {
  SimCase c;
  c.collateral.qe_identity = "[]";
  EXPECT_EQ(failed(c.verify()), "collateral.qe_identity.parse");
}

TEST(DcapChecks, ShouldFailPckExtensionsWhenTheLeafHasNone) {
  SimCase c;
  const auto now = floor<seconds>(kNow);
  auto bare = crypto::CertificateBuilder()
                  .subject("Intel SGX PCK Certificate", "Ward")
                  .validity(now - hours{1}, now + days{30})
                  .public_key(c.pki.pck_key.public_key())
                  .sign(c.pki.pck_ca, c.pki.pck_ca_key);
  ASSERT_TRUE(bare);
  c.parts.pck_chain_pem = bare->to_pem() + c.pki.pck_ca.to_pem() + sim::root().to_pem();
  EXPECT_EQ(failed(c.verify()), "pck.extensions");
}

TEST(DcapChecks, ShouldFailQeReportSignatureWhenAnotherKeySignedIt) {
  SimCase c;
  const auto other = crypto::EcPrivateKey::generate(crypto::EcCurve::P256);
  EXPECT_EQ(failed(c.verify(*build_quote(c.parts, c.attestation_key, other))), "qe_report.signature");
}

TEST(DcapChecks, ShouldFailKeyBindingWhenTheAuthDataChangesAfterSigning) {
  SimCase c;
  ASSERT_TRUE(sign_quote(c.parts, c.attestation_key, c.pki.pck_key));
  c.parts.qe_auth_data.push_back(0x42);
  EXPECT_EQ(failed(c.verify(*serialize_quote(c.parts))), "qe_report.key_binding");
}

TEST(DcapChecks, ShouldFailQuoteSignatureWhenTheBodyChangesAfterSigning) {
  SimCase c;
  ASSERT_TRUE(sign_quote(c.parts, c.attestation_key, c.pki.pck_key));
  std::get<TdReport>(c.parts.body).mr_td[0] ^= 1;
  EXPECT_EQ(failed(c.verify(*serialize_quote(c.parts))), "quote.signature");
}

TEST(DcapChecks, ShouldFailTcbInfoChainWhenSignedUnderAnotherRoot) {
  SimCase c;
  const auto now = floor<seconds>(kNow);
  const auto rogue_key = crypto::EcPrivateKey::generate(crypto::EcCurve::P256);
  auto rogue = crypto::CertificateBuilder()
                   .subject("Ward simulated TEE - NOT SECURE", "Ward")
                   .validity(now - days{1}, now + days{30})
                   .ca(true)
                   .self_sign(rogue_key);
  ASSERT_TRUE(rogue);
  c.collateral.tcb_info_issuer_chain = rogue->to_pem();
  EXPECT_EQ(failed(c.verify()), "collateral.tcb_info.chain");
}

TEST(DcapChecks, ShouldFailQeIdentitySignatureWhenTheTextChanges) {
  SimCase c;
  c.collateral.qe_identity += " ";
  EXPECT_EQ(failed(c.verify()), "collateral.qe_identity.signature");
}

TEST(DcapChecks, ShouldFailTcbInfoSignatureWhenTheSignatureChanges) {
  SimCase c;
  c.collateral.tcb_info_signature[5] ^= 1;
  EXPECT_EQ(failed(c.verify()), "collateral.tcb_info.signature");
}

TEST(DcapChecks, ShouldFailCollateralValidityWhenACrlIsStale) {
  SimCase c;
  const auto now = floor<seconds>(kNow);
  c.collateral.root_ca_crl = crypto::CrlBuilder()
                                 .validity(now - days{10}, now - days{1})
                                 .sign(sim::root(), sim::root_key())
                                 ->to_der();
  EXPECT_EQ(failed(c.verify()), "collateral.validity");
}

TEST(DcapChecks, ShouldFailTcbInfoChainWhenCollateralComesFromTheSimulatedRoot) {
  // A real Intel quote with the simulated collateral: the TCB Info chain
  // must end at the anchor that vouched for the PCK, so this stops there.
  const auto when = at(2025, 7, 1);
  auto pki = sim::make_pki(when);
  ASSERT_TRUE(pki);
  auto sim_collateral = sim::make_collateral(*pki, when);
  ASSERT_TRUE(sim_collateral);
  Appraisal a;
  const Bytes real = read_quote("dcap-qvl/tdx_quote");
  const crypto::Certificate anchors[] = {intel_sgx_root(), sim::root()};
  Collateral mixed = *sim_collateral;
  auto intel = parse_collateral(read_text("dcap-qvl/tdx_quote_collateral.json"));
  ASSERT_TRUE(intel);
  mixed.root_ca_crl = intel->root_ca_crl;
  mixed.pck_crl = intel->pck_crl;
  verify_quote(real, &mixed, anchors, when, a);
  EXPECT_EQ(failed(a), "collateral.tcb_info.chain");
}

}  // namespace
}  // namespace ward::attest::dcap

namespace ward::attest::dcap {
namespace {

std::vector<std::string> check_names(const Appraisal& a) {
  std::vector<std::string> names;
  for (const auto& c : a.checks.results()) names.push_back(c.name + (c.ok ? "" : "!"));
  return names;
}

// Prepared collateral keeps verdicts (signed bodies, PCK chains, attestation
// keys) and must give exactly the appraisal a verification from scratch does.
TEST(DcapPrepared, ShouldListTheSameChecksColdWarmAndFromScratch) {
  auto c = parse_collateral(read_text("dcap-qvl/tdx_quote_collateral.json"));
  ASSERT_TRUE(c);
  auto prepared = PreparedCollateral::prepare(*c);
  ASSERT_TRUE(prepared);
  const Bytes quote = read_quote("dcap-qvl/tdx_quote");
  Appraisal scratch, cold, warm;
  verify_quote(quote, &*c, std::span(&intel_sgx_root(), 1), at(2025, 7, 1), scratch);
  verify_quote(quote, *prepared, std::span(&intel_sgx_root(), 1), at(2025, 7, 1), cold);
  verify_quote(quote, *prepared, std::span(&intel_sgx_root(), 1), at(2025, 7, 1), warm);
  ASSERT_TRUE(warm.accepted()) << why(warm);
  EXPECT_EQ(check_names(scratch), check_names(cold));
  EXPECT_EQ(check_names(scratch), check_names(warm));
  EXPECT_EQ(appraisal_to_json(scratch), appraisal_to_json(warm));
}

TEST(DcapPrepared, ShouldStillRejectOnceTheCollateralExpired) {
  auto c = parse_collateral(read_text("dcap-qvl/tdx_quote_collateral.json"));
  auto prepared = PreparedCollateral::prepare(*c);
  ASSERT_TRUE(prepared);
  const Bytes quote = read_quote("dcap-qvl/tdx_quote");
  Appraisal warm, later;
  verify_quote(quote, *prepared, std::span(&intel_sgx_root(), 1), at(2025, 7, 1), warm);
  ASSERT_TRUE(warm.accepted());
  verify_quote(quote, *prepared, std::span(&intel_sgx_root(), 1), at(2025, 8, 1), later);
  EXPECT_EQ(failed(later), "collateral.validity");
}

TEST(DcapPrepared, ShouldNotReuseAVerdictUnderAnotherAnchor) {
  SimCase c;
  auto prepared = PreparedCollateral::prepare(c.collateral);
  ASSERT_TRUE(prepared);
  const Bytes quote = *build_quote(c.parts, c.attestation_key, c.pki.pck_key);
  Appraisal warm, intel_only;
  verify_quote(quote, *prepared, std::span(&sim::root(), 1), kNow, warm);
  ASSERT_TRUE(warm.accepted()) << why(warm);
  verify_quote(quote, *prepared, std::span(&intel_sgx_root(), 1), kNow, intel_only);
  EXPECT_EQ(failed(intel_only), "pck.chain");
}

TEST(DcapPrepared, ShouldStillCheckEachQuotesOwnSignaturesWhenWarm) {
  SimCase c;
  auto prepared = PreparedCollateral::prepare(c.collateral);
  ASSERT_TRUE(prepared);
  const Bytes quote = *build_quote(c.parts, c.attestation_key, c.pki.pck_key);
  Appraisal warm;
  verify_quote(quote, *prepared, std::span(&sim::root(), 1), kNow, warm);
  ASSERT_TRUE(warm.accepted()) << why(warm);
  Bytes body_flipped = quote;
  body_flipped[48 + 136] ^= 1;
  Appraisal a;
  verify_quote(body_flipped, *prepared, std::span(&sim::root(), 1), kNow, a);
  EXPECT_EQ(failed(a), "quote.signature");
  const auto other = crypto::EcPrivateKey::generate(crypto::EcCurve::P256);
  Appraisal b;
  verify_quote(*build_quote(c.parts, c.attestation_key, other), *prepared, std::span(&sim::root(), 1), kNow, b);
  EXPECT_EQ(failed(b), "qe_report.signature");
}

TEST(DcapPrepared, ShouldNameTheCheckWhenPreparationFails) {
  SimCase c;
  c.collateral.tcb_info = "{";
  auto prepared = PreparedCollateral::prepare(c.collateral);
  ASSERT_FALSE(prepared);
  EXPECT_EQ(prepared.error().code, "collateral.tcb_info.parse");
  c.collateral.qe_identity_issuer_chain = "no PEM here";
  c.collateral.tcb_info = SimCase().collateral.tcb_info;
  EXPECT_EQ(PreparedCollateral::prepare(c.collateral).error().code, "collateral.qe_identity.chain");
}

TEST(DcapPrepared, ShouldServeSeveralThreadsAtOnce) {
  SimCase c;
  auto prepared = PreparedCollateral::prepare(c.collateral);
  ASSERT_TRUE(prepared);
  const Bytes quote = *build_quote(c.parts, c.attestation_key, c.pki.pck_key);
  std::atomic<int> accepted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20; ++i) {
        Appraisal a;
        verify_quote(quote, *prepared, std::span(&sim::root(), 1), kNow, a);
        if (a.accepted()) ++accepted;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(accepted.load(), 80);
}

}  // namespace
}  // namespace ward::attest::dcap
