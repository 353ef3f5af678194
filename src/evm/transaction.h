// EIP-1559 (type 2) transactions: the signing hash, signing, the raw bytes a
// node accepts (eth_sendRawTransaction), and a strict decoder for them.
#pragma once

#include <cstdint>
#include <optional>

#include "base/bytes.h"
#include "base/error.h"
#include "evm/address.h"
#include "evm/keccak.h"
#include "evm/signer.h"
#include "evm/u256.h"

namespace ward::evm {

// Access lists are always empty: Ward's calls do not need them.
struct Eip1559Transaction {
  std::uint64_t chain_id = 0;
  std::uint64_t nonce = 0;
  U256 max_priority_fee_per_gas;
  U256 max_fee_per_gas;
  std::uint64_t gas_limit = 0;
  std::optional<Address> to;  // absent: contract creation, `data` is the init code
  U256 value;
  Bytes data;

  // keccak256(0x02 ‖ rlp([chain_id, nonce, max_priority_fee_per_gas,
  // max_fee_per_gas, gas_limit, to, value, data, access_list])).
  Hash256 signing_hash() const;

  friend bool operator==(const Eip1559Transaction&, const Eip1559Transaction&) = default;
};

struct SignedTransaction {
  Eip1559Transaction tx;
  Signature signature;

  // 0x02 ‖ rlp([...the nine fields, y_parity, r, s]), r and s as minimal integers.
  Bytes raw() const;
  // keccak256(raw()): the hash nodes report the transaction under.
  Hash256 hash() const;
  // The signer's address. Errors: "evm.signature".
  Result<Address> sender() const;

  friend bool operator==(const SignedTransaction&, const SignedTransaction&) = default;
};

SignedTransaction sign_transaction(const Eip1559Transaction& tx, const PrivateKey& key);

// A signed type-2 transaction in its one canonical encoding (raw() gives the
// same bytes back), with an empty access list; the signature is not checked
// here (sender() does). Errors: "evm.tx" (or "evm.rlp" for bad RLP).
Result<SignedTransaction> decode_signed_transaction(ByteView raw);

// The address of a contract that `sender` creates with a transaction of
// nonce `nonce`: keccak256(rlp([sender, nonce]))[12:].
Address contract_address(const Address& sender, std::uint64_t nonce);

}  // namespace ward::evm
