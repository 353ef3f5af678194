#include "evm/receipt.h"

#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "evm/rlp.h"
#include "evm/trie.h"
#include "evm/u256.h"

namespace ward::evm {
namespace {

Bytes unhex(std::string_view text) {
  if (text.starts_with("0x")) text.remove_prefix(2);
  return hex_decode(text).value();
}

template <std::size_t N>
std::array<std::uint8_t, N> fixed(const nlohmann::json& j) {
  Bytes b = unhex(j.get<std::string>());
  EXPECT_EQ(b.size(), N);
  std::array<std::uint8_t, N> out{};
  std::copy_n(b.begin(), std::min(N, b.size()), out.begin());
  return out;
}

std::uint64_t quantity(const nlohmann::json& j) {
  return U256::from_quantity(j.get<std::string>()).value().to_uint64().value();
}

// A block anvil mined; see capture_anvil_block.sh for how it was made.
nlohmann::json anvil_block() {
  std::ifstream in("tests/unit/evm/anvil_block.json");
  return nlohmann::json::parse(in);
}

Receipt receipt_from_json(const nlohmann::json& j) {
  Receipt r;
  r.type = static_cast<std::uint8_t>(quantity(j["type"]));
  r.success = quantity(j["status"]) == 1;
  r.cumulative_gas_used = quantity(j["cumulativeGasUsed"]);
  r.logs_bloom = fixed<256>(j["logsBloom"]);
  for (const auto& l : j["logs"]) {
    Log log;
    log.address = Address{fixed<20>(l["address"])};
    for (const auto& t : l["topics"]) log.topics.push_back(fixed<32>(t));
    log.data = unhex(l["data"].get<std::string>());
    r.logs.push_back(std::move(log));
  }
  return r;
}

TEST(OrderedTrieRoot, shouldGiveTheEmptyRootForNoItems) {
  EXPECT_EQ(hex_encode(ordered_trie_root({})),
            "56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421");
  EXPECT_EQ(kEmptyTrieRoot, keccak256(Bytes{0x80}));
}

TEST(OrderedTrieRoot, shouldMatchTheReceiptsRootOfABlockAnvilMined) {
  nlohmann::json block = anvil_block();
  std::vector<Bytes> encoded;
  for (const auto& j : block["receipts"]) encoded.push_back(receipt_rlp(receipt_from_json(j)));
  ASSERT_EQ(encoded.size(), 132u);
  EXPECT_EQ("0x" + hex_encode(ordered_trie_root(encoded)), block["receiptsRoot"].get<std::string>());
}

TEST(OrderedTrieRoot, shouldMatchTheTransactionsRootOfABlockAnvilMined) {
  nlohmann::json block = anvil_block();
  std::vector<Bytes> raw;
  for (const auto& t : block["rawTransactions"]) raw.push_back(unhex(t.get<std::string>()));
  EXPECT_EQ("0x" + hex_encode(ordered_trie_root(raw)), block["transactionsRoot"].get<std::string>());
}

TEST(OrderedTrieRoot, shouldChangeWhenAnyReceiptChanges) {
  nlohmann::json block = anvil_block();
  std::vector<Receipt> receipts;
  for (const auto& j : block["receipts"]) receipts.push_back(receipt_from_json(j));
  auto root_of = [](const std::vector<Receipt>& rs) {
    std::vector<Bytes> encoded;
    for (const Receipt& r : rs) encoded.push_back(receipt_rlp(r));
    return ordered_trie_root(encoded);
  };
  Hash256 root = root_of(receipts);
  for (std::size_t i : {0, 1, 127, 128, 131}) {
    std::vector<Receipt> changed = receipts;
    changed[i].success = !changed[i].success;
    EXPECT_NE(root_of(changed), root) << i;
  }
  std::vector<Receipt> fewer(receipts.begin(), receipts.end() - 1);
  EXPECT_NE(root_of(fewer), root);
}

TEST(LogsBloom, shouldMatchTheBloomsAnvilReported) {
  nlohmann::json block = anvil_block();
  for (const auto& j : block["receipts"]) {
    Receipt r = receipt_from_json(j);
    EXPECT_EQ(logs_bloom(r.logs), r.logs_bloom);
  }
  EXPECT_FALSE(receipt_from_json(block["receipts"][0]).logs.empty());
  EXPECT_FALSE(receipt_from_json(block["receipts"][1]).success);
}

TEST(ReceiptRlp, shouldPrefixTypedReceiptsOnly) {
  Receipt r;
  r.success = true;
  r.cumulative_gas_used = 21000;
  Bytes typed = receipt_rlp(r);
  EXPECT_EQ(typed[0], 0x02);
  r.type = 0;
  Bytes legacy = receipt_rlp(r);
  EXPECT_EQ(Bytes(typed.begin() + 1, typed.end()), legacy);
  EXPECT_EQ(hex_encode(legacy).substr(0, 14), "f9010801825208");
}

}  // namespace
}  // namespace ward::evm

namespace ward::evm {
namespace {

TEST(DecodeReceipt, shouldReadBackEveryReceiptOfABlockAnvilMined) {
  const nlohmann::json block = anvil_block();
  for (const auto& j : block["receipts"]) {
    const Receipt r = receipt_from_json(j);
    auto decoded = decode_receipt(receipt_rlp(r));
    ASSERT_TRUE(decoded) << decoded.error().message;
    EXPECT_EQ(*decoded, r);
  }
}

TEST(DecodeReceipt, shouldRefuseWhatNoReceiptIs) {
  Receipt r;
  r.success = true;
  r.logs.push_back(Log{Address{}, {Hash256{}}, Bytes{1, 2}});
  Bytes good = receipt_rlp(r);
  ASSERT_TRUE(decode_receipt(good));
  EXPECT_EQ(decode_receipt(ByteView(good).first(good.size() - 1)).error().code, "evm.receipt");
  EXPECT_EQ(decode_receipt(Bytes{}).error().code, "evm.receipt");
  Bytes typed_zero = good;
  typed_zero[0] = 0;
  EXPECT_EQ(decode_receipt(typed_zero).error().code, "evm.receipt");
  // A status of 2 (a pre-Byzantium state root would be 32 bytes).
  Bytes body = rlp_encode(RlpItem::list(
      {RlpItem::uint(U256(2)), RlpItem::uint(U256(0)), RlpItem::string(Bytes(256, 0)), RlpItem::list({})}));
  EXPECT_NE(decode_receipt(body).error().message.find("status"), std::string::npos);
  // A bloom of 255 bytes.
  body = rlp_encode(RlpItem::list(
      {RlpItem::uint(U256(1)), RlpItem::uint(U256(0)), RlpItem::string(Bytes(255, 0)), RlpItem::list({})}));
  EXPECT_NE(decode_receipt(body).error().message.find("bloom"), std::string::npos);
}

}  // namespace
}  // namespace ward::evm
