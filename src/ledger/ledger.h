// The embedded ledger: submit signed transactions, query state, prove the log.
//
// Thread safety: every member may be called from any number of threads.
// submit() parses and verifies the signature on the calling thread, then hands
// the transaction to a single writer thread that applies the contract and
// group-commits whole batches (records, log tiles, state, a signed checkpoint)
// in one SQLite transaction; the call returns once its batch is durable.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "ledger/merkle.h"
#include "ledger/state.h"
#include "ledger/store.h"
#include "ledger/tx.h"

namespace ward::ledger {

// What submit() says about one transaction: accepted at `index` (with its
// leaf hash and the signed checkpoint of the batch that made it durable), or
// refused with `rejection`, in which case nothing changed.
struct Receipt {
  std::optional<Rejection> rejection;
  std::uint64_t index = 0;
  Hash leaf{};
  std::string checkpoint;

  bool accepted() const { return !rejection; }
};

struct VerifyReport {
  bool ok = false;
  std::uint64_t records = 0;
  std::uint64_t checkpoints = 0;
  std::string problem;  // the first failed check; empty when ok
};

nlohmann::json to_json(const Receipt& r);
nlohmann::json to_json(const VerifyReport& r);
nlohmann::json to_json(const StoredRecord& r);

class Ledger {
 public:
  // A new ledger at `path` (which must not exist) with a fresh id and
  // checkpoint-signing key; `dev` enables the faucet, for good.
  static Result<Ledger> init(const std::filesystem::path& path, bool dev);
  static Result<Ledger> open(const std::filesystem::path& path);

  Ledger(Ledger&&) noexcept;
  Ledger& operator=(Ledger&&) noexcept;
  ~Ledger();

  const LedgerInfo& info() const;
  // Errors are storage failures ("ledger.store"); a refused transaction is a
  // Receipt with a rejection.
  Result<Receipt> submit(std::string_view envelope);
  // The same for many envelopes, signatures verified in parallel; receipts
  // in the order given.
  Result<std::vector<Receipt>> submit_many(std::span<const std::string> envelopes);

  // Committed records.
  std::uint64_t size() const;
  // Blocks until size() > `size` or `timeout` passes; returns size().
  std::uint64_t wait_for_records(std::uint64_t size, std::chrono::milliseconds timeout) const;

  Result<std::optional<Account>> account(const AccountId& id) const;
  Result<std::vector<Offer>> offers() const;
  Result<std::optional<Offer>> offer(std::uint64_t id) const;
  Result<std::vector<Order>> orders(const OrderFilter& filter) const;
  Result<std::optional<Order>> order(std::uint64_t id) const;
  Result<std::optional<Report>> report(std::uint64_t order) const;
  // A service order's start report (services.start).
  Result<std::optional<Report>> start_report(std::uint64_t order) const;
  Result<std::optional<Grant>> grant(const GrantId& id, const AccountId& owner) const;
  Result<std::optional<Subscription>> subscription(std::uint64_t order, const AccountId& account) const;
  // Every subscription to `order`, in account order; none for an order that
  // does not exist.
  Result<std::vector<Subscription>> subscriptions(std::uint64_t order) const;
  Result<std::vector<Cvm>> cvms() const;
  Result<std::optional<Cvm>> cvm(const CvmId& id) const;
  Result<Totals> totals() const;

  Result<std::optional<StoredRecord>> record(std::uint64_t index) const;
  // Up to `max` records from index `first` on, in order.
  Result<std::vector<StoredRecord>> records_from(std::uint64_t first, std::size_t max) const;

  // The newest signed checkpoint (C2SP signed note) and the key that checks it.
  std::string latest_checkpoint() const;
  std::string verifier_key() const;
  std::string origin() const;
  Result<std::vector<Hash>> inclusion_proof(std::uint64_t index, std::uint64_t size) const;
  Result<std::vector<Hash>> consistency_proof(std::uint64_t old_size, std::uint64_t new_size) const;

  // Recomputes the tree from the records and compares it with the stored
  // tree, checks every checkpoint's signature and that each is consistent
  // with the next, and replays every record into a fresh state that must
  // equal the stored one. Errors are storage failures; a failed check is a
  // report with ok == false naming the first problem.
  Result<VerifyReport> verify() const;

 private:
  struct Impl;
  explicit Ledger(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ward::ledger
