#include "crypto/x509.h"

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "base/bytes.h"
#include "base/time.h"
#include "crypto/hash.h"

namespace ward::crypto {
namespace {

using namespace std::chrono;

constexpr std::string_view kTestdata = "../shared/testdata/attestation/";

std::string read_text(std::string_view relative) {
  std::ifstream in(std::string(kTestdata) + std::string(relative), std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}
Bytes read_bytes(std::string_view relative) {
  return to_bytes(read_text(relative));
}

sys_seconds date(int y, unsigned m, unsigned d) {
  return sys_days{year{y} / m / d};
}

// A three-level PKI: P-384 root, P-256 intermediate CA, Ed25519 leaf
// (the shape of a CVM certificate under the certification center).
struct Pki {
  EcPrivateKey root_key = EcPrivateKey::generate(EcCurve::P384);
  EcPrivateKey ca_key = EcPrivateKey::generate(EcCurve::P256);
  Ed25519PrivateKey leaf_key = Ed25519PrivateKey::generate();
  Certificate root, ca, leaf;

  Pki()
      : root(CertificateBuilder()
                 .subject("Test Root", "Ward Tests")
                 .validity(date(2024, 1, 1), date(2034, 1, 1))
                 .ca(true, 1)
                 .self_sign(root_key)
                 .value()),
        ca(CertificateBuilder()
               .subject("Test CA", "Ward Tests")
               .validity(date(2024, 1, 1), date(2030, 1, 1))
               .public_key(ca_key.public_key())
               .ca(true, 0)
               .sign(root, root_key)
               .value()),
        leaf(CertificateBuilder()
                 .subject("cvm-1")
                 .serial(Bytes{0x01, 0x23, 0x45})
                 .validity(date(2025, 1, 1), date(2026, 1, 1))
                 .public_key(leaf_key.public_key())
                 .extension("1.3.6.1.4.1.99999.1", Bytes{0x04, 0x03, 'a', 'b', 'c'})
                 .sign(ca, ca_key)
                 .value()) {}

  Crl root_crl(sys_seconds next_update = date(2026, 1, 1)) const {
    return CrlBuilder().validity(date(2025, 1, 1), next_update).sign(root, root_key).value();
  }
  Crl ca_crl(bool revoke_leaf) const {
    CrlBuilder builder;
    builder.validity(date(2025, 1, 1), date(2026, 1, 1));
    if (revoke_leaf) builder.revoke(leaf, date(2025, 3, 1));
    return builder.sign(ca, ca_key).value();
  }
  Result<void> verify(sys_seconds at, std::span<const Crl> crls = {}) const {
    const Certificate intermediates[] = {ca};
    const Certificate anchors[] = {root};
    return verify_chain(leaf, intermediates, anchors, crls, at);
  }
};

TEST(X509Chain, GoodChainVerifies) {
  const Pki pki;
  auto ok = pki.verify(date(2025, 6, 1));
  EXPECT_TRUE(ok.has_value()) << ok.error().message;
}

TEST(X509Chain, ExpiredLeafFailsNamingIt) {
  const Pki pki;
  auto result = pki.verify(date(2026, 6, 1));
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code, "crypto.expired");
  EXPECT_NE(result.error().message.find("CN=cvm-1"), std::string::npos) << result.error().message;
  EXPECT_NE(result.error().message.find("expired"), std::string::npos) << result.error().message;
}

TEST(X509Chain, NotYetValidLeafFails) {
  const Pki pki;
  auto result = pki.verify(date(2024, 6, 1));
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code, "crypto.expired");
  EXPECT_NE(result.error().message.find("not yet valid"), std::string::npos) << result.error().message;
}

TEST(X509Chain, WrongAnchorFails) {
  const Pki pki;
  const Pki other;
  const Certificate intermediates[] = {pki.ca};
  const Certificate anchors[] = {other.root};
  auto result = verify_chain(pki.leaf, intermediates, anchors, {}, date(2025, 6, 1));
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code, "crypto.verify");
  EXPECT_EQ(verify_chain(pki.leaf, intermediates, {}, {}, date(2025, 6, 1)).error().code, "crypto.verify");
}

