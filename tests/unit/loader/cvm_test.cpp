#include "loader/cvm.h"

#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "base/file.h"
#include "ca/center.h"
#include "ca/server.h"
#include "crypto/random.h"
#include "ledger/client.h"
#include "ledger/ledger.h"

namespace ward::loader {
namespace {

using namespace std::chrono;
using std::chrono::sys_seconds;

const sys_seconds kStart{seconds(1'800'000'000)};

TEST(RenewalTime, ShouldFallTwoThirdsIntoTheLifetimeByDefault) {
  EXPECT_EQ(renewal_time(kStart, kStart + hours(24), std::nullopt), kStart + hours(16));
  EXPECT_EQ(renewal_time(kStart, kStart + seconds(30), std::nullopt), kStart + seconds(20));
}

TEST(RenewalTime, ShouldFallTheGivenMarginBeforeTheEnd) {
  EXPECT_EQ(renewal_time(kStart, kStart + hours(24), hours(1)), kStart + hours(23));
  EXPECT_EQ(renewal_time(kStart, kStart + seconds(20), seconds(12)), kStart + seconds(8));
}

TEST(RenewalTime, ShouldBeTheStartWhenTheMarginIsTheWholeLifetimeOrMore) {
  EXPECT_EQ(renewal_time(kStart, kStart + seconds(20), seconds(20)), kStart);
  EXPECT_EQ(renewal_time(kStart, kStart + seconds(20), hours(1)), kStart);
  EXPECT_EQ(renewal_time(kStart, kStart, std::nullopt), kStart) << "no lifetime at all";
}

// A CVM provisioned from a certification center served here, listed on an
// embedded ledger by its provider: what the loader's renewal works against.
class CertificateRenewalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("ward-renewal-" + hex_encode(crypto::random_bytes(8)));
    auto center = ca::CertificationCenter::init(dir_ / "ca", system_clock::now());
    ASSERT_TRUE(center) << center.error().message;
    center_.emplace(std::move(*center));
    policy_.allow_simulated = true;
    start_ca();

    auto ledger = ledger::Ledger::init(dir_ / "ward.db", true);
    ASSERT_TRUE(ledger) << ledger.error().message;
    ledger_.emplace(std::move(*ledger));
    client_ = ledger::borrow_client(*ledger_);

    options_.dir = dir_ / "cvm";
    options_.platform = "sim";
    options_.ca_url = url_;
    auto cvm = provision_cvm(options_);
    ASSERT_TRUE(cvm) << cvm.error().message;
    cvm_.emplace(std::move(*cvm));
  }
  void TearDown() override {
    stop_ca();
    client_.reset();
    ledger_.reset();
    std::filesystem::remove_all(dir_);
  }

  void start_ca() {
    server_ = std::make_unique<ca::CaServer>(*center_, policy_, ca::ServerOptions{.threads = 2});
    auto port = server_->bind("127.0.0.1", 0);
    ASSERT_TRUE(port) << port.error().message;
    url_ = "http://127.0.0.1:" + std::to_string(*port);
    thread_ = std::thread([this] { (void)server_->serve(); });
  }
  void stop_ca() {
    if (!server_) return;
    server_->stop();
    thread_.join();
    server_.reset();
  }

  // The provider lists the CVM with the certificate it was provisioned with.
  void list_cvm() {
    const auto send = [&](std::string_view type, nlohmann::json args) -> std::uint64_t {
      auto receipt = ledger::submit_signed(*client_, provider_, type, std::move(args));
      EXPECT_TRUE(receipt) << type << ": " << receipt.error().message;
      return receipt ? receipt->index : 0;
    };
    send("accounts.register", {{"recipient", provider_.recipient().to_string()}});
    const std::uint64_t tee = send("offers.create", {{"kind", "tee"},
                                                     {"name", "sim"},
                                                     {"resource", "sim"},
                                                     {"price", {{"model", "per_hour"}, {"amount", 1}}}});
    send("cvms.register", {{"key", hex_encode(cvm_->key.signing_public_key())},
                           {"recipient", cvm_->key.recipient().to_string()},
                           {"certificate", cvm_->certificate_pem},
                           {"offer", tee}});
  }

  std::string listed_certificate() { return client_->cvm(cvm_->id).value().value().certificate; }
  std::string kept_certificate() {
    auto pem = read_file(options_.dir / "cvm.pem", std::size_t{1} << 20);
    return pem ? std::string(as_chars(*pem)) : std::string();
  }
  CertificateRenewal renewal(std::optional<seconds> before, seconds retry = seconds(30)) {
    return CertificateRenewal(options_, RenewalOptions{before, retry},
                              [this](std::string_view line) { log_.emplace_back(line); });
  }
  // The CA issues to the second: a renewal a second later outlasts the one before.
  static void next_second() { std::this_thread::sleep_for(milliseconds(1100)); }

  std::filesystem::path dir_;
  std::optional<ca::CertificationCenter> center_;
  attest::Policy policy_;
  std::unique_ptr<ca::CaServer> server_;
  std::thread thread_;
  std::string url_;
  std::optional<ledger::Ledger> ledger_;
  std::unique_ptr<ledger::LedgerClient> client_;
  keys::PartyKey provider_ = keys::PartyKey::generate();
  CvmOptions options_;
  std::optional<CvmState> cvm_;
  std::vector<std::string> log_;
};

TEST_F(CertificateRenewalTest, ShouldLeaveACertificateThatIsNotDueAlone) {
  list_cvm();
  const std::string before = cvm_->certificate_pem;
  auto r = renewal(std::nullopt);
  EXPECT_FALSE(r.renew_if_due(*cvm_, *client_));
  EXPECT_EQ(cvm_->certificate_pem, before);
  EXPECT_EQ(listed_certificate(), before);
  EXPECT_TRUE(log_.empty()) << log_.front();
}

TEST_F(CertificateRenewalTest, ShouldRenewADueCertificateHereInItsFileAndOnTheLedger) {
  list_cvm();
  const crypto::Certificate before = cvm_->certificate;
  next_second();
  auto r = renewal(hours(25));  // more than the center's 24 h: always due
  ASSERT_TRUE(r.renew_if_due(*cvm_, *client_)) << (log_.empty() ? "" : log_.back());
  EXPECT_GT(cvm_->certificate.not_after(), before.not_after());
  EXPECT_EQ(cvm_->certificate.ed25519_public_key().value(), before.ed25519_public_key().value());
  EXPECT_EQ(cvm_->certificate_pem, cvm_->certificate.to_pem());
  EXPECT_EQ(kept_certificate(), cvm_->certificate_pem);
  EXPECT_EQ(listed_certificate(), cvm_->certificate_pem);
}

TEST_F(CertificateRenewalTest, ShouldRetryAFailedRenewalLaterAndKeepTheCertificate) {
  list_cvm();
  const std::string before = cvm_->certificate_pem;
  stop_ca();
  auto r = renewal(hours(25));
  EXPECT_FALSE(r.renew_if_due(*cvm_, *client_));
  ASSERT_EQ(log_.size(), 1u);
  EXPECT_NE(log_[0].find("cannot renew the CVM certificate"), std::string::npos) << log_[0];
  EXPECT_FALSE(r.renew_if_due(*cvm_, *client_));
  EXPECT_EQ(log_.size(), 1u) << "no second try before the retry time";
  EXPECT_EQ(cvm_->certificate_pem, before);
  EXPECT_EQ(kept_certificate(), before);
  EXPECT_EQ(listed_certificate(), before);
}

TEST_F(CertificateRenewalTest, ShouldCatchTheLedgerUpWithACertificateGotAtARestart) {
  list_cvm();
  next_second();
  // A loader restarted without its kept certificate gets a new one for the
  // same keys; the ledger still lists the old one.
  std::filesystem::remove(options_.dir / "cvm.pem");
  auto restarted = provision_cvm(options_);
  ASSERT_TRUE(restarted) << restarted.error().message;
  ASSERT_NE(restarted->certificate_pem, cvm_->certificate_pem);
  ASSERT_EQ(restarted->id, cvm_->id);
  auto r = renewal(std::nullopt);
  EXPECT_FALSE(r.renew_if_due(*restarted, *client_)) << "nothing to renew";
  EXPECT_EQ(listed_certificate(), restarted->certificate_pem);
  EXPECT_FALSE(r.renew_if_due(*restarted, *client_));
  EXPECT_EQ(log_.size(), 1u) << "published once";
}

}  // namespace
}  // namespace ward::loader
