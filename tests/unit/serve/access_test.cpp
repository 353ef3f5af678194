#include "serve/access.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "base/bytes.h"

namespace ward::serve {
namespace {

using std::chrono::seconds;
using std::chrono::system_clock;

const system_clock::time_point kNow = system_clock::time_point(seconds(1'800'000'000));

class AccessTest : public ::testing::Test {
 protected:
  http::Request request(std::string body = "{\"features\":[1]}") const {
    http::Request r;
    r.method = "POST";
    r.target = "/v1/predict";
    r.path = "/v1/predict";
    r.body = std::move(body);
    return r;
  }
  http::Request signed_request(const crypto::Ed25519PrivateKey& key, system_clock::time_point at = kNow,
                               const ServiceBinding* for_service = nullptr) const {
    http::Request r = request();
    for (auto& h : sign_request(r, for_service ? *for_service : service_, key, at)) r.headers.push_back(h);
    return r;
  }
  static std::string reason(const std::expected<std::optional<ledger::AccountId>, http::Response>& r) {
    if (r) return "";
    return nlohmann::json::parse(r.error().body)["error"]["reason"].get<std::string>() + " " +
           std::to_string(r.error().status);
  }

  crypto::Ed25519PrivateKey alice_ = crypto::Ed25519PrivateKey::generate();
  crypto::Ed25519PrivateKey mallory_ = crypto::Ed25519PrivateKey::generate();
  ServiceBinding service_{7, crypto::Sha256Digest{1}};
  ledger::ServeRule listed_{ledger::ServiceAccess::Accounts, {alice_.public_key()}};
};

TEST_F(AccessTest, ShouldPassAListedAccountsSignedRequestAndNameIt) {
  AccessGuard guard(listed_, service_);
  auto ok = guard.check(signed_request(alice_), kNow);
  ASSERT_TRUE(ok) << reason(ok);
  EXPECT_EQ(**ok, alice_.public_key());
}

TEST_F(AccessTest, ShouldServeUnsignedRequestsOnlyWhenPublic) {
  AccessGuard open({ledger::ServiceAccess::Public, {}}, service_);
  auto anonymous = open.check(request(), kNow);
  ASSERT_TRUE(anonymous);
  EXPECT_FALSE(*anonymous);
  AccessGuard guard(listed_, service_);
  EXPECT_EQ(reason(guard.check(request(), kNow)), "unauthenticated 401");
}

TEST_F(AccessTest, ShouldRefuseAReplayedRequest) {
  AccessGuard guard(listed_, service_);
  const http::Request r = signed_request(alice_);
  EXPECT_EQ(reason(guard.check(r, kNow)), "");
  EXPECT_EQ(reason(guard.check(r, kNow + seconds(5))), "replayed 401");
  // Once its time is outside the window, a replay fails at the time check.
  EXPECT_EQ(reason(guard.check(r, kNow + seconds(120))), "unauthenticated 401");
}

TEST_F(AccessTest, ShouldRefuseAnAccountTheRuleDoesNotList) {
  AccessGuard guard(listed_, service_);
  EXPECT_EQ(reason(guard.check(signed_request(mallory_), kNow)), "not_allowed 403");
}

TEST_F(AccessTest, ShouldRefuseASignatureOutsideTheTimeWindow) {
  AccessGuard guard(listed_, service_);
  EXPECT_EQ(reason(guard.check(signed_request(alice_, kNow - seconds(61)), kNow)), "unauthenticated 401");
  EXPECT_EQ(reason(guard.check(signed_request(alice_, kNow + seconds(61)), kNow)), "unauthenticated 401");
  EXPECT_EQ(reason(guard.check(signed_request(alice_, kNow - seconds(59)), kNow)), "");
}

TEST_F(AccessTest, ShouldRefuseASignatureSwappedOntoAnotherRequestOrService) {
  AccessGuard guard(listed_, service_);
  http::Request r = signed_request(alice_);
  r.body = "{\"features\":[2]}";
  EXPECT_EQ(reason(guard.check(r, kNow)), "unauthenticated 401") << "another body";
  r = signed_request(alice_);
  r.target = "/v1/model";
  EXPECT_EQ(reason(guard.check(r, kNow)), "unauthenticated 401") << "another target";
  const ServiceBinding other_order{8, service_.tls_key};
  EXPECT_EQ(reason(guard.check(signed_request(alice_, kNow, &other_order), kNow)), "unauthenticated 401");
  const ServiceBinding other_key{7, crypto::Sha256Digest{2}};
  EXPECT_EQ(reason(guard.check(signed_request(alice_, kNow, &other_key), kNow)), "unauthenticated 401");
  // Mallory claiming Alice's account with her own signature.
  r = signed_request(mallory_);
  for (auto& h : r.headers)
    if (h.name == kAccountHeader) h.value = hex_encode(alice_.public_key());
  EXPECT_EQ(reason(guard.check(r, kNow)), "unauthenticated 401");
}

TEST_F(AccessTest, ShouldRefuseMissingOrMalformedHeaders) {
  AccessGuard guard(listed_, service_);
  for (std::string_view name : {kAccountHeader, kTimeHeader, kNonceHeader, kSignatureHeader}) {
    http::Request r = signed_request(alice_);
    std::erase_if(r.headers, [&](const http::Header& h) { return h.name == name; });
    EXPECT_EQ(reason(guard.check(r, kNow)), "unauthenticated 401") << "without " << name;
    r = signed_request(alice_);
    for (auto& h : r.headers)
      if (h.name == name) h.value = "0x" + h.value;
    EXPECT_EQ(reason(guard.check(r, kNow)), "unauthenticated 401") << "malformed " << name;
  }
}

TEST_F(AccessTest, ShouldRefuseNewRequestsWhenItCannotRememberMoreNonces) {
  AccessGuard guard(listed_, service_, AccessOptions{seconds(60), 2});
  EXPECT_EQ(reason(guard.check(signed_request(alice_), kNow)), "");
  EXPECT_EQ(reason(guard.check(signed_request(alice_), kNow)), "");
  EXPECT_EQ(reason(guard.check(signed_request(alice_), kNow)), "busy 503");
  EXPECT_EQ(reason(guard.check(signed_request(alice_, kNow + seconds(62)), kNow + seconds(62))), "")
      << "the old nonces are forgotten once their time is out of the window";
}

TEST_F(AccessTest, ShouldRemoveEveryAccessHeaderAClientWrote) {
  http::Headers headers = signed_request(alice_).headers;
  headers.push_back({"ward-account", "x"});
  headers.push_back({"Content-Type", "application/json"});
  remove_access_headers(headers);
  ASSERT_EQ(headers.size(), 1u);
  EXPECT_EQ(headers[0].name, "Content-Type");
}

}  // namespace
}  // namespace ward::serve
