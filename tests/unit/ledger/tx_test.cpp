#include "ledger/tx.h"

#include <cctype>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "ledger_testing.h"

namespace ward::ledger {
namespace {

using testing::json;
using testing::Party;

const LedgerId kLedger{7};

class Envelope : public ::testing::Test {
 protected:
  Party alice;
  Party bob;

  json transfer(std::uint64_t amount = 5) {
    return testing::tx_json(kLedger, alice, 1, "accounts.transfer", {{"to", bob.hex()}, {"amount", amount}});
  }

  // The reason parse_and_verify gives for `text` ("" when it is accepted).
  static std::string reason(const std::string& text) {
    auto r = parse_and_verify(text);
    return r ? std::string() : r.error().reason;
  }
  // The reason for `tx` signed by alice, as a client would send it.
  std::string reason_signed(const json& tx) { return reason(testing::envelope(tx, alice.key)); }
  std::string with_args(json args, std::string type = "accounts.transfer") {
    return reason_signed(testing::tx_json(kLedger, alice, 1, type, std::move(args)));
  }
};

TEST_F(Envelope, ShouldAcceptASignedTransactionWithTypedArguments) {
  auto stx = parse_and_verify(testing::envelope(transfer(), alice.key));
  ASSERT_TRUE(stx) << stx.error().message;
  EXPECT_EQ(stx->tx.sender, alice.id());
  EXPECT_EQ(stx->tx.nonce, 1u);
  EXPECT_EQ(stx->tx.type, "accounts.transfer");
  const auto& a = std::get<args::AccountsTransfer>(stx->tx.action);
  EXPECT_EQ(a.to, bob.id());
  EXPECT_EQ(a.amount, 5u);
}

TEST_F(Envelope, ShouldSignOverSortedCompactJsonWithTheDomainPrefix) {
  const json tx = transfer();
  const std::string expected = std::string("ward/ledger/tx/v1\n") + R"({"args":{"amount":5,"to":")" +
                               bob.hex() + R"("},"ledger":")" + hex_encode(kLedger) +
                               R"(","nonce":1,"sender":")" + alice.hex() +
                               R"(","type":"accounts.transfer","v":1})";
  EXPECT_EQ(canonical_bytes(tx), expected);
  // Whitespace and key order on the wire do not change what was signed.
  const std::string sig = base64_encode(alice.key.sign(as_bytes(expected)));
  const std::string spaced = "{ \"tx\" : " + tx.dump(2) + " ,\n \"sig\": \"" + sig + "\" }";
  EXPECT_EQ(reason(spaced), "");
}

TEST_F(Envelope, ShouldSignThroughTheLibrary) {
  auto text = sign_transaction(transfer(), alice.key);
  ASSERT_TRUE(text) << text.error().message;
  EXPECT_EQ(reason(*text), "");
  EXPECT_FALSE(sign_transaction(transfer(), bob.key)) << "sender is not the key";
  EXPECT_FALSE(sign_transaction(json{{"v", 1}}, alice.key));
}

TEST_F(Envelope, ShouldRejectUnsigned) {
  EXPECT_EQ(reason(json{{"tx", transfer()}}.dump()), reason::kMalformed);
  EXPECT_EQ(reason(json{{"tx", transfer()}, {"sig", ""}}.dump()), reason::kMalformed);
}

TEST_F(Envelope, ShouldRejectWrongSignatures) {
  EXPECT_EQ(reason(testing::envelope(transfer(), bob.key)), reason::kBadSignature);
  json tampered = json::parse(testing::envelope(transfer(5), alice.key));
  tampered["tx"]["args"]["amount"] = 6;
  EXPECT_EQ(reason(tampered.dump()), reason::kBadSignature);
  const std::string zero_sig = base64_encode(Bytes(64, 0));
  EXPECT_EQ(reason(json{{"tx", transfer()}, {"sig", zero_sig}}.dump()), reason::kBadSignature);
}

