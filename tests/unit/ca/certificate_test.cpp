#include "ca/certificate.h"

#include <algorithm>

#include <gtest/gtest.h>

#include "attest/dcap/quote.h"
#include "ca/extensions.h"
#include "ca/oids.h"
#include "crypto/hash.h"
#include "fixture.h"

namespace ward::ca {
namespace {

using namespace testing;

class VerifyCertificateTest : public CaTest {
 protected:
  // A certificate the CA itself signed, with whatever extensions are given:
  // only checks past "cert.chain" can catch what is wrong with it.
  crypto::Certificate sign_as_ca(const crypto::Ed25519PublicKey& key, const Bytes* recipient_der,
                                 const Bytes* evidence_der) const {
    crypto::CertificateBuilder b;
    b.subject(cvm_common_name(key), "Ward CVM")
        .validity(floor<seconds>(kNow) - minutes(5), floor<seconds>(kNow) + hours(24));
    b.public_key(key);
    if (recipient_der) b.extension(kAgeRecipientExtensionOid, *recipient_der);
    if (evidence_der) b.extension(kEvidenceExtensionOid, *evidence_der);
    return b.sign(center().certificate(), ca_key()).value();
  }

  CvmCertificateVerification verify(const crypto::Certificate& cert,
                                    system_clock::time_point at = kNow + hours(1)) {
    return verify_cvm_certificate(cert, center().certificate(), sim_policy(), at);
  }
};

TEST_F(VerifyCertificateTest, ShouldAcceptACertificateTheCenterIssued) {
  const auto v = verify(issue_for_cvm());
  ASSERT_TRUE(v.accepted()) << first_failure(v.appraisal);
  EXPECT_TRUE(v.appraisal.simulated);
  std::vector<std::string> names;
  for (const auto& r : v.appraisal.checks.results()) names.push_back(r.name);
  ASSERT_GE(names.size(), 4u);
  EXPECT_EQ(names[0], "cert.chain");
  EXPECT_EQ(names[1], "cert.extensions");
  EXPECT_EQ(names.back(), "ca.binding");
  EXPECT_NE(std::ranges::find(names, "policy.simulated"), names.end());
  ASSERT_TRUE(v.cvm);
  EXPECT_EQ(v.cvm->id_hex(), hex_encode(crypto::sha256(cvm_.signing_public_key())));
  EXPECT_EQ(v.cvm->signing_key, cvm_.signing_public_key());
  EXPECT_EQ(v.cvm->recipient.to_string(), cvm_.recipient().to_string());
}

TEST_F(VerifyCertificateTest, ShouldRejectWhenThePolicyDisallowsSimulation) {
  const auto v =
      verify_cvm_certificate(issue_for_cvm(), center().certificate(), attest::Policy::strict(), kNow);
  EXPECT_FALSE(v.accepted());
  EXPECT_EQ(first_failure(v.appraisal), "policy.simulated");
  EXPECT_TRUE(v.cvm);
}

TEST_F(VerifyCertificateTest, ShouldRejectACertificateFromAnotherCa) {
  const auto other_dir = dir() / "other";
  auto other = CertificationCenter::init(other_dir, kNow).value();
  auto issued =
      other.issue(sim_evidence_for(cvm_), cvm_.signing_public_key(), cvm_.recipient(), sim_policy(), kNow);
  ASSERT_TRUE(issued && issued->certificate);
  // Same name, other key: only the signature tells them apart.
  ASSERT_EQ(other.certificate().subject(), center().certificate().subject());
  const auto v = verify(*issued->certificate);
  EXPECT_FALSE(v.accepted());
  EXPECT_EQ(first_failure(v.appraisal), "cert.chain");
  EXPECT_FALSE(v.cvm);
}

TEST_F(VerifyCertificateTest, ShouldRejectAnExpiredCertificate) {
  const auto cert = issue_for_cvm();
  EXPECT_TRUE(verify(cert, kNow + hours(23)).accepted());
  const auto v = verify(cert, kNow + hours(25));
  EXPECT_FALSE(v.accepted());
  EXPECT_EQ(first_failure(v.appraisal), "cert.chain");
}

TEST_F(VerifyCertificateTest, ShouldRejectACertificateNotYetValid) {
  const auto v = verify(issue_for_cvm(), kNow - minutes(10));
  EXPECT_EQ(first_failure(v.appraisal), "cert.chain");
}

TEST_F(VerifyCertificateTest, ShouldRejectWhenTheEvidenceExtensionIsMissing) {
  const Bytes recipient = encode_recipient_extension(cvm_.recipient());
  const auto v = verify(sign_as_ca(cvm_.signing_public_key(), &recipient, nullptr));
  EXPECT_EQ(first_failure(v.appraisal), "cert.extensions");
  EXPECT_FALSE(v.cvm);
}

TEST_F(VerifyCertificateTest, ShouldRejectWhenTheRecipientExtensionIsMissing) {
  const Bytes evidence = encode_evidence_extension(sim_evidence_for(cvm_));
  const auto v = verify(sign_as_ca(cvm_.signing_public_key(), nullptr, &evidence));
  EXPECT_EQ(first_failure(v.appraisal), "cert.extensions");
}

TEST_F(VerifyCertificateTest, ShouldRejectWhenAnExtensionIsMalformed) {
  const Bytes recipient = encode_recipient_extension(cvm_.recipient());
  Bytes evidence = encode_evidence_extension(sim_evidence_for(cvm_));
  evidence.push_back(0);
  const auto v = verify(sign_as_ca(cvm_.signing_public_key(), &recipient, &evidence));
  EXPECT_EQ(first_failure(v.appraisal), "cert.extensions");
}

TEST_F(VerifyCertificateTest, ShouldRejectWhenTheCertifiedKeyIsNotEd25519) {
  const Bytes recipient = encode_recipient_extension(cvm_.recipient());
  const Bytes evidence = encode_evidence_extension(sim_evidence_for(cvm_));
  const auto key = crypto::EcPrivateKey::generate(crypto::EcCurve::P256);
  auto cert = crypto::CertificateBuilder()
                  .subject("cvm-ec")
                  .validity(floor<seconds>(kNow) - minutes(5), floor<seconds>(kNow) + hours(24))
                  .public_key(key.public_key())
                  .extension(kAgeRecipientExtensionOid, recipient)
                  .extension(kEvidenceExtensionOid, evidence)
                  .sign(center().certificate(), ca_key());
  ASSERT_TRUE(cert);
  EXPECT_EQ(first_failure(verify(*cert).appraisal), "cert.extensions");
}

TEST_F(VerifyCertificateTest, ShouldRejectWhenTheEvidenceBindsAnotherKey) {
  // The CA would never sign this; a forged or buggy CA could, and the
  // evidence itself still tells.
  const keys::PartyKey other = keys::PartyKey::generate();
  const Bytes recipient = encode_recipient_extension(cvm_.recipient());
  const Bytes evidence = encode_evidence_extension(sim_evidence_for(other));
  const auto v = verify(sign_as_ca(cvm_.signing_public_key(), &recipient, &evidence));
  EXPECT_FALSE(v.accepted());
  EXPECT_EQ(first_failure(v.appraisal), "ca.binding");
}

TEST_F(VerifyCertificateTest, ShouldRejectWhenTheRecipientIsNotTheBoundOne) {
  const keys::PartyKey other = keys::PartyKey::generate();
  const Bytes recipient = encode_recipient_extension(other.recipient());
  const Bytes evidence = encode_evidence_extension(sim_evidence_for(cvm_));
  const auto v = verify(sign_as_ca(cvm_.signing_public_key(), &recipient, &evidence));
  EXPECT_EQ(first_failure(v.appraisal), "ca.binding");
}

// The certificates a quote's PCK chain (PEM text) encodes, as DER.
std::vector<Bytes> pck_chain_der(const Bytes& quote) {
  std::vector<Bytes> out;
  auto q = attest::dcap::parse_quote(quote);
  if (!q) return out;
  auto chain = crypto::parse_pem_chain(q->certification.pck_chain_pem);
  if (!chain) return out;
  for (const auto& c : *chain) out.push_back(c.to_der());
  return out;
}

TEST_F(VerifyCertificateTest, ShouldRejectEveryFlippedByteOfTheEvidenceEvenWhenTheCaResigns) {
  const auto bundle = sim_evidence_for(cvm_);
  const Bytes recipient = encode_recipient_extension(cvm_.recipient());
  const std::string_view text = as_chars(bundle.evidence);
  const std::size_t pem_start = text.find("-----BEGIN CERTIFICATE-----");
  // The quote's copy of the root, and the END line before it (damaged, it
  // merges the root into the previous block), are left out: the verifier
  // anchors the chain in its own copy of the root and does not compare it.
  const std::size_t end = text.rfind("-----END CERTIFICATE-----", text.rfind("-----BEGIN CERTIFICATE-----"));
  ASSERT_LT(pem_start, end);
  const std::vector<Bytes> chain = pck_chain_der(bundle.evidence);
  ASSERT_EQ(chain.size(), 3u);
  // A stride keeps the test quick while still landing in every field of the
  // header, TD report, signatures, QE report and certification data.
  std::size_t checked = 0;
  for (std::size_t i = 0; i < end; i += 7) {
    auto flipped = bundle;
    flipped.evidence[i] ^= 0x01;
    const Bytes evidence = encode_evidence_extension(flipped);
    const auto v = verify(sign_as_ca(cvm_.signing_public_key(), &recipient, &evidence));
    ++checked;
    if (v.accepted()) {
      // Only the PEM text is not signed as bytes; a flip there may only go
      // unnoticed when it leaves the certificates unchanged (a Base64
      // character's unused low bits before the padding).
      ASSERT_GE(i, pem_start) << "byte " << i << " of " << bundle.evidence.size();
      ASSERT_EQ(pck_chain_der(flipped.evidence), chain) << "byte " << i;
      continue;
    }
    const std::string failed = first_failure(v.appraisal);
    EXPECT_TRUE(failed != "cert.chain" && failed != "cert.extensions") << "byte " << i << ": " << failed;
  }
  EXPECT_GT(checked, 400u);
}

TEST_F(VerifyCertificateTest, ShouldRejectEveryFlippedByteOfTheEvidenceExtensionWithoutResigning) {
  const auto cert = issue_for_cvm();
  const Bytes der = cert.to_der();
  const Bytes evidence = *cert.extension(kEvidenceExtensionOid);
  const auto at = std::search(der.begin(), der.end(), evidence.begin(), evidence.end());
  ASSERT_NE(at, der.end());
  const std::size_t start = static_cast<std::size_t>(at - der.begin());
  std::size_t checked = 0;
  for (std::size_t i = start; i < start + evidence.size(); i += 97) {
    Bytes tampered = der;
    tampered[i] ^= 0x01;
    auto parsed = crypto::Certificate::from_der(tampered);
    if (!parsed) continue;  // no longer a certificate at all
    const auto v = verify(*parsed);
    ASSERT_FALSE(v.accepted()) << "byte " << i;
    EXPECT_EQ(first_failure(v.appraisal), "cert.chain") << "byte " << i;
    ++checked;
  }
  EXPECT_GT(checked, 50u);
}

TEST(CvmId, ShouldBeTheSha256OfTheSigningKey) {
  const auto key = keys::PartyKey::generate().signing_public_key();
  EXPECT_EQ(cvm_id(key), crypto::sha256(key));
  EXPECT_EQ(cvm_common_name(key), "cvm-" + hex_encode(crypto::sha256(key)).substr(0, 16));
}

}  // namespace
}  // namespace ward::ca
