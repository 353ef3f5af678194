// Runs every C2SP CCTV age test vector (npm package cctv-age, exported to
// .deps/cctv-age by scripts/setup.sh): each must fail or succeed exactly as its
// `expect:` line says, and the plaintext released must hash to `payload:`.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <memory>

#include "age/armor.h"
#include "age/stream.h"
#include "base/file.h"
#include "crypto/hash.h"

namespace ward::age {
namespace {

namespace fs = std::filesystem;
const fs::path kVectorDir = ".deps/cctv-age";

struct Vector {
  std::string expect;
  std::string payload_sha256;
  std::vector<std::string> identities;
  std::vector<std::string> passphrases;
  bool armored = false;
  Bytes body;
};

Vector load_vector(const std::string& name) {
  Bytes raw = read_file(kVectorDir / name, 64 << 20).value();
  std::string_view text = as_chars(raw);
  std::size_t split = text.find("\n\n");
  Vector v;
  std::string_view head = text.substr(0, split);
  while (!head.empty()) {
    std::size_t nl = head.find('\n');
    std::string_view line = head.substr(0, nl);
    head.remove_prefix(nl == std::string_view::npos ? head.size() : nl + 1);
    std::size_t colon = line.find(": ");
    std::string key(line.substr(0, colon)), value(line.substr(colon + 2));
    if (key == "expect") v.expect = value;
    if (key == "payload") v.payload_sha256 = value;
    if (key == "identity") v.identities.push_back(value);
    if (key == "passphrase") v.passphrases.push_back(value);
    if (key == "armored") v.armored = value == "yes";
  }
  v.body.assign(raw.begin() + static_cast<std::ptrdiff_t>(split + 2), raw.end());
  return v;
}

std::vector<std::string> vector_names() {
  std::vector<std::string> names;
  if (!fs::is_directory(kVectorDir)) return {"missing_vectors"};
  for (const auto& entry : fs::directory_iterator(kVectorDir)) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

std::string expected_code(const std::string& expect) {
  if (expect == "no match") return "age.no_match";
  if (expect == "HMAC failure") return "age.hmac";
  if (expect == "header failure") return "age.header";
  if (expect == "payload failure") return "age.payload";
  if (expect == "armor failure") return "age.armor";
  return "";
}

class CctvVector : public testing::TestWithParam<std::string> {};

TEST_P(CctvVector, DecryptsAsExpected) {
  ASSERT_NE(GetParam(), "missing_vectors") << kVectorDir << " is missing: run scripts/setup.sh";
  Vector v = load_vector(GetParam());
  ASSERT_FALSE(v.expect.empty()) << "vector has no expect line";

  std::vector<std::unique_ptr<Identity>> owned;
  bool only_hybrid = !v.identities.empty();
  for (const std::string& id : v.identities) {
    if (id.starts_with("AGE-SECRET-KEY-PQ-")) continue;
    only_hybrid = false;
    owned.push_back(std::make_unique<X25519Identity>(X25519Identity::parse(id).value()));
  }
  if (only_hybrid && v.passphrases.empty()) GTEST_SKIP() << "ML-KEM-768 hybrid identities are not supported";
  for (const std::string& p : v.passphrases) {
    owned.push_back(std::make_unique<ScryptIdentity>(crypto::to_secret(as_bytes(p))));
  }
  std::vector<const Identity*> identities;
  for (const auto& id : owned) identities.push_back(id.get());

  BytesReader body(v.body);
  ArmorReader armor(body);
  Reader& in = v.armored ? static_cast<Reader&>(armor) : body;
  BytesWriter out;
  auto result = decrypt(in, out, identities);

  if (v.expect == "success") {
    ASSERT_TRUE(result) << result.error().message;
  } else {
    ASSERT_FALSE(result) << "decrypted although the vector expects " << v.expect;
    EXPECT_EQ(result.error().code, expected_code(v.expect)) << result.error().message;
  }
  if (v.expect == "success" || v.expect == "payload failure") {
    EXPECT_EQ(hex_encode(crypto::sha256(out.bytes())), v.payload_sha256);
  } else {
    EXPECT_TRUE(out.bytes().empty()) << "plaintext was released before the header was accepted";
  }
}

INSTANTIATE_TEST_SUITE_P(Cctv, CctvVector, testing::ValuesIn(vector_names()),
                         [](const testing::TestParamInfo<std::string>& info) { return info.param; });

}  // namespace
}  // namespace ward::age
