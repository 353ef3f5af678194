#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "base/bytes.h"
#include "crypto/random.h"
#include "keys/party_key.h"
#include "ledger/client.h"
#include "ledger/ledger.h"
#include "loader/loader.h"

namespace ward::loader {
namespace {

// What an idle CVM reads each poll (open_orders): orders placed on a tee
// offer on an embedded ledger, some canceled, read in small pages.
class OpenOrdersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("ward-open-" + hex_encode(crypto::random_bytes(8)));
    std::filesystem::create_directories(dir_);
    auto ledger = ledger::Ledger::init(dir_ / "ward.db", true);
    ASSERT_TRUE(ledger) << ledger.error().message;
    ledger_.emplace(std::move(*ledger));
    client_ = ledger::borrow_client(*ledger_);
    send("accounts.register", {{"recipient", creator_.recipient().to_string()}});
    send("accounts.fund", {{"to", hex_encode(creator_.signing_public_key())}, {"amount", 1000}});
    tee_ = send("offers.create", {{"kind", "tee"},
                                  {"name", "sim"},
                                  {"resource", "sim"},
                                  {"price", {{"model", "per_hour"}, {"amount", 1}}}});
  }
  void TearDown() override {
    client_.reset();
    ledger_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::uint64_t send(std::string_view type, nlohmann::json args) {
    auto receipt = ledger::submit_signed(*client_, creator_, type, std::move(args));
    EXPECT_TRUE(receipt) << type << ": " << receipt.error().message;
    return receipt ? receipt->index : 0;
  }
  std::uint64_t order() {
    return send("orders.create", {{"offer", tee_},
                                  {"engine", "sha256:" + std::string(64, 'e')},
                                  {"inputs", nlohmann::json::array()},
                                  {"outputs", {creator_.recipient().to_string()}},
                                  {"offers", nlohmann::json::array()},
                                  {"deposit", 1}});
  }
  void cancel(std::uint64_t id) { send("orders.cancel", {{"order", id}}); }
  static std::vector<std::uint64_t> ids(const std::vector<ledger::Order>& orders) {
    std::vector<std::uint64_t> out;
    for (const auto& o : orders) out.push_back(o.id);
    return out;
  }

  std::filesystem::path dir_;
  std::optional<ledger::Ledger> ledger_;
  std::unique_ptr<ledger::LedgerClient> client_;
  keys::PartyKey creator_ = keys::PartyKey::generate();
  std::uint64_t tee_ = 0;
};

TEST_F(OpenOrdersTest, ShouldReadFromTheOldestOpenOrderOnAcrossPages) {
  std::vector<std::uint64_t> made;
  for (int i = 0; i < 5; ++i) made.push_back(order());
  cancel(made[0]);
  cancel(made[2]);
  std::uint64_t from = 0;
  auto open = open_orders(*client_, from, 2);  // pages of two: three pages and an empty one
  ASSERT_TRUE(open) << open.error().message;
  EXPECT_EQ(ids(open->fresh), (std::vector<std::uint64_t>{made[1], made[3], made[4]}));
  EXPECT_TRUE(open->processing.empty());
  EXPECT_EQ(from, made[1]) << "the oldest open order";

  // The oldest ends: the next look starts at the next open one and sees an
  // order made since.
  cancel(made[1]);
  const std::uint64_t later = order();
  open = open_orders(*client_, from, 2);
  ASSERT_TRUE(open) << open.error().message;
  EXPECT_EQ(ids(open->fresh), (std::vector<std::uint64_t>{made[3], made[4], later}));
  EXPECT_EQ(from, made[3]);
}

TEST_F(OpenOrdersTest, ShouldMovePastEveryOrderWhenNoneIsOpen) {
  const std::uint64_t a = order();
  const std::uint64_t b = order();
  cancel(a);
  cancel(b);
  std::uint64_t from = 0;
  auto open = open_orders(*client_, from);
  ASSERT_TRUE(open) << open.error().message;
  EXPECT_TRUE(open->fresh.empty());
  EXPECT_EQ(from, b + 1);
  // Nothing before `from` is read again; a new order is.
  const std::uint64_t c = order();
  open = open_orders(*client_, from);
  ASSERT_TRUE(open) << open.error().message;
  EXPECT_EQ(ids(open->fresh), (std::vector<std::uint64_t>{c}));
  EXPECT_EQ(from, c);
}

}  // namespace
}  // namespace ward::loader
