// The gate every request to `ward ui` passes, and the API's body parsers:
// each refusal forged.
#include "ui/api.h"

#include <gtest/gtest.h>

namespace ward::ui {
namespace {

using json = nlohmann::json;

const Gate kGate{std::string(64, 'a'), 4242};

http::Request api_request(std::string path = "/api/session") {
  http::Request r;
  r.method = "GET";
  r.target = path;
  r.path = std::move(path);
  r.headers = {{"Host", "127.0.0.1:4242"}, {"Authorization", "Bearer " + std::string(64, 'a')}};
  return r;
}

void set(http::Request& r, const std::string& name, const std::string& value) {
  std::erase_if(r.headers, [&](const http::Header& h) { return http::iequals(h.name, name); });
  r.headers.push_back({name, value});
}

int refused_status(const http::Request& r) {
  const auto refused = refuse(r, kGate);
  return refused ? refused->status : 0;
}

TEST(UiGate, PassesTheOwnPageWithItsToken) {
  EXPECT_EQ(refused_status(api_request()), 0);
  auto r = api_request();
  set(r, "Host", "localhost:4242");
  set(r, "Origin", "http://localhost:4242");
  set(r, "Sec-Fetch-Site", "same-origin");
  EXPECT_EQ(refused_status(r), 0);
}

TEST(UiGate, RefusesNoToken) {
  auto r = api_request();
  std::erase_if(r.headers, [](const http::Header& h) { return h.name == "Authorization"; });
  EXPECT_EQ(refused_status(r), 401);
  set(r, "Authorization", "Bearer ");
  EXPECT_EQ(refused_status(r), 401);
  set(r, "Authorization", std::string(64, 'a'));  // no "Bearer "
  EXPECT_EQ(refused_status(r), 401);
}

TEST(UiGate, RefusesAWrongToken) {
  auto r = api_request();
  set(r, "Authorization", "Bearer " + std::string(63, 'a') + "b");
  EXPECT_EQ(refused_status(r), 401);
  set(r, "Authorization", "Bearer " + std::string(64, 'a') + "a");
  EXPECT_EQ(refused_status(r), 401);
}

TEST(UiGate, RefusesAForeignHost) {
  for (const char* host : {"evil.example:4242", "127.0.0.1:4243", "127.0.0.1", "localhost.evil.example:4242",
                           "[::1]:4242", ""}) {
    auto r = api_request();
    set(r, "Host", host);
    EXPECT_EQ(refused_status(r), 403) << host;
  }
  auto r = api_request("/");
  set(r, "Host", "rebound.example:4242");  // the page itself, too
  EXPECT_EQ(refused_status(r), 403);
  std::erase_if(r.headers, [](const http::Header& h) { return h.name == "Host"; });
  EXPECT_EQ(refused_status(r), 403);
}

TEST(UiGate, RefusesAForeignOrigin) {
  for (const char* origin : {"http://evil.example", "https://127.0.0.1:4242", "http://127.0.0.1:4243", "null",
                             "http://127.0.0.1:4242.evil.example"}) {
    auto r = api_request();
    set(r, "Origin", origin);
    EXPECT_EQ(refused_status(r), 403) << origin;
  }
  auto r = api_request();
  set(r, "Sec-Fetch-Site", "cross-site");
  EXPECT_EQ(refused_status(r), 403);
  set(r, "Sec-Fetch-Site", "same-site");
  EXPECT_EQ(refused_status(r), 403);
}

TEST(UiGate, ServesThePageWithoutToken) {
  auto r = api_request("/");
  std::erase_if(r.headers, [](const http::Header& h) { return h.name == "Authorization"; });
  EXPECT_EQ(refused_status(r), 0);
}

TEST(UiGate, TakesJsonBodiesOnly) {
  auto r = api_request("/api/offers");
  r.method = "POST";
  r.body = "{}";
  EXPECT_EQ(refused_status(r), 415);
  set(r, "Content-Type", "text/plain");  // what a cross-site form could send
  EXPECT_EQ(refused_status(r), 415);
  set(r, "Content-Type", "application/json");
  EXPECT_EQ(refused_status(r), 0);
  r.body.assign(kMaxBodyBytes + 1, ' ');
  EXPECT_EQ(refused_status(r), 413);
}

TEST(UiRequests, ParsesAnOffer) {
  auto offer = parse_offer_request(json{{"kind", "model"},
                                        {"name", "m"},
                                        {"resource", "sha256:x"},
                                        {"price", {{"model", "fixed"}, {"amount", 3}}}});
  ASSERT_TRUE(offer) << offer.error().message;
  EXPECT_EQ(offer->price, (json{{"model", "fixed"}, {"amount", 3}}));
  auto share = parse_offer_request(json{{"kind", "model"},
                                        {"name", "m"},
                                        {"resource", "r"},
                                        {"price", {{"model", "revenue_share"}, {"bps", 500}}}});
  ASSERT_TRUE(share) << share.error().message;
}

TEST(UiRequests, RefusesBadOffers) {
  const json good = {
      {"kind", "model"}, {"name", "m"}, {"resource", "r"}, {"price", {{"model", "fixed"}, {"amount", 3}}}};
  auto with = [&](const char* key, json value) {
    json j = good;
    j[key] = std::move(value);
    return j;
  };
  EXPECT_FALSE(parse_offer_request(with("kind", "car")));
  EXPECT_FALSE(parse_offer_request(with("name", "")));
  EXPECT_FALSE(parse_offer_request(with("name", 5)));
  EXPECT_FALSE(parse_offer_request(with("extra", 1)));
  EXPECT_FALSE(parse_offer_request(with("descriptor", "{}")));  // both resource and descriptor
  EXPECT_FALSE(parse_offer_request(with("price", {{"model", "fixed"}, {"amount", -1}})));
  EXPECT_FALSE(parse_offer_request(with("price", {{"model", "fixed"}, {"amount", 1.5}})));
  EXPECT_FALSE(parse_offer_request(with("price", {{"model", "revenue_share"}, {"bps", 10001}})));
  EXPECT_FALSE(parse_offer_request(with("price", {{"model", "free"}, {"amount", 1}})));
  EXPECT_FALSE(parse_offer_request(with("price", {{"model", "fixed"}, {"amount", 1}, {"bps", 2}})));
}

TEST(UiRequests, ParsesDeployAndConnect) {
  auto deploy =
      parse_deploy_request(json{{"engine_offer", 1}, {"model_offer", 2}, {"tee_offer", 3}, {"deposit", 10}});
  ASSERT_TRUE(deploy) << deploy.error().message;
  EXPECT_EQ(deploy->tee_offer, 3u);
  EXPECT_FALSE(parse_deploy_request(json{{"engine_offer", 1}, {"model_offer", 2}, {"tee_offer", 3}}));
  EXPECT_FALSE(parse_deploy_request(
      json{{"engine_offer", "1"}, {"model_offer", 2}, {"tee_offer", 3}, {"deposit", 1}}));

  auto connect = parse_connect_request(
      json{{"engine", "sha256:" + std::string(64, 'b')}, {"models", {std::string(64, 'c')}}});
  ASSERT_TRUE(connect) << connect.error().message;
  EXPECT_EQ(*connect->engine, "sha256:" + std::string(64, 'b'));
  EXPECT_EQ(connect->models.size(), 1u);
  EXPECT_FALSE(parse_connect_request(json{{"engine", std::string(64, 'b')}}));
  EXPECT_FALSE(parse_connect_request(json{{"engine", "sha256:" + std::string(64, 'B')}}));
  EXPECT_FALSE(parse_connect_request(json{{"models", {"xyz"}}}));
}

TEST(UiRequests, ParsesAnUpload) {
  const json price = {{"model", "fixed"}, {"amount", 1}};
  auto upload = parse_upload_request(
      json{{"path", "/data/m.gguf"}, {"kind", "model"}, {"name", "m"}, {"price", price}});
  ASSERT_TRUE(upload) << upload.error().message;
  EXPECT_EQ(upload->path, "/data/m.gguf");
  EXPECT_FALSE(
      parse_upload_request(json{{"path", "m.gguf"}, {"kind", "model"}, {"name", "m"}, {"price", price}}));
  EXPECT_FALSE(
      parse_upload_request(json{{"path", "/e.tar"}, {"kind", "engine"}, {"name", "e"}, {"price", price}}));
  EXPECT_FALSE(parse_upload_request(json{{"path", "/m"}, {"kind", "model"}, {"name", "m"}}));
}

TEST(UiRequests, BodiesAreStrictObjects) {
  EXPECT_TRUE(parse_body("{\"a\":1}"));
  EXPECT_FALSE(parse_body("[1]"));
  EXPECT_FALSE(parse_body("{\"a\":1,\"a\":2}"));
  EXPECT_FALSE(parse_body("{"));
  EXPECT_FALSE(parse_body(std::string(kMaxBodyBytes + 1, ' ')));
}

}  // namespace
}  // namespace ward::ui
