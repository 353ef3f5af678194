#include "serve/meter.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "base/bytes.h"
#include "base/file.h"
#include "fixture.h"
#include "serve/proxy.h"

namespace ward::serve {
namespace {

using testing::sample_claims;
using testing::ServeTest;

class MeterTest : public ServeTest {
 protected:
  void SetUp() override {
    ServeTest::SetUp();
    credentials_.emplace(issue());
    alice_.fill(0xa1);
    bob_.fill(0xb0);
  }

  Meter meter() const {
    return Meter(sample_claims().ledger, sample_claims().order, credentials_->key,
                 tls_key_digest(credentials_->certificate));
  }
  const crypto::Certificate& leaf() const { return credentials_->certificate; }

  std::optional<ServiceCredentials> credentials_;
  ledger::AccountId alice_{};
  ledger::AccountId bob_{};
};

TEST_F(MeterTest, shouldSignCumulativeCountersPerAccountThatVerifyWithTheServiceCertificate) {
  Meter m = meter();
  const auto now = std::chrono::system_clock::from_time_t(1800000000);
  auto first = verify_receipt(m.admit(alice_, 100, now), leaf());
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_EQ(first->seq, 1u);
  EXPECT_EQ(first->usage, (Usage{1, 0, 100}));
  EXPECT_EQ(first->order, 42u);
  EXPECT_EQ(first->ledger, sample_claims().ledger);
  EXPECT_EQ(first->account, alice_);
  EXPECT_EQ(first->time, 1800000000u);
  m.add(alice_, 900, 57);
  // The response's bytes and tokens show on the next receipt, and only
  // receipted counters are what the ledger may be told.
  EXPECT_EQ(m.receipted().at(alice_), (Usage{1, 0, 100}));
  EXPECT_EQ(m.current(alice_), (Usage{1, 57, 1000}));
  auto second = verify_receipt(m.admit(alice_, 0, now), leaf());
  ASSERT_TRUE(second);
  EXPECT_EQ(second->seq, 2u);
  EXPECT_EQ(second->usage, (Usage{2, 57, 1000}));
  EXPECT_EQ(m.receipted().at(alice_), (Usage{2, 57, 1000}));
  auto bobs = verify_receipt(m.admit(bob_, 5, now), leaf());
  ASSERT_TRUE(bobs);
  EXPECT_EQ(bobs->seq, 1u);
  EXPECT_EQ(bobs->usage, (Usage{1, 0, 5}));
}

TEST_F(MeterTest, shouldCarryOnFromWhatTheLedgerRecordedAfterARestart) {
  Meter m = meter();
  m.restore(alice_, Usage{10, 2000, 50000});
  EXPECT_EQ(m.receipted().at(alice_), (Usage{10, 2000, 50000}));
  auto r = parse_receipt(m.admit(alice_, 1, std::chrono::system_clock::now()));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->usage, (Usage{11, 2000, 50001}));
  m.restore(alice_, Usage{1, 1, 1});  // never below what it has
  EXPECT_EQ(m.current(alice_), (Usage{11, 2000, 50001}));
}

TEST_F(MeterTest, shouldKeepReceiptsIncreasingUnderConcurrentRequests) {
  Meter m = meter();
  std::vector<std::thread> threads;
  std::vector<std::vector<std::string>> receipts(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 100; ++i) {
        receipts[t].push_back(m.admit(alice_, 1, std::chrono::system_clock::now()));
        m.add(alice_, 2, 3);
      }
    });
  }
  for (auto& th : threads) th.join();
  std::set<std::uint64_t> seqs;
  for (const auto& list : receipts) {
    std::uint64_t last = 0;
    for (const auto& value : list) {
      auto r = verify_receipt(value, leaf());
      ASSERT_TRUE(r);
      EXPECT_GT(r->usage.requests, last);
      last = r->usage.requests;
      EXPECT_EQ(r->seq, r->usage.requests);
      seqs.insert(r->seq);
    }
  }
  EXPECT_EQ(seqs.size(), 400u);
  EXPECT_EQ(m.current(alice_), (Usage{400, 1200, 1200}));
}

