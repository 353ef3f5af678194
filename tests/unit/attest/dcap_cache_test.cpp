// dcap::VerificationCache and attest::PreparedCollaterals attacked as an
// attacker would: whatever they keep must never let something verify that
// would not verify from scratch. A changed byte, a time outside the window, a
// newer CRL and another anchor each get a verification of their own, and the
// caches stay in their bounds.
#include <atomic>
#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "appraisal_testing.h"
#include "attest/dcap/collateral.h"
#include "attest/dcap/pck.h"
#include "attest/dcap/quote_builder.h"
#include "attest/dcap/verify.h"
#include "attest/evidence.h"
#include "attest/policy.h"
#include "attest/sim.h"
#include "base/bytes.h"

namespace ward::attest::dcap {
namespace {

using namespace std::chrono;

const system_clock::time_point kNow = sys_days{year{2026} / 11 / 25};
const sys_seconds kNowSeconds = floor<seconds>(kNow);

std::string read_text(const std::string& relative) {
  std::ifstream in("../shared/testdata/attestation/tdx-sgx/" + relative, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

crypto::Crl crl(const crypto::Certificate& issuer, const crypto::EcPrivateKey& key, sys_seconds this_update,
                sys_seconds next_update, const crypto::Certificate* revoked = nullptr) {
  crypto::CrlBuilder b;
  b.validity(this_update, next_update);
  if (revoked != nullptr) b.revoke(*revoked, this_update);
  return *b.sign(issuer, key);
}

// The simulated PCK chain (leaf, Platform CA) under sim::root(), with CRLs.
struct Chain {
  sim::Pki pki = *sim::make_pki(kNow);
  std::vector<crypto::Certificate> certs{pki.pck, pki.pck_ca};
  std::vector<crypto::Crl> crls{
      crl(sim::root(), sim::root_key(), kNowSeconds - hours{1}, kNowSeconds + days{30}),
      crl(pki.pck_ca, pki.pck_ca_key, kNowSeconds - hours{1}, kNowSeconds + days{30})};

  Result<void> verify(VerificationCache& cache, system_clock::time_point at = kNow) const {
    return cache.verify_chain(certs, sim::root(), crls, at);
  }
};

// The leaf with one byte of its serial number changed: still DER, no longer
// what the Platform CA signed.
crypto::Certificate with_flipped_serial(const crypto::Certificate& cert) {
  Bytes der = cert.to_der();
  der[20] ^= 0x01;  // 30 82 LL LL 30 82 LL LL a0 03 02 01 02 02 10, then the serial
  return *crypto::Certificate::from_der(der);
}

// A PCK certificate like `pki.pck`, but valid only from `from` to `until`.
crypto::Certificate pck_valid(const sim::Pki& pki, sys_seconds from, sys_seconds until) {
  return *crypto::CertificateBuilder()
              .subject("Ward simulated PCK", "Ward")
              .validity(from, until)
              .public_key(pki.pck_key.public_key())
              .extension(kSgxExtensionOid, *pki.pck.extension(kSgxExtensionOid))
              .sign(pki.pck_ca, pki.pck_ca_key);
}

TEST(DcapVerificationCache, ShouldRememberAChainOnlyAfterItVerified) {
  VerificationCache cache;
  Chain c;
  ASSERT_TRUE(c.verify(cache));
  EXPECT_EQ(cache.verified_chains(), 1u);
  ASSERT_TRUE(c.verify(cache));
  EXPECT_EQ(cache.verified_chains(), 1u);
  EXPECT_FALSE(cache.verify_chain(c.certs, intel_sgx_root(), c.crls, kNow));
  EXPECT_EQ(cache.verified_chains(), 1u);
}

TEST(DcapVerificationCache, ShouldFailWhenOneByteOfACachedChainChanges) {
  VerificationCache cache;
  Chain c;
  ASSERT_TRUE(c.verify(cache));
  Chain tampered = c;
  tampered.certs[0] = with_flipped_serial(c.certs[0]);
  const auto r = tampered.verify(cache);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, "crypto.verify");
  EXPECT_EQ(cache.verified_chains(), 1u);
  EXPECT_TRUE(c.verify(cache));
}

TEST(DcapVerificationCache, ShouldFailWhenACachedChainIsUsedAfterItsLeafExpired) {
  VerificationCache cache;
  Chain c;
  c.certs[0] = pck_valid(c.pki, kNowSeconds - hours{1}, kNowSeconds + days{1});
  ASSERT_TRUE(c.verify(cache));
  const auto after = c.verify(cache, kNow + days{2});
  ASSERT_FALSE(after);
  EXPECT_EQ(after.error().code, "crypto.expired");
  const auto before = c.verify(cache, kNow - days{1});
  ASSERT_FALSE(before);
  EXPECT_EQ(before.error().code, "crypto.expired");
  EXPECT_TRUE(c.verify(cache, kNow + hours{12}));
}

TEST(DcapVerificationCache, ShouldFailWhenACachedChainIsUsedAfterItsCrlsNextUpdate) {
  VerificationCache cache;
  Chain c;
  c.crls[1] = crl(c.pki.pck_ca, c.pki.pck_ca_key, kNowSeconds - hours{1}, kNowSeconds + days{1});
  ASSERT_TRUE(c.verify(cache));
  const auto r = c.verify(cache, kNow + days{2});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, "crypto.expired");
}

TEST(DcapVerificationCache, ShouldCatchARevocationInANewerCrlAfterACachedSuccess) {
  VerificationCache cache;
  Chain c;
  ASSERT_TRUE(c.verify(cache));
  Chain revoked = c;
  revoked.crls[1] =
      crl(c.pki.pck_ca, c.pki.pck_ca_key, kNowSeconds - minutes{1}, kNowSeconds + days{30}, &c.pki.pck);
  const auto r = revoked.verify(cache);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, "crypto.revoked");
  Chain ca_revoked = c;
  ca_revoked.crls[0] =
      crl(sim::root(), sim::root_key(), kNowSeconds - minutes{1}, kNowSeconds + days{30}, &c.pki.pck_ca);
  const auto ca = ca_revoked.verify(cache);
  ASSERT_FALSE(ca);
  EXPECT_EQ(ca.error().code, "crypto.revoked");
}

TEST(DcapVerificationCache, ShouldNotAcceptACachedChainWithoutItsCrls) {
  // Verified with CRLs, the chain is another key without them, and the
  // reverse: a verdict without revocation never stands for one with it.
  VerificationCache cache;
  Chain c;
  ASSERT_TRUE(cache.verify_chain(c.certs, sim::root(), {}, kNow));
  Chain revoked = c;
  revoked.crls[1] =
      crl(c.pki.pck_ca, c.pki.pck_ca_key, kNowSeconds - minutes{1}, kNowSeconds + days{30}, &c.pki.pck);
  EXPECT_FALSE(revoked.verify(cache));
  EXPECT_EQ(cache.verified_chains(), 1u);
}

TEST(DcapVerificationCache, ShouldCheckSharedCrlsOnceButRevocationForEveryChain) {
  VerificationCache cache;
  Chain c;
  ASSERT_TRUE(c.verify(cache));
  EXPECT_EQ(cache.verified_crls(), 2u);
  Chain other = c;
  other.certs[0] = pck_valid(c.pki, kNowSeconds - hours{1}, kNowSeconds + days{1});
  ASSERT_TRUE(other.verify(cache));
  EXPECT_EQ(cache.verified_chains(), 2u);
  EXPECT_EQ(cache.verified_crls(), 2u);
  // The held PCK CRL's successor lists a third chain's leaf: a new CRL, so
  // checked afresh, and the leaf is looked up in it.
  Chain revoked = c;
  revoked.certs[0] = pck_valid(c.pki, kNowSeconds - hours{2}, kNowSeconds + days{2});
  revoked.crls[1] = crl(c.pki.pck_ca, c.pki.pck_ca_key, kNowSeconds - minutes{1}, kNowSeconds + days{30},
                        &revoked.certs[0]);
  const auto r = revoked.verify(cache);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, "crypto.revoked");
  cache.clear();
  EXPECT_EQ(cache.verified_crls(), 0u);
}

