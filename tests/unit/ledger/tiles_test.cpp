// Tile storage: the SQLite store, the tlog-tiles layout MerkleLog writes, and
// what happens when writes fail or the caller's transaction rolls back.
#include <memory>
#include <sqlite3.h>
#include <string>

#include <gtest/gtest.h>

#include "ledger/merkle.h"
#include "ledger/sqlite_tiles.h"

namespace ward::ledger {
namespace {

std::vector<Hash> leaves(std::uint64_t begin, std::uint64_t end) {
  std::vector<Hash> out;
  for (std::uint64_t i = begin; i < end; ++i) out.push_back(leaf_hash(as_bytes("leaf " + std::to_string(i))));
  return out;
}

Bytes tile_of(std::size_t width, std::uint8_t fill) {
  return Bytes(width * 32, fill);
}

struct DbCloser {
  void operator()(sqlite3* db) const { sqlite3_close(db); }
};
using Db = std::unique_ptr<sqlite3, DbCloser>;

Db open_memory_db() {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open(":memory:", &db), SQLITE_OK);
  return Db(db);
}

void exec(sqlite3* db, const char* sql) {
  ASSERT_EQ(sqlite3_exec(db, sql, nullptr, nullptr, nullptr), SQLITE_OK) << sql;
}

std::int64_t count_rows(sqlite3* db, const char* where) {
  const std::string sql = std::string("SELECT count(*) FROM tlog_tiles WHERE ") + where;
  sqlite3_stmt* statement = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &statement, nullptr), SQLITE_OK);
  EXPECT_EQ(sqlite3_step(statement), SQLITE_ROW);
  const std::int64_t n = sqlite3_column_int64(statement, 0);
  sqlite3_finalize(statement);
  return n;
}

// Fails every put after the first `puts_allowed`.
class FailingTileStore final : public TileStore {
 public:
  explicit FailingTileStore(int puts_allowed) : puts_left_(puts_allowed) {}
  Result<std::optional<Bytes>> get(unsigned level, std::uint64_t index) override {
    return inner.get(level, index);
  }
  Result<void> put(unsigned level, std::uint64_t index, ByteView tile) override {
    if (puts_left_-- <= 0) return fail("ledger.tiles", "injected write failure");
    return inner.put(level, index, tile);
  }
  void allow_puts() { puts_left_ = 1 << 30; }
  MemoryTileStore inner;

 private:
  int puts_left_;
};

TEST(SqliteTileStore, ShouldRoundTripTiles) {
  Db db = open_memory_db();
  auto store = SqliteTileStore::open(db.get()).value();
  EXPECT_FALSE(store.get(0, 0).value().has_value());
  ASSERT_TRUE(store.put(0, 0, tile_of(3, 0xaa)));
  ASSERT_TRUE(store.put(2, 1234567, tile_of(256, 0xbb)));
  EXPECT_EQ(store.get(0, 0).value(), tile_of(3, 0xaa));
  EXPECT_EQ(store.get(2, 1234567).value(), tile_of(256, 0xbb));
  // A partial tile is replaced as it fills.
  ASSERT_TRUE(store.put(0, 0, tile_of(4, 0xcc)));
  EXPECT_EQ(store.get(0, 0).value(), tile_of(4, 0xcc));
  EXPECT_EQ(count_rows(db.get(), "level = 0 AND idx = 0 AND width = 4"), 1);
}

TEST(SqliteTileStore, ShouldReopenExistingTable) {
  Db db = open_memory_db();
  ASSERT_TRUE(SqliteTileStore::open(db.get()).value().put(1, 7, tile_of(2, 1)));
  auto again = SqliteTileStore::open(db.get());
  ASSERT_TRUE(again);
  EXPECT_EQ(again->get(1, 7).value(), tile_of(2, 1));
}

TEST(SqliteTileStore, ShouldRejectMalformedTileWrites) {
  Db db = open_memory_db();
  auto store = SqliteTileStore::open(db.get()).value();
  EXPECT_EQ(store.put(0, 0, Bytes(31)).error().code, "ledger.tiles");
  EXPECT_FALSE(store.put(0, 0, Bytes()));
  EXPECT_FALSE(store.put(0, 0, tile_of(257, 0)));
}

TEST(SqliteTileStore, ShouldRejectCorruptRows) {
  Db db = open_memory_db();
  auto store = SqliteTileStore::open(db.get()).value();
  exec(db.get(), "INSERT INTO tlog_tiles VALUES(0, 0, 2, zeroblob(63))");
  auto result = store.get(0, 0);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, "ledger.tiles");
  EXPECT_EQ(result.error().message, "tile 0/0 is corrupt: width 2 with 63 bytes of hashes");
}

TEST(SqliteTileStore, ShouldWriteInsideTheCallersTransaction) {
  Db db = open_memory_db();
  auto store = SqliteTileStore::open(db.get()).value();
  exec(db.get(), "BEGIN");
  ASSERT_TRUE(store.put(0, 0, tile_of(1, 1)));
  EXPECT_EQ(sqlite3_get_autocommit(db.get()), 0) << "the store must not commit on its own";
  exec(db.get(), "ROLLBACK");
  EXPECT_FALSE(store.get(0, 0).value().has_value());
}

