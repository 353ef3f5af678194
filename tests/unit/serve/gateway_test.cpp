#include "serve/gateway.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "fixture.h"
#include "serve/relay.h"

namespace ward::serve {
namespace {

using testing::sample_claims;
using testing::ServeTest;
using namespace std::chrono;

// An engine on loopback: JSON with an OpenAI-style usage, an event stream
// whose last event carries one, and a response that forges a receipt.
class Engine {
 public:
  Engine() {
    http::ServerOptions options;
    options.threads = 2;
    server_ = std::make_unique<http::Server>(
        [](const http::Request& req) {
          http::Response r;
          if (req.path == "/v1/chat") {
            r.set_content(
                R"({"choices":[],"usage":{"prompt_tokens":10,"completion_tokens":32,"total_tokens":42}})",
                "application/json");
          } else if (req.path == "/v1/stream") {
            r.set_header("Content-Type", "text/event-stream");
            r.stream = [](http::ChunkSink& sink) {
              (void)sink.write("data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n");
              (void)sink.write("data: {\"choices\":[],\"usage\":{\"total_tokens\":");
              (void)sink.write("7}}\n\ndata: [DONE]\n\n");
            };
          } else if (req.path == "/forge") {
            r.set_header(std::string(kReceiptHeader), "forged");
            r.set_content("{}", "application/json");
          } else {
            r.set_content("account " + std::string(req.header("Ward-Account").value_or("none")),
                          "text/plain");
          }
          return r;
        },
        options);
    port_ = server_->bind("127.0.0.1", 0).value();
    thread_ = std::thread([this] { (void)server_->serve(); });
  }
  ~Engine() {
    server_->stop();
    thread_.join();
  }
  Dialer dialer() const {
    return [port = port_]() { return connect_tcp("127.0.0.1", port, seconds(5)); };
  }

 private:
  std::unique_ptr<http::Server> server_;
  int port_ = 0;
  std::thread thread_;
};

struct Collect final : http::ChunkSink {
  std::string body;
  Result<void> write(std::string_view data) override {
    body += data;
    return {};
  }
};

class GatewayTest : public ServeTest {
 protected:
  void SetUp() override {
    ServeTest::SetUp();
    credentials_.emplace(issue());
    tls_key_ = tls_key_digest(credentials_->certificate);
  }

  // A gateway for a listed-accounts service in front of `engine_`, metered.
  int start(GatewayOptions options) {
    auto tls = TlsServerContext::create(credentials_->key, chain_of(*credentials_));
    EXPECT_TRUE(tls);
    gateway_ = std::make_unique<Gateway>(*tls, engine_.dialer(), std::move(options));
    auto port = gateway_->start();
    EXPECT_TRUE(port);
    client_ = std::make_unique<Forwarder>([port = *port]() -> Result<std::unique_ptr<Stream>> {
      auto s = TlsStream::connect("127.0.0.1", port, seconds(5));
      if (!s) return std::unexpected(s.error());
      return std::unique_ptr<Stream>(std::move(*s));
    });
    return *port;
  }
  GatewayOptions metered_options() {
    GatewayOptions options;
    ledger::ServeRule rule{ledger::ServiceAccess::Accounts, {alice_.public_key()}};
    options.access = std::make_shared<AccessGuard>(rule, ServiceBinding{sample_claims().order, tls_key_});
    meter_ =
        std::make_shared<Meter>(sample_claims().ledger, sample_claims().order, credentials_->key, tls_key_);
    options.meter = meter_;
    return options;
  }

  struct Answer {
    int status = 0;
    std::string body;
    std::optional<std::string> receipt;
  };
  Answer send(const std::string& path, const crypto::Ed25519PrivateKey* key) {
    http::Request req;
    req.method = "POST";
    req.target = path;
    req.path = path;
    req.body = "{\"q\":1}";
    if (key) {
      for (auto& h :
           sign_request(req, ServiceBinding{sample_claims().order, tls_key_}, *key, system_clock::now()))
        req.headers.push_back(h);
    }
    http::Response res = client_->forward(req);
    Answer a{res.status, res.body, std::nullopt};
    if (res.stream) {
      Collect c;
      res.stream(c);
      a.body = c.body;
    }
    for (const auto& h : res.headers) {
      if (http::iequals(h.name, kReceiptHeader)) a.receipt = h.value;
    }
    return a;
  }
  Receipt receipt_of(const Answer& a) {
    EXPECT_TRUE(a.receipt);
    auto r = verify_receipt(a.receipt.value_or(""), credentials_->certificate);
    EXPECT_TRUE(r) << r.error().message;
    return r.value_or(Receipt{});
  }

