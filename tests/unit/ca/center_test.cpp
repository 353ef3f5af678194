#include "ca/center.h"

#include <fstream>
#include <sys/stat.h>

#include <gtest/gtest.h>

#include "ca/certificate.h"
#include "ca/extensions.h"
#include "ca/oids.h"
#include "crypto/hash.h"
#include "fixture.h"

namespace ward::ca {
namespace {

using namespace testing;

using CenterTest = CaTest;

TEST_F(CenterTest, ShouldWriteAPrivateKeyFileAndASelfSignedCaCertificate) {
  struct stat st {};
  ASSERT_EQ(::stat((dir() / kCaKeyFile).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const auto& cert = center().certificate();
  EXPECT_TRUE(cert.is_ca());
  EXPECT_EQ(cert.subject(), "CN=Ward certification center,O=Ward");
  EXPECT_EQ(cert.subject(), cert.issuer());
  EXPECT_TRUE(cert.verify_signature(cert));
  EXPECT_EQ(cert.ec_public_key()->curve(), crypto::EcCurve::P384);
}

TEST_F(CenterTest, ShouldOpenWhatInitWrote) {
  auto opened = CertificationCenter::open(dir());
  ASSERT_TRUE(opened) << opened.error().message;
  EXPECT_EQ(opened->certificate(), center().certificate());
  // The reopened key signs: its certificates verify under the same CA.
  auto issued =
      opened->issue(sim_evidence_for(cvm_), cvm_.signing_public_key(), cvm_.recipient(), sim_policy(), kNow);
  ASSERT_TRUE(issued && issued->certificate);
  EXPECT_TRUE(issued->certificate->verify_signature(center().certificate()));
}

TEST_F(CenterTest, ShouldRefuseToOverwriteAnExistingCenter) {
  auto again = CertificationCenter::init(dir(), kNow);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, "ca.exists");
  EXPECT_EQ(CertificationCenter::open(dir())->certificate(), center().certificate());
}

TEST_F(CenterTest, ShouldRefuseToOpenWhenTheCertificateIsNotTheKeys) {
  const auto other = dir() / "other";
  ASSERT_TRUE(CertificationCenter::init(other, kNow));
  std::filesystem::copy_file(other / kCaCertFile, dir() / kCaCertFile,
                             std::filesystem::copy_options::overwrite_existing);
  auto opened = CertificationCenter::open(dir());
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().code, "ca.open");
}

TEST_F(CenterTest, ShouldRefuseToOpenAMalformedKeyFile) {
  std::ofstream(dir() / kCaKeyFile) << "# comment\nnot hex\n";
  auto opened = CertificationCenter::open(dir());
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().code, "ca.open");
}

TEST_F(CenterTest, ShouldRefuseToOpenADirectoryWithoutACenter) {
  auto opened = CertificationCenter::open(dir() / "missing");
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().code, "ca.open");
}

TEST_F(CenterTest, ShouldIssueACertificateForTheCvmsKeysWithTheEvidence) {
  const auto evidence = sim_evidence_for(cvm_);
  auto issued = center().issue(evidence, cvm_.signing_public_key(), cvm_.recipient(), sim_policy(), kNow);
  ASSERT_TRUE(issued) << issued.error().message;
  ASSERT_TRUE(issued->certificate) << first_failure(issued->appraisal);
  EXPECT_TRUE(issued->appraisal.accepted());
  EXPECT_TRUE(issued->appraisal.simulated);
  EXPECT_EQ(issued->appraisal.checks.results().back().name, "ca.binding");

  const crypto::Certificate& cert = *issued->certificate;
  const std::string id = hex_encode(crypto::sha256(cvm_.signing_public_key()));
  EXPECT_EQ(cert.subject(), "CN=cvm-" + id.substr(0, 16) + ",O=Ward CVM");
  EXPECT_EQ(cert.issuer(), center().certificate().subject());
  EXPECT_FALSE(cert.is_ca());
  EXPECT_EQ(cert.ed25519_public_key().value(), cvm_.signing_public_key());
  EXPECT_EQ(cert.not_before(), floor<seconds>(kNow) - minutes(5));
  EXPECT_EQ(cert.not_after(), floor<seconds>(kNow) + hours(24));
  EXPECT_EQ(parse_recipient_extension(*cert.extension(kAgeRecipientExtensionOid))->key(),
            cvm_.recipient().key());
  EXPECT_EQ(attest::bundle_to_json(*parse_evidence_extension(*cert.extension(kEvidenceExtensionOid))),
            attest::bundle_to_json(evidence));
}

TEST_F(CenterTest, ShouldUseTheValidityAsked) {
  auto issued = center().issue(sim_evidence_for(cvm_), cvm_.signing_public_key(), cvm_.recipient(),
                               sim_policy(), kNow, hours(1));
  ASSERT_TRUE(issued && issued->certificate);
  EXPECT_EQ(issued->certificate->not_after(), floor<seconds>(kNow) + hours(1));
}

TEST_F(CenterTest, ShouldNeverIssueBeyondTheCaCertificatesExpiry) {
  auto issued = center().issue(sim_evidence_for(cvm_), cvm_.signing_public_key(), cvm_.recipient(),
                               sim_policy(), kNow, kCaValidity * 2);
  ASSERT_TRUE(issued && issued->certificate);
  EXPECT_EQ(issued->certificate->not_after(), center().certificate().not_after());
}

TEST_F(CenterTest, ShouldRefuseWhenThePolicyDisallowsSimulation) {
  auto issued = center().issue(sim_evidence_for(cvm_), cvm_.signing_public_key(), cvm_.recipient(),
                               attest::Policy::strict(), kNow);
  ASSERT_TRUE(issued);
  EXPECT_FALSE(issued->certificate);
  EXPECT_EQ(first_failure(issued->appraisal), "policy.simulated");
}

TEST_F(CenterTest, ShouldRefuseWhenTheEvidenceBindsOtherKeys) {
  const keys::PartyKey other = keys::PartyKey::generate();
  auto issued = center().issue(sim_evidence_for(other), cvm_.signing_public_key(), cvm_.recipient(),
                               sim_policy(), kNow);
  ASSERT_TRUE(issued);
  EXPECT_FALSE(issued->certificate);
  EXPECT_EQ(first_failure(issued->appraisal), "ca.binding");
}

TEST_F(CenterTest, ShouldRefuseWhenOnlyTheAgeRecipientDiffers) {
  const keys::PartyKey other = keys::PartyKey::generate();
  auto issued = center().issue(sim_evidence_for(cvm_), cvm_.signing_public_key(), other.recipient(),
                               sim_policy(), kNow);
  ASSERT_TRUE(issued);
  EXPECT_FALSE(issued->certificate);
  EXPECT_EQ(first_failure(issued->appraisal), "ca.binding");
}

TEST_F(CenterTest, ShouldRefuseWhenTheEvidenceDoesNotVerify) {
  auto evidence = sim_evidence_for(cvm_);
  evidence.evidence[100] ^= 0x01;
  auto issued = center().issue(evidence, cvm_.signing_public_key(), cvm_.recipient(), sim_policy(), kNow);
  ASSERT_TRUE(issued);
  EXPECT_FALSE(issued->certificate);
  EXPECT_NE(first_failure(issued->appraisal), "");
  EXPECT_NE(first_failure(issued->appraisal), "ca.binding");
}

}  // namespace
}  // namespace ward::ca
