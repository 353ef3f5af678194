#include "ledger/evm/anchor.h"

#include <algorithm>

#include "evm/abi.h"
#include "evm/rpc.h"
#include "evm/sender.h"
#include "ledger/evm/contract_code.h"

namespace ward::ledger::evm {
namespace {

namespace abi = ward::evm::abi;

constexpr std::string_view kAnchorFunction = "anchor(bytes32,uint64,bytes32,bytes)";
constexpr std::string_view kAnchoredEvent = "Anchored(bytes32,uint64,bytes32,uint64,bytes)";

// The contract's refusal, in one line.
std::string refusal(ByteView revert_data) {
  auto revert = abi::decode_revert(revert_data);
  if (!revert) return "the contract reverted with data that does not decode";
  if (revert->kind != abi::Revert::Kind::Custom) return "the contract " + revert->describe();
  if (auto f = abi::Function::parse("NotLater(uint64,uint64)"); f && f->selector() == revert->selector) {
    auto v = abi::decode_error(*f, revert_data);
    if (v && (*v)[0].as_uint64() && (*v)[1].as_uint64()) {
      return "NotLater: size " + std::to_string(*(*v)[0].as_uint64()) +
             " is not later than the last anchored size " + std::to_string(*(*v)[1].as_uint64());
    }
  }
  if (auto f = abi::Function::parse("EmptyLog()"); f && f->selector() == revert->selector) {
    return "EmptyLog: the empty log has nothing to anchor";
  }
  if (auto f = abi::Function::parse("NoteTooLong(uint256)"); f && f->selector() == revert->selector) {
    return "NoteTooLong: the note is over " + std::to_string(kMaxAnchorNote) + " bytes";
  }
  return "the contract " + revert->describe();
}

}  // namespace

Result<AnchorDeployed> deploy_anchor(std::string_view node_url, const keys::PartyKey& key) {
  auto rpc = ward::evm::RpcClient::open(node_url);
  if (!rpc) return std::unexpected(rpc.error());
  auto evm_key = key.evm_key();
  if (!evm_key) return std::unexpected(evm_key.error());
  auto code = hex_decode(anchor_code().creation_hex.substr(2));
  if (!code) return fail("ledger.anchor", "the embedded anchor contract code is not hex");
  auto sent = ward::evm::send_call(**rpc, *evm_key, std::nullopt, *code);
  if (!sent) return fail(sent.error(), "deploying the anchor contract");
  if (sent->reverted || !sent->receipt || !sent->receipt->contract_address) {
    return fail("ledger.anchor", "the anchor contract's deployment reverted");
  }
  AnchorDeployed d;
  d.contract = *sent->receipt->contract_address;
  d.chain_id = sent->transaction->tx.chain_id;
  d.block = sent->receipt->block_number;
  d.transaction = sent->receipt->transaction_hash;
  d.gas_used = sent->receipt->gas_used;
  std::string url(node_url);
  while (url.ends_with('/')) url.pop_back();
  d.target = "evm+" + url + "#" + d.contract.to_checksum();
  return d;
}

Result<AnchorPosted> post_anchor(std::string_view node_url, const ward::evm::Address& contract,
                                 const keys::PartyKey& key, const LedgerId& ledger, std::uint64_t size,
                                 const Hash& root, std::string_view note) {
  if (note.size() > kMaxAnchorNote) {
    return fail("ledger.anchor", "the checkpoint note is over " + std::to_string(kMaxAnchorNote) + " bytes");
  }
  auto rpc = ward::evm::RpcClient::open(node_url);
  if (!rpc) return std::unexpected(rpc.error());
  auto evm_key = key.evm_key();
  if (!evm_key) return std::unexpected(evm_key.error());
  auto f = abi::Function::parse(kAnchorFunction);
  if (!f) return std::unexpected(f.error());
  const ByteView note_bytes(reinterpret_cast<const std::uint8_t*>(note.data()), note.size());
  auto data = f->encode_call({abi::Value::bytes(ledger), abi::Value::uint(ward::evm::U256(size)),
                              abi::Value::bytes(root), abi::Value::bytes(note_bytes)});
  if (!data) return std::unexpected(data.error());
  auto sent = ward::evm::send_call(**rpc, *evm_key, contract, *data);
  if (!sent) return fail(sent.error(), "posting the anchor");
  if (sent->reverted) return fail("ledger.anchor", "the anchor was refused: " + refusal(sent->revert_data));
  if (!sent->receipt) return fail("ledger.anchor", "the anchor has no receipt");
  return AnchorPosted{sent->receipt->block_number, sent->receipt->transaction_hash, sent->receipt->gas_used};
}

Result<std::vector<Anchor>> read_anchors(std::string_view node_url, const ward::evm::Address& contract,
                                         const LedgerId& ledger) {
  auto rpc = ward::evm::RpcClient::open(node_url);
  if (!rpc) return std::unexpected(rpc.error());
  auto topic = abi::event_topic(kAnchoredEvent);
  if (!topic) return std::unexpected(topic.error());
  ward::evm::Hash256 id{};
  std::copy(ledger.begin(), ledger.end(), id.begin());
  ward::evm::LogFilter filter;
  filter.address = contract;
  filter.topics = {{*topic}, {id}};
  auto logs = (*rpc)->logs(filter);
  if (!logs) return fail(logs.error(), "reading the anchors");
  auto types = abi::parse_types("uint64,bytes32,uint64,bytes");
  if (!types) return std::unexpected(types.error());
  std::vector<Anchor> anchors;
  for (const auto& mined : *logs) {
    if (mined.removed) continue;
    const auto& log = mined.log;
    // A node that answers with logs the filter excludes is not trusted for the rest.
    if (log.address != contract || log.topics.size() != 2 || log.topics[0] != *topic || log.topics[1] != id) {
      return fail("ledger.anchor", "the node answered with a log the filter excludes (block " +
                                       std::to_string(mined.block_number) + ")");
    }
    const std::string where = "the Anchored event in block " + std::to_string(mined.block_number);
    auto values = abi::decode(*types, log.data);
    if (!values) return fail("ledger.anchor", where + " does not decode");
    auto size = (*values)[0].as_uint64();
    auto root = (*values)[1].as_bytes32();
    auto time = (*values)[2].as_uint64();
    auto note = (*values)[3].as_bytes();
    if (!size || !root || !time || !note) return fail("ledger.anchor", where + " does not decode");
    Anchor a;
    a.block = mined.block_number;
    a.transaction = mined.transaction_hash;
    a.time = *time;
    a.size = *size;
    std::copy(root->begin(), root->end(), a.root.begin());
    a.note.assign(note->begin(), note->end());
    anchors.push_back(std::move(a));
  }
  std::stable_sort(anchors.begin(), anchors.end(),
                   [](const Anchor& a, const Anchor& b) { return a.block < b.block; });
  return anchors;
}

}  // namespace ward::ledger::evm
