#include "files/grant.h"

#include <cstdlib>
#include <functional>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "age/header.h"
#include "base/time.h"
#include "crypto/hash.h"
#include "files/transfer.h"
#include "fixture.h"

namespace ward::files {
namespace {

using testing::FilesTest;
using testing::LyingStore;
using testing::flip_byte;
using testing::read_text;
using testing::write_text;
using json = nlohmann::json;
using std::chrono::hours;
using std::chrono::system_clock;
namespace fs = std::filesystem;

const std::string kEngine = "sha256:" + std::string(64, 'e');

class GrantTest : public FilesTest {
 protected:
  void SetUp() override {
    FilesTest::SetUp();
    cvm_id_ = crypto::sha256(cvm_.signing_public_key());
    outputs_ = {other_.recipient().to_string()};
  }

  Result<Grant> grant(const SignedResource& res) {
    return make_grant(res, store(), owner_, cvm_.recipient(), cvm_id_, kEngine, outputs_,
                      system_clock::now() + hours(1));
  }

  // The grant document with its policy edited and re-signed by `key`.
  static std::string resign(const Grant& g, const std::function<void(json&)>& edit,
                            const crypto::Ed25519PrivateKey& key) {
    json doc = g.json;
    edit(doc);
    const std::string message = std::string(kGrantDomain) + ledger::canonical_json(doc["grant"]);
    doc["sig"] = hex_encode(key.sign(as_bytes(message)));
    return doc.dump();
  }

  static void expect_refused(const std::string& text, const std::string& check) {
    auto parsed = parse_grant(text);
    ASSERT_FALSE(parsed) << check << " was not refused";
    EXPECT_EQ(parsed.error().code, "files.grant");
    EXPECT_NE(parsed.error().message.find(check), std::string::npos) << parsed.error().message;
  }

  static void fails(const Result<void>& r, const std::string& name) {
    ASSERT_FALSE(r) << name;
    EXPECT_EQ(r.error().code, "files.grant");
    EXPECT_TRUE(r.error().message.starts_with(name + ": ")) << r.error().message;
  }

  ledger::CvmId cvm_id_{};
  std::vector<std::string> outputs_;
};

TEST_F(GrantTest, ShouldLetTheCvmDecryptAGrantedFile) {
  const std::string text = "patient,label\n1,0\n";
  auto res = upload_text("alice.csv", text);
  auto g = grant(res);
  ASSERT_TRUE(g) << g.error().message;
  auto parsed = parse_grant(grant_text(*g));
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->policy.resource, res.resource.ciphertext_sha256);
  EXPECT_EQ(parsed->policy.cvm, cvm_id_);
  EXPECT_EQ(parsed->policy.engine, kEngine);
  EXPECT_EQ(parsed->header, g->header);
  EXPECT_EQ(parsed->descriptor.resource, res.resource);
  EXPECT_EQ(grant_text(*parsed), grant_text(*g));

