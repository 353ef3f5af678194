// SQLite storage of one ledger: meta (id, dev flag, checkpoint-signing seed,
// log size, clock), records, checkpoints, the state tables and the log's
// tiles, all in one database file in WAL mode with synchronous=FULL, so a
// committed transaction is durable.
//
// A Store is one connection, used from one thread at a time. Error codes:
// "ledger.store" (SQLite failed or the file is not a ledger), "ledger.exists".
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/error.h"
#include "crypto/secret.h"
#include "ledger/merkle.h"
#include "ledger/state.h"

struct sqlite3;

namespace ward::ledger {

struct StoredRecord {
  std::uint64_t index = 0;
  std::uint64_t time = 0;
  Hash leaf{};
  std::string bytes;  // the record's canonical JSON, leaf `index` of the log
};

struct StoredCheckpoint {
  std::uint64_t size = 0;
  std::string note;  // signed note text
};

struct OrderFilter {
  std::optional<AccountId> creator;
  std::optional<CvmId> cvm;
  std::optional<OrderStatus> status;
  std::uint64_t first_id = 0;  // orders with id >= first_id, in id order
  std::size_t limit = 1000;
};

class Store {
 public:
  struct Meta {
    LedgerInfo info;
    crypto::SecretBytes seed;     // Ed25519 seed of the checkpoint signer
    std::uint64_t size = 0;       // committed records
    std::uint64_t last_time = 0;  // the ledger clock never goes back
  };

  // Creates the database file (mode 0600: it holds the signing seed). Fails
  // with "ledger.exists" when `path` exists.
  static Result<Store> create(const std::filesystem::path& path, const LedgerInfo& info,
                              const crypto::SecretBytes& seed);
  static Result<Store> open(const std::filesystem::path& path);

  Store(Store&&) noexcept;
  Store& operator=(Store&&) noexcept;
  ~Store();

  Result<Meta> meta();
  // Written in the batch transaction beside the records it counts.
  Result<void> set_progress(std::uint64_t size, std::uint64_t last_time);

  // The writer's transaction (BEGIN IMMEDIATE) and a reader's consistent
  // snapshot (BEGIN DEFERRED); end() commits either.
  Result<void> begin_write();
  Result<void> begin_read();
  Result<void> end();
  void rollback();

  // The state tables as a State. Its reads and writes cannot return errors,
  // so the first SQLite failure is kept: check take_state_error() after use.
  State& state();
  Result<void> take_state_error();

  TileStore& tiles();

  Result<void> insert_record(const StoredRecord& record);
  Result<std::optional<StoredRecord>> record(std::uint64_t index);
  Result<std::vector<StoredRecord>> records(std::uint64_t first, std::size_t max);

  Result<void> insert_checkpoint(const StoredCheckpoint& checkpoint);
  Result<std::optional<StoredCheckpoint>> latest_checkpoint();
  Result<std::vector<StoredCheckpoint>> checkpoints();

  Result<std::vector<Offer>> offers();
  Result<std::vector<Cvm>> cvms();
  Result<std::vector<Order>> orders(const OrderFilter& filter);
  Result<Snapshot> snapshot();

 private:
  struct Impl;
  explicit Store(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ward::ledger