TEST_F(Envelope, ShouldRejectOversized) {
  std::string big = testing::envelope(transfer(), alice.key);
  big.insert(big.size() - 1, std::string(kMaxEnvelopeSize, ' '));
  EXPECT_EQ(reason(big), reason::kTooLarge);
}

TEST_F(Envelope, ShouldRejectMalformedJson) {
  for (const std::string text : {"", "{", "[]", "null", "{\"tx\":1,\"sig\":2}", "{}}", "\xff"}) {
    EXPECT_EQ(reason(text), reason::kMalformed) << text;
  }
  EXPECT_EQ(reason(testing::envelope(transfer(), alice.key) + "x"), reason::kMalformed);
}

TEST_F(Envelope, ShouldRejectDuplicateKeys) {
  const std::string text = testing::envelope(transfer(), alice.key);
  // {"sig":...,"tx":{"args":{"amount":5,...  -> a second "amount" inside args
  std::string dup = text;
  dup.replace(dup.find("\"amount\":5"), 10, "\"amount\":5,\"amount\":6");
  EXPECT_EQ(reason(dup), reason::kMalformed);
}

TEST_F(Envelope, ShouldRejectFloatsAnywhere) {
  EXPECT_EQ(with_args({{"to", bob.hex()}, {"amount", 5.0}}), reason::kMalformed);
  EXPECT_EQ(with_args({{"to", bob.hex()}, {"amount", 1e3}}), reason::kMalformed);
  EXPECT_EQ(with_args({{"order", 1}, {"report", {{"score", 0.5}}}}, "reports.submit"), reason::kMalformed);
}

TEST_F(Envelope, ShouldRejectNegativeAndOverflowingAmounts) {
  EXPECT_EQ(with_args({{"to", bob.hex()}, {"amount", -1}}), reason::kMalformed);
  EXPECT_EQ(with_args({{"to", bob.hex()}, {"amount", kMaxAmount + 1}}), reason::kMalformed);
  EXPECT_EQ(with_args({{"to", bob.hex()}, {"amount", std::numeric_limits<std::uint64_t>::max()}}),
            reason::kMalformed);
  EXPECT_EQ(with_args({{"to", bob.hex()}, {"amount", kMaxAmount}}), "");
  // 2^64 and beyond do not fit any integer type: the parser sees a float.
  std::string text = testing::envelope(transfer(5), alice.key);
  text.replace(text.find("\"amount\":5"), 10, "\"amount\":18446744073709551616");
  EXPECT_EQ(reason(text), reason::kMalformed);
  EXPECT_EQ(with_args({{"to", bob.hex()}, {"amount", "5"}}), reason::kMalformed);
}

TEST_F(Envelope, ShouldRejectUnknownFields) {
  json tx = transfer();
  tx["extra"] = 1;
  EXPECT_EQ(reason_signed(tx), reason::kMalformed);
  EXPECT_EQ(with_args({{"to", bob.hex()}, {"amount", 5}, {"memo", "hi"}}), reason::kMalformed);
  json env = json::parse(testing::envelope(transfer(), alice.key));
  env["note"] = "x";
  EXPECT_EQ(reason(env.dump()), reason::kMalformed);
}

TEST_F(Envelope, ShouldRejectMissingFields) {
  for (const char* key : {"v", "ledger", "sender", "nonce", "type", "args"}) {
    json tx = transfer();
    tx.erase(key);
    EXPECT_EQ(reason_signed(tx), reason::kMalformed) << key;
  }
  EXPECT_EQ(with_args({{"to", bob.hex()}}), reason::kMalformed);
}

