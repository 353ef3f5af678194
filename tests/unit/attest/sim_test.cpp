#include "attest/sim.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <string>

#include <gtest/gtest.h>

#include "attest/dcap/pck.h"
#include "attest/dcap/quote.h"
#include "attest/dcap/tcb.h"
#include "attest/dcap/verify.h"
#include "crypto/hash.h"

namespace ward::attest::sim {
namespace {

using namespace std::chrono;

const system_clock::time_point kNow = sys_days{year{2026} / 3 / 1} + hours{12};

std::array<std::uint8_t, 64> sample_report_data() {
  std::array<std::uint8_t, 64> d{};
  std::iota(d.begin(), d.end(), std::uint8_t{1});
  return d;
}

std::array<std::uint8_t, 48> sample_mrtd() { return measure(as_bytes("ward-loader binary")); }

SimEvidence make_sample() {
  auto e = make_quote(sample_report_data(), sample_mrtd(), kNow);
  if (!e) ADD_FAILURE() << e.error().message;
  return *std::move(e);
}

std::vector<crypto::Crl> crls_of(const dcap::Collateral& c) {
  return {*crypto::Crl::from_der(c.root_ca_crl), *crypto::Crl::from_der(c.pck_crl)};
}

std::vector<crypto::Certificate> pck_chain_of(const Bytes& quote) {
  auto q = dcap::parse_quote(quote);
  if (!q) return {};
  return *crypto::parse_pem_chain(q->certification.pck_chain_pem);
}

void verify(const SimEvidence& e, std::span<const crypto::Certificate> anchors, system_clock::time_point at,
            Appraisal& out) {
  dcap::verify_quote(e.quote, &e.collateral, anchors, at, out);
}

std::string first_failure(const Appraisal& a) {
  const CheckResult* f = a.checks.first_failure();
  return f ? f->name : "";
}

TEST(SimRoot, ShouldCarryTheKeyDerivedFromItsPublicLabel) {
  auto key = crypto::EcPrivateKey::from_scalar(crypto::EcCurve::P256, crypto::sha256(as_bytes("ward/sim-tee/root/v1")));
  ASSERT_TRUE(key);
  auto embedded = root().ec_public_key();
  ASSERT_TRUE(embedded);
  EXPECT_EQ(embedded->to_sec1(), key->public_key().to_sec1());
  EXPECT_EQ(root_key().public_key().to_sec1(), key->public_key().to_sec1());
}

TEST(SimRoot, ShouldSayItIsNotSecure) {
  EXPECT_NE(root().subject().find("CN=Ward simulated TEE - NOT SECURE"), std::string::npos) << root().subject();
  EXPECT_EQ(root().subject(), root().issuer());
  EXPECT_TRUE(root().is_ca());
  EXPECT_TRUE(root().verify_signature(root()));
  EXPECT_EQ(root().not_before(), sys_days{year{2025} / 1 / 1});
  EXPECT_EQ(root().not_after(), sys_days{year{2050} / 1 / 1});
  EXPECT_EQ(root().ec_public_key()->curve(), crypto::EcCurve::P256);
}

TEST(SimMeasure, ShouldMeasureABinaryWithSha384) {
  const Bytes binary = to_bytes("\x7f" "ELF loader");
  EXPECT_EQ(measure(binary), crypto::sha384(binary));
}

TEST(SimMeasure, ShouldMeasureAFileAsItsContents) {
  const auto path = std::filesystem::temp_directory_path() / ("ward-sim-measure-" + std::to_string(::getpid()));
  Bytes contents(3 * 1024 * 1024 + 17);  // more than one read
  std::iota(contents.begin(), contents.end(), std::uint8_t{0});
  {
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(contents.data()), static_cast<std::streamsize>(contents.size()));
  }
  auto mrtd = measure_file(path);
  std::filesystem::remove(path);
  ASSERT_TRUE(mrtd) << mrtd.error().message;
  EXPECT_EQ(*mrtd, measure(contents));
}

TEST(SimMeasure, ShouldFailToMeasureAMissingFile) {
  auto mrtd = measure_file("/nonexistent/ward-loader");
  ASSERT_FALSE(mrtd);
  EXPECT_EQ(mrtd.error().code, "io.open");
}

TEST(SimQuote, ShouldBeATdxQuoteV4WithTheGivenMrtdAndReportData) {
  const SimEvidence e = make_sample();
  auto q = dcap::parse_quote(e.quote);
  ASSERT_TRUE(q) << q.error().message;
  EXPECT_EQ(q->header.version, 4);
  EXPECT_TRUE(q->is_tdx());
  EXPECT_EQ(q->body_type, dcap::kBodyTypeTdx10);
  EXPECT_EQ(q->length, e.quote.size());
  const dcap::TdReport* td = q->td_report();
  ASSERT_NE(td, nullptr);
  EXPECT_EQ(td->mr_td, sample_mrtd());
  EXPECT_EQ(td->report_data, sample_report_data());
  for (const auto& rtmr : td->rtmr) EXPECT_EQ(rtmr, (std::array<std::uint8_t, 48>{}));
  EXPECT_EQ(td->td_attributes, (std::array<std::uint8_t, 8>{}));
  EXPECT_FALSE(td->debug());
  EXPECT_EQ(q->certification.outer_cert_type, dcap::kCertTypeQeReport);
}

TEST(SimQuote, ShouldRefuseReportDataOfAnotherLength) {
  for (std::size_t size : {0, 32, 63, 65}) {
    const Bytes data(size, 0xab);
    auto e = make_quote(data, sample_mrtd(), kNow);
    ASSERT_FALSE(e) << size;
    EXPECT_EQ(e.error().code, "attest.sim");
  }
}

TEST(SimQuote, ShouldChainItsPckToTheSimRootUnderTheCollateralCrls) {
  const SimEvidence e = make_sample();
  const auto chain = pck_chain_of(e.quote);
  ASSERT_EQ(chain.size(), 3u);
  EXPECT_NE(chain[1].subject().find("Ward simulated PCK Platform CA"), std::string::npos);
  EXPECT_EQ(chain[2], root());
  const auto crls = crls_of(e.collateral);
  const std::span<const crypto::Certificate> intermediates(chain.begin() + 1, chain.end());
  EXPECT_TRUE(crypto::verify_chain(chain[0], intermediates, std::span(&root(), 1), crls, kNow));
}

TEST(SimQuote, ShouldNotChainToTheIntelRoot) {
  const SimEvidence e = make_sample();
  const auto chain = pck_chain_of(e.quote);
  ASSERT_FALSE(chain.empty());
  const std::span<const crypto::Certificate> intermediates(chain.begin() + 1, chain.end());
  auto r = crypto::verify_chain(chain[0], intermediates, std::span(&dcap::intel_sgx_root(), 1), {}, kNow);
  EXPECT_FALSE(r);
}

TEST(SimQuote, ShouldUseFreshAttestationAndPckKeysEveryTime) {
  const SimEvidence a = make_sample();
  const SimEvidence b = make_sample();
  EXPECT_NE(dcap::parse_quote(a.quote)->attestation_key, dcap::parse_quote(b.quote)->attestation_key);
  EXPECT_NE(pck_chain_of(a.quote)[0].ec_public_key()->to_sec1(), pck_chain_of(b.quote)[0].ec_public_key()->to_sec1());
}

TEST(SimQuote, ShouldCarryPckExtensionsForTheSimPlatform) {
  const SimEvidence e = make_sample();
  auto ext = dcap::parse_pck_extensions(pck_chain_of(e.quote)[0]);
  ASSERT_TRUE(ext) << ext.error().message;
  EXPECT_EQ(ext->fmspc, kFmspc);
  EXPECT_EQ(ext->pce_id, kPceId);
  EXPECT_EQ(ext->ppid.size(), 16u);
}

TEST(SimCollateral, ShouldSignTcbInfoAndQeIdentityUnderTheSimRoot) {
  const SimEvidence e = make_sample();
  const dcap::Collateral& c = e.collateral;
  const auto root_crl = crls_of(c);
  for (const auto& [chain_pem, text, signature] :
       {std::tuple{c.tcb_info_issuer_chain, c.tcb_info, c.tcb_info_signature},
        std::tuple{c.qe_identity_issuer_chain, c.qe_identity, c.qe_identity_signature}}) {
    auto chain = crypto::parse_pem_chain(chain_pem);
    ASSERT_TRUE(chain);
    EXPECT_NE(chain->front().subject().find("Ward simulated TCB Signing"), std::string::npos);
    const std::span<const crypto::Certificate> intermediates(chain->begin() + 1, chain->end());
    EXPECT_TRUE(crypto::verify_chain(chain->front(), intermediates, std::span(&root(), 1),
                                     std::span(root_crl.data(), 1), kNow));
    EXPECT_TRUE(dcap::verify_signed_json(text, signature, chain->front()));
  }
}

TEST(SimCollateral, ShouldListTheQuotesTcbAsUpToDate) {
  const SimEvidence e = make_sample();
  auto info = dcap::parse_tcb_info(e.collateral.tcb_info);
  ASSERT_TRUE(info) << info.error().message;
  auto qe_identity = dcap::parse_qe_identity(e.collateral.qe_identity);
  ASSERT_TRUE(qe_identity) << qe_identity.error().message;
  auto q = dcap::parse_quote(e.quote);
  auto pck = dcap::parse_pck_extensions(pck_chain_of(e.quote)[0]);
  ASSERT_TRUE(q && pck);

  EXPECT_EQ(info->id, dcap::TcbInfoId::Tdx);
  EXPECT_EQ(info->version, 3);
  EXPECT_TRUE(dcap::check_tcb_info_applies(*info, *pck, true));
  EXPECT_TRUE(dcap::check_qe_identity_applies(*qe_identity, true));
  EXPECT_TRUE(dcap::check_tdx_module(*info, *q->td_report()));
  auto platform = dcap::match_tcb_level(*info, *pck, q->td_report());
  ASSERT_TRUE(platform);
  EXPECT_EQ(platform->status, TcbStatus::UpToDate);
  auto qe = dcap::match_qe_identity(*qe_identity, q->certification.qe_report);
  ASSERT_TRUE(qe) << qe.error().message;
  EXPECT_EQ(qe->status, TcbStatus::UpToDate);
}

TEST(SimCollateral, ShouldBeValidFromAnHourAgoForThirtyDays) {
  const SimEvidence e = make_sample();
  const auto now = floor<seconds>(kNow);
  auto info = dcap::parse_tcb_info(e.collateral.tcb_info);
  auto qe = dcap::parse_qe_identity(e.collateral.qe_identity);
  ASSERT_TRUE(info && qe);
  EXPECT_EQ(info->issue_date, now - hours{1});
  EXPECT_EQ(info->next_update, now + days{30});
  EXPECT_EQ(qe->issue_date, now - hours{1});
  EXPECT_EQ(qe->next_update, now + days{30});
  for (const auto& crl : crls_of(e.collateral)) {
    EXPECT_EQ(crl.this_update(), now - hours{1});
    EXPECT_EQ(crl.next_update(), now + days{30});
  }
}

TEST(SimCollateral, ShouldSurviveTheDcapQvlJsonForm) {
  const SimEvidence e = make_sample();
  auto parsed = dcap::parse_collateral(dcap::collateral_to_json(e.collateral));
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->tcb_info, e.collateral.tcb_info);
  EXPECT_EQ(parsed->tcb_info_signature, e.collateral.tcb_info_signature);
  EXPECT_EQ(parsed->qe_identity, e.collateral.qe_identity);
  EXPECT_EQ(parsed->pck_crl, e.collateral.pck_crl);
  EXPECT_EQ(parsed->root_ca_crl, e.collateral.root_ca_crl);
  EXPECT_EQ(parsed->pck_crl_issuer_chain, e.collateral.pck_crl_issuer_chain);
}

