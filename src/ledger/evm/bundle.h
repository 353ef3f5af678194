// An order's report on an EVM ledger, proven from blocks alone: the offline
// bundle `ward orders bundle` writes and `ward orders verify --bundle` reads
// (docs/evm.md, "Proving a report").
//
// For each event the proof rests on (the CVM's listing, the order's
// creation, its take by that CVM when it was placed on a tee offer, a
// service's start, the report) the bundle holds its block's
// header, all of the block's receipts and transactions, and where the event
// sits. check_report_bundle() recomputes, without a node:
//   - each block's hash, keccak256 of its header;
//   - its receipts root and transactions root, from the receipts and
//     transactions the bundle holds;
//   - the transaction that emitted the event: an EIP-1559 call to the
//     contract on the bundle's chain, and its signer (for the take, the start
//     and the report, the CVM's bound address);
//   - the event: from the contract, in that transaction's successful receipt.
// What binds what: the CVM's key signs its address (the binding in its
// listing); the CVM's address signs the report's transaction, and its key
// the report, which names the ledger id = sha256(tag ‖ chain id ‖ contract),
// the order, engine, inputs and outputs. What the bundle cannot prove is
// which chain its blocks are on: anyone can mine a block on a private chain.
// A verifier pins the report's block hash, read from a node or explorer it
// trusts (`--block-hash`); the online client takes every block from its
// node's canonical chain instead.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "evm/address.h"
#include "evm/keccak.h"
#include "evm/rpc.h"
#include "ledger/state.h"

namespace ward::ledger::evm {

inline constexpr std::string_view kBundleFormat = "ward/evm-report-bundle/v1";
// A bundle file larger than this is refused (a busy chain's block holds a
// few MiB of receipts; a bundle holds up to four blocks).
inline constexpr std::size_t kMaxBundleSize = std::size_t{64} << 20;

// A block the bundle proves an event in.
struct ProvenBlock {
  std::string event;  // "CvmRegistered", "OrderCreated", "OrderTaken", "ServiceStarted", "ReportSubmitted"
  std::uint64_t number = 0;
  ward::evm::Hash256 hash{};
  std::uint64_t timestamp = 0;
  std::size_t receipts = 0;  // how many receipts rebuilt its root
};

// What a checked bundle shows: the order as its events state it (status
// Done: the contract took its report) and its report (time: the block's).
struct BundledReport {
  std::uint64_t chain_id = 0;
  ward::evm::Address contract;
  LedgerId ledger_id{};
  Order order;
  Report report;
  ward::evm::Address cvm_address;
  std::vector<ProvenBlock> blocks;  // in the order listed above; the report's last
  const ProvenBlock& report_block() const { return blocks.back(); }
};

// The events of `order`'s proof, found by the ledger client (one each).
struct BundleEvents {
  ward::evm::MinedLog cvm_registered;
  ward::evm::MinedLog order_created;
  std::optional<ward::evm::MinedLog> service_started;
  ward::evm::MinedLog report_submitted;
  // An order placed on a tee offer: the OrderTaken of the CVM that reported.
  std::optional<ward::evm::MinedLog> order_taken = std::nullopt;
};

// Reads the blocks of `events` from the node and writes the bundle. Each
// block is read by number (the node's canonical one) and must be the block
// its event names (else "ledger.bundle": a reorg); its header is rebuilt from
// the node's fields and must hash to the block's hash. Errors: the
// RpcClient's, "ledger.bundle".
Result<nlohmann::json> make_report_bundle(ward::evm::RpcClient& rpc, std::uint64_t chain_id,
                                          const ward::evm::Address& contract, std::uint64_t order,
                                          const BundleEvents& events);

// Checks a bundle as above; every failure is one line naming the check.
// Errors: "ledger.bundle" (not a bundle, or a check failed).
Result<BundledReport> check_report_bundle(const nlohmann::json& bundle);

}  // namespace ward::ledger::evm