  auto ok = decrypt_granted(*parsed, store(), cvm_.identity(), out("input"));
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(read_text(out("input")), text);
  // The header is the CVM's alone: the owner's own identity does not open it.
  ok = decrypt_granted(*parsed, store(), owner_.identity(), out("owner"));
  ASSERT_FALSE(ok);
  EXPECT_EQ(ok.error().code, "age.no_match");
  EXPECT_TRUE(out_dir_holds_only({"input"}));
}

TEST_F(GrantTest, ShouldLetTheCvmDecryptAGrantedDirectory) {
  write_text(dir() / "in" / "d" / "a.csv", "a\n");
  write_text(dir() / "in" / "d" / "sub" / "b.csv", "b\n");
  auto res = upload(dir() / "in" / "d", owner_, store());
  ASSERT_TRUE(res);
  auto g = grant(*res);
  ASSERT_TRUE(g) << g.error().message;
  auto ok = decrypt_granted(*g, store(), cvm_.identity(), out("d"));
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(read_text(out("d") / "a.csv"), "a\n");
  EXPECT_EQ(read_text(out("d") / "sub" / "b.csv"), "b\n");
}

TEST_F(GrantTest, ShouldLeaveNothingWhenTheGrantedCiphertextIsTampered) {
  auto res = upload_text("alice.csv", std::string(200000, 'x'));
  auto g = grant(res);
  ASSERT_TRUE(g);
  LyingStore lying(store());
  const std::size_t payload = res.resource.header_length;
  // A changed payload byte fails age's authentication of its chunk.
  lying.edit = [&](Bytes& b) { b.at(payload + 100000) ^= 1; };
  auto ok = decrypt_granted(*g, lying, cvm_.identity(), out("input"));
  ASSERT_FALSE(ok);
  EXPECT_EQ(ok.error().code, "age.payload");
  EXPECT_TRUE(out_dir_holds_only());
  // Cut short, or one byte longer: the size is the descriptor's or nothing.
  lying.edit = [](Bytes& b) { b.pop_back(); };
  ok = decrypt_granted(*g, lying, cvm_.identity(), out("input"));
  ASSERT_FALSE(ok);
  EXPECT_EQ(ok.error().code, "files.ciphertext") << ok.error().message;
  EXPECT_TRUE(out_dir_holds_only());
  lying.edit = [](Bytes& b) { b.push_back(0); };
  ok = decrypt_granted(*g, lying, cvm_.identity(), out("input"));
  ASSERT_FALSE(ok);
  EXPECT_EQ(ok.error().code, "files.ciphertext") << ok.error().message;
  EXPECT_TRUE(out_dir_holds_only());
}

// The stored header is not decrypted (the grant's replaces it), but it is
// part of the ciphertext the descriptor names: a blob changed there decrypts
// fine and is still refused, by its digest, once it has streamed through.
TEST_F(GrantTest, ShouldRefuseABlobWhoseStoredHeaderChangedThoughItDecrypts) {
  // Larger than what waits between the transfer and the decryption.
  auto res = upload_text("alice.csv", std::string(12 << 20, 'y'));
  auto g = grant(res);
  ASSERT_TRUE(g);
  const fs::path blob = dir() / "store" / hex_encode(res.resource.ciphertext_sha256);
  flip_byte(blob, 40);
  auto ok = decrypt_granted(*g, store(), cvm_.identity(), out("input"));
  ASSERT_FALSE(ok);
  EXPECT_EQ(ok.error().code, "store.digest") << ok.error().message;
  EXPECT_TRUE(out_dir_holds_only());
}

// A store that answers with another header (here: the header of another of
// the owner's files, which the owner's key opens) cannot make the owner
// re-wrap that file's key under this resource's policy.
TEST_F(GrantTest, ShouldRefuseToGrantWhenTheStoreSwapsTheHeader) {
  auto res = upload_text("alice.csv", "rows of alice\n");
  auto other = upload_text("other.csv", "rows of another file\n");
  auto other_blob = store().get_bytes(other.resource.ciphertext_sha256, 1 << 20);
  ASSERT_TRUE(other_blob);
  ASSERT_EQ(res.resource.header_length, other.resource.header_length);
  // The store's copy of alice.csv now starts with other.csv's header.
  const fs::path blob = dir() / "store" / hex_encode(res.resource.ciphertext_sha256);
  auto bytes = read_file(blob, 1 << 20);
  ASSERT_TRUE(bytes);
  std::copy_n(other_blob->begin(), res.resource.header_length, bytes->begin());
  fs::permissions(blob, fs::perms::owner_write, fs::perm_options::add);
  write_text(blob, as_chars(*bytes));
  const auto expires = system_clock::now() + hours(1);
  auto g = make_grant(res, store(), owner_, cvm_.recipient(), cvm_id_, kEngine, outputs_, expires);
  ASSERT_FALSE(g);
  EXPECT_NE(g.error().message.find("header_sha256"), std::string::npos) << g.error().message;
  // Without the header's digest (an older descriptor) the whole blob is read
  // and its digest catches the same swap.
  SignedResource old = res;
  old.resource.header_sha256.reset();
  g = make_grant(old, store(), owner_, cvm_.recipient(), cvm_id_, kEngine, outputs_, expires);
  ASSERT_FALSE(g);
  EXPECT_EQ(g.error().code, "store.digest") << g.error().message;
}

TEST_F(GrantTest, ShouldNormaliseEngineAndOutputs) {
  auto res = upload_text("alice.csv", "x");
  const std::string a = cvm_.recipient().to_string();
  const std::string b = other_.recipient().to_string();
  auto g = make_grant(res, store(), owner_, cvm_.recipient(), cvm_id_, std::string(64, 'e'), {b, a, b},
                      system_clock::now() + hours(1));
  ASSERT_TRUE(g) << g.error().message;
  EXPECT_EQ(g->policy.engine, kEngine);
  std::vector<std::string> sorted = {a, b};
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(g->policy.outputs, sorted);
}

TEST_F(GrantTest, ShouldRefuseToMakeBadGrants) {
  auto res = upload_text("alice.csv", "x");
  const auto later = system_clock::now() + hours(1);
  auto by_other = make_grant(res, store(), other_, cvm_.recipient(), cvm_id_, kEngine, outputs_, later);
  ASSERT_FALSE(by_other);
  EXPECT_NE(by_other.error().message.find("not the owner"), std::string::npos);
  EXPECT_FALSE(make_grant(res, store(), owner_, cvm_.recipient(), cvm_id_, "sha256:12", outputs_, later));
  EXPECT_FALSE(make_grant(res, store(), owner_, cvm_.recipient(), cvm_id_, kEngine, {}, later));
  EXPECT_FALSE(make_grant(res, store(), owner_, cvm_.recipient(), cvm_id_, kEngine, {"age1nope"}, later));
  EXPECT_FALSE(make_grant(res, store(), owner_, cvm_.recipient(), cvm_id_, kEngine, outputs_,
                          system_clock::now() - hours(1)));
}

TEST_F(GrantTest, ShouldRefuseAGrantSignedByAnotherKey) {
  auto res = upload_text("alice.csv", "x");
  auto g = grant(res);
  ASSERT_TRUE(g);
  const auto thief = crypto::Ed25519PrivateKey::generate();
  // Signed by another key, still naming the owner: the signature fails.
  expect_refused(resign(*g, [](json&) {}, thief), "grant.sig");
  // Naming the other key as owner: not the descriptor's owner.
  expect_refused(resign(*g, [&](json& d) { d["grant"]["owner"] = hex_encode(thief.public_key()); }, thief),
                 "grant.owner");
  // Another owner's descriptor swapped in under the thief's own grant.
  auto thief_res = upload(dir() / "in" / "alice.csv", other_, store());
  ASSERT_TRUE(thief_res);
  expect_refused(resign(*g, [&](json& d) { d["descriptor"] = thief_res->json; }, owner_.signing_key()),
                 "grant.owner");
}

TEST_F(GrantTest, ShouldRefuseTamperedGrantsNamingTheCheck) {
  auto res = upload_text("alice.csv", "x");
  auto g = grant(res);
  ASSERT_TRUE(g);
  const auto& key = owner_.signing_key();
  // Unsigned edits of the policy.
  for (const char* field : {"engine", "cvm", "expires", "created"}) {
    json doc = g->json;
    doc["grant"][field] = field == std::string("engine")  ? json(kEngine.substr(0, 7) + std::string(64, 'f'))
                          : field == std::string("cvm")   ? json(std::string(64, '1'))
                                                          : json("2099-01-01T00:00:00Z");
    expect_refused(doc.dump(), "grant.sig");
  }
  json doc = g->json;
  doc["grant"]["outputs"] = {cvm_.recipient().to_string()};
  expect_refused(doc.dump(), "grant.sig");
  // A descriptor edited: its own signature fails first.
  doc = g->json;
  doc["descriptor"]["resource"]["name"] = "other.csv";
  expect_refused(doc.dump(), "grant.descriptor");
  // Signed, but for another resource.
  expect_refused(resign(*g, [](json& d) { d["grant"]["resource"] = std::string(64, '2'); }, key), "grant.resource");
  // The header swapped for another grant's: it binds that grant's policy.
  auto other_res = upload_text("b.csv", "y");
  auto other_grant = grant(other_res);
  ASSERT_TRUE(other_grant);
  doc = g->json;
  doc["header"] = other_grant->json["header"];
  expect_refused(doc.dump(), "grant.binding");
  // Signed garbage in place of a header.
  const Bytes junk = to_bytes("not an age header");
  expect_refused(resign(
                     *g, [&](json& d) { d["header"] = base64_encode(junk); }, key),
                 "grant.header");
  // A re-signed policy (the owner's own key, another engine) keeps the header,
  // which binds the policy the file key's holder approved, not this one.
  expect_refused(resign(
                     *g, [](json& d) { d["grant"]["engine"] = "sha256:" + std::string(64, 'f'); }, key),
                 "grant.binding");
}

// The text of a grant's header with `edit` applied to its lines; the MAC line
// is kept as it was.
std::string edit_header(const Grant& g, const std::function<void(std::vector<std::string>&)>& edit) {
  const std::string text(as_chars(g.header));
  std::vector<std::string> lines;
  std::size_t start = 0;
  for (std::size_t end; (end = text.find('\n', start)) != std::string::npos; start = end + 1)
    lines.push_back(text.substr(start, end - start));
  edit(lines);
  std::string out;
  for (const auto& line : lines) out += line + "\n";
  return out;
}

std::size_t stanza_line(const std::vector<std::string>& lines) {
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].starts_with("-> ward-grant ")) return i;
  }
  return lines.size();
}