TEST_F(Envelope, ShouldRejectBadHeaderValues) {
  json tx = transfer();
  tx["v"] = 2;
  EXPECT_EQ(reason_signed(tx), reason::kMalformed);
  tx = transfer();
  tx["type"] = "accounts.steal";
  EXPECT_EQ(reason_signed(tx), reason::kMalformed);
  tx = transfer();
  tx["ledger"] = "AB" + hex_encode(kLedger).substr(2);
  EXPECT_EQ(reason_signed(tx), reason::kMalformed) << "ids are lower-case hex only";
  tx = transfer();
  tx["ledger"] = "00";
  EXPECT_EQ(reason_signed(tx), reason::kMalformed);
  tx = transfer();
  tx["args"] = json::array();
  EXPECT_EQ(reason_signed(tx), reason::kMalformed);
}

TEST_F(Envelope, ShouldRejectBadArguments) {
  EXPECT_EQ(with_args({{"recipient", "ssh-ed25519 AAAA"}}, "accounts.register"), reason::kMalformed);
  const json base = {{"kind", "engine"}, {"name", "e"}, {"resource", "r"}};
  json o = base;
  o["price"] = {{"model", "revenue_share"}, {"bps", 10001}};
  EXPECT_EQ(with_args(o, "offers.create"), reason::kMalformed);
  o["price"] = {{"model", "revenue_share"}, {"bps", 10000}};
  EXPECT_EQ(with_args(o, "offers.create"), "");
  o["price"] = {{"model", "auction"}, {"amount", 1}};
  EXPECT_EQ(with_args(o, "offers.create"), reason::kMalformed);
  o["price"] = {{"model", "fixed"}, {"amount", 1}, {"bps", 1}};
  EXPECT_EQ(with_args(o, "offers.create"), reason::kMalformed);
  o = base;
  o["kind"] = "gpu";
  o["price"] = {{"model", "fixed"}, {"amount", 1}};
  EXPECT_EQ(with_args(o, "offers.create"), reason::kMalformed);
  const json order = {{"cvm", bob.hex()},     {"engine", "e"},    {"inputs", json::array()},
                      {"outputs", {"age1x"}}, {"offers", {1, 2}}, {"deposit", 1}};
  EXPECT_EQ(with_args(order, "orders.create"), "");
  json bad = order;
  bad["offers"] = {1, 1};
  EXPECT_EQ(with_args(bad, "orders.create"), reason::kMalformed);
  bad = order;
  bad["outputs"] = json::array();
  EXPECT_EQ(with_args(bad, "orders.create"), reason::kMalformed);
  bad = order;
  bad["inputs"] = {1};
  EXPECT_EQ(with_args(bad, "orders.create"), reason::kMalformed);
  EXPECT_EQ(with_args({{"order", 1}, {"report", "text"}}, "reports.submit"), reason::kMalformed);
  EXPECT_EQ(with_args({{"x", 1}}, "cvms.heartbeat"), reason::kMalformed);
}

TEST_F(Envelope, ShouldRejectDeepNesting) {
  json report = json::object();
  for (int i = 0; i < 40; ++i) report = json{{"a", report}};
  EXPECT_EQ(with_args({{"order", 1}, {"report", report}}, "reports.submit"), reason::kMalformed);
}

// reports.submit reads what the contract checks from the signed report, and
// stores the rest as sent.
class ReportArgs : public Envelope {
 protected:
  json signed_report() { return testing::signed_report(kLedger, 30, bob, "sha256:e1"); }
  std::string submit(const json& report) {
    return with_args({{"order", 30}, {"report", report}}, "reports.submit");
  }
};

TEST_F(ReportArgs, ShouldReadTheCheckedFieldsAndKeepTheRest) {
  json body = signed_report()["report"];
  body["inputs"] = {{{"owner", alice.hex()}}};
  const json report = testing::sign_report_body(body, bob);
  auto stx = parse_and_verify(testing::envelope(
      testing::tx_json(kLedger, alice, 1, "reports.submit", {{"order", 30}, {"report", report}}), alice.key));
  ASSERT_TRUE(stx) << stx.error().message;
  const auto& a = std::get<args::ReportsSubmit>(stx->tx.action);
  EXPECT_EQ(a.order, 30u);
  EXPECT_EQ(a.report, canonical_json(report));
  EXPECT_EQ(a.claims.ledger, kLedger);
  EXPECT_EQ(a.claims.order, 30u);
  EXPECT_EQ(a.claims.cvm, crypto::sha256(bob.id()));
  EXPECT_EQ(a.claims.engine, "sha256:e1");
  EXPECT_EQ(hex_encode(a.claims.sig), report["sig"].get<std::string>());
  EXPECT_EQ(a.claims.body, canonical_json(report["report"]));
  EXPECT_TRUE(
      crypto::ed25519_verify(bob.id(), as_bytes(std::string(kReportDomain) + a.claims.body), a.claims.sig));
}

