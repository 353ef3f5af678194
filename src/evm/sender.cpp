#include "evm/sender.h"

#include <map>
#include <mutex>
#include <thread>

namespace ward::evm {
namespace {

using Clock = std::chrono::steady_clock;

// One transaction at a time per sending key in this process, so two threads
// of one party (a CVM's heartbeat and its report) never take the same nonce.
std::unique_lock<std::mutex> lock_sender(const Address& from) {
  static std::mutex map_mutex;
  static std::map<Address, std::mutex> per_sender;
  std::mutex* m = nullptr;
  {
    const std::lock_guard guard(map_mutex);
    m = &per_sender[from];
  }
  return std::unique_lock(*m);
}

std::string hash_text(const Hash256& h) { return data_text(h); }

// A node's refusal of the raw transaction, under the code that says what to
// do about it; the node's own words stay in the message.
Error classify_refusal(const Error& e) {
  const std::string& m = e.message;
  if (m.find("nonce too low") != std::string::npos || m.find("nonce too high") != std::string::npos ||
      m.find("NonceTooLow") != std::string::npos || m.find("NonceTooHigh") != std::string::npos) {
    return Error("evm.nonce", m);
  }
  if (m.find("underpriced") != std::string::npos || m.find("base fee") != std::string::npos ||
      m.find("FeeCapTooLow") != std::string::npos) {
    return Error("evm.fee", m);
  }
  if (m.find("chain id") != std::string::npos || m.find("chain ID") != std::string::npos ||
      m.find("ChainId") != std::string::npos) {
    return Error("evm.chain", m);
  }
  return e;
}

// The next pause of a poll that starts fast (anvil mines at once) and backs
// off to a second (a real chain's blocks take seconds).
std::chrono::milliseconds next_pause(std::chrono::milliseconds pause) {
  return std::min(pause * 2, std::chrono::milliseconds{1000});
}

Result<std::uint64_t> pick_nonce(RpcClient& rpc, const Address& from, const SendOptions& options,
                                 Clock::time_point deadline) {
  auto mined = rpc.transaction_count(from, "latest");
  if (!mined) return std::unexpected(mined.error());
  auto pending = rpc.transaction_count(from, "pending");
  if (!pending) return std::unexpected(pending.error());
  if (options.nonce) {
    if (*options.nonce < *mined) {
      return fail("evm.nonce", "nonce " + std::to_string(*options.nonce) + " of " + from.to_checksum() +
                                   " was used already (its next is " + std::to_string(*mined) + ")");
    }
    if (*options.nonce > *pending) {
      return fail("evm.nonce", "nonce " + std::to_string(*options.nonce) + " of " + from.to_checksum() +
                                   " would leave a gap: the node's next is " + std::to_string(*pending) +
                                   ", and a later nonce waits until the gap is filled");
    }
    return *options.nonce;
  }
  // Another process of the same party may have a transaction in flight:
  // give it the time a block takes, rather than racing it for the nonce.
  auto pause = std::chrono::milliseconds{20};
  while (*pending > *mined) {
    if (Clock::now() + pause > deadline) {
      return fail("evm.nonce", std::to_string(*pending - *mined) + " transaction(s) of " + from.to_checksum() +
                                   " are pending at the node (nonces " + std::to_string(*mined) + " to " +
                                   std::to_string(*pending - 1) +
                                   "); wait until they are mined, or replace them, before sending another");
    }
    std::this_thread::sleep_for(pause);
    pause = next_pause(pause);
    mined = rpc.transaction_count(from, "latest");
    if (!mined) return std::unexpected(mined.error());
    pending = rpc.transaction_count(from, "pending");
    if (!pending) return std::unexpected(pending.error());
  }
  return *mined;
}

struct Fees {
  std::uint64_t max_fee = 0;
  std::uint64_t priority = 0;
};

Result<Fees> pick_fees(RpcClient& rpc, const SendOptions& options) {
  auto head = rpc.latest_block();
  if (!head) return std::unexpected(head.error());
  if (!head->base_fee_per_gas) {
    return fail("evm.fee", "the chain at " + rpc.url() + " has no base fee (before London); Ward sends EIP-1559 "
                                                         "transactions only");
  }
  auto base = head->base_fee_per_gas->to_uint64();
  if (!base || *base > (std::uint64_t{1} << 60)) return fail("evm.fee", "the chain's base fee is implausibly high");
  auto suggested = rpc.max_priority_fee_per_gas();
  if (!suggested) return std::unexpected(suggested.error());
  auto priority = suggested->to_uint64();
  if (!priority || *priority > (std::uint64_t{1} << 60)) {
    return fail("evm.fee", "the node suggests an implausibly high priority fee");
  }
  Fees fees;
  fees.max_fee = options.max_fee_per_gas.value_or(2 * *base + *priority);
  if (fees.max_fee < *base) {
    return fail("evm.fee", "the fee cap of " + std::to_string(fees.max_fee) + " wei per gas is under the base fee of " +
                               std::to_string(*base) + " wei: the transaction would never be mined");
  }
  fees.priority = std::min(*priority, fees.max_fee);
  return fees;
}

// The sender must hold gas_limit × max_fee + value wei, or the node refuses the
// transaction; said before anything is signed, with what to do about it.
Result<void> check_gas_money(RpcClient& rpc, const Address& from, const Eip1559Transaction& tx) {
  auto balance = rpc.balance(from);
  if (!balance) return std::unexpected(balance.error());
  const auto max_fee = tx.max_fee_per_gas.to_uint64();
  if (!max_fee) return {};
  __extension__ using u128 = unsigned __int128;
  if (balance->bit_length() > 127 || tx.value.bit_length() > 126) return {};
  u128 value = 0;
  for (std::uint8_t byte : tx.value.big_endian()) value = (value << 8) | byte;
  const u128 need = static_cast<u128>(tx.gas_limit) * *max_fee + value;
  u128 have = 0;
  for (std::uint8_t byte : balance->big_endian()) have = (have << 8) | byte;
  if (have >= need) return {};
  const auto wei = [](u128 v) {
    std::string digits;
    do {
      digits.insert(digits.begin(), static_cast<char>('0' + static_cast<int>(v % 10)));
      v /= 10;
    } while (v != 0);
    return digits;
  };
  return fail("evm.funds", from.to_checksum() + " holds " + wei(have) +
                               " wei, and the transaction may cost up to " + wei(need) +
                               " wei (gas and value): send the address ETH (or the chain's gas token) first");
}

// Whether the node knows the transaction (pending or mined).
bool node_knows(RpcClient& rpc, const Hash256& hash) {
  auto found = rpc.request("eth_getTransactionByHash", nlohmann::json::array({data_text(hash)}));
  return found && !found->is_null();
}

// Sends the signed bytes, again (the same bytes) after a lost connection. A
// refusal after a lost answer may only mean the first send got through (the
// node then says "nonce too low" or "already known"): the node is asked for
// the transaction before the refusal counts.
Result<void> broadcast(RpcClient& rpc, const SignedTransaction& signed_tx, Clock::time_point deadline) {
  const Bytes raw = signed_tx.raw();
  const Hash256 hash = signed_tx.hash();
  auto pause = std::chrono::milliseconds{200};
  bool lost_an_answer = false;
  for (int attempt = 0;; ++attempt) {
    auto sent = rpc.send_raw_transaction(raw);
    if (sent) return {};
    if (sent.error().code != "evm.rpc") {
      if (lost_an_answer && node_knows(rpc, hash)) return {};
      return std::unexpected(classify_refusal(sent.error()));
    }
    lost_an_answer = true;
    if (attempt == 3 || Clock::now() + pause > deadline) {
      return fail("evm.rpc", "lost the node while sending transaction " + hash_text(hash) + " (nonce " +
                                 std::to_string(signed_tx.tx.nonce) +
                                 "); it may still be mined: look it up before sending another (" +
                                 sent.error().message + ")");
    }
    std::this_thread::sleep_for(pause);
    pause = next_pause(pause);
  }
}

// The receipt once it is `confirmations` deep and still in the chain.
Result<MinedReceipt> await_receipt(RpcClient& rpc, const SignedTransaction& signed_tx, const Address& from,
                                   const SendOptions& options, Clock::time_point deadline) {
  const Hash256 hash = signed_tx.hash();
  auto pause = std::chrono::milliseconds{10};
  std::optional<Error> last_error;
  while (true) {
    auto receipt = rpc.receipt(hash);
    if (!receipt) {
      if (receipt.error().code != "evm.rpc") return std::unexpected(receipt.error());
      last_error = receipt.error();
    } else if (*receipt) {
      const MinedReceipt& r = **receipt;
      auto head = rpc.block_number();
      if (!head) return std::unexpected(head.error());
      if (*head + 1 >= r.block_number + std::max<std::uint64_t>(options.confirmations, 1)) {
        auto block = rpc.block(r.block_number);
        if (!block) return std::unexpected(block.error());
        // A reorg may have replaced the block since the receipt was read.
        if (*block && (*block)->hash == r.block_hash) return std::move(**receipt);
      }
    }
    if (Clock::now() + pause > deadline) break;
    std::this_thread::sleep_for(pause);
    pause = next_pause(pause);
  }
  if (last_error) {
    return fail("evm.rpc", "lost the node while waiting for transaction " + hash_text(hash) +
                               "; it may still be mined: look it up before sending another (" +
                               last_error->message + ")");
  }
  auto mined = rpc.transaction_count(from, "latest");
  if (mined && *mined < signed_tx.tx.nonce) {
    return fail("evm.nonce", "transaction " + hash_text(hash) + " has nonce " + std::to_string(signed_tx.tx.nonce) +
                                 " but the sender's next mined nonce is " + std::to_string(*mined) +
                                 ": it waits behind a nonce gap");
  }
  return fail("evm.timeout", "transaction " + hash_text(hash) + " was not mined and confirmed " +
                                 std::to_string(options.confirmations) + " deep within " +
                                 std::to_string(options.timeout.count()) + " ms");
}

}  // namespace

Result<SendOutcome> send_call(RpcClient& rpc, const PrivateKey& key, const std::optional<Address>& to, ByteView data,
                              const SendOptions& options) {
  const Address from = key.address();
  const auto lock = lock_sender(from);
  const auto deadline = Clock::now() + options.timeout;

  auto chain = rpc.chain_id();
  if (!chain) return std::unexpected(chain.error());
  if (options.chain_id && *chain != *options.chain_id) {
    return fail("evm.chain", "the node at " + rpc.url() + " is on chain " + std::to_string(*chain) +
                                 ", not chain " + std::to_string(*options.chain_id) + " (the ledger's)");
  }

  SendOutcome outcome;
  auto estimate = rpc.estimate_gas(from, to, data, options.value);
  if (!estimate) return std::unexpected(estimate.error());
  if (auto* reverted = std::get_if<CallResult>(&*estimate)) {
    outcome.reverted = true;
    outcome.revert_data = std::move(reverted->data);
    return outcome;
  }
  const std::uint64_t gas = std::get<std::uint64_t>(*estimate);

  auto nonce = pick_nonce(rpc, from, options, deadline);
  if (!nonce) return std::unexpected(nonce.error());
  auto fees = pick_fees(rpc, options);
  if (!fees) return std::unexpected(fees.error());

  Eip1559Transaction tx;
  tx.chain_id = *chain;
  tx.nonce = *nonce;
  tx.max_priority_fee_per_gas = U256(fees->priority);
  tx.max_fee_per_gas = U256(fees->max_fee);
  // The estimate is exact for the state it ran on; the margin covers a state
  // that changes before the transaction is mined and the 63/64 rule.
  tx.gas_limit = gas + gas / 5 + 10'000;
  tx.to = to;
  tx.value = options.value;
  tx.data.assign(data.begin(), data.end());
  if (auto paid = check_gas_money(rpc, from, tx); !paid) return std::unexpected(paid.error());
  const SignedTransaction signed_tx = sign_transaction(tx, key);

  if (auto sent = broadcast(rpc, signed_tx, deadline); !sent) return std::unexpected(sent.error());
  auto receipt = await_receipt(rpc, signed_tx, from, options, deadline);
  if (!receipt) return std::unexpected(receipt.error());
  outcome.transaction = signed_tx;
  if (!receipt->receipt.success && to) {
    // Reverted on chain although the estimate passed (the state changed in
    // between): the same call on the parent block's state says why.
    outcome.reverted = true;
    if (receipt->block_number > 0) {
      auto replay = rpc.call(from, *to, data, quantity_text(receipt->block_number - 1));
      if (replay && replay->reverted) outcome.revert_data = std::move(replay->data);
    }
  } else if (!receipt->receipt.success) {
    outcome.reverted = true;
  }
  outcome.receipt = std::move(*receipt);
  return outcome;
}

}  // namespace ward::evm