TEST_F(GrantTest, ShouldCarryThePolicyDigestInAStanzaUnderTheHeaderMac) {
  auto res = upload_text("alice.csv", "x");
  auto g = grant(res);
  ASSERT_TRUE(g) << g.error().message;
  EXPECT_EQ(g->id,
            crypto::sha256(as_bytes(std::string(kGrantDomain) + ledger::canonical_json(g->json["grant"]))));
  auto header = age::parse_header(g->header);
  ASSERT_TRUE(header);
  std::size_t bindings = 0;
  for (const auto& stanza : header->stanzas) {
    if (stanza.type != kGrantStanza) continue;
    ++bindings;
    ASSERT_EQ(stanza.args.size(), 1u);
    EXPECT_EQ(stanza.args[0], base64_encode(g->id, false));
    EXPECT_TRUE(stanza.body.empty());
  }
  EXPECT_EQ(bindings, 1u);
  // The MAC input holds the stanza, and the MAC verifies with the file key
  // the CVM unwraps.
  const std::string mac_input(as_chars(header->mac_input));
  EXPECT_NE(mac_input.find("-> ward-grant " + base64_encode(g->id, false) + "\n"), std::string::npos);
  EXPECT_TRUE(authenticate_grant(*g, cvm_.identity()));
  // Any other identity cannot even unwrap it.
  auto other = authenticate_grant(*g, other_.identity());
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code, "age.no_match");
}