TEST_F(ReportArgs, ShouldReadTheServicePartOfAServicesReport) {
  const json report = testing::sign_report_body(
      testing::service_report_body(kLedger, 30, bob, "sha256:e1", std::string(64, 'a'),
                                   {std::string(64, '1'), std::string(64, '2')}),
      bob);
  for (const char* type : {"reports.submit", "services.start"}) {
    auto stx = parse_and_verify(testing::envelope(
        testing::tx_json(kLedger, alice, 1, type, {{"order", 30}, {"report", report}}), alice.key));
    ASSERT_TRUE(stx) << stx.error().message;
    const args::ReportClaims& claims = type == std::string_view("reports.submit")
                                           ? std::get<args::ReportsSubmit>(stx->tx.action).claims
                                           : std::get<args::ServicesStart>(stx->tx.action).claims;
    ASSERT_TRUE(claims.service) << type;
    EXPECT_EQ(hex_encode(claims.service->tls_key_sha256), std::string(64, 'a'));
    ASSERT_EQ(claims.service->inputs.size(), 2u);
    EXPECT_EQ(hex_encode(claims.service->inputs[1]), std::string(64, '2'));
    EXPECT_EQ(claims.body, canonical_json(report["report"])) << "the certificate is kept as sent";
  }
  auto plain = parse_and_verify(testing::envelope(
      testing::tx_json(kLedger, alice, 1, "reports.submit", {{"order", 30}, {"report", signed_report()}}),
      alice.key));
  ASSERT_TRUE(plain);
  EXPECT_FALSE(std::get<args::ReportsSubmit>(plain->tx.action).claims.service);
}

TEST_F(ReportArgs, ShouldRejectMissingCheckedFields) {
  for (const char* key : {"ledger", "order", "cvm", "engine"}) {
    json report = signed_report();
    report["report"].erase(key);
    EXPECT_EQ(submit(report), reason::kMalformed) << key;
  }
  json report = signed_report();
  report.erase("sig");
  EXPECT_EQ(submit(report), reason::kMalformed);
  report = signed_report();
  report.erase("report");
  EXPECT_EQ(submit(report), reason::kMalformed);
}

TEST_F(ReportArgs, ShouldRejectCheckedFieldsOfTheWrongTypeOrSpelling) {
  const std::string upper_id = "AB" + hex_encode(kLedger).substr(2);
  const std::vector<std::pair<const char*, json>> bad = {{"ledger", upper_id},
                                                         {"ledger", "00"},
                                                         {"ledger", 7},
                                                         {"order", "30"},
                                                         {"order", -30},
                                                         {"order", kMaxAmount + 1},
                                                         {"cvm", upper_id},
                                                         {"cvm", json::array()},
                                                         {"engine", ""},
                                                         {"engine", 1},
                                                         {"engine", std::string(300, 'e')}};
  for (const auto& [key, value] : bad) {
    json report = signed_report();
    report["report"][key] = value;
    EXPECT_EQ(submit(report), reason::kMalformed) << key << " = " << value.dump();
  }
  const std::string sig = signed_report()["sig"];
  std::string upper_sig = sig;
  for (char& c : upper_sig) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (const json& value :
       {json(sig.substr(2)), json(sig + "00"), json(upper_sig), json(1), json(base64_encode(Bytes(64, 1)))}) {
    json report = signed_report();
    report["sig"] = value;
    EXPECT_EQ(submit(report), reason::kMalformed) << value.dump();
  }
}