TEST(MerkleLogTiles, ShouldFollowTlogTilesLayout) {
  MemoryTileStore memory;
  auto log = MerkleLog::open(memory, 0).value();
  ASSERT_TRUE(log.append(leaves(0, 300)));
  // Level 0: one full tile and a partial of 44; level 1: the full tile's root.
  const std::vector<Hash> first = leaves(0, 256);
  Bytes full;
  for (const Hash& h : first) full.insert(full.end(), h.begin(), h.end());
  EXPECT_EQ(memory.get(0, 0).value(), full);
  EXPECT_EQ(memory.get(0, 1).value()->size(), 44u * 32);
  const Bytes level1 = memory.get(1, 0).value().value();
  ASSERT_EQ(level1.size(), 32u);
  auto first_root = MerkleLog::open(memory, 300).value().root_at(256).value();
  EXPECT_TRUE(std::equal(level1.begin(), level1.end(), first_root.begin()));
  EXPECT_EQ(memory.tile_count(), 3u);
}

TEST(MerkleLogTiles, ShouldCommitAndRollBackWithTheCaller) {
  Db db = open_memory_db();
  auto store = SqliteTileStore::open(db.get()).value();
  auto log = MerkleLog::open(store, 0).value();
  exec(db.get(), "BEGIN");
  ASSERT_TRUE(log.append(leaves(0, 1000)));
  exec(db.get(), "COMMIT");
  const Hash committed = log.root().value();

  exec(db.get(), "BEGIN");
  ASSERT_TRUE(log.append(leaves(1000, 1300)));
  exec(db.get(), "ROLLBACK");

  // The store is back at 1000 entries: the log reopens there, not at 1300.
  auto reopened = MerkleLog::open(store, 1000);
  ASSERT_TRUE(reopened) << reopened.error().message;
  EXPECT_EQ(reopened->root().value(), committed);
  auto ahead = MerkleLog::open(store, 1300);
  ASSERT_FALSE(ahead);
  EXPECT_EQ(ahead.error().code, "ledger.tiles");
}

TEST(MerkleLogTiles, ShouldProveFromSqliteLikeFromMemory) {
  Db db = open_memory_db();
  auto sqlite_store = SqliteTileStore::open(db.get()).value();
  MemoryTileStore memory;
  auto a = MerkleLog::open(sqlite_store, 0).value();
  auto b = MerkleLog::open(memory, 0).value();
  const std::vector<Hash> d = leaves(0, 5000);
  ASSERT_TRUE(a.append(d));
  ASSERT_TRUE(b.append(d));
  EXPECT_EQ(a.root().value(), b.root().value());
  const Hash root = a.root().value();
  for (std::uint64_t i : {0u, 255u, 256u, 4095u, 4999u}) {
    auto proof = a.inclusion_proof(i, 5000).value();
    EXPECT_EQ(proof, b.inclusion_proof(i, 5000).value());
    EXPECT_TRUE(verify_inclusion(i, 5000, d[i], proof, root));
  }
  auto proof = a.consistency_proof(300, 5000).value();
  EXPECT_TRUE(verify_consistency(300, 5000, a.root_at(300).value(), root, proof));
}

TEST(MerkleLogTiles, ShouldStayUnchangedWhenAWriteFails) {
  FailingTileStore store(2);
  auto log = MerkleLog::open(store, 0).value();
  ASSERT_TRUE(log.append(leaves(0, 10)));
  const Hash before = log.root().value();
  // The batch writes the filled tile 0/0, then fails on tile 0/1.
  auto result = log.append(leaves(10, 600));
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().message, "injected write failure");
  EXPECT_EQ(log.size(), 10u);
  EXPECT_EQ(log.root().value(), before);

  store.allow_puts();
  ASSERT_TRUE(log.append(leaves(10, 600)));
  MemoryTileStore clean;
  auto reference = MerkleLog::open(clean, 0).value();
  ASSERT_TRUE(reference.append(leaves(0, 600)));
  EXPECT_EQ(log.root().value(), reference.root().value());
}

TEST(MerkleLogTiles, ShouldRejectStoreOfAnotherSize) {
  MemoryTileStore memory;
  auto log = MerkleLog::open(memory, 0).value();
  ASSERT_TRUE(log.append(leaves(0, 20)));
  auto wrong = MerkleLog::open(memory, 19);
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().message, "tile 0/0 holds 20 hashes, a log of size 19 needs 19");
  EXPECT_FALSE(MerkleLog::open(memory, 300));
}

TEST(MerkleLogTiles, ShouldReportMissingFullTile) {
  FailingTileStore store(1 << 30);
  auto log = MerkleLog::open(store, 0).value();
  ASSERT_TRUE(log.append(leaves(0, 600)));
  // Drop the first full tile behind the log's back.
  MemoryTileStore gutted;
  for (std::uint64_t i : {1u, 2u}) ASSERT_TRUE(gutted.put(0, i, store.inner.get(0, i).value().value()));
  ASSERT_TRUE(gutted.put(1, 0, store.inner.get(1, 0).value().value()));
  auto damaged = MerkleLog::open(gutted, 600).value();
  auto proof = damaged.inclusion_proof(3, 600);
  ASSERT_FALSE(proof);
  EXPECT_EQ(proof.error().message, "tile 0/0 is missing from the store");
}

}  // namespace
}  // namespace ward::ledger
