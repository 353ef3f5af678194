#include "files/resource.h"

#include <functional>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "crypto/hash.h"
#include "ledger/tx.h"

namespace ward::files {
namespace {

using json = nlohmann::json;

class ResourceTest : public ::testing::Test {
 protected:
  ResourceTest() {
    r_.name = "alice.csv";
    r_.kind = "file";
    r_.ciphertext_sha256 = crypto::sha256(as_bytes("ciphertext"));
    r_.uri = "file:///srv/store/" + hex_encode(r_.ciphertext_sha256);
    r_.plaintext_sha256 = crypto::sha256(as_bytes("plaintext"));
    r_.plaintext_size = 100000;
    r_.header_length = 200;
    r_.ciphertext_size = r_.header_length + age_payload_size(r_.plaintext_size);
    r_.owner = key_.public_key();
    r_.created = "2025-07-01T00:00:00Z";
  }

  std::string signed_text() {
    auto s = sign_resource(r_, key_);
    EXPECT_TRUE(s) << s.error().message;
    return resource_text(*s);
  }

  // Re-signs an edited resource object with `key`, as a forger holding it would.
  std::string resign(const json& resource, const crypto::Ed25519PrivateKey& key) {
    const std::string message = std::string(kResourceDomain) + ledger::canonical_json(resource);
    return json{{"resource", resource}, {"sig", hex_encode(key.sign(as_bytes(message)))}}.dump();
  }

