// The WardAnchor contract (contracts/WardAnchor.sol): embedded ledgers'
// signed checkpoints posted on an EVM chain, for a public timestamp
// (docs/evm.md, "Anchoring the embedded ledger"). This file moves anchors to
// and from the chain; what an anchor proves is checked by the caller, who
// holds the ledger's verifier key and its log.
//
// Error codes: "ledger.anchor" (the contract refused an anchor, or logged one
// that does not decode), and the sender's and RpcClient's "evm.*".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "evm/address.h"
#include "evm/keccak.h"
#include "keys/party_key.h"
#include "ledger/merkle.h"
#include "ledger/tx.h"

namespace ward::ledger::evm {

// The longest note the contract takes (MAX_NOTE).
inline constexpr std::size_t kMaxAnchorNote = 4096;

struct AnchorDeployed {
  ward::evm::Address contract;
  std::uint64_t chain_id = 0;
  std::uint64_t block = 0;
  ward::evm::Hash256 transaction{};
  std::uint64_t gas_used = 0;
  std::string target;  // evm+http://HOST:PORT#0xANCHOR, for --anchors
};

// Deploys WardAnchor (anchor_code) from `key`'s EVM address, which pays the
// gas, to the node at `node_url`, and waits for its receipt.
Result<AnchorDeployed> deploy_anchor(std::string_view node_url, const keys::PartyKey& key);

struct AnchorPosted {
  std::uint64_t block = 0;
  ward::evm::Hash256 transaction{};
  std::uint64_t gas_used = 0;
};

// Calls anchor(ledger, size, root, note) on `contract` from `key`'s EVM
// address. A refusal is "ledger.anchor" naming the contract's error
// (NotLater: "size S is not later than the last anchored size L").
Result<AnchorPosted> post_anchor(std::string_view node_url, const ward::evm::Address& contract,
                                 const keys::PartyKey& key, const LedgerId& ledger, std::uint64_t size,
                                 const Hash& root, std::string_view note);

// One Anchored event, as logged: nothing in it is checked but its encoding.
struct Anchor {
  std::uint64_t block = 0;
  ward::evm::Hash256 transaction{};
  std::uint64_t time = 0;  // the block's timestamp, as the contract logged it
  std::uint64_t size = 0;
  Hash root{};
  std::string note;
};

// Every Anchored event of `ledger` at `contract`, oldest first (logs a reorg
// removed are left out).
Result<std::vector<Anchor>> read_anchors(std::string_view node_url, const ward::evm::Address& contract,
                                         const LedgerId& ledger);

}  // namespace ward::ledger::evm