TEST(X509Chain, MissingIntermediateFails) {
  const Pki pki;
  const Certificate anchors[] = {pki.root};
  auto result = verify_chain(pki.leaf, {}, anchors, {}, date(2025, 6, 1));
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code, "crypto.verify");
  EXPECT_NE(result.error().message.find("CN=cvm-1"), std::string::npos) << result.error().message;
}

TEST(X509Chain, LeafCannotIssue) {
  const Pki pki;
  const Ed25519PrivateKey key = Ed25519PrivateKey::generate();
  const Certificate child = CertificateBuilder()
                                .subject("child")
                                .validity(date(2025, 1, 1), date(2026, 1, 1))
                                .public_key(key.public_key())
                                .sign(pki.leaf, pki.leaf_key)
                                .value();
  ASSERT_TRUE(child.verify_signature(pki.leaf).has_value());
  const Certificate intermediates[] = {pki.leaf, pki.ca};
  const Certificate anchors[] = {pki.root};
  EXPECT_EQ(verify_chain(child, intermediates, anchors, {}, date(2025, 6, 1)).error().code, "crypto.verify");
}

TEST(X509Chain, ValidCrlsPass) {
  const Pki pki;
  const Crl crls[] = {pki.root_crl(), pki.ca_crl(false)};
  auto ok = pki.verify(date(2025, 6, 1), crls);
  EXPECT_TRUE(ok.has_value()) << ok.error().message;
}

TEST(X509Chain, RevokedLeafFails) {
  const Pki pki;
  const Crl crls[] = {pki.root_crl(), pki.ca_crl(true)};
  EXPECT_TRUE(crls[1].lists(pki.leaf));
  EXPECT_FALSE(crls[1].lists(pki.ca));
  auto result = pki.verify(date(2025, 6, 1), crls);
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().code, "crypto.revoked");
  EXPECT_NE(result.error().message.find("CN=cvm-1"), std::string::npos) << result.error().message;
}

TEST(X509Chain, EveryLevelNeedsACrlOnceCrlsAreGiven) {
  const Pki pki;
  const Crl only_root[] = {pki.root_crl()};
  EXPECT_EQ(pki.verify(date(2025, 6, 1), only_root).error().code, "crypto.verify");
}

TEST(X509Chain, ExpiredCrlFails) {
  const Pki pki;
  const Crl crls[] = {pki.root_crl(date(2025, 2, 1)), pki.ca_crl(false)};
  EXPECT_EQ(pki.verify(date(2025, 6, 1), crls).error().code, "crypto.expired");
}

TEST(X509Chain, CrlFromAnotherIssuerDoesNotCount) {
  const Pki pki;
  const Pki other;
  const Crl crls[] = {pki.root_crl(), other.ca_crl(false)};
  EXPECT_FALSE(pki.verify(date(2025, 6, 1), crls).has_value());
}

// RFC 5280's "no well-defined expiration" (99991231235959Z) and a notBefore
// before 1677 are clamped to what the clock holds, and such a certificate
// still verifies at any time in between.
TEST(Certificate, ValidityOutsideTheClocksRangeIsClamped) {
  const EcPrivateKey key = EcPrivateKey::generate(EcCurve::P256);
  const Certificate cert =
      CertificateBuilder()
          .subject("forever")
          .validity(date(1600, 1, 1), date(9999, 12, 31) + hours{23} + minutes{59} + seconds{59})
          .public_key(key.public_key())
          .ca(true, 0)
          .self_sign(key)
          .value();
  EXPECT_EQ(cert.not_before(), kEarliestTime);
  EXPECT_EQ(cert.not_after(), kLatestTime);
  const Certificate anchors[] = {cert};
  for (const auto at : {date(1970, 1, 1), date(2025, 7, 1), date(2262, 1, 1)}) {
    auto ok = verify_chain(cert, {}, anchors, {}, at);
    EXPECT_TRUE(ok.has_value()) << ok.error().message;
  }
}

