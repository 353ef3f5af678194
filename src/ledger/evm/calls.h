// What a Ward transaction is on an EVM chain: the WardLedger function it
// calls (contracts/README.md maps them), the custom error a refusal comes
// back as, read again as the Ward rejection it stands for, and the record
// index an accepted call's event carries.
//
// The Ward parser (tx.h) reads the arguments first, so both backends refuse
// the same malformed transactions with the same messages; the contract then
// applies the rules.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "base/bytes.h"
#include "base/error.h"
#include "crypto/keys.h"
#include "evm/address.h"
#include "evm/receipt.h"
#include "ledger/tx.h"

namespace ward::ledger::evm {

// Where a call goes: the chain and the contract (the ledger id names both).
struct Deployment {
  std::uint64_t chain_id = 0;
  ward::evm::Address contract;
};

// The ledger id the contract computes: sha256("ward/evm-ledger/v1" ‖
// uint256(chain id) ‖ address). A report names it, so a report signed for
// one deployment cannot be shown as another's.
LedgerId ledger_id_for(std::uint64_t chain_id, const ward::evm::Address& contract);

// The message an account's Ed25519 key signs to tie its Ward id to its
// Ethereum address: "ward/evm/binding/v1\n" ‖ address (20 bytes). Both keys
// come from one key file, so the statement is true on every chain and
// deployment; it names no chain, and a CVM's loader can make it before it
// knows which ledger it will serve.
Bytes binding_message(const ward::evm::Address& address);
crypto::Ed25519Signature sign_binding(const crypto::Ed25519PrivateKey& key,
                                      const ward::evm::Address& address);
bool verify_binding(const crypto::Ed25519PublicKey& id, const ward::evm::Address& address,
                    const crypto::Ed25519Signature& binding);

// A CVM's Ethereum identity, which its provider lists with it: the address
// its loader sends from, and the CVM key's binding of it.
struct CvmIdentity {
  ward::evm::Address address;
  crypto::Ed25519Signature binding{};
};

// The calldata of `tx` (parsed by the Ward parser). accounts.register is
// bound with `sender_key` to `sender_address`; cvms.register needs `cvm`.
// Errors: "ledger.evm" (cvms.register without a CVM identity).
Result<Bytes> encode_call(const Transaction& tx, const crypto::Ed25519PrivateKey& sender_key,
                          const ward::evm::Address& sender_address, const std::optional<CvmIdentity>& cvm);

// The Ward rejection a revert stands for: the contract's custom errors map to
// their reason codes, with a one-line message; anything else (out of gas, a
// revert no WardLedger raises) is reason "internal".
Rejection rejection_from_revert(ByteView revert_data);

// The record index of the accepted call whose receipt holds `logs`: every
// WardLedger event carries it. nullopt when no log of `contract` has one.
std::optional<std::uint64_t> record_index(const std::vector<ward::evm::Log>& logs,
                                          const ward::evm::Address& contract);

}  // namespace ward::ledger::evm
