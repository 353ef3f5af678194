#include "evm/header.h"

#include <algorithm>
#include <string>

#include "evm/rlp.h"

namespace ward::evm {
namespace {

// The fields every header has, in order (yellow paper 4.3).
enum Field : std::size_t {
  kParentHash = 0,
  kOmmersHash = 1,
  kBeneficiary = 2,
  kStateRoot = 3,
  kTransactionsRoot = 4,
  kReceiptsRoot = 5,
  kLogsBloom = 6,
  kNumber = 8,
  kTimestamp = 11,
  kFieldsSince = 15,  // through the nonce
};

std::unexpected<Error> bad(const std::string& why) {
  return fail("evm.header", "the block header " + why);
}

Result<Hash256> word(const RlpItem& item, const char* name) {
  Hash256 out{};
  if (item.is_list || item.bytes.size() != out.size()) return bad(std::string("has a bad ") + name);
  std::copy(item.bytes.begin(), item.bytes.end(), out.begin());
  return out;
}

}  // namespace

Result<BlockHeader> decode_header(ByteView rlp) {
  auto item = rlp_decode(rlp);
  if (!item) return bad("is not RLP: " + item.error().message);
  if (!item->is_list || item->items.size() < kFieldsSince)
    return bad("is not a list of at least " + std::to_string(kFieldsSince) + " fields");
  const auto& f = item->items;
  BlockHeader h;
  h.hash = keccak256(rlp);
  struct Word {
    Field index;
    const char* name;
    Hash256* out;
  };
  Hash256 ignored{};
  for (const Word& w : {Word{kParentHash, "parent hash", &h.parent_hash},
                        Word{kOmmersHash, "ommers hash", &ignored}, Word{kStateRoot, "state root", &ignored},
                        Word{kTransactionsRoot, "transactions root", &h.transactions_root},
                        Word{kReceiptsRoot, "receipts root", &h.receipts_root}}) {
    auto value = word(f[w.index], w.name);
    if (!value) return std::unexpected(value.error());
    *w.out = *value;
  }
  if (f[kBeneficiary].is_list || f[kBeneficiary].bytes.size() != 20) return bad("has a bad beneficiary");
  if (f[kLogsBloom].is_list || f[kLogsBloom].bytes.size() != 256) return bad("has a bad logs bloom");
  auto number = f[kNumber].to_uint64();
  if (!number) return bad("has a bad number: " + number.error().message);
  auto timestamp = f[kTimestamp].to_uint64();
  if (!timestamp) return bad("has a bad timestamp: " + timestamp.error().message);
  h.number = *number;
  h.timestamp = *timestamp;
  return h;
}

}  // namespace ward::evm
