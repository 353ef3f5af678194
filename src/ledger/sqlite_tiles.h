// Tiles of the transparency log in SQLite, in the caller's database.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>

#include "base/bytes.h"
#include "base/error.h"
#include "ledger/merkle.h"

struct sqlite3;
struct sqlite3_stmt;

namespace ward::ledger {

// Keeps tiles in the table tlog_tiles(level, idx, width, hashes) of a
// database the caller owns. It never begins or commits a transaction: a log
// append made inside the caller's transaction commits or rolls back with the
// caller's own state change. The handle must outlive the store; like the
// handle, the store is used from one thread at a time.
class SqliteTileStore final : public TileStore {
 public:
  // Creates the table if needed and prepares the statements.
  static Result<SqliteTileStore> open(sqlite3* db);

  Result<std::optional<Bytes>> get(unsigned level, std::uint64_t index) override;
  Result<void> put(unsigned level, std::uint64_t index, ByteView tile) override;

 private:
  struct StatementDeleter {
    void operator()(sqlite3_stmt* statement) const;
  };
  using Statement = std::unique_ptr<sqlite3_stmt, StatementDeleter>;

  SqliteTileStore(sqlite3* db, Statement select, Statement upsert)
      : db_(db), select_(std::move(select)), upsert_(std::move(upsert)) {}

  sqlite3* db_;
  Statement select_;
  Statement upsert_;
};

}  // namespace ward::ledger
