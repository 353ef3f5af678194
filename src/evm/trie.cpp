#include "evm/trie.h"

#include <algorithm>
#include <cstdint>
#include <utility>

#include "evm/rlp.h"

namespace ward::evm {
namespace {

using Nibbles = std::vector<std::uint8_t>;

struct Entry {
  Nibbles key;
  ByteView value;
};

// Hex-prefix encoding (yellow paper, appendix C): a flag nibble (2 for a
// leaf, plus 1 when the path has odd length), padded to whole bytes.
Bytes compact(std::span<const std::uint8_t> path, bool leaf) {
  std::uint8_t flag = (leaf ? 2 : 0) + (path.size() % 2);
  Bytes out;
  std::size_t i = 0;
  if (path.size() % 2 == 1) {
    out.push_back(static_cast<std::uint8_t>(flag << 4 | path[0]));
    i = 1;
  } else {
    out.push_back(static_cast<std::uint8_t>(flag << 4));
  }
  for (; i < path.size(); i += 2) out.push_back(static_cast<std::uint8_t>(path[i] << 4 | path[i + 1]));
  return out;
}

// How a parent holds a child: inline when its encoding is under 32 bytes.
RlpItem reference(const RlpItem& node) {
  Bytes encoded = rlp_encode(node);
  if (encoded.size() < 32) return node;
  return RlpItem::string(keccak256(encoded));
}

// The node holding `entries` (sorted, non-empty, sharing their first `depth`
// nibbles).
RlpItem node(std::span<const Entry> entries, std::size_t depth) {
  if (entries.size() == 1) {
    const Entry& only = entries.front();
    return RlpItem::list(
        {RlpItem::string(compact(std::span(only.key).subspan(depth), true)), RlpItem::string(only.value)});
  }
  // Sorted, so the first and last keys bound the prefix they all share.
  const Nibbles& first = entries.front().key;
  const Nibbles& last = entries.back().key;
  std::size_t shared = depth;
  while (shared < first.size() && shared < last.size() && first[shared] == last[shared]) ++shared;
  if (shared > depth) {
    return RlpItem::list({RlpItem::string(compact(std::span(first).subspan(depth, shared - depth), false)),
                          reference(node(entries, shared))});
  }
  std::vector<RlpItem> branch(17, RlpItem::string({}));
  std::size_t i = 0;
  if (first.size() == depth) {
    branch[16] = RlpItem::string(entries.front().value);
    i = 1;
  }
  while (i < entries.size()) {
    std::uint8_t nibble = entries[i].key[depth];
    std::size_t j = i;
    while (j < entries.size() && entries[j].key[depth] == nibble) ++j;
    branch[nibble] = reference(node(entries.subspan(i, j - i), depth + 1));
    i = j;
  }
  return RlpItem::list(std::move(branch));
}

}  // namespace

Hash256 ordered_trie_root(const std::vector<Bytes>& values) {
  if (values.empty()) return kEmptyTrieRoot;
  std::vector<Entry> entries;
  entries.reserve(values.size());
  for (std::size_t i = 0; i < values.size(); ++i) {
    Nibbles key;
    for (std::uint8_t b : rlp_encode(RlpItem::uint(i))) {
      key.push_back(b >> 4);
      key.push_back(b & 0x0f);
    }
    entries.push_back({std::move(key), values[i]});
  }
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) { return a.key < b.key; });
  return keccak256(rlp_encode(node(entries, 0)));
}

}  // namespace ward::evm