TEST(DcapVerificationCache, ShouldDecodeACertificateSharedByTwoChainsOnce) {
  VerificationCache cache;
  Chain c;
  const crypto::Certificate other = pck_valid(c.pki, kNowSeconds - hours{1}, kNowSeconds + days{1});
  const auto first = cache.decode(c.pki.pck.to_pem() + c.pki.pck_ca.to_pem() + sim::root().to_pem());
  const auto second = cache.decode(other.to_pem() + c.pki.pck_ca.to_pem() + sim::root().to_pem());
  ASSERT_TRUE(first && second);
  EXPECT_EQ((**first)[1].native(), (**second)[1].native());
  EXPECT_NE((**first)[0].native(), (**second)[0].native());
  // The built-in root is taken as it is, never decoded again.
  EXPECT_EQ((**first)[2].native(), sim::root().native());
  EXPECT_EQ(cache.decoded_chains(), 2u);
}

TEST(DcapVerificationCache, ShouldKeepAtMostItsCapacity) {
  VerificationCache cache(2);
  std::vector<Chain> chains(3);
  for (const auto& c : chains) {
    ASSERT_TRUE(c.verify(cache));
    ASSERT_TRUE(cache.decode(c.pki.pck.to_pem() + c.pki.pck_ca.to_pem()));
  }
  EXPECT_EQ(cache.verified_chains(), 2u);
  EXPECT_EQ(cache.decoded_chains(), 2u);
  for (const auto& c : chains) EXPECT_TRUE(c.verify(cache));
  EXPECT_EQ(cache.verified_chains(), 2u);
  VerificationCache none(0);
  EXPECT_TRUE(chains[0].verify(none));
  EXPECT_EQ(none.verified_chains(), 0u);
}