TEST(Certificate, BuilderFieldsReadBack) {
  const Pki pki;
  EXPECT_EQ(pki.leaf.subject(), "CN=cvm-1");
  EXPECT_EQ(pki.leaf.issuer(), "CN=Test CA,O=Ward Tests");
  EXPECT_EQ(pki.root.subject(), pki.root.issuer());
  EXPECT_EQ(pki.leaf.serial_hex(), "012345");
  EXPECT_EQ(pki.leaf.not_before(), date(2025, 1, 1));
  EXPECT_EQ(pki.leaf.not_after(), date(2026, 1, 1));
  EXPECT_TRUE(pki.root.is_ca());
  EXPECT_TRUE(pki.ca.is_ca());
  EXPECT_FALSE(pki.leaf.is_ca());
  EXPECT_EQ(pki.leaf.ed25519_public_key().value(), pki.leaf_key.public_key());
  EXPECT_EQ(pki.leaf.ec_public_key().error().code, "crypto.input");
  EXPECT_EQ(pki.ca.ec_public_key().value().to_sec1(), pki.ca_key.public_key().to_sec1());
  EXPECT_EQ(pki.ca.ed25519_public_key().error().code, "crypto.input");
  EXPECT_EQ(pki.leaf.extension("1.3.6.1.4.1.99999.1"), (Bytes{0x04, 0x03, 'a', 'b', 'c'}));
  EXPECT_FALSE(pki.leaf.extension("1.3.6.1.4.1.99999.2").has_value());
  EXPECT_FALSE(pki.leaf.extension("not an oid").has_value());
  // basicConstraints (2.5.29.19) of a leaf: an empty SEQUENCE (cA defaults to FALSE).
  EXPECT_EQ(pki.leaf.extension("2.5.29.19"), (Bytes{0x30, 0x00}));
}

TEST(Certificate, DerAndPemRoundTrip) {
  const Pki pki;
  const Certificate from_der = Certificate::from_der(pki.leaf.to_der()).value();
  EXPECT_TRUE(from_der == pki.leaf);
  EXPECT_FALSE(from_der == pki.ca);
  const Certificate from_pem = Certificate::from_pem(pki.leaf.to_pem()).value();
  EXPECT_EQ(from_pem.to_der(), pki.leaf.to_der());

  const std::string bundle = "leaf:\n" + pki.leaf.to_pem() + "ca:\n" + pki.ca.to_pem() + std::string(1, '\0');
  const auto chain = parse_pem_chain(bundle).value();
  ASSERT_EQ(chain.size(), 2u);
  EXPECT_TRUE(chain[0] == pki.leaf);
  EXPECT_TRUE(chain[1] == pki.ca);
  EXPECT_EQ(Certificate::from_pem(bundle).error().code, "crypto.x509");
}

TEST(Certificate, RejectsMalformedInput) {
  const Pki pki;
  Bytes der = pki.leaf.to_der();
  der.push_back(0);
  EXPECT_EQ(Certificate::from_der(der).error().code, "crypto.x509");
  EXPECT_EQ(Certificate::from_der(ByteView(der).first(der.size() / 2)).error().code, "crypto.x509");
  EXPECT_EQ(Certificate::from_der({}).error().code, "crypto.x509");
  EXPECT_EQ(parse_pem_chain("no certificates here").error().code, "crypto.x509");
  EXPECT_EQ(parse_pem_chain("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n").error().code,
            "crypto.x509");
  std::string pem = pki.leaf.to_pem();
  pem[40] = pem[40] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(Certificate::from_pem(pem).has_value());
}

TEST(Certificate, SignatureCheckedAgainstIssuerKey) {
  const Pki pki;
  EXPECT_TRUE(pki.leaf.verify_signature(pki.ca).has_value());
  EXPECT_TRUE(pki.ca.verify_signature(pki.root).has_value());
  EXPECT_TRUE(pki.root.verify_signature(pki.root).has_value());
  EXPECT_EQ(pki.leaf.verify_signature(pki.root).error().code, "crypto.verify");
  EXPECT_EQ(pki.ca.verify_signature(pki.leaf).error().code, "crypto.verify");
}

