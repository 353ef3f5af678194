#include "serve/verify.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "fixture.h"

namespace ward::serve {
namespace {

using namespace testing;
using ca::testing::first_failure;
using ca::testing::sim_policy;

const system_clock::time_point kAt = kNow + minutes(10);

class VerifyTest : public ServeTest {
 protected:
  void SetUp() override {
    ServeTest::SetUp();
    service_.emplace(issue());
    facts_.ledger = sample_claims().ledger;
    ledger::Order order;
    order.id = sample_claims().order;
    order.cvm = ca::cvm_id(cvm_.signing_public_key());
    order.engine = sample_claims().engine;
    order.status = ledger::OrderStatus::Processing;
    order.started_at = 100;
    facts_.order = order;
    facts_.service = ServiceState{tls_key_digest(service_->certificate), sample_claims().inputs, 100, false};
  }

  EndpointVerification verify(const std::vector<crypto::Certificate>& chain,
                              const attest::Policy& policy = sim_policy(),
                              system_clock::time_point at = kAt) {
    return verify_endpoint(chain, center().certificate(), policy, facts_, pins_, at);
  }
  EndpointVerification verify_served() { return verify(chain_of(*service_)); }

  // Another CVM with its own certificate from the same center.
  std::pair<keys::PartyKey, crypto::Certificate> other_cvm() {
    auto key = keys::PartyKey::generate();
    auto issued = center().issue(ca::testing::sim_evidence_for(key), key.signing_public_key(),
                                 key.recipient(), sim_policy(), kNow);
    EXPECT_TRUE(issued && issued->certificate);
    return {std::move(key), *issued->certificate};
  }

