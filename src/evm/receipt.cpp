#include "evm/receipt.h"

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

}  // namespace

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
