// RLP (Ethereum yellow paper, appendix B): encoding and a strict decoder that
// accepts only the one canonical encoding of each item, so that bytes which
// decode also re-encode to themselves (hashes and signatures cover bytes).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "base/bytes.h"
#include "base/error.h"
#include "evm/u256.h"

namespace ward::evm {

// Decoding refuses lists nested deeper than this (a receipt needs 4).
inline constexpr std::size_t kMaxRlpDepth = 32;

// One RLP item: a byte string or a list of items.
struct RlpItem {
  bool is_list = false;
  Bytes bytes;                 // the string, when !is_list
  std::vector<RlpItem> items;  // the elements, when is_list

  static RlpItem string(ByteView b) { return {false, Bytes(b.begin(), b.end()), {}}; }
  static RlpItem list(std::vector<RlpItem> elements) { return {true, {}, std::move(elements)}; }
  // An integer as RLP writes it: big-endian without leading zeros (0 is "").
  static RlpItem uint(const U256& v) { return string(v.minimal_big_endian()); }

  // The string as an integer, refusing a list, leading zeros and values
  // wider than the result. Errors: "evm.rlp".
  Result<std::uint64_t> to_uint64() const;
  Result<U256> to_u256() const;

  friend bool operator==(const RlpItem&, const RlpItem&) = default;
};

Bytes rlp_encode(const RlpItem& item);
// Exactly one canonical item filling `data`; anything else is refused with a
// one-line reason. Errors: "evm.rlp".
Result<RlpItem> rlp_decode(ByteView data);

}  // namespace ward::evm
