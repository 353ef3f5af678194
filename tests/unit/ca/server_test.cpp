#include "ca/server.h"

#include <httplib.h>

#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "ca/certificate.h"
#include "fixture.h"

namespace ward::ca {
namespace {

using namespace testing;
using json = nlohmann::json;

// The server issues at the real current time, so the evidence is made now.
attest::EvidenceBundle evidence_now(const keys::PartyKey& key) {
  auto e = attest::sim::make_quote(cvm_report_data(key.signing_public_key(), key.recipient().key()),
                                   attest::sim::measure(as_bytes("ward-loader")), system_clock::now());
  attest::EvidenceBundle b;
  b.platform = attest::Platform::Sim;
  b.evidence = e.value().quote;
  b.collateral = attest::dcap::collateral_to_json(e->collateral);
  return b;
}

class ServerTest : public CaTest {
 protected:
  void SetUp() override {
    CaTest::SetUp();
    server_ = std::make_unique<CaServer>(center(), policy_, ServerOptions{.threads = 4});
    auto port = server_->bind("127.0.0.1", 0);
    ASSERT_TRUE(port) << port.error().message;
    url_ = "http://127.0.0.1:" + std::to_string(*port);
    thread_ = std::thread([this] { ASSERT_TRUE(server_->serve()); });
  }
  void TearDown() override {
    server_->stop();
    thread_.join();
    CaTest::TearDown();
  }

  httplib::Result post(const std::string& body) {
    httplib::Client http(url_);
    return http.Post("/v1/certificates", body, "application/json");
  }

  json request_json(const attest::EvidenceBundle& evidence, const keys::PartyKey& key) const {
    return {{"evidence", json::parse(attest::bundle_to_json(evidence))},
            {"signing_key", hex_encode(key.signing_public_key())},
            {"age_recipient", key.recipient().to_string()}};
  }

  // The status and reason of a refusal.
  std::pair<int, std::string> refusal(const std::string& body) {
    auto res = post(body);
    if (!res) return {0, httplib::to_string(res.error())};
    const json j = json::parse(res->body, nullptr, false);
    const bool shaped = j.is_object() && j.contains("error") && j["error"].contains("reason") &&
                        j["error"]["reason"].is_string() && j["error"].contains("message");
    return {res->status, shaped ? j["error"]["reason"].get<std::string>() : "unshaped: " + res->body};
  }

  void expect_healthy() {
    auto ca = fetch_ca_certificate(url_);
    ASSERT_TRUE(ca) << ca.error().message;
    EXPECT_EQ(*ca, center().certificate());
  }

  attest::Policy policy_ = sim_policy();
  std::unique_ptr<CaServer> server_;
  std::thread thread_;
  std::string url_;
};

TEST_F(ServerTest, ShouldIssueACertificateThatVerifies) {
  auto cert = request_certificate(url_, evidence_now(cvm_), cvm_.signing_public_key(), cvm_.recipient());
  ASSERT_TRUE(cert) << cert.error().message;
  const auto v = verify_cvm_certificate(*cert, center().certificate(), sim_policy(), system_clock::now());
  EXPECT_TRUE(v.accepted()) << first_failure(v.appraisal);
}

TEST_F(ServerTest, ShouldAnswer201WithTheCertificateAndTheCvmId) {
  auto res = post(request_json(evidence_now(cvm_), cvm_).dump());
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 201) << res->body;
  const json j = json::parse(res->body);
  EXPECT_EQ(j["cvm_id"], hex_encode(cvm_id(cvm_.signing_public_key())));
  EXPECT_EQ(j["simulated"], true);
  EXPECT_TRUE(crypto::Certificate::from_pem(j["certificate"].get<std::string>()));
}

TEST_F(ServerTest, ShouldServeTheCaCertificate) {
  expect_healthy();
}

TEST_F(ServerTest, ShouldRefuseMalformedJsonWith400) {
  EXPECT_EQ(refusal("{\"evidence\":"), std::make_pair(400, std::string("malformed")));
  expect_healthy();
}

TEST_F(ServerTest, ShouldRefuseMissingOrUnknownFieldsWith400) {
  json j = request_json(evidence_now(cvm_), cvm_);
  for (const char* field : {"evidence", "signing_key", "age_recipient"}) {
    json missing = j;
    missing.erase(field);
    EXPECT_EQ(refusal(missing.dump()), std::make_pair(400, std::string("malformed"))) << field;
  }
  json extra = j;
  extra["policy"] = "lenient";
  EXPECT_EQ(refusal(extra.dump()), std::make_pair(400, std::string("malformed")));
  json short_key = j;
  short_key["signing_key"] = "abcd";
  EXPECT_EQ(refusal(short_key.dump()), std::make_pair(400, std::string("malformed")));
  json bad_recipient = j;
  bad_recipient["age_recipient"] = "age1nope";
  EXPECT_EQ(refusal(bad_recipient.dump()), std::make_pair(400, std::string("malformed")));
  EXPECT_EQ(refusal("[]"), std::make_pair(400, std::string("malformed")));
  expect_healthy();
}

TEST_F(ServerTest, ShouldRefuseABundleThatDoesNotParseWith400) {
  json j = request_json(evidence_now(cvm_), cvm_);
  j["evidence"]["format"] = "ward/evidence/v0";
  EXPECT_EQ(refusal(j.dump()), std::make_pair(400, std::string("attest.bundle")));
}

TEST_F(ServerTest, ShouldRefuseAnOversizedBodyWith413) {
  EXPECT_EQ(refusal(std::string(kMaxRequestSize + 1, ' ')), std::make_pair(413, std::string("too_large")));
  expect_healthy();
}

TEST_F(ServerTest, ShouldStateTheRealLimitInA413WhateverTheContentType) {
  httplib::Client http(url_);
  auto res = http.Post("/v1/certificates", std::string(kMaxRequestSize + 1, 'a'),
                       "application/x-www-form-urlencoded");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 413);
  EXPECT_NE(res->body.find("larger than " + std::to_string(kMaxRequestSize) + " bytes"), std::string::npos)
      << res->body;
}

