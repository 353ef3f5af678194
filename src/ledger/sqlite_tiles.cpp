#include "ledger/sqlite_tiles.h"

#include <limits>
#include <sqlite3.h>
#include <string>
#include <utility>

namespace ward::ledger {
namespace {

constexpr std::size_t kHashSize = std::tuple_size_v<Hash>;

std::unexpected<Error> sqlite_error(sqlite3* db, const std::string& what) {
  return fail("ledger.tiles", what + ": " + sqlite3_errmsg(db));
}

std::string tile_name(unsigned level, std::uint64_t index) {
  return "tile " + std::to_string(level) + "/" + std::to_string(index);
}

// Clears bindings and resets the statement whatever happens to the step, so
// it holds no read lock between calls.
struct Reset {
  sqlite3_stmt* statement;
  ~Reset() {
    sqlite3_reset(statement);
    sqlite3_clear_bindings(statement);
  }
};

}  // namespace

void SqliteTileStore::StatementDeleter::operator()(sqlite3_stmt* statement) const {
  sqlite3_finalize(statement);
}

Result<SqliteTileStore> SqliteTileStore::open(sqlite3* db) {
  const char* create =
      "CREATE TABLE IF NOT EXISTS tlog_tiles(level INTEGER, idx INTEGER, width INTEGER, hashes BLOB, "
      "PRIMARY KEY(level, idx))";
  if (sqlite3_exec(db, create, nullptr, nullptr, nullptr) != SQLITE_OK) {
    return sqlite_error(db, "creating table tlog_tiles");
  }
  auto prepare = [db](const char* sql) -> Result<Statement> {
    sqlite3_stmt* statement = nullptr;
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &statement, nullptr) != SQLITE_OK) {
      return sqlite_error(db, "preparing tlog_tiles statements");
    }
    return Statement(statement);
  };
  auto select = prepare("SELECT width, hashes FROM tlog_tiles WHERE level = ?1 AND idx = ?2");
  if (!select) return std::unexpected(select.error());
  auto upsert = prepare(
      "INSERT INTO tlog_tiles(level, idx, width, hashes) VALUES(?1, ?2, ?3, ?4) "
      "ON CONFLICT(level, idx) DO UPDATE SET width = excluded.width, hashes = excluded.hashes");
  if (!upsert) return std::unexpected(upsert.error());
  return SqliteTileStore(db, std::move(*select), std::move(*upsert));
}

Result<std::optional<Bytes>> SqliteTileStore::get(unsigned level, std::uint64_t index) {
  if (index > static_cast<std::uint64_t>(std::numeric_limits<sqlite3_int64>::max())) {
    return fail("ledger.tiles", tile_name(level, index) + " is beyond what SQLite can index");
  }
  sqlite3_stmt* statement = select_.get();
  Reset reset{statement};
  sqlite3_bind_int(statement, 1, static_cast<int>(level));
  sqlite3_bind_int64(statement, 2, static_cast<sqlite3_int64>(index));
  const int step = sqlite3_step(statement);
  if (step == SQLITE_DONE) return std::optional<Bytes>();
  if (step != SQLITE_ROW) return sqlite_error(db_, "reading " + tile_name(level, index));
  const sqlite3_int64 width = sqlite3_column_int64(statement, 0);
  const auto* data = static_cast<const std::uint8_t*>(sqlite3_column_blob(statement, 1));
  const auto size = static_cast<std::size_t>(sqlite3_column_bytes(statement, 1));
  if (width < 1 || width > static_cast<sqlite3_int64>(kTileWidth) ||
      size != static_cast<std::size_t>(width) * kHashSize) {
    return fail("ledger.tiles", tile_name(level, index) + " is corrupt: width " + std::to_string(width) +
                                    " with " + std::to_string(size) + " bytes of hashes");
  }
  return std::optional<Bytes>(Bytes(data, data + size));
}

Result<void> SqliteTileStore::put(unsigned level, std::uint64_t index, ByteView tile) {
  if (tile.empty() || tile.size() % kHashSize != 0 || tile.size() > kTileWidth * kHashSize) {
    return fail("ledger.tiles", "writing " + tile_name(level, index) + ": " + std::to_string(tile.size()) +
                                    " bytes is not 1 to 256 hashes");
  }
  if (index > static_cast<std::uint64_t>(std::numeric_limits<sqlite3_int64>::max())) {
    return fail("ledger.tiles", tile_name(level, index) + " is beyond what SQLite can index");
  }
  sqlite3_stmt* statement = upsert_.get();
  Reset reset{statement};
  sqlite3_bind_int(statement, 1, static_cast<int>(level));
  sqlite3_bind_int64(statement, 2, static_cast<sqlite3_int64>(index));
  sqlite3_bind_int(statement, 3, static_cast<int>(tile.size() / kHashSize));
  sqlite3_bind_blob(statement, 4, tile.data(), static_cast<int>(tile.size()), SQLITE_STATIC);
  if (sqlite3_step(statement) != SQLITE_DONE) return sqlite_error(db_, "writing " + tile_name(level, index));
  return {};
}

}  // namespace ward::ledger