TEST(Certificate, BuilderRejectsIncompleteInput) {
  const EcPrivateKey key = EcPrivateKey::generate(EcCurve::P256);
  EXPECT_EQ(CertificateBuilder().validity(date(2025, 1, 1), date(2026, 1, 1)).self_sign(key).error().code,
            "crypto.input");
  EXPECT_EQ(CertificateBuilder()
                .subject("x")
                .validity(date(2026, 1, 1), date(2025, 1, 1))
                .self_sign(key)
                .error()
                .code,
            "crypto.input");
  const Certificate root = CertificateBuilder()
                               .subject("r")
                               .validity(date(2025, 1, 1), date(2026, 1, 1))
                               .ca(true)
                               .self_sign(key)
                               .value();
  EXPECT_EQ(CertificateBuilder()
                .subject("no key")
                .validity(date(2025, 1, 1), date(2026, 1, 1))
                .sign(root, key)
                .error()
                .code,
            "crypto.input");
  EXPECT_EQ(CertificateBuilder()
                .subject("x")
                .validity(date(2025, 1, 1), date(2026, 1, 1))
                .serial(Bytes{0x80})
                .self_sign(key)
                .error()
                .code,
            "crypto.input");
  EXPECT_EQ(CertificateBuilder()
                .subject("x")
                .validity(date(2025, 1, 1), date(2026, 1, 1))
                .extension("bad oid", Bytes{0x05, 0x00})
                .self_sign(key)
                .error()
                .code,
            "crypto.input");
}

TEST(Certificate, Ed25519RootSignsAnEcLeaf) {
  const Ed25519PrivateKey root_key = Ed25519PrivateKey::generate();
  const EcPrivateKey leaf_key = EcPrivateKey::generate(EcCurve::P384);
  const Certificate root = CertificateBuilder()
                               .subject("Ed Root")
                               .validity(date(2025, 1, 1), date(2027, 1, 1))
                               .ca(true)
                               .self_sign(root_key)
                               .value();
  const Certificate leaf = CertificateBuilder()
                               .subject("EC Leaf")
                               .validity(date(2025, 1, 1), date(2026, 1, 1))
                               .public_key(leaf_key.public_key())
                               .sign(root, root_key)
                               .value();
  const Certificate anchors[] = {root};
  auto ok = verify_chain(leaf, {}, anchors, {}, date(2025, 6, 1));
  EXPECT_TRUE(ok.has_value()) << ok.error().message;
  const Crl crls[] = {CrlBuilder()
                          .validity(date(2025, 1, 1), date(2026, 1, 1))
                          .revoke(leaf, date(2025, 2, 1))
                          .sign(root, root_key)
                          .value()};
  EXPECT_EQ(verify_chain(leaf, {}, anchors, crls, date(2025, 6, 1)).error().code, "crypto.revoked");
}

TEST(Crl, RoundTripsAndChecksItsSignature) {
  const Pki pki;
  const Crl crl = pki.ca_crl(true);
  EXPECT_EQ(crl.issuer(), pki.ca.subject());
  EXPECT_EQ(crl.this_update(), date(2025, 1, 1));
  EXPECT_TRUE(crl.verify_signature(pki.ca).has_value());
  EXPECT_EQ(crl.verify_signature(pki.root).error().code, "crypto.verify");
  EXPECT_EQ(Crl::from_der(crl.to_der()).value().to_der(), crl.to_der());
  EXPECT_EQ(Crl::from_pem(crl.to_pem()).value().to_der(), crl.to_der());
  EXPECT_EQ(Crl::from_der(Bytes{0x30, 0x00}).error().code, "crypto.x509");
  EXPECT_EQ(Crl::from_pem(pki.leaf.to_pem()).error().code, "crypto.x509");
}

// Real vendor certificates.

TEST(IntelPki, RootCaMatchesItsPublishedFingerprint) {
  const Certificate root = Certificate::from_pem(read_text("Intel_SGX_Root_CA.pem")).value();
  EXPECT_EQ(hex_encode(sha256(root.to_der())),
            "44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3");
  // Intel encodes CN first, so RFC 2253 order (last RDN first) puts it last.
  EXPECT_EQ(root.subject(), "C=US,ST=CA,L=Santa Clara,O=Intel Corporation,CN=Intel SGX Root CA");
  EXPECT_TRUE(root.is_ca());
  EXPECT_EQ(root.ec_public_key().value().curve(), EcCurve::P256);
  EXPECT_EQ(root.not_after(), sys_days{year{2049} / 12 / 31} + hours{23} + minutes{59} + seconds{59});
}