  Engine engine_;
  std::optional<ServiceCredentials> credentials_;
  crypto::Sha256Digest tls_key_{};
  crypto::Ed25519PrivateKey alice_ = crypto::Ed25519PrivateKey::generate();
  std::shared_ptr<Meter> meter_;
  std::unique_ptr<Gateway> gateway_;
  std::unique_ptr<Forwarder> client_;
};

TEST_F(GatewayTest, shouldPutASignedReceiptOnEveryResponseCountingTheTokensOnTheNext) {
  start(metered_options());
  const Answer first = send("/v1/chat", &alice_);
  ASSERT_EQ(first.status, 200) << first.body;
  const Receipt r1 = receipt_of(first);
  EXPECT_EQ(r1.account, alice_.public_key());
  EXPECT_EQ(r1.usage, (Usage{1, 0, 7}));
  const Answer second = send("/v1/stream", &alice_);
  ASSERT_EQ(second.status, 200);
  EXPECT_NE(second.body.find("[DONE]"), std::string::npos);
  const Receipt r2 = receipt_of(second);
  EXPECT_EQ(r2.seq, 2u);
  EXPECT_EQ(r2.usage, (Usage{2, 42, 7 + first.body.size() + 7}));
  // The streamed response's 7 tokens and bytes show on the next one.
  const Answer third = send("/v1/echo", &alice_);
  EXPECT_EQ(receipt_of(third).usage, (Usage{3, 49, 21 + first.body.size() + second.body.size()}));
  EXPECT_EQ(third.body, "account " + hex_encode(alice_.public_key()));
  EXPECT_EQ(meter_->receipted().at(alice_.public_key()), receipt_of(third).usage);
}

TEST_F(GatewayTest, shouldReplaceAReceiptTheEngineWroteItself) {
  start(metered_options());
  const Answer a = send("/forge", &alice_);
  ASSERT_EQ(a.status, 200);
  EXPECT_EQ(receipt_of(a).usage.requests, 1u);
}

TEST_F(GatewayTest, shouldRefuseWhatAdmitRefusesBeforeTheEngineOrTheMeterSeesIt) {
  GatewayOptions options = metered_options();
  std::vector<Usage> asked;
  options.admit = [&](const ledger::AccountId&, const Usage& so_far) -> std::optional<http::Response> {
    asked.push_back(so_far);
    if (so_far.requests < 2) return std::nullopt;
    return http::error_response(402, "exhausted", "the deposit is spent");
  };
  start(std::move(options));
  EXPECT_EQ(send("/v1/chat", &alice_).status, 200);
  EXPECT_EQ(send("/v1/chat", &alice_).status, 200);
  const Answer refused = send("/v1/chat", &alice_);
  EXPECT_EQ(refused.status, 402);
  EXPECT_FALSE(refused.receipt);
  EXPECT_EQ(meter_->current(alice_.public_key()).requests, 2u);
  ASSERT_EQ(asked.size(), 3u);
  EXPECT_EQ(asked[2], (Usage{2, 84, 14 + 2 * 84}));
}

TEST_F(GatewayTest, shouldNeitherMeterNorAdmitWhatAccessRefuses) {
  GatewayOptions options = metered_options();
  bool asked = false;
  options.admit = [&](const ledger::AccountId&, const Usage&) -> std::optional<http::Response> {
    asked = true;
    return std::nullopt;
  };
  start(std::move(options));
  const auto mallory = crypto::Ed25519PrivateKey::generate();
  EXPECT_EQ(send("/v1/chat", nullptr).status, 401);
  EXPECT_EQ(send("/v1/chat", &mallory).status, 403);
  EXPECT_FALSE(asked);
  EXPECT_TRUE(meter_->receipted().empty());
}

}  // namespace
}  // namespace ward::serve
