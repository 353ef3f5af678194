// The transparency log: an RFC 9162 Merkle tree over transaction leaves, its
// inclusion and consistency proofs, and tile storage after C2SP tlog-tiles.
//
// Verification (verify_*) needs nothing but the proof, the leaf and the roots.
// MerkleLog builds proofs from tiles held in a TileStore, keeping in memory only
// the right edge of the tree and a bounded cache, so memory stays flat as the
// log grows.
//
// Error codes: "ledger.proof" (a proof that does not verify, or a proof asked
// for sizes the log cannot prove), "ledger.tiles" (the store failed or holds a
// tile that does not fit the log).
#pragma once

#include <array>
#include <cstdint>
#include <list>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

#include "base/bytes.h"
#include "base/error.h"

namespace ward::ledger {

using Hash = std::array<std::uint8_t, 32>;

// RFC 9162 section 2.1.1 hashing.
Hash leaf_hash(ByteView entry);                       // SHA-256(0x00 || entry)
Hash node_hash(const Hash& left, const Hash& right);  // SHA-256(0x01 || left || right)
Hash empty_root();                                    // SHA-256 of the empty string

// A hash received from outside (JSON, HTTP): fails unless it is exactly 32 bytes.
Result<Hash> hash_from_bytes(ByteView bytes);

// RFC 9162 section 2.1.3.2: checks that `leaf` is entry `index` of the tree of
// `size` entries whose root is `root`.
Result<void> verify_inclusion(std::uint64_t index, std::uint64_t size, const Hash& leaf,
                              std::span<const Hash> proof, const Hash& root);
// The root that `proof` implies for `leaf` at `index` in a tree of `size`.
Result<Hash> root_from_inclusion(std::uint64_t index, std::uint64_t size, const Hash& leaf,
                                 std::span<const Hash> proof);

// RFC 9162 section 2.1.4.2: checks that the tree of `size2` entries with root
// `root2` extends the tree of `size1` entries with root `root1`. Equal sizes
// need an empty proof and equal roots; size1 of 0 is refused, as a proof from
// the empty tree proves nothing.
Result<void> verify_consistency(std::uint64_t size1, std::uint64_t size2, const Hash& root1,
                                const Hash& root2, std::span<const Hash> proof);

// The same checks over proof material as received, hashes of any length: a
// hash that is not 32 bytes fails as a malformed proof. Equal sizes compare the
// roots byte for byte, as nothing is hashed (transparency-dev/merkle's rule).
Result<void> verify_inclusion(std::uint64_t index, std::uint64_t size, ByteView leaf,
                              std::span<const Bytes> proof, ByteView root);
Result<void> verify_consistency(std::uint64_t size1, std::uint64_t size2, ByteView root1, ByteView root2,
                                std::span<const Bytes> proof);

// Tiles after C2SP tlog-tiles: tile level L, index N holds the hashes at tree
// level 8L with indices 256N .. 256N+255 (tree levels 8L+1 .. 8L+7 are
// recomputed from them). A tile holds 1..256 hashes, concatenated; a partial
// tile at the right edge is replaced as it fills.
inline constexpr std::size_t kTileWidth = 256;
inline constexpr unsigned kTileHeight = 8;

class TileStore {
 public:
  virtual ~TileStore() = default;
  // The tile's hashes, or nullopt when no such tile was stored.
  virtual Result<std::optional<Bytes>> get(unsigned level, std::uint64_t index) = 0;
  // Stores or replaces a tile. REQUIRES: tile.size() is 32 * width, width 1..256.
  virtual Result<void> put(unsigned level, std::uint64_t index, ByteView tile) = 0;
};

// Tiles in a map; for tests and throwaway logs.
class MemoryTileStore final : public TileStore {
 public:
  Result<std::optional<Bytes>> get(unsigned level, std::uint64_t index) override;
  Result<void> put(unsigned level, std::uint64_t index, ByteView tile) override;
  std::size_t tile_count() const { return tiles_.size(); }

 private:
  std::unordered_map<std::uint64_t, Bytes> tiles_;
};

// An append-only log over a TileStore. The caller knows the committed size
// (it keeps it beside its own state) and passes it to open(); append() writes
// the new and refilled tiles through the store, so it commits or rolls back
// with the caller's transaction. After a rollback, reopen the log at the
// committed size: the in-memory right edge would be ahead of the store.
// Not thread-safe: queries fill a tile cache.
class MerkleLog {
 public:
  // Loads the right edge of a log of `size` entries; fails when the store
  // holds a different log (a missing or mis-sized edge tile).
  static Result<MerkleLog> open(TileStore& store, std::uint64_t size);

  // Appends leaf hashes (see leaf_hash). On failure the log is unchanged.
  Result<void> append(std::span<const Hash> leaf_hashes);

  std::uint64_t size() const { return size_; }
  Result<Hash> root();
  // REQUIRES: size <= this->size(); otherwise "ledger.proof".
  Result<Hash> root_at(std::uint64_t size);
  // Proof that entry `index` is in the tree of `size` entries (index < size <= this->size()).
  Result<std::vector<Hash>> inclusion_proof(std::uint64_t index, std::uint64_t size);
  // Proof that the tree of `size2` entries extends that of `size1` (0 < size1 <= size2 <= this->size()).
  Result<std::vector<Hash>> consistency_proof(std::uint64_t size1, std::uint64_t size2);

 private:
  // A tile expanded to all its tree levels: levels[0] holds the tile's own
  // hashes, levels[r] the complete nodes r levels above them, levels[8] the
  // root once the tile is full. Proofs then read any node without rehashing.
  struct ExpandedTile {
    std::array<std::vector<Hash>, kTileHeight + 1> levels;
    // Adds a hash at the right, completing the parents it closes.
    void push(const Hash& h);
  };
  static constexpr std::size_t kCacheTiles = 64;

  MerkleLog(TileStore& store, std::uint64_t size) : store_(&store), size_(size) {}

  // Hash of the complete subtree at tree `level` and `index` (its 2^level
  // leaves all below size_).
  Result<Hash> node(unsigned level, std::uint64_t index);
  // RFC 9162 MTH(D[begin:end]) where begin is a multiple of a power of two
  // no smaller than end - begin, as every subtree a proof names is.
  Result<Hash> subtree_root(std::uint64_t begin, std::uint64_t end);
  Result<const ExpandedTile*> full_tile(unsigned level, std::uint64_t index);
  // Adds the hash at tree level 8 * `level`, index `position` to `edge`,
  // writing out the tile it fills (and carrying its root up a tile level).
  Result<void> push(std::vector<ExpandedTile>& edge, std::vector<bool>& dirty, unsigned level,
                    std::uint64_t position, const Hash& h);

  TileStore* store_;
  std::uint64_t size_;
  // edge_[L]: the partial tile at tile level L (the hashes at tree level 8L
  // past its last full tile), empty when there are none.
  std::vector<ExpandedTile> edge_;
  // Least recently used at the back.
  std::list<std::pair<std::uint64_t, ExpandedTile>> cache_;
  std::unordered_map<std::uint64_t, std::list<std::pair<std::uint64_t, ExpandedTile>>::iterator> cache_index_;
};

}  // namespace ward::ledger
