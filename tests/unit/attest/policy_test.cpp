// Appraisal policies (strict defaults, the CLI's report-only default, every
// policy check made to fail) and the evidence entry point: bundles, platform
// detection, and simulated evidence refused unless the policy allows it.
#include "attest/policy.h"

#include <chrono>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "appraisal_testing.h"
#include "attest/evidence.h"
#include "attest/sim.h"

namespace ward::attest {
namespace {

using namespace std::chrono;

const system_clock::time_point kNow = sys_days{year{2026} / 11 / 25};

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// An appraisal whose platform checks passed.
Appraisal verified(Platform p = Platform::Tdx) {
  Appraisal a;
  a.platform = p;
  a.checks.pass("platform", "");
  a.tcb_status = TcbStatus::UpToDate;
  a.report_data = Bytes(64, 7);
  a.measurements = {{"mrtd", Bytes(48, 1)}};
  a.claims["driver_version"] = "550.90.07";
  return a;
}

EvidenceBundle sim_bundle(const Bytes& report_data = Bytes(64, 9)) {
  auto e = sim::make_quote(report_data, sim::measure(as_bytes("loader")), kNow);
  EXPECT_TRUE(e.has_value());
  return {Platform::Sim, e->quote, dcap::collateral_to_json(e->collateral), {}};
}

TEST(Policy, ShouldBeStrictWhenAFileOmitsEverything) {
  auto p = Policy::from_json("{}");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->accepted_tcb_statuses, std::vector<TcbStatus>{TcbStatus::UpToDate});
  EXPECT_TRUE(p->accepted_advisories.empty());
  EXPECT_TRUE(p->require_collateral);
  EXPECT_FALSE(p->allow_debug);
  EXPECT_FALSE(p->allow_simulated);
}

TEST(Policy, ShouldRoundTripThroughJson) {
  const std::string text = R"({"accepted_tcb_statuses":["UpToDate","OutOfDate"],"accepted_advisories":["INTEL-SA-00615"],
    "require_collateral":false,"min_snp_tcb":{"bootloader":2,"tee":0,"snp":5,"microcode":68,"fmc":1},
    "measurements":{"mrtd":["0A0B"]},"claims":{"driver_version":["550.90.07"]},"allow_debug":true,
    "report_data":"00ff","allow_simulated":true})";
  auto p = Policy::from_json(text);
  ASSERT_TRUE(p) << p.error().message;
  auto again = Policy::from_json(p->to_json());
  ASSERT_TRUE(again);
  EXPECT_EQ(again->to_json(), p->to_json());
  EXPECT_EQ(p->allowed_measurements.at("mrtd").front(), (Bytes{0x0a, 0x0b}));
  EXPECT_EQ(p->min_snp_tcb->fmc, 1);
}

TEST(Policy, ShouldRejectMalformedFiles) {
  for (const char* bad : {"", "[]", "{\"allow_debug\":1}", "{\"unknown\":true}",
                          "{\"accepted_tcb_statuses\":[\"Fine\"]}", "{\"accepted_tcb_statuses\":[\"Revoked\"]}",
                          "{\"accepted_tcb_statuses\":[\"NotSupported\"]}", "{\"measurements\":{\"mrtd\":[\"xyz\"]}}",
                          "{\"min_snp_tcb\":{\"tee\":1}}", "{\"min_snp_tcb\":{\"bootloader\":256,\"tee\":0,\"snp\":0,"
                          "\"microcode\":0}}", "{\"report_data\":\"\"}", "{\"claims\":{\"x\":[1]}}"}) {
    auto p = Policy::from_json(bad);
    EXPECT_FALSE(p) << bad;
    if (!p) {
      EXPECT_EQ(p.error().code, "attest.policy");
    }
  }
}

TEST(Policy, ShouldNotAppraiseEvidenceWhosePlatformChecksFailed) {
  Appraisal a;
  a.checks.fail("quote.signature", "bad");
  Policy::strict().appraise(a);
  EXPECT_EQ(a.checks.results().size(), 1u);
}

TEST(Policy, ShouldFailDebugUnlessAllowed) {
  Appraisal a = verified();
  a.debug = true;
  Policy::strict().appraise(a);
  EXPECT_EQ(failed(a), "policy.debug");
  Appraisal b = verified();
  b.debug = true;
  Policy p;
  p.allow_debug = true;
  p.appraise(b);
  EXPECT_TRUE(b.accepted());
}

