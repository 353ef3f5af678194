// The mapping between Ward transactions and WardLedger's calls, checked
// against the contract's compiled ABI (the checked-in artifact): every custom
// error reads back as its Ward reason code, every event that carries a
// record index is found, and the binding of an address verifies only for
// its key and address.
#include <fstream>
#include <map>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "evm/abi.h"
#include "ledger/evm/calls.h"

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
  EXPECT_EQ(events, 18u);
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

// The contract has no split services yet: they are refused before anything
// is sent, as orders on a tee offer are.
TEST(EvmCallsTest, shouldRefuseASplitServiceAndItsJoinBeforeSending) {
  auto key = crypto::Ed25519PrivateKey::generate();
  const ward::evm::Address address{{7, 7, 7}};
  Transaction tx;
  tx.action = args::ServicesJoin{3, "10.0.0.2:50052"};
  auto join = encode_call(tx, key, address, std::nullopt);
  ASSERT_FALSE(join);
  EXPECT_EQ(join.error().message,
            "services.join is not on the EVM ledger yet: use an embedded or HTTP ledger");
  args::OrdersCreate split{CvmId{1}, std::nullopt, std::nullopt, "sha256:e", {}, {}, {}, 10, ServeRule{}};
  tx.action = split;
  EXPECT_TRUE(encode_call(tx, key, address, std::nullopt)) << "a service on one CVM is sent";
  split.workers = {CvmId{2}};
  tx.action = split;
  auto create = encode_call(tx, key, address, std::nullopt);
  ASSERT_FALSE(create);
  EXPECT_NE(create.error().message.find("is not on the EVM ledger yet"), std::string::npos)
      << create.error().message;
}

}  // namespace
}  // namespace ward::ledger::evm
