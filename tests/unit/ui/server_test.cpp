// ui::Server answering forged and honest requests over an embedded ledger:
// the page's files with a strict Content-Security-Policy, the gate in front
// of every route, offers made through the API, chat refused before a
// service verified, and the key in no answer.
#include "ui/server.h"

#include <filesystem>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "../ca/fixture.h"
#include "base/bytes.h"
#include "crypto/random.h"
#include "ledger/client.h"
#include "ledger/ledger.h"

namespace ward::ui {
namespace {

using json = nlohmann::json;

class UiServerTest : public ca::testing::CaTest {
 protected:
  void SetUp() override {
    CaTest::SetUp();
    root_ = std::filesystem::temp_directory_path() / ("ward-ui-test-" + hex_encode(crypto::random_bytes(8)));
    std::filesystem::create_directories(root_);
    ledger_path_ = (root_ / "ward.db").string();
    ASSERT_TRUE(ledger::Ledger::init(ledger_path_, true));
    auto client = ledger::open_client(ledger_path_);
    ASSERT_TRUE(client);
    auto registered = ledger::submit_signed(**client, key_, "accounts.register",
                                            {{"recipient", key_.recipient().to_string()}, {"name", "alice"}});
    ASSERT_TRUE(registered) << registered.error().message;
    auto server = Server::create(Options{ledger_path_,
                                         key_,
                                         (root_ / "store").string(),
                                         center().certificate(),
                                         attest::Policy::strict(),
                                         root_ / "receipts",
                                         {}});
    ASSERT_TRUE(server) << server.error().message;
    server_ = std::move(*server);
    auto port = server_->bind("127.0.0.1", 0);
    ASSERT_TRUE(port) << port.error().message;
    host_ = "127.0.0.1:" + std::to_string(*port);
    token_ = server_->url().substr(server_->url().find("#token=") + 7);
  }
  void TearDown() override {
    server_.reset();
    std::filesystem::remove_all(root_);
    CaTest::TearDown();
  }

  http::Response send(std::string method, std::string path, std::string body = {}) {
    http::Request r;
    r.method = std::move(method);
    r.target = path;
    r.path = std::move(path);
    r.headers = {{"Host", host_}, {"Authorization", "Bearer " + token_}};
    if (!body.empty()) r.headers.push_back({"Content-Type", "application/json"});
    r.body = std::move(body);
    return server_->handle(r);
  }

