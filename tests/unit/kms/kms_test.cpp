// The key broker's documents read as an attacker would send them: the
// broker statement (its CVM certificate under the owner's policy, its
// signature), the release request, and the signed, hash-chained release log.
// The broker's release path runs end to end in tests/e2e/kms.sh.
#include "kms/broker.h"

#include <gtest/gtest.h>

#include "../ca/fixture.h"
#include "files/grant.h"
#include "ledger/tx.h"

namespace ward::kms {
namespace {

using json = nlohmann::json;
using ca::testing::CaTest;
using ca::testing::kNow;

// A log of `n` releases signed by `group`, as a broker writes it.
std::string make_log(const keys::PartyKey& group, int n) {
  std::string text;
  crypto::Sha256Digest prev{};
  for (int i = 0; i < n; ++i) {
    const auto grant = crypto::sha256(as_bytes("grant" + std::to_string(i)));
    const auto ledger = crypto::sha256(as_bytes("ledger"));
    const auto cvm = crypto::sha256(as_bytes("cvm"));
    const std::uint64_t order = 10 + static_cast<std::uint64_t>(i);
    const json entry = {{"index", i},
                        {"prev", hex_encode(prev)},
                        {"time", "2026-03-01T12:00:00Z"},
                        {"broker", hex_encode(crypto::sha256(as_bytes("broker")))},
                        {"grant", hex_encode(grant)},
                        {"owner", hex_encode(crypto::sha256(as_bytes("owner")))},
                        {"ledger", hex_encode(ledger)},
                        {"order", order},
                        {"cvm", hex_encode(cvm)},
                        {"binding", hex_encode(files::release_binding(grant, ledger, order, cvm))}};
    const auto sig =
        group.signing_key().sign(as_bytes(std::string(kEntryDomain) + ledger::canonical_json(entry)));
    const std::string line = ledger::canonical_json(json{{"entry", entry}, {"sig", hex_encode(sig)}});
    prev = crypto::sha256(as_bytes(line));
    text += line + "\n";
  }
  return text;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::size_t at = 0;
  while (at < text.size()) {
    const auto end = text.find('\n', at);
    out.push_back(text.substr(at, end - at));
    at = end + 1;
  }
  return out;
}

std::string join(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

void refused(const Result<std::vector<LogEntry>>& r, const std::string& why) {
  ASSERT_FALSE(r) << why << " was accepted";
  EXPECT_EQ(r.error().code, "kms.log");
  EXPECT_NE(r.error().message.find(why), std::string::npos) << r.error().message;
}

TEST(KmsLogTest, ShouldAcceptTheChainAndRefuseEveryEditOfIt) {
  const auto group = keys::PartyKey::generate();
  const std::string log = make_log(group, 3);
  auto entries = verify_log(log, group.signing_public_key());
  ASSERT_TRUE(entries) << entries.error().message;
  ASSERT_EQ(entries->size(), 3u);
  EXPECT_EQ((*entries)[2].order, 12u);
  EXPECT_TRUE(verify_log("", group.signing_public_key()));

  const auto key = group.signing_public_key();
  refused(verify_log(log, keys::PartyKey::generate().signing_public_key()), "not signed by the broker's group key");
  auto lines = lines_of(log);
  // A release dropped from the middle, or two swapped: the chain breaks.
  refused(verify_log(join({lines[0], lines[2]}), key), "is at position 1");
  refused(verify_log(join({lines[1], lines[0], lines[2]}), key), "is at position 0");
  // The last line cut: incomplete.
  refused(verify_log(log.substr(0, log.size() - 1), key), "not complete");
  // An entry's order changed: its signature fails.
  auto edited = lines;
  edited[1].replace(edited[1].find("\"order\":11"), 10, "\"order\":99");
  refused(verify_log(join(edited), key), "not signed");
  // A signed entry whose binding is not its release's (a broker's bug or lie).
  const json entry = {{"index", 0},
                      {"prev", std::string(64, '0')},
                      {"time", "2026-03-01T12:00:00Z"},
                      {"broker", std::string(64, '1')},
                      {"grant", std::string(64, '2')},
                      {"owner", std::string(64, '3')},
                      {"ledger", std::string(64, '4')},
                      {"order", 1},
                      {"cvm", std::string(64, '5')},
                      {"binding", std::string(64, '6')}};
  const auto sig = group.signing_key().sign(as_bytes(std::string(kEntryDomain) + ledger::canonical_json(entry)));
  refused(verify_log(ledger::canonical_json(json{{"entry", entry}, {"sig", hex_encode(sig)}}) + "\n", key),
          "binding is not its release's");
  // Unknown or missing fields.
  auto extra = json::parse(lines[0]);
  extra["entry"]["note"] = "x";
  refused(verify_log(extra.dump() + "\n", key), "\"note\"");
  refused(verify_log("{}\n", key), "entry");
  refused(verify_log("not json\n", key), "");
}

TEST(KmsRequestTest, ShouldReadOnlyWellFormedRequests) {
  const auto cvm = keys::PartyKey::generate();
  const json good = make_request(cvm, "PEM", 7, 1, "age1x", kNow);
  auto parsed = parse_request(good.dump());
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->order, 7u);
  EXPECT_EQ(parsed->input, 1u);
  EXPECT_EQ(parsed->broker, "age1x");
  EXPECT_TRUE(crypto::ed25519_verify(
      cvm.signing_public_key(), as_bytes(std::string(kRequestDomain) + ledger::canonical_json(parsed->request)),
      parsed->sig));
  for (const auto& [edit, why] : std::vector<std::pair<std::function<void(json&)>, std::string>>{
           {[](json& j) { j["extra"] = 1; }, "\"extra\""},
           {[](json& j) { j.erase("sig"); }, "sig"},
           {[](json& j) { j["request"]["order"] = -1; }, "order"},
           {[](json& j) { j["request"]["time"] = "yesterday"; }, "time"},
           {[](json& j) { j["request"]["grant"] = "x"; }, "\"grant\""},
           {[](json& j) { j["certificate"] = std::string(300000, 'x'); }, "256 KiB"}}) {
    json bad = good;
    edit(bad);
    auto r = parse_request(bad.dump());
    ASSERT_FALSE(r) << why;
    EXPECT_EQ(r.error().code, "kms.request");
    EXPECT_NE(r.error().message.find(why), std::string::npos) << r.error().message;
  }
  EXPECT_FALSE(parse_request(R"({"request": {}, "request": {}})"));
}

class KmsStatementTest : public CaTest {
 protected:
  attest::Policy pinned() const {
    attest::Policy p = ca::testing::sim_policy();
    const auto mrtd = attest::sim::measure(as_bytes("ward-loader"));
    p.allowed_measurements["mrtd"] = {Bytes(mrtd.begin(), mrtd.end())};
    return p;
  }
  CvmCredentials broker() {
    const auto cert = issue_for_cvm();
    return CvmCredentials{cvm_, cert, cert.to_pem()};
  }
};

TEST_F(KmsStatementTest, ShouldTrustOnlyAnAttestedBrokersOwnWord) {
  const auto group = keys::PartyKey::generate();
  const auto b = broker();
  const json doc = make_statement(b, group);
  auto ok = verify_statement(doc, center().certificate(), pinned(), kNow);
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->statement.recipient, group.recipient().to_string());
  EXPECT_EQ(ok->statement.group_key, group.signing_public_key());
  EXPECT_TRUE(ok->appraisal.simulated);

