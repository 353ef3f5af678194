// Block headers as a chain hashes them: a block's hash is keccak256 of its
// header's RLP, and the header commits to the block's transactions and
// receipts by their trie roots. With a header whose hash the verifier trusts,
// the block's receipts and transactions can be checked without a node.
#pragma once

#include <cstdint>

#include "base/bytes.h"
#include "base/error.h"
#include "evm/keccak.h"

namespace ward::evm {

// What a header commits to that a verifier reads; `hash` is keccak256 of the
// header's bytes.
struct BlockHeader {
  Hash256 hash{};
  Hash256 parent_hash{};
  Hash256 transactions_root{};
  Hash256 receipts_root{};
  std::uint64_t number = 0;
  std::uint64_t timestamp = 0;
};

// A header's canonical RLP: a list of at least the 15 fields every header
// since Frontier has (later forks append base fee, withdrawals root, blob
// gas, beacon root, requests hash; a chain such as BSC may add its own), the
// hashes and roots 32 bytes, the bloom 256. Errors: "evm.header".
Result<BlockHeader> decode_header(ByteView rlp);

}  // namespace ward::evm
