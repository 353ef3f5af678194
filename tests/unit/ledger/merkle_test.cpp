// The Merkle tree against transparency-dev/merkle's vectors, and MerkleLog
// against a naive recursive RFC 9162 implementation.
#include "ledger/merkle.h"

#include <algorithm>
#include <bit>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "base/file.h"

namespace ward::ledger {
namespace {

namespace fs = std::filesystem;
const fs::path kVectorDir = "../shared/testdata/merkle";

Hash hash_of(std::string_view hex) {
  return hash_from_bytes(hex_decode(hex).value()).value();
}

Hash leaf(std::uint64_t i) {
  return leaf_hash(as_bytes("entry " + std::to_string(i)));
}

std::vector<Hash> leaves(std::uint64_t n) {
  std::vector<Hash> out;
  for (std::uint64_t i = 0; i < n; ++i) out.push_back(leaf(i));
  return out;
}

// RFC 9162 section 2.1, written as the recursions in the text.
using Leaves = std::span<const Hash>;

std::uint64_t split(std::uint64_t n) {
  return std::bit_floor(n - 1);
}

Hash ref_root(Leaves d) {
  if (d.empty()) return empty_root();
  if (d.size() == 1) return d[0];
  const std::uint64_t k = split(d.size());
  return node_hash(ref_root(d.first(k)), ref_root(d.subspan(k)));
}

std::vector<Hash> ref_path(std::uint64_t m, Leaves d) {
  if (d.size() <= 1) return {};
  const std::uint64_t k = split(d.size());
  std::vector<Hash> path;
  if (m < k) {
    path = ref_path(m, d.first(k));
    path.push_back(ref_root(d.subspan(k)));
  } else {
    path = ref_path(m - k, d.subspan(k));
    path.push_back(ref_root(d.first(k)));
  }
  return path;
}

std::vector<Hash> ref_subproof(std::uint64_t m, Leaves d, bool b) {
  if (m == d.size()) return b ? std::vector<Hash>{} : std::vector<Hash>{ref_root(d)};
  const std::uint64_t k = split(d.size());
  std::vector<Hash> proof;
  if (m <= k) {
    proof = ref_subproof(m, d.first(k), b);
    proof.push_back(ref_root(d.subspan(k)));
  } else {
    proof = ref_subproof(m - k, d.subspan(k), false);
    proof.push_back(ref_root(d.first(k)));
  }
  return proof;
}

std::vector<Hash> ref_consistency(std::uint64_t m, Leaves d) {
  return ref_subproof(m, d, true);
}

// Appends `entries` in uneven batches (1, 2, 3, ... wrapping at `max_batch`).
void append_unevenly(MerkleLog& log, Leaves entries, std::size_t max_batch) {
  std::size_t batch = 1;
  for (std::size_t done = log.size(); done < entries.size();) {
    const std::size_t n = std::min(batch, entries.size() - done);
    ASSERT_TRUE(log.append(entries.subspan(done, n)));
    done += n;
    batch = batch % max_batch + 1;
  }
}

// Every proof the log makes must equal the reference and verify.
void expect_proofs_match(MerkleLog& log, Leaves d, std::uint64_t m, std::uint64_t n) {
  const Leaves tree = d.first(n);
  const Hash root = ref_root(tree);
  ASSERT_EQ(log.root_at(n).value(), root) << "size " << n;
  if (m < n) {
    auto proof = log.inclusion_proof(m, n);
    ASSERT_TRUE(proof) << proof.error().message;
    EXPECT_EQ(*proof, ref_path(m, tree)) << "inclusion " << m << " at " << n;
    EXPECT_TRUE(verify_inclusion(m, n, d[m], *proof, root)) << "inclusion " << m << " at " << n;
  }
  if (m > 0 && m <= n) {
    auto proof = log.consistency_proof(m, n);
    ASSERT_TRUE(proof) << proof.error().message;
    EXPECT_EQ(*proof, ref_consistency(m, tree)) << "consistency " << m << " to " << n;
    EXPECT_TRUE(verify_consistency(m, n, ref_root(d.first(m)), root, *proof))
        << "consistency " << m << " to " << n;
  }
}

// ---- transparency-dev/merkle vectors ----

std::vector<std::string> vector_files(const std::string& kind) {
  std::vector<std::string> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(kVectorDir / kind, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (it->is_regular_file() && it->path().extension() == ".json") {
      out.push_back(fs::relative(it->path(), kVectorDir).string());
    }
  }
  std::ranges::sort(out);
  return out;
}

nlohmann::json load(const std::string& name) {
  const Bytes raw = read_file(kVectorDir / name, 1 << 20).value();
  return nlohmann::json::parse(as_chars(raw));
}

Bytes b64(const nlohmann::json& value) {
  return base64_decode(value.get<std::string>()).value();
}

std::vector<Bytes> proof_of(const nlohmann::json& v) {
  std::vector<Bytes> proof;
  if (!v["proof"].is_null()) {
    for (const auto& p : v["proof"]) proof.push_back(b64(p));
  }
  return proof;
}

std::string test_name(const testing::TestParamInfo<std::string>& info) {
  std::string name = info.param;
  name.erase(name.size() - std::string_view(".json").size());
  name = name.substr(name.find('/') + 1);
  std::ranges::replace_if(
      name, [](char c) { return !std::isalnum(static_cast<unsigned char>(c)); }, '_');
  return name;
}

class InclusionVector : public testing::TestWithParam<std::string> {};

TEST_P(InclusionVector, ShouldVerifyExactlyAsExpected) {
  const nlohmann::json v = load(GetParam());
  const auto index = v["leafIdx"].get<std::uint64_t>();
  const auto size = v["treeSize"].get<std::uint64_t>();
  const std::vector<Bytes> proof = proof_of(v);
  auto result = verify_inclusion(index, size, b64(v["leafHash"]), proof, b64(v["root"]));
  EXPECT_EQ(!result.has_value(), v["wantErr"].get<bool>()) << v["desc"];
  if (!result) {
    EXPECT_EQ(result.error().code, "ledger.proof");
    EXPECT_EQ(result.error().message.find('\n'), std::string::npos);
  } else {
    // The typed API agrees, and the proof implies the root.
    std::vector<Hash> hashes;
    for (const Bytes& p : proof) hashes.push_back(hash_from_bytes(p).value());
    const Hash leaf = hash_from_bytes(b64(v["leafHash"])).value();
    EXPECT_EQ(root_from_inclusion(index, size, leaf, hashes).value(),
              hash_from_bytes(b64(v["root"])).value());
  }
}

INSTANTIATE_TEST_SUITE_P(Merkle, InclusionVector, testing::ValuesIn(vector_files("inclusion")), test_name);

class ConsistencyVector : public testing::TestWithParam<std::string> {};

TEST_P(ConsistencyVector, ShouldVerifyExactlyAsExpected) {
  const nlohmann::json v = load(GetParam());
  auto result = verify_consistency(v["size1"].get<std::uint64_t>(), v["size2"].get<std::uint64_t>(),
                                   b64(v["root1"]), b64(v["root2"]), proof_of(v));
  EXPECT_EQ(!result.has_value(), v["wantErr"].get<bool>()) << v["desc"];
  if (!result) {
    EXPECT_EQ(result.error().code, "ledger.proof");
  }
}

INSTANTIATE_TEST_SUITE_P(Merkle, ConsistencyVector, testing::ValuesIn(vector_files("consistency")),
                         test_name);

TEST(Vectors, ShouldAllBePresent) {
  // A missing directory would otherwise run zero cases and pass.
  EXPECT_GE(vector_files("inclusion").size(), 90u);
  EXPECT_GE(vector_files("consistency").size(), 90u);
}

// ---- hashing ----

TEST(Hashing, ShouldMatchRfc6962) {
  EXPECT_EQ(empty_root(), hash_of("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
  EXPECT_EQ(leaf_hash({}), hash_of("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"));
  // The RFC 6962 reference tree's two-leaf root (leaves "" and 0x00).
  const std::uint8_t zero = 0;
  EXPECT_EQ(node_hash(leaf_hash({}), leaf_hash({&zero, 1})),
            hash_of("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"));
}

TEST(Hashing, ShouldRejectHashOfWrongLength) {
  auto result = hash_from_bytes(Bytes(33));
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, "ledger.proof");
  EXPECT_EQ(result.error().message, "hash is 33 bytes, want 32");
}

// ---- verification edge cases ----

class Proofs : public testing::Test {
 protected:
  std::vector<Hash> d = leaves(7);
  Hash root = ref_root(d);
};

TEST_F(Proofs, InclusionShouldRejectIndexBeyondSize) {
  auto result = verify_inclusion(7, 7, d[0], ref_path(0, d), root);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, "ledger.proof");
  EXPECT_NE(result.error().message.find("index must be below size"), std::string::npos);
}

TEST_F(Proofs, InclusionShouldRejectExtraHash) {
  auto proof = ref_path(2, d);
  proof.push_back(root);
  EXPECT_FALSE(verify_inclusion(2, 7, d[2], proof, root));
}

TEST_F(Proofs, InclusionShouldRejectTruncatedProof) {
  auto proof = ref_path(2, d);
  proof.pop_back();
  EXPECT_FALSE(verify_inclusion(2, 7, d[2], proof, root));
}

TEST_F(Proofs, InclusionShouldRejectWrongLeaf) {
  EXPECT_FALSE(verify_inclusion(2, 7, d[3], ref_path(2, d), root));
}

TEST_F(Proofs, InclusionShouldRejectWrongLengthHashes) {
  auto result = verify_inclusion(0, 1, Bytes(31), std::vector<Bytes>{}, Bytes(32));
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().message, "leaf: hash is 31 bytes, want 32");
}

TEST_F(Proofs, ConsistencyShouldRejectFromEmptyTree) {
  auto result = verify_consistency(0, 7, empty_root(), root, {});
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message.find("empty tree"), std::string::npos);
}