TEST(SimVerify, ShouldBeAcceptedAsSimulatedAndUpToDateWithTheSimRoot) {
  const SimEvidence e = make_sample();
  Appraisal out;
  verify(e, std::span(&root(), 1), kNow, out);
  ASSERT_TRUE(out.accepted()) << first_failure(out) << ": "
                              << (out.checks.first_failure() ? out.checks.first_failure()->detail : "");
  EXPECT_TRUE(out.simulated);
  EXPECT_FALSE(out.debug);
  EXPECT_EQ(out.tcb_status, TcbStatus::UpToDate);
  EXPECT_TRUE(out.advisories.empty());
  const auto report_data = sample_report_data();
  const auto mrtd = sample_mrtd();
  EXPECT_EQ(out.report_data, Bytes(report_data.begin(), report_data.end()));
  ASSERT_NE(out.measurement("mrtd"), nullptr);
  EXPECT_EQ(out.measurement("mrtd")->value, Bytes(mrtd.begin(), mrtd.end()));
}

TEST(SimVerify, ShouldBeRejectedAtTheChainCheckWithOnlyTheIntelRoot) {
  const SimEvidence e = make_sample();
  Appraisal out;
  verify(e, std::span(&dcap::intel_sgx_root(), 1), kNow, out);
  EXPECT_FALSE(out.accepted());
  EXPECT_FALSE(out.simulated);
  EXPECT_EQ(first_failure(out), "pck.chain");
}