TEST(DcapVerificationCache, ShouldNotKeepTextThatDoesNotDecode) {
  VerificationCache cache;
  EXPECT_FALSE(cache.decode("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"));
  EXPECT_FALSE(cache.decode("no PEM here"));
  EXPECT_EQ(cache.decoded_chains(), 0u);
}

TEST(DcapVerificationCache, ShouldServeSeveralThreadsWhileEvicting) {
  VerificationCache cache(1);
  const std::vector<Chain> chains(2);
  Chain tampered = chains[0];
  tampered.certs[0] = with_flipped_serial(chains[0].certs[0]);
  std::atomic<int> accepted{0};
  std::atomic<int> refused{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) {
        if (chains[(t + i) % 2].verify(cache)) ++accepted;
        if (!tampered.verify(cache)) ++refused;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(accepted.load(), 80);
  EXPECT_EQ(refused.load(), 80);
  EXPECT_LE(cache.verified_chains(), 1u);
}

// The same attacks through verify_quote, on the simulated TEE's quotes.
struct SimQuote {
  sim::Pki pki = *sim::make_pki(kNow);
  QuoteParts parts = sim::quote_parts({}, sim::measure(as_bytes("loader")), pki);
  Collateral collateral = *sim::make_collateral(pki, kNow);
  crypto::EcPrivateKey attestation_key = crypto::EcPrivateKey::generate(crypto::EcCurve::P256);

  Appraisal verify(VerificationCache& cache, system_clock::time_point at = kNow) const {
    Appraisal out;
    verify_quote(*build_quote(parts, attestation_key, pki.pck_key), &collateral, std::span(&sim::root(), 1),
                 at, out, cache);
    return out;
  }
};

TEST(DcapVerificationCache, ShouldRejectAQuoteWhosePckChainChangedAfterACachedSuccess) {
  VerificationCache cache;
  SimQuote q;
  const Appraisal first = q.verify(cache);
  ASSERT_TRUE(first.accepted()) << why(first);
  SimQuote tampered = q;
  tampered.parts.pck_chain_pem =
      with_flipped_serial(q.pki.pck).to_pem() + q.pki.pck_ca.to_pem() + sim::root().to_pem();
  EXPECT_EQ(failed(tampered.verify(cache)), "pck.chain");
  EXPECT_TRUE(q.verify(cache).accepted());
}

TEST(DcapVerificationCache, ShouldRejectAQuoteRevokedByANewerPckCrlAfterACachedSuccess) {
  VerificationCache cache;
  SimQuote q;
  ASSERT_TRUE(q.verify(cache).accepted());
  SimQuote revoked = q;
  revoked.collateral.pck_crl =
      crl(q.pki.pck_ca, q.pki.pck_ca_key, kNowSeconds - minutes{1}, kNowSeconds + days{30}, &q.pki.pck)
          .to_der();
  const Appraisal a = revoked.verify(cache);
  EXPECT_EQ(failed(a), "pck.chain");
  EXPECT_NE(why(a).find("revoked"), std::string::npos) << why(a);
}

TEST(DcapVerificationCache, ShouldRejectACollateralSignerRevokedByANewerRootCrlAfterACachedSuccess) {
  VerificationCache cache;
  SimQuote q;
  ASSERT_TRUE(q.verify(cache).accepted());
  SimQuote revoked = q;
  revoked.collateral.root_ca_crl =
      crl(sim::root(), sim::root_key(), kNowSeconds - minutes{1}, kNowSeconds + days{30}, &q.pki.tcb_signing)
          .to_der();
  EXPECT_EQ(failed(revoked.verify(cache)), "collateral.tcb_info.chain");
}

TEST(DcapVerificationCache, ShouldGiveTheSameAppraisalColdAndWarmForARealQuote) {
  auto c = parse_collateral(read_text("dcap-qvl/tdx_quote_collateral.json"));
  ASSERT_TRUE(c);
  const std::string text = read_text("dcap-qvl/tdx_quote");
  const Bytes quote(text.begin(), text.end());
  const auto when = sys_days{year{2025} / 7 / 1};
  VerificationCache cache;
  Appraisal cold, warm, expired;
  verify_quote(quote, &*c, std::span(&intel_sgx_root(), 1), when, cold, cache);
  ASSERT_TRUE(cold.accepted()) << why(cold);
  EXPECT_EQ(cache.verified_chains(), 2u);  // the PCK chain; one issuer chain for both bodies
  verify_quote(quote, &*c, std::span(&intel_sgx_root(), 1), when, warm, cache);
  EXPECT_EQ(appraisal_to_json(cold), appraisal_to_json(warm));
  verify_quote(quote, &*c, std::span(&intel_sgx_root(), 1), sys_days{year{2025} / 8 / 1}, expired, cache);
  EXPECT_EQ(failed(expired), "collateral.validity");
}

// The CA's cache of prepared collateral, through verify_evidence.
struct RealBundle {
  EvidenceBundle bundle;
  system_clock::time_point when = sys_days{year{2025} / 7 / 1};

  RealBundle() {
    const std::string quote = read_text("dcap-qvl/tdx_quote");
    bundle.platform = Platform::Tdx;
    bundle.evidence = Bytes(quote.begin(), quote.end());
    bundle.collateral = read_text("dcap-qvl/tdx_quote_collateral.json");
  }
};

TEST(PreparedCollaterals, ShouldPrepareACollateralOnceAndGiveTheSameAppraisal) {
  PreparedCollaterals prepared;
  const RealBundle r;
  const Appraisal scratch = verify_evidence(r.bundle, Policy::strict(), r.when);
  const Appraisal first = verify_evidence(r.bundle, Policy::strict(), r.when, prepared);
  const Appraisal second = verify_evidence(r.bundle, Policy::strict(), r.when, prepared);
  ASSERT_TRUE(second.accepted()) << why(second);
  EXPECT_EQ(prepared.size(), 1u);
  EXPECT_EQ(appraisal_to_json(scratch), appraisal_to_json(first));
  EXPECT_EQ(appraisal_to_json(scratch), appraisal_to_json(second));
}

TEST(PreparedCollaterals, ShouldVerifyAfreshWhenOneByteOfTheCollateralChanges) {
  PreparedCollaterals prepared;
  RealBundle r;
  ASSERT_TRUE(verify_evidence(r.bundle, Policy::strict(), r.when, prepared).accepted());
  // One hex digit of the TCB Info's signature.
  auto& text = *r.bundle.collateral;
  const auto at = text.find("\"tcb_info_signature\"");
  ASSERT_NE(at, std::string::npos);
  const auto digit = text.find('"', text.find(':', at)) + 5;
  text[digit] = text[digit] == '0' ? '1' : '0';
  const Appraisal a = verify_evidence(r.bundle, Policy::strict(), r.when, prepared);
  EXPECT_EQ(failed(a), "collateral.tcb_info.signature");
  EXPECT_EQ(prepared.size(), 2u);  // prepared, but its verdict is its own
}

TEST(PreparedCollaterals, ShouldStillRejectOnceTheCollateralExpired) {
  PreparedCollaterals prepared;
  const RealBundle r;
  ASSERT_TRUE(verify_evidence(r.bundle, Policy::strict(), r.when, prepared).accepted());
  const Appraisal later = verify_evidence(r.bundle, Policy::strict(), sys_days{year{2025} / 8 / 1}, prepared);
  EXPECT_EQ(failed(later), "collateral.validity");
}

TEST(PreparedCollaterals, ShouldNameTheFailedCheckAndKeepNothingWhenCollateralIsBroken) {
  PreparedCollaterals prepared;
  RealBundle r;
  r.bundle.collateral = "{";
  EXPECT_EQ(failed(verify_evidence(r.bundle, Policy::strict(), r.when, prepared)), "collateral.parse");
  auto c = parse_collateral(read_text("dcap-qvl/tdx_quote_collateral.json"));
  ASSERT_TRUE(c);
  c->tcb_info = "{";
  r.bundle.collateral = collateral_to_json(*c);
  const Appraisal a = verify_evidence(r.bundle, Policy::strict(), r.when, prepared);
  EXPECT_EQ(failed(a), "collateral.tcb_info.parse");
  EXPECT_EQ(appraisal_to_json(a), appraisal_to_json(verify_evidence(r.bundle, Policy::strict(), r.when)));
  EXPECT_EQ(prepared.size(), 0u);
}

TEST(PreparedCollaterals, ShouldKeepAtMostItsCapacity) {
  PreparedCollaterals prepared(1);
  const SimQuote a, b;
  for (const SimQuote* q : {&a, &b}) {
    EvidenceBundle bundle{Platform::Sim, *build_quote(q->parts, q->attestation_key, q->pki.pck_key),
                          collateral_to_json(q->collateral), {}};
    Policy policy = Policy::report_only();
    policy.allow_simulated = true;
    const Appraisal appraisal = verify_evidence(bundle, policy, kNow, prepared);
    EXPECT_TRUE(appraisal.accepted()) << why(appraisal);
    EXPECT_EQ(prepared.size(), 1u);
  }
}

}  // namespace
}  // namespace ward::attest::dcap