TEST_F(ServerTest, ShouldReadAFormBodyOver8KiBLikeAnyOther) {
  httplib::Client http(url_);
  auto res =
      http.Post("/v1/certificates", "a=" + std::string(10000, 'x'), "application/x-www-form-urlencoded");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400) << res->body;
  EXPECT_EQ(json::parse(res->body)["error"]["reason"], "malformed");
  expect_healthy();
}

TEST_F(ServerTest, ShouldAnswerHeadLikeGetWithoutABody) {
  httplib::Client http(url_);
  auto res = http.Head("/v1/ca");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_TRUE(res->body.empty());
  EXPECT_EQ(res->get_header_value("Content-Length"), std::to_string(center().certificate().to_pem().size()));
}

TEST_F(ServerTest, ShouldRefuseEvidenceOfAnotherKeyWith422NamingTheCheck) {
  const keys::PartyKey other = keys::PartyKey::generate();
  EXPECT_EQ(refusal(request_json(evidence_now(other), cvm_).dump()),
            std::make_pair(422, std::string("ca.binding")));
  auto cert = request_certificate(url_, evidence_now(other), cvm_.signing_public_key(), cvm_.recipient());
  ASSERT_FALSE(cert);
  EXPECT_EQ(cert.error().code, "ca.refused");
  EXPECT_NE(cert.error().message.find("(ca.binding)"), std::string::npos) << cert.error().message;
  expect_healthy();
}

TEST_F(ServerTest, ShouldRefuseSimulatedEvidenceUnderTheStrictPolicy) {
  policy_ = attest::Policy::strict();
  EXPECT_EQ(refusal(request_json(evidence_now(cvm_), cvm_).dump()),
            std::make_pair(422, std::string("policy.simulated")));
}

TEST_F(ServerTest, ShouldAnswerUnknownPathsAndMethodsWithJson) {
  httplib::Client http(url_);
  auto res = http.Get("/v1/nope");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
  EXPECT_EQ(json::parse(res->body)["error"]["reason"], "unknown_path");
  res = http.Get("/v1/certificates");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 405);
  EXPECT_EQ(res->get_header_value("Allow"), "POST");
}

TEST(CertificateClient, ShouldRefuseAUrlThatIsNotHttp) {
  const auto key = keys::PartyKey::generate();
  for (const char* url : {"https://ca.example", "ca.example:80", "http://", "http://host/path"}) {
    auto cert = request_certificate(url, attest::EvidenceBundle{}, key.signing_public_key(), key.recipient());
    ASSERT_FALSE(cert) << url;
    EXPECT_EQ(cert.error().code, "ca.client") << url;
  }
}

TEST(CertificateClient, ShouldReportAnUnreachableCenter) {
  const auto key = keys::PartyKey::generate();
  auto cert = request_certificate("http://127.0.0.1:1", attest::EvidenceBundle{}, key.signing_public_key(),
                                  key.recipient());
  ASSERT_FALSE(cert);
  EXPECT_EQ(cert.error().code, "ca.client");
}

}  // namespace
}  // namespace ward::ca