TEST_F(Proofs, ConsistencyShouldRejectShrinkingTree) {
  EXPECT_FALSE(verify_consistency(7, 3, root, ref_root(std::span(d).first(3)), {}));
}

TEST_F(Proofs, ConsistencyShouldRejectEqualSizesWithProof) {
  const std::vector<Hash> proof{root};
  EXPECT_FALSE(verify_consistency(7, 7, root, root, proof));
  EXPECT_TRUE(verify_consistency(7, 7, root, root, {}));
}

TEST_F(Proofs, ConsistencyShouldRejectSwappedRoots) {
  const Hash old_root = ref_root(std::span(d).first(3));
  const auto proof = ref_consistency(3, d);
  EXPECT_TRUE(verify_consistency(3, 7, old_root, root, proof));
  EXPECT_FALSE(verify_consistency(3, 7, root, old_root, proof));
}

// ---- MerkleLog against the reference ----

TEST(MerkleLog, ShouldMatchReferenceForEverySizeUpTo70) {
  const std::vector<Hash> d = leaves(70);
  for (std::uint64_t n = 0; n <= 70; ++n) {
    MemoryTileStore store;
    auto log = MerkleLog::open(store, 0).value();
    append_unevenly(log, std::span(d).first(n), 4);
    ASSERT_EQ(log.size(), n);
    ASSERT_EQ(log.root().value(), ref_root(std::span(d).first(n)));
    for (std::uint64_t m = 0; m <= n; ++m) expect_proofs_match(log, d, m, n);
    // Reopened from its tiles, it makes the same proofs.
    auto reopened = MerkleLog::open(store, n).value();
    for (std::uint64_t m = 0; m <= n; ++m) expect_proofs_match(reopened, d, m, n);
  }
}

