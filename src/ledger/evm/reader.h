// Reads a Ward ledger held by the WardLedger contract on an EVM chain
// (contracts/README.md) as the entities the SQLite ledger returns
// (ledger/state.h): state from the contract's views, and what lives only in
// its events (names, recipients, certificates, an order's engine, inputs and
// outputs, fail reasons, reports) from eth_getLogs. Every value taken from an
// event is checked against what the state keeps of it (a hash, an index, an
// owner); where they disagree the query fails rather than guess.
//
// Each query reads at one block, the chain's head when the query starts, so
// the views and the events it combines describe the same state while new
// blocks arrive. Logs a reorg removed are ignored.
//
// Error codes: "ledger.evm" (the contract's answer is not what it documents:
// no contract at the address, a view that reverts or does not decode, an
// event that does not decode, events and state that disagree), and the
// RpcClient's "evm.rpc" and "evm.node" (prefixed with the entity read).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "base/error.h"
#include "evm/address.h"
#include "evm/rpc.h"
#include "ledger/state.h"
#include "ledger/store.h"
#include "ledger/tx.h"

namespace ward::ledger::evm {

// The contract's totals(): Ward's Totals and the records counted so far.
struct ChainTotals {
  std::uint64_t records = 0;  // accepted calls: the next record index
  Totals totals;

  bool operator==(const ChainTotals&) const = default;
};

// createOrder's arguments as OrderCreated logs them (the event's data is
// `bytes args`, msg.data[4:]): what an order holds only in its event.
struct CreatedOrder {
  CvmId cvm{};                         // all zero for an order placed on a tee offer
  std::optional<std::uint64_t> offer;  // the tee offer it is placed on
  std::optional<Resources> needs;      // what a CVM must declare to take it
  std::string engine;
  std::vector<std::string> inputs;
  std::vector<std::string> outputs;
  std::vector<std::uint64_t> offers;
  std::uint64_t deposit = 0;
  // A service's terms; nullopt for a batch order.
  std::optional<ServeRule> serve;
  std::vector<CvmId> workers;  // a split service's worker CVMs
};
// Decodes OrderCreated's `args` (the bytes its data holds). Errors: "ledger.evm".
Result<CreatedOrder> decode_order_created(ByteView args);

// Queries return nullopt (or nothing) for an entity that does not exist.
// Not thread-safe: one reader, and its RpcClient, serve one thread at a time.
class ContractReader {
 public:
  // Reads the WardLedger at `contract` through `rpc`, which must outlive the
  // reader. Events are searched from block `from_block` (the deployment's,
  // to save the node work; 0 searches the whole chain) to the query's block.
  ContractReader(ward::evm::RpcClient& rpc, const ward::evm::Address& contract, std::uint64_t from_block = 0)
      : rpc_(rpc), contract_(contract), from_block_(from_block) {}

  const ward::evm::Address& contract() const { return contract_; }

  // {ledgerId(), dev()}.
  Result<LedgerInfo> info();
  Result<ChainTotals> totals();

  // Recipient and name from AccountRegistered (a CVM's account: recipient
  // from CvmRegistered, and the name contract.cpp gives it, "cvm " and the
  // first 16 hex digits of the CVM id); `nonce` is the owner address's Ethereum
  // transaction count, the chain's counterpart of Ward's last accepted nonce.
  Result<std::optional<Account>> account(const AccountId& id);

  Result<std::optional<Offer>> offer(std::uint64_t id);
  // Every offer, in id order.
  Result<std::vector<Offer>> offers();

  // The certificate is the latest of CvmRegistered and CvmUpdated, checked
  // against the state's sha256; the recipient against its keccak256.
  Result<std::optional<Cvm>> cvm(const CvmId& id);
  // Every CVM, in registration order.
  Result<std::vector<Cvm>> cvms();

  // Engine, inputs, outputs and a service's access list from OrderCreated
  // (engine checked against the state's keccak256), the fail reason from
  // OrderFailed, a service's endpoint from its latest ServiceStarted.
  Result<std::optional<Order>> order(std::uint64_t id);
  // The orders matching `filter`, in id order, at most filter.limit.
  Result<std::vector<Order>> orders(const OrderFilter& filter);

  // The report bytes from ReportSubmitted (final) or the latest
  // ServiceStarted (start), checked against the state's sha256.
  Result<std::optional<Report>> report(std::uint64_t order);
  Result<std::optional<Report>> start_report(std::uint64_t order);

  // In account order; none for an order that does not exist.
  Result<std::vector<Subscription>> subscriptions(std::uint64_t order);
  Result<std::optional<Subscription>> subscription(std::uint64_t order, const AccountId& account);

  // Exists once used under a limit or revoked. `orders`: each order whose
  // GrantsUsed names (id, owner) with a limit, once, in record order; the
  // list must have the state's count of uses and grantUsedBy must hold for
  // each, else the query fails.
  Result<std::optional<Grant>> grant(const GrantId& id, const AccountId& owner);

 private:
  ward::evm::RpcClient& rpc_;
  ward::evm::Address contract_;
  std::uint64_t from_block_ = 0;
};

}  // namespace ward::ledger::evm
