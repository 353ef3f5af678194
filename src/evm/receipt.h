// Transaction receipts as a block's receipts root commits to them, so that a
// receipt read from any node can be checked offline against a block header.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "base/bytes.h"
#include "base/error.h"
#include "evm/address.h"
#include "evm/keccak.h"

namespace ward::evm {

using Bloom = std::array<std::uint8_t, 256>;

struct Log {
  Address address;
  std::vector<Hash256> topics;
  Bytes data;

  friend bool operator==(const Log&, const Log&) = default;
};

struct Receipt {
  std::uint8_t type = 2;  // the transaction's type; 0 for a legacy transaction
  bool success = false;   // the status field: 1 when the transaction did not revert
  std::uint64_t cumulative_gas_used = 0;
  Bloom logs_bloom{};
  std::vector<Log> logs;

  friend bool operator==(const Receipt&, const Receipt&) = default;
};

// The 2048-bit filter over each log's address and topics (yellow paper 4.3.1).
Bloom logs_bloom(const std::vector<Log>& logs);

// type ‖ rlp([status, cumulative_gas_used, logs_bloom, [[address, [topics], data], ...]]),
// without the type byte for a legacy (type 0) receipt: the bytes the receipts
// trie stores.
Bytes receipt_rlp(const Receipt& receipt);

// The inverse of receipt_rlp: exactly those bytes, or a one-line reason
// (a status other than 0 or 1, a bloom not 256 bytes, an address not 20, a
// topic not 32, more than 4 topics). Errors: "evm.receipt".
Result<Receipt> decode_receipt(ByteView encoded);

}  // namespace ward::evm