TEST_F(MeterTest, shouldRefuseAReceiptFromAnotherKeyOrTampered) {
  Meter m = meter();
  const std::string good = m.admit(alice_, 1, std::chrono::system_clock::now());
  ASSERT_TRUE(verify_receipt(good, leaf()));

  // Another service's certificate (another TLS key): refused by name.
  const auto other = issue();
  auto wrong = verify_receipt(good, other.certificate);
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code, "serve.receipt");
  EXPECT_NE(wrong.error().message.find("another TLS key"), std::string::npos) << wrong.error().message;

  // A receipt that names this key but was signed by another.
  Receipt forged = *parse_receipt(good);
  forged.usage.requests = 1000;
  auto swapped = verify_receipt(sign_receipt(forged, other.key), leaf());
  ASSERT_FALSE(swapped);
  EXPECT_NE(swapped.error().message.find("does not verify"), std::string::npos) << swapped.error().message;

  // The body changed under the original signature (fewer requests: a client
  // claiming it was charged for less than it used).
  const auto dot = good.find('.');
  Receipt lowered = *parse_receipt(good);
  lowered.usage.requests = 0;
  const std::string edited = base64_encode(as_bytes(receipt_body(lowered))) + good.substr(dot);
  auto tampered = verify_receipt(edited, leaf());
  ASSERT_FALSE(tampered);
  EXPECT_NE(tampered.error().message.find("does not verify"), std::string::npos);
}

TEST_F(MeterTest, shouldParseOnlyTheCanonicalReceipt) {
  Meter m = meter();
  const std::string good = m.admit(alice_, 1, std::chrono::system_clock::now());
  const std::string sig = good.substr(good.find('.'));
  auto body = nlohmann::json::parse(receipt_body(*parse_receipt(good)));
  const auto with_body = [&](const std::string& text) { return base64_encode(as_bytes(text)) + sig; };
  const auto refused = [&](const std::string& value, const std::string& expected) {
    auto r = parse_receipt(value);
    ASSERT_FALSE(r) << value;
    EXPECT_EQ(r.error().code, "serve.receipt");
    EXPECT_NE(r.error().message.find(expected), std::string::npos) << r.error().message;
  };
  refused("", "BODY.SIGNATURE");
  refused(std::string(kMaxReceiptSize + 1, 'A'), "over 2048 bytes");
  refused("!!!" + sig, "not base64");
  refused(good.substr(0, good.find('.')) + ".AAAA", "64 bytes");
  refused(with_body("[1]"), "not a JSON object");
  refused(with_body(body.dump(2)), "canonical");
  auto extra = body;
  extra["note"] = 1;
  refused(with_body(extra.dump()), "other fields");
  auto v2 = body;
  v2["v"] = 2;
  refused(with_body(v2.dump()), "version 1");
  auto negative = body;
  negative["requests"] = -1;
  refused(with_body(negative.dump()), "\"requests\"");
  auto upper = body;
  upper["account"] = std::string(64, 'A');
  refused(with_body(upper.dump()), "malformed \"account\"");
  auto missing = body;
  missing.erase("ledger");
  missing["x"] = 1;
  refused(with_body(missing.dump()), "\"ledger\"");
}