TEST(Policy, ShouldFailCollateralWhenRequiredAndAbsent) {
  Appraisal a = verified();
  a.tcb_status.reset();
  Policy::strict().appraise(a);
  EXPECT_EQ(failed(a), "policy.collateral");
  Appraisal b = verified();
  b.tcb_status.reset();
  Policy::report_only().appraise(b);
  EXPECT_TRUE(b.accepted());
}

TEST(Policy, ShouldFailTcbStatusNotAccepted) {
  Appraisal a = verified();
  a.tcb_status = TcbStatus::OutOfDate;
  Policy::strict().appraise(a);
  EXPECT_EQ(failed(a), "policy.tcb_status");
  for (auto s : {TcbStatus::Revoked, TcbStatus::NotSupported}) {
    Appraisal b = verified();
    b.tcb_status = s;
    Policy::report_only().appraise(b);
    EXPECT_EQ(failed(b), "policy.tcb_status");
  }
}

TEST(Policy, ShouldFailAdvisoriesNotAccepted) {
  Appraisal a = verified();
  a.advisories = {"INTEL-SA-00615"};
  Policy::strict().appraise(a);
  EXPECT_EQ(failed(a), "policy.advisories");
  Appraisal b = verified();
  b.advisories = {"INTEL-SA-00615"};
  Policy p;
  p.accepted_advisories = {"INTEL-SA-00615"};
  p.appraise(b);
  EXPECT_TRUE(b.accepted());
}

TEST(Policy, ShouldFailReportDataThatDiffers) {
  Appraisal a = verified();
  Policy p;
  p.expected_report_data = Bytes(64, 8);
  p.appraise(a);
  EXPECT_EQ(failed(a), "policy.report_data");
}

TEST(Policy, ShouldFailMeasurementsNotAllowedOrAbsent) {
  Appraisal a = verified();
  Policy p;
  p.allowed_measurements["mrtd"] = {Bytes(48, 2)};
  p.appraise(a);
  EXPECT_EQ(failed(a), "policy.measurement.mrtd");
  Appraisal b = verified();
  Policy q;
  q.allowed_measurements["rtmr0"] = {Bytes(48, 0)};
  q.appraise(b);
  EXPECT_EQ(failed(b), "policy.measurement.rtmr0");
  Appraisal c = verified();
  Policy r;
  r.allowed_measurements["mrtd"] = {Bytes(48, 2), Bytes(48, 1)};
  r.appraise(c);
  EXPECT_TRUE(c.accepted());
}

TEST(Policy, ShouldFailClaimsNotAllowed) {
  Appraisal a = verified(Platform::NvGpu);
  a.tcb_status.reset();
  Policy p;
  p.require_collateral = false;
  p.allowed_claims["driver_version"] = {"535.104.05"};
  p.appraise(a);
  EXPECT_EQ(failed(a), "policy.claim.driver_version");
}

TEST(Policy, ShouldGradeSnpAgainstTheMinimumTcb) {
  Appraisal a = verified(Platform::Snp);
  a.tcb_status.reset();
  a.snp_reported_tcb = SnpTcb{2, 0, 5, 68, std::nullopt};
  Policy p;
  p.min_snp_tcb = SnpTcb{2, 0, 6, 68, std::nullopt};
  p.appraise(a);
  EXPECT_EQ(failed(a), "policy.snp_tcb");
  EXPECT_EQ(a.tcb_status, TcbStatus::OutOfDate);
  Appraisal b = verified(Platform::Snp);
  b.tcb_status.reset();
  b.snp_reported_tcb = SnpTcb{2, 0, 5, 68, std::nullopt};
  p.min_snp_tcb = SnpTcb{2, 0, 5, 60, std::nullopt};
  p.appraise(b);
  EXPECT_TRUE(b.accepted());
  EXPECT_EQ(b.tcb_status, TcbStatus::UpToDate);
}

TEST(Policy, ShouldFailSnpMigrationAgentUnlessAllowed) {
  Appraisal a = verified(Platform::Snp);
  a.snp_migration_agent_allowed = true;
  Policy::strict().appraise(a);
  EXPECT_EQ(failed(a), "policy.snp_migration_agent");
  Appraisal b = verified(Platform::Snp);
  b.snp_migration_agent_allowed = true;
  Policy p;
  p.allow_migration_agent = true;
  p.appraise(b);
  EXPECT_TRUE(b.accepted());
}

