// Sends one contract call (or creation) as an EIP-1559 transaction and waits
// until it is mined and confirmed, failing closed on everything a node can do
// wrong: another chain than expected, transactions of the same key still
// pending, fees under the block's base fee, a lost connection.
//
// Never two transactions for one call: the transaction is signed once, and a
// resend after a lost connection sends the same bytes (the same hash, which
// a chain includes at most once); when the node cannot be reached again, the
// error names the transaction's hash so nobody signs a second one blindly.
//
// Error codes: "evm.chain" (the node's chain is not the one expected),
// "evm.nonce" (transactions of the sender are pending at the node, or the
// nonce asked for leaves a gap), "evm.fee" (the fee cap is under the base
// fee), "evm.funds" (the sender cannot pay for the gas), "evm.timeout" (not
// mined, or not confirmed, in time), and the RpcClient's "evm.rpc" and
// "evm.node".
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

#include "base/bytes.h"
#include "base/error.h"
#include "evm/rpc.h"
#include "evm/signer.h"
#include "evm/transaction.h"

namespace ward::evm {

struct SendOptions {
  // The chain the caller means (the one the contract was deployed on);
  // nullopt takes the node's word.
  std::optional<std::uint64_t> chain_id;
  // Blocks on top of the transaction's own before it counts as final (1: the
  // block that includes it). The receipt is read again at that depth, so a
  // transaction a reorg dropped is waited for again, not reported.
  std::uint64_t confirmations = 1;
  std::chrono::milliseconds timeout{120'000};
  // The most the sender pays per gas; nullopt: twice the base fee plus the
  // node's suggested priority fee.
  std::optional<std::uint64_t> max_fee_per_gas;
  // A nonce of the caller's choice (tests); nullopt: the node's count.
  std::optional<std::uint64_t> nonce;
  // Wei sent with the call (a transfer of the chain's coin).
  U256 value;
};

struct SendOutcome {
  // True when the call reverts: at gas estimation (nothing was sent, no gas
  // spent) or on chain (`receipt` then holds the failed receipt).
  bool reverted = false;
  Bytes revert_data;
  std::optional<MinedReceipt> receipt;
  std::optional<SignedTransaction> transaction;
};

// Sends `data` (and options.value) to `to` (a creation when nullopt) from
// `key`, and waits.
Result<SendOutcome> send_call(RpcClient& rpc, const PrivateKey& key, const std::optional<Address>& to,
                              ByteView data, const SendOptions& options = {});

}  // namespace ward::evm