TEST_F(GrantTest, ShouldRefuseAHeaderWhosePolicyDigestIsSwappedRemovedOrDuplicated) {
  auto res = upload_text("alice.csv", "x");
  auto g = grant(res);
  ASSERT_TRUE(g);
  const std::string mallory_id =
      base64_encode(crypto::sha256(as_bytes(std::string("mallory's policy"))), false);
  const auto with_header = [&](const std::string& header) {
    json doc = g->json;
    doc["header"] = base64_encode(as_bytes(header));
    return doc.dump();
  };
  // Removed: no stanza binds the key.
  const std::string removed = edit_header(*g, [](auto& lines) {
    const auto at = stanza_line(lines);
    lines.erase(lines.begin() + static_cast<std::ptrdiff_t>(at),
                lines.begin() + static_cast<std::ptrdiff_t>(at) + 2);
  });
  expect_refused(with_header(removed), "grant.binding: the header carries no ward-grant stanza");
  // Duplicated.
  const std::string duplicated = edit_header(*g, [](auto& lines) {
    const auto at = stanza_line(lines);
    lines.insert(lines.begin() + static_cast<std::ptrdiff_t>(at), {lines[at], ""});
  });
  expect_refused(with_header(duplicated), "grant.binding: the header carries 2 ward-grant stanzas");
  // Swapped for another policy's digest: parse_grant sees the mismatch...
  const std::string swapped =
      edit_header(*g, [&](auto& lines) { lines[stanza_line(lines)] = "-> ward-grant " + mallory_id; });
  expect_refused(with_header(swapped), "grant.binding: the header binds policy " + mallory_id);

  // ... and a policy re-signed to match the swapped digest is still refused by
  // the grantee, since only the file key's holder can make the MAC.
  Grant forged = *g;
  forged.header = to_bytes(swapped);
  auto header = age::parse_header(forged.header);
  ASSERT_TRUE(header);
  forged.id = crypto::sha256(as_bytes(std::string("mallory's policy")));
  auto ok = authenticate_grant(forged, cvm_.identity());
  ASSERT_FALSE(ok);
  EXPECT_TRUE(ok.error().message.starts_with("grant.mac: ")) << ok.error().message;
  // The same for a removed stanza: the grantee refuses before decrypting, and
  // decrypt_granted, the other reader of a grant, checks the same.
  forged = *g;
  forged.header = to_bytes(removed);
  ok = authenticate_grant(forged, cvm_.identity());
  ASSERT_FALSE(ok);
  EXPECT_TRUE(ok.error().message.starts_with("grant.mac: ")) << ok.error().message;
  ok = decrypt_granted(forged, store(), cvm_.identity(), out("input"));
  ASSERT_FALSE(ok);
  EXPECT_TRUE(ok.error().message.starts_with("grant.mac: ")) << ok.error().message;
  EXPECT_TRUE(out_dir_holds_only());
  // A grant whose id is not what its header binds (a policy swapped after
  // parsing) is refused by the same check.
  forged = *g;
  forged.id[0] ^= 1;
  ok = decrypt_granted(forged, store(), cvm_.identity(), out("input"));
  ASSERT_FALSE(ok);
  EXPECT_TRUE(ok.error().message.starts_with("grant.binding: ")) << ok.error().message;
  EXPECT_TRUE(out_dir_holds_only());
}

// The theft of issue 10, at the library level: Mallory copies Alice's
// descriptor as her own, and signs a policy of her own over Alice's header.
TEST_F(GrantTest, ShouldRefuseAnotherOwnersHeaderUnderAReSignedPolicy) {
  auto res = upload_text("alice.csv", "secret rows\n");
  auto g = grant(res);
  ASSERT_TRUE(g);
  const keys::PartyKey& mallory = other_;
  json descriptor = res.json;
  descriptor["resource"]["owner"] = hex_encode(mallory.signing_public_key());
  descriptor["sig"] = hex_encode(mallory.signing_key().sign(
      as_bytes(std::string(kResourceDomain) + ledger::canonical_json(descriptor["resource"]))));
  ASSERT_TRUE(parse_resource(descriptor.dump())) << "the copied descriptor should verify as Mallory's";
  const std::string stolen = resign(
      *g,
      [&](json& d) {
        d["descriptor"] = descriptor;
        d["grant"]["owner"] = hex_encode(mallory.signing_public_key());
        d["grant"]["engine"] = "sha256:" + std::string(64, 'c');
        d["grant"]["outputs"] = {mallory.recipient().to_string()};
      },
      mallory.signing_key());
  expect_refused(stolen, "grant.binding");
}