  keys::PartyKey key_ = keys::PartyKey::generate();
  std::filesystem::path root_;
  std::string ledger_path_;
  std::unique_ptr<Server> server_;
  std::string host_;
  std::string token_;
};

TEST_F(UiServerTest, PrintsALoopbackUrlWithAFreshToken) {
  const std::string url = server_->url();
  EXPECT_TRUE(url.starts_with("http://" + host_ + "/#token=")) << url;
  EXPECT_EQ(token_.size(), 64u);
  EXPECT_TRUE(hex_decode(token_));
}

TEST_F(UiServerTest, ListensOnLoopbackOnly) {
  auto other = Server::create(Options{ledger_path_,
                                      key_,
                                      (root_ / "store").string(),
                                      center().certificate(),
                                      attest::Policy::strict(),
                                      root_ / "receipts",
                                      {}});
  ASSERT_TRUE(other);
  for (const char* host : {"0.0.0.0", "::", "localhost", "192.168.1.1"})
    EXPECT_FALSE((*other)->bind(host, 0)) << host;
}

TEST_F(UiServerTest, ServesThePageWithAStrictPolicy) {
  for (const auto& [path, type] : {std::pair{"/", "text/html"}, std::pair{"/app.js", "text/javascript"},
                                   std::pair{"/style.css", "text/css"}}) {
    const auto r = send("GET", path);
    EXPECT_EQ(r.status, 200) << path;
    EXPECT_TRUE(std::string(http::find_header(r.headers, "Content-Type").value_or("")).starts_with(type))
        << path;
    const std::string csp(http::find_header(r.headers, "Content-Security-Policy").value_or(""));
    EXPECT_NE(csp.find("script-src 'self'"), std::string::npos);
    EXPECT_EQ(csp.find("unsafe-inline"), std::string::npos);
    EXPECT_EQ(http::find_header(r.headers, "X-Content-Type-Options").value_or(""), "nosniff");
  }
  EXPECT_EQ(send("GET", "/").body.find("<script>"), std::string::npos);  // no inline script
}

TEST_F(UiServerTest, RefusesForgedRequests) {
  http::Request r;
  r.method = "GET";
  r.path = r.target = "/api/session";
  r.headers = {{"Host", host_}};
  EXPECT_EQ(server_->handle(r).status, 401);
  r.headers.push_back({"Authorization", "Bearer " + std::string(64, '0')});
  EXPECT_EQ(server_->handle(r).status, 401);
  r.headers = {{"Host", host_}, {"Authorization", "Bearer " + token_}, {"Origin", "http://evil.example"}};
  EXPECT_EQ(server_->handle(r).status, 403);
  r.headers = {{"Host", "evil.example"}, {"Authorization", "Bearer " + token_}};
  EXPECT_EQ(server_->handle(r).status, 403);
  r.headers = {{"Host", host_}, {"Authorization", "Bearer " + token_}};
  EXPECT_EQ(server_->handle(r).status, 200);
}

TEST_F(UiServerTest, CreatesAnOfferSignedByTheKey) {
  const auto created = send("POST", "/api/offers",
                            json{{"kind", "dataset"},
                                 {"name", "clinic records"},
                                 {"resource", "sha256:abc"},
                                 {"price", {{"model", "per_hour"}, {"amount", 7}}}}
                                .dump());
  ASSERT_EQ(created.status, 200) << created.body;
  const auto offers = json::parse(send("GET", "/api/offers").body)["offers"];
  ASSERT_EQ(offers.size(), 1u);
  EXPECT_EQ(offers[0]["name"], "clinic records");
  EXPECT_EQ(offers[0]["owner"], hex_encode(key_.signing_public_key()));
  EXPECT_EQ(offers[0]["owner_name"], "alice");
  EXPECT_EQ(offers[0]["price_text"], "7 per hour");
  EXPECT_EQ(offers[0]["mine"], true);
}

TEST_F(UiServerTest, RefusesAnotherPartysDescriptorAndBadBodies) {
  EXPECT_EQ(send("POST", "/api/offers", "{\"kind\":").status, 400);
  EXPECT_EQ(send("POST", "/api/offers", "{\"kind\":\"model\"}").status, 400);
  EXPECT_EQ(send("POST", "/api/deploy", "{}").status, 400);
}

TEST_F(UiServerTest, RefusesChatBeforeTheServiceVerified) {
  const auto r = send("POST", "/api/services/5/v1/completions", R"({"prompt":"hi","stream":true})");
  EXPECT_EQ(r.status, 409) << r.body;
  EXPECT_EQ(send("GET", "/api/services/5/verification").status, 409);
  EXPECT_EQ(send("POST", "/api/services/5/connect", "{}").status, 502);  // no such service order
  EXPECT_EQ(send("GET", "/api/services/x/verification").status, 404);
}

TEST_F(UiServerTest, ADeployOfOffersThatDoNotExistFailsAtItsFirstStep) {
  const auto started =
      send("POST", "/api/deploy", R"({"engine_offer":90,"model_offer":91,"tee_offer":92,"deposit":5})");
  ASSERT_EQ(started.status, 202) << started.body;
  const std::string job = "/api/jobs/" + std::to_string(json::parse(started.body)["job"].get<int>());
  json state;
  for (int i = 0; i < 100; ++i) {
    state = json::parse(send("GET", job).body);
    if (state["done"] == true) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(state["done"], true) << state.dump();
  EXPECT_EQ(state["steps"][0]["state"], "failed");
  EXPECT_EQ(state["steps"][0]["detail"], "no offer 90 on the ledger");
  EXPECT_EQ(state["steps"][1]["state"], "pending");
  EXPECT_FALSE(state.contains("order"));
  EXPECT_EQ(send("GET", "/api/jobs/99").status, 404);
}

TEST_F(UiServerTest, NeverSendsTheKey) {
  const std::string secret = key_.identity().to_string();
  const std::string seed = hex_encode(key_.signing_key().seed());
  for (const char* path : {"/api/session", "/api/offers", "/api/orders", "/", "/app.js"}) {
    const auto r = send("GET", path);
    EXPECT_EQ(r.status, 200) << path << ": " << r.body;
    EXPECT_EQ(r.body.find(secret), std::string::npos) << path;
    EXPECT_EQ(r.body.find(seed), std::string::npos) << path;
  }
  const auto session = json::parse(send("GET", "/api/session").body);
  EXPECT_EQ(session["account"], hex_encode(key_.signing_public_key()));
  EXPECT_EQ(session["name"], "alice");
}

}  // namespace
}  // namespace ward::ui