TEST(SimVerify, ShouldBeRejectedOnceTheCollateralHasExpired) {
  const SimEvidence e = make_sample();
  Appraisal out;
  verify(e, std::span(&root(), 1), kNow + days{31}, out);
  EXPECT_FALSE(out.accepted());
}

// The pieces behind make_quote, varied one at a time.
struct Variation {
  Pki pki = *make_pki(kNow);
  dcap::QuoteParts parts = quote_parts(sample_report_data(), sample_mrtd(), pki);
  dcap::Collateral collateral = *make_collateral(pki, kNow);
  crypto::EcPrivateKey attestation_key = crypto::EcPrivateKey::generate(crypto::EcCurve::P256);

  Appraisal verify() const {
    const SimEvidence e{*dcap::build_quote(parts, attestation_key, pki.pck_key), collateral};
    Appraisal out;
    sim::verify(e, std::span(&root(), 1), kNow, out);
    return out;
  }
};

TEST(SimVerify, ShouldAcceptTheUnvariedPieces) {
  const Appraisal out = Variation().verify();
  EXPECT_TRUE(out.accepted()) << first_failure(out);
}

TEST(SimVerify, ShouldRejectARevokedPck) {
  Variation v;
  v.collateral.pck_crl = crypto::CrlBuilder()
                             .validity(floor<seconds>(kNow) - hours{1}, floor<seconds>(kNow) + days{30})
                             .revoke(v.pki.pck, floor<seconds>(kNow) - hours{1})
                             .sign(v.pki.pck_ca, v.pki.pck_ca_key)
                             ->to_der();
  EXPECT_EQ(first_failure(v.verify()), "pck.chain");
}