TEST(IntelPki, PlatformCaVerifiesStrictlyWithRootCrl) {
  const auto chain = parse_pem_chain(read_text("tdx-sgx/go-tdx-guest/pck_crl_issuer_chain.pem")).value();
  ASSERT_EQ(chain.size(), 2u);
  EXPECT_EQ(chain[0].subject(), "C=US,ST=CA,L=Santa Clara,O=Intel Corporation,CN=Intel SGX PCK Platform CA");
  const Certificate anchors[] = {Certificate::from_pem(read_text("Intel_SGX_Root_CA.pem")).value()};
  const Crl crls[] = {Crl::from_der(read_bytes("tdx-sgx/go-tdx-guest/rootcrl.der")).value()};
  EXPECT_TRUE(crls[0].verify_signature(anchors[0]).has_value());

  auto ok = verify_chain(chain[0], {}, anchors, crls, date(2023, 6, 1));
  EXPECT_TRUE(ok.has_value()) << ok.error().message;
  // That root CRL's nextUpdate is 2024-04-02.
  EXPECT_EQ(verify_chain(chain[0], {}, anchors, crls, date(2024, 6, 1)).error().code, "crypto.expired");
  EXPECT_TRUE(verify_chain(chain[0], {}, anchors, {}, date(2030, 1, 1)).has_value());
}

TEST(IntelPki, TcbSigningCertExpiredIn2025) {
  const auto chain = parse_pem_chain(read_text("tdx-sgx/go-tdx-guest/tcb_info_issuer_chain.pem")).value();
  ASSERT_EQ(chain.size(), 2u);
  const Certificate anchors[] = {chain[1]};
  EXPECT_TRUE(verify_chain(chain[0], {}, anchors, {}, date(2024, 1, 1)).has_value());
  EXPECT_EQ(verify_chain(chain[0], {}, anchors, {}, date(2025, 6, 1)).error().code, "crypto.expired");
}

TEST(AmdPki, AskMilanIsSignedByArkMilanWithRsaPss) {
  const Certificate ark = Certificate::from_pem(read_text("snp/amd-roots/ARK-Milan.pem")).value();
  const Certificate ask = Certificate::from_pem(read_text("snp/amd-roots/SEV-Milan.pem")).value();
  EXPECT_TRUE(ark.verify_signature(ark).has_value());
  auto ok = ask.verify_signature(ark);
  EXPECT_TRUE(ok.has_value()) << ok.error().message;
  EXPECT_EQ(ark.verify_signature(ask).error().code, "crypto.verify");

  const auto chain = parse_pem_chain(read_text("snp/virtee-sev/cert_chain_milan")).value();
  ASSERT_EQ(chain.size(), 2u);
  EXPECT_TRUE(chain[0] == ask);
  EXPECT_TRUE(chain[1] == ark);
}

TEST(AmdPki, VcekIsSignedByAskAndCarriesTcbExtensions) {
  const Certificate ask = Certificate::from_pem(read_text("snp/amd-roots/SEV-Milan.pem")).value();
  const Certificate vcek = Certificate::from_der(read_bytes("snp/virtee-sev/vcek_milan.der")).value();
  EXPECT_TRUE(vcek.verify_signature(ask).has_value());
  EXPECT_EQ(vcek.ec_public_key().value().curve(), EcCurve::P384);
  // blSPL (1.3.6.1.4.1.3704.1.3.1) is the DER INTEGER 3.
  EXPECT_EQ(vcek.extension("1.3.6.1.4.1.3704.1.3.1"), (Bytes{0x02, 0x01, 0x03}));
  // hwID holds the 64-byte chip id as raw octets.
  const auto hwid = vcek.extension("1.3.6.1.4.1.3704.1.4");
  ASSERT_TRUE(hwid.has_value());
  EXPECT_EQ(hex_encode(*hwid),
            "d49554ec717f4e5b0fe6b143bcf0405bd7ae304727edf46603f2a76aef6a3abc"
            "15d7af38db757039029f0efacfd08e244324884738c72b082e2f87a44d541eb6");
}

