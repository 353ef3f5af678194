// evm::send_call and RpcClient against a real anvil: the type-2 transactions
// we sign are accepted and mined, and every way a send can go wrong fails
// closed with its own error and without a second transaction.
#include "evm/sender.h"

#include <httplib.h>

#include <gtest/gtest.h>

#include "anvil_testing.h"
#include "crypto/hash.h"
#include "evm/abi.h"
#include "evm/header.h"
#include "evm/rlp.h"
#include "evm/transaction.h"
#include "evm/trie.h"

namespace ward::evm {
namespace {

using testing::Anvil;

Bytes deploy_data(bool dev) {
  Bytes data = testing::ward_ledger_creation_code();
  auto args = abi::encode({*abi::Type::parse("bool")}, {abi::Value::boolean(dev)});
  data.insert(data.end(), args->begin(), args->end());
  return data;
}

Bytes calldata(std::string_view signature, std::vector<abi::Value> args) {
  return *abi::Function::parse(signature)->encode_call(args);
}

class SenderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    ASSERT_TRUE(anvil_.start(why)) << why;
    auto rpc = RpcClient::open(anvil_.url());
    ASSERT_TRUE(rpc) << rpc.error().message;
    rpc_ = std::move(*rpc);
  }

  std::uint64_t mined_nonce(const Address& a) { return *rpc_->transaction_count(a, "latest"); }

  Address deploy() {
    auto sent = send_call(*rpc_, key_, std::nullopt, deploy_data(true));
    EXPECT_TRUE(sent) << sent.error().message;
    EXPECT_TRUE(sent->receipt && sent->receipt->contract_address);
    return *sent->receipt->contract_address;
  }

  Anvil anvil_;
  std::unique_ptr<RpcClient> rpc_;
  PrivateKey key_ = Anvil::dev_key();
};

TEST_F(SenderTest, shouldDeployTheLedgerWhenSentAsTypeTwoTransaction) {
  const std::uint64_t nonce = mined_nonce(key_.address());
  auto sent = send_call(*rpc_, key_, std::nullopt, deploy_data(true));
  ASSERT_TRUE(sent) << sent.error().message;
  ASSERT_FALSE(sent->reverted);
  ASSERT_TRUE(sent->receipt && sent->transaction);
  EXPECT_TRUE(sent->receipt->receipt.success);
  EXPECT_EQ(sent->receipt->receipt.type, 2u);
  EXPECT_EQ(sent->receipt->from, key_.address());
  EXPECT_EQ(sent->receipt->transaction_hash, sent->transaction->hash());
  // The address follows from our sender and nonce, as the node computed it.
  EXPECT_EQ(*sent->receipt->contract_address, contract_address(key_.address(), nonce));
  EXPECT_EQ(mined_nonce(key_.address()), nonce + 1);

  // The contract's ledger id is sha256("ward/evm-ledger/v1" ‖ chain id ‖ address): the chain id we signed for.
  auto call = rpc_->call(std::nullopt, *sent->receipt->contract_address, calldata("ledgerId()", {}));
  ASSERT_TRUE(call && !call->reverted);
  Bytes preimage = to_bytes("ward/evm-ledger/v1");
  const U256 chain(*rpc_->chain_id());
  preimage.insert(preimage.end(), chain.big_endian().begin(), chain.big_endian().end());
  const auto& a = sent->receipt->contract_address->bytes;
  preimage.insert(preimage.end(), a.begin(), a.end());
  const auto expected = crypto::sha256(preimage);
  EXPECT_EQ(call->data, Bytes(expected.begin(), expected.end()));
}

TEST_F(SenderTest, shouldRebuildTheBlocksReceiptsRootFromTheReceiptsItReads) {
  const Address ledger = deploy();
  Bytes to(32, 7);
  auto sent = send_call(*rpc_, key_, ledger,
                        calldata("register(bytes32,string,string,bytes)",
                                 {abi::Value::bytes(to), abi::Value::string("age1x"), abi::Value::string("n"),
                                  abi::Value::bytes(Bytes(64, 1))}));
  ASSERT_TRUE(sent && sent->receipt) << (sent ? "" : sent.error().message);
  ASSERT_FALSE(sent->receipt->receipt.logs.empty());
  const std::uint64_t number = sent->receipt->block_number;
  auto receipts = rpc_->block_receipts(number);
  ASSERT_TRUE(receipts) << receipts.error().message;
  std::vector<Bytes> encoded;
  for (const auto& r : *receipts) encoded.push_back(receipt_rlp(r.receipt));
  auto block = rpc_->block(number);
  ASSERT_TRUE(block && *block);
  EXPECT_EQ(ordered_trie_root(encoded), (*block)->receipts_root);
  // A log changed by one byte no longer matches.
  encoded.clear();
  for (auto r : *receipts) {
    if (!r.receipt.logs.empty()) r.receipt.logs[0].data.back() ^= 1;
    encoded.push_back(receipt_rlp(r.receipt));
  }
  EXPECT_NE(ordered_trie_root(encoded), (*block)->receipts_root);
}