  crypto::Ed25519PrivateKey key_ = crypto::Ed25519PrivateKey::generate();
  Resource r_;
};

TEST_F(ResourceTest, ShouldRoundTripThroughItsText) {
  r_.engine = "sha256:" + std::string(64, 'a');
  r_.header_sha256 = crypto::sha256(as_bytes("header"));
  const std::string text = signed_text();
  auto parsed = parse_resource(text);
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->resource, r_);
  EXPECT_EQ(resource_text(*parsed), text);
  EXPECT_EQ(text.back(), '\n');
}

TEST_F(ResourceTest, ShouldComputeAgePayloadSizes) {
  EXPECT_EQ(age_payload_size(0), 16u + 16u);
  EXPECT_EQ(age_payload_size(1), 16u + 1u + 16u);
  EXPECT_EQ(age_payload_size(65536), 16u + 65536u + 16u);
  EXPECT_EQ(age_payload_size(65537), 16u + 65537u + 32u);
}

TEST_F(ResourceTest, ShouldRefuseEveryTamperedFieldBySignature) {
  r_.header_sha256 = crypto::sha256(as_bytes("header"));
  const json original = json::parse(signed_text());
  const std::string other_digest = hex_encode(crypto::sha256(as_bytes("other")));
  const std::vector<std::pair<std::string, std::function<void(json&)>>> edits = {
      {"name", [](json& r) { r["name"] = "bob.csv"; }},
      {"kind", [](json& r) { r["kind"] = "dir"; }},
      {"uri", [&](json& r) { r["uri"] = "file:///elsewhere/" + r["ciphertext_sha256"].get<std::string>(); }},
      {"ciphertext_sha256",
       [&](json& r) {
         r["ciphertext_sha256"] = other_digest;
         r["uri"] = "file:///srv/store/" + other_digest;
       }},
      {"ciphertext_size/header_length",
       [](json& r) {
         r["header_length"] = r["header_length"].get<std::uint64_t>() + 1;
         r["ciphertext_size"] = r["ciphertext_size"].get<std::uint64_t>() + 1;
       }},
      {"plaintext_size",
       [](json& r) {
         r["plaintext_size"] = r["plaintext_size"].get<std::uint64_t>() + 1;
         r["ciphertext_size"] = r["ciphertext_size"].get<std::uint64_t>() + 1;
       }},
      {"plaintext_sha256", [&](json& r) { r["plaintext_sha256"] = other_digest; }},
      {"header_sha256", [&](json& r) { r["header_sha256"] = other_digest; }},
      {"header_sha256 removed", [](json& r) { r.erase("header_sha256"); }},
      {"engine", [](json& r) { r["engine"] = "sha256:" + std::string(64, 'b'); }},
      {"owner", [](json& r) { r["owner"] = hex_encode(crypto::Ed25519PrivateKey::generate().public_key()); }},
      {"created", [](json& r) { r["created"] = "2025-07-02T00:00:00Z"; }},
  };
  for (const auto& [what, edit] : edits) {
    json doc = original;
    edit(doc["resource"]);
    auto parsed = parse_resource(doc.dump());
    ASSERT_FALSE(parsed) << what << " was not refused";
    EXPECT_EQ(parsed.error().code, "files.resource") << what;
    EXPECT_NE(parsed.error().message.find("signature does not verify"), std::string::npos)
        << what << ": " << parsed.error().message;
  }
  json doc = original;
  doc["sig"] = hex_encode(key_.sign(as_bytes("something else")));
  EXPECT_FALSE(parse_resource(doc.dump()));
}

TEST_F(ResourceTest, ShouldRefuseMalformedDescriptorsNamingTheProblem) {
  const json original = json::parse(signed_text());
  const auto refused = [&](const std::function<void(json&)>& edit, const std::string& expected) {
    json doc = original;
    edit(doc);
    auto parsed = parse_resource(doc.dump());
    ASSERT_FALSE(parsed) << expected;
    EXPECT_NE(parsed.error().message.find(expected), std::string::npos) << parsed.error().message;
  };
  refused([](json& d) { d["extra"] = 1; }, "unknown field \"extra\"");
  refused([](json& d) { d["resource"]["extra"] = 1; }, "unknown field \"extra\"");
  refused([](json& d) { d["resource"].erase("owner"); }, "lacks field \"owner\"");
  refused([](json& d) { d.erase("sig"); }, "lacks field \"sig\"");
  refused([](json& d) { d["resource"]["v"] = 2; }, "unsupported version 2");
  refused([](json& d) { d["resource"]["kind"] = "link"; }, "\"kind\"");
  refused([](json& d) { d["resource"]["name"] = "a/b"; }, "\"name\"");
  refused([](json& d) { d["resource"]["name"] = ".."; }, "\"name\"");
  refused([](json& d) { d["resource"]["plaintext_size"] = "5"; }, "\"plaintext_size\" must be an integer");
  refused([](json& d) { d["resource"]["plaintext_size"] = -1; }, "\"plaintext_size\" must not be negative");
  refused([](json& d) { d["resource"]["plaintext_size"] = 7; }, "\"ciphertext_size\"");
  refused([](json& d) { d["resource"]["header_length"] = 0; }, "\"header_length\"");
  refused([](json& d) { d["resource"]["header_sha256"] = std::string(64, 'A'); }, "\"header_sha256\"");
  refused([](json& d) { d["resource"]["header_sha256"] = 5; }, "\"header_sha256\"");
  refused([](json& d) { d["resource"]["uri"] = "file:///srv/store/abc"; }, "\"uri\"");
  refused([](json& d) { d["resource"]["owner"] = std::string(64, 'A'); }, "\"owner\"");
  refused([](json& d) { d["resource"]["owner"] = std::string(62, 'a'); }, "\"owner\"");
  refused([](json& d) { d["resource"]["created"] = "2025-07-01 00:00:00"; }, "\"created\"");
  refused([](json& d) { d["resource"]["created"] = "2025-07-01T00:00:00.5Z"; }, "\"created\"");
  refused([](json& d) { d["resource"]["engine"] = std::string(64, 'a'); }, "\"engine\"");
  refused([](json& d) { d["sig"] = "zz"; }, "\"sig\"");
  refused([](json& d) { d["resource"] = json::array(); }, "not a JSON object");
}

TEST_F(ResourceTest, ShouldRefuseDuplicateKeysFloatsAndOversizedText) {
  std::string text = signed_text();
  const std::string dup =
      text.substr(0, text.find('{', 1) + 1) + "\"name\": \"x\", " + text.substr(text.find('{', 1) + 1);
  auto parsed = parse_resource(dup);
  ASSERT_FALSE(parsed);
  EXPECT_NE(parsed.error().message.find("duplicate key"), std::string::npos) << parsed.error().message;
  json doc = json::parse(text);
  doc["resource"]["plaintext_size"] = 1.5;
  EXPECT_FALSE(parse_resource(doc.dump()));
  EXPECT_FALSE(parse_resource(std::string(kMaxDescriptorSize + 1, ' ')));
  EXPECT_FALSE(parse_resource("not json"));
}

TEST_F(ResourceTest, ShouldRefuseToSignForAnotherOwnerOrAnInconsistentResource) {
  const auto other = crypto::Ed25519PrivateKey::generate();
  auto signed_by_other = sign_resource(r_, other);
  ASSERT_FALSE(signed_by_other);
  EXPECT_EQ(signed_by_other.error().code, "files.resource");
  r_.ciphertext_size += 1;
  EXPECT_FALSE(sign_resource(r_, key_));
}

TEST_F(ResourceTest, ShouldAcceptOnlyTheOwnersSignature) {
  // A forger may re-sign a descriptor, but only as itself: the owner field
  // names the key that must verify.
  const auto forger = crypto::Ed25519PrivateKey::generate();
  json resource = json::parse(signed_text())["resource"];
  resource["name"] = "forged.csv";
  EXPECT_FALSE(parse_resource(resign(resource, forger)));
  resource["owner"] = hex_encode(forger.public_key());
  auto parsed = parse_resource(resign(resource, forger));
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->resource.owner, forger.public_key());
}

}  // namespace
}  // namespace ward::files
