// The offline report bundle, attacked as a stranger who hands one over would:
// bytes changed, events swapped, and forged blocks that are consistent in
// themselves (roots and header rebuilt), which only the checks on what the
// blocks say can refuse. evm_bundle.json is a real bundle: `ward orders
// bundle` of the copy order in tests/e2e/order.sh on anvil (e2e_order_evm);
// evm_bundle_taken.json one of an order placed on a tee offer, which a CVM
// took after another failed (tests/e2e/failover.sh, e2e_failover_evm). Both
// scripts write theirs to WARD_E2E_BUNDLE_OUT when it is set.
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "crypto/hash.h"
#include "evm/abi.h"
#include "evm/header.h"
#include "evm/receipt.h"
#include "evm/rlp.h"
#include "evm/signer.h"
#include "evm/transaction.h"
#include "evm/trie.h"
#include "ledger/evm/bundle.h"
#include "ledger/evm/calls.h"

namespace ward::ledger::evm {
namespace {

namespace chain = ward::evm;
using json = nlohmann::json;

json real_bundle(const char* file = "tests/unit/ledger/evm_bundle.json") {
  std::ifstream in(file);
  return json::parse(in);
}
json taken_bundle() {
  return real_bundle("tests/unit/ledger/evm_bundle_taken.json");
}

Bytes unhex(const json& j) {
  return hex_decode(j.get<std::string>().substr(2)).value();
}
std::string hex(ByteView b) {
  return chain::data_text(b);
}

// Rebuilds a proof's roots from its receipts and transactions, and its
// header with them: a block consistent in itself, with another hash.
void rebuild(json& proof) {
  std::vector<Bytes> receipts, transactions;
  for (const auto& r : proof["receipts"]) receipts.push_back(unhex(r));
  for (const auto& t : proof["transactions"]) transactions.push_back(unhex(t));
  auto header = chain::rlp_decode(unhex(proof["header"])).value();
  const auto tx_root = chain::ordered_trie_root(transactions);
  const auto receipts_root = chain::ordered_trie_root(receipts);
  header.items[4] = chain::RlpItem::string(tx_root);
  header.items[5] = chain::RlpItem::string(receipts_root);
  proof["header"] = hex(chain::rlp_encode(header));
}

// The receipt of a proof's transaction, changed by `edit`, and the block rebuilt.
template <typename F>
void forge_receipt(json& proof, F edit) {
  const std::size_t i = proof["transaction"];
  auto receipt = chain::decode_receipt(unhex(proof["receipts"][i])).value();
  edit(receipt.logs.at(proof["log"].get<std::size_t>()));
  receipt.logs_bloom = chain::logs_bloom(receipt.logs);
  proof["receipts"][i] = hex(chain::receipt_rlp(receipt));
  rebuild(proof);
}

std::string refusal(const json& bundle) {
  auto checked = check_report_bundle(bundle);
  EXPECT_FALSE(checked.has_value());
  if (checked) return "";
  EXPECT_EQ(checked.error().code, "ledger.bundle");
  return checked.error().message;
}

TEST(EvmBundleTest, shouldProveTheReportOfARealOrderFromItsBlocks) {
  const json bundle = real_bundle();
  auto checked = check_report_bundle(bundle);
  ASSERT_TRUE(checked) << checked.error().message;
  EXPECT_EQ(checked->chain_id, 31337u);
  EXPECT_EQ(checked->ledger_id, ledger_id_for(31337, checked->contract));
  ASSERT_EQ(checked->blocks.size(), 3u);
  EXPECT_EQ(checked->blocks[0].event, "CvmRegistered");
  EXPECT_EQ(checked->blocks[1].event, "OrderCreated");
  EXPECT_EQ(checked->report_block().event, "ReportSubmitted");
  EXPECT_EQ(checked->report_block().hash, chain::keccak256(unhex(bundle["events"]["report"]["header"])));
  EXPECT_EQ(checked->order.id, bundle["order"].get<std::uint64_t>());
  EXPECT_EQ(checked->order.status, OrderStatus::Done);
  EXPECT_EQ(checked->report.order, checked->order.id);
  EXPECT_EQ(checked->report.time, checked->report_block().timestamp);
  EXPECT_TRUE(checked->report.report.starts_with("{")) << checked->report.report.substr(0, 40);
  EXPECT_FALSE(checked->order.engine.empty());
  EXPECT_EQ(checked->order.inputs.size(), 3u);  // the engine's grant and two inputs'
}

TEST(EvmBundleTest, shouldRefuseAReceiptChangedInOneByte) {
  json bundle = real_bundle();
  Bytes receipt = unhex(bundle["events"]["report"]["receipts"][0]);
  receipt[receipt.size() - 100] ^= 1;  // inside the report's bytes
  bundle["events"]["report"]["receipts"][0] = hex(receipt);
  EXPECT_NE(refusal(bundle).find("do not rebuild its receipts root"), std::string::npos);
}

TEST(EvmBundleTest, shouldRefuseATransactionChangedInOneByte) {
  json bundle = real_bundle();
  Bytes tx = unhex(bundle["events"]["order"]["transactions"][0]);
  tx[tx.size() / 2] ^= 1;
  bundle["events"]["order"]["transactions"][0] = hex(tx);
  EXPECT_NE(refusal(bundle).find("do not rebuild its transactions root"), std::string::npos);
}

TEST(EvmBundleTest, shouldRefuseAReportSentByAnotherAddressInAForgedBlock) {
  json bundle = real_bundle();
  json& proof = bundle["events"]["report"];
  const std::size_t i = proof["transaction"];
  auto tx = chain::decode_signed_transaction(unhex(proof["transactions"][i])).value();
  const auto mallory = chain::PrivateKey::generate();
  proof["transactions"][i] = hex(chain::sign_transaction(tx.tx, mallory).raw());
  rebuild(proof);
  const std::string why = refusal(bundle);
  EXPECT_NE(why.find("the report was sent by " + mallory.address().to_checksum()), std::string::npos) << why;
}

TEST(EvmBundleTest, shouldRefuseAListingWhoseAddressTheCvmKeyDidNotBind) {
  json bundle = real_bundle();
  const chain::Address mallory = chain::PrivateKey::generate().address();
  forge_receipt(bundle["events"]["cvm"], [&](chain::Log& log) {
    // The listing's first data word is the CVM's address.
    std::copy(mallory.bytes.begin(), mallory.bytes.end(), log.data.begin() + 12);
  });
  const std::string why = refusal(bundle);
  EXPECT_NE(why.find("is not bound to its key"), std::string::npos) << why;
}

TEST(EvmBundleTest, shouldRefuseAnEventThatAnotherContractEmitted) {
  json bundle = real_bundle();
  forge_receipt(bundle["events"]["report"], [](chain::Log& log) { log.address.bytes[0] ^= 1; });
  EXPECT_NE(refusal(bundle).find("the event is not the contract's"), std::string::npos);
}

TEST(EvmBundleTest, shouldRefuseReportBytesThatDoNotHashToTheirRecordedHash) {
  json bundle = real_bundle();
  forge_receipt(bundle["events"]["report"], [](chain::Log& log) { log.data[log.data.size() - 200] ^= 1; });
  EXPECT_NE(refusal(bundle).find("does not hash to its reportSha256"), std::string::npos);
}

TEST(EvmBundleTest, shouldRefuseABundleClaimingAnotherChain) {
  json bundle = real_bundle();
  bundle["chain_id"] = 56;
  const std::string why = refusal(bundle);
  EXPECT_NE(why.find("is for chain 31337, not chain 56"), std::string::npos) << why;
}

TEST(EvmBundleTest, shouldRefuseAnotherEventInTheReportsPlace) {
  json bundle = real_bundle();
  bundle["events"]["report"] = bundle["events"]["order"];
  EXPECT_NE(refusal(bundle).find("is not ReportSubmitted"), std::string::npos);
}

TEST(EvmBundleTest, shouldRefuseTheBundleShownAsAnotherOrders) {
  json bundle = real_bundle();
  bundle["order"] = bundle["order"].get<std::uint64_t>() + 1;
  EXPECT_NE(refusal(bundle).find("OrderCreated is for another order"), std::string::npos);
}

TEST(EvmBundleTest, shouldRefuseABatchOrderWithAServiceStart) {
  json bundle = real_bundle();
  bundle["events"]["service"] = bundle["events"]["report"];
  EXPECT_NE(refusal(bundle).find("ServiceStarted proof for a batch order"), std::string::npos);
}

TEST(EvmBundleTest, shouldRefuseMissingAndMalformedParts) {
  json bundle = real_bundle();
  bundle["events"].erase("cvm");
  EXPECT_NE(refusal(bundle).find("has no CvmRegistered proof"), std::string::npos);
  bundle = real_bundle();
  bundle["format"] = "ward/evm-report-bundle/v0";
  EXPECT_NE(refusal(bundle).find("not a ward/evm-report-bundle/v1 bundle"), std::string::npos);
  bundle = real_bundle();
  bundle["events"]["report"]["receipts"].erase(0);
  EXPECT_NE(refusal(bundle).find("not a non-empty list"), std::string::npos);
  bundle = real_bundle();
  bundle["events"]["report"]["header"] = "0x";
  EXPECT_NE(refusal(bundle).find("header"), std::string::npos);
  bundle = real_bundle();
  bundle["events"]["report"]["log"] = 9;
  const std::string why = refusal(bundle);
  EXPECT_NE(why.find("points past its receipt's logs"), std::string::npos) << why;
  bundle = real_bundle();
  bundle["events"]["report"]["receipts"][0] = "0xzz";
  EXPECT_NE(refusal(bundle).find("is not hex"), std::string::npos);
}

TEST(EvmBundleTest, shouldProveATakenOrderByTheTakersOrderTaken) {
  const json bundle = taken_bundle();
  auto checked = check_report_bundle(bundle);
  ASSERT_TRUE(checked) << checked.error().message;
  ASSERT_EQ(checked->blocks.size(), 4u);
  EXPECT_EQ(checked->blocks[1].event, "OrderCreated");
  EXPECT_EQ(checked->blocks[2].event, "OrderTaken");
  EXPECT_NE(checked->order.tee_offer, 0u);
  // The order's CVM is the listed one, which sent the take and the report.
  const json& cvm = bundle["events"]["cvm"];
  const auto listing =
      chain::decode_receipt(unhex(cvm["receipts"][cvm["transaction"].get<std::size_t>()])).value();
  EXPECT_EQ(checked->order.cvm, listing.logs.at(cvm["log"].get<std::size_t>()).topics[1]);
}

TEST(EvmBundleTest, shouldRefuseATakenOrderWithoutItsTake) {
  json bundle = taken_bundle();
  bundle["events"].erase("taken");
  EXPECT_NE(refusal(bundle).find("has no OrderTaken proof"), std::string::npos);
}

TEST(EvmBundleTest, shouldRefuseATakeNamingAnotherCvmInAForgedBlock) {
  json bundle = taken_bundle();
  forge_receipt(bundle["events"]["taken"], [](chain::Log& log) { log.topics[2][0] ^= 1; });
  const std::string why = refusal(bundle);
  EXPECT_NE(why.find("OrderTaken names another CVM than the listing's"), std::string::npos) << why;
}

TEST(EvmBundleTest, shouldRefuseATakeOfAnotherOrderInAForgedBlock) {
  json bundle = taken_bundle();
  forge_receipt(bundle["events"]["taken"], [](chain::Log& log) { log.topics[1][31] ^= 1; });
  const std::string why = refusal(bundle);
  EXPECT_NE(why.find("OrderTaken is for another order"), std::string::npos) << why;
}

TEST(EvmBundleTest, shouldRefuseATakeSentByAnotherAddressInAForgedBlock) {
  json bundle = taken_bundle();
  json& proof = bundle["events"]["taken"];
  const std::size_t i = proof["transaction"];
  auto tx = chain::decode_signed_transaction(unhex(proof["transactions"][i])).value();
  proof["transactions"][i] = hex(chain::sign_transaction(tx.tx, chain::PrivateKey::generate()).raw());
  rebuild(proof);
  const std::string why = refusal(bundle);
  EXPECT_NE(why.find("the order was taken by another address than the CVM's"), std::string::npos) << why;
}

TEST(EvmBundleTest, shouldRefuseATakeAddedToAnOrderThatNamesItsCvm) {
  json bundle = real_bundle();
  bundle["events"]["taken"] = taken_bundle()["events"]["taken"];
  const std::string why = refusal(bundle);
  EXPECT_NE(why.find("OrderTaken proof for an order that names its CVM"), std::string::npos) << why;
}

TEST(EvmBundleTest, shouldRefuseAnotherEventInTheTakesPlace) {
  json bundle = taken_bundle();
  bundle["events"]["taken"] = bundle["events"]["order"];
  EXPECT_NE(refusal(bundle).find("is not OrderTaken"), std::string::npos);
}

}  // namespace
}  // namespace ward::ledger::evm
