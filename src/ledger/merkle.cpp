#include "ledger/merkle.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <string>
#include <utility>

#include "crypto/hash.h"

namespace ward::ledger {
namespace {

constexpr std::size_t kHashSize = std::tuple_size_v<Hash>;

std::unexpected<Error> proof_error(const std::string& message) {
  return fail("ledger.proof", message);
}
std::unexpected<Error> tiles_error(const std::string& message) {
  return fail("ledger.tiles", message);
}

std::string tile_name(unsigned level, std::uint64_t index) {
  return "tile " + std::to_string(level) + "/" + std::to_string(index);
}

std::uint64_t cache_key(unsigned level, std::uint64_t index) {
  return (std::uint64_t{level} << 56) | index;
}

// Largest power of two strictly below n. REQUIRES: n > 1.
std::uint64_t split_point(std::uint64_t n) {
  return std::bit_floor(n - 1);
}

unsigned log2(std::uint64_t power_of_two) {
  return static_cast<unsigned>(std::countr_zero(power_of_two));
}

Bytes serialize(const std::vector<Hash>& hashes) {
  Bytes out(hashes.size() * kHashSize);
  for (std::size_t i = 0; i < hashes.size(); ++i)
    std::memcpy(&out[i * kHashSize], hashes[i].data(), kHashSize);
  return out;
}

Hash hash_at(ByteView tile, std::size_t i) {
  Hash h;
  std::memcpy(h.data(), tile.data() + i * kHashSize, kHashSize);
  return h;
}

// Shared by verify_inclusion and root_from_inclusion: RFC 9162 section 2.1.3.2.
Result<Hash> inclusion_root(std::uint64_t index, std::uint64_t size, const Hash& leaf,
                            std::span<const Hash> proof) {
  if (index >= size) {
    return proof_error("inclusion proof for index " + std::to_string(index) + " in a tree of size " +
                       std::to_string(size) + ": index must be below size");
  }
  std::uint64_t fn = index;
  std::uint64_t sn = size - 1;
  Hash r = leaf;
  for (const Hash& p : proof) {
    if (sn == 0) {
      return proof_error("inclusion proof has " + std::to_string(proof.size()) +
                         " hashes, more than the tree of size " + std::to_string(size) + " needs");
    }
    if ((fn & 1) != 0 || fn == sn) {
      r = node_hash(p, r);
      if ((fn & 1) == 0) {
        while ((fn & 1) == 0 && fn != 0) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      r = node_hash(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) {
    return proof_error("inclusion proof has " + std::to_string(proof.size()) +
                       " hashes, fewer than the tree of size " + std::to_string(size) + " needs");
  }
  return r;
}

Result<std::vector<Hash>> hashes_from_bytes(std::span<const Bytes> proof) {
  std::vector<Hash> out;
  out.reserve(proof.size());
  for (std::size_t i = 0; i < proof.size(); ++i) {
    auto h = hash_from_bytes(proof[i]);
    if (!h) return fail(h.error(), "proof hash " + std::to_string(i));
    out.push_back(*h);
  }
  return out;
}

}  // namespace

Hash leaf_hash(ByteView entry) {
  crypto::Hasher hasher(crypto::HashAlg::Sha256);
  const std::uint8_t prefix = 0x00;
  Bytes digest = hasher.update({&prefix, 1}).update(entry).finish();
  Hash out;
  std::memcpy(out.data(), digest.data(), kHashSize);
  return out;
}

Hash node_hash(const Hash& left, const Hash& right) {
  std::array<std::uint8_t, 1 + 2 * kHashSize> input;
  input[0] = 0x01;
  std::memcpy(&input[1], left.data(), kHashSize);
  std::memcpy(&input[1 + kHashSize], right.data(), kHashSize);
  return crypto::sha256(input);
}

Hash empty_root() {
  return crypto::sha256({});
}

Result<Hash> hash_from_bytes(ByteView bytes) {
  if (bytes.size() != kHashSize) {
    return proof_error("hash is " + std::to_string(bytes.size()) + " bytes, want " +
                       std::to_string(kHashSize));
  }
  Hash h;
  std::memcpy(h.data(), bytes.data(), kHashSize);
  return h;
}

Result<Hash> root_from_inclusion(std::uint64_t index, std::uint64_t size, const Hash& leaf,
                                 std::span<const Hash> proof) {
  return inclusion_root(index, size, leaf, proof);
}

Result<void> verify_inclusion(std::uint64_t index, std::uint64_t size, const Hash& leaf,
                              std::span<const Hash> proof, const Hash& root) {
  auto computed = inclusion_root(index, size, leaf, proof);
  if (!computed) return std::unexpected(computed.error());
  if (*computed != root) {
    return proof_error("inclusion proof for index " + std::to_string(index) +
                       " does not lead to the root of the tree of size " + std::to_string(size));
  }
  return {};
}

Result<void> verify_consistency(std::uint64_t size1, std::uint64_t size2, const Hash& root1,
                                const Hash& root2, std::span<const Hash> proof) {
  const std::string sizes =
      "consistency proof from size " + std::to_string(size1) + " to " + std::to_string(size2);
  if (size1 > size2) return proof_error(sizes + ": the first size is larger");
  if (size1 == 0) return proof_error(sizes + ": nothing can be proven about the empty tree");
  if (size1 == size2) {
    if (!proof.empty()) return proof_error(sizes + ": equal sizes need an empty proof");
    if (root1 != root2) return proof_error(sizes + ": equal sizes but the roots differ");
    return {};
  }
  if (proof.empty()) return proof_error(sizes + ": the proof is empty");

  // RFC 9162 section 2.1.4.2. A first tree that is a complete subtree is its
  // own first proof node.
  std::vector<Hash> path;
  path.reserve(proof.size() + 1);
  if (std::has_single_bit(size1)) path.push_back(root1);
  path.insert(path.end(), proof.begin(), proof.end());

  std::uint64_t fn = size1 - 1;
  std::uint64_t sn = size2 - 1;
  while ((fn & 1) != 0) {
    fn >>= 1;
    sn >>= 1;
  }
  Hash fr = path[0];
  Hash sr = path[0];
  for (std::size_t i = 1; i < path.size(); ++i) {
    const Hash& c = path[i];
    if (sn == 0) return proof_error(sizes + ": the proof has more hashes than needed");
    if ((fn & 1) != 0 || fn == sn) {
      fr = node_hash(c, fr);
      sr = node_hash(c, sr);
      while ((fn & 1) == 0 && fn != 0) {
        fn >>= 1;
        sn >>= 1;
      }
    } else {
      sr = node_hash(sr, c);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) return proof_error(sizes + ": the proof has fewer hashes than needed");
  if (fr != root1) return proof_error(sizes + ": the proof does not lead to the first root");
  if (sr != root2) return proof_error(sizes + ": the proof does not lead to the second root");
  return {};
}

Result<void> verify_inclusion(std::uint64_t index, std::uint64_t size, ByteView leaf,
                              std::span<const Bytes> proof, ByteView root) {
  auto leaf_hash = hash_from_bytes(leaf);
  if (!leaf_hash) return fail(leaf_hash.error(), "leaf");
  auto root_hash = hash_from_bytes(root);
  if (!root_hash) return fail(root_hash.error(), "root");
  auto hashes = hashes_from_bytes(proof);
  if (!hashes) return std::unexpected(hashes.error());
  return verify_inclusion(index, size, *leaf_hash, *hashes, *root_hash);
}

Result<void> verify_consistency(std::uint64_t size1, std::uint64_t size2, ByteView root1, ByteView root2,
                                std::span<const Bytes> proof) {
  if (size1 == size2 && size1 != 0 && proof.empty()) {
    if (!std::ranges::equal(root1, root2)) {
      return proof_error("consistency proof at size " + std::to_string(size1) + ": the roots differ");
    }
    return {};
  }
  auto first = hash_from_bytes(root1);
  if (!first) return fail(first.error(), "first root");
  auto second = hash_from_bytes(root2);
  if (!second) return fail(second.error(), "second root");
  auto hashes = hashes_from_bytes(proof);
  if (!hashes) return std::unexpected(hashes.error());
  return verify_consistency(size1, size2, *first, *second, *hashes);
}

Result<std::optional<Bytes>> MemoryTileStore::get(unsigned level, std::uint64_t index) {
  auto it = tiles_.find(cache_key(level, index));
  if (it == tiles_.end()) return std::optional<Bytes>();
  return std::optional<Bytes>(it->second);
}

Result<void> MemoryTileStore::put(unsigned level, std::uint64_t index, ByteView tile) {
  tiles_[cache_key(level, index)] = Bytes(tile.begin(), tile.end());
  return {};
}

void MerkleLog::ExpandedTile::push(const Hash& h) {
  levels[0].push_back(h);
  for (unsigned r = 0; r < kTileHeight && levels[r].size() % 2 == 0; ++r) {
    const std::size_t n = levels[r].size();
    levels[r + 1].push_back(node_hash(levels[r][n - 2], levels[r][n - 1]));
  }
}

Result<MerkleLog> MerkleLog::open(TileStore& store, std::uint64_t size) {
  MerkleLog log(store, size);
  for (unsigned level = 0; level * kTileHeight < 64 && (size >> (level * kTileHeight)) != 0; ++level) {
    const std::uint64_t count = size >> (level * kTileHeight);
    const std::uint64_t index = count / kTileWidth;
    const std::size_t width = count % kTileWidth;
    log.edge_.emplace_back();
    if (width == 0) continue;
    auto tile = store.get(level, index);
    if (!tile) return std::unexpected(tile.error());
    if (!*tile)
      return tiles_error(tile_name(level, index) + " is missing for a log of size " + std::to_string(size));
    if ((*tile)->size() != width * kHashSize) {
      return tiles_error(tile_name(level, index) + " holds " + std::to_string((*tile)->size() / kHashSize) +
                         " hashes, a log of size " + std::to_string(size) + " needs " +
                         std::to_string(width));
    }
    for (std::size_t i = 0; i < width; ++i) log.edge_.back().push(hash_at(**tile, i));
  }
  return log;
}

Result<void> MerkleLog::push(std::vector<ExpandedTile>& edge, std::vector<bool>& dirty, unsigned level,
                             std::uint64_t position, const Hash& h) {
  if (edge.size() <= level) {
    edge.resize(level + 1);
    dirty.resize(level + 1, false);
  }
  ExpandedTile& tile = edge[level];
  tile.push(h);
  if (tile.levels[0].size() < kTileWidth) {
    dirty[level] = true;
    return {};
  }
  const std::uint64_t index = position / kTileWidth;
  if (auto ok = store_->put(level, index, serialize(tile.levels[0])); !ok) return ok;
  const Hash root = tile.levels[kTileHeight][0];
  for (auto& hashes : tile.levels) hashes.clear();
  dirty[level] = false;
  return push(edge, dirty, level + 1, index, root);
}

Result<void> MerkleLog::append(std::span<const Hash> leaf_hashes) {
  // Work on a copy of the edge (a few KiB), so a failed write leaves the log
  // as it was.
  std::vector<ExpandedTile> edge = edge_;
  std::vector<bool> dirty(edge.size(), false);
  std::uint64_t size = size_;
  for (const Hash& leaf : leaf_hashes) {
    if (auto ok = push(edge, dirty, 0, size, leaf); !ok) return ok;
    ++size;
  }
  for (unsigned level = 0; level < edge.size(); ++level) {
    if (!dirty[level] || edge[level].levels[0].empty()) continue;
    const std::uint64_t index = (size >> (level * kTileHeight)) / kTileWidth;
    if (auto ok = store_->put(level, index, serialize(edge[level].levels[0])); !ok) return ok;
  }
  edge_ = std::move(edge);
  size_ = size;
  return {};
}

Result<const MerkleLog::ExpandedTile*> MerkleLog::full_tile(unsigned level, std::uint64_t index) {
  const std::uint64_t key = cache_key(level, index);
  if (auto it = cache_index_.find(key); it != cache_index_.end()) {
    cache_.splice(cache_.begin(), cache_, it->second);
    return &it->second->second;
  }
  auto tile = store_->get(level, index);
  if (!tile) return std::unexpected(tile.error());
  if (!*tile) return tiles_error(tile_name(level, index) + " is missing from the store");
  if ((*tile)->size() != kTileWidth * kHashSize) {
    return tiles_error(tile_name(level, index) + " holds " + std::to_string((*tile)->size() / kHashSize) +
                       " hashes where a full tile of 256 belongs");
  }
  ExpandedTile expanded;
  for (unsigned r = 0; r <= kTileHeight; ++r) expanded.levels[r].reserve(kTileWidth >> r);
  for (std::size_t i = 0; i < kTileWidth; ++i) expanded.push(hash_at(**tile, i));
  if (cache_.size() >= kCacheTiles) {
    cache_index_.erase(cache_.back().first);
    cache_.pop_back();
  }
  cache_.emplace_front(key, std::move(expanded));
  cache_index_[key] = cache_.begin();
  return &cache_.front().second;
}

Result<Hash> MerkleLog::node(unsigned level, std::uint64_t index) {
  const unsigned tile_level = level / kTileHeight;
  const unsigned height = level % kTileHeight;
  const std::uint64_t first = index << height;  // its first hash at tree level 8 * tile_level
  const std::uint64_t tile_index = first / kTileWidth;
  const std::size_t offset = (first % kTileWidth) >> height;
  const std::uint64_t full_tiles = (size_ >> (tile_level * kTileHeight)) / kTileWidth;
  if (tile_index < full_tiles) {
    auto tile = full_tile(tile_level, tile_index);
    if (!tile) return std::unexpected(tile.error());
    return (*tile)->levels[height][offset];
  }
  if (tile_index == full_tiles && tile_level < edge_.size() &&
      offset < edge_[tile_level].levels[height].size()) {
    return edge_[tile_level].levels[height][offset];
  }
  return proof_error("node " + std::to_string(level) + "/" + std::to_string(index) +
                     " is not complete in a log of size " + std::to_string(size_));
}

Result<Hash> MerkleLog::subtree_root(std::uint64_t begin, std::uint64_t end) {
  // The range splits into complete subtrees, largest first; RFC 9162's MTH
  // folds them from the right.
  std::array<Hash, 64> parts;
  std::size_t count = 0;
  for (std::uint64_t pos = begin; pos < end;) {
    const std::uint64_t width = std::bit_floor(end - pos);
    auto h = node(log2(width), pos >> log2(width));
    if (!h) return h;
    parts[count++] = *h;
    pos += width;
  }
  Hash root = parts[count - 1];
  for (std::size_t i = count - 1; i-- > 0;) root = node_hash(parts[i], root);
  return root;
}

Result<Hash> MerkleLog::root() {
  return root_at(size_);
}

Result<Hash> MerkleLog::root_at(std::uint64_t size) {
  if (size > size_) {
    return proof_error("root at size " + std::to_string(size) + " asked of a log of size " +
                       std::to_string(size_));
  }
  if (size == 0) return empty_root();
  return subtree_root(0, size);
}

Result<std::vector<Hash>> MerkleLog::inclusion_proof(std::uint64_t index, std::uint64_t size) {
  if (size > size_ || index >= size) {
    return proof_error("inclusion proof for index " + std::to_string(index) + " at size " +
                       std::to_string(size) + " asked of a log of size " + std::to_string(size_) +
                       ": need index < size <= log size");
  }
  // RFC 9162 section 2.1.3.1, top down; the proof lists siblings bottom up.
  std::vector<Hash> proof;
  std::uint64_t lo = 0;
  std::uint64_t hi = size;
  while (hi - lo > 1) {
    const std::uint64_t k = split_point(hi - lo);
    Result<Hash> sibling = index - lo < k ? subtree_root(lo + k, hi) : node(log2(k), lo >> log2(k));
    if (!sibling) return std::unexpected(sibling.error());
    proof.push_back(*sibling);
    if (index - lo < k) {
      hi = lo + k;
    } else {
      lo += k;
    }
  }
  std::ranges::reverse(proof);
  return proof;
}

Result<std::vector<Hash>> MerkleLog::consistency_proof(std::uint64_t size1, std::uint64_t size2) {
  if (size1 == 0 || size1 > size2 || size2 > size_) {
    return proof_error("consistency proof from size " + std::to_string(size1) + " to " +
                       std::to_string(size2) + " asked of a log of size " + std::to_string(size_) +
                       ": need 0 < size1 <= size2 <= log size");
  }
  // RFC 9162 section 2.1.4.1 SUBPROOF, top down; the proof lists it bottom up.
  std::vector<Hash> proof;
  std::uint64_t lo = 0;
  std::uint64_t hi = size2;
  bool whole_first_tree = true;  // SUBPROOF's b: the old tree is [0, size1) itself
  while (size1 - lo != hi - lo) {
    const std::uint64_t k = split_point(hi - lo);
    Result<Hash> part = size1 - lo <= k ? subtree_root(lo + k, hi) : node(log2(k), lo >> log2(k));
    if (!part) return std::unexpected(part.error());
    proof.push_back(*part);
    if (size1 - lo <= k) {
      hi = lo + k;
    } else {
      lo += k;
      whole_first_tree = false;
    }
  }
  if (!whole_first_tree) {
    auto last = subtree_root(lo, hi);
    if (!last) return std::unexpected(last.error());
    proof.push_back(*last);
  }
  std::ranges::reverse(proof);
  return proof;
}

}  // namespace ward::ledger
