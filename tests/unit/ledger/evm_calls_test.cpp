// The mapping between Ward transactions and WardLedger's calls, checked
// against the contract's compiled ABI (the checked-in artifact): every custom
// error reads back as its Ward reason code, every event that carries a
// record index is found, and the binding of an address verifies only for
// its key and address.
#include <fstream>
#include <map>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "evm/abi.h"
#include "ledger/evm/calls.h"
#include "ledger/evm/reader.h"

namespace ward::ledger::evm {
namespace {

namespace abi = ward::evm::abi;
using nlohmann::json;

json artifact_abi() {
  std::ifstream in("contracts/artifacts/WardLedger.json");
  return json::parse(in).at("abi");
}

// "tuple" components written out, as canonical signatures need them.
std::string canonical_type(const json& param) {
  const std::string type = param.at("type").get<std::string>();
  if (!type.starts_with("tuple")) return type;
  std::string out = "(";
  for (const auto& c : param.at("components")) out += (out.size() > 1 ? "," : "") + canonical_type(c);
  return out + ")" + type.substr(5);
}

std::string signature(const json& entry) {
  std::string out = entry.at("name").get<std::string>() + "(";
  bool first = true;
  for (const auto& p : entry.at("inputs")) {
    out += (first ? "" : ",") + canonical_type(p);
    first = false;
  }
  return out + ")";
}

TEST(EvmCallsTest, shouldReadEveryCustomErrorOfTheContractAsItsWardReason) {
  const std::map<std::string, std::string> expected = {{"Malformed", reason::kMalformed},
                                                       {"UnknownAddress", reason::kUnknownAccount},
                                                       {"UnknownAccount", reason::kUnknownAccount},
                                                       {"AlreadyExists", reason::kAlreadyExists},
                                                       {"NotFound", reason::kNotFound},
                                                       {"NotOwner", reason::kNotOwner},
                                                       {"NotAllowed", reason::kNotAllowed},
                                                       {"BadState", reason::kBadState},
                                                       {"InsufficientFunds", reason::kInsufficientFunds},
                                                       {"Overflow", reason::kOverflow},
                                                       {"DevOnly", reason::kDevOnly},
                                                       {"ReportMismatch", reason::kReportMismatch},
                                                       {"Revoked", reason::kRevoked},
                                                       {"UsedUp", reason::kUsedUp},
                                                       {"UsageRegressed", reason::kUsageRegressed},
                                                       {"CertificateMismatch", reason::kCertificateMismatch}};
  std::size_t errors = 0;
  for (const auto& entry : artifact_abi()) {
    if (entry.at("type") != "error") continue;
    ++errors;
    const std::string name = entry.at("name").get<std::string>();
    ASSERT_TRUE(expected.contains(name)) << "the contract has an error the client does not know: " << name;
    auto f = abi::Function::parse(signature(entry));
    ASSERT_TRUE(f) << f.error().message;
    // Arguments of zeros are a valid encoding of every argument type here.
    const abi::Selector selector = f->selector();
    Bytes data(selector.begin(), selector.end());
    data.resize(4 + 32 * f->inputs.size());
    const Rejection r = rejection_from_revert(data);
    EXPECT_EQ(r.reason, expected.at(name)) << name << ": " << r.message;
    EXPECT_FALSE(r.message.empty());
  }
  EXPECT_EQ(errors, expected.size());
}

TEST(EvmCallsTest, shouldCallAnythingElseInternal) {
  EXPECT_EQ(rejection_from_revert({}).reason, "internal");
  // Error(string) "no": not a WardLedger error.
  auto err = abi::Function::parse("Error(string)")->encode_call({abi::Value::string("no")});
  EXPECT_EQ(rejection_from_revert(*err).reason, "internal");
  EXPECT_EQ(rejection_from_revert(Bytes{1, 2, 3, 4}).reason, "internal");
}

TEST(EvmCallsTest, shouldFindTheRecordIndexInEveryEventThatCarriesOne) {
  const ward::evm::Address contract{{1, 2, 3}};
  std::size_t events = 0;
  for (const auto& entry : artifact_abi()) {
    if (entry.at("type") != "event" || entry.at("name") == "Transfer") continue;
    ++events;
    const std::string sig = signature(entry);
    auto f = abi::Function::parse(sig);
    ASSERT_TRUE(f) << sig;
    ward::evm::Log log;
    log.address = contract;
    log.topics.push_back(f->topic());
    std::vector<abi::Type> data_types;
    std::vector<abi::Value> data_values;
    std::size_t i = 0;
    for (const auto& p : entry.at("inputs")) {
      const bool indexed = p.at("indexed").get<bool>();
      const std::string pname = p.at("name").get<std::string>();
      // The record index is 77 wherever it is: in `index`, or in the id a creating call returns.
      const bool is_index =
          pname == "index" ||
          ((entry.at("name") == "OfferCreated" || entry.at("name") == "OrderCreated") && i == 0);
      const std::uint64_t n = is_index ? 77 : 5;
      if (indexed) {
        log.topics.push_back(ward::evm::U256(n).big_endian());
      } else {
        data_types.push_back(f->inputs[i]);
        const auto& t = f->inputs[i];
        using K = abi::Type::Kind;
        if (t.kind == K::Uint)
          data_values.push_back(abi::Value::uint(ward::evm::U256(n)));
        else if (t.kind == K::Bool)
          data_values.push_back(abi::Value::boolean(true));
        else if (t.kind == K::Address)
          data_values.push_back(abi::Value::address(contract));
        else if (t.kind == K::FixedBytes)
          data_values.push_back(abi::Value::bytes(Bytes(t.size, 9)));
        else if (t.kind == K::String)
          data_values.push_back(abi::Value::string("s"));
        else if (t.kind == K::Bytes)
          data_values.push_back(abi::Value::bytes(Bytes{1}));
        else if (t.kind == K::Tuple) {
          data_values.push_back(
              abi::Value::list({abi::Value::uint(ward::evm::U256(0)), abi::Value::uint(ward::evm::U256(1)),
                                abi::Value::uint(ward::evm::U256(2))}));
        } else
          FAIL() << "unexpected type in " << sig;
      }
      ++i;
    }
    auto data = abi::encode(data_types, data_values);
    ASSERT_TRUE(data) << sig << ": " << data.error().message;
    log.data = *data;
    EXPECT_EQ(record_index({log}, contract), 77u) << sig;
    // The same log from another contract is not this ledger's.
    log.address.bytes[0] ^= 1;
    EXPECT_FALSE(record_index({log}, contract)) << sig;
  }
  EXPECT_EQ(events, 21u);
}

TEST(EvmCallsTest, shouldVerifyABindingOnlyForItsKeyAndAddress) {
  auto key = crypto::Ed25519PrivateKey::generate();
  const ward::evm::Address address{{7, 7, 7}};
  const auto binding = sign_binding(key, address);
  EXPECT_TRUE(verify_binding(key.public_key(), address, binding));
  ward::evm::Address other = address;
  other.bytes[19] = 1;
  EXPECT_FALSE(verify_binding(key.public_key(), other, binding));
  EXPECT_FALSE(verify_binding(crypto::Ed25519PrivateKey::generate().public_key(), address, binding));
}

// Orders on a tee offer, split services and their joins go to the contract
// as calls whose arguments read back as they were given (OrderCreated keeps
// createOrder's arguments: decode_order_created is what the reader uses).
TEST(EvmCallsTest, shouldEncodeOrdersOnAnOfferSplitServicesAndJoins) {
  auto key = crypto::Ed25519PrivateKey::generate();
  const ward::evm::Address address{{7, 7, 7}};
  Transaction tx;
  tx.action = args::ServicesJoin{3, "10.0.0.2:50052"};
  auto join = encode_call(tx, key, address, std::nullopt);
  ASSERT_TRUE(join) << join.error().message;
  auto f = abi::Function::parse("joinService(uint64,string)");
  ASSERT_TRUE(f);
  const abi::Selector selector = f->selector();
  ASSERT_TRUE(std::equal(selector.begin(), selector.end(), join->begin()));
  auto values = abi::decode(f->inputs, ByteView(*join).subspan(4));
  ASSERT_TRUE(values);
  EXPECT_EQ((*values)[0].as_uint64().value(), 3u);
  EXPECT_EQ((*values)[1].as_string().value(), "10.0.0.2:50052");

  args::OrdersCreate split{CvmId{1}, std::nullopt, std::nullopt, "sha256:e", {}, {}, {}, 10, ServeRule{}};
  split.workers = {CvmId{2}, CvmId{3}};
  args::OrdersCreate on_offer{CvmId{}, 7,  Resources{4, 8192, 1}, "sha256:e", {"ward://in"}, {"age1out"},
                              {5},     90, std::nullopt};
  for (const auto& order : {split, on_offer}) {
    tx.action = order;
    auto call = encode_call(tx, key, address, std::nullopt);
    ASSERT_TRUE(call) << call.error().message;
    auto created = decode_order_created(ByteView(*call).subspan(4));
    ASSERT_TRUE(created) << created.error().message;
    EXPECT_EQ(created->cvm, order.cvm);
    EXPECT_EQ(created->offer, order.offer);
    EXPECT_EQ(created->needs, order.needs);
    EXPECT_EQ(created->workers, order.workers);
    EXPECT_EQ(created->serve.has_value(), order.serve.has_value());
    EXPECT_EQ(created->offers, order.offers);
    EXPECT_EQ(created->deposit, order.deposit);
  }
  for (const auto& action : std::vector<Action>{args::OrdersTake{9}, args::OrdersReassign{9}}) {
    tx.action = action;
    auto call = encode_call(tx, key, address, std::nullopt);
    ASSERT_TRUE(call) << call.error().message;
    EXPECT_EQ(call->size(), 4u + 32u);
  }
}

}  // namespace
}  // namespace ward::ledger::evm