TEST(SimVerify, ShouldRejectAQuoteWhoseSignatureIsBroken) {
  Variation v;
  auto parts = v.parts;
  ASSERT_TRUE(dcap::sign_quote(parts, v.attestation_key, v.pki.pck_key));
  parts.signature[10] ^= 1;
  const SimEvidence e{*dcap::serialize_quote(parts), v.collateral};
  Appraisal out;
  verify(e, std::span(&root(), 1), kNow, out);
  EXPECT_EQ(first_failure(out), "quote.signature");
}

TEST(SimVerify, ShouldRejectATcbInfoSignedByAnotherKey) {
  Variation v;
  v.collateral.tcb_info_signature = v.pki.pck_key.sign(crypto::HashAlg::Sha256, as_bytes(v.collateral.tcb_info));
  EXPECT_EQ(first_failure(v.verify()), "collateral.tcb_info.signature");
}

TEST(SimVerify, ShouldReportAnOlderTdxModuleAsOutOfDate) {
  Variation v;
  std::get<dcap::TdReport>(v.parts.body).tee_tcb_svn[0] = 2;  // below the UpToDate module SVN 3
  const Appraisal out = v.verify();
  EXPECT_TRUE(out.accepted()) << first_failure(out);
  EXPECT_EQ(out.tcb_status, TcbStatus::OutOfDate);
}

TEST(SimVerify, ShouldReportAnOlderQeAsOutOfDate) {
  Variation v;
  v.parts.qe_report.isv_svn = 3;  // below the UpToDate QE SVN 4
  const Appraisal out = v.verify();
  EXPECT_TRUE(out.accepted()) << first_failure(out);
  EXPECT_EQ(out.tcb_status, TcbStatus::OutOfDate);
}

TEST(SimVerify, ShouldReportADebugTdForThePolicyToJudge) {
  Variation v;
  std::get<dcap::TdReport>(v.parts.body).td_attributes[0] = 0x01;
  const Appraisal out = v.verify();
  EXPECT_TRUE(out.accepted()) << first_failure(out);
  EXPECT_TRUE(out.debug);
}

}  // namespace
}  // namespace ward::attest::sim
