#include "ledger/replay.h"

#include <vector>

#include "ledger/contract.h"
#include "ledger/parallel.h"
#include "ledger/tx.h"

namespace ward::ledger {

struct RecordReplay::Impl {
  explicit Impl(const LedgerInfo& info) : state(info) {}

  MemoryTileStore tiles;  // before `log`, which refers to it
  std::optional<MerkleLog> log;
  MemoryState state;
};

RecordReplay::RecordReplay(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RecordReplay::RecordReplay(RecordReplay&&) noexcept = default;
RecordReplay& RecordReplay::operator=(RecordReplay&&) noexcept = default;
RecordReplay::~RecordReplay() = default;

Result<RecordReplay> RecordReplay::start(const LedgerInfo& info) {
  auto impl = std::make_unique<Impl>(info);
  auto log = MerkleLog::open(impl->tiles, 0);
  if (!log) return std::unexpected(log.error());
  impl->log.emplace(std::move(*log));
  return RecordReplay(std::move(impl));
}

Result<std::optional<std::string>> RecordReplay::add(std::span<const StoredRecord> records) {
  std::vector<Result<Record>> parsed(records.size(), fail("ledger.record", "not parsed"));
  detail::parallel_for(records.size(), 256,
                       [&](std::size_t i) { parsed[i] = parse_record(records[i].bytes); });
  const std::uint64_t first = size();
  std::vector<Hash> leaves;
  leaves.reserve(records.size());
  for (std::size_t i = 0; i < records.size(); ++i) {
    const StoredRecord& stored = records[i];
    const std::uint64_t index = first + i;
    const std::string at = "record " + std::to_string(index) + ": ";
    if (stored.index != index)
      return std::optional<std::string>("record " + std::to_string(index) + " is missing");
    if (!parsed[i]) return std::optional<std::string>(at + parsed[i].error().message);
    if (parsed[i]->index != index)
      return std::optional<std::string>(at + "holds index " + std::to_string(parsed[i]->index));
    const Hash leaf = leaf_hash(as_bytes(stored.bytes));
    if (leaf != stored.leaf)
      return std::optional<std::string>(at + "stored leaf hash differs from its bytes");
    if (auto applied = apply(impl_->state, *parsed[i]); !applied) {
      return std::optional<std::string>(at + "rejected on replay: " + applied.error().reason + ": " +
                                        applied.error().message);
    }
    leaves.push_back(leaf);
  }
  if (auto ok = impl_->log->append(leaves); !ok) return std::unexpected(ok.error());
  return std::optional<std::string>();
}

std::uint64_t RecordReplay::size() const {
  return impl_->log->size();
}

Result<Hash> RecordReplay::root_at(std::uint64_t size) {
  return impl_->log->root_at(size);
}

Result<std::optional<std::string>> RecordReplay::check_checkpoint(const Checkpoint& cp) {
  const std::string at = "checkpoint at size " + std::to_string(cp.size) + ": ";
  if (cp.size > size()) {
    return std::optional<std::string>(at + "covers more than the " + std::to_string(size()) + " records");
  }
  auto root = root_at(cp.size);
  if (!root) return std::unexpected(root.error());
  if (*root != cp.root) return std::optional<std::string>(at + "root differs from the recomputed tree");
  return std::optional<std::string>();
}

const Snapshot& RecordReplay::state() const {
  return impl_->state.snapshot();
}

std::optional<std::string> RecordReplay::check_supply() const {
  const Snapshot& s = state();
  __extension__ using u128 = unsigned __int128;
  u128 sum = s.totals.escrow;
  for (const auto& [id, a] : s.accounts) sum += a.balance;
  if (sum != s.totals.supply) return "state: balances plus escrow != supply";
  return std::nullopt;
}

}  // namespace ward::ledger