TEST_F(ReportArgs, ShouldRejectAnythingButASignedReportObject) {
  EXPECT_EQ(submit(signed_report()), "");
  EXPECT_EQ(submit(signed_report()["report"]), reason::kMalformed) << "an unsigned report";
  json extra = signed_report();
  extra["note"] = "unsigned";
  EXPECT_EQ(submit(extra), reason::kMalformed);
  json not_object = signed_report();
  not_object["report"] = "text";
  EXPECT_EQ(submit(not_object), reason::kMalformed);
  EXPECT_EQ(submit(json::array()), reason::kMalformed);
}

class GrantArgs : public Envelope {
 protected:
  static json entry(std::uint8_t n, const Party& owner, json uses = 1) {
    return {{"id", hex_encode(crypto::sha256(Bytes{n}))}, {"owner", owner.hex()}, {"uses", std::move(uses)}};
  }
  std::string use(json grants) {
    return with_args({{"order", 4}, {"grants", std::move(grants)}}, "grants.use");
  }
};

TEST_F(GrantArgs, ShouldParseGrantsUse) {
  auto stx = parse_and_verify(testing::envelope(
      testing::tx_json(
          kLedger, alice, 1, "grants.use",
          {{"order", 4}, {"grants", json::array({entry(1, bob, 0), entry(1, alice, kMaxGrantUses)})}}),
      alice.key));
  ASSERT_TRUE(stx) << stx.error().message;
  const auto& a = std::get<args::GrantsUse>(stx->tx.action);
  EXPECT_EQ(a.order, 4u);
  ASSERT_EQ(a.grants.size(), 2u);
  EXPECT_EQ(a.grants[0].id, crypto::sha256(Bytes{1}));
  EXPECT_EQ(a.grants[0].owner, bob.id());
  EXPECT_EQ(a.grants[0].uses, 0u);
  EXPECT_EQ(a.grants[1].owner, alice.id());
  EXPECT_EQ(a.grants[1].uses, kMaxGrantUses);
}

TEST_F(GrantArgs, ShouldTakeOneToMaxGrants) {
  json grants = json::array();
  EXPECT_EQ(use(grants), reason::kMalformed) << "no grants";
  for (std::size_t i = 0; i < kMaxGrantsPerUse; ++i)
    grants.push_back(entry(static_cast<std::uint8_t>(i), alice));
  EXPECT_EQ(use(grants), "");
  grants.push_back(entry(0, bob));
  EXPECT_EQ(use(grants), reason::kMalformed) << "257 grants";
}

TEST_F(GrantArgs, ShouldRejectAGrantListedTwice) {
  EXPECT_EQ(use(json::array({entry(1, alice), entry(1, alice)})), reason::kMalformed);
  EXPECT_EQ(use(json::array({entry(1, alice, 1), entry(1, alice, 2)})), reason::kMalformed);
  EXPECT_EQ(use(json::array({entry(1, alice), entry(1, bob), entry(2, alice)})), "") << "a pair is the key";
}

TEST_F(GrantArgs, ShouldRejectBadEntries) {
  EXPECT_EQ(use(json::array({entry(1, alice, kMaxGrantUses + 1)})), reason::kMalformed);
  EXPECT_EQ(use(json::array({entry(1, alice, -1)})), reason::kMalformed);
  EXPECT_EQ(use(json::array({entry(1, alice, "1")})), reason::kMalformed);
  for (const char* key : {"id", "owner", "uses"}) {
    json e = entry(1, alice);
    e.erase(key);
    EXPECT_EQ(use(json::array({e})), reason::kMalformed) << key;
  }
  for (const char* key : {"id", "owner"}) {
    json e = entry(1, alice);
    e[key] = "AB" + e[key].get<std::string>().substr(2);
    EXPECT_EQ(use(json::array({e})), reason::kMalformed) << key << " in upper case";
    e[key] = e[key].get<std::string>().substr(2);
    EXPECT_EQ(use(json::array({e})), reason::kMalformed) << key << " too short";
  }
  json e = entry(1, alice);
  e["expires"] = 1;
  EXPECT_EQ(use(json::array({e})), reason::kMalformed);
  EXPECT_EQ(use(entry(1, alice)), reason::kMalformed) << "an object, not a list";
  EXPECT_EQ(use(json::array({"grant"})), reason::kMalformed);
  EXPECT_EQ(with_args({{"grants", json::array({entry(1, alice)})}}, "grants.use"), reason::kMalformed)
      << "no order";
}