TEST_F(GrantTest, ShouldStayReadableByAge111WithTheCvmIdentity) {
  const std::string text = "patient,label\n1,0\n";
  auto res = upload_text("alice.csv", text);
  auto g = grant(res);
  ASSERT_TRUE(g);
  const fs::path blob = dir() / "blob";
  ASSERT_TRUE(store().get_file(res.resource.ciphertext_sha256, blob));
  auto ciphertext = read_file(blob, std::size_t{1} << 20);
  ASSERT_TRUE(ciphertext);
  // The grant's header followed by the stored payload is a plain age file.
  Bytes file = g->header;
  file.insert(file.end(), ciphertext->begin() + static_cast<std::ptrdiff_t>(res.resource.header_length),
              ciphertext->end());
  write_text(dir() / "granted.age", as_chars(file));
  write_text(dir() / "cvm.key", cvm_.identity().to_string() + "\n");
  const std::string command = "age --version | grep -qx 1.1.1 && age -d -i '" + (dir() / "cvm.key").string() +
                              "' -o '" + (dir() / "plain.csv").string() + "' '" +
                              (dir() / "granted.age").string() + "'";
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
  EXPECT_EQ(read_text(dir() / "plain.csv"), text);
}

TEST_F(GrantTest, ShouldRefuseMalformedGrantFiles) {
  auto res = upload_text("alice.csv", "x");
  auto g = grant(res);
  ASSERT_TRUE(g);
  const auto& key = owner_.signing_key();
  json doc = g->json;
  doc["extra"] = true;
  expect_refused(doc.dump(), "unknown field \"extra\"");
  expect_refused(resign(*g, [](json& d) { d["grant"]["extra"] = 1; }, key), "unknown field \"extra\"");
  expect_refused(resign(
                     *g, [](json& d) { d["grant"]["v"] = 3; }, key),
                 "unsupported version");
  expect_refused(resign(
                     *g, [](json& d) { d["grant"]["v"] = 1; }, key),
                 "grant.version");
  expect_refused(resign(
                     *g, [](json& d) { d["grant"]["uses"] = 0; }, key),
                 "\"uses\" must be from 1");
  expect_refused(resign(
                     *g, [](json& d) { d["grant"]["uses"] = kMaxGrantUses + 1; }, key),
                 "\"uses\" must be from 1");
  expect_refused(resign(
                     *g, [](json& d) { d["grant"]["order_by"] = "ab"; }, key),
                 "order_by");
  expect_refused(resign(*g, [](json& d) { d["grant"]["outputs"] = json::array(); }, key), "at least one");
  expect_refused(resign(*g,
                        [&](json& d) {
                          d["grant"]["outputs"] = {other_.recipient().to_string(), other_.recipient().to_string()};
                        },
                        key),
                 "sorted and unique");
  expect_refused(resign(*g, [](json& d) { d["grant"]["engine"] = std::string(64, 'e'); }, key), "\"engine\"");
  doc = g->json;
  doc["header"] = "not base64!";
  expect_refused(doc.dump(), "base64");
  std::string text = grant_text(*g);
  const auto at = text.find("\"grant\": {") + 10;
  expect_refused(text.substr(0, at) + "\"v\": 1, " + text.substr(at), "duplicate key");
  expect_refused(std::string(kMaxGrantSize + 1, ' '), "larger");
}

// fuzz_order_documents found this expiry: 65730106548 s since 1970, whose
// nanoseconds overflow a 64-bit system_clock, so the expiry check compared a
// wrapped value (UBSan: signed overflow in bits/chrono.h).
TEST_F(GrantTest, ShouldRefuseAnExpiryPastWhatTheClockHolds) {
  auto res = upload_text("alice.csv", "x");
  auto g = grant(res);
  ASSERT_TRUE(g);
  const auto& key = owner_.signing_key();
  expect_refused(resign(
                     *g, [](json& d) { d["grant"]["expires"] = "4052-11-26T02:55:48Z"; }, key),
                 "\"expires\" 4052-11-26T02:55:48Z is outside the times Ward can represent");
  expect_refused(resign(
                     *g, [](json& d) { d["grant"]["expires"] = "2262-04-11T23:47:17Z"; }, key),
                 "outside the times Ward can represent");
  expect_refused(resign(
                     *g, [](json& d) { d["grant"]["created"] = "9999-12-31T23:59:59Z"; }, key),
                 "\"created\" 9999-12-31T23:59:59Z is outside");
  // A grant until the last representable second is made, parses and has not
  // expired.
  auto latest = make_grant(res, store(), owner_, cvm_.recipient(), cvm_id_, kEngine, outputs_, kLatestTime);
  ASSERT_TRUE(latest) << latest.error().message;
  EXPECT_EQ(latest->policy.expires, "2262-04-11T23:47:16Z");
  ASSERT_TRUE(parse_grant(grant_text(*latest)));
  EXPECT_TRUE(
      check_grant_for_order(*latest, OrderTerms{cvm_id_, kEngine, outputs_, {}}, system_clock::now()));
}