TEST_F(SenderTest, shouldRebuildTheHeaderAndTransactionsThatTheBlocksHashCovers) {
  const Address ledger = deploy();
  auto sent = send_call(*rpc_, key_, ledger,
                        calldata("register(bytes32,string,string,bytes)",
                                 {abi::Value::bytes(Bytes(32, 9)), abi::Value::string("age1y"),
                                  abi::Value::string("m"), abi::Value::bytes(Bytes(64, 2))}));
  ASSERT_TRUE(sent && sent->receipt) << (sent ? "" : sent.error().message);
  const std::uint64_t number = sent->receipt->block_number;
  auto raw = rpc_->raw_block(number);
  ASSERT_TRUE(raw) << raw.error().message;
  const Bytes& header_bytes = raw->header;
  auto header = decode_header(header_bytes);
  ASSERT_TRUE(header) << header.error().message;
  auto block = rpc_->block(number);
  ASSERT_TRUE(block && *block);
  EXPECT_EQ(header->hash, (*block)->hash);
  EXPECT_EQ(header->receipts_root, (*block)->receipts_root);
  EXPECT_EQ(header->number, number);
  EXPECT_EQ(header->timestamp, (*block)->timestamp);
  EXPECT_EQ(ordered_trie_root(raw->transactions), header->transactions_root);
  auto receipts = rpc_->block_receipts(number);
  ASSERT_TRUE(receipts);
  for (const auto& r : *receipts) {
    auto decoded = decode_receipt(receipt_rlp(r.receipt));
    ASSERT_TRUE(decoded) << decoded.error().message;
    EXPECT_EQ(*decoded, r.receipt);
  }
  // A header byte changed: still a header, with another hash.
  Bytes changed = header_bytes;
  changed[changed.size() - 40] ^= 1;
  auto other = decode_header(changed);
  ASSERT_TRUE(other);
  EXPECT_NE(other->hash, (*block)->hash);
  // Truncated, or a list too short, is refused.
  EXPECT_EQ(decode_header(ByteView(header_bytes).first(header_bytes.size() - 1)).error().code, "evm.header");
  EXPECT_EQ(decode_header(rlp_encode(RlpItem::list({RlpItem::uint(U256(1))}))).error().code, "evm.header");
}

TEST_F(SenderTest, shouldReturnTheRevertWithoutSendingWhenTheCallWouldRevert) {
  const Address ledger = deploy();
  const PrivateKey stranger = PrivateKey::generate();
  ASSERT_TRUE(Anvil::fund_gas(*rpc_, stranger.address()));
  Bytes to(32, 7);
  auto sent = send_call(*rpc_, stranger, ledger,
                        calldata("fund(bytes32,uint64)", {abi::Value::bytes(to), abi::Value::uint(U256(5))}));
  ASSERT_TRUE(sent) << sent.error().message;
  EXPECT_TRUE(sent->reverted);
  EXPECT_FALSE(sent->transaction);
  auto why = abi::decode_error(*abi::Function::parse("UnknownAddress(address)"), sent->revert_data);
  ASSERT_TRUE(why) << why.error().message;
  EXPECT_EQ(*(*why)[0].as_address(), stranger.address());
  EXPECT_EQ(mined_nonce(stranger.address()), 0u);
}

TEST_F(SenderTest, shouldRefuseWhenTheNodeIsOnAnotherChain) {
  SendOptions options;
  options.chain_id = 56;
  auto sent = send_call(*rpc_, key_, std::nullopt, deploy_data(true), options);
  ASSERT_FALSE(sent);
  EXPECT_EQ(sent.error().code, "evm.chain");
  EXPECT_NE(sent.error().message.find("on chain 31337, not chain 56"), std::string::npos) << sent.error().message;
  EXPECT_EQ(mined_nonce(key_.address()), 0u);
}

TEST_F(SenderTest, shouldRefuseANonceThatLeavesAGap) {
  SendOptions options;
  options.nonce = 2;
  auto sent = send_call(*rpc_, key_, std::nullopt, deploy_data(true), options);
  ASSERT_FALSE(sent);
  EXPECT_EQ(sent.error().code, "evm.nonce");
  EXPECT_NE(sent.error().message.find("would leave a gap"), std::string::npos) << sent.error().message;
  EXPECT_EQ(*rpc_->transaction_count(key_.address(), "pending"), 0u);
}

TEST_F(SenderTest, shouldRefuseANonceUsedAlready) {
  deploy();
  SendOptions options;
  options.nonce = 0;
  auto sent = send_call(*rpc_, key_, std::nullopt, deploy_data(true), options);
  ASSERT_FALSE(sent);
  EXPECT_EQ(sent.error().code, "evm.nonce");
  EXPECT_NE(sent.error().message.find("was used already"), std::string::npos) << sent.error().message;
}