TEST_F(MeterTest, shouldKeepReceiptsInALogThatAnyoneCanCheckLater) {
  Meter m = meter();
  const std::string path = ::testing::TempDir() + "/receipts-" + std::to_string(::getpid()) + ".jsonl";
  std::filesystem::remove(path);
  {
    auto log = ReceiptLog::open(path);
    ASSERT_TRUE(log);
    for (int i = 0; i < 3; ++i)
      ASSERT_TRUE((*log)->append(m.admit(alice_, 1, std::chrono::system_clock::now()), leaf()));
  }
  auto kept = read_receipt_log(path);
  ASSERT_TRUE(kept) << kept.error().message;
  ASSERT_EQ(kept->size(), 3u);
  EXPECT_EQ(kept->back().receipt.usage.requests, 3u);
  EXPECT_EQ(std::filesystem::status(path).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);

  // A receipt on line 2 lowered by hand no longer verifies, and the log says where.
  auto text = read_file(path, 1 << 20);
  ASSERT_TRUE(text);
  std::string lines(as_chars(*text));
  const auto second = lines.find('\n') + 1;
  const auto row = nlohmann::json::parse(lines.substr(second, lines.find('\n', second) - second));
  const std::string value = row["receipt"];
  Receipt lowered = *parse_receipt(value);
  lowered.usage.requests = 1;
  auto edited = row;
  edited["receipt"] = base64_encode(as_bytes(receipt_body(lowered))) + value.substr(value.find('.'));
  lines.replace(second, lines.find('\n', second) - second, edited.dump());
  std::ofstream(path, std::ios::trunc) << lines;
  auto refused = read_receipt_log(path);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, "serve.receipt");
  EXPECT_NE(refused.error().message.find("line 2"), std::string::npos) << refused.error().message;
  std::filesystem::remove(path);
}

TEST_F(MeterTest, shouldLetTheProxyKeepOnlyReceiptsForTheServiceItVerified) {
  Meter m = meter();
  const auto tls_key = tls_key_digest(leaf());
  const std::string good = m.admit(alice_, 1, std::chrono::system_clock::now());
  EXPECT_TRUE(receipt_for_service(good, tls_key, 42, alice_));
  EXPECT_TRUE(receipt_for_service(good, tls_key, 42, std::nullopt));
  const auto refused = [&](const Result<Receipt>& r, const std::string& expected) {
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, "serve.receipt");
    EXPECT_NE(r.error().message.find(expected), std::string::npos) << r.error().message;
  };
  // Another service's key, another order, another client's account.
  Meter other(sample_claims().ledger, 42, issue().key, crypto::sha256(as_bytes("another key")));
  refused(receipt_for_service(other.admit(alice_, 1, std::chrono::system_clock::now()), tls_key, 42, alice_),
          "another TLS key");
  Meter order7(sample_claims().ledger, 7, credentials_->key, tls_key);
  refused(receipt_for_service(order7.admit(alice_, 1, std::chrono::system_clock::now()), tls_key, 42, alice_),
          "for order 7, not 42");
  refused(receipt_for_service(m.admit(bob_, 1, std::chrono::system_clock::now()), tls_key, 42, alice_),
          "another account");
  refused(receipt_for_service("garbage", tls_key, 42, alice_), "BODY.SIGNATURE");
}

TEST(TokenCounterTest, shouldReadTheUsageOfAJsonResponse) {
  TokenCounter json("application/json; charset=utf-8");
  json.feed(R"({"choices":[],"usage":{"prompt_tokens":12,)");
  json.feed(R"("completion_tokens":30,"total_tokens":42}})");
  EXPECT_EQ(json.tokens(), 42u);
  TokenCounter parts("Application/JSON");
  parts.feed(R"({"usage":{"prompt_tokens":5,"completion_tokens":7}})");
  EXPECT_EQ(parts.tokens(), 12u);
  TokenCounter broken("application/json");
  broken.feed(R"({"usage":{"total_tokens":42})");
  EXPECT_EQ(broken.tokens(), 0u);
  TokenCounter negative("application/json");
  negative.feed(R"({"usage":{"total_tokens":-3}})");
  EXPECT_EQ(negative.tokens(), 0u);
  TokenCounter text("text/plain");
  text.feed(R"({"usage":{"total_tokens":42}})");
  EXPECT_EQ(text.tokens(), 0u);
}