TEST(MerkleLog, ShouldMatchReferenceAcrossTileLevels) {
  // Past 65536 entries the log has full tiles at levels 0 and 1 and a partial
  // one at level 2.
  constexpr std::uint64_t kSize = 65536 + 256 * 3 + 77;
  const std::vector<Hash> d = leaves(kSize);
  MemoryTileStore store;
  auto log = MerkleLog::open(store, 0).value();
  append_unevenly(log, d, 997);
  ASSERT_EQ(log.root().value(), ref_root(d));

  std::mt19937_64 rng(9162);
  for (int i = 0; i < 8; ++i) {
    const std::uint64_t n = std::uniform_int_distribution<std::uint64_t>(1, kSize)(rng);
    const std::uint64_t m = std::uniform_int_distribution<std::uint64_t>(0, n - 1)(rng);
    expect_proofs_match(log, d, m, n);
    expect_proofs_match(log, d, m == 0 ? 1 : m, kSize);
  }
  for (std::uint64_t n : {256u, 257u, 65535u, 65536u, 65537u}) {
    expect_proofs_match(log, d, n - 1, n);
    expect_proofs_match(log, d, 255, n);
  }
  auto reopened = MerkleLog::open(store, kSize).value();
  EXPECT_EQ(reopened.root().value(), ref_root(d));
  expect_proofs_match(reopened, d, 65600, kSize);
}

TEST(MerkleLog, ShouldRejectProofsBeyondItsSize) {
  MemoryTileStore store;
  auto log = MerkleLog::open(store, 0).value();
  const std::vector<Hash> d = leaves(5);
  ASSERT_TRUE(log.append(d));
  EXPECT_EQ(log.inclusion_proof(5, 5).error().code, "ledger.proof");
  EXPECT_FALSE(log.inclusion_proof(0, 6));
  EXPECT_FALSE(log.consistency_proof(0, 5));
  EXPECT_FALSE(log.consistency_proof(4, 3));
  EXPECT_FALSE(log.consistency_proof(2, 6));
  EXPECT_FALSE(log.root_at(6));
  EXPECT_EQ(log.root_at(0).value(), empty_root());
  EXPECT_TRUE(log.consistency_proof(5, 5).value().empty());
}

TEST(MerkleLog, EmptyLogShouldHaveEmptyRoot) {
  MemoryTileStore store;
  auto log = MerkleLog::open(store, 0).value();
  EXPECT_EQ(log.root().value(), empty_root());
  EXPECT_TRUE(log.append({}));
  EXPECT_EQ(store.tile_count(), 0u);
}

}  // namespace
}  // namespace ward::ledger
