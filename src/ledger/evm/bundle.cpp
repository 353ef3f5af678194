#include "ledger/evm/bundle.h"

#include <algorithm>

#include "crypto/hash.h"
#include "evm/abi.h"
#include "evm/header.h"
#include "evm/receipt.h"
#include "evm/transaction.h"
#include "evm/trie.h"
#include "ledger/evm/calls.h"
#include "ledger/evm/reader.h"
#include "ledger/fields.h"

namespace ward::ledger::evm {
namespace {

namespace chain = ward::evm;
namespace abi = ward::evm::abi;
using json = nlohmann::json;

constexpr std::string_view kCode = "ledger.bundle";

// The events, by the bundle's key for them.
struct EventKind {
  const char* key;
  const char* name;
  const char* signature;
  const char* data;  // the non-indexed arguments
  std::size_t topics;
};
constexpr EventKind kCvmRegistered{"cvm", "CvmRegistered",
                                   "CvmRegistered(bytes32,bytes32,address,uint64,uint64,string,bytes,bytes)",
                                   "address,uint64,uint64,string,bytes,bytes", 3};
constexpr EventKind kOrderCreated{"order", "OrderCreated", "OrderCreated(uint64,bytes32,bytes32,bytes)",
                                  "bytes", 4};
constexpr EventKind kServiceStarted{"service", "ServiceStarted",
                                    "ServiceStarted(uint64,bytes32,bytes32,uint64,string,bytes)",
                                    "bytes32,bytes32,uint64,string,bytes", 2};
constexpr EventKind kOrderTaken{"taken", "OrderTaken", "OrderTaken(uint64,bytes32,uint64)", "uint64", 3};
constexpr EventKind kReportSubmitted{
    "report", "ReportSubmitted", "ReportSubmitted(uint64,bytes32,uint64,bytes)", "bytes32,uint64,bytes", 2};

std::unexpected<Error> bad(const std::string& why) {
  return fail(std::string(kCode), why);
}

// ---------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------

json hex_list(const std::vector<Bytes>& items) {
  json out = json::array();
  for (const auto& b : items) out.push_back(chain::data_text(b));
  return out;
}

Result<json> block_proof(chain::RpcClient& rpc, const chain::MinedLog& log) {
  auto block = rpc.raw_block(log.block_number);
  if (!block) return std::unexpected(block.error());
  if (chain::keccak256(block->header) != log.block_hash) {
    return bad("block " + std::to_string(log.block_number) +
               " is no longer the one the event was in (a reorg?)");
  }
  auto receipts = rpc.block_receipts(log.block_number);
  if (!receipts) return std::unexpected(receipts.error());
  std::vector<Bytes> encoded;
  for (const auto& r : *receipts) {
    if (r.block_hash != log.block_hash)
      return bad("the receipts of block " + std::to_string(log.block_number) +
                 " changed while read (a reorg?)");
    encoded.push_back(chain::receipt_rlp(r.receipt));
  }
  // The log's position within its transaction's receipt.
  if (log.transaction_index >= receipts->size()) return bad("the event's receipt is not in its block");
  const auto& logs = (*receipts)[log.transaction_index].receipt.logs;
  const auto at = std::find(logs.begin(), logs.end(), log.log);
  if (at == logs.end()) return bad("the event is not in its transaction's receipt");
  return json{{"header", chain::data_text(block->header)},
              {"receipts", hex_list(encoded)},
              {"transactions", hex_list(block->transactions)},
              {"transaction", log.transaction_index},
              {"log", static_cast<std::uint64_t>(at - logs.begin())}};
}

// ---------------------------------------------------------------------------
// Checking
// ---------------------------------------------------------------------------

// The value under `key`, or nullptr.
const json* member(const json& object, const char* key) {
  return fields::get(object, key).value_or(nullptr);
}

Result<Bytes> hex_field(const json& value, const std::string& what) {
  if (!value.is_string() || !value.get_ref<const std::string&>().starts_with("0x"))
    return bad(what + " is not 0x-prefixed hex");
  auto bytes = hex_decode(std::string_view(value.get_ref<const std::string&>()).substr(2));
  if (!bytes) return bad(what + " is not hex: " + bytes.error().message);
  return std::move(*bytes);
}

Result<std::vector<Bytes>> hex_array(const json& object, const char* key, const std::string& what) {
  const json* value = member(object, key);
  if (!value || !value->is_array() || value->empty())
    return bad(what + "'s " + key + " are not a non-empty list");
  std::vector<Bytes> out;
  for (std::size_t i = 0; i < value->size(); ++i) {
    auto b = hex_field((*value)[i], what + "'s " + key + "[" + std::to_string(i) + "]");
    if (!b) return std::unexpected(b.error());
    out.push_back(std::move(*b));
  }
  return out;
}

Result<std::uint64_t> count_field(const json& object, const char* key, const std::string& what) {
  auto n = fields::get_uint(object, key);
  if (!n) return bad(what + ": " + n.error());
  return *n;
}

// An event proven in its block, and who signed the transaction that emitted it.
struct ProvenEvent {
  chain::Log log;
  chain::Address sender;
  ProvenBlock block;
};

Result<ProvenEvent> prove_event(const json& bundle, const EventKind& kind, std::uint64_t chain_id,
                                const chain::Address& contract) {
  const std::string what = std::string("the ") + kind.name + " proof";
  const json* events = member(bundle, "events");
  const json* proof = events ? member(*events, kind.key) : nullptr;
  if (!proof || !proof->is_object()) return bad("the bundle has no " + std::string(kind.name) + " proof");
  const json* header_text = member(*proof, "header");
  if (!header_text) return bad(what + " has no header");
  auto header_bytes = hex_field(*header_text, what + "'s header");
  if (!header_bytes) return std::unexpected(header_bytes.error());
  auto header = chain::decode_header(*header_bytes);
  if (!header) return bad(what + ": " + header.error().message);
  const std::string block = "block " + std::to_string(header->number);
  auto receipts = hex_array(*proof, "receipts", what);
  if (!receipts) return std::unexpected(receipts.error());
  auto transactions = hex_array(*proof, "transactions", what);
  if (!transactions) return std::unexpected(transactions.error());
  auto index = count_field(*proof, "transaction", what);
  if (!index) return std::unexpected(index.error());
  auto log_index = count_field(*proof, "log", what);
  if (!log_index) return std::unexpected(log_index.error());
  if (receipts->size() != transactions->size())
    return bad(what + " holds " + std::to_string(receipts->size()) + " receipts for " +
               std::to_string(transactions->size()) + " transactions");
  if (*index >= receipts->size()) return bad(what + " points past its block's transactions");

  if (chain::ordered_trie_root(*receipts) != header->receipts_root)
    return bad("the receipts of " + block + " do not rebuild its receipts root");
  if (chain::ordered_trie_root(*transactions) != header->transactions_root)
    return bad("the transactions of " + block + " do not rebuild its transactions root");

  auto tx = chain::decode_signed_transaction((*transactions)[*index]);
  if (!tx) return bad(what + ": the transaction is not an EIP-1559 call: " + tx.error().message);
  if (tx->tx.chain_id != chain_id)
    return bad(what + ": the transaction is for chain " + std::to_string(tx->tx.chain_id) + ", not chain " +
               std::to_string(chain_id));
  if (tx->tx.to != contract) return bad(what + ": the transaction does not call the contract");
  auto sender = tx->sender();
  if (!sender) return bad(what + ": the transaction's signature does not recover: " + sender.error().message);

  auto receipt = chain::decode_receipt((*receipts)[*index]);
  if (!receipt) return bad(what + ": " + receipt.error().message);
  if (!receipt->success) return bad(what + ": the transaction reverted");
  if (*log_index >= receipt->logs.size()) return bad(what + " points past its receipt's logs");
  const chain::Log& log = receipt->logs[*log_index];
  auto topic = abi::event_topic(kind.signature);
  if (!topic) return std::unexpected(topic.error());
  if (log.address != contract) return bad(what + ": the event is not the contract's");
  if (log.topics.size() != kind.topics || log.topics[0] != *topic)
    return bad(what + ": the event is not " + kind.name);
  return ProvenEvent{
      log, *sender, {kind.name, header->number, header->hash, header->timestamp, receipts->size()}};
}

Result<std::vector<abi::Value>> event_data(const ProvenEvent& e, const EventKind& kind) {
  auto types = abi::parse_types(kind.data);
  if (!types) return std::unexpected(types.error());
  auto values = abi::decode(*types, e.log.data);
  if (!values) return bad(std::string(kind.name) + "'s data does not decode: " + values.error().message);
  return values;
}

}  // namespace

Result<json> make_report_bundle(chain::RpcClient& rpc, std::uint64_t chain_id, const chain::Address& contract,
                                std::uint64_t order, const BundleEvents& events) {
  json bundle = {{"format", kBundleFormat},
                 {"chain_id", chain_id},
                 {"contract", contract.to_checksum()},
                 {"order", order},
                 {"events", json::object()}};
  std::vector<std::pair<const EventKind*, const chain::MinedLog*>> proofs = {
      {&kCvmRegistered, &events.cvm_registered}, {&kOrderCreated, &events.order_created}};
  if (events.order_taken) proofs.push_back({&kOrderTaken, &*events.order_taken});
  if (events.service_started) proofs.push_back({&kServiceStarted, &*events.service_started});
  proofs.push_back({&kReportSubmitted, &events.report_submitted});
  for (const auto& [kind, log] : proofs) {
    auto proof = block_proof(rpc, *log);
    if (!proof) return std::unexpected(proof.error());
    bundle["events"][kind->key] = std::move(*proof);
  }
  return bundle;
}

Result<BundledReport> check_report_bundle(const json& bundle) {
  const json* format = member(bundle, "format");
  if (!format || *format != kBundleFormat) return bad("not a " + std::string(kBundleFormat) + " bundle");
  BundledReport out;
  auto chain_id = count_field(bundle, "chain_id", "the bundle");
  if (!chain_id) return std::unexpected(chain_id.error());
  out.chain_id = *chain_id;
  const json* contract_text = member(bundle, "contract");
  auto contract = contract_text && contract_text->is_string()
                      ? chain::Address::parse(contract_text->get_ref<const std::string&>())
                      : Result<chain::Address>(bad("the bundle names no contract"));
  if (!contract) return bad("the bundle's contract: " + contract.error().message);
  out.contract = *contract;
  out.ledger_id = ledger_id_for(out.chain_id, out.contract);
  auto order_id = count_field(bundle, "order", "the bundle");
  if (!order_id) return std::unexpected(order_id.error());
  const chain::Hash256 order_topic = chain::U256(*order_id).big_endian();

  // The CVM: its key, and the address its key binds.
  auto listed = prove_event(bundle, kCvmRegistered, out.chain_id, out.contract);
  if (!listed) return std::unexpected(listed.error());
  auto listing = event_data(*listed, kCvmRegistered);
  if (!listing) return std::unexpected(listing.error());
  const CvmId cvm_id = listed->log.topics[1];
  crypto::Ed25519PublicKey cvm_key{};
  std::copy(listed->log.topics[2].begin(), listed->log.topics[2].end(), cvm_key.begin());
  // A CVM id is its key's sha256 (ca::cvm_id).
  if (crypto::sha256(cvm_key) != cvm_id) return bad("CvmRegistered names a CVM id that is not its key's");
  auto address = (*listing)[0].as_address();
  auto binding_bytes = (*listing)[5].as_bytes();
  crypto::Ed25519Signature binding{};
  if (!address || !binding_bytes || binding_bytes->size() != binding.size())
    return bad("CvmRegistered holds no address or no 64-byte binding");
  std::copy(binding_bytes->begin(), binding_bytes->end(), binding.begin());
  if (!verify_binding(cvm_key, *address, binding))
    return bad("the CVM's address " + address->to_checksum() +
               " is not bound to its key: the binding does not verify");
  out.cvm_address = *address;
  out.blocks.push_back(listed->block);

  // The order, as its creation states it.
  auto created = prove_event(bundle, kOrderCreated, out.chain_id, out.contract);
  if (!created) return std::unexpected(created.error());
  if (created->log.topics[1] != order_topic) return bad("OrderCreated is for another order");
  auto created_data = event_data(*created, kOrderCreated);
  if (!created_data) return std::unexpected(created_data.error());
  auto args_bytes = (*created_data)[0].as_bytes();
  if (!args_bytes) return bad("OrderCreated holds no args");
  auto args = decode_order_created(*args_bytes);
  if (!args) return bad(args.error().message);
  if (args->cvm != created->log.topics[3]) return bad("OrderCreated's args name another CVM than its topic");
  const json* events = member(bundle, "events");
  out.blocks.push_back(created->block);
  if (args->offer) {
    // Placed on a tee offer: the CVM is the one that took it, by its own
    // transaction (the contract let only a CVM of the offer take it, and
    // only the taker report).
    auto taken = prove_event(bundle, kOrderTaken, out.chain_id, out.contract);
    if (!taken) return std::unexpected(taken.error());
    if (taken->log.topics[1] != order_topic) return bad("OrderTaken is for another order");
    if (taken->log.topics[2] != cvm_id) return bad("OrderTaken names another CVM than the listing's");
    if (taken->sender != *address) return bad("the order was taken by another address than the CVM's");
    if (taken->block.number < created->block.number) return bad("the order was taken before it was made");
    out.blocks.push_back(taken->block);
  } else {
    if (created->log.topics[3] != cvm_id) return bad("OrderCreated names another CVM than the listing's");
    if (created->block.number < listed->block.number)
      return bad("the order was created before its CVM was listed");
    if (events && member(*events, kOrderTaken.key))
      return bad("the bundle has an OrderTaken proof for an order that names its CVM");
  }
  Order& o = out.order;
  o.id = *order_id;
  o.creator = created->log.topics[2];
  o.cvm = cvm_id;
  o.engine = std::move(args->engine);
  o.inputs = std::move(args->inputs);
  o.outputs = std::move(args->outputs);
  o.offers = std::move(args->offers);
  o.deposit = args->deposit;
  o.created_at = created->block.timestamp;
  o.tee_offer = args->offer.value_or(0);
  o.needs = args->needs;

  // A service's start: the TLS key and endpoint its report must name.
  if (args->serve) {
    auto started = prove_event(bundle, kServiceStarted, out.chain_id, out.contract);
    if (!started) return std::unexpected(started.error());
    auto fields = event_data(*started, kServiceStarted);
    if (!fields) return std::unexpected(fields.error());
    auto start_report = (*fields)[4].as_bytes();
    auto tls = (*fields)[1].as_bytes32();
    auto endpoint = (*fields)[3].as_string();
    if (started->log.topics[1] != order_topic) return bad("ServiceStarted is for another order");
    if (started->sender != out.cvm_address)
      return bad("the service was started by another address than the CVM's");
    if (!start_report || !tls || !endpoint || *(*fields)[0].as_bytes32() != crypto::sha256(*start_report))
      return bad("ServiceStarted's start report does not hash to its reportSha256");
    if (started->block.number < created->block.number)
      return bad("the service started before its order was made");
    ServiceTerms t;
    t.rule = std::move(*args->serve);
    t.tls_key_sha256 = *tls;
    t.endpoint = *endpoint;
    t.serving_since = started->block.timestamp;
    o.serve = std::move(t);
    out.blocks.push_back(started->block);
  } else if (events && member(*events, kServiceStarted.key)) {
    return bad("the bundle has a ServiceStarted proof for a batch order");
  }

  // The report: the CVM's transaction, with the bytes whose hash the state keeps.
  auto submitted = prove_event(bundle, kReportSubmitted, out.chain_id, out.contract);
  if (!submitted) return std::unexpected(submitted.error());
  if (submitted->log.topics[1] != order_topic) return bad("ReportSubmitted is for another order");
  auto fields = event_data(*submitted, kReportSubmitted);
  if (!fields) return std::unexpected(fields.error());
  auto sha = (*fields)[0].as_bytes32();
  auto index = (*fields)[1].as_uint64();
  auto bytes = (*fields)[2].as_bytes();
  if (!sha || !index || !bytes || *sha != crypto::sha256(*bytes))
    return bad("ReportSubmitted's report does not hash to its reportSha256");
  if (submitted->sender != out.cvm_address) {
    return bad("the report was sent by " + submitted->sender.to_checksum() + ", not by the CVM's " +
               out.cvm_address.to_checksum());
  }
  if (submitted->block.number < out.blocks.back().number)
    return bad("the report precedes its order's events");
  out.report = Report{o.id, std::string(as_chars(*bytes)), *index, submitted->block.timestamp};
  o.status = OrderStatus::Done;
  o.ended_at = submitted->block.timestamp;
  out.blocks.push_back(submitted->block);
  return out;
}

}  // namespace ward::ledger::evm