TEST(NvidiaPki, HopperDeviceChainVerifiesStrictly) {
  const auto chain = parse_pem_chain(read_text("nvidia/trustee/hopper_cert_chain_case1.txt")).value();
  ASSERT_EQ(chain.size(), 5u);
  const Certificate root =
      Certificate::from_pem(read_text("nvidia/nvtrust/verifier_device_root.pem")).value();
  EXPECT_TRUE(chain[4] == root);
  EXPECT_EQ(chain[0].ec_public_key().value().curve(), EcCurve::P384);
  // The device leaf never expires: its notAfter, 9999-12-31T23:59:59Z, reads
  // as the last second Ward can represent (2262-04-11T23:47:16Z), and the
  // chain still verifies.
  EXPECT_EQ(chain[0].not_after(), kLatestTime);
  EXPECT_EQ(format_rfc3339(chain[0].not_after()), "2262-04-11T23:47:16Z");
  const Certificate anchors[] = {root};
  auto ok = verify_chain(chain[0], std::span(chain).subspan(1, 3), anchors, {}, date(2025, 1, 1));
  EXPECT_TRUE(ok.has_value()) << ok.error().message;
}

// verify_chain with VerifiedCrls, attacked after a good CRL is held: a CRL
// that fails from scratch fails with the same code, and what is held never
// stands for other bytes, another issuer or another time.
struct HeldCrls {
  Pki pki;
  Crl root_crl = pki.root_crl();
  VerifiedCrls verified;

  Certificate leaf(std::string_view name) const {
    return CertificateBuilder()
        .subject(name)
        .validity(date(2025, 1, 1), date(2026, 1, 1))
        .public_key(pki.leaf_key.public_key())
        .sign(pki.ca, pki.ca_key)
        .value();
  }
  Crl ca_crl(sys_seconds this_update, sys_seconds next_update, const Certificate* revoked = nullptr) const {
    CrlBuilder builder;
    builder.validity(this_update, next_update);
    if (revoked != nullptr) builder.revoke(*revoked, this_update);
    return builder.sign(pki.ca, pki.ca_key).value();
  }
  Result<void> verify(const Certificate& leaf, const Crl& ca_crl, sys_seconds at = date(2025, 6, 1),
                      const Certificate* ca = nullptr) {
    const Certificate intermediates[] = {ca != nullptr ? *ca : pki.ca};
    const Certificate anchors[] = {pki.root};
    const Crl crls[] = {root_crl, ca_crl};
    return verify_chain(leaf, intermediates, anchors, crls, at, &verified);
  }
};

TEST(VerifiedCrls, ShouldHoldEachCrlOnceWhenChainsShareIt) {
  HeldCrls h;
  const Crl crl = h.pki.ca_crl(false);
  ASSERT_TRUE(h.verify(h.pki.leaf, crl));
  EXPECT_EQ(h.verified.size(), 2u);  // the root's CRL (for the CA and the root), the CA's
  ASSERT_TRUE(h.verify(h.leaf("cvm-2"), crl));
  EXPECT_EQ(h.verified.size(), 2u);
}

TEST(VerifiedCrls, ShouldFailWhenAHeldCrlIsTampered) {
  HeldCrls h;
  const Crl good = h.pki.ca_crl(false);
  ASSERT_TRUE(h.verify(h.pki.leaf, good));
  Bytes der = good.to_der();
  der.back() ^= 0x01;  // the last byte of the signature's s
  const auto r = h.verify(h.pki.leaf, Crl::from_der(der).value());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, "crypto.verify");
  EXPECT_NE(r.error().message.find("CRL signature failure"), std::string::npos) << r.error().message;
}

