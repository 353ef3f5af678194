// RLP, signed type-2 transactions, receipts and block headers, as read from
// a node, a peer or an offline bundle: any bytes in; whatever decodes must be
// canonical, so it re-encodes to the very bytes it came from.
#include <cstdint>
#include <cstdlib>

#include "evm/header.h"
#include "evm/receipt.h"
#include "evm/rlp.h"
#include "evm/transaction.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ward::ByteView input(data, size);
  if (auto item = ward::evm::rlp_decode(input)) {
    if (ward::evm::rlp_encode(*item) != ward::Bytes(input.begin(), input.end())) std::abort();
  } else if (item.error().code != "evm.rlp" || item.error().message.empty()) {
    std::abort();
  }
  if (auto receipt = ward::evm::decode_receipt(input)) {
    if (ward::evm::receipt_rlp(*receipt) != ward::Bytes(input.begin(), input.end())) std::abort();
  } else if (receipt.error().code != "evm.receipt") {
    std::abort();
  }
  if (auto header = ward::evm::decode_header(input)) {
    if (header->hash != ward::evm::keccak256(input)) std::abort();
  } else if (header.error().code != "evm.header") {
    std::abort();
  }
  auto tx = ward::evm::decode_signed_transaction(input);
  if (!tx) return 0;
  if (tx->raw() != ward::Bytes(input.begin(), input.end())) std::abort();
  // Most fuzzed signatures are invalid; recovery must refuse them cleanly.
  (void)tx->sender();
  return 0;
}