  std::optional<ServiceCredentials> service_;
  LedgerFacts facts_;
  EndpointPins pins_;
};

std::vector<std::string> names(const EndpointVerification& v) {
  std::vector<std::string> out;
  for (const auto& c : v.appraisal.checks.results()) out.push_back(c.name);
  return out;
}

TEST_F(VerifyTest, shouldAcceptTheServedChainRunningEveryCheckInOrder) {
  pins_.engine = sample_claims().engine;
  pins_.models = {sample_claims().inputs[0]};
  const auto v = verify_served();
  ASSERT_TRUE(v.accepted()) << first_failure(v.appraisal);
  const auto n = names(v);
  ASSERT_GE(n.size(), 10u);
  EXPECT_EQ(n.front(), "tls.chain");
  EXPECT_EQ(n[1], "cert.chain");
  EXPECT_NE(std::ranges::find(n, "ca.binding"), n.end());
  const std::vector<std::string> tail(n.end() - 6, n.end());
  EXPECT_EQ(tail, (std::vector<std::string>{"service.claims", "service.ledger", "service.order",
                                            "service.engine", "service.inputs", "service.key"}));
  EXPECT_TRUE(v.appraisal.simulated);
  EXPECT_EQ(v.claims, sample_claims());
  EXPECT_EQ(v.tls_key, tls_key_digest(service_->certificate));
  ASSERT_TRUE(v.cvm);
  EXPECT_EQ(v.cvm->signing_key, cvm_.signing_public_key());
  EXPECT_NE(endpoint_verification_text(v).find("SIMULATED"), std::string::npos);
  EXPECT_EQ(endpoint_verification_json(v)["verdict"], "verified");
}

TEST_F(VerifyTest, shouldAcceptTheChainAServerSendsOverRealTls) {
  auto context = TlsServerContext::create(service_->key, chain_of(*service_));
  ASSERT_TRUE(context);
  TlsServer server(*context);
  auto stream = TlsStream::connect("127.0.0.1", server.port(), 5s);
  ASSERT_TRUE(stream) << stream.error().message;
  const auto v = verify((*stream)->peer_chain());
  EXPECT_TRUE(v.accepted()) << first_failure(v.appraisal);
}

TEST_F(VerifyTest, shouldRejectAManInTheMiddlesSelfSignedLeaf) {
  const auto key = crypto::EcPrivateKey::generate(crypto::EcCurve::P256);
  const auto forged = crypto::CertificateBuilder()
                          .subject("order-42")
                          .validity(floor<seconds>(kNow), floor<seconds>(kNow) + hours(1))
                          .self_sign(key)
                          .value();
  EXPECT_EQ(first_failure(verify({forged, cvm_cert()}).appraisal), "tls.chain");
  EXPECT_EQ(first_failure(verify({forged}).appraisal), "tls.chain");
  EXPECT_EQ(first_failure(verify({}).appraisal), "tls.chain");
}

TEST_F(VerifyTest, shouldRejectALeafSignedByAnotherCvmsKey) {
  auto [other_key, other_cert] = other_cvm();
  auto leaf = issue_service_certificate(sample_claims(), other_key.signing_key(), other_cert,
                                        floor<seconds>(kNow), floor<seconds>(kNow) + hours(1));
  ASSERT_TRUE(leaf);
  EXPECT_EQ(first_failure(verify({leaf->certificate, cvm_cert()}).appraisal), "tls.chain");
  // Served with its own CVM's certificate it gets as far as the order, which runs elsewhere.
  facts_.service->tls_key_sha256 = tls_key_digest(leaf->certificate);
  const auto v = verify({leaf->certificate, other_cert});
  EXPECT_EQ(first_failure(v.appraisal), "service.order");
}

TEST_F(VerifyTest, shouldRejectACvmCertificateUnderAnotherCenter) {
  const auto dir = this->dir().string() + "-other";
  auto other = ca::CertificationCenter::init(dir, kNow);
  ASSERT_TRUE(other);
  auto issued = other->issue(ca::testing::sim_evidence_for(cvm_), cvm_.signing_public_key(), cvm_.recipient(),
                             sim_policy(), kNow);
  ASSERT_TRUE(issued && issued->certificate);
  auto leaf =
      issue_service_certificate(sample_claims(), cvm_.signing_key(), *issued->certificate,
                                floor<seconds>(kNow), floor<seconds>(kNow) + hours(1), &service_->key);
  ASSERT_TRUE(leaf);
  EXPECT_EQ(first_failure(verify({leaf->certificate, *issued->certificate}).appraisal), "cert.chain");
  std::filesystem::remove_all(dir);
}

TEST_F(VerifyTest, shouldRejectSimulatedEvidenceUnderAStrictPolicy) {
  const auto v = verify(chain_of(*service_), attest::Policy::strict());
  ASSERT_FALSE(v.accepted());
  const std::string failed = first_failure(v.appraisal);
  EXPECT_NE(failed, "tls.chain");
  EXPECT_NE(failed, "cert.chain");
  EXPECT_FALSE(failed.starts_with("service."));
}

TEST_F(VerifyTest, shouldRejectAnExpiredOrNotYetValidLeaf) {
  EXPECT_EQ(first_failure(verify(chain_of(*service_), sim_policy(), kNow + hours(2)).appraisal), "tls.chain");
  EXPECT_EQ(first_failure(verify(chain_of(*service_), sim_policy(), kNow - minutes(1)).appraisal),
            "tls.chain");
}

TEST_F(VerifyTest, shouldRejectALeafWithoutTheServiceExtensions) {
  const auto bare = crypto::CertificateBuilder()
                        .subject("order-42")
                        .validity(floor<seconds>(kNow), floor<seconds>(kNow) + hours(1))
                        .public_key(service_->key.public_key())
                        .sign(cvm_cert(), cvm_.signing_key())
                        .value();
  EXPECT_EQ(first_failure(verify({bare, cvm_cert()}).appraisal), "service.claims");
}

TEST_F(VerifyTest, shouldRejectAnotherLedger) {
  facts_.ledger.fill(0x99);
  EXPECT_EQ(first_failure(verify_served().appraisal), "service.ledger");
}

TEST_F(VerifyTest, shouldRejectAnOrderThatIsMissingNotAServiceNotActiveOrElsewhere) {
  const auto saved = facts_;
  const auto rejected_at_order = [this, &saved](auto change, const char* what) {
    facts_ = saved;
    change(facts_);
    EXPECT_EQ(first_failure(verify_served().appraisal), "service.order") << what;
  };
  rejected_at_order([](LedgerFacts& f) { f.order.reset(); }, "missing");
  rejected_at_order([](LedgerFacts& f) { f.service.reset(); }, "not a service");
  rejected_at_order([](LedgerFacts& f) { f.order->status = ledger::OrderStatus::Done; }, "done");
  rejected_at_order([](LedgerFacts& f) { f.order->status = ledger::OrderStatus::New; }, "new");
  rejected_at_order([](LedgerFacts& f) { f.order->cvm.fill(0x33); }, "another CVM");
  rejected_at_order([](LedgerFacts& f) { f.service->serving_since = 0; }, "not started");
  rejected_at_order([](LedgerFacts& f) { f.service->cancel_requested = true; }, "canceling");
}

TEST_F(VerifyTest, shouldRejectAnEngineOtherThanTheOrdersOrThePin) {
  facts_.order->engine = "sha256:" + std::string(64, 'c');
  EXPECT_EQ(first_failure(verify_served().appraisal), "service.engine");
  facts_.order->engine = sample_claims().engine;
  pins_.engine = "sha256:" + std::string(64, 'c');
  EXPECT_EQ(first_failure(verify_served().appraisal), "service.engine");
}

TEST_F(VerifyTest, shouldRejectInputsOtherThanTheOrdersOrAMissingModelPin) {
  facts_.service->inputs.pop_back();
  EXPECT_EQ(first_failure(verify_served().appraisal), "service.inputs");
  facts_.service->inputs = sample_claims().inputs;
  pins_.models = {crypto::sha256(as_bytes("another model"))};
  EXPECT_EQ(first_failure(verify_served().appraisal), "service.inputs");
}

// A split order (docs/serving.md, "Split inference"): the start report must
// list exactly the order's workers, each with a verifying certificate of
// that CVM.
TEST_F(VerifyTest, shouldCheckASplitOrdersWorkersAgainstTheStartReport) {
  auto [w1_key, w1_cert] = other_cvm();
  auto [w2_key, w2_cert] = other_cvm();
  const auto w1 = ca::cvm_id(w1_key.signing_public_key());
  const auto w2 = ca::cvm_id(w2_key.signing_public_key());
  ledger::ServiceTerms terms;
  terms.workers = {ledger::Worker{w1, "127.0.0.1:1", 100}, ledger::Worker{w2, "127.0.0.1:2", 100}};
  facts_.order->serve = terms;
  const std::vector<ReportedWorker> good = {{w1, w1_cert.to_pem()}, {w2, w2_cert.to_pem()}};
  facts_.workers = good;
  auto v = verify_served();
  ASSERT_TRUE(v.accepted()) << first_failure(v.appraisal);
  EXPECT_EQ(names(v).back(), "service.workers");

  const auto refused = [&](std::optional<std::vector<ReportedWorker>> reported, const char* what) {
    facts_.workers = std::move(reported);
    EXPECT_EQ(first_failure(verify_served().appraisal), "service.workers") << what;
  };
  refused(std::nullopt, "no list in the start report");
  refused(std::vector<ReportedWorker>{good[0]}, "a worker left out");
  refused(std::vector<ReportedWorker>{good[1], good[0]}, "the workers swapped");
  // w2's place taken by a certificate of another CVM (the head's own).
  refused(std::vector<ReportedWorker>{good[0], {w2, cvm_cert().to_pem()}}, "another CVM's certificate");
  refused(std::vector<ReportedWorker>{good[0], {w2, "not a certificate"}}, "garbage");
  // A certificate from another center.
  const auto other_dir = dir().string() + "-other";
  auto other_center = ca::CertificationCenter::init(other_dir, kNow);
  ASSERT_TRUE(other_center);
  auto foreign = other_center->issue(ca::testing::sim_evidence_for(w2_key), w2_key.signing_public_key(),
                                     w2_key.recipient(), sim_policy(), kNow);
  ASSERT_TRUE(foreign && foreign->certificate);
  refused(std::vector<ReportedWorker>{good[0], {w2, foreign->certificate->to_pem()}}, "another center");
  std::filesystem::remove_all(other_dir);
}

TEST_F(VerifyTest, shouldRejectATlsKeyOtherThanTheStartReports) {
  const auto other = issue();
  facts_.service->tls_key_sha256 = tls_key_digest(other.certificate);
  const auto v = verify_served();
  EXPECT_EQ(first_failure(v.appraisal), "service.key");
  EXPECT_NE(endpoint_verification_text(v).find("REJECTED at service.key: "), std::string::npos);
}

TEST_F(VerifyTest, shouldReadTheServiceFieldsOfTheLedgersOrder) {
  ledger::Order order;
  order.id = 42;
  EXPECT_FALSE(service_state(order));
  order.serve = ledger::ServiceTerms{};
  auto waiting = service_state(order);
  ASSERT_TRUE(waiting);
  EXPECT_EQ(waiting->serving_since, 0u);
  EXPECT_EQ(waiting->tls_key_sha256, crypto::Sha256Digest{});
  const crypto::Sha256Digest key = tls_key_digest(service_->certificate);
  order.serve->tls_key_sha256 = key;
  order.serve->inputs = {sample_claims().inputs[0]};
  order.serve->serving_since = 7;
  auto state = service_state(order);
  ASSERT_TRUE(state);
  EXPECT_EQ(state->tls_key_sha256, key);
  EXPECT_EQ(state->inputs, std::vector<crypto::Sha256Digest>{sample_claims().inputs[0]});
  EXPECT_EQ(state->serving_since, 7u);
  EXPECT_FALSE(state->cancel_requested);
  order.serve->cancel_requested = 9;
  EXPECT_TRUE(service_state(order)->cancel_requested);
}

TEST_F(VerifyTest, shouldCacheByCertificateUntilTheTtlAndNeverPastNotAfter) {
  VerificationCache cache(seconds(60));
  const auto& leaf = service_->certificate;
  EXPECT_EQ(cache.find(leaf, kAt), nullptr);
  const auto stored = cache.store(leaf, verify_served(), kAt);
  EXPECT_EQ(cache.find(leaf, kAt + seconds(30)), stored);
  EXPECT_EQ(cache.find(leaf, kAt + seconds(61)), nullptr);

  // A rotated certificate, even for the same key, is another entry.
  cache.store(leaf, verify_served(), kAt);
  const auto rotated = issue(sample_claims(), &service_->key);
  EXPECT_EQ(cache.find(rotated.certificate, kAt), nullptr);
  EXPECT_NE(cache.find(leaf, kAt), nullptr);

  // The leaf expires an hour after kNow, before a day's ttl would.
  VerificationCache long_cache(hours(24));
  long_cache.store(leaf, verify_served(), kAt);
  EXPECT_NE(long_cache.find(leaf, kNow + minutes(59)), nullptr);
  EXPECT_EQ(long_cache.find(leaf, kNow + minutes(61)), nullptr);
}

}  // namespace
}  // namespace ward::serve
