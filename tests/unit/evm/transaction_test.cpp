#include "evm/transaction.h"

#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "evm/rlp.h"

namespace ward::evm {
namespace {

std::string repeat(std::string_view s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

PrivateKey key_from_hex(std::string_view hex) {
  return PrivateKey::from_bytes(hex_decode(hex).value()).value();
}

Bytes unhex(std::string_view text) {
  if (text.starts_with("0x")) text.remove_prefix(2);
  return hex_decode(text).value();
}

nlohmann::json anvil_block() {
  std::ifstream in("tests/unit/evm/anvil_block.json");
  return nlohmann::json::parse(in);
}

// The legacy (pre-EIP-2718) fields EIP-155 signs: [nonce, gas price, gas,
// to, value, data, chain id, 0, 0].
std::vector<RlpItem> eip155_example_fields() {
  return {RlpItem::uint(9),
          RlpItem::uint(20'000'000'000),
          RlpItem::uint(21000),
          RlpItem::string(unhex(repeat("35", 20))),
          RlpItem::uint(1'000'000'000'000'000'000),
          RlpItem::string({}),
          RlpItem::uint(1),
          RlpItem::uint(0),
          RlpItem::uint(0)};
}

// The example in the text of EIP-155, which exercises RLP, Keccak-256 and
// signing together.
TEST(Transaction, shouldReproduceTheEip155Example) {
  std::vector<RlpItem> fields = eip155_example_fields();
  Bytes signing_data = rlp_encode(RlpItem::list(fields));
  EXPECT_EQ(hex_encode(signing_data),
            "ec098504a817c800825208943535353535353535353535353535353535353535880de0b6b3a764000080018080");
  Hash256 hash = keccak256(signing_data);
  EXPECT_EQ(hex_encode(hash), "daf5a779ae972f972197303d7b574746c7ef83eadac0f2791ad23db92e4c8e53");

  PrivateKey key = key_from_hex(repeat("46", 32));
  Signature sig = key.sign(hash);
  EXPECT_EQ(U256::from_big_endian(sig.r)->to_decimal(),
            "18515461264373351373200002665853028612451056578545711640558177340181847433846");
  EXPECT_EQ(U256::from_big_endian(sig.s)->to_decimal(),
            "46948507304638947509940763649030358759909902576025900602547168820602576006531");
  EXPECT_EQ(sig.y_parity, 0);  // v = 37 = chain id * 2 + 35 + parity
  fields.resize(6);
  fields.push_back(RlpItem::uint(37));
  fields.push_back(RlpItem::uint(*U256::from_big_endian(sig.r)));
  fields.push_back(RlpItem::uint(*U256::from_big_endian(sig.s)));
  EXPECT_EQ(
      hex_encode(rlp_encode(RlpItem::list(fields))),
      "f86c098504a817c800825208943535353535353535353535353535353535353535880de0b6b3a76400008025a028ef61340bd9"
      "39bc2195fe537567866003e1a15d3c71ff63e1590620aa636276a067cbe9d8997f761aecb703304b3800ccf555c9f3dc64214b"
      "297fb1966a3b6d83");
}

Eip1559Transaction example_transaction() {
  Eip1559Transaction tx;
  tx.chain_id = 31337;
  tx.nonce = 7;
  tx.max_priority_fee_per_gas = 1'000'000'000;
  tx.max_fee_per_gas = 2'000'000'000;
  tx.gas_limit = 100000;
  tx.to = Address::parse("0x5FbDB2315678afecb367f032d93F642f64180aa3").value();
  tx.value = *U256::from_decimal("1000000000000000000000");
  tx.data = unhex("a9059cbb");
  return tx;
}

TEST(Transaction, shouldDecodeWhatItSignsAndRecoverTheSender) {
  PrivateKey key = PrivateKey::generate();
  for (bool creation : {false, true}) {
    Eip1559Transaction tx = example_transaction();
    if (creation) tx.to.reset();
    SignedTransaction signed_tx = sign_transaction(tx, key);
    Bytes raw = signed_tx.raw();
    EXPECT_EQ(raw[0], 0x02);
    auto decoded = decode_signed_transaction(raw);
    ASSERT_TRUE(decoded) << decoded.error().message;
    EXPECT_EQ(*decoded, signed_tx);
    EXPECT_EQ(decoded->sender(), key.address());
    EXPECT_EQ(decoded->hash(), keccak256(raw));
  }
}

// Anvil signed these with its first dev key; RFC 6979 makes signing
// deterministic, so ours must give the very same bytes.
TEST(Transaction, shouldMatchTransactionsSignedByAnvil) {
  nlohmann::json block = anvil_block();
  PrivateKey dev = key_from_hex("ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80");
  const auto& raws = block["rawTransactions"];
  ASSERT_EQ(raws.size(), 132u);
  for (std::size_t i = 0; i < raws.size(); ++i) {
    Bytes raw = unhex(raws[i].get<std::string>());
    auto tx = decode_signed_transaction(raw);
    ASSERT_TRUE(tx) << i << ": " << tx.error().message;
    EXPECT_EQ(tx->raw(), raw) << i;
    EXPECT_EQ("0x" + hex_encode(tx->hash()), block["transactionHashes"][i].get<std::string>()) << i;
    EXPECT_EQ(tx->sender(), dev.address()) << i;
    EXPECT_EQ(sign_transaction(tx->tx, dev).raw(), raw) << i;
  }
}

TEST(Transaction, shouldGiveTheKnownContractAddresses) {
  Address sender = Address::parse("0x6ac7ea33f8831ea9dcc53393aaa88b25a785dbf0").value();
  EXPECT_EQ(contract_address(sender, 0),
            Address::parse("0xcd234a471b72ba2f1ccf0a70fcaba648a5eecd8d").value());
  EXPECT_EQ(contract_address(sender, 1),
            Address::parse("0x343c43a37d37dff08ae8c4a11544c718abb4fcf8").value());
  // Anvil's first deployment, logged in the captured block.
  Address dev = Address::parse("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266").value();
  EXPECT_EQ(contract_address(dev, 0), Address::parse("0x5fbdb2315678afecb367f032d93f642f64180aa3").value());
}

std::string decode_refusal(const Bytes& raw) {
  auto tx = decode_signed_transaction(raw);
  return tx ? "decoded" : tx.error().message;
}

// Replaces field `index` of a signed example and re-encodes it.
Bytes with_field(std::size_t index, RlpItem value) {
  Bytes raw = sign_transaction(example_transaction(), PrivateKey::generate()).raw();
  RlpItem list = rlp_decode(ByteView(raw).subspan(1)).value();
  list.items[index] = std::move(value);
  Bytes out{0x02};
  Bytes body = rlp_encode(list);
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

TEST(Transaction, shouldRefuseMalformedSignedTransactions) {
  Bytes good = sign_transaction(example_transaction(), PrivateKey::generate()).raw();
  EXPECT_EQ(decode_refusal(good), "decoded");
  Bytes legacy(good.begin() + 1, good.end());
  EXPECT_EQ(decode_refusal(legacy), "not a type-2 (EIP-1559) transaction");
  EXPECT_EQ(decode_refusal({}), "not a type-2 (EIP-1559) transaction");
  Bytes trailing = good;
  trailing.push_back(0);
  EXPECT_EQ(decode_refusal(trailing), "trailing bytes after the item");
  EXPECT_EQ(decode_refusal(with_field(1, RlpItem::string(Bytes{0x00, 0x07}))),
            "nonce: an integer has a leading zero byte");
  EXPECT_EQ(decode_refusal(with_field(0, RlpItem::string(Bytes(9, 1)))),
            "chain_id: an integer does not fit 64 bits");
  EXPECT_EQ(decode_refusal(with_field(5, RlpItem::string(Bytes(19, 1)))),
            "to: an address has 20 bytes, not 19");
  EXPECT_EQ(decode_refusal(with_field(8, RlpItem::list({RlpItem::list({})}))),
            "access_list: only empty access lists are supported");
  EXPECT_EQ(decode_refusal(with_field(9, RlpItem::uint(2))), "y_parity: neither 0 nor 1");
  EXPECT_EQ(decode_refusal(with_field(10, RlpItem::string(Bytes(33, 1)))),
            "r: an integer does not fit 256 bits");
  EXPECT_EQ(decode_refusal(with_field(7, RlpItem::list({}))), "data: a list where bytes were expected");
}

}  // namespace
}  // namespace ward::evm