  const auto expect = [&](const json& d, const attest::Policy& policy, const std::string& why) {
    auto r = verify_statement(d, center().certificate(), policy, kNow);
    ASSERT_FALSE(r) << why;
    EXPECT_EQ(r.error().code, "kms.statement");
    EXPECT_NE(r.error().message.find(why), std::string::npos) << r.error().message;
  };
  // A broker of other code, and a policy that pins nothing.
  attest::Policy other = pinned();
  other.allowed_measurements["mrtd"] = {Bytes(48, 7)};
  expect(doc, other, "policy.measurement.mrtd");
  expect(doc, ca::testing::sim_policy(), "pins no measurement");
  // Another group's key swapped in: the CVM did not say it.
  json swapped = doc;
  swapped["broker"]["recipient"] = keys::PartyKey::generate().recipient().to_string();
  expect(swapped, pinned(), "not the broker CVM's");
  // The statement re-signed by a party key that is not the certified CVM's.
  const auto thief = keys::PartyKey::generate();
  json resigned = doc;
  resigned["sig"] = hex_encode(
      thief.signing_key().sign(as_bytes(std::string(kStatementDomain) + ledger::canonical_json(doc["broker"]))));
  expect(resigned, pinned(), "not the broker CVM's");
  // Another CVM's id in the statement.
  json renamed = doc;
  renamed["broker"]["cvm"] = std::string(64, 'a');
  expect(renamed, pinned(), "another CVM");
  json extra = doc;
  extra["broker"]["url"] = "x";
  expect(extra, pinned(), "\"url\"");
}

}  // namespace
}  // namespace ward::kms
