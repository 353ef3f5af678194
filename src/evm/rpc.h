// A node's Ethereum JSON-RPC API (eth_*) over HTTP, as anvil, geth and BNB
// Chain's nodes serve it: JSON-RPC 2.0 requests, strict reading of the
// answers (quantities, data, hashes and addresses in their one spelling).
//
// Error codes: "evm.rpc" (the node cannot be reached, or answered with
// something that is not what the API documents), "evm.node" (the node
// answered with a JSON-RPC error; the message carries the node's own).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/bytes.h"
#include "base/error.h"
#include "evm/address.h"
#include "evm/keccak.h"
#include "evm/receipt.h"
#include "evm/u256.h"

namespace ward::evm {

// The largest answer read from a node (a page of logs, a block's receipts).
inline constexpr std::size_t kMaxRpcAnswer = std::size_t{64} << 20;

// A log as eth_getLogs reports it: the log (what the receipts root commits
// to) and where it was mined.
struct MinedLog {
  Log log;
  std::uint64_t block_number = 0;
  Hash256 block_hash{};
  Hash256 transaction_hash{};
  std::uint64_t transaction_index = 0;
  std::uint64_t log_index = 0;
  bool removed = false;  // dropped by a reorg
};

// A receipt as eth_getTransactionReceipt reports it: the receipt (what the
// receipts root commits to, receipt_rlp) and where and how it was mined.
struct MinedReceipt {
  Receipt receipt;
  Hash256 transaction_hash{};
  std::uint64_t transaction_index = 0;
  Hash256 block_hash{};
  std::uint64_t block_number = 0;
  Address from;
  std::optional<Address> to;                // absent for a contract creation
  std::optional<Address> contract_address;  // the contract a creation made
  std::uint64_t gas_used = 0;
  U256 effective_gas_price;
};

// What eth_call answers: the returned data, or the revert data of a call
// that reverted (a custom error, Error(string) or Panic(uint256); empty for
// a bare revert).
struct CallResult {
  bool reverted = false;
  Bytes data;
};

struct LogFilter {
  std::optional<Address> address;
  // topics[i]: the values topic i may have (any of them); empty: any value.
  std::vector<std::vector<Hash256>> topics;
  std::uint64_t from_block = 0;
  std::optional<std::uint64_t> to_block;  // nullopt: "latest"
};

struct BlockInfo {
  std::uint64_t number = 0;
  Hash256 hash{};
  Hash256 parent_hash{};
  std::uint64_t timestamp = 0;
  Hash256 receipts_root{};
  std::optional<U256> base_fee_per_gas;  // absent before London
};

struct RawBlock {
  Bytes header;
  std::vector<Bytes> transactions;
};

class RpcClient {
 public:
  // `url` is "http://HOST:PORT" with an optional path. Errors: "evm.rpc".
  static Result<std::unique_ptr<RpcClient>> open(std::string_view url);
  virtual ~RpcClient() = default;

  const std::string& url() const { return url_; }

  // A JSON-RPC error object as the node sent it.
  struct NodeError {
    std::optional<std::int64_t> code;
    std::string message;  // cut to 300 characters
    Bytes data;           // error.data when it is hex data (revert data)
  };
  struct Reply {
    nlohmann::json result;
    std::optional<NodeError> error;
  };

  // One JSON-RPC request; its `result`, or the node's error as "evm.node".
  Result<nlohmann::json> request(std::string_view method, nlohmann::json params);
  // One JSON-RPC request, with the node's error as a value.
  Result<Reply> exchange(std::string_view method, nlohmann::json params);
  // The Error "evm.node" for the node's refusal of `method`.
  std::unexpected<Error> refused(std::string_view method, const NodeError& e) const;

  Result<std::uint64_t> chain_id();
  Result<std::uint64_t> block_number();
  // The nonce of `address`'s next transaction at `block` ("latest" counts
  // mined transactions only, "pending" also those the node holds).
  Result<std::uint64_t> transaction_count(const Address& address, std::string_view block);
  Result<Bytes> code(const Address& address);
  Result<U256> balance(const Address& address);
  // eth_call of `data` to `to` as if sent by `from`, at `block` (a tag or a
  // number).
  Result<CallResult> call(const std::optional<Address>& from, const Address& to, ByteView data,
                          std::string_view block = "latest");
  // eth_estimateGas: the gas the transaction needs, or the revert of a
  // transaction that would fail.
  Result<std::variant<std::uint64_t, CallResult>> estimate_gas(const Address& from,
                                                               const std::optional<Address>& to,
                                                               ByteView data, const U256& value = U256());
  Result<U256> max_priority_fee_per_gas();
  // Sends signed raw bytes; the hash the node files them under. A node that
  // already holds the same bytes ("already known") is not an error: sending
  // one signed transaction twice cannot include it twice.
  Result<Hash256> send_raw_transaction(ByteView raw);
  // nullopt while the transaction is not mined (or unknown to the node).
  Result<std::optional<MinedReceipt>> receipt(const Hash256& transaction);
  Result<std::vector<MinedReceipt>> block_receipts(std::uint64_t number);
  // nullopt for a block past the head.
  Result<std::optional<BlockInfo>> block(std::uint64_t number);
  Result<BlockInfo> latest_block();
  // A block as its hash covers it: the header's RLP rebuilt from the node's
  // fields (refused unless it hashes to the block's hash) and its
  // transactions as sent (each refused unless it hashes to its hash).
  Result<RawBlock> raw_block(std::uint64_t number);
  Result<std::vector<MinedLog>> logs(const LogFilter& filter);

 protected:
  explicit RpcClient(std::string url) : url_(std::move(url)) {}
  // Posts one JSON-RPC body and returns the answer's body.
  virtual Result<std::string> post(const std::string& body) = 0;

 private:
  std::string url_;
  std::uint64_t next_id_ = 1;
};

// Strict readers of the values an answer carries, shared with the ledger
// client: a quantity ("0x" and hex without leading zeros), data ("0x" and an
// even number of hex digits), a 32-byte hash, a 20-byte address.
// Errors: "evm.rpc" naming `what`.
Result<std::uint64_t> read_quantity(const nlohmann::json& value, std::string_view what);
Result<U256> read_big_quantity(const nlohmann::json& value, std::string_view what);
Result<Bytes> read_data(const nlohmann::json& value, std::string_view what);
Result<Hash256> read_hash(const nlohmann::json& value, std::string_view what);
Result<Address> read_address(const nlohmann::json& value, std::string_view what);
Result<MinedReceipt> read_receipt(const nlohmann::json& value);
Result<MinedLog> read_log(const nlohmann::json& value);

std::string data_text(ByteView data);       // "0x" and lower-case hex
std::string quantity_text(std::uint64_t v);  // "0x0", "0x1a"

}  // namespace ward::evm