TEST(TokenCounterTest, shouldTakeTheLastUsageOfAnEventStreamSplitAnywhere) {
  const std::string stream =
      "data: {\"choices\":[{\"delta\":{\"content\":\"usage\"}}]}\n\n"
      "data: {\"usage\":{\"total_tokens\":7}}\r\n\r\n"
      ": comment\n"
      "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":9,\"total_tokens\":12}}\n\n"
      "data: [DONE]\n\n";
  for (std::size_t step : {std::size_t{1}, std::size_t{7}, stream.size()}) {
    TokenCounter sse("text/event-stream");
    for (std::size_t at = 0; at < stream.size(); at += step) sse.feed(stream.substr(at, step));
    EXPECT_EQ(sse.tokens(), 12u) << step;
  }
  TokenCounter unterminated("text/event-stream");
  unterminated.feed("data: {\"usage\":{\"total_tokens\":5}}");
  EXPECT_EQ(unterminated.tokens(), 5u);
}

TEST(TokenCounterTest, shouldCountTheEventsOfAStreamThatReportsNoUsage) {
  // Cut short before its usage chunk, or never asked for one: each data
  // event is a token; comments, other fields and [DONE] are not.
  TokenCounter cut("text/event-stream");
  cut.feed("data: {\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}\n\n: ping\n\nevent: x\n");
  cut.feed("data: {\"choices\":[{\"delta\":{\"content\":\"Once\"}}]}\n\n");
  cut.feed("data: {\"choices\":[{\"delta\":{\"content\":\" upon\"}}]}\n\ndata: [DONE]\n\n");
  EXPECT_EQ(cut.tokens(), 3u);
  // A usage, once seen, is what counts, whatever the number of events.
  TokenCounter reported("text/event-stream");
  reported.feed("data: {}\n\ndata: {}\n\ndata: {\"choices\":[],\"usage\":{\"total_tokens\":1}}\n\n");
  EXPECT_EQ(reported.tokens(), 1u);
}

TEST(AskForUsageTest, shouldAskEveryStreamedCompletionForItsUsage) {
  const auto asked = [](std::string body, std::string type = "application/json",
                        std::string method = "POST") {
    http::Request r;
    r.method = std::move(method);
    r.headers.push_back({"Content-Type", std::move(type)});
    r.body = std::move(body);
    ask_for_usage(r);
    return r.body;
  };
  const auto include_usage = [](const std::string& body) {
    return nlohmann::json::parse(body).at("stream_options").at("include_usage");
  };
  EXPECT_EQ(include_usage(asked(R"({"stream":true,"prompt":"x"})")), true);
  // A client that says false, or sends something else there, is asked anyway.
  EXPECT_EQ(include_usage(asked(R"({"stream":true,"stream_options":{"include_usage":false}})")), true);
  EXPECT_EQ(include_usage(asked(R"({"stream":true,"stream_options":7})", "application/json; charset=utf-8")),
            true);
  // Not a stream, not JSON, not a POST, not an object: untouched.
  for (const auto& [body, type, method] : {std::tuple{R"({"stream":false})", "application/json", "POST"},
                                           std::tuple{R"({"stream":"true"})", "application/json", "POST"},
                                           std::tuple{R"({"stream":true})", "text/plain", "POST"},
                                           std::tuple{R"({"stream":true})", "application/json", "GET"},
                                           std::tuple{R"([{"stream":true}])", "application/json", "POST"},
                                           std::tuple{R"({"stream":true)", "application/json", "POST"}}) {
    EXPECT_EQ(asked(body, type, method), body) << body << " " << type << " " << method;
  }
}

TEST(TokenCounterTest, shouldCountNothingPastItsLimit) {
  TokenCounter json("application/json");
  json.feed(R"({"pad":")");
  json.feed(std::string((std::size_t{4} << 20) + 1, 'x'));
  json.feed(R"(","usage":{"total_tokens":42}})");
  EXPECT_EQ(json.tokens(), 0u);
  // A long event line is skipped; the stream's later events still count.
  TokenCounter sse("text/event-stream");
  sse.feed("data: " + std::string((std::size_t{4} << 20) + 1, 'x') + "\n");
  sse.feed("data: {\"usage\":{\"total_tokens\":9}}\n");
  EXPECT_EQ(sse.tokens(), 9u);
}

}  // namespace
}  // namespace ward::serve
