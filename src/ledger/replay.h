// Checking a log from its records up, as anyone holding the records can.
// Ledger::verify() runs it over the database file; verify_through_api()
// (client.h) over the records a `ward ledger serve` sends.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "base/error.h"
#include "ledger/checkpoint.h"
#include "ledger/merkle.h"
#include "ledger/state.h"
#include "ledger/store.h"

namespace ward::ledger {

// Replays records, in index order, into a fresh state and rebuilds the Merkle
// tree from them. A failed check is a problem: one line naming the record or
// checkpoint, the first one found. An Error is a failure of the machinery
// itself, not of the log.
class RecordReplay {
 public:
  // A replay of the ledger `info` from its first record.
  static Result<RecordReplay> start(const LedgerInfo& info);

  RecordReplay(RecordReplay&&) noexcept;
  RecordReplay& operator=(RecordReplay&&) noexcept;
  ~RecordReplay();

  // Records size(), size() + 1, ...: each must carry its index, parse
  // (canonical, signed by its sender, at that index), hash to the leaf it came
  // with, and be accepted by the contract. Returns the first problem; after
  // one, the replay is spent.
  Result<std::optional<std::string>> add(std::span<const StoredRecord> records);

  // Records replayed so far.
  std::uint64_t size() const;
  // The rebuilt tree's root at `size` (<= size()).
  Result<Hash> root_at(std::uint64_t size);
  // A checkpoint already opened (signature, origin): its root must be the
  // rebuilt tree's at its size, which must not exceed size().
  Result<std::optional<std::string>> check_checkpoint(const Checkpoint& cp);

  // The state the records produced.
  const Snapshot& state() const;
  // Conservation: only the faucet creates tokens and nothing destroys them,
  // so balances plus escrow equal the supply.
  std::optional<std::string> check_supply() const;

 private:
  struct Impl;
  explicit RecordReplay(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ward::ledger
