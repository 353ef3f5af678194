#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "attest/dcap/collateral.h"
#include "attest/dcap/pck.h"
#include "attest/dcap/quote.h"
#include "attest/dcap/tcb.h"
#include "crypto/x509.h"

namespace ward::attest::dcap {
namespace {

using Svns = std::array<std::uint8_t, 16>;
using Strings = std::vector<std::string>;

constexpr std::string_view kTestdata = "../shared/testdata/attestation/tdx-sgx/";

std::string read_text(std::string_view relative) {
  std::ifstream in(std::string(kTestdata) + std::string(relative), std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// A real quote with its collateral, parsed as the verifier would.
struct RealCase {
  Quote quote;
  PckExtensions pck;
  TcbInfo tcb;
  QeIdentity qe;
};

RealCase load(std::string_view quote_file, std::string_view collateral_file) {
  RealCase r;
  const std::string bytes = read_text(quote_file);
  r.quote = parse_quote(as_bytes(bytes)).value();
  auto chain = crypto::parse_pem_chain(r.quote.certification.pck_chain_pem).value();
  r.pck = parse_pck_extensions(chain.front()).value();
  const Collateral c = parse_collateral(read_text(collateral_file)).value();
  auto tcb = parse_tcb_info(c.tcb_info);
  EXPECT_TRUE(tcb.has_value()) << (tcb ? "" : tcb.error().message);
  auto qe = parse_qe_identity(c.qe_identity);
  EXPECT_TRUE(qe.has_value()) << (qe ? "" : qe.error().message);
  r.tcb = tcb.value_or(TcbInfo{});
  r.qe = qe.value_or(QeIdentity{});
  return r;
}

TcbMatch evaluate(const RealCase& r) {
  const bool tdx = r.quote.is_tdx();
  EXPECT_TRUE(check_tcb_info_applies(r.tcb, r.pck, tdx).has_value());
  EXPECT_TRUE(check_qe_identity_applies(r.qe, tdx).has_value());
  if (const TdReport* td = r.quote.td_report()) {
    EXPECT_TRUE(check_tdx_module(r.tcb, *td).has_value());
  }
  auto platform = match_tcb_level(r.tcb, r.pck, r.quote.td_report());
  auto qe = match_qe_identity(r.qe, r.quote.certification.qe_report);
  EXPECT_TRUE(platform.has_value());
  EXPECT_TRUE(qe.has_value());
  return fold_status(platform.value_or(TcbMatch{}), qe.value_or(TcbMatch{}));
}

// ---- real quotes and collateral (EXPECTED.md) ----

TEST(DcapTcbReal, ShouldBeUpToDateWhenAppraisingDcapQvlTdxQuote) {
  const RealCase r = load("dcap-qvl/tdx_quote", "dcap-qvl/tdx_quote_collateral.json");
  ASSERT_EQ(r.quote.td_report()->tee_tcb_svn[1], 1);  // module TDX_01
  const TcbMatch m = evaluate(r);
  EXPECT_EQ(m.status, TcbStatus::UpToDate);
  EXPECT_TRUE(m.advisories.empty());
  EXPECT_EQ(m.tcb_date, "2024-03-13T00:00:00Z");
}

TEST(DcapTcbReal, ShouldNeedConfigurationAndSwHardeningWhenAppraisingDcapQvlSgxQuote) {
  const RealCase r = load("dcap-qvl/sgx_quote", "dcap-qvl/sgx_quote_collateral.json");
  const TcbMatch m = evaluate(r);
  EXPECT_EQ(m.status, TcbStatus::ConfigurationAndSWHardeningNeeded);
  EXPECT_EQ(m.advisories, (Strings{"INTEL-SA-00289", "INTEL-SA-00615"}));
}

TEST(DcapTcbReal, ShouldBeNotSupportedWhenAppraisingGoTdxGuestSprE4Quote) {
  const RealCase r =
      load("go-tdx-guest/tdx_prod_quote_SPR_E4.dat", "go-tdx-guest/derived_collateral_v4_SPR_E4.json");
  auto platform = match_tcb_level(r.tcb, r.pck, r.quote.td_report());
  ASSERT_TRUE(platform.has_value());
  EXPECT_EQ(platform->status, TcbStatus::NotSupported);
  EXPECT_EQ(evaluate(r).status, TcbStatus::NotSupported);
}

TEST(DcapTcbReal, ShouldParseEveryFieldWhenReadingRealTdxTcbInfo) {
  const RealCase r = load("dcap-qvl/tdx_quote", "dcap-qvl/tdx_quote_collateral.json");
  const TcbInfo& t = r.tcb;
  EXPECT_EQ(t.id, TcbInfoId::Tdx);
  EXPECT_EQ(t.version, 3);
  EXPECT_EQ(t.issue_date, std::chrono::sys_days{std::chrono::year{2025} / 6 / 19} + std::chrono::hours{10} +
                              std::chrono::minutes{16} + std::chrono::seconds{3});
  EXPECT_EQ(hex_encode(t.fmspc), "b0c06f000000");
  EXPECT_EQ(t.tcb_evaluation_data_number, 17u);
  ASSERT_TRUE(t.tdx_module.has_value());
  ASSERT_EQ(t.tdx_module_identities.size(), 2u);
  EXPECT_EQ(t.tdx_module_identities[1].id, "TDX_01");
  ASSERT_EQ(t.tdx_module_identities[1].tcb_levels.size(), 2u);
  EXPECT_EQ(t.tdx_module_identities[1].tcb_levels[1].status, TcbStatus::OutOfDate);
  ASSERT_EQ(t.tcb_levels.size(), 2u);
  EXPECT_EQ(t.tcb_levels[0].pce_svn, 11);
  EXPECT_EQ(t.tcb_levels[0].tdx_components[0], 5);
  EXPECT_EQ(t.tcb_levels[1].advisory_ids.size(), 14u);
  EXPECT_EQ(r.qe.id, EnclaveId::TdQe);
  EXPECT_EQ(r.qe.isv_prod_id, 2);
  EXPECT_EQ(r.qe.attributes_mask[0], 0xFB);
}

// ---- synthetic TCB Info ----

Svns svns(std::uint8_t v) {
  Svns s{};
  s.fill(v);
  return s;
}

TcbLevel level(Svns sgx, std::uint16_t pce_svn, TcbStatus status, Strings advisories = {}, Svns tdx = {},
               std::string date = "2024-03-13T00:00:00Z") {
  return TcbLevel{sgx, pce_svn, tdx, std::move(date), status, std::move(advisories)};
}

TcbInfo sgx_info(std::vector<TcbLevel> levels) {
  TcbInfo info;
  info.id = TcbInfoId::Sgx;
  info.fmspc = {0x00, 0xA0, 0x67, 0x11, 0x00, 0x00};
  info.tcb_levels = std::move(levels);
  return info;
}

PckExtensions pck_with(Svns components, std::uint16_t pce_svn) {
  PckExtensions p;
  p.ppid = Bytes(16, 1);
  p.cpu_svn_components = components;
  p.cpu_svn = components;
  p.pce_svn = pce_svn;
  p.fmspc = {0x00, 0xA0, 0x67, 0x11, 0x00, 0x00};
  return p;
}

TcbStatus sgx_status(const TcbInfo& info, const PckExtensions& pck) {
  auto m = match_tcb_level(info, pck, nullptr);
  EXPECT_TRUE(m.has_value());
  return m ? m->status : TcbStatus::NotSupported;
}

TEST(DcapTcbSgx, ShouldSelectTheFirstLevelWhoseSvnsAreAllAtMostThePlatforms) {
  const TcbInfo info =
      sgx_info({level(svns(5), 10, TcbStatus::UpToDate), level(svns(3), 10, TcbStatus::OutOfDate),
                level(svns(1), 1, TcbStatus::Revoked)});
  EXPECT_EQ(sgx_status(info, pck_with(svns(5), 10)), TcbStatus::UpToDate);
  EXPECT_EQ(sgx_status(info, pck_with(svns(9), 99)), TcbStatus::UpToDate);
  EXPECT_EQ(sgx_status(info, pck_with(svns(4), 10)), TcbStatus::OutOfDate);
  EXPECT_EQ(sgx_status(info, pck_with(svns(2), 10)), TcbStatus::Revoked);
}

TEST(DcapTcbSgx, ShouldSkipALevelWhenOneComponentIsLower) {
  const TcbInfo info =
      sgx_info({level(svns(5), 10, TcbStatus::UpToDate), level(svns(3), 10, TcbStatus::OutOfDate)});
  Svns one_low = svns(5);
  one_low[15] = 4;
  EXPECT_EQ(sgx_status(info, pck_with(one_low, 10)), TcbStatus::OutOfDate);
}

TEST(DcapTcbSgx, ShouldSkipALevelWhenPceSvnIsLower) {
  const TcbInfo info =
      sgx_info({level(svns(5), 10, TcbStatus::UpToDate), level(svns(5), 9, TcbStatus::OutOfDate)});
  EXPECT_EQ(sgx_status(info, pck_with(svns(5), 9)), TcbStatus::OutOfDate);
}

TEST(DcapTcbSgx, ShouldBeNotSupportedWhenNoLevelMatches) {
  const TcbInfo info = sgx_info({level(svns(5), 10, TcbStatus::UpToDate)});
  auto m = match_tcb_level(info, pck_with(svns(4), 10), nullptr);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->status, TcbStatus::NotSupported);
  EXPECT_TRUE(m->tcb_date.empty());
}

TEST(DcapTcbSgx, ShouldReportEveryStatusTheLevelCarries) {
  for (TcbStatus s : {TcbStatus::UpToDate, TcbStatus::SWHardeningNeeded, TcbStatus::ConfigurationNeeded,
                      TcbStatus::ConfigurationAndSWHardeningNeeded, TcbStatus::OutOfDate,
                      TcbStatus::OutOfDateConfigurationNeeded, TcbStatus::Revoked}) {
    const TcbInfo info = sgx_info({level(svns(1), 1, s, {"INTEL-SA-1"}, {}, "2023-01-01T00:00:00Z")});
    auto m = match_tcb_level(info, pck_with(svns(1), 1), nullptr);
    ASSERT_TRUE(m.has_value());
    EXPECT_EQ(m->status, s);
    EXPECT_EQ(m->advisories, Strings{"INTEL-SA-1"});
    EXPECT_EQ(m->tcb_date, "2023-01-01T00:00:00Z");
  }
}

TEST(DcapTcbSgx, ShouldRejectWhenTheTcbInfoIsForTdx) {
  TcbInfo info = sgx_info({level(svns(1), 1, TcbStatus::UpToDate)});
  info.id = TcbInfoId::Tdx;
  auto m = match_tcb_level(info, pck_with(svns(1), 1), nullptr);
  ASSERT_FALSE(m.has_value());
  EXPECT_EQ(m.error().code, "attest.tcb_info");
}

TEST(DcapTcbApplies, ShouldRejectWhenFmspcDiffers) {
  const TcbInfo info = sgx_info({level(svns(1), 1, TcbStatus::UpToDate)});
  PckExtensions pck = pck_with(svns(1), 1);
  EXPECT_TRUE(check_tcb_info_applies(info, pck, false).has_value());
  pck.fmspc[5] = 1;
  auto ok = check_tcb_info_applies(info, pck, false);
  ASSERT_FALSE(ok.has_value());
  EXPECT_EQ(ok.error().code, "attest.tcb_info");
  EXPECT_NE(ok.error().message.find("FMSPC"), std::string::npos);
}

TEST(DcapTcbApplies, ShouldRejectWhenPceIdDiffers) {
  const TcbInfo info = sgx_info({level(svns(1), 1, TcbStatus::UpToDate)});
  PckExtensions pck = pck_with(svns(1), 1);
  pck.pce_id = {0, 1};
  auto ok = check_tcb_info_applies(info, pck, false);
  ASSERT_FALSE(ok.has_value());
  EXPECT_NE(ok.error().message.find("PCE-ID"), std::string::npos);
}

TEST(DcapTcbApplies, ShouldRejectWhenTheTeeDiffers) {
  const TcbInfo info = sgx_info({level(svns(1), 1, TcbStatus::UpToDate)});
  auto ok = check_tcb_info_applies(info, pck_with(svns(1), 1), true);
  ASSERT_FALSE(ok.has_value());
  EXPECT_EQ(ok.error().code, "attest.tcb_info");
}

TEST(DcapTcbApplies, ShouldRejectWhenTheQeIdentityIsForTheOtherTee) {
  QeIdentity qe;
  qe.id = EnclaveId::Qe;
  EXPECT_TRUE(check_qe_identity_applies(qe, false).has_value());
  EXPECT_EQ(check_qe_identity_applies(qe, true).error().code, "attest.qe_identity");
  qe.id = EnclaveId::TdQe;
  EXPECT_TRUE(check_qe_identity_applies(qe, true).has_value());
  EXPECT_FALSE(check_qe_identity_applies(qe, false).has_value());
  qe.id = EnclaveId::Qve;
  EXPECT_FALSE(check_qe_identity_applies(qe, false).has_value());
}

// ---- synthetic TDX ----

std::array<std::uint8_t, 48> signer(std::uint8_t v) {
  std::array<std::uint8_t, 48> s{};
  s.fill(v);
  return s;
}

TdxModuleIdentity module_identity(std::string id, std::vector<IsvTcbLevel> levels) {
  TdxModuleIdentity m;
  m.id = std::move(id);
  m.mrsigner = signer(0);
  m.attributes_mask.fill(0xFF);
  m.tcb_levels = std::move(levels);
  return m;
}

IsvTcbLevel isv_level(std::uint16_t isv_svn, TcbStatus status, Strings advisories = {},
                      std::string date = "2024-03-13T00:00:00Z") {
  return IsvTcbLevel{isv_svn, std::move(date), status, std::move(advisories)};
}

// Module SVNs sit in TEE_TCB_SVN[0] (minor) and [1] (major); [2] is the
// TDX late microcode update.
Svns tee(std::uint8_t module_svn, std::uint8_t major, std::uint8_t microcode) {
  Svns s{};
  s[0] = module_svn;
  s[1] = major;
  s[2] = microcode;
  return s;
}

// Newest first: the platform at microcode 3 is UpToDate, at 2 OutOfDate.
// TDX_01 is current from module SVN 4, out of date from 2.
TcbInfo tdx_info(TcbStatus newest = TcbStatus::UpToDate) {
  TcbInfo info;
  info.id = TcbInfoId::Tdx;
  info.fmspc = {0xB0, 0xC0, 0x6F, 0x00, 0x00, 0x00};
  TdxModuleIdentity module;
  module.mrsigner = signer(0);
  module.attributes_mask.fill(0xFF);
  info.tdx_module = module;
  info.tdx_module_identities = {
      module_identity("TDX_03", {isv_level(3, TcbStatus::UpToDate)}),
      module_identity("TDX_01", {isv_level(4, TcbStatus::UpToDate),
                                 isv_level(2, TcbStatus::OutOfDate, {"INTEL-SA-M1", "INTEL-SA-P1"},
                                           "2023-08-09T00:00:00Z")})};
  info.tcb_levels = {
      level(svns(2), 11, newest, {"INTEL-SA-P1"}, tee(5, 0, 3)),
      level(svns(2), 11, TcbStatus::OutOfDate, {"INTEL-SA-P2"}, tee(5, 0, 2), "2018-01-04T00:00:00Z")};
  return info;
}

TdReport td_with(Svns tee_tcb_svn) {
  TdReport td;
  td.tee_tcb_svn = tee_tcb_svn;
  return td;
}

TcbMatch tdx_match(const TcbInfo& info, const TdReport& td) {
  auto m = match_tcb_level(info, pck_with(svns(2), 11), &td);
  EXPECT_TRUE(m.has_value()) << (m ? "" : m.error().message);
  return m.value_or(TcbMatch{});
}

TEST(DcapTcbTdx, ShouldCompareAllTdxComponentsWhenTheModuleMajorIsZero) {
  const TcbInfo info = tdx_info();
  EXPECT_EQ(tdx_match(info, td_with(tee(5, 0, 3))).status, TcbStatus::UpToDate);
  EXPECT_EQ(tdx_match(info, td_with(tee(5, 0, 2))).status, TcbStatus::OutOfDate);
  // Module SVN 4 is below every level's 5.
  EXPECT_EQ(tdx_match(info, td_with(tee(4, 0, 3))).status, TcbStatus::NotSupported);
}

TEST(DcapTcbTdx, ShouldJudgeTheModuleByItsIdentityWhenTheModuleMajorIsSet) {
  const TcbInfo info = tdx_info();
  // Module SVN 4 < the levels' 5, but with a major version the first two
  // components are the module identity's business.
  const TcbMatch m = tdx_match(info, td_with(tee(4, 1, 3)));
  EXPECT_EQ(m.status, TcbStatus::UpToDate);
  EXPECT_EQ(m.advisories, Strings{"INTEL-SA-P1"});
}

TEST(DcapTcbTdx, ShouldBeOutOfDateWhenTheModuleIsOutOfDate) {
  const TcbMatch m = tdx_match(tdx_info(), td_with(tee(3, 1, 3)));
  EXPECT_EQ(m.status, TcbStatus::OutOfDate);
  // Platform and module advisories, each once; the earlier date.
  EXPECT_EQ(m.advisories, (Strings{"INTEL-SA-P1", "INTEL-SA-M1"}));
  EXPECT_EQ(m.tcb_date, "2023-08-09T00:00:00Z");
}

TEST(DcapTcbTdx, ShouldConvergeAnOutOfDateModuleWithEachPlatformStatus) {
  const std::pair<TcbStatus, TcbStatus> cases[] = {
      {TcbStatus::UpToDate, TcbStatus::OutOfDate},
      {TcbStatus::SWHardeningNeeded, TcbStatus::OutOfDate},
      {TcbStatus::ConfigurationNeeded, TcbStatus::OutOfDateConfigurationNeeded},
      {TcbStatus::ConfigurationAndSWHardeningNeeded, TcbStatus::OutOfDateConfigurationNeeded},
      {TcbStatus::OutOfDate, TcbStatus::OutOfDate},
      {TcbStatus::OutOfDateConfigurationNeeded, TcbStatus::OutOfDateConfigurationNeeded},
      {TcbStatus::Revoked, TcbStatus::Revoked},
  };
  for (const auto& [platform, expected] : cases) {
    EXPECT_EQ(tdx_match(tdx_info(platform), td_with(tee(3, 1, 3))).status, expected)
        << tcb_status_name(platform);
  }
}

TEST(DcapTcbTdx, ShouldBeRevokedWhenTheModuleIsRevoked) {
  TcbInfo info = tdx_info();
  info.tdx_module_identities[1].tcb_levels[1].status = TcbStatus::Revoked;
  EXPECT_EQ(tdx_match(info, td_with(tee(3, 1, 3))).status, TcbStatus::Revoked);
}

TEST(DcapTcbTdx, ShouldBeNotSupportedWhenNoModuleIdentityMatches) {
  EXPECT_EQ(tdx_match(tdx_info(), td_with(tee(9, 2, 3))).status, TcbStatus::NotSupported);
}

TEST(DcapTcbTdx, ShouldBeNotSupportedWhenNoModuleLevelMatches) {
  EXPECT_EQ(tdx_match(tdx_info(), td_with(tee(1, 1, 3))).status, TcbStatus::NotSupported);
}

TEST(DcapTcbTdx, ShouldFindTheModuleIdentityWithoutRegardToCase) {
  TcbInfo info = tdx_info();
  info.tdx_module_identities[0] = module_identity("tdx_0a", {isv_level(1, TcbStatus::UpToDate)});
  EXPECT_EQ(tdx_match(info, td_with(tee(1, 0x0A, 3))).status, TcbStatus::UpToDate);
}

TEST(DcapTcbTdx, ShouldRejectWhenTheTcbInfoIsForSgx) {
  TcbInfo info = tdx_info();
  info.id = TcbInfoId::Sgx;
  const TdReport td = td_with(tee(5, 0, 3));
  auto m = match_tcb_level(info, pck_with(svns(2), 11), &td);
  ASSERT_FALSE(m.has_value());
  EXPECT_EQ(m.error().code, "attest.tcb_info");
}

TEST(DcapTdxModule, ShouldAcceptWhenSignerAndAttributesMatch) {
  EXPECT_TRUE(check_tdx_module(tdx_info(), td_with(tee(5, 0, 3))).has_value());
  EXPECT_TRUE(check_tdx_module(tdx_info(), td_with(tee(5, 1, 3))).has_value());
}

TEST(DcapTdxModule, ShouldRejectWhenMrSignerSeamDiffers) {
  TdReport td = td_with(tee(5, 1, 3));
  td.mr_signer_seam[47] = 1;
  auto ok = check_tdx_module(tdx_info(), td);
  ASSERT_FALSE(ok.has_value());
  EXPECT_EQ(ok.error().code, "attest.tdx_module");
  EXPECT_NE(ok.error().message.find("mr_signer_seam"), std::string::npos);
  EXPECT_NE(ok.error().message.find("TDX_01"), std::string::npos);
}

TEST(DcapTdxModule, ShouldCompareTheTdxModuleEntryWhenTheMajorIsZero) {
  TcbInfo info = tdx_info();
  info.tdx_module->mrsigner = signer(7);
  EXPECT_TRUE(check_tdx_module(info, td_with(tee(5, 1, 3))).has_value());
  auto ok = check_tdx_module(info, td_with(tee(5, 0, 3)));
  ASSERT_FALSE(ok.has_value());
  EXPECT_NE(ok.error().message.find("tdxModule"), std::string::npos);
}

TEST(DcapTdxModule, ShouldRejectWhenSeamAttributesDifferUnderTheMask) {
  TcbInfo info = tdx_info();
  TdReport td = td_with(tee(5, 1, 3));
  td.seam_attributes[0] = 0x80;
  auto ok = check_tdx_module(info, td);
  ASSERT_FALSE(ok.has_value());
  EXPECT_NE(ok.error().message.find("seam_attributes"), std::string::npos);
  // A bit outside the mask does not count.
  info.tdx_module_identities[1].attributes_mask[0] = 0x7F;
  EXPECT_TRUE(check_tdx_module(info, td).has_value());
}

TEST(DcapTdxModule, ShouldRejectWhenTheIdentityIsMissing) {
  auto ok = check_tdx_module(tdx_info(), td_with(tee(5, 2, 3)));
  ASSERT_FALSE(ok.has_value());
  EXPECT_NE(ok.error().message.find("TDX_02"), std::string::npos);
}

TEST(DcapTdxModule, ShouldRejectWhenTheTcbInfoHasNoModule) {
  TcbInfo info = tdx_info();
  info.tdx_module.reset();
  EXPECT_EQ(check_tdx_module(info, td_with(tee(5, 0, 3))).error().code, "attest.tdx_module");
}

// ---- TD relaunch (TDX 1.5) ----

// Launched on module SVN 3 (TDX_01 OutOfDate) at microcode 3; the module
// now loaded (TEE_TCB_SVN_2) is `svn2`.
TdReport launched_on_old_module(Svns svn2) {
  TdReport td = td_with(tee(3, 1, 3));
  td.tee_tcb_svn_2 = svn2;
  return td;
}

TcbMatch up_to_date_qe() {
  return TcbMatch{TcbStatus::UpToDate, {}, "2024-03-13T00:00:00Z", std::nullopt};
}

TEST(DcapTdRelaunch, ShouldAdviseRelaunchWhenTheLoadedModuleIsCurrent) {
  const TcbMatch m = tdx_match(tdx_info(), launched_on_old_module(tee(4, 1, 3)));
  EXPECT_EQ(m.status, TcbStatus::OutOfDate);
  ASSERT_TRUE(m.relaunch.has_value());
  EXPECT_EQ(*m.relaunch, TcbStatus::TDRelaunchAdvised);
  EXPECT_EQ(fold_status(m, up_to_date_qe()).status, TcbStatus::TDRelaunchAdvised);
}

TEST(DcapTdRelaunch, ShouldAdviseRelaunchWithConfigurationWhenThePlatformNeedsConfiguration) {
  const TcbMatch m =
      tdx_match(tdx_info(TcbStatus::ConfigurationNeeded), launched_on_old_module(tee(4, 1, 3)));
  EXPECT_EQ(m.status, TcbStatus::OutOfDateConfigurationNeeded);
  EXPECT_EQ(fold_status(m, up_to_date_qe()).status, TcbStatus::TDRelaunchAdvisedConfigurationNeeded);
}

TEST(DcapTdRelaunch, ShouldNotAdviseRelaunchWhenTheLoadedModuleIsAlsoOld) {
  const TcbMatch m = tdx_match(tdx_info(), launched_on_old_module(tee(3, 1, 3)));
  EXPECT_FALSE(m.relaunch.has_value());
  EXPECT_EQ(fold_status(m, up_to_date_qe()).status, TcbStatus::OutOfDate);
}

TEST(DcapTdRelaunch, ShouldNotAdviseRelaunchWhenTheLoadedMicrocodeIsOld) {
  const TcbMatch m = tdx_match(tdx_info(), launched_on_old_module(tee(4, 1, 2)));
  EXPECT_FALSE(m.relaunch.has_value());
}

TEST(DcapTdRelaunch, ShouldCompareWithTheNewestPlatformLevelWhenTheLoadedMajorIsZero) {
  EXPECT_EQ(tdx_match(tdx_info(), launched_on_old_module(tee(5, 0, 3))).relaunch,
            TcbStatus::TDRelaunchAdvised);
  EXPECT_FALSE(tdx_match(tdx_info(), launched_on_old_module(tee(4, 0, 3))).relaunch.has_value());
}

TEST(DcapTdRelaunch, ShouldBeNotSupportedWhenTheLoadedModuleHasNoIdentity) {
  const TcbMatch m = tdx_match(tdx_info(), launched_on_old_module(tee(4, 7, 3)));
  EXPECT_EQ(fold_status(m, up_to_date_qe()).status, TcbStatus::NotSupported);
}

TEST(DcapTdRelaunch, ShouldNotApplyWhenTheQeIsOutOfDate) {
  const TcbMatch m = tdx_match(tdx_info(), launched_on_old_module(tee(4, 1, 3)));
  const TcbMatch qe{TcbStatus::OutOfDate, {}, "2024-03-13T00:00:00Z", std::nullopt};
  EXPECT_EQ(fold_status(m, qe).status, TcbStatus::OutOfDate);
}

TEST(DcapTdRelaunch, ShouldNotApplyToTdx10Reports) {
  EXPECT_FALSE(tdx_match(tdx_info(), td_with(tee(3, 1, 3))).relaunch.has_value());
}

// ---- QE Identity ----

QeIdentity qe_identity() {
  QeIdentity id;
  id.id = EnclaveId::Qe;
  id.miscselect = 0;
  id.miscselect_mask = 0xFFFFFFFF;
  id.attributes[0] = 0x11;
  id.attributes_mask.fill(0xFF);
  id.attributes_mask[0] = 0xFB;
  id.mrsigner.fill(0x8C);
  id.isv_prod_id = 1;
  id.tcb_levels = {isv_level(8, TcbStatus::UpToDate), isv_level(6, TcbStatus::OutOfDate, {"INTEL-SA-00615"}),
                   isv_level(2, TcbStatus::Revoked, {"INTEL-SA-00219"})};
  return id;
}

EnclaveReport qe_report(std::uint16_t isv_svn) {
  EnclaveReport r;
  r.attributes[0] = 0x15;  // bit 2 is outside the mask
  r.mr_signer.fill(0x8C);
  r.isv_prod_id = 1;
  r.isv_svn = isv_svn;
  return r;
}

TEST(DcapQeIdentity, ShouldSelectTheFirstLevelAtMostTheQesSvn) {
  EXPECT_EQ(match_qe_identity(qe_identity(), qe_report(9))->status, TcbStatus::UpToDate);
  const auto out_of_date = match_qe_identity(qe_identity(), qe_report(7)).value();
  EXPECT_EQ(out_of_date.status, TcbStatus::OutOfDate);
  EXPECT_EQ(out_of_date.advisories, Strings{"INTEL-SA-00615"});
  EXPECT_EQ(match_qe_identity(qe_identity(), qe_report(2))->status, TcbStatus::Revoked);
  EXPECT_EQ(match_qe_identity(qe_identity(), qe_report(1))->status, TcbStatus::NotSupported);
}

void expect_qe_mismatch(const EnclaveReport& report, std::string_view field) {
  auto m = match_qe_identity(qe_identity(), report);
  ASSERT_FALSE(m.has_value());
  EXPECT_EQ(m.error().code, "attest.qe_identity");
  EXPECT_NE(m.error().message.find(field), std::string::npos) << m.error().message;
}

TEST(DcapQeIdentity, ShouldRejectWhenMiscselectDiffers) {
  EnclaveReport r = qe_report(8);
  r.misc_select = 1;
  expect_qe_mismatch(r, "miscselect");
}

TEST(DcapQeIdentity, ShouldRejectWhenAttributesDifferUnderTheMask) {
  EnclaveReport r = qe_report(8);
  r.attributes[0] = 0x13;  // DEBUG set
  expect_qe_mismatch(r, "attributes");
}

TEST(DcapQeIdentity, ShouldRejectWhenMrSignerDiffers) {
  EnclaveReport r = qe_report(8);
  r.mr_signer[0] = 0;
  expect_qe_mismatch(r, "mrsigner");
}

TEST(DcapQeIdentity, ShouldRejectWhenIsvProdIdDiffers) {
  EnclaveReport r = qe_report(8);
  r.isv_prod_id = 2;
  expect_qe_mismatch(r, "isvprodid");
}

// ---- folding ----

TcbMatch match_of(TcbStatus s, Strings advisories = {}, std::string date = "2024-03-13T00:00:00Z") {
  return TcbMatch{s, std::move(advisories), std::move(date), std::nullopt};
}

TEST(DcapFold, ShouldKeepThePlatformStatusWhenTheQeIsUpToDate) {
  for (TcbStatus s : {TcbStatus::UpToDate, TcbStatus::SWHardeningNeeded, TcbStatus::ConfigurationNeeded,
                      TcbStatus::OutOfDate, TcbStatus::Revoked}) {
    EXPECT_EQ(fold_status(match_of(s), match_of(TcbStatus::UpToDate)).status, s);
  }
}

TEST(DcapFold, ShouldConvergeWhenTheQeIsOutOfDate) {
  const TcbMatch qe = match_of(TcbStatus::OutOfDate);
  EXPECT_EQ(fold_status(match_of(TcbStatus::UpToDate), qe).status, TcbStatus::OutOfDate);
  EXPECT_EQ(fold_status(match_of(TcbStatus::SWHardeningNeeded), qe).status, TcbStatus::OutOfDate);
  EXPECT_EQ(fold_status(match_of(TcbStatus::ConfigurationNeeded), qe).status,
            TcbStatus::OutOfDateConfigurationNeeded);
  EXPECT_EQ(fold_status(match_of(TcbStatus::ConfigurationAndSWHardeningNeeded), qe).status,
            TcbStatus::OutOfDateConfigurationNeeded);
  EXPECT_EQ(fold_status(match_of(TcbStatus::Revoked), qe).status, TcbStatus::Revoked);
}

TEST(DcapFold, ShouldBeRevokedWhenTheQeIsRevoked) {
  EXPECT_EQ(fold_status(match_of(TcbStatus::UpToDate), match_of(TcbStatus::Revoked)).status,
            TcbStatus::Revoked);
}

TEST(DcapFold, ShouldBeNotSupportedWhenEitherSideIs) {
  EXPECT_EQ(fold_status(match_of(TcbStatus::UpToDate), match_of(TcbStatus::NotSupported)).status,
            TcbStatus::NotSupported);
  EXPECT_EQ(fold_status(match_of(TcbStatus::NotSupported), match_of(TcbStatus::Revoked)).status,
            TcbStatus::NotSupported);
}

TEST(DcapFold, ShouldUnionAdvisoriesAndKeepTheEarliestDate) {
  const TcbMatch m =
      fold_status(match_of(TcbStatus::OutOfDate, {"INTEL-SA-A", "INTEL-SA-B"}, "2024-03-13T00:00:00Z"),
                  match_of(TcbStatus::OutOfDate, {"INTEL-SA-B", "INTEL-SA-C"}, "2021-11-10T00:00:00Z"));
  EXPECT_EQ(m.advisories, (Strings{"INTEL-SA-A", "INTEL-SA-B", "INTEL-SA-C"}));
  EXPECT_EQ(m.tcb_date, "2021-11-10T00:00:00Z");
}

// ---- malformed signed JSON ----

nlohmann::json real_tcb_info() {
  return nlohmann::json::parse(
      parse_collateral(read_text("dcap-qvl/tdx_quote_collateral.json")).value().tcb_info);
}

nlohmann::json real_qe_identity() {
  return nlohmann::json::parse(
      parse_collateral(read_text("dcap-qvl/sgx_quote_collateral.json")).value().qe_identity);
}

void expect_tcb_info_error(const nlohmann::json& j, std::string_view field) {
  auto info = parse_tcb_info(j.dump());
  ASSERT_FALSE(info.has_value());
  EXPECT_EQ(info.error().code, "attest.collateral");
  EXPECT_NE(info.error().message.find(field), std::string::npos) << info.error().message;
}

void expect_qe_identity_error(const nlohmann::json& j, std::string_view field) {
  auto id = parse_qe_identity(j.dump());
  ASSERT_FALSE(id.has_value());
  EXPECT_EQ(id.error().code, "attest.collateral");
  EXPECT_NE(id.error().message.find(field), std::string::npos) << id.error().message;
}

TEST(DcapTcbInfoParse, ShouldRejectWhenARequiredFieldIsMissing) {
  for (const char* key : {"id", "version", "issueDate", "nextUpdate", "fmspc", "pceId", "tcbType",
                          "tcbEvaluationDataNumber", "tdxModule", "tcbLevels"}) {
    auto j = real_tcb_info();
    j.erase(key);
    expect_tcb_info_error(j, std::string("tcbInfo.") + key);
  }
  auto j = real_tcb_info();
  j["tcbLevels"][1]["tcb"].erase("pcesvn");
  expect_tcb_info_error(j, "tcbInfo.tcbLevels[1].tcb.pcesvn");
}

TEST(DcapTcbInfoParse, ShouldRejectWhenHexIsMalformed) {
  auto j = real_tcb_info();
  j["fmspc"] = "B0C06F00000Z";
  expect_tcb_info_error(j, "tcbInfo.fmspc");
  j = real_tcb_info();
  j["fmspc"] = "B0C06F0000";
  expect_tcb_info_error(j, "tcbInfo.fmspc");
  j = real_tcb_info();
  j["tdxModule"]["mrsigner"] = "00";
  expect_tcb_info_error(j, "tcbInfo.tdxModule.mrsigner");
}

TEST(DcapTcbInfoParse, ShouldRejectWhenAStatusIsUnknown) {
  auto j = real_tcb_info();
  j["tcbLevels"][0]["tcbStatus"] = "Fine";
  expect_tcb_info_error(j, "tcbInfo.tcbLevels[0].tcbStatus");
  // Statuses a verifier derives are not statuses Intel signs.
  j["tcbLevels"][0]["tcbStatus"] = "TDRelaunchAdvised";
  expect_tcb_info_error(j, "tcbInfo.tcbLevels[0].tcbStatus");
  j = real_tcb_info();
  j["tdxModuleIdentities"][0]["tcbLevels"][0]["tcbStatus"] = "ConfigurationNeeded";
  expect_tcb_info_error(j, "tcbInfo.tdxModuleIdentities[0].tcbLevels[0].tcbStatus");
}

TEST(DcapTcbInfoParse, ShouldRejectWhenADateIsNotUtcRfc3339) {
  for (const char* date : {"2025-06-19T10:16:03+00:00", "2025-06-19 10:16:03Z", "2025-06-19T10:16:03.000Z",
                           "2025-02-30T10:16:03Z", "2025-06-19T24:00:00Z", "2025-06-19"}) {
    auto j = real_tcb_info();
    j["issueDate"] = date;
    expect_tcb_info_error(j, "tcbInfo.issueDate");
  }
  auto j = real_tcb_info();
  j["tcbLevels"][0]["tcbDate"] = "yesterday";
  expect_tcb_info_error(j, "tcbInfo.tcbLevels[0].tcbDate");
}

TEST(DcapTcbInfoParse, ShouldRejectWhenComponentsAreMissingOrOutOfRange) {
  auto j = real_tcb_info();
  j["tcbLevels"][0]["tcb"]["sgxtcbcomponents"].erase(15);
  expect_tcb_info_error(j, "tcbInfo.tcbLevels[0].tcb.sgxtcbcomponents");
  j = real_tcb_info();
  j["tcbLevels"][0]["tcb"]["tdxtcbcomponents"][2]["svn"] = 256;
  expect_tcb_info_error(j, "tcbInfo.tcbLevels[0].tcb.tdxtcbcomponents[2].svn");
  j = real_tcb_info();
  j["tcbLevels"][0]["tcb"]["sgxtcbcomponents"][0]["svn"] = -1;
  expect_tcb_info_error(j, "tcbInfo.tcbLevels[0].tcb.sgxtcbcomponents[0].svn");
  j = real_tcb_info();
  j["tcbLevels"][0]["tcb"]["pcesvn"] = 1.5;
  expect_tcb_info_error(j, "tcbInfo.tcbLevels[0].tcb.pcesvn");
}

TEST(DcapTcbInfoParse, ShouldRejectUnknownIdsVersionsAndTypes) {
  auto j = real_tcb_info();
  j["id"] = "SEV";
  expect_tcb_info_error(j, "tcbInfo.id");
  j = real_tcb_info();
  j["version"] = 4;
  expect_tcb_info_error(j, "tcbInfo.version");
  j = real_tcb_info();
  j["tcbType"] = 1;
  expect_tcb_info_error(j, "tcbInfo.tcbType");
  j = real_tcb_info();
  j["tcbLevels"] = nlohmann::json::array();
  expect_tcb_info_error(j, "tcbInfo.tcbLevels");
  j = real_tcb_info();
  j["advisoryIDs"] = 1;  // ignored at the top level
  EXPECT_TRUE(parse_tcb_info(j.dump()).has_value());
  j = real_tcb_info();
  j["tcbLevels"][1]["advisoryIDs"][0] = 7;
  expect_tcb_info_error(j, "tcbInfo.tcbLevels[1].advisoryIDs");
}

TEST(DcapTcbInfoParse, ShouldRejectWhenNotJson) {
  EXPECT_EQ(parse_tcb_info("").error().code, "attest.collateral");
  EXPECT_FALSE(parse_tcb_info("{\"id\":\"TDX\"").has_value());
  EXPECT_FALSE(parse_tcb_info("[]").has_value());
  const std::string huge(kMaxCollateralSize + 1, ' ');
  EXPECT_NE(parse_tcb_info(huge).error().message.find("too large"), std::string::npos);
  EXPECT_NE(parse_qe_identity(huge).error().message.find("too large"), std::string::npos);
}

TEST(DcapTcbInfoParse, ShouldReadSgxTcbInfoVersion2) {
  nlohmann::json tcb = {{"pcesvn", 7}};
  for (int i = 1; i <= 16; ++i) {
    tcb[std::string("sgxtcbcomp") + (i < 10 ? "0" : "") + std::to_string(i) + "svn"] = i;
  }
  const nlohmann::json j = {
      {"version", 2},
      {"issueDate", "2023-01-01T00:00:00Z"},
      {"nextUpdate", "2023-02-01T00:00:00Z"},
      {"fmspc", "00906ea10000"},
      {"pceId", "0000"},
      {"tcbType", 0},
      {"tcbEvaluationDataNumber", 12},
      {"tcbLevels",
       {{{"tcb", tcb}, {"tcbDate", "2022-08-10T00:00:00Z"}, {"tcbStatus", "SWHardeningNeeded"}}}}};
  auto info = parse_tcb_info(j.dump());
  ASSERT_TRUE(info.has_value()) << info.error().message;
  EXPECT_EQ(info->version, 2);
  EXPECT_EQ(info->id, TcbInfoId::Sgx);
  ASSERT_EQ(info->tcb_levels.size(), 1u);
  EXPECT_EQ(info->tcb_levels[0].sgx_components[15], 16);
  EXPECT_EQ(info->tcb_levels[0].pce_svn, 7);
  EXPECT_EQ(info->tcb_levels[0].status, TcbStatus::SWHardeningNeeded);
  EXPECT_FALSE(check_tcb_info_applies(*info, PckExtensions{}, true).has_value());
}

TEST(DcapQeIdentityParse, ShouldReadEveryFieldOfARealQeIdentity) {
  auto id = parse_qe_identity(real_qe_identity().dump());
  ASSERT_TRUE(id.has_value()) << id.error().message;
  EXPECT_EQ(id->id, EnclaveId::Qe);
  EXPECT_EQ(id->miscselect, 0u);
  EXPECT_EQ(id->miscselect_mask, 0xFFFFFFFFu);
  EXPECT_EQ(id->attributes[0], 0x11);
  EXPECT_EQ(hex_encode(id->mrsigner), "8c4f5775d796503e96137f77c68a829a0056ac8ded70140b081b094490c57bff");
  EXPECT_EQ(id->isv_prod_id, 1);
  ASSERT_EQ(id->tcb_levels.size(), 6u);
  EXPECT_EQ(id->tcb_levels[1].isv_svn, 6);
  EXPECT_EQ(id->tcb_levels[1].advisory_ids, Strings{"INTEL-SA-00615"});
}

TEST(DcapQeIdentityParse, ShouldRejectWhenMalformed) {
  for (const char* key : {"id", "version", "issueDate", "nextUpdate", "miscselect", "miscselectMask",
                          "attributes", "attributesMask", "mrsigner", "isvprodid", "tcbLevels"}) {
    auto j = real_qe_identity();
    j.erase(key);
    expect_qe_identity_error(j, std::string("enclaveIdentity.") + key);
  }
  auto j = real_qe_identity();
  j["version"] = 1;
  expect_qe_identity_error(j, "enclaveIdentity.version");
  j = real_qe_identity();
  j["id"] = "PCE";
  expect_qe_identity_error(j, "enclaveIdentity.id");
  j = real_qe_identity();
  j["isvprodid"] = 65536;
  expect_qe_identity_error(j, "enclaveIdentity.isvprodid");
  j = real_qe_identity();
  j["attributes"] = "1100000000000000000000000000000";
  expect_qe_identity_error(j, "enclaveIdentity.attributes");
  j = real_qe_identity();
  j["tcbLevels"][2]["tcbStatus"] = "SWHardeningNeeded";
  expect_qe_identity_error(j, "enclaveIdentity.tcbLevels[2].tcbStatus");
  j = real_qe_identity();
  j["tcbLevels"][0]["tcb"] = {{"svn", 1}};
  expect_qe_identity_error(j, "enclaveIdentity.tcbLevels[0].tcb.isvsvn");
}

}  // namespace
}  // namespace ward::attest::dcap