TEST_F(SenderTest, shouldRefuseAFeeCapUnderTheBaseFee) {
  SendOptions options;
  options.max_fee_per_gas = 1;
  auto sent = send_call(*rpc_, key_, std::nullopt, deploy_data(true), options);
  ASSERT_FALSE(sent);
  EXPECT_EQ(sent.error().code, "evm.fee");
  EXPECT_NE(sent.error().message.find("under the base fee"), std::string::npos) << sent.error().message;
  EXPECT_EQ(*rpc_->transaction_count(key_.address(), "pending"), 0u);
}

TEST_F(SenderTest, shouldSayWhoMustPayWhenTheSenderHasNoGasMoney) {
  const PrivateKey poor = PrivateKey::generate();
  auto sent = send_call(*rpc_, poor, std::nullopt, deploy_data(true));
  ASSERT_FALSE(sent);
  EXPECT_EQ(sent.error().code, "evm.funds");
  EXPECT_NE(sent.error().message.find(poor.address().to_checksum() + " holds 0 wei"), std::string::npos)
      << sent.error().message;
}

TEST_F(SenderTest, shouldWaitForTheConfirmationsAskedFor) {
  // anvil mines one block per transaction; with 3 confirmations the sender
  // waits for two more blocks, which an interval miner makes.
  Anvil interval;
  std::string why;
  ASSERT_TRUE(interval.start(why, {"--block-time", "1"})) << why;
  auto rpc = RpcClient::open(interval.url());
  ASSERT_TRUE(rpc);
  SendOptions options;
  options.confirmations = 3;
  auto sent = send_call(**rpc, key_, std::nullopt, deploy_data(true), options);
  ASSERT_TRUE(sent) << sent.error().message;
  EXPECT_GE(*(*rpc)->block_number(), sent->receipt->block_number + 2);
}

// An RpcClient whose answer to the first eth_sendRawTransaction is lost
// after the node took the transaction: the connection drops at the worst
// moment.
class LosingClient final : public RpcClient {
 public:
  explicit LosingClient(const std::string& url) : RpcClient(url), http_(url) {}
  int sends = 0;

 protected:
  Result<std::string> post(const std::string& body) override {
    auto res = http_.Post("/", body, "application/json");
    if (!res) return fail("evm.rpc", "cannot reach the node");
    if (body.find("eth_sendRawTransaction") != std::string::npos && ++sends == 1) {
      return fail("evm.rpc", "cannot reach the node at " + url() + ": connection reset");
    }
    return res->body;
  }

 private:
  httplib::Client http_;
};

TEST_F(SenderTest, shouldSendTheSameTransactionAgainWhenTheAnswerWasLost) {
  LosingClient losing(anvil_.url());
  auto sent = send_call(losing, key_, std::nullopt, deploy_data(true));
  ASSERT_TRUE(sent) << sent.error().message;
  EXPECT_EQ(losing.sends, 2);
  EXPECT_TRUE(sent->receipt->receipt.success);
  // One transaction, not two.
  EXPECT_EQ(mined_nonce(key_.address()), 1u);
}

TEST_F(SenderTest, shouldNameTheNodeWhenItCannotBeReached) {
  const std::string url = anvil_.url();
  anvil_.stop();
  auto rpc = RpcClient::open(url);
  ASSERT_TRUE(rpc);
  auto sent = send_call(**rpc, key_, std::nullopt, deploy_data(true));
  ASSERT_FALSE(sent);
  EXPECT_EQ(sent.error().code, "evm.rpc");
  EXPECT_NE(sent.error().message.find("cannot reach the node at " + url), std::string::npos)
      << sent.error().message;
}

TEST_F(SenderTest, shouldRefuseAnAnswerForAnotherRequest) {
  class WrongId final : public RpcClient {
   public:
    WrongId() : RpcClient("http://test") {}

   protected:
    Result<std::string> post(const std::string&) override {
      return std::string(R"({"jsonrpc":"2.0","id":999,"result":"0x1"})");
    }
  } wrong;
  auto chain = wrong.chain_id();
  ASSERT_FALSE(chain);
  EXPECT_EQ(chain.error().code, "evm.rpc");
  EXPECT_NE(chain.error().message.find("another request id"), std::string::npos);
}

TEST_F(SenderTest, shouldRefuseQuantitiesInAnotherSpelling) {
  for (const char* bad : {"\"0x01\"", "\"1\"", "\"0x\"", "1", "\"0xg\""}) {
    const auto value = nlohmann::json::parse(bad);
    EXPECT_FALSE(read_quantity(value, "a value")) << bad;
  }
  EXPECT_EQ(*read_quantity(nlohmann::json("0x0"), "a value"), 0u);
  EXPECT_EQ(*read_quantity(nlohmann::json("0x1a"), "a value"), 26u);
  EXPECT_FALSE(read_hash(nlohmann::json("0x12"), "a hash"));
  EXPECT_FALSE(read_address(nlohmann::json("0x" + std::string(38, '1')), "an address"));
}

}  // namespace
}  // namespace ward::evm