// The same expiry in the fuzzer's own seed, unsigned: refused, not wrapped.
TEST_F(GrantTest, ShouldRefuseTheFuzzersGrantWithAnExpiryIn4052) {
  json doc = json::parse(read_text("tests/fuzz/corpus/fuzz_order_documents/grant.json"));
  doc["grant"]["expires"] = "4052-11-26T02:55:48Z";
  expect_refused(doc.dump(), "outside the times Ward can represent");
}

TEST_F(GrantTest, ShouldCheckAGrantAgainstAnOrder) {
  auto res = upload_text("alice.csv", "x");
  auto g = grant(res);
  ASSERT_TRUE(g);
  const auto now = system_clock::now();
  const auto creator = other_.signing_public_key();
  const auto check = [&](const ledger::CvmId& cvm, const std::string& engine,
                         const std::vector<std::string>& outputs, system_clock::time_point at) {
    return check_grant_for_order(*g, OrderTerms{cvm, engine, outputs, creator}, at);
  };
  EXPECT_TRUE(check(cvm_id_, kEngine, outputs_, now));
  EXPECT_TRUE(check(cvm_id_, std::string(64, 'e'), outputs_, now));
  EXPECT_TRUE(check(cvm_id_, kEngine, {}, now));
  ledger::CvmId other_cvm = cvm_id_;
  other_cvm[0] ^= 1;
  fails(check(other_cvm, kEngine, outputs_, now), "grant.cvm");
  fails(check(cvm_id_, "sha256:" + std::string(64, 'f'), outputs_, now), "grant.engine");
  fails(check(cvm_id_, "sha256:e1", outputs_, now), "grant.engine");
  fails(check(cvm_id_, kEngine, {outputs_[0], owner_.recipient().to_string()}, now), "grant.outputs");
  fails(check(cvm_id_, kEngine, outputs_, now + hours(2)), "grant.expired");
}

TEST_F(GrantTest, ShouldLimitAGrantToOrdersByOneAccount) {
  auto res = upload_text("alice.csv", "x");
  const auto carol = keys::PartyKey::generate();
  auto g = make_grant(res, store(), owner_, cvm_.recipient(), cvm_id_, kEngine, outputs_,
                      system_clock::now() + hours(1), GrantLimits{carol.signing_public_key(), 3});
  ASSERT_TRUE(g) << g.error().message;
  auto parsed = parse_grant(grant_text(*g));
  ASSERT_TRUE(parsed) << parsed.error().message;
  ASSERT_TRUE(parsed->policy.order_by);
  EXPECT_EQ(*parsed->policy.order_by, carol.signing_public_key());
  EXPECT_EQ(parsed->policy.uses, 3u);
  EXPECT_EQ(
      grant_use_entry(*parsed),
      json({{"id", hex_encode(g->id)}, {"owner", hex_encode(owner_.signing_public_key())}, {"uses", 3}}));
  const auto now = system_clock::now();
  EXPECT_TRUE(check_grant_for_order(*parsed,
                                    OrderTerms{cvm_id_, kEngine, outputs_, carol.signing_public_key()}, now));
  // Mallory (another account) placing the same order is refused.
  fails(check_grant_for_order(*parsed, OrderTerms{cvm_id_, kEngine, outputs_, other_.signing_public_key()},
                              now),
        "grant.order_by");
  // Dropping the limit from the policy needs a new signature and then breaks
  // the binding: the header carries the limited policy's id.
  expect_refused(resign(
                     *parsed,
                     [](json& d) {
                       d["grant"].erase("order_by");
                       d["grant"].erase("uses");
                     },
                     owner_.signing_key()),
                 "grant.binding");
  EXPECT_FALSE(make_grant(res, store(), owner_, cvm_.recipient(), cvm_id_, kEngine, outputs_,
                          system_clock::now() + hours(1), GrantLimits{std::nullopt, kMaxGrantUses + 1}));
}