TEST_F(GrantArgs, ShouldParseGrantsRevoke) {
  const std::string id = hex_encode(crypto::sha256(Bytes{1}));
  EXPECT_EQ(with_args({{"grant", id}}, "grants.revoke"), "");
  EXPECT_EQ(with_args({{"grant", "AB" + id.substr(2)}}, "grants.revoke"), reason::kMalformed);
  EXPECT_EQ(with_args({{"grant", id.substr(1)}}, "grants.revoke"), reason::kMalformed);
  EXPECT_EQ(with_args({{"grant", id}, {"owner", alice.hex()}}, "grants.revoke"), reason::kMalformed);
  EXPECT_EQ(with_args(json::object(), "grants.revoke"), reason::kMalformed);
}

// services.subscribe and services.usage: a client's deposit, and the
// cumulative counters a service's CVM reports per subscriber.
class ServiceArgs : public Envelope {
 protected:
  static json entry(const Party& p, json requests = 1, json tokens = 2, json bytes = 3) {
    return {{"account", p.hex()},
            {"requests", std::move(requests)},
            {"tokens", std::move(tokens)},
            {"bytes", std::move(bytes)}};
  }
  std::string usage(json entries) {
    return with_args({{"order", 4}, {"usage", std::move(entries)}}, "services.usage");
  }
};

TEST_F(ServiceArgs, ShouldParseServicesSubscribe) {
  auto stx = parse_and_verify(testing::envelope(
      testing::tx_json(kLedger, alice, 1, "services.subscribe", {{"order", 4}, {"deposit", kMaxAmount}}),
      alice.key));
  ASSERT_TRUE(stx) << stx.error().message;
  const auto& a = std::get<args::ServicesSubscribe>(stx->tx.action);
  EXPECT_EQ(a.order, 4u);
  EXPECT_EQ(a.deposit, kMaxAmount);
  EXPECT_EQ(with_args({{"order", 4}, {"deposit", 0}}, "services.subscribe"), reason::kMalformed);
  EXPECT_EQ(with_args({{"order", 4}, {"deposit", -1}}, "services.subscribe"), reason::kMalformed);
  EXPECT_EQ(with_args({{"order", 4}, {"deposit", kMaxAmount + 1}}, "services.subscribe"), reason::kMalformed);
  EXPECT_EQ(with_args({{"order", 4}}, "services.subscribe"), reason::kMalformed);
  EXPECT_EQ(with_args({{"deposit", 4}}, "services.subscribe"), reason::kMalformed);
  EXPECT_EQ(with_args({{"order", 4}, {"deposit", 1}, {"account", alice.hex()}}, "services.subscribe"),
            reason::kMalformed);
}

TEST_F(ServiceArgs, ShouldParseServicesUsage) {
  auto stx = parse_and_verify(testing::envelope(
      testing::tx_json(kLedger, alice, 1, "services.usage",
                       {{"order", 4}, {"usage", json::array({entry(bob, 0, kMaxAmount, 7), entry(alice)})}}),
      alice.key));
  ASSERT_TRUE(stx) << stx.error().message;
  const auto& a = std::get<args::ServicesUsage>(stx->tx.action);
  EXPECT_EQ(a.order, 4u);
  ASSERT_EQ(a.usage.size(), 2u);
  EXPECT_EQ(a.usage[0].account, bob.id());
  EXPECT_EQ(a.usage[0].requests, 0u);
  EXPECT_EQ(a.usage[0].tokens, kMaxAmount);
  EXPECT_EQ(a.usage[0].bytes, 7u);
  EXPECT_EQ(a.usage[1].account, alice.id());
}

