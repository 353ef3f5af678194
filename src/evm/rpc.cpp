#include "evm/rpc.h"

#include <httplib.h>

#include <utility>

#include "evm/rlp.h"

namespace ward::evm {
namespace {

using json = nlohmann::json;

constexpr std::chrono::seconds kConnectTimeout{10};
constexpr std::chrono::seconds kRequestTimeout{30};

std::unexpected<Error> bad(std::string_view what, std::string_view why) {
  return fail("evm.rpc", "the node sent " + std::string(what) + " " + std::string(why));
}

const json* member(const json& object, const char* key) {
  if (!object.is_object()) return nullptr;
  const auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

// The "0x"-prefixed hex digits of a JSON string, or an error naming `what`.
Result<std::string_view> hex_digits(const json& value, std::string_view what) {
  if (!value.is_string()) return bad(what, "that is not a string");
  const std::string& text = value.get_ref<const std::string&>();
  if (!text.starts_with("0x")) return bad(what, "without 0x: " + text.substr(0, 80));
  return std::string_view(text).substr(2);
}

template <std::size_t N>
Result<std::array<std::uint8_t, N>> fixed_bytes(const json& value, std::string_view what) {
  auto bytes = read_data(value, what);
  if (!bytes) return std::unexpected(bytes.error());
  if (bytes->size() != N) {
    return bad(what, "of " + std::to_string(bytes->size()) + " bytes, not " + std::to_string(N));
  }
  std::array<std::uint8_t, N> out{};
  std::copy(bytes->begin(), bytes->end(), out.begin());
  return out;
}

// A member that must be there, read with `read`.
template <class F>
auto required(const json& object, const char* key, F read) -> decltype(read(object, key)) {
  const json* value = member(object, key);
  if (!value) return bad(std::string("an object"), std::string("without \"") + key + "\"");
  return read(*value, key);
}

// A member that may be missing or null.
template <class F>
auto optional(const json& object, const char* key, F read)
    -> Result<std::optional<typename decltype(read(object, key))::value_type>> {
  const json* value = member(object, key);
  if (!value || value->is_null()) return std::nullopt;
  auto read_value = read(*value, key);
  if (!read_value) return std::unexpected(read_value.error());
  return std::optional(std::move(*read_value));
}

Result<BlockInfo> read_block(const json& value) {
  if (!value.is_object()) return bad("a block", "that is not an object");
  BlockInfo block;
  auto number = required(value, "number", read_quantity);
  if (!number) return std::unexpected(number.error());
  block.number = *number;
  auto hash = required(value, "hash", read_hash);
  if (!hash) return std::unexpected(hash.error());
  block.hash = *hash;
  auto parent = required(value, "parentHash", read_hash);
  if (!parent) return std::unexpected(parent.error());
  block.parent_hash = *parent;
  auto timestamp = required(value, "timestamp", read_quantity);
  if (!timestamp) return std::unexpected(timestamp.error());
  block.timestamp = *timestamp;
  auto root = required(value, "receiptsRoot", read_hash);
  if (!root) return std::unexpected(root.error());
  block.receipts_root = *root;
  auto base_fee = optional(value, "baseFeePerGas", read_big_quantity);
  if (!base_fee) return std::unexpected(base_fee.error());
  block.base_fee_per_gas = *base_fee;
  return block;
}

class HttpRpcClient final : public RpcClient {
 public:
  HttpRpcClient(std::string url, const std::string& origin, std::string path)
      : RpcClient(std::move(url)), http_(origin), path_(std::move(path)) {
    http_.set_connection_timeout(kConnectTimeout);
    http_.set_read_timeout(kRequestTimeout);
    http_.set_write_timeout(kRequestTimeout);
    http_.set_keep_alive(true);
    // httplib writes a request's headers and body separately; with Nagle's
    // algorithm the body waits for the node's delayed ACK (~40 ms a call).
    http_.set_tcp_nodelay(true);
  }

 protected:
  Result<std::string> post(const std::string& body) override {
    std::string answer;
    bool too_large = false;
    httplib::Request req;
    req.method = "POST";
    req.path = path_;
    req.body = body;
    req.set_header("Content-Type", "application/json");
    req.content_receiver = [&](const char* data, std::size_t length, std::uint64_t, std::uint64_t) {
      if (answer.size() + length > kMaxRpcAnswer) {
        too_large = true;
        return false;
      }
      answer.append(data, length);
      return true;
    };
    auto res = http_.send(req);
    if (too_large) {
      return fail("evm.rpc", "the node at " + url() + " sent an answer over " +
                                 std::to_string(kMaxRpcAnswer >> 20) + " MiB");
    }
    if (!res) return fail("evm.rpc", "cannot reach the node at " + url() + ": " + httplib::to_string(res.error()));
    if (res->status != 200) {
      return fail("evm.rpc", "the node at " + url() + " answered HTTP " + std::to_string(res->status) +
                                 (answer.empty() ? "" : ": " + answer.substr(0, 200)));
    }
    return answer;
  }

 private:
  httplib::Client http_;
  std::string path_;
};

}  // namespace

Result<std::uint64_t> read_quantity(const json& value, std::string_view what) {
  auto big = read_big_quantity(value, what);
  if (!big) return std::unexpected(big.error());
  auto small = big->to_uint64();
  if (!small) return bad(what, "past 2^64: " + big->to_decimal());
  return *small;
}

Result<U256> read_big_quantity(const json& value, std::string_view what) {
  if (!value.is_string()) return bad(what, "that is not a quantity string");
  auto parsed = U256::from_quantity(value.get_ref<const std::string&>());
  if (!parsed) return bad(what, "as a bad quantity: " + parsed.error().message);
  return *parsed;
}

Result<Bytes> read_data(const json& value, std::string_view what) {
  auto digits = hex_digits(value, what);
  if (!digits) return std::unexpected(digits.error());
  auto bytes = hex_decode(*digits);
  if (!bytes) return bad(what, "that is not hex data: " + bytes.error().message);
  return std::move(*bytes);
}

Result<Hash256> read_hash(const json& value, std::string_view what) { return fixed_bytes<32>(value, what); }

Result<Address> read_address(const json& value, std::string_view what) {
  auto bytes = fixed_bytes<20>(value, what);
  if (!bytes) return std::unexpected(bytes.error());
  return Address{*bytes};
}

namespace {

// The consensus part of a log: address, topics, data.
Result<Log> read_log_body(const json& value) {
  if (!value.is_object()) return bad("a log", "that is not an object");
  Log log;
  auto address = required(value, "address", read_address);
  if (!address) return std::unexpected(address.error());
  log.address = *address;
  const json* topics = member(value, "topics");
  if (!topics || !topics->is_array() || topics->size() > 4) return bad("a log", "without 0 to 4 topics");
  for (const auto& t : *topics) {
    auto topic = read_hash(t, "topic");
    if (!topic) return std::unexpected(topic.error());
    log.topics.push_back(*topic);
  }
  auto data = required(value, "data", read_data);
  if (!data) return std::unexpected(data.error());
  log.data = std::move(*data);
  return log;
}

}  // namespace

Result<MinedLog> read_log(const json& value) {
  auto body = read_log_body(value);
  if (!body) return std::unexpected(body.error());
  MinedLog mined;
  mined.log = std::move(*body);
  // Pending logs have no block yet; Ward reads mined ones only.
  auto block_number = required(value, "blockNumber", read_quantity);
  if (!block_number) return std::unexpected(block_number.error());
  mined.block_number = *block_number;
  auto block_hash = required(value, "blockHash", read_hash);
  if (!block_hash) return std::unexpected(block_hash.error());
  mined.block_hash = *block_hash;
  auto tx_hash = required(value, "transactionHash", read_hash);
  if (!tx_hash) return std::unexpected(tx_hash.error());
  mined.transaction_hash = *tx_hash;
  auto tx_index = required(value, "transactionIndex", read_quantity);
  if (!tx_index) return std::unexpected(tx_index.error());
  mined.transaction_index = *tx_index;
  auto log_index = required(value, "logIndex", read_quantity);
  if (!log_index) return std::unexpected(log_index.error());
  mined.log_index = *log_index;
  if (const json* removed = member(value, "removed")) {
    if (!removed->is_boolean()) return bad("a log", "whose \"removed\" is not a boolean");
    mined.removed = removed->get<bool>();
  }
  return mined;
}

Result<MinedReceipt> read_receipt(const json& value) {
  if (!value.is_object()) return bad("a receipt", "that is not an object");
  MinedReceipt r;
  auto hash = required(value, "transactionHash", read_hash);
  if (!hash) return std::unexpected(hash.error());
  r.transaction_hash = *hash;
  auto index = required(value, "transactionIndex", read_quantity);
  if (!index) return std::unexpected(index.error());
  r.transaction_index = *index;
  auto type = optional(value, "type", read_quantity);
  if (!type) return std::unexpected(type.error());
  if (type->value_or(0) > 0x7f) return bad("a receipt", "of transaction type " + std::to_string(**type));
  r.receipt.type = static_cast<std::uint8_t>(type->value_or(0));
  auto block_hash = required(value, "blockHash", read_hash);
  if (!block_hash) return std::unexpected(block_hash.error());
  r.block_hash = *block_hash;
  auto block_number = required(value, "blockNumber", read_quantity);
  if (!block_number) return std::unexpected(block_number.error());
  r.block_number = *block_number;
  auto from = required(value, "from", read_address);
  if (!from) return std::unexpected(from.error());
  r.from = *from;
  auto to = optional(value, "to", read_address);
  if (!to) return std::unexpected(to.error());
  r.to = *to;
  auto created = optional(value, "contractAddress", read_address);
  if (!created) return std::unexpected(created.error());
  r.contract_address = *created;
  auto status = required(value, "status", read_quantity);
  if (!status) return std::unexpected(status.error());
  if (*status > 1) return bad("a receipt", "with status " + std::to_string(*status));
  r.receipt.success = *status == 1;
  auto gas = required(value, "gasUsed", read_quantity);
  if (!gas) return std::unexpected(gas.error());
  r.gas_used = *gas;
  auto cumulative = required(value, "cumulativeGasUsed", read_quantity);
  if (!cumulative) return std::unexpected(cumulative.error());
  r.receipt.cumulative_gas_used = *cumulative;
  auto price = optional(value, "effectiveGasPrice", read_big_quantity);
  if (!price) return std::unexpected(price.error());
  r.effective_gas_price = price->value_or(U256());
  auto bloom = required(value, "logsBloom", read_data);
  if (!bloom) return std::unexpected(bloom.error());
  if (bloom->size() != r.receipt.logs_bloom.size())
    return bad("a receipt", "whose logsBloom is not 256 bytes");
  std::copy(bloom->begin(), bloom->end(), r.receipt.logs_bloom.begin());
  const json* logs = member(value, "logs");
  if (!logs || !logs->is_array()) return bad("a receipt", "without logs");
  for (const auto& l : *logs) {
    auto log = read_log_body(l);
    if (!log) return std::unexpected(log.error());
    r.receipt.logs.push_back(std::move(*log));
  }
  return r;
}

std::string data_text(ByteView data) { return "0x" + hex_encode(data); }

std::string quantity_text(std::uint64_t v) { return U256(v).to_quantity(); }

Result<std::unique_ptr<RpcClient>> RpcClient::open(std::string_view url) {
  constexpr std::string_view kScheme = "http://";
  if (!url.starts_with(kScheme)) {
    return fail("evm.rpc", "bad node URL '" + std::string(url) + "' (expected http://HOST:PORT)");
  }
  const std::string_view rest = url.substr(kScheme.size());
  const std::size_t slash = rest.find('/');
  const std::string_view authority = rest.substr(0, slash);
  const std::string path = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  if (authority.empty() || authority.find_first_of("?#@ ") != std::string_view::npos ||
      path.find_first_of("?# ") != std::string::npos) {
    return fail("evm.rpc", "bad node URL '" + std::string(url) + "' (expected http://HOST:PORT)");
  }
  return std::unique_ptr<RpcClient>(
      new HttpRpcClient(std::string(url), std::string(kScheme) + std::string(authority), path));
}

Result<RpcClient::Reply> RpcClient::exchange(std::string_view method, json params) {
  const std::uint64_t id = next_id_++;
  const json body = {{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", std::move(params)}};
  auto answer = post(body.dump());
  if (!answer) return std::unexpected(answer.error());
  json reply = json::parse(*answer, nullptr, false);
  const std::string what = "an answer to " + std::string(method);
  if (reply.is_discarded() || !reply.is_object()) return bad(what, "that is not a JSON object");
  const json* reply_id = member(reply, "id");
  if (!reply_id || !reply_id->is_number_unsigned() || reply_id->get<std::uint64_t>() != id) {
    return bad(what, "for another request id");
  }
  Reply out;
  if (const json* error = member(reply, "error")) {
    NodeError e;
    const json* message = member(*error, "message");
    const json* code = member(*error, "code");
    e.message = message && message->is_string() ? message->get<std::string>() : "no message";
    if (e.message.size() > 300) e.message = e.message.substr(0, 300) + "...";
    if (code && code->is_number_integer()) e.code = code->get<std::int64_t>();
    if (const json* data = member(*error, "data"); data && data->is_string()) {
      auto bytes = read_data(*data, "error data");
      if (bytes) e.data = std::move(*bytes);
    }
    out.error = std::move(e);
    return out;
  }
  const json* result = member(reply, "result");
  if (!result) return bad(what, "without a result");
  out.result = *result;
  return out;
}

std::unexpected<Error> RpcClient::refused(std::string_view method, const NodeError& e) const {
  std::string reason = "the node at " + url_ + " refused " + std::string(method) + ": " + e.message;
  if (e.code) reason += " (code " + std::to_string(*e.code) + ")";
  return fail("evm.node", reason);
}

Result<json> RpcClient::request(std::string_view method, json params) {
  auto reply = exchange(method, std::move(params));
  if (!reply) return std::unexpected(reply.error());
  if (reply->error) return refused(method, *reply->error);
  return std::move(reply->result);
}

Result<std::uint64_t> RpcClient::chain_id() {
  auto r = request("eth_chainId", json::array());
  if (!r) return std::unexpected(r.error());
  return read_quantity(*r, "the chain id");
}

Result<std::uint64_t> RpcClient::block_number() {
  auto r = request("eth_blockNumber", json::array());
  if (!r) return std::unexpected(r.error());
  return read_quantity(*r, "the block number");
}

Result<std::uint64_t> RpcClient::transaction_count(const Address& address, std::string_view block) {
  auto r = request("eth_getTransactionCount", json::array({data_text(address.bytes), block}));
  if (!r) return std::unexpected(r.error());
  return read_quantity(*r, "the transaction count");
}

Result<Bytes> RpcClient::code(const Address& address) {
  auto r = request("eth_getCode", json::array({data_text(address.bytes), "latest"}));
  if (!r) return std::unexpected(r.error());
  return read_data(*r, "the code");
}

Result<U256> RpcClient::balance(const Address& address) {
  auto r = request("eth_getBalance", json::array({data_text(address.bytes), "latest"}));
  if (!r) return std::unexpected(r.error());
  return read_big_quantity(*r, "the balance");
}

namespace {

// Whether a node's error is a call that reverted: geth and anvil answer
// code 3 "execution reverted" with the revert data in error.data; a bare
// revert has none.
bool is_revert(const RpcClient::NodeError& e) {
  return e.code == 3 || e.message.starts_with("execution reverted");
}

json call_object(const std::optional<Address>& from, const std::optional<Address>& to, ByteView data,
                 const U256& value = U256()) {
  json call = {{"data", data_text(data)}};
  if (!value.is_zero()) call["value"] = value.to_quantity();
  if (from) call["from"] = data_text(from->bytes);
  if (to) call["to"] = data_text(to->bytes);
  return call;
}

}  // namespace

Result<CallResult> RpcClient::call(const std::optional<Address>& from, const Address& to, ByteView data,
                                   std::string_view block) {
  auto r = exchange("eth_call", json::array({call_object(from, to, data), block}));
  if (!r) return std::unexpected(r.error());
  if (r->error) {
    if (is_revert(*r->error)) return CallResult{true, std::move(r->error->data)};
    return refused("eth_call", *r->error);
  }
  auto out = read_data(r->result, "the call's result");
  if (!out) return std::unexpected(out.error());
  return CallResult{false, std::move(*out)};
}

Result<std::variant<std::uint64_t, CallResult>> RpcClient::estimate_gas(const Address& from,
                                                                        const std::optional<Address>& to,
                                                                        ByteView data, const U256& value) {
  auto r = exchange("eth_estimateGas", json::array({call_object(from, to, data, value)}));
  if (!r) return std::unexpected(r.error());
  if (r->error) {
    if (is_revert(*r->error)) return CallResult{true, std::move(r->error->data)};
    return refused("eth_estimateGas", *r->error);
  }
  auto gas = read_quantity(r->result, "the gas estimate");
  if (!gas) return std::unexpected(gas.error());
  return *gas;
}

Result<U256> RpcClient::max_priority_fee_per_gas() {
  auto r = request("eth_maxPriorityFeePerGas", json::array());
  if (!r) return std::unexpected(r.error());
  return read_big_quantity(*r, "the priority fee");
}

Result<Hash256> RpcClient::send_raw_transaction(ByteView raw) {
  const Hash256 hash = keccak256(raw);
  auto r = exchange("eth_sendRawTransaction", json::array({data_text(raw)}));
  if (!r) return std::unexpected(r.error());
  if (r->error) {
    if (r->error->message.find("already known") != std::string::npos) return hash;
    return refused("eth_sendRawTransaction", *r->error);
  }
  auto filed = read_hash(r->result, "the transaction hash");
  if (!filed) return std::unexpected(filed.error());
  if (*filed != hash) return bad("a transaction hash", "that is not the hash of the bytes sent");
  return hash;
}

Result<std::optional<MinedReceipt>> RpcClient::receipt(const Hash256& transaction) {
  auto r = request("eth_getTransactionReceipt", json::array({data_text(transaction)}));
  if (!r) return std::unexpected(r.error());
  if (r->is_null()) return std::nullopt;
  auto receipt = read_receipt(*r);
  if (!receipt) return std::unexpected(receipt.error());
  if (receipt->transaction_hash != transaction) return bad("a receipt", "for another transaction");
  return std::optional(std::move(*receipt));
}

Result<std::vector<MinedReceipt>> RpcClient::block_receipts(std::uint64_t number) {
  auto r = request("eth_getBlockReceipts", json::array({quantity_text(number)}));
  if (!r) return std::unexpected(r.error());
  if (!r->is_array()) return bad("the block's receipts", "that are not an array");
  std::vector<MinedReceipt> out;
  for (const auto& item : *r) {
    auto receipt = read_receipt(item);
    if (!receipt) return std::unexpected(receipt.error());
    if (receipt->block_number != number || receipt->transaction_index != out.size()) {
      return bad("the block's receipts", "out of order or from another block");
    }
    out.push_back(std::move(*receipt));
  }
  return out;
}

Result<std::optional<BlockInfo>> RpcClient::block(std::uint64_t number) {
  auto r = request("eth_getBlockByNumber", json::array({quantity_text(number), false}));
  if (!r) return std::unexpected(r.error());
  if (r->is_null()) return std::nullopt;
  auto block = read_block(*r);
  if (!block) return std::unexpected(block.error());
  if (block->number != number) return bad("a block", "other than the one asked for");
  return std::optional(std::move(*block));
}

Result<BlockInfo> RpcClient::latest_block() {
  auto r = request("eth_getBlockByNumber", json::array({"latest", false}));
  if (!r) return std::unexpected(r.error());
  return read_block(*r);
}

namespace {

// A header's fields in the order its RLP lists them: the 15 every header has,
// then those forks appended (London through Prague), each present only when
// all before it are.
enum class Kind { Hash, Address, Bloom, Quantity, Data, Nonce };
constexpr std::pair<const char*, Kind> kHeaderFields[] = {
    {"parentHash", Kind::Hash},
    {"sha3Uncles", Kind::Hash},
    {"miner", Kind::Address},
    {"stateRoot", Kind::Hash},
    {"transactionsRoot", Kind::Hash},
    {"receiptsRoot", Kind::Hash},
    {"logsBloom", Kind::Bloom},
    {"difficulty", Kind::Quantity},
    {"number", Kind::Quantity},
    {"gasLimit", Kind::Quantity},
    {"gasUsed", Kind::Quantity},
    {"timestamp", Kind::Quantity},
    {"extraData", Kind::Data},
    {"mixHash", Kind::Hash},
    {"nonce", Kind::Nonce},
    {"baseFeePerGas", Kind::Quantity},
    {"withdrawalsRoot", Kind::Hash},
    {"blobGasUsed", Kind::Quantity},
    {"excessBlobGas", Kind::Quantity},
    {"parentBeaconBlockRoot", Kind::Hash},
    {"requestsHash", Kind::Hash},
};
constexpr std::size_t kRequiredHeaderFields = 15;

Result<RlpItem> header_field(const json& value, const char* name, Kind kind) {
  const std::string what = std::string("the block's ") + name;
  if (kind == Kind::Quantity) {
    auto q = read_big_quantity(value, what);
    if (!q) return std::unexpected(q.error());
    return RlpItem::uint(*q);
  }
  auto data = read_data(value, what);
  if (!data) return std::unexpected(data.error());
  const std::size_t size = kind == Kind::Hash      ? 32
                           : kind == Kind::Address ? 20
                           : kind == Kind::Bloom   ? 256
                                                   : 8;
  if (kind != Kind::Data && data->size() != size)
    return bad(what, "of " + std::to_string(data->size()) + " bytes, not " + std::to_string(size));
  return RlpItem::string(*data);
}

}  // namespace

Result<RawBlock> RpcClient::raw_block(std::uint64_t number) {
  auto r = request("eth_getBlockByNumber", json::array({quantity_text(number), false}));
  if (!r) return std::unexpected(r.error());
  if (r->is_null()) return bad("block " + std::to_string(number), "that the node does not have");
  auto info = read_block(*r);
  if (!info) return std::unexpected(info.error());
  if (info->number != number) return bad("a block", "other than the one asked for");
  std::vector<RlpItem> fields;
  for (const auto& [name, kind] : kHeaderFields) {
    const json* value = member(*r, name);
    if (!value || value->is_null()) break;
    auto field = header_field(*value, name, kind);
    if (!field) return std::unexpected(field.error());
    fields.push_back(std::move(*field));
  }
  if (fields.size() < kRequiredHeaderFields)
    return bad("block " + std::to_string(number), "without all header fields");
  RawBlock block;
  block.header = rlp_encode(RlpItem::list(std::move(fields)));
  if (keccak256(block.header) != info->hash) {
    return bad("block " + std::to_string(number),
               "whose header fields do not hash to its hash (fields this client does not know?)");
  }
  const json* hashes = member(*r, "transactions");
  if (!hashes || !hashes->is_array()) return bad("the block's transactions", "that are not an array");
  for (const auto& item : *hashes) {
    auto hash = read_hash(item, "a transaction hash");
    if (!hash) return std::unexpected(hash.error());
    auto raw = request("eth_getRawTransactionByHash", json::array({data_text(*hash)}));
    if (!raw) return std::unexpected(raw.error());
    auto bytes = read_data(*raw, "a raw transaction");
    if (!bytes) return std::unexpected(bytes.error());
    if (keccak256(*bytes) != *hash) return bad("a raw transaction", "that does not hash to its hash");
    block.transactions.push_back(std::move(*bytes));
  }
  return block;
}

Result<std::vector<MinedLog>> RpcClient::logs(const LogFilter& filter) {
  json f = {{"fromBlock", quantity_text(filter.from_block)},
            {"toBlock", filter.to_block ? quantity_text(*filter.to_block) : "latest"}};
  if (filter.address) f["address"] = data_text(filter.address->bytes);
  json topics = json::array();
  for (const auto& options : filter.topics) {
    if (options.empty()) {
      topics.push_back(nullptr);
      continue;
    }
    json any = json::array();
    for (const auto& t : options) any.push_back(data_text(t));
    topics.push_back(std::move(any));
  }
  if (!filter.topics.empty()) f["topics"] = std::move(topics);
  auto r = request("eth_getLogs", json::array({std::move(f)}));
  if (!r) return std::unexpected(r.error());
  if (!r->is_array()) return bad("logs", "that are not an array");
  std::vector<MinedLog> out;
  for (const auto& item : *r) {
    auto log = read_log(item);
    if (!log) return std::unexpected(log.error());
    out.push_back(std::move(*log));
  }
  return out;
}

}  // namespace ward::evm
