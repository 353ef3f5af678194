#include "serve/certificate.h"

#include <gtest/gtest.h>
#include <openssl/x509.h>

#include "ca/oids.h"
#include "crypto/der.h"
#include "fixture.h"

namespace ward::serve {
namespace {

using namespace testing;

struct Ext {
  std::string_view oid;
  Bytes der;
};

Bytes octets(std::initializer_list<std::uint8_t> bytes) {
  return Bytes(bytes);
}

Bytes digest_octets(std::size_t size) {
  return crypto::der::encode(0x04, Bytes(size, 0x22));
}

Bytes utf8(std::string_view text) {
  return crypto::der::encode(0x0c, as_bytes(text));
}

Bytes inputs_der(std::initializer_list<Bytes> elements) {
  Bytes contents;
  for (const auto& e : elements) contents.insert(contents.end(), e.begin(), e.end());
  return crypto::der::encode(0x30, contents);
}

Bytes with_trailing(Bytes der) {
  der.push_back(0);
  return der;
}

const std::string kEngine = "sha256:" + std::string(64, 'b');

// The four extensions, well formed: order 7, ledger 0x22.., kEngine, one input.
std::vector<Ext> good_extensions() {
  return {{ca::kServiceOrderExtensionOid, octets({0x02, 0x01, 0x07})},
          {ca::kServiceLedgerExtensionOid, digest_octets(32)},
          {ca::kServiceEngineExtensionOid, utf8(kEngine)},
          {ca::kServiceInputsExtensionOid, inputs_der({digest_octets(32)})}};
}

class ServiceCertificateTest : public ServeTest {
 protected:
  // A P-256 leaf the CVM signs with exactly `extensions`.
  crypto::Certificate forge(const std::vector<Ext>& extensions) {
    const auto key = crypto::EcPrivateKey::generate(crypto::EcCurve::P256);
    crypto::CertificateBuilder b;
    b.subject("order-7")
        .validity(floor<seconds>(kNow), floor<seconds>(kNow) + hours(1))
        .public_key(key.public_key());
    for (const auto& e : extensions) b.extension(e.oid, e.der);
    return b.sign(cvm_cert(), cvm_.signing_key()).value();
  }

  // The good extensions with the one for `oid` replaced by `der`.
  crypto::Certificate forge_one(std::string_view oid, const Bytes& der) {
    auto extensions = good_extensions();
    for (auto& e : extensions)
      if (e.oid == oid) e.der = der;
    return forge(extensions);
  }

