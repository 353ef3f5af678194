// Deploys the WardLedger contract (contract_code.h) with a party's EVM key.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/error.h"
#include "evm/address.h"
#include "evm/keccak.h"
#include "keys/party_key.h"
#include "ledger/tx.h"

namespace ward::ledger::evm {

struct Deployed {
  ward::evm::Address contract;
  std::uint64_t chain_id = 0;
  std::uint64_t block = 0;
  ward::evm::Hash256 transaction{};
  std::uint64_t gas_used = 0;
  LedgerId ledger_id{};
  std::string target;  // evm+http://HOST:PORT#0xCONTRACT, for --ledger
};

// Sends the creation code with constructor(dev) from `key`'s EVM address
// (which pays the gas) to the node at `node_url`, waits for its receipt, and
// checks the contract answers with the ledger id it must have.
// Errors: "ledger.evm", and the sender's "evm.*".
Result<Deployed> deploy_ledger(std::string_view node_url, const keys::PartyKey& key, bool dev);

}  // namespace ward::ledger::evm