TEST_F(GrantTest, ShouldKeepServiceGrantsAndBatchGrantsApart) {
  auto res = upload_text("model.json", "weights");
  const auto later = system_clock::now() + hours(1);
  GrantLimits serve;
  serve.serve = true;
  auto g = make_grant(res, store(), owner_, cvm_.recipient(), cvm_id_, kEngine, {}, later, serve);
  ASSERT_TRUE(g) << g.error().message;
  auto parsed = parse_grant(grant_text(*g));
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_TRUE(parsed->policy.serve);
  EXPECT_TRUE(parsed->policy.outputs.empty());
  const auto now = system_clock::now();
  OrderTerms service{cvm_id_, kEngine, {}, {}, true};
  EXPECT_TRUE(check_grant_for_order(*parsed, service, now));
  // A service grant cannot feed a batch order, whose output would leave...
  fails(check_grant_for_order(*parsed, OrderTerms{cvm_id_, kEngine, {}, {}, false}, now), "grant.serve");
  fails(check_grant_for_order(*parsed, OrderTerms{cvm_id_, kEngine, outputs_, {}, false}, now),
        "grant.serve");
  // ...and a batch grant cannot feed a service, whose engine answers clients.
  auto batch = grant(res);
  ASSERT_TRUE(batch) << batch.error().message;
  fails(check_grant_for_order(*batch, service, now), "grant.serve");
  // A service grant has no output, a batch grant at least one.
  EXPECT_FALSE(make_grant(res, store(), owner_, cvm_.recipient(), cvm_id_, kEngine, outputs_, later, serve));
  EXPECT_FALSE(make_grant(res, store(), owner_, cvm_.recipient(), cvm_id_, kEngine, {}, later));
  // Turning a batch grant into a service grant needs a new signature and
  // then breaks the binding; "serve" must be true when present.
  expect_refused(resign(
                     *batch,
                     [](json& d) {
                       d["grant"]["serve"] = true;
                       d["grant"]["outputs"] = json::array();
                     },
                     owner_.signing_key()),
                 "grant.binding");
  expect_refused(resign(
                     *parsed, [](json& d) { d["grant"]["serve"] = false; }, owner_.signing_key()),
                 "\"serve\" must be true");
}


// --- grants to a key broker (docs/kms.md) ---

class BrokerGrantTest : public GrantTest {
 protected:
  BrokerTerms terms() const {
    BrokerTerms t;
    t.recipient = broker_.recipient().to_string();
    t.attestation.allow_simulated = true;
    t.attestation.allowed_measurements["mrtd"] = {Bytes(48, 0x11)};
    return t;
  }

  Result<Grant> broker_grant(const SignedResource& res, BrokerTerms t) {
    GrantLimits limits;
    limits.broker = std::move(t);
    return make_grant(res, store(), owner_, broker_.recipient(), ledger::CvmId{}, kEngine, outputs_,
                      system_clock::now() + hours(1), limits);
  }

  keys::PartyKey broker_ = keys::PartyKey::generate();
  const ledger::LedgerId ledger_ = crypto::sha256(as_bytes("a ledger"));
};

TEST_F(BrokerGrantTest, ShouldReleaseTheKeyForOneOrderOnOneCvm) {
  const std::string text = "patient,label\n1,0\n";
  auto res = upload_text("alice.csv", text);
  auto g = broker_grant(res, terms());
  ASSERT_TRUE(g) << g.error().message;
  auto parsed = parse_grant(grant_text(*g));
  ASSERT_TRUE(parsed) << parsed.error().message;
  ASSERT_TRUE(parsed->policy.broker);
  EXPECT_EQ(parsed->policy.broker->recipient, broker_.recipient().to_string());
  EXPECT_EQ(parsed->policy.cvm, ledger::CvmId{});
  EXPECT_FALSE(parsed->json["grant"].contains("cvm"));
  // A broker's grant names no CVM: the loader's own check lets any CVM by.
  EXPECT_TRUE(check_grant_for_order(*parsed, {cvm_id_, kEngine, outputs_, {}, false}, system_clock::now()));
  // The header is the broker's: the CVM cannot open it as it is.
  auto unreleased = authenticate_grant(*parsed, cvm_.identity());
  ASSERT_FALSE(unreleased);
  EXPECT_EQ(unreleased.error().code, "age.no_match");

  const auto binding = release_binding(parsed->id, ledger_, 7, cvm_id_);
  auto header = rewrap_for_release(*parsed, broker_.identity(), cvm_.recipient(), binding);
  ASSERT_TRUE(header) << header.error().message;
  Grant released = *parsed;
  ASSERT_TRUE(accept_release(released, *header, cvm_.identity(), binding));
  auto ok = decrypt_granted(released, store(), cvm_.identity(), out("input"));
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(read_text(out("input")), text);

  // The same release taken for another order, CVM or ledger: refused.
  for (const auto& other : {release_binding(parsed->id, ledger_, 8, cvm_id_),
                            release_binding(parsed->id, ledger_, 7, crypto::sha256(as_bytes("x"))),
                            release_binding(parsed->id, crypto::sha256(as_bytes("b")), 7, cvm_id_)}) {
    Grant copy = *parsed;
    fails(accept_release(copy, *header, cvm_.identity(), other), "grant.release");
    EXPECT_EQ(copy.header, parsed->header) << "a refused release changed the grant";
  }
  // The broker's own header, unreleased, has no release stanza.
  Grant copy = *parsed;
  auto own = accept_release(copy, parsed->header, broker_.identity(), binding);
  fails(own, "grant.release");
  // The released header edited to carry another order's binding: its MAC fails.
  std::string bytes(as_chars(*header));
  const std::string want = base64_encode(binding, false);
  const std::string swap = base64_encode(release_binding(parsed->id, ledger_, 8, cvm_id_), false);
  bytes.replace(bytes.find(want), want.size(), swap);
  fails(accept_release(copy, to_bytes(bytes), cvm_.identity(), release_binding(parsed->id, ledger_, 8, cvm_id_)),
        "grant.mac");
}