TEST_F(ServiceArgs, ShouldTakeUpToMaxUsageEntriesEachAccountOnce) {
  json entries = json::array();
  EXPECT_EQ(usage(entries), "") << "no entries: a running service's per-hour tick";
  std::vector<Party> parties(kMaxUsageEntries + 1);
  for (std::size_t i = 0; i < kMaxUsageEntries; ++i) entries.push_back(entry(parties[i]));
  EXPECT_EQ(usage(entries), "");
  entries.push_back(entry(parties.back()));
  EXPECT_EQ(usage(entries), reason::kMalformed) << "257 entries";
  EXPECT_EQ(usage(json::array({entry(alice), entry(bob), entry(alice, 5)})), reason::kMalformed)
      << "an account twice";
}

TEST_F(ServiceArgs, ShouldRejectBadUsageEntries) {
  for (const char* key : {"account", "requests", "tokens", "bytes"}) {
    json e = entry(alice);
    e.erase(key);
    EXPECT_EQ(usage(json::array({e})), reason::kMalformed) << "without " << key;
  }
  for (const char* key : {"requests", "tokens", "bytes"}) {
    for (const json& bad : {json(-1), json("1"), json(kMaxAmount + 1), json(nullptr)}) {
      json e = entry(alice);
      e[key] = bad;
      EXPECT_EQ(usage(json::array({e})), reason::kMalformed) << key << " = " << bad.dump();
    }
  }
  json e = entry(alice);
  e["account"] = "AB" + alice.hex().substr(2);
  EXPECT_EQ(usage(json::array({e})), reason::kMalformed) << "upper-case hex";
  e = entry(alice);
  e["cost"] = 1;
  EXPECT_EQ(usage(json::array({e})), reason::kMalformed) << "an unknown field";
  EXPECT_EQ(usage(entry(alice)), reason::kMalformed) << "an object, not a list";
  EXPECT_EQ(usage(json::array({"alice"})), reason::kMalformed);
  EXPECT_EQ(with_args({{"usage", json::array({entry(alice)})}}, "services.usage"), reason::kMalformed)
      << "no order";
  EXPECT_EQ(with_args({{"order", 4}, {"usage", json::array({entry(alice)})}, {"time", 1}}, "services.usage"),
            reason::kMalformed);
}