TEST(VerifiedCrls, ShouldFailWhenACrlIsSignedByAnotherKeyAfterTheGoodOneWasHeld) {
  HeldCrls h;
  ASSERT_TRUE(h.verify(h.pki.leaf, h.pki.ca_crl(false)));
  const Crl forged = CrlBuilder()
                         .validity(date(2025, 1, 1), date(2026, 1, 1))
                         .sign(h.pki.ca, EcPrivateKey::generate(EcCurve::P256))
                         .value();
  const auto r = h.verify(h.pki.leaf, forged);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, "crypto.verify");
}

TEST(VerifiedCrls, ShouldFailWhenAHeldCrlIsPresentedUnderAnotherIssuerOfTheSameName) {
  HeldCrls h;
  const Crl held = h.pki.ca_crl(false);
  ASSERT_TRUE(h.verify(h.pki.leaf, held));
  // The same name under the same root, another key: the held CRL is not its.
  const EcPrivateKey impostor_key = EcPrivateKey::generate(EcCurve::P256);
  const Certificate impostor = CertificateBuilder()
                                   .subject("Test CA", "Ward Tests")
                                   .validity(date(2024, 1, 1), date(2030, 1, 1))
                                   .public_key(impostor_key.public_key())
                                   .ca(true, 0)
                                   .sign(h.pki.root, h.pki.root_key)
                                   .value();
  const Certificate leaf = CertificateBuilder()
                               .subject("cvm-3")
                               .validity(date(2025, 1, 1), date(2026, 1, 1))
                               .public_key(h.pki.leaf_key.public_key())
                               .sign(impostor, impostor_key)
                               .value();
  const auto r = h.verify(leaf, held, date(2025, 6, 1), &impostor);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, "crypto.verify");
}

TEST(VerifiedCrls, ShouldFailWhenAHeldCrlIsUsedOutsideItsWindow) {
  HeldCrls h;
  const Crl crl = h.ca_crl(date(2025, 5, 1), date(2025, 7, 1));
  ASSERT_TRUE(h.verify(h.pki.leaf, crl));
  const auto after = h.verify(h.pki.leaf, crl, date(2025, 7, 1));
  ASSERT_FALSE(after);
  EXPECT_EQ(after.error().code, "crypto.expired");
  const auto before = h.verify(h.pki.leaf, crl, date(2025, 4, 1));
  ASSERT_FALSE(before);
  EXPECT_EQ(before.error().code, "crypto.expired");
  EXPECT_TRUE(h.verify(h.pki.leaf, crl, date(2025, 6, 30)));
}

TEST(VerifiedCrls, ShouldFailWhenAHeldCrlListsTheNextChainsCertificate) {
  HeldCrls h;
  const Certificate revoked = h.leaf("cvm-revoked");
  const Crl crl = h.ca_crl(date(2025, 1, 1), date(2026, 1, 1), &revoked);
  ASSERT_TRUE(h.verify(h.pki.leaf, crl));
  const auto r = h.verify(revoked, crl);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, "crypto.revoked");
}

TEST(VerifiedCrls, ShouldFailWhenANewerCrlRevokesAfterTheOlderWasHeld) {
  HeldCrls h;
  ASSERT_TRUE(h.verify(h.pki.leaf, h.pki.ca_crl(false)));
  const auto r = h.verify(h.pki.leaf, h.pki.ca_crl(true));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, "crypto.revoked");
}

TEST(VerifiedCrls, ShouldKeepNothingWhenACrlFails) {
  HeldCrls h;
  Bytes der = h.pki.ca_crl(false).to_der();
  der.back() ^= 0x01;
  EXPECT_FALSE(h.verify(h.pki.leaf, Crl::from_der(der).value()));
  EXPECT_EQ(h.verified.size(), 0u);
}

TEST(VerifiedCrls, ShouldKeepAtMostItsCapacity) {
  Pki pki;
  VerifiedCrls verified(1);
  const Certificate intermediates[] = {pki.ca};
  const Certificate anchors[] = {pki.root};
  const Crl crls[] = {pki.root_crl(), pki.ca_crl(false)};
  ASSERT_TRUE(verify_chain(pki.leaf, intermediates, anchors, crls, date(2025, 6, 1), &verified));
  EXPECT_EQ(verified.size(), 1u);
  verified.clear();
  EXPECT_EQ(verified.size(), 0u);
}

}  // namespace
}  // namespace ward::crypto