  void expect_refused(const crypto::Certificate& cert, std::string_view why) {
    auto read = read_service_certificate(cert);
    ASSERT_FALSE(read) << why;
    EXPECT_EQ(read.error().code, "serve.certificate") << why;
  }
};

TEST_F(ServiceCertificateTest, shouldReadBackTheClaimsItWasIssuedWith) {
  const auto claims = sample_claims();
  const auto issued = issue(claims);
  auto read = read_service_certificate(issued.certificate);
  ASSERT_TRUE(read) << read.error().message;
  EXPECT_EQ(*read, claims);
  EXPECT_EQ(issued.certificate.subject(), "CN=order-42");
  EXPECT_FALSE(issued.certificate.is_ca());
  EXPECT_EQ(issued.certificate.issuer(), cvm_cert().subject());
  EXPECT_TRUE(issued.certificate.verify_signature(cvm_cert()));
  EXPECT_EQ(issued.key.curve(), crypto::EcCurve::P256);
  const auto eku = issued.certificate.extension("2.5.29.37");
  ASSERT_TRUE(eku);
  EXPECT_EQ(*eku, octets({0x30, 0x0a, 0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01}));
}

TEST_F(ServiceCertificateTest, shouldRoundTripTheExtremeOrderIdsAndNoInputs) {
  for (const std::uint64_t order :
       {std::uint64_t{0}, std::uint64_t{127}, std::uint64_t{128}, ~std::uint64_t{0}}) {
    auto claims = sample_claims();
    claims.order = order;
    claims.inputs.clear();
    auto read = read_service_certificate(issue(claims).certificate);
    ASSERT_TRUE(read) << read.error().message;
    EXPECT_EQ(*read, claims) << order;
  }
}

TEST_F(ServiceCertificateTest, shouldKeepTheKeyWhenGivenOneAndMakeAFreshOneOtherwise) {
  const auto first = issue();
  const auto rotated = issue(sample_claims(), &first.key);
  EXPECT_EQ(tls_key_digest(rotated.certificate), tls_key_digest(first.certificate));
  EXPECT_NE(rotated.certificate, first.certificate);
  EXPECT_NE(tls_key_digest(issue().certificate), tls_key_digest(first.certificate));
}

TEST_F(ServiceCertificateTest, shouldDigestTheDerSubjectPublicKeyInfo) {
  const auto issued = issue();
  unsigned char* der = nullptr;
  const int size = i2d_PUBKEY(issued.key.evp(), &der);
  ASSERT_GT(size, 0);
  const auto expected = crypto::sha256(ByteView(der, static_cast<std::size_t>(size)));
  OPENSSL_free(der);
  EXPECT_EQ(tls_key_digest(issued.certificate), expected);
}

TEST_F(ServiceCertificateTest, shouldRefuseToIssueWithAKeyThatIsNotTheCertificates) {
  auto issued = issue_service_certificate(sample_claims(), crypto::Ed25519PrivateKey::generate(), cvm_cert(),
                                          floor<seconds>(kNow), floor<seconds>(kNow) + hours(1));
  ASSERT_FALSE(issued);
  EXPECT_EQ(issued.error().code, "serve.certificate");
}

TEST_F(ServiceCertificateTest, shouldRefuseToIssueForAMalformedEngine) {
  auto claims = sample_claims();
  claims.engine = "sha256:" + std::string(64, 'A');
  auto issued = issue_service_certificate(claims, cvm_.signing_key(), cvm_cert(), floor<seconds>(kNow),
                                          floor<seconds>(kNow) + hours(1));
  ASSERT_FALSE(issued);
  EXPECT_EQ(issued.error().code, "serve.certificate");
}

TEST_F(ServiceCertificateTest, shouldAcceptTheForgedBaselineSoTheVariantsBelowTestOneThingEach) {
  auto read = read_service_certificate(forge(good_extensions()));
  ASSERT_TRUE(read) << read.error().message;
  EXPECT_EQ(read->order, 7u);
  EXPECT_EQ(read->engine, kEngine);
}

TEST_F(ServiceCertificateTest, shouldRefuseEachExtensionMissingDuplicatedOrWithTrailingBytes) {
  for (const auto& target : good_extensions()) {
    std::vector<Ext> missing;
    std::vector<Ext> duplicated;
    for (const auto& e : good_extensions()) {
      if (e.oid != target.oid) missing.push_back(e);
      duplicated.push_back(e);
    }
    duplicated.push_back(target);
    expect_refused(forge(missing), std::string(target.oid) + " missing");
    expect_refused(forge(duplicated), std::string(target.oid) + " duplicated");
    expect_refused(forge_one(target.oid, with_trailing(target.der)), std::string(target.oid) + " trailing");
    expect_refused(forge_one(target.oid, {}), std::string(target.oid) + " empty");
  }
}

TEST_F(ServiceCertificateTest, shouldRefuseAnOrderIdThatIsNotTheOneDerEncoding) {
  const auto oid = ca::kServiceOrderExtensionOid;
  expect_refused(forge_one(oid, octets({0x02, 0x02, 0x00, 0x07})), "non-minimal");
  expect_refused(forge_one(oid, octets({0x02, 0x01, 0x80})), "negative");
  expect_refused(forge_one(oid, octets({0x02, 0x00})), "empty INTEGER");
  expect_refused(forge_one(oid, octets({0x02, 0x09, 0x01, 0, 0, 0, 0, 0, 0, 0, 0})), "over 64 bits");
  expect_refused(forge_one(oid, octets({0x02, 0x81, 0x01, 0x07})), "long-form length");
  expect_refused(forge_one(oid, octets({0x04, 0x01, 0x07})), "wrong tag");
}

TEST_F(ServiceCertificateTest, shouldRefuseALedgerIdOfTheWrongSizeOrTag) {
  const auto oid = ca::kServiceLedgerExtensionOid;
  expect_refused(forge_one(oid, digest_octets(31)), "31 bytes");
  expect_refused(forge_one(oid, digest_octets(33)), "33 bytes");
  expect_refused(forge_one(oid, utf8(std::string(32, 'x'))), "UTF8String");
}

TEST_F(ServiceCertificateTest, shouldRefuseAnEngineThatIsNotALowercaseSha256Digest) {
  const auto oid = ca::kServiceEngineExtensionOid;
  expect_refused(forge_one(oid, utf8(std::string(64, 'b'))), "no prefix");
  expect_refused(forge_one(oid, utf8("sha256:" + std::string(64, 'B'))), "uppercase");
  expect_refused(forge_one(oid, utf8("sha256:" + std::string(62, 'b'))), "short");
  expect_refused(forge_one(oid, crypto::der::encode(0x04, as_bytes(kEngine))), "OCTET STRING");
}

TEST_F(ServiceCertificateTest, shouldRefuseInputsThatAreNotASequenceOfDigests) {
  const auto oid = ca::kServiceInputsExtensionOid;
  expect_refused(forge_one(oid, inputs_der({digest_octets(31)})), "short digest");
  expect_refused(forge_one(oid, inputs_der({digest_octets(32), utf8("x")})), "wrong element tag");
  expect_refused(forge_one(oid, inputs_der({digest_octets(32), octets({0x04})})), "truncated element");
  expect_refused(forge_one(oid, crypto::der::encode(0x31, digest_octets(32))), "SET, not SEQUENCE");
}

TEST_F(ServiceCertificateTest, shouldRefuseACertifiedKeyThatIsNotP256) {
  const auto key = crypto::EcPrivateKey::generate(crypto::EcCurve::P384);
  crypto::CertificateBuilder b;
  b.subject("order-7")
      .validity(floor<seconds>(kNow), floor<seconds>(kNow) + hours(1))
      .public_key(key.public_key());
  for (const auto& e : good_extensions()) b.extension(e.oid, e.der);
  expect_refused(b.sign(cvm_cert(), cvm_.signing_key()).value(), "P-384");
}

}  // namespace
}  // namespace ward::serve
