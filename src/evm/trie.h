// The root of Ethereum's hexary Merkle-Patricia trie over an ordered list,
// as a block header commits to its transactions and receipts: item i is
// stored under the key rlp(i).
#pragma once

#include <vector>

#include "base/bytes.h"
#include "evm/keccak.h"

namespace ward::evm {

// The root over no items: keccak256(rlp("")).
inline constexpr Hash256 kEmptyTrieRoot = {0x56, 0xe8, 0x1f, 0x17, 0x1b, 0xcc, 0x55, 0xa6, 0xff, 0x83, 0x45,
                                           0xe6, 0x92, 0xc0, 0xf8, 0x6e, 0x5b, 0x48, 0xe0, 0x1b, 0x99, 0x6c,
                                           0xad, 0xc0, 0x01, 0x62, 0x2f, 0xb5, 0xe3, 0x63, 0xb4, 0x21};

// Leaves and extensions use compact (hex-prefix) keys; a child whose node
// encodes to under 32 bytes is inlined, any other is referenced by its hash.
// Values are stored as given (a receipt's or a raw transaction's bytes).
Hash256 ordered_trie_root(const std::vector<Bytes>& values);

}  // namespace ward::evm
