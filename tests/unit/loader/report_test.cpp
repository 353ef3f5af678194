#include "loader/report.h"

#include <limits>

#include <gtest/gtest.h>

#include "crypto/keys.h"

namespace ward::loader {
namespace {

using json = nlohmann::json;

Report sample_report() {
  Report r;
  r.ledger.fill(1);
  r.order = 7;
  r.cvm.fill(2);
  r.certificate = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
  r.engine = "sha256:" + std::string(64, 'a');
  r.engine_resource.resource.fill(3);
  r.engine_resource.plaintext_sha256.fill(4);
  r.engine_resource.owner.fill(5);
  r.engine_resource.grant.fill(6);
  ReportInput in;
  in.resource.fill(7);
  in.plaintext_sha256.fill(8);
  in.owner.fill(9);
  in.grant.fill(10);
  r.inputs = {in, in};
  r.output = {"file:///s/" + std::string(64, 'b'), {}, 1234, {"age1example"}};
  r.output.sha256.fill(11);
  r.started = "2026-11-26T00:00:00Z";
  r.finished = "2026-11-26T00:00:05Z";
  r.exit_code = 0;
  r.outcome = "exited with status 0";
  r.stages_ms = {{"fetch", 1}, {"run", 900}};
  return r;
}

TEST(ReportTest, shouldRoundTripWhenSignedAndParsed) {
  const auto key = crypto::Ed25519PrivateKey::generate();
  const auto signed_report = sign_report(sample_report(), key);
  auto parsed = parse_report_text(signed_report.json.dump());
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_TRUE(report_signature_valid(*parsed, key.public_key()));
  EXPECT_EQ(report_json(parsed->report), report_json(sample_report()));
  EXPECT_EQ(parsed->report.inputs.size(), 2u);
  EXPECT_EQ(parsed->report.stages_ms.at("run"), 900u);
}

TEST(ReportTest, shouldFailSignatureWhenAnyFieldChanges) {
  const auto key = crypto::Ed25519PrivateKey::generate();
  const auto signed_report = sign_report(sample_report(), key);
  const json original = signed_report.json;
  int changed = 0;
  const json flat = original["report"].flatten();
  for (const auto& [pointer, value] : flat.items()) {
    json tampered = original;
    json& field = tampered["report"][json::json_pointer(pointer)];
    if (field.is_string()) {
      std::string s = field.get<std::string>();
      s.back() = s.back() == '0' ? '1' : '0';
      field = s;
    } else if (field.is_number()) {
      field = field.get<std::int64_t>() + 1;
    } else {
      continue;
    }
    auto parsed = parse_report(tampered);
    if (!parsed) {
      ++changed;  // no longer well-formed: refused before the signature
      continue;
    }
    EXPECT_FALSE(report_signature_valid(*parsed, key.public_key())) << pointer;
    ++changed;
  }
  EXPECT_GT(changed, 20);
}

TEST(ReportTest, shouldFailSignatureWhenSignedByAnotherKey) {
  const auto signed_report = sign_report(sample_report(), crypto::Ed25519PrivateKey::generate());
  auto parsed = parse_report(signed_report.json);
  ASSERT_TRUE(parsed);
  EXPECT_FALSE(report_signature_valid(*parsed, crypto::Ed25519PrivateKey::generate().public_key()));
}

// docs/serving.md: a service's start report has an empty "finished".
TEST(ReportTest, shouldAcceptAnEmptyFinishedWhenTheReportIsAStartReport) {
  Report report = sample_report();
  report.finished = "";
  auto parsed = parse_report(sign_report(report, crypto::Ed25519PrivateKey::generate()).json);
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->report.finished, "");
}

// docs/serving.md, "Split inference": a split order's service part lists
// its workers; a report without them reads exactly as before.
TEST(ReportTest, shouldCarryASplitOrdersWorkersAndRefuseBadLists) {
  Report report = sample_report();
  report.output = {};
  report.service = ReportService{};
  report.service->tls_key_sha256.fill(12);
  report.service->tls_certificate = "PEM";
  report.service->endpoint = "https://127.0.0.1:1";
  const auto key = crypto::Ed25519PrivateKey::generate();
  EXPECT_FALSE(sign_report(report, key).json["report"]["service"].contains("workers"));
  ReportWorker worker;
  worker.cvm.fill(13);
  worker.certificate = "WORKER PEM";
  worker.endpoint = "127.0.0.1:2";
  report.service->workers = {worker, worker};
  report.service->workers[1].cvm.fill(14);
  const json good = sign_report(report, key).json;
  auto parsed = parse_report(good);
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->report.service->workers, report.service->workers);
  EXPECT_TRUE(report_signature_valid(*parsed, key.public_key()));

  const auto refused = [](json j, const char* what) {
    auto r = parse_report(j);
    EXPECT_FALSE(r) << what;
  };
  json j = good;
  j["report"]["service"]["workers"] = json::array();
  refused(j, "an empty list");
  j = good;
  j["report"]["service"]["workers"] = json::array();
  for (int i = 0; i < 8; ++i)
    j["report"]["service"]["workers"].push_back(good["report"]["service"]["workers"][0]);
  refused(j, "8 workers");
  j = good;
  j["report"]["service"]["workers"][0].erase("certificate");
  refused(j, "a worker without its certificate");
  j = good;
  j["report"]["service"]["workers"][0]["note"] = "x";
  refused(j, "a worker's unknown field");
  j = good;
  j["report"]["service"]["workers"][1]["cvm"] = "00";
  refused(j, "a short CVM id");
  // A worker swapped in after signing: the signature fails.
  j = good;
  j["report"]["service"]["workers"][1]["cvm"] = std::string(64, 'f');
  auto swapped = parse_report(j);
  ASSERT_TRUE(swapped);
  EXPECT_FALSE(report_signature_valid(*swapped, key.public_key()));
}

TEST(ReportTest, shouldRefuseWhenMalformed) {
  const auto key = crypto::Ed25519PrivateKey::generate();
  const json good = sign_report(sample_report(), key).json;
  auto refuse = [](const json& j, const char* what) {
    auto parsed = parse_report(j);
    ASSERT_FALSE(parsed) << what;
    EXPECT_EQ(parsed.error().code, "report.parse") << what;
  };
  json j = good;
  j["report"]["extra"] = 1;
  refuse(j, "unknown field");
  j = good;
  j["report"].erase("engine");
  refuse(j, "missing field");
  j = good;
  j["report"]["ledger"] = std::string(64, 'A');
  refuse(j, "upper-case hex");
  j = good;
  j["report"]["order"] = -1;
  refuse(j, "negative order");
  j = good;
  j["report"]["v"] = 2;
  refuse(j, "version");
  j = good;
  j["sig"] = "00";
  refuse(j, "short signature");
  j = good;
  j["report"]["inputs"] = json::object();
  refuse(j, "inputs not an array");
  j = good;
  j["report"]["started"] = "2026-11-26 00:00:00";
  refuse(j, "a time not in RFC 3339");
  j = good;
  j["report"]["outcome"] = "";
  refuse(j, "an empty outcome");
  j = good;
  j["report"]["exit_code"] = std::numeric_limits<std::uint64_t>::max();
  refuse(j, "an exit code past int, which int64_t would read as -1");
  EXPECT_FALSE(parse_report_text(R"({"report": {}, "report": {}, "sig": ""})"));
  EXPECT_FALSE(parse_report_text(std::string(kMaxReportSize + 1, ' ')));
}

}  // namespace
}  // namespace ward::loader