TEST_F(BrokerGrantTest, ShouldNotReleaseUnderAnotherPolicyOrForAnotherBroker) {
  auto res = upload_text("alice.csv", "x");
  auto g = broker_grant(res, terms());
  ASSERT_TRUE(g);
  const auto binding = release_binding(g->id, ledger_, 7, cvm_id_);
  // Another broker's identity does not open the header.
  const auto other = keys::PartyKey::generate();
  auto wrong = rewrap_for_release(*g, other.identity(), cvm_.recipient(), binding);
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code, "age.no_match");
  // The broker's header under a policy the owner did not sign (re-signed by
  // a thief as its own, header kept): the binding refuses it.
  auto stolen = resign(
      *g, [](json& d) { d["grant"]["broker"]["attestation"]["measurements"]["mrtd"] = {std::string(96, '2')}; },
      owner_.signing_key());
  expect_refused(stolen, "grant.binding");
  // A CVM's grant is not released by a broker.
  auto cvm_grant = grant(res);
  ASSERT_TRUE(cvm_grant);
  auto not_a_broker_grant = rewrap_for_release(*cvm_grant, cvm_.identity(), cvm_.recipient(), binding);
  ASSERT_FALSE(not_a_broker_grant);
  EXPECT_TRUE(not_a_broker_grant.error().message.starts_with("grant.broker: ")) << not_a_broker_grant.error().message;
}

TEST_F(BrokerGrantTest, ShouldRefuseBrokerTermsThatBindNothing) {
  auto res = upload_text("alice.csv", "x");
  BrokerTerms t = terms();
  t.attestation.allowed_measurements.clear();
  auto g = broker_grant(res, t);
  ASSERT_FALSE(g);
  EXPECT_NE(g.error().message.find("pins no measurement"), std::string::npos) << g.error().message;
  t = terms();
  t.attestation.expected_report_data = Bytes(64, 1);
  g = broker_grant(res, t);
  ASSERT_FALSE(g);
  EXPECT_NE(g.error().message.find("report_data"), std::string::npos) << g.error().message;
  t = terms();
  t.recipient = other_.recipient().to_string();
  g = broker_grant(res, t);
  ASSERT_FALSE(g) << "a header for one broker under another's name";

  auto good = broker_grant(res, terms());
  ASSERT_TRUE(good);
  const auto& key = owner_.signing_key();
  expect_refused(resign(*good, [&](json& d) { d["grant"]["cvm"] = hex_encode(cvm_id_); }, key), "exactly one reader");
  expect_refused(resign(*good, [](json& d) { d["grant"]["broker"]["attestation"].erase("allow_debug"); }, key),
                 "complete canonical form");
  expect_refused(resign(*good, [](json& d) { d["grant"]["broker"]["extra"] = 1; }, key), "\"extra\"");
  expect_refused(resign(*good, [](json& d) { d["grant"]["broker"]["providers"] = json::array(); }, key),
                 "is empty");
  expect_refused(
      resign(*good, [](json& d) { d["grant"]["broker"]["providers"] = {std::string(64, 'b'), std::string(64, 'a')}; },
             key),
      "sorted and unique");
  BrokerTerms listed = terms();
  listed.providers = {crypto::sha256(as_bytes("p2")), crypto::sha256(as_bytes("p1")), crypto::sha256(as_bytes("p2"))};
  auto with_providers = broker_grant(res, listed);
  ASSERT_TRUE(with_providers) << with_providers.error().message;
  EXPECT_EQ(with_providers->policy.broker->providers.size(), 2u);
  EXPECT_TRUE(parse_grant(grant_text(*with_providers)));
}

}  // namespace
}  // namespace ward::files
