#include "evm/receipt.h"

#include <algorithm>
#include <string>

#include "evm/rlp.h"

namespace ward::evm {
namespace {

// Three bits per item, from the low 11 bits of the first three byte pairs of
// its hash; bit 0 is the last byte's lowest bit.
void add_to_bloom(Bloom& bloom, ByteView item) {
  Hash256 h = keccak256(item);
  for (std::size_t i = 0; i < 6; i += 2) {
    unsigned bit = ((unsigned{h[i]} << 8) | h[i + 1]) & 2047;
    bloom[255 - bit / 8] |= static_cast<std::uint8_t>(1u << (bit % 8));
  }
}

std::unexpected<Error> bad(const std::string& why) {
  return fail("evm.receipt", "the receipt " + why);
}

Result<Log> decode_log(const RlpItem& item) {
  if (!item.is_list || item.items.size() != 3) return bad("has a log that is not [address, topics, data]");
  const RlpItem& address = item.items[0];
  const RlpItem& topics = item.items[1];
  const RlpItem& data = item.items[2];
  if (address.is_list || address.bytes.size() != 20) return bad("has a log with a bad address");
  if (!topics.is_list || topics.items.size() > 4) return bad("has a log with bad topics");
  if (data.is_list) return bad("has a log whose data is a list");
  Log log;
  std::copy(address.bytes.begin(), address.bytes.end(), log.address.bytes.begin());
  for (const RlpItem& t : topics.items) {
    Hash256 topic{};
    if (t.is_list || t.bytes.size() != topic.size()) return bad("has a log topic that is not 32 bytes");
    std::copy(t.bytes.begin(), t.bytes.end(), topic.begin());
    log.topics.push_back(topic);
  }
  log.data = data.bytes;
  return log;
}

}  // namespace

Result<Receipt> decode_receipt(ByteView encoded) {
  Receipt receipt;
  receipt.type = 0;
  if (encoded.empty()) return bad("is empty");
  // A typed receipt starts with its type (0x01..0x7f); a legacy one with its list.
  if (encoded[0] < 0x80) {
    if (encoded[0] == 0) return bad("has type 0, which a legacy receipt does not write");
    receipt.type = encoded[0];
    encoded = encoded.subspan(1);
  }
  auto item = rlp_decode(encoded);
  if (!item) return bad("is not RLP: " + item.error().message);
  if (!item->is_list || item->items.size() != 4) return bad("is not [status, cumulative gas, bloom, logs]");
  const auto& f = item->items;
  auto status = f[0].to_uint64();
  if (!status || *status > 1) return bad("has a status other than 0 or 1 (a pre-Byzantium state root?)");
  receipt.success = *status == 1;
  auto gas = f[1].to_uint64();
  if (!gas) return bad("has a bad cumulative gas: " + gas.error().message);
  receipt.cumulative_gas_used = *gas;
  if (f[2].is_list || f[2].bytes.size() != receipt.logs_bloom.size())
    return bad("has a bloom that is not 256 bytes");
  std::copy(f[2].bytes.begin(), f[2].bytes.end(), receipt.logs_bloom.begin());
  if (!f[3].is_list) return bad("has logs that are not a list");
  for (const RlpItem& l : f[3].items) {
    auto log = decode_log(l);
    if (!log) return std::unexpected(log.error());
    receipt.logs.push_back(std::move(*log));
  }
  return receipt;
}

Bloom logs_bloom(const std::vector<Log>& logs) {
  Bloom bloom{};
  for (const Log& log : logs) {
    add_to_bloom(bloom, log.address.bytes);
    for (const Hash256& topic : log.topics) add_to_bloom(bloom, topic);
  }
  return bloom;
}

Bytes receipt_rlp(const Receipt& receipt) {
  std::vector<RlpItem> logs;
  for (const Log& log : receipt.logs) {
    std::vector<RlpItem> topics;
    for (const Hash256& topic : log.topics) topics.push_back(RlpItem::string(topic));
    logs.push_back(RlpItem::list(
        {RlpItem::string(log.address.bytes), RlpItem::list(std::move(topics)), RlpItem::string(log.data)}));
  }
  Bytes body = rlp_encode(
      RlpItem::list({RlpItem::uint(receipt.success ? 1 : 0), RlpItem::uint(receipt.cumulative_gas_used),
                     RlpItem::string(receipt.logs_bloom), RlpItem::list(std::move(logs))}));
  if (receipt.type == 0) return body;
  Bytes out{receipt.type};
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

}  // namespace ward::evm