class CvmsUpdateArgs : public Envelope {
 protected:
  static constexpr std::chrono::sys_seconds kExpiry{std::chrono::seconds(1'800'000'000)};

  std::string update(const json& certificate) {
    return with_args({{"certificate", certificate}}, "cvms.update");
  }
  // A certificate for alice's key from `builder` (subject and validity set here).
  static std::string self_signed(crypto::CertificateBuilder builder, const crypto::Ed25519PrivateKey& key) {
    return builder.subject("cvm-test")
        .validity(kExpiry - std::chrono::hours(1), kExpiry)
        .self_sign(key)
        ->to_pem();
  }
  static Bytes recipient_extension(std::uint8_t tag, std::string_view text) {
    return crypto::der::encode(tag, as_bytes(text));
  }
};

TEST_F(CvmsUpdateArgs, ShouldReadTheCertifiedKeyRecipientAndExpiry) {
  const std::string pem = testing::cvm_certificate(alice.key, alice.recipient(), kExpiry);
  auto stx = parse_and_verify(testing::envelope(
      testing::tx_json(kLedger, alice, 1, "cvms.update", {{"certificate", pem}}), alice.key));
  ASSERT_TRUE(stx) << stx.error().message;
  const auto& a = std::get<args::CvmsUpdate>(stx->tx.action);
  EXPECT_EQ(a.certificate, pem);
  EXPECT_EQ(a.claims.key, alice.id());
  EXPECT_EQ(a.claims.recipient, alice.recipient());
  EXPECT_EQ(a.claims.not_after, kExpiry);
}

TEST_F(CvmsUpdateArgs, ShouldRejectAnythingButOneCvmCertificate) {
  const std::string pem = testing::cvm_certificate(alice.key, alice.recipient(), kExpiry);
  EXPECT_EQ(update(pem), "");
  EXPECT_EQ(update("CERT"), reason::kMalformed) << "not PEM";
  EXPECT_EQ(update(pem + pem), reason::kMalformed) << "two certificates";
  std::string cut = pem;
  const std::size_t line = cut.find('\n', 100) + 1;
  cut.erase(line, cut.find('\n', line) + 1 - line);
  EXPECT_EQ(update(cut), reason::kMalformed) << "a certificate with a line cut out";
  EXPECT_EQ(update(json(7)), reason::kMalformed) << "not a string";
  EXPECT_EQ(with_args(json::object(), "cvms.update"), reason::kMalformed) << "no certificate";
  EXPECT_EQ(with_args({{"certificate", pem}, {"key", alice.hex()}}, "cvms.update"), reason::kMalformed)
      << "an unknown field";

  const auto ec = crypto::EcPrivateKey::generate(crypto::EcCurve::P256);
  EXPECT_EQ(update(crypto::CertificateBuilder()
                       .subject("cvm-test")
                       .validity(kExpiry - std::chrono::hours(1), kExpiry)
                       .extension(ca::kAgeRecipientExtensionOid,
                                  recipient_extension(crypto::der::kTagUtf8String, alice.recipient()))
                       .self_sign(ec)
                       ->to_pem()),
            reason::kMalformed)
      << "a key that is not Ed25519";
  EXPECT_EQ(update(self_signed(crypto::CertificateBuilder(), alice.key)), reason::kMalformed)
      << "no age recipient extension";
  EXPECT_EQ(update(self_signed(crypto::CertificateBuilder().extension(
                                   ca::kAgeRecipientExtensionOid,
                                   recipient_extension(crypto::der::kTagOctetString, alice.recipient())),
                               alice.key)),
            reason::kMalformed)
      << "a recipient that is not a UTF8String";
  EXPECT_EQ(update(self_signed(crypto::CertificateBuilder().extension(
                                   ca::kAgeRecipientExtensionOid,
                                   recipient_extension(crypto::der::kTagUtf8String, "ssh-ed25519 AAAA")),
                               alice.key)),
            reason::kMalformed)
      << "a recipient that is not an age recipient";
}

class RecordBytes : public Envelope {};

TEST_F(RecordBytes, ShouldBeCanonicalAndParseBack) {
  auto stx = parse_and_verify(testing::envelope(transfer(), alice.key));
  ASSERT_TRUE(stx);
  const Record record{42, 1700000000, *stx};
  const std::string bytes = record_bytes(record);
  const json j = json::parse(bytes);
  EXPECT_EQ(j.dump(), bytes) << "sorted keys, compact";
  auto back = parse_record(bytes);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->index, 42u);
  EXPECT_EQ(back->time, 1700000000u);
  EXPECT_EQ(back->stx.canonical, stx->canonical);
}

TEST_F(RecordBytes, ShouldRejectNonCanonicalOrForgedRecords) {
  auto stx = parse_and_verify(testing::envelope(transfer(), alice.key));
  ASSERT_TRUE(stx);
  const std::string bytes = record_bytes(Record{1, 2, *stx});
  EXPECT_FALSE(parse_record(json::parse(bytes).dump(1)));
  json forged = json::parse(bytes);
  forged["tx"]["nonce"] = 2;
  EXPECT_FALSE(parse_record(forged.dump()));
}

}  // namespace
}  // namespace ward::ledger