TEST(Policy, ShouldFailSnpSmtOnlyWhenThePolicyRefusesIt) {
  Appraisal a = verified(Platform::Snp);
  a.snp_smt_allowed = true;
  Policy::strict().appraise(a);
  EXPECT_TRUE(a.accepted());
  Appraisal b = verified(Platform::Snp);
  b.snp_smt_allowed = true;
  auto p = Policy::from_json(R"({"allow_smt": false})");
  ASSERT_TRUE(p);
  p->appraise(b);
  EXPECT_EQ(failed(b), "policy.snp_smt");
}

TEST(Evidence, ShouldRefuseSimulatedEvidenceUnlessThePolicyAllowsIt) {
  const EvidenceBundle b = sim_bundle();
  const Appraisal refused = verify_evidence(b, Policy::report_only(), kNow);
  EXPECT_EQ(failed(refused), "policy.simulated");
  EXPECT_TRUE(refused.simulated);
  Policy p;
  p.allow_simulated = true;
  const Appraisal allowed = verify_evidence(b, p, kNow);
  EXPECT_TRUE(allowed.accepted()) << failed(allowed);
  EXPECT_TRUE(allowed.simulated);
  EXPECT_EQ(appraisal_to_json(allowed)["platform"], "sim");
  EXPECT_NE(appraisal_to_text(allowed).find("SIMULATED"), std::string::npos);
}

TEST(Evidence, ShouldRoundTripBundles) {
  const EvidenceBundle b = sim_bundle();
  auto again = parse_bundle(bundle_to_json(b));
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->platform, Platform::Sim);
  EXPECT_EQ(again->evidence, b.evidence);
  Policy p;
  p.allow_simulated = true;
  EXPECT_TRUE(verify_evidence(*again, p, kNow).accepted());
}

TEST(Evidence, ShouldRejectMalformedBundles) {
  for (const char* bad :
       {"", "{}", "[]", R"({"format":"ward/evidence/v2","platform":"tdx","evidence":"AA=="})",
        R"({"format":"ward/evidence/v1","platform":"tpm","evidence":"AA=="})",
        R"({"format":"ward/evidence/v1","platform":"tdx","evidence":"!!"})",
        R"({"format":"ward/evidence/v1","platform":"tdx","evidence":"AA==","extra":1})",
        R"({"format":"ward/evidence/v1","platform":"tdx","evidence":"AA==","certs":"-----BEGIN CERTIFICATE-----"})"}) {
    auto b = parse_bundle(bad);
    EXPECT_FALSE(b) << bad;
  }
  EXPECT_FALSE(parse_bundle(std::string(kMaxEvidenceBundleSize + 1, ' ')));
}

TEST(Evidence, ShouldFailCollateralParseForBrokenCollateral) {
  EvidenceBundle b = sim_bundle();
  b.collateral = "{}";
  EXPECT_EQ(failed(verify_evidence(b, Policy::report_only(), kNow)), "collateral.parse");
}

TEST(Evidence, ShouldDetectEachPlatform) {
  const std::string dir = "../shared/testdata/attestation/";
  EXPECT_EQ(detect_platform(to_bytes(read_text(dir + "tdx-sgx/dcap-qvl/tdx_quote"))), Platform::Tdx);
  EXPECT_EQ(detect_platform(to_bytes(read_text(dir + "tdx-sgx/dcap-qvl/sgx_quote"))), Platform::Sgx);
  EXPECT_EQ(detect_platform(to_bytes(read_text(dir + "snp/trustee/test-report.bin"))), Platform::Snp);
  std::string hex = read_text(dir + "nvidia/trustee/hopperAttestationReport.txt");
  std::erase_if(hex, [](char c) { return c == '\n' || c == '\r' || c == ' '; });
  auto spdm = hex_decode(hex);
  ASSERT_TRUE(spdm);
  EXPECT_EQ(detect_platform(*spdm), Platform::NvGpu);
  EXPECT_FALSE(detect_platform(to_bytes("hello")));
}

TEST(Evidence, ShouldBindTheReportDataPolicyToSimulatedQuotes) {
  const EvidenceBundle b = sim_bundle(Bytes(64, 3));
  Policy p;
  p.allow_simulated = true;
  p.expected_report_data = Bytes(64, 4);
  EXPECT_EQ(failed(verify_evidence(b, p, kNow)), "policy.report_data");
}

}  // namespace
}  // namespace ward::attest
