#include "evm/transaction.h"

#include <algorithm>
#include <vector>

#include "evm/rlp.h"

namespace ward::evm {
namespace {

constexpr std::uint8_t kType = 0x02;

std::vector<RlpItem> unsigned_fields(const Eip1559Transaction& tx) {
  return {RlpItem::uint(tx.chain_id),
          RlpItem::uint(tx.nonce),
          RlpItem::uint(tx.max_priority_fee_per_gas),
          RlpItem::uint(tx.max_fee_per_gas),
          RlpItem::uint(tx.gas_limit),
          tx.to ? RlpItem::string(tx.to->bytes) : RlpItem::string({}),
          RlpItem::uint(tx.value),
          RlpItem::string(tx.data),
          RlpItem::list({})};
}

Bytes typed(const std::vector<RlpItem>& fields) {
  Bytes out{kType};
  Bytes body = rlp_encode(RlpItem::list(fields));
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

Result<std::uint64_t> uint64_field(const RlpItem& item, const char* name) {
  auto v = item.to_uint64();
  if (!v) return fail("evm.tx", std::string(name) + ": " + v.error().message);
  return v;
}

Result<U256> u256_field(const RlpItem& item, const char* name) {
  auto v = item.to_u256();
  if (!v) return fail("evm.tx", std::string(name) + ": " + v.error().message);
  return v;
}

}  // namespace

Hash256 Eip1559Transaction::signing_hash() const {
  return keccak256(typed(unsigned_fields(*this)));
}

Bytes SignedTransaction::raw() const {
  std::vector<RlpItem> fields = unsigned_fields(tx);
  fields.push_back(RlpItem::uint(signature.y_parity));
  fields.push_back(RlpItem::uint(*U256::from_big_endian(signature.r)));
  fields.push_back(RlpItem::uint(*U256::from_big_endian(signature.s)));
  return typed(fields);
}

Hash256 SignedTransaction::hash() const {
  return keccak256(raw());
}

Result<Address> SignedTransaction::sender() const {
  return recover_address(tx.signing_hash(), signature);
}

SignedTransaction sign_transaction(const Eip1559Transaction& tx, const PrivateKey& key) {
  return {tx, key.sign(tx.signing_hash())};
}

Result<SignedTransaction> decode_signed_transaction(ByteView raw) {
  if (raw.empty() || raw[0] != kType) return fail("evm.tx", "not a type-2 (EIP-1559) transaction");
  auto item = rlp_decode(raw.subspan(1));
  if (!item) return std::unexpected(item.error());
  if (!item->is_list || item->items.size() != 12)
    return fail("evm.tx", "a signed type-2 transaction is a list of 12 fields");
  const std::vector<RlpItem>& f = item->items;

  SignedTransaction out;
  Eip1559Transaction& tx = out.tx;
  auto chain_id = uint64_field(f[0], "chain_id");
  if (!chain_id) return std::unexpected(chain_id.error());
  auto nonce = uint64_field(f[1], "nonce");
  if (!nonce) return std::unexpected(nonce.error());
  auto priority_fee = u256_field(f[2], "max_priority_fee_per_gas");
  if (!priority_fee) return std::unexpected(priority_fee.error());
  auto max_fee = u256_field(f[3], "max_fee_per_gas");
  if (!max_fee) return std::unexpected(max_fee.error());
  auto gas_limit = uint64_field(f[4], "gas_limit");
  if (!gas_limit) return std::unexpected(gas_limit.error());
  auto value = u256_field(f[6], "value");
  if (!value) return std::unexpected(value.error());
  auto y_parity = uint64_field(f[9], "y_parity");
  if (!y_parity) return std::unexpected(y_parity.error());
  auto r = u256_field(f[10], "r");
  if (!r) return std::unexpected(r.error());
  auto s = u256_field(f[11], "s");
  if (!s) return std::unexpected(s.error());

  tx.chain_id = *chain_id;
  tx.nonce = *nonce;
  tx.max_priority_fee_per_gas = *priority_fee;
  tx.max_fee_per_gas = *max_fee;
  tx.gas_limit = *gas_limit;
  if (f[5].is_list) return fail("evm.tx", "to: a list where an address was expected");
  if (!f[5].bytes.empty()) {
    auto to = Address::from_bytes(f[5].bytes);
    if (!to) return fail("evm.tx", "to: " + to.error().message);
    tx.to = *to;
  }
  tx.value = *value;
  if (f[7].is_list) return fail("evm.tx", "data: a list where bytes were expected");
  tx.data = f[7].bytes;
  if (!f[8].is_list) return fail("evm.tx", "access_list: bytes where a list was expected");
  if (!f[8].items.empty()) return fail("evm.tx", "access_list: only empty access lists are supported");
  if (*y_parity > 1) return fail("evm.tx", "y_parity: neither 0 nor 1");
  out.signature.y_parity = static_cast<std::uint8_t>(*y_parity);
  // Written as minimal integers; held as the 32-byte scalars they are.
  out.signature.r = r->big_endian();
  out.signature.s = s->big_endian();
  return out;
}

Address contract_address(const Address& sender, std::uint64_t nonce) {
  Hash256 h = keccak256(rlp_encode(RlpItem::list({RlpItem::string(sender.bytes), RlpItem::uint(nonce)})));
  Address out;
  std::copy(h.begin() + 12, h.end(), out.bytes.begin());
  return out;
}

}  // namespace ward::evm
