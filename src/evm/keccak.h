// Keccak-256 as Ethereum uses it: the original Keccak submission's padding
// (0x01 ... 0x80), not FIPS 202 SHA3-256's (0x06 ... 0x80), so the two give
// different digests for every input.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "base/bytes.h"

namespace ward::evm {

using Hash256 = std::array<std::uint8_t, 32>;

// Incremental Keccak-256. Copyable (a copy forks the running state).
class Keccak256 {
 public:
  Keccak256& update(ByteView data);
  // Returns the digest; the hasher must not be updated afterwards.
  Hash256 finish();

 private:
  std::array<std::uint64_t, 25> state_{};
  std::size_t offset_ = 0;  // bytes absorbed into the current block
};

Hash256 keccak256(ByteView data);

}  // namespace ward::evm
