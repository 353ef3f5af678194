// A ledger held by the WardLedger contract on an EVM chain, as a
// LedgerClient: `--ledger evm+http://HOST:PORT#0xCONTRACT` (docs/evm.md).
//
// A transaction is read by the Ward parser first (the same refusals as the
// SQLite ledger), then sent as the contract call it maps to (calls.h), signed
// with the party's secp256k1 key (keys::PartyKey::evm_key), and waits until
// it is mined and confirmed. A refusal is the contract's custom error read
// back as the Ward rejection; the Receipt of an accepted call carries the
// record index its event names and, in `leaf`, the transaction's hash.
//
// An EVM ledger has no Merkle log of its own: record(), checkpoint(),
// consistency_proof() and records_after() refuse ("ledger.evm"); a chain's
// blocks and receipts are its log (orders verify checks a report's receipt).
#pragma once

#include <memory>
#include <string_view>

#include "base/error.h"
#include "evm/address.h"
#include "keys/party_key.h"
#include "ledger/client.h"

namespace ward::ledger::evm {

inline constexpr std::string_view kScheme = "evm+";

// Where `target` ("evm+http://HOST:PORT[/path]#0xCONTRACT") points.
// Errors: "ledger.client" for a target in another form.
struct EvmTarget {
  std::string node_url;  // http://HOST:PORT[/path]
  ward::evm::Address contract;
};
Result<EvmTarget> parse_target(std::string_view target);

// Opens the ledger at `target` and checks that the node's chain is the one
// the contract was deployed on (its ledger id commits to the chain id).
// Errors: "ledger.client", "ledger.evm", "evm.chain", "evm.rpc", "evm.node".
Result<std::unique_ptr<LedgerClient>> open_evm_client(std::string_view target);

// The args field a provider's cvms.register carries on an EVM ledger only:
// {"address": "0x...", "binding": "<128 hex>"}, the CVM's Ethereum address
// and its Ed25519 key's binding of it (calls.h). The client removes it before
// the Ward parser reads the args.
inline constexpr std::string_view kCvmIdentityField = "evm";

// That field's value for a CVM's key: its EVM address and its Ed25519 key's
// binding of it. A CVM's loader writes it next to its certificate, in
// kCvmIdentityFile, for the provider node that lists it.
Result<nlohmann::json> cvm_identity(const keys::PartyKey& cvm_key);
inline constexpr std::string_view kCvmIdentityFile = "cvm.evm.json";

}  // namespace ward::ledger::evm
