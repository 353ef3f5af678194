#include "ledger/contract.h"

#include <gtest/gtest.h>

#include "base/time.h"
#include "ledger/state.h"
#include "ledger_testing.h"

namespace ward::ledger {
namespace {

using testing::json;
using testing::Party;

constexpr std::uint64_t kStartTime = 1'700'000'000;

// A dev ledger in memory. run() signs, parses and applies one transaction as
// the next record; a rejection is checked to leave the state unchanged.
class ContractTest : public ::testing::Test {
 protected:
  LedgerId ledger_id{1, 2, 3};
  MemoryState state{LedgerInfo{ledger_id, true}};
  std::uint64_t next_index = 0;
  std::uint64_t now = kStartTime;

  std::expected<void, Rejection> run(Party& p, std::string_view type, json args,
                                     std::optional<std::uint64_t> nonce = std::nullopt) {
    return run_envelope(p, testing::signed_tx(ledger_id, p, type, std::move(args), nonce));
  }

  std::expected<void, Rejection> run_envelope(Party& p, const std::string& text) {
    auto stx = parse_and_verify(text);
    EXPECT_TRUE(stx.has_value()) << (stx ? "" : stx.error().message);
    if (!stx) return std::unexpected(stx.error());
    const Snapshot before = state.snapshot();
    const std::uint64_t nonce = stx->tx.nonce;
    auto result = apply(state, Record{next_index, now, std::move(*stx)});
    if (result) {
      ++next_index;
      p.nonce = nonce;
      EXPECT_EQ(sum_of_balances_and_escrow(), state.totals().supply)
          << "balances and escrow no longer add up to the supply";
    } else {
      EXPECT_EQ(state.snapshot(), before) << "a rejected transaction changed the state";
    }
    return result;
  }

  void ok(Party& p, std::string_view type, json args) {
    auto r = run(p, type, std::move(args));
    ASSERT_TRUE(r.has_value()) << type << ": " << r.error().reason << ": " << r.error().message;
  }

  // The rejection reason ("" when accepted).
  std::string reason(Party& p, std::string_view type, json args,
                     std::optional<std::uint64_t> nonce = std::nullopt) {
    auto r = run(p, type, std::move(args), nonce);
    return r ? std::string() : r.error().reason;
  }

  Party account(std::uint64_t balance = 0) {
    Party p;
    ok(p, "accounts.register", {{"recipient", p.recipient()}});
    if (balance > 0) ok(p, "accounts.fund", {{"to", p.hex()}, {"amount", balance}});
    return p;
  }

  std::uint64_t balance(const Party& p) { return state.account(p.id()).value().balance; }

  std::uint64_t offer(Party& owner, std::string_view kind, json price) {
    const std::uint64_t id = next_index;
    ok(owner, "offers.create", {{"kind", kind}, {"name", "n"}, {"resource", "sha256:00"}, {"price", price}});
    return id;
  }

  static json fixed(std::uint64_t n) { return {{"model", "fixed"}, {"amount", n}}; }
  static json per_hour(std::uint64_t n) { return {{"model", "per_hour"}, {"amount", n}}; }
  static json share(std::uint64_t bps) { return {{"model", "revenue_share"}, {"bps", bps}}; }

  json cvm_args(const Party& cvm, std::uint64_t tee_offer) {
    return {
        {"key", cvm.hex()}, {"recipient", cvm.recipient()}, {"certificate", "CERT"}, {"offer", tee_offer}};
  }

  Party cvm(Party& provider, std::uint64_t tee_offer) {
    Party c;
    ok(provider, "cvms.register", cvm_args(c, tee_offer));
    return c;
  }

  json order_args(const Party& cvm, std::uint64_t deposit, std::vector<std::uint64_t> offers = {}) {
    return {{"cvm", hex_encode(crypto::sha256(cvm.id()))},
            {"engine", "sha256:e"},
            {"inputs", {"grant-1"}},
            {"outputs", {"age1out"}},
            {"offers", offers},
            {"deposit", deposit}};
  }

  std::uint64_t order(Party& creator, const Party& cvm, std::uint64_t deposit,
                      std::vector<std::uint64_t> offers = {}) {
    const std::uint64_t id = next_index;
    ok(creator, "orders.create", order_args(cvm, deposit, std::move(offers)));
    return id;
  }

  OrderStatus status(std::uint64_t order) { return state.order(order).value().status; }

  // The consistent signed report `cvm` submits for `order`.
  json report(const Party& cvm, std::uint64_t order) {
    const auto o = state.order(order);
    return testing::signed_report(ledger_id, order, cvm, o ? o->engine : "sha256:e");
  }

  std::uint64_t sum_of_balances_and_escrow() {
    std::uint64_t sum = state.totals().escrow;
    for (const auto& [id, a] : state.snapshot().accounts) sum += a.balance;
    return sum;
  }
};

// A world with a provider (tee offer per hour), its CVM, a creator with funds
// and an order; put_order_in() drives that order to any status.
class OrderTest : public ContractTest {
 protected:
  void SetUp() override {
    provider = account();
    tee = offer(provider, "tee", per_hour(3600));
    vm = cvm(provider, tee);
    creator = account(1000);
    stranger = account(1000);
    other_vm = cvm(provider, tee);
  }

  std::uint64_t put_order_in(OrderStatus s) {
    const std::uint64_t id = order(creator, vm, 100);
    switch (s) {
      case OrderStatus::New:
        break;
      case OrderStatus::Processing:
        ok(vm, "orders.start", {{"order", id}});
        break;
      case OrderStatus::Done:
        ok(vm, "orders.start", {{"order", id}});
        ok(vm, "reports.submit", {{"order", id}, {"report", report(vm, id)}});
        break;
      case OrderStatus::Error:
        ok(vm, "orders.start", {{"order", id}});
        ok(vm, "orders.fail", {{"order", id}, {"reason", "boom"}});
        break;
      case OrderStatus::Canceled:
        ok(creator, "orders.cancel", {{"order", id}});
        break;
    }
    EXPECT_EQ(status(id), s);
    return id;
  }

  Party provider, vm, creator, stranger, other_vm;
  std::uint64_t tee = 0;
};

// --- nonces, ledger id, unknown senders (every type goes through these) ---

class Nonce : public ContractTest {};

TEST_F(Nonce, ShouldRejectWhenSenderHasNoAccount) {
  Party nobody;
  EXPECT_EQ(reason(nobody, "cvms.heartbeat", json::object()), reason::kUnknownAccount);
}

TEST_F(Nonce, ShouldRejectReplayedNonce) {
  Party a = account(10);
  Party b = account();
  const std::string t =
      testing::signed_tx(ledger_id, a, "accounts.transfer", {{"to", b.hex()}, {"amount", 1}});
  ASSERT_TRUE(run_envelope(a, t));
  auto again = run_envelope(a, t);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().reason, reason::kBadNonce);
  EXPECT_EQ(balance(b), 1u);
}

TEST_F(Nonce, ShouldRejectSkippedNonce) {
  Party a = account(10);
  EXPECT_EQ(reason(a, "cvms.heartbeat", json::object(), a.nonce + 2), reason::kBadNonce);
}

TEST_F(Nonce, ShouldRejectZeroNonce) {
  Party a = account(10);
  EXPECT_EQ(reason(a, "cvms.heartbeat", json::object(), 0), reason::kBadNonce);
}

class LedgerIdCheck : public ContractTest {};

TEST_F(LedgerIdCheck, ShouldRejectOtherLedgersId) {
  Party a = account(10);
  Party b = account();
  const LedgerId other{9};
  EXPECT_EQ(
      run_envelope(a, testing::signed_tx(other, a, "accounts.transfer", {{"to", b.hex()}, {"amount", 1}}))
          .error()
          .reason,
      reason::kWrongLedger);
}

// --- accounts ---

class AccountsRegister : public ContractTest {};

TEST_F(AccountsRegister, ShouldCreateAccountWithZeroBalanceAndNonceOne) {
  Party a;
  ok(a, "accounts.register", {{"recipient", a.recipient()}, {"name", "alice"}});
  const Account acct = state.account(a.id()).value();
  EXPECT_EQ(acct.balance, 0u);
  EXPECT_EQ(acct.nonce, 1u);
  EXPECT_EQ(acct.name, "alice");
  EXPECT_EQ(acct.recipient, a.recipient());
}

TEST_F(AccountsRegister, ShouldRejectWhenAccountExists) {
  Party a = account();
  EXPECT_EQ(reason(a, "accounts.register", {{"recipient", a.recipient()}}, 1), reason::kAlreadyExists);
  EXPECT_EQ(reason(a, "accounts.register", {{"recipient", a.recipient()}}), reason::kAlreadyExists);
}

TEST_F(AccountsRegister, ShouldRejectWhenNonceIsNotOne) {
  Party a;
  EXPECT_EQ(reason(a, "accounts.register", {{"recipient", a.recipient()}}, 2), reason::kBadNonce);
}

class AccountsFund : public ContractTest {};

TEST_F(AccountsFund, ShouldMintOnDevLedger) {
  Party a = account();
  ok(a, "accounts.fund", {{"to", a.hex()}, {"amount", 500}});
  EXPECT_EQ(balance(a), 500u);
  EXPECT_EQ(state.totals().supply, 500u);
}

TEST_F(AccountsFund, ShouldRejectOnProductionLedger) {
  state = MemoryState(LedgerInfo{ledger_id, false});
  Party a = account();
  EXPECT_EQ(reason(a, "accounts.fund", {{"to", a.hex()}, {"amount", 1}}), reason::kDevOnly);
}

TEST_F(AccountsFund, ShouldRejectWhenRecipientHasNoAccount) {
  Party a = account();
  Party nobody;
  EXPECT_EQ(reason(a, "accounts.fund", {{"to", nobody.hex()}, {"amount", 1}}), reason::kUnknownAccount);
}

TEST_F(AccountsFund, ShouldRejectWhenSupplyWouldExceedMaximum) {
  Party a = account(kMaxAmount);
  Party b = account();
  EXPECT_EQ(reason(b, "accounts.fund", {{"to", b.hex()}, {"amount", 1}}), reason::kOverflow);
  EXPECT_EQ(balance(a), kMaxAmount);
}

class AccountsTransfer : public ContractTest {};

TEST_F(AccountsTransfer, ShouldMoveTokens) {
  Party a = account(10);
  Party b = account();
  ok(a, "accounts.transfer", {{"to", b.hex()}, {"amount", 4}});
  EXPECT_EQ(balance(a), 6u);
  EXPECT_EQ(balance(b), 4u);
  EXPECT_EQ(state.totals().supply, 10u);
}

TEST_F(AccountsTransfer, ShouldRejectWhenAmountExceedsBalance) {
  Party a = account(10);
  Party b = account();
  EXPECT_EQ(reason(a, "accounts.transfer", {{"to", b.hex()}, {"amount", 11}}), reason::kInsufficientFunds);
}

TEST_F(AccountsTransfer, ShouldRejectMoreThanTheWholeSupply) {
  Party a = account(10);
  Party b = account();
  EXPECT_EQ(reason(a, "accounts.transfer", {{"to", b.hex()}, {"amount", kMaxAmount}}),
            reason::kInsufficientFunds);
}

TEST_F(AccountsTransfer, ShouldRejectWhenRecipientHasNoAccount) {
  Party a = account(10);
  Party nobody;
  EXPECT_EQ(reason(a, "accounts.transfer", {{"to", nobody.hex()}, {"amount", 1}}), reason::kUnknownAccount);
}

TEST_F(AccountsTransfer, ShouldKeepBalanceOnTransferToSelf) {
  Party a = account(10);
  ok(a, "accounts.transfer", {{"to", a.hex()}, {"amount", 10}});
  EXPECT_EQ(balance(a), 10u);
  EXPECT_EQ(reason(a, "accounts.transfer", {{"to", a.hex()}, {"amount", 11}}), reason::kInsufficientFunds);
}

TEST_F(AccountsTransfer, ShouldAllowZeroAmount) {
  Party a = account();
  Party b = account();
  ok(a, "accounts.transfer", {{"to", b.hex()}, {"amount", 0}});
  EXPECT_EQ(balance(b), 0u);
}

// --- offers ---

class OffersCreate : public ContractTest {};

TEST_F(OffersCreate, ShouldCreateEnabledOfferWhoseIdIsTheRecordIndex) {
  Party a = account();
  const std::uint64_t id = offer(a, "dataset", share(250));
  const Offer o = state.offer(id).value();
  EXPECT_EQ(o.owner, a.id());
  EXPECT_EQ(o.kind, OfferKind::Dataset);
  EXPECT_TRUE(o.enabled);
  EXPECT_EQ(o.price, (Price{PriceModel::RevenueShare, 0, 250}));
}

class OffersEnableDisable : public ContractTest {};

TEST_F(OffersEnableDisable, ShouldDisableAndEnableWhenSenderIsOwner) {
  Party a = account();
  const std::uint64_t id = offer(a, "engine", fixed(5));
  ok(a, "offers.disable", {{"offer", id}});
  EXPECT_FALSE(state.offer(id)->enabled);
  ok(a, "offers.enable", {{"offer", id}});
  EXPECT_TRUE(state.offer(id)->enabled);
}

TEST_F(OffersEnableDisable, ShouldRejectWhenSenderIsNotOwner) {
  Party a = account();
  Party b = account();
  const std::uint64_t id = offer(a, "engine", fixed(5));
  EXPECT_EQ(reason(b, "offers.disable", {{"offer", id}}), reason::kNotOwner);
  ok(a, "offers.disable", {{"offer", id}});
  EXPECT_EQ(reason(b, "offers.enable", {{"offer", id}}), reason::kNotOwner);
}

TEST_F(OffersEnableDisable, ShouldRejectWhenOfferDoesNotExist) {
  Party a = account();
  EXPECT_EQ(reason(a, "offers.disable", {{"offer", 99}}), reason::kNotFound);
  EXPECT_EQ(reason(a, "offers.enable", {{"offer", 99}}), reason::kNotFound);
}

TEST_F(OffersEnableDisable, ShouldRejectWhenAlreadyInThatState) {
  Party a = account();
  const std::uint64_t id = offer(a, "model", fixed(5));
  EXPECT_EQ(reason(a, "offers.enable", {{"offer", id}}), reason::kBadState);
  ok(a, "offers.disable", {{"offer", id}});
  EXPECT_EQ(reason(a, "offers.disable", {{"offer", id}}), reason::kBadState);
}

// --- CVMs ---

class CvmsRegister : public ContractTest {};

TEST_F(CvmsRegister, ShouldStoreCvmWithCertificateAndCreateItsAccount) {
  Party provider = account();
  const std::uint64_t tee = offer(provider, "tee", fixed(1));
  Party vm = cvm(provider, tee);
  const Cvm c = state.cvm(crypto::sha256(vm.id())).value();
  EXPECT_EQ(c.certificate, "CERT");
  EXPECT_EQ(c.provider, provider.id());
  EXPECT_EQ(c.offer, tee);
  const Account acct = state.account(vm.id()).value();
  EXPECT_EQ(acct.nonce, 0u);
  ok(vm, "cvms.heartbeat", json::object());
}

TEST_F(CvmsRegister, ShouldRejectWhenSenderDoesNotOwnTheOffer) {
  Party provider = account();
  Party other = account();
  const std::uint64_t tee = offer(provider, "tee", fixed(1));
  EXPECT_EQ(reason(other, "cvms.register", cvm_args(Party{}, tee)), reason::kNotOwner);
}

TEST_F(CvmsRegister, ShouldRejectWhenOfferIsNotTee) {
  Party provider = account();
  const std::uint64_t engine = offer(provider, "engine", fixed(1));
  EXPECT_EQ(reason(provider, "cvms.register", cvm_args(Party{}, engine)), reason::kNotAllowed);
}

TEST_F(CvmsRegister, ShouldRejectWhenOfferDoesNotExist) {
  Party provider = account();
  EXPECT_EQ(reason(provider, "cvms.register", cvm_args(Party{}, 42)), reason::kNotFound);
}

TEST_F(CvmsRegister, ShouldRejectWhenCvmExists) {
  Party provider = account();
  const std::uint64_t tee = offer(provider, "tee", fixed(1));
  Party vm = cvm(provider, tee);
  EXPECT_EQ(reason(provider, "cvms.register", cvm_args(vm, tee)), reason::kAlreadyExists);
}

TEST_F(CvmsRegister, ShouldRejectWhenKeyAlreadyHasAnAccount) {
  Party provider = account();
  Party person = account();
  const std::uint64_t tee = offer(provider, "tee", fixed(1));
  EXPECT_EQ(reason(provider, "cvms.register", cvm_args(person, tee)), reason::kAlreadyExists);
}

class CvmsHeartbeat : public OrderTest {};

TEST_F(CvmsHeartbeat, ShouldRecordTheLedgerTime) {
  now += 60;
  ok(vm, "cvms.heartbeat", json::object());
  EXPECT_EQ(state.cvm(crypto::sha256(vm.id()))->heartbeat_at, now);
}

TEST_F(CvmsHeartbeat, ShouldRejectWhenSenderIsNotACvm) {
  EXPECT_EQ(reason(provider, "cvms.heartbeat", json::object()), reason::kNotAllowed);
}

// cvms.update: the listed CVM renews its certificate for the same keys.
class CvmsUpdate : public ContractTest {
 protected:
  static constexpr std::chrono::sys_seconds kExpiry{std::chrono::seconds(kStartTime + 3600)};

  void SetUp() override {
    provider = account();
    tee = offer(provider, "tee", per_hour(1));
    json args = cvm_args(vm, tee);
    registered = certificate(vm, kExpiry);
    args["certificate"] = registered;
    ok(provider, "cvms.register", args);
  }

  static std::string certificate(const Party& subject, std::chrono::sys_seconds not_after) {
    return testing::cvm_certificate(subject.key, subject.recipient(), not_after);
  }
  std::string recorded() { return state.cvm(crypto::sha256(vm.id())).value().certificate; }
  std::expected<void, Rejection> update(Party& sender, const std::string& pem) {
    return run(sender, "cvms.update", {{"certificate", pem}});
  }

  Party provider;
  std::uint64_t tee = 0;
  Party vm;
  std::string registered;  // the certificate cvms.register listed
};

TEST_F(CvmsUpdate, ShouldReplaceTheCertificateWithALaterOneForTheSameKeys) {
  const std::string renewed = certificate(vm, kExpiry + std::chrono::hours(1));
  now += 60;
  ASSERT_TRUE(update(vm, renewed));
  EXPECT_EQ(recorded(), renewed);
  const Cvm c = state.cvm(crypto::sha256(vm.id())).value();
  EXPECT_EQ(c.key, vm.id());
  EXPECT_EQ(c.provider, provider.id());
  EXPECT_EQ(c.offer, tee);
  EXPECT_EQ(c.registered_at, kStartTime) << "renewing lists nothing anew";
  ASSERT_TRUE(update(vm, certificate(vm, kExpiry + std::chrono::hours(2)))) << "and again";
}

TEST_F(CvmsUpdate, ShouldRefuseSendersThatAreNotAListedCvm) {
  const std::string renewed = certificate(vm, kExpiry + std::chrono::hours(1));
  auto r = update(provider, renewed);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, reason::kNotAllowed);
  EXPECT_EQ(r.error().message, "only a listed CVM renews its certificate, sending with its key");
  Party stranger = account();
  EXPECT_EQ(update(stranger, certificate(stranger, kExpiry + std::chrono::hours(1))).error().reason,
            reason::kNotAllowed)
      << "an account that is no CVM, with a certificate for its own key";
  EXPECT_EQ(recorded(), registered);
}

TEST_F(CvmsUpdate, ShouldRefuseAnotherKeysCertificate) {
  Party other;
  auto r = update(vm, testing::cvm_certificate(other.key, vm.recipient(), kExpiry + std::chrono::hours(1)));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, reason::kCertificateMismatch);
  EXPECT_EQ(r.error().message, "the certificate certifies key " + other.hex().substr(0, 16) +
                                   ", not the CVM's key " + vm.hex().substr(0, 16));
}

TEST_F(CvmsUpdate, ShouldRefuseACertificateNamingAnotherRecipient) {
  Party other;
  auto r = update(vm, testing::cvm_certificate(vm.key, other.recipient(), kExpiry + std::chrono::hours(1)));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, reason::kCertificateMismatch);
  EXPECT_EQ(r.error().message,
            "the certificate names another age recipient than the CVM's " + vm.recipient());
}

TEST_F(CvmsUpdate, ShouldRefuseACertificateThatDoesNotOutlastTheCurrentOne) {
  auto r = update(vm, certificate(vm, kExpiry));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, reason::kBadState);
  EXPECT_EQ(r.error().message, "the certificate expires at " + format_rfc3339(kExpiry) +
                                   ", not after the current one (" + format_rfc3339(kExpiry) + ")");
  EXPECT_EQ(update(vm, certificate(vm, kExpiry - std::chrono::seconds(1))).error().reason, reason::kBadState);
  ASSERT_TRUE(update(vm, certificate(vm, kExpiry + std::chrono::seconds(1))));
  EXPECT_EQ(update(vm, certificate(vm, kExpiry)).error().reason, reason::kBadState)
      << "compared with the renewed certificate, not the first";
}

TEST_F(CvmsUpdate, ShouldAcceptAnyLaterWhenTheRecordedCertificateDoesNotParse) {
  Party listed = cvm(provider, tee);  // registered with "CERT", which the contract does not read
  const std::string renewed = certificate(listed, kExpiry);
  ASSERT_TRUE(update(listed, renewed));
  EXPECT_EQ(state.cvm(crypto::sha256(listed.id())).value().certificate, renewed);
}

// --- orders ---

class OrdersCreate : public OrderTest {};

TEST_F(OrdersCreate, ShouldMoveDepositIntoEscrowWithStatusNew) {
  const std::uint64_t id = order(creator, vm, 300);
  EXPECT_EQ(balance(creator), 700u);
  EXPECT_EQ(state.totals().escrow, 300u);
  const Order o = state.order(id).value();
  EXPECT_EQ(o.status, OrderStatus::New);
  EXPECT_EQ(o.creator, creator.id());
  EXPECT_EQ(o.inputs, std::vector<std::string>{"grant-1"});
}

TEST_F(OrdersCreate, ShouldRejectWhenDepositExceedsBalance) {
  EXPECT_EQ(reason(creator, "orders.create", order_args(vm, 1001)), reason::kInsufficientFunds);
  EXPECT_EQ(reason(creator, "orders.create", order_args(vm, kMaxAmount)), reason::kInsufficientFunds);
}

TEST_F(OrdersCreate, ShouldRejectWhenCvmDoesNotExist) {
  EXPECT_EQ(reason(creator, "orders.create", order_args(Party{}, 1)), reason::kNotFound);
}

TEST_F(OrdersCreate, ShouldRejectWhenTheCvmsTeeOfferIsDisabled) {
  ok(provider, "offers.disable", {{"offer", tee}});
  EXPECT_EQ(reason(creator, "orders.create", order_args(vm, 1)), reason::kBadState);
}

TEST_F(OrdersCreate, ShouldRejectWhenAListedOfferIsDisabled) {
  Party carol = account();
  const std::uint64_t engine = offer(carol, "engine", fixed(5));
  ok(carol, "offers.disable", {{"offer", engine}});
  EXPECT_EQ(reason(creator, "orders.create", order_args(vm, 10, {engine})), reason::kBadState);
}

TEST_F(OrdersCreate, ShouldRejectWhenAListedOfferDoesNotExist) {
  EXPECT_EQ(reason(creator, "orders.create", order_args(vm, 10, {777})), reason::kNotFound);
}

TEST_F(OrdersCreate, ShouldRejectWhenAListedOfferIsATeeOffer) {
  EXPECT_EQ(reason(creator, "orders.create", order_args(vm, 10, {tee})), reason::kNotAllowed);
}

class OrdersStart : public OrderTest {};

TEST_F(OrdersStart, ShouldMoveNewToProcessing) {
  const std::uint64_t id = order(creator, vm, 100);
  now += 5;
  ok(vm, "orders.start", {{"order", id}});
  EXPECT_EQ(status(id), OrderStatus::Processing);
  EXPECT_EQ(state.order(id)->started_at, now);
}

TEST_F(OrdersStart, ShouldRejectWhenSenderIsNotTheOrdersCvm) {
  const std::uint64_t id = order(creator, vm, 100);
  EXPECT_EQ(reason(creator, "orders.start", {{"order", id}}), reason::kNotAllowed);
  EXPECT_EQ(reason(provider, "orders.start", {{"order", id}}), reason::kNotAllowed);
  EXPECT_EQ(reason(stranger, "orders.start", {{"order", id}}), reason::kNotAllowed);
  EXPECT_EQ(reason(other_vm, "orders.start", {{"order", id}}), reason::kNotAllowed);
}

TEST_F(OrdersStart, ShouldRejectWhenOrderDoesNotExist) {
  EXPECT_EQ(reason(vm, "orders.start", {{"order", 12345}}), reason::kNotFound);
}

TEST_F(OrdersStart, ShouldRejectEveryStatusButNew) {
  for (auto s : {OrderStatus::Processing, OrderStatus::Done, OrderStatus::Error, OrderStatus::Canceled}) {
    const std::uint64_t id = put_order_in(s);
    EXPECT_EQ(reason(vm, "orders.start", {{"order", id}}), reason::kBadState) << to_string(s);
  }
}

class OrdersCancel : public OrderTest {};

TEST_F(OrdersCancel, ShouldRefundInFullWhenNew) {
  const std::uint64_t id = order(creator, vm, 100);
  ok(creator, "orders.cancel", {{"order", id}});
  EXPECT_EQ(status(id), OrderStatus::Canceled);
  EXPECT_EQ(balance(creator), 1000u);
  EXPECT_EQ(state.totals().escrow, 0u);
  EXPECT_EQ(state.order(id)->refund, 100u);
}

TEST_F(OrdersCancel, ShouldRejectWhenSenderIsNotTheCreator) {
  const std::uint64_t id = order(creator, vm, 100);
  EXPECT_EQ(reason(vm, "orders.cancel", {{"order", id}}), reason::kNotOwner);
  EXPECT_EQ(reason(provider, "orders.cancel", {{"order", id}}), reason::kNotOwner);
  EXPECT_EQ(reason(stranger, "orders.cancel", {{"order", id}}), reason::kNotOwner);
}

TEST_F(OrdersCancel, ShouldRejectWhenOrderDoesNotExist) {
  EXPECT_EQ(reason(creator, "orders.cancel", {{"order", 12345}}), reason::kNotFound);
}

TEST_F(OrdersCancel, ShouldRejectEveryStatusButNew) {
  for (auto s : {OrderStatus::Processing, OrderStatus::Done, OrderStatus::Error, OrderStatus::Canceled}) {
    const std::uint64_t id = put_order_in(s);
    EXPECT_EQ(reason(creator, "orders.cancel", {{"order", id}}), reason::kBadState) << to_string(s);
  }
}

class OrdersFail : public OrderTest {};

TEST_F(OrdersFail, ShouldMoveProcessingToErrorAndSettle) {
  Party carol = account();
  const std::uint64_t engine = offer(carol, "engine", fixed(30));
  const std::uint64_t id = order(creator, vm, 100, {engine});
  ok(vm, "orders.start", {{"order", id}});
  now += 10;  // per_hour 3600/h: 10 tokens for 10 s
  ok(vm, "orders.fail", {{"order", id}, {"reason", "grant mismatch"}});
  const Order o = state.order(id).value();
  EXPECT_EQ(o.status, OrderStatus::Error);
  EXPECT_EQ(o.error, "grant mismatch");
  EXPECT_EQ(balance(provider), 10u);
  EXPECT_EQ(balance(carol), 0u) << "fixed prices are paid on Done only";
  EXPECT_EQ(balance(creator), 990u);
  EXPECT_EQ(o.refund, 90u);
  EXPECT_EQ(state.totals().escrow, 0u);
}

TEST_F(OrdersFail, ShouldRejectWhenSenderIsNotTheOrdersCvm) {
  const std::uint64_t id = put_order_in(OrderStatus::Processing);
  EXPECT_EQ(reason(creator, "orders.fail", {{"order", id}, {"reason", "x"}}), reason::kNotAllowed);
  EXPECT_EQ(reason(provider, "orders.fail", {{"order", id}, {"reason", "x"}}), reason::kNotAllowed);
  EXPECT_EQ(reason(other_vm, "orders.fail", {{"order", id}, {"reason", "x"}}), reason::kNotAllowed);
}

TEST_F(OrdersFail, ShouldRejectWhenOrderDoesNotExist) {
  EXPECT_EQ(reason(vm, "orders.fail", {{"order", 12345}, {"reason", "x"}}), reason::kNotFound);
}

TEST_F(OrdersFail, ShouldRejectEveryStatusButProcessing) {
  for (auto s : {OrderStatus::New, OrderStatus::Done, OrderStatus::Error, OrderStatus::Canceled}) {
    const std::uint64_t id = put_order_in(s);
    EXPECT_EQ(reason(vm, "orders.fail", {{"order", id}, {"reason", "x"}}), reason::kBadState) << to_string(s);
  }
}

// --- orders placed on a tee offer: take, reassign (failover) ---

class OfferOrders : public OrderTest {
 protected:
  std::uint64_t offer_order(std::uint64_t deposit = 100) {
    json args = order_args(vm, deposit);
    args.erase("cvm");
    args["offer"] = tee;
    const std::uint64_t id = next_index;
    ok(creator, "orders.create", args);
    return id;
  }
  CvmId id_of(const Party& c) { return crypto::sha256(c.id()); }
};

TEST_F(OfferOrders, ShouldLetTheFirstCvmOfTheOfferTakeIt) {
  const std::uint64_t id = offer_order();
  EXPECT_EQ(state.order(id)->cvm, CvmId{}) << "no CVM holds it yet";
  EXPECT_EQ(state.order(id)->tee_offer, tee);
  EXPECT_EQ(reason(vm, "orders.start", {{"order", id}}), reason::kNotAllowed) << "start before take";
  // A CVM of another offer, an account that is no CVM, the order's creator.
  Party other_provider = account();
  const std::uint64_t other_tee = offer(other_provider, "tee", per_hour(1));
  Party outsider = cvm(other_provider, other_tee);
  EXPECT_EQ(reason(outsider, "orders.take", {{"order", id}}), reason::kNotAllowed);
  EXPECT_EQ(reason(stranger, "orders.take", {{"order", id}}), reason::kNotAllowed);
  EXPECT_EQ(reason(vm, "orders.take", {{"order", id + 100}}), reason::kNotFound);
  ok(vm, "orders.take", {{"order", id}});
  EXPECT_EQ(state.order(id)->cvm, id_of(vm));
  // The first valid take wins: a second is refused, the same CVM's too.
  EXPECT_EQ(reason(other_vm, "orders.take", {{"order", id}}), reason::kBadState);
  EXPECT_EQ(reason(vm, "orders.take", {{"order", id}}), reason::kBadState);
  EXPECT_EQ(reason(other_vm, "orders.start", {{"order", id}}), reason::kNotAllowed);
  ok(vm, "orders.start", {{"order", id}});
  // An order that names its CVM is not to take.
  const std::uint64_t named = order(creator, vm, 10);
  EXPECT_EQ(reason(other_vm, "orders.take", {{"order", named}}), reason::kNotAllowed);
}

TEST_F(OfferOrders, ShouldRefuseAnOfferThatIsNoEnabledTeeOffer) {
  json args = order_args(vm, 10);
  args.erase("cvm");
  const std::uint64_t dataset = offer(provider, "dataset", fixed(1));
  args["offer"] = dataset;
  EXPECT_EQ(reason(creator, "orders.create", args), reason::kNotAllowed);
  args["offer"] = 999;
  EXPECT_EQ(reason(creator, "orders.create", args), reason::kNotFound);
  ok(provider, "offers.disable", {{"offer", tee}});
  args["offer"] = tee;
  EXPECT_EQ(reason(creator, "orders.create", args), reason::kBadState);
  // Both readers, or a service on an offer: malformed before any rule.
  args["cvm"] = hex_encode(id_of(vm));
  EXPECT_FALSE(parse_and_verify(testing::signed_tx(ledger_id, creator, "orders.create", args)));
  args.erase("cvm");
  args["serve"] = {{"access", "public"}};
  args["outputs"] = json::array();
  EXPECT_FALSE(parse_and_verify(testing::signed_tx(ledger_id, creator, "orders.create", args)));
  // Only a tee offer has a failover timeout, 1 s to a day.
  json offer_args = {
      {"kind", "dataset"}, {"name", "n"}, {"resource", "r"}, {"price", fixed(1)}, {"timeout", 5}};
  EXPECT_FALSE(parse_and_verify(testing::signed_tx(ledger_id, provider, "offers.create", offer_args)));
  offer_args["kind"] = "tee";
  offer_args["timeout"] = 0;
  EXPECT_FALSE(parse_and_verify(testing::signed_tx(ledger_id, provider, "offers.create", offer_args)));
  offer_args["timeout"] = kMaxCvmTimeout + 1;
  EXPECT_FALSE(parse_and_verify(testing::signed_tx(ledger_id, provider, "offers.create", offer_args)));
}

TEST_F(OfferOrders, ShouldReassignOnlyAfterTheOffersTimeoutAndBillToTheLastHeartbeat) {
  ok(creator, "accounts.fund", {{"to", creator.hex()}, {"amount", 10000}});
  const std::uint64_t id = offer_order(10000);
  ok(vm, "orders.take", {{"order", id}});
  ok(vm, "orders.start", {{"order", id}});
  now += 1800;
  ok(vm, "cvms.heartbeat", json::object());  // half an hour in, its last sign of life
  now += kDefaultCvmTimeout;
  EXPECT_EQ(reason(stranger, "orders.reassign", {{"order", id}}), reason::kBadState)
      << "exactly the timeout is still alive";
  now += 1;
  // A CVM-named order never moves, whatever its CVM does.
  const std::uint64_t named = order(creator, vm, 10);
  EXPECT_EQ(reason(stranger, "orders.reassign", {{"order", named}}), reason::kNotAllowed);
  ok(stranger, "orders.reassign", {{"order", id}});
  Order moved = state.order(id).value();
  EXPECT_EQ(moved.status, OrderStatus::New);
  EXPECT_EQ(moved.cvm, CvmId{});
  EXPECT_EQ(moved.billed, 1800u) << "billed up to the last heartbeat, not to the reassignment";
  EXPECT_EQ(reason(stranger, "orders.reassign", {{"order", id}}), reason::kBadState) << "on no CVM";
  // The failed CVM cannot act on it any more; another takes and finishes it.
  EXPECT_EQ(reason(vm, "orders.fail", {{"order", id}, {"reason", "late"}}), reason::kNotAllowed);
  ok(other_vm, "orders.take", {{"order", id}});
  ok(other_vm, "orders.start", {{"order", id}});
  now += 1800;
  ok(other_vm, "reports.submit", {{"order", id}, {"report", report(other_vm, id)}});
  EXPECT_EQ(status(id), OrderStatus::Done);
  EXPECT_EQ(balance(provider), 3600u) << "one hour at 3600/h: 30 min on each CVM, the silent time unpaid";
  EXPECT_EQ(balance(creator), 11000u - 3600u - 10u)
      << "the rest of the deposit back; the named order's 10 held";
}

TEST_F(OfferOrders, ShouldPayTheFailedCvmsTimeWhenTheCreatorCancelsAfterAFailover) {
  ok(creator, "accounts.fund", {{"to", creator.hex()}, {"amount", 10000}});
  const std::uint64_t id = offer_order(10000);
  ok(vm, "orders.take", {{"order", id}});
  ok(vm, "orders.start", {{"order", id}});
  now += 600;
  ok(vm, "cvms.heartbeat", json::object());
  now += kDefaultCvmTimeout + 1;
  ok(stranger, "orders.reassign", {{"order", id}});
  now += 5000;  // nobody takes it: the creator gives up
  ok(creator, "orders.cancel", {{"order", id}});
  const Order canceled = state.order(id).value();
  EXPECT_EQ(canceled.status, OrderStatus::Canceled);
  ASSERT_EQ(canceled.payments.size(), 1u);
  EXPECT_EQ(canceled.payments[0].amount, 600u) << "the failed CVM's 10 minutes at 3600/h, not the wait";
  EXPECT_EQ(canceled.refund, 10000u - 600u);
  EXPECT_EQ(balance(provider), 600u);
  EXPECT_EQ(balance(creator), 11000u - 600u);
  EXPECT_EQ(state.totals().escrow, 0u);
}

TEST_F(OfferOrders, ShouldLetOnlyACvmThatFitsTakeIt) {
  Party big;
  json declared = cvm_args(big, tee);
  declared["resources"] = {{"cores", 16}, {"memory_mib", 65536}, {"gpus", 1}};
  ok(provider, "cvms.register", declared);
  EXPECT_EQ(state.cvm(id_of(big))->resources, (Resources{16, 65536, 1}));
  json args = order_args(vm, 10);
  args.erase("cvm");
  args["offer"] = tee;
  args["needs"] = {{"cores", 8}, {"memory_mib", 32768}, {"gpus", 1}};
  const std::uint64_t id = next_index;
  ok(creator, "orders.create", args);
  EXPECT_EQ(state.order(id)->needs, (Resources{8, 32768, 1}));
  EXPECT_EQ(reason(vm, "orders.take", {{"order", id}}), reason::kNotAllowed) << "a CVM that declares nothing";
  ok(big, "orders.take", {{"order", id}});
  // More than any declared: nobody takes it; bounds and placement are parsed.
  args["needs"]["gpus"] = 2;
  const std::uint64_t too_big = next_index;
  ok(creator, "orders.create", args);
  EXPECT_EQ(reason(big, "orders.take", {{"order", too_big}}), reason::kNotAllowed);
  args["needs"]["gpus"] = kMaxGpus + 1;
  EXPECT_FALSE(parse_and_verify(testing::signed_tx(ledger_id, creator, "orders.create", args)));
  json on_cvm = order_args(vm, 10);
  on_cvm["needs"] = {{"cores", 1}, {"memory_mib", 1}, {"gpus", 0}};
  EXPECT_FALSE(parse_and_verify(testing::signed_tx(ledger_id, creator, "orders.create", on_cvm)))
      << "an order on a CVM needs nothing";
  declared = cvm_args(Party{}, tee);
  declared["resources"] = {{"cores", 1}};
  EXPECT_FALSE(parse_and_verify(testing::signed_tx(ledger_id, provider, "cvms.register", declared)));
}

TEST_F(OfferOrders, ShouldUseTheOffersOwnTimeout) {
  const std::uint64_t quick = next_index;
  ok(provider, "offers.create",
     {{"kind", "tee"}, {"name", "q"}, {"resource", "r"}, {"price", per_hour(60)}, {"timeout", 5}});
  EXPECT_EQ(state.offer(quick)->timeout, 5u);
  Party a = cvm(provider, quick);
  json args = order_args(vm, 10);
  args.erase("cvm");
  args["offer"] = quick;
  const std::uint64_t id = next_index;
  ok(creator, "orders.create", args);
  ok(a, "orders.take", {{"order", id}});  // taken, never started
  now += 5;
  EXPECT_EQ(reason(stranger, "orders.reassign", {{"order", id}}), reason::kBadState);
  now += 1;
  ok(stranger, "orders.reassign", {{"order", id}});
  EXPECT_EQ(state.order(id)->billed, 0u);
}

// --- reports ---

class ReportsSubmit : public OrderTest {};

TEST_F(ReportsSubmit, ShouldStoreReportMarkDoneAndSettle) {
  const std::uint64_t id = put_order_in(OrderStatus::Processing);
  now += 3600;
  const std::uint64_t report_index = next_index;
  json submitted = report(vm, id);
  submitted["report"]["output"] = {{"uri", "file://out"}, {"size", 5}};
  submitted = testing::sign_report_body(submitted["report"], vm);
  ok(vm, "reports.submit", {{"order", id}, {"report", submitted}});
  EXPECT_EQ(status(id), OrderStatus::Done);
  const Report r = state.report(id).value();
  EXPECT_EQ(r.report, canonical_json(submitted))
      << "the whole signed report, every field, stored canonically";
  EXPECT_EQ(r.index, report_index);
  EXPECT_EQ(balance(provider), 100u) << "one hour at 3600/h, capped by the deposit of 100";
}

TEST_F(ReportsSubmit, ShouldRejectASecondReport) {
  const std::uint64_t id = put_order_in(OrderStatus::Done);
  EXPECT_EQ(reason(vm, "reports.submit", {{"order", id}, {"report", report(vm, id)}}),
            reason::kAlreadyExists);
}

TEST_F(ReportsSubmit, ShouldRejectWhenSenderIsNotTheOrdersCvm) {
  const std::uint64_t id = put_order_in(OrderStatus::Processing);
  EXPECT_EQ(reason(creator, "reports.submit", {{"order", id}, {"report", report(vm, id)}}),
            reason::kNotAllowed);
  EXPECT_EQ(reason(provider, "reports.submit", {{"order", id}, {"report", report(vm, id)}}),
            reason::kNotAllowed);
  EXPECT_EQ(reason(other_vm, "reports.submit", {{"order", id}, {"report", report(vm, id)}}),
            reason::kNotAllowed);
}

TEST_F(ReportsSubmit, ShouldRejectWhenOrderDoesNotExist) {
  EXPECT_EQ(reason(vm, "reports.submit", {{"order", 12345}, {"report", report(vm, 12345)}}),
            reason::kNotFound);
}

TEST_F(ReportsSubmit, ShouldRejectEveryStatusButProcessing) {
  for (auto s : {OrderStatus::New, OrderStatus::Error, OrderStatus::Canceled}) {
    const std::uint64_t id = put_order_in(s);
    EXPECT_EQ(reason(vm, "reports.submit", {{"order", id}, {"report", report(vm, id)}}), reason::kBadState)
        << to_string(s);
  }
}

// What a report says must match the order it settles and the CVM that sends it.
class ReportChecks : public OrderTest {
 protected:
  void SetUp() override {
    OrderTest::SetUp();
    id = put_order_in(OrderStatus::Processing);
  }

  // Submits `body` signed by `signer` (vm unless given) for order `id`;
  // returns the rejection, checking that nothing was settled (run() also
  // checks that the whole state is unchanged).
  Rejection refused(const json& body, const Party* signer = nullptr) {
    const std::uint64_t provider_balance = balance(provider);
    const std::uint64_t escrow = state.totals().escrow;
    auto r = run(vm, "reports.submit",
                 {{"order", id}, {"report", testing::sign_report_body(body, signer ? *signer : vm)}});
    EXPECT_FALSE(r) << "accepted";
    EXPECT_EQ(status(id), OrderStatus::Processing);
    EXPECT_FALSE(state.report(id));
    EXPECT_EQ(balance(provider), provider_balance);
    EXPECT_EQ(state.totals().escrow, escrow);
    return r ? Rejection{} : r.error();
  }

  json body() { return report(vm, id)["report"]; }

  std::uint64_t id = 0;
};

TEST_F(ReportChecks, ShouldRefuseAnotherOrdersReportAndSettleNothing) {
  const std::uint64_t other = put_order_in(OrderStatus::Processing);
  const Rejection r = refused(report(vm, other)["report"]);
  EXPECT_EQ(r.reason, reason::kReportMismatch);
  EXPECT_EQ(r.message,
            "the report is for order " + std::to_string(other) + ", not order " + std::to_string(id));
  ok(vm, "reports.submit", {{"order", other}, {"report", report(vm, other)}});
  ok(vm, "reports.submit", {{"order", id}, {"report", report(vm, id)}});
  EXPECT_EQ(status(id), OrderStatus::Done);
}

TEST_F(ReportChecks, ShouldRefuseAReportForAnotherLedger) {
  json b = body();
  const LedgerId other{9, 9, 9};
  b["ledger"] = hex_encode(other);
  const Rejection r = refused(b);
  EXPECT_EQ(r.reason, reason::kReportMismatch);
  EXPECT_EQ(r.message, "the report is for ledger " + hex_encode(other).substr(0, 16) + ", not ledger " +
                           hex_encode(ledger_id).substr(0, 16));
}

TEST_F(ReportChecks, ShouldRefuseAReportNamingAnotherCvm) {
  json b = body();
  b["cvm"] = hex_encode(crypto::sha256(other_vm.id()));
  const Rejection r = refused(b);
  EXPECT_EQ(r.reason, reason::kReportMismatch);
  EXPECT_EQ(r.message, "the report names CVM " + hex_encode(crypto::sha256(other_vm.id())).substr(0, 16) +
                           ", the order's is " + hex_encode(crypto::sha256(vm.id())).substr(0, 16));
}

TEST_F(ReportChecks, ShouldRefuseAnotherCvmsSignedReport) {
  // other_vm's own, consistent report of its own run, relayed by the order's CVM.
  json b = body();
  b["cvm"] = hex_encode(crypto::sha256(other_vm.id()));
  EXPECT_EQ(refused(b, &other_vm).reason, reason::kReportMismatch);
}

TEST_F(ReportChecks, ShouldRefuseAReportOfAnotherEngine) {
  json b = body();
  b["engine"] = "sha256:f00d";
  const Rejection r = refused(b);
  EXPECT_EQ(r.reason, reason::kReportMismatch);
  EXPECT_EQ(r.message, "the report ran engine sha256:f00d, the order's is sha256:e");
}

TEST_F(ReportChecks, ShouldRefuseAReportSignedByAnotherKey) {
  EXPECT_EQ(refused(body(), &other_vm).reason, reason::kBadSignature);
  EXPECT_EQ(refused(body(), &creator).reason, reason::kBadSignature);
}

TEST_F(ReportChecks, ShouldRefuseAReportChangedAfterSigning) {
  json signed_report = report(vm, id);
  signed_report["report"]["exit_code"] = 1;
  auto r = run(vm, "reports.submit", {{"order", id}, {"report", signed_report}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, reason::kBadSignature);
  EXPECT_EQ(status(id), OrderStatus::Processing);
}

TEST_F(ReportChecks, ShouldRefuseASignatureOverTheTransactionDomain) {
  // The CVM's key signs ledger transactions too: a signature under the
  // transaction domain is not a report signature.
  const json b = body();
  const auto sig = vm.key.sign(as_bytes(std::string(kTxDomain) + canonical_json(b)));
  auto r = run(vm, "reports.submit", {{"order", id}, {"report", {{"report", b}, {"sig", hex_encode(sig)}}}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, reason::kBadSignature);
}

// --- grants ---

// Grants used by the orders of one CVM; alice owns the grants, mallory
// tries to interfere.
class Grants : public OrderTest {
 protected:
  void SetUp() override {
    OrderTest::SetUp();
    alice = account();
    mallory = account();
  }

  static GrantId grant_id(std::uint8_t n) { return crypto::sha256(Bytes{n}); }

  static json entry(const GrantId& id, const Party& owner, std::uint64_t uses) {
    return {{"id", hex_encode(id)}, {"owner", owner.hex()}, {"uses", uses}};
  }

  std::string use(std::uint64_t order, json grants, Party* sender = nullptr) {
    return reason(sender ? *sender : vm, "grants.use", {{"order", order}, {"grants", std::move(grants)}});
  }

  std::expected<void, Rejection> run_use(std::uint64_t order, json grants) {
    return run(vm, "grants.use", {{"order", order}, {"grants", std::move(grants)}});
  }

  std::string revoke(Party& owner, const GrantId& id) {
    return reason(owner, "grants.revoke", {{"grant", hex_encode(id)}});
  }

  std::vector<std::uint64_t> users(const GrantId& id, const Party& owner) {
    const auto g = state.grant(id, owner.id());
    return g ? g->orders : std::vector<std::uint64_t>{};
  }

  Party alice, mallory;
  const GrantId g1 = grant_id(1);
  const GrantId g2 = grant_id(2);
};

TEST_F(Grants, ShouldAllowALimitedGrantToItsLimitOfOrders) {
  const std::uint64_t first = put_order_in(OrderStatus::Processing);
  const std::uint64_t second = put_order_in(OrderStatus::Processing);
  EXPECT_EQ(use(first, json::array({entry(g1, alice, 1)})), "");
  EXPECT_EQ(users(g1, alice), std::vector<std::uint64_t>{first});
  auto r = run_use(second, json::array({entry(g1, alice, 1)}));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, reason::kUsedUp);
  EXPECT_EQ(r.error().message, "grant " + hex_encode(g1).substr(0, 16) + " allows 1 uses, all spent");
  EXPECT_EQ(users(g1, alice), std::vector<std::uint64_t>{first});
}

TEST_F(Grants, ShouldCountEachOrderOnceWhenItUsesTheGrantAgain) {
  const std::uint64_t first = put_order_in(OrderStatus::Processing);
  const std::uint64_t second = put_order_in(OrderStatus::Processing);
  const std::uint64_t third = put_order_in(OrderStatus::Processing);
  EXPECT_EQ(use(first, json::array({entry(g1, alice, 2)})), "");
  EXPECT_EQ(use(first, json::array({entry(g1, alice, 2)})), "")
      << "a loader re-running the order after a crash";
  EXPECT_EQ(use(second, json::array({entry(g1, alice, 2)})), "");
  EXPECT_EQ(use(second, json::array({entry(g1, alice, 2)})), "");
  EXPECT_EQ(use(first, json::array({entry(g1, alice, 2)})), "")
      << "an order already counted is never used up";
  EXPECT_EQ(use(third, json::array({entry(g1, alice, 2)})), reason::kUsedUp);
  EXPECT_EQ(users(g1, alice), (std::vector<std::uint64_t>{first, second}));
}

TEST_F(Grants, ShouldNotRecordUnlimitedGrants) {
  for (int i = 0; i < 3; ++i) {
    const std::uint64_t id = put_order_in(OrderStatus::Processing);
    EXPECT_EQ(use(id, json::array({entry(g1, alice, 0)})), "");
  }
  EXPECT_FALSE(state.grant(g1, alice.id()));
}

TEST_F(Grants, ShouldCountTheSameGrantIdPerOwner) {
  const std::uint64_t first = put_order_in(OrderStatus::Processing);
  const std::uint64_t second = put_order_in(OrderStatus::Processing);
  EXPECT_EQ(use(first, json::array({entry(g1, alice, 1), entry(g1, mallory, 1)})), "");
  EXPECT_EQ(use(second, json::array({entry(g1, mallory, 1)})), reason::kUsedUp);
  EXPECT_EQ(use(second, json::array({entry(g2, alice, 1)})), "");
}

TEST_F(Grants, ShouldRefuseAGrantItsOwnerRevoked) {
  const std::uint64_t id = put_order_in(OrderStatus::Processing);
  EXPECT_EQ(revoke(alice, g1), "");
  const Grant g = state.grant(g1, alice.id()).value();
  EXPECT_TRUE(g.revoked);
  EXPECT_EQ(g.revoked_at, now);
  for (const std::uint64_t uses : {0, 1, 5}) {
    auto r = run_use(id, json::array({entry(g1, alice, uses)}));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().reason, reason::kRevoked);
    EXPECT_EQ(r.error().message, "grant " + hex_encode(g1).substr(0, 16) + " was revoked by its owner");
  }
}

TEST_F(Grants, ShouldRefuseARevokedGrantToAnOrderThatUsedItBefore) {
  const std::uint64_t id = put_order_in(OrderStatus::Processing);
  EXPECT_EQ(use(id, json::array({entry(g1, alice, 3)})), "");
  EXPECT_EQ(revoke(alice, g1), "");
  EXPECT_EQ(use(id, json::array({entry(g1, alice, 3)})), reason::kRevoked);
  EXPECT_EQ(users(g1, alice), std::vector<std::uint64_t>{id}) << "revoking keeps the count";
}

TEST_F(Grants, ShouldIgnoreARevocationBySomeoneElse) {
  const std::uint64_t id = put_order_in(OrderStatus::Processing);
  EXPECT_EQ(revoke(mallory, g1), "");
  EXPECT_EQ(use(id, json::array({entry(g1, alice, 0)})), "");
  EXPECT_EQ(use(id, json::array({entry(g1, alice, 1)})), "");
  EXPECT_FALSE(state.grant(g1, alice.id()).value().revoked);
  EXPECT_EQ(use(id, json::array({entry(g1, mallory, 0)})), reason::kRevoked)
      << "mallory's revocation binds her own grants";
}

TEST_F(Grants, ShouldRefuseRevokingTwice) {
  EXPECT_EQ(revoke(alice, g1), "");
  EXPECT_EQ(revoke(alice, g1), reason::kAlreadyExists);
  EXPECT_EQ(revoke(alice, g2), "");
}

TEST_F(Grants, ShouldRefuseRevocationBySenderWithoutAccount) {
  Party nobody;
  EXPECT_EQ(revoke(nobody, g1), reason::kUnknownAccount);
}

TEST_F(Grants, ShouldRefuseSendersOtherThanTheOrdersCvm) {
  const std::uint64_t id = put_order_in(OrderStatus::Processing);
  for (Party* p : {&creator, &provider, &stranger, &other_vm, &alice}) {
    EXPECT_EQ(use(id, json::array({entry(g1, alice, 1)}), p), reason::kNotAllowed);
  }
  EXPECT_EQ(use(12345, json::array({entry(g1, alice, 1)})), reason::kNotFound);
  EXPECT_FALSE(state.grant(g1, alice.id()));
}

TEST_F(Grants, ShouldRefuseEveryStatusButProcessing) {
  for (auto s : {OrderStatus::New, OrderStatus::Done, OrderStatus::Error, OrderStatus::Canceled}) {
    const std::uint64_t id = put_order_in(s);
    EXPECT_EQ(use(id, json::array({entry(g1, alice, 1)})), reason::kBadState) << to_string(s);
  }
  EXPECT_FALSE(state.grant(g1, alice.id()));
}

TEST_F(Grants, ShouldChangeNothingWhenAnyGrantIsRefused) {
  const std::uint64_t first = put_order_in(OrderStatus::Processing);
  const std::uint64_t second = put_order_in(OrderStatus::Processing);
  EXPECT_EQ(use(first, json::array({entry(g2, alice, 1)})), "");
  EXPECT_EQ(revoke(alice, grant_id(3)), "");
  // run() checks that each refusal leaves the whole state as it was.
  EXPECT_EQ(use(second, json::array({entry(g1, alice, 4), entry(grant_id(3), alice, 0)})), reason::kRevoked);
  EXPECT_EQ(use(second, json::array({entry(g1, alice, 4), entry(g2, alice, 1)})), reason::kUsedUp);
  EXPECT_FALSE(state.grant(g1, alice.id())) << "the first entry's count was dropped with the refusal";
  EXPECT_EQ(use(second, json::array({entry(g1, alice, 4)})), "");
  EXPECT_EQ(users(g1, alice), std::vector<std::uint64_t>{second});
}

// --- settlement ---

class Settlement : public OrderTest {};

TEST_F(Settlement, ShouldPayProviderFirstThenOffersInOrderThenRefund) {
  Party carol = account();
  Party dana = account();
  Party erin = account();
  const std::uint64_t engine = offer(carol, "engine", fixed(30));
  const std::uint64_t dataset = offer(dana, "dataset", per_hour(7200));
  const std::uint64_t model = offer(erin, "model", share(1500));
  const std::uint64_t id = order(creator, vm, 500, {engine, dataset, model});
  ok(vm, "orders.start", {{"order", id}});
  now += 60;
  ok(vm, "reports.submit", {{"order", id}, {"report", report(vm, id)}});
  EXPECT_EQ(balance(provider), 60u);
  EXPECT_EQ(balance(carol), 30u);
  EXPECT_EQ(balance(dana), 120u);
  EXPECT_EQ(balance(erin), 0u);
  EXPECT_EQ(balance(creator), 1000u - 60 - 30 - 120);
  const Order o = state.order(id).value();
  ASSERT_EQ(o.payments.size(), 4u);
  EXPECT_EQ(o.payments[0].offer, tee);
  EXPECT_EQ(o.payments[3].price.bps, 1500u) << "revenue share recorded for later serving orders";
  EXPECT_EQ(o.payments[3].amount, 0u);
  EXPECT_EQ(o.refund, 500u - 210);
}

TEST_F(Settlement, ShouldNeverPayMoreThanTheDeposit) {
  Party carol = account();
  const std::uint64_t engine = offer(carol, "engine", fixed(1'000'000));
  const std::uint64_t id = order(creator, vm, 50, {engine});
  ok(vm, "orders.start", {{"order", id}});
  now += 40;
  ok(vm, "reports.submit", {{"order", id}, {"report", report(vm, id)}});
  EXPECT_EQ(balance(provider), 40u);
  EXPECT_EQ(balance(carol), 10u);
  EXPECT_EQ(balance(creator), 950u);
  EXPECT_EQ(state.order(id)->refund, 0u);
}

TEST_F(Settlement, ShouldRoundPerHourUp) {
  EXPECT_EQ(settlement_amount(Price{PriceModel::PerHour, 1, 0}, true, 1, 100), 1u);
  EXPECT_EQ(settlement_amount(Price{PriceModel::PerHour, 3600, 0}, true, 1, 100), 1u);
  EXPECT_EQ(settlement_amount(Price{PriceModel::PerHour, 3601, 0}, true, 1, 100), 2u);
  EXPECT_EQ(settlement_amount(Price{PriceModel::PerHour, 10, 0}, true, 0, 100), 0u);
}

TEST_F(Settlement, ShouldCapHugeProductsAtWhatIsLeft) {
  EXPECT_EQ(settlement_amount(Price{PriceModel::PerHour, kMaxAmount, 0}, true, kMaxAmount, 77), 77u);
  EXPECT_EQ(settlement_amount(Price{PriceModel::Fixed, kMaxAmount, 0}, true, 0, 5), 5u);
  EXPECT_EQ(settlement_amount(Price{PriceModel::Fixed, 9, 0}, false, 100, 50), 0u);
  EXPECT_EQ(settlement_amount(Price{PriceModel::RevenueShare, 0, 10000}, true, 100, 50), 0u);
}

TEST_F(Settlement, ShouldConserveTheSupply) {
  Party carol = account();
  const std::uint64_t engine = offer(carol, "engine", fixed(7));
  const std::uint64_t supply = state.totals().supply;
  for (auto s : {OrderStatus::New, OrderStatus::Processing, OrderStatus::Done, OrderStatus::Error,
                 OrderStatus::Canceled}) {
    put_order_in(s);
    now += 17;
  }
  const std::uint64_t id = order(creator, vm, 30, {engine});
  ok(vm, "orders.start", {{"order", id}});
  now += 1000;
  ok(vm, "reports.submit", {{"order", id}, {"report", report(vm, id)}});
  EXPECT_EQ(state.totals().supply, supply);
  EXPECT_EQ(sum_of_balances_and_escrow(), supply);
}

// --- service orders ---

// Service orders on the per-hour provider of OrderTest: a service started
// with kKey, whose CVM loaded two inputs.
class Services : public OrderTest {
 protected:
  const std::string kKey = std::string(64, 'a');
  const std::string kOtherKey = std::string(64, 'b');
  const std::vector<std::string> kInputs = {std::string(64, '1'), std::string(64, '2')};

  json service_args(json serve = {{"access", "public"}}) {
    json a = order_args(vm, 100);
    a["outputs"] = json::array();
    a["serve"] = std::move(serve);
    return a;
  }

  // A new service order; Processing after orders.start when `start`.
  std::uint64_t service_order(bool start = true) {
    const std::uint64_t id = next_index;
    ok(creator, "orders.create", service_args());
    if (start) ok(vm, "orders.start", {{"order", id}});
    return id;
  }

  json service_body(std::uint64_t order, const std::string& key) {
    const auto o = state.order(order);
    return testing::service_report_body(ledger_id, order, vm, o ? o->engine : "sha256:e", key, kInputs);
  }

  // The consistent signed report of the service `order` with TLS key `key`.
  json service_report(std::uint64_t order, const std::string& key) {
    return testing::sign_report_body(service_body(order, key), vm);
  }

  std::string malformed_start(std::uint64_t order, const json& body) {
    return parse_reason(vm, "services.start",
                        {{"order", order}, {"report", testing::sign_report_body(body, vm)}});
  }

  std::string start(std::uint64_t order, const json& report, Party* sender = nullptr) {
    return reason(sender ? *sender : vm, "services.start", {{"order", order}, {"report", report}});
  }

  // A started service order.
  std::uint64_t started_service() {
    const std::uint64_t id = service_order();
    EXPECT_EQ(start(id, service_report(id, kKey)), "");
    return id;
  }

  std::string submit(std::uint64_t order, const json& report) {
    return reason(vm, "reports.submit", {{"order", order}, {"report", report}});
  }

  ServiceTerms terms(std::uint64_t order) { return state.order(order).value().serve.value(); }

  // The parser's reason for a transaction it refuses before the contract
  // sees it ("" when it parses).
  std::string parse_reason(const Party& p, std::string_view type, json args) {
    auto stx = parse_and_verify(testing::signed_tx(ledger_id, p, type, std::move(args)));
    return stx ? std::string() : stx.error().reason;
  }
};

TEST_F(Services, ShouldCreateAServiceOrderWithItsAccessRuleAndNoOutputs) {
  const std::uint64_t id = service_order(false);
  const Order o = state.order(id).value();
  EXPECT_EQ(o.status, OrderStatus::New);
  EXPECT_TRUE(o.outputs.empty());
  ASSERT_TRUE(o.serve);
  EXPECT_EQ(o.serve->rule, (ServeRule{ServiceAccess::Public, {}}));
  EXPECT_FALSE(o.serve->started());
  EXPECT_FALSE(o.serve->serving_since);
  EXPECT_FALSE(o.serve->cancel_requested);
  EXPECT_EQ(to_json(o)["serve"]["access"], "public");

  const std::uint64_t listed = next_index;
  ok(creator, "orders.create",
     service_args({{"access", "accounts"}, {"accounts", {stranger.hex(), creator.hex()}}}));
  EXPECT_EQ(terms(listed).rule, (ServeRule{ServiceAccess::Accounts, {stranger.id(), creator.id()}}));
  EXPECT_EQ(to_json(*state.order(listed))["serve"]["accounts"], json({stranger.hex(), creator.hex()}));
}

TEST_F(Services, ShouldKeepBatchOrdersWithoutServiceTerms) {
  const std::uint64_t id = put_order_in(OrderStatus::New);
  EXPECT_FALSE(state.order(id)->serve);
  EXPECT_FALSE(to_json(*state.order(id)).contains("serve"));
}

TEST_F(Services, ShouldRefuseMalformedServeArgs) {
  const auto refused = [&](json a) { return parse_reason(creator, "orders.create", std::move(a)); };
  json with_outputs = service_args();
  with_outputs["outputs"] = {"age1out"};
  EXPECT_EQ(refused(with_outputs), reason::kMalformed) << "a service with an output";
  json batch_without_outputs = order_args(vm, 100);
  batch_without_outputs["outputs"] = json::array();
  EXPECT_EQ(refused(batch_without_outputs), reason::kMalformed) << "a batch order without outputs";
  std::vector<json> accounts_257;
  for (int i = 0; i < 257; ++i)
    accounts_257.push_back(hex_encode(crypto::sha256(Bytes{static_cast<std::uint8_t>(i), 1})));
  for (const json& serve :
       {json("public"), json::object(), json{{"access", "everyone"}},
        json{{"access", "public"}, {"accounts", {stranger.hex()}}}, json{{"access", "public"}, {"note", 1}},
        json{{"access", "accounts"}}, json{{"access", "accounts"}, {"accounts", json::array()}},
        json{{"access", "accounts"}, {"accounts", stranger.hex()}},
        json{{"access", "accounts"}, {"accounts", {stranger.hex(), stranger.hex()}}},
        json{{"access", "accounts"}, {"accounts", {"AB" + stranger.hex().substr(2)}}},
        json{{"access", "accounts"}, {"accounts", {1}}},
        json{{"access", "accounts"}, {"accounts", accounts_257}},
        json{{"access", "accounts"}, {"accounts", {stranger.hex()}}, {"tls", 1}}}) {
    EXPECT_EQ(refused(service_args(serve)), reason::kMalformed) << serve.dump().substr(0, 200);
  }
  accounts_257.pop_back();
  EXPECT_EQ(refused(service_args({{"access", "accounts"}, {"accounts", accounts_257}})), "")
      << "256 accounts";
}

TEST_F(Services, ShouldRefuseADuplicateServeField) {
  std::string text = testing::signed_tx(ledger_id, creator, "orders.create", service_args());
  text.replace(text.find("\"serve\":"), 8, "\"serve\":{\"access\":\"public\"},\"serve\":");
  EXPECT_FALSE(parse_envelope(text)) << "a second serve";
  EXPECT_EQ(parse_envelope(text).error().reason, reason::kMalformed);
}

TEST_F(Services, StartShouldRecordTheTlsKeyInputsTimeAndStartReport) {
  const std::uint64_t id = service_order();
  now += 5;
  const json report = service_report(id, kKey);
  EXPECT_EQ(start(id, report), "");
  const ServiceTerms t = terms(id);
  EXPECT_EQ(hex_encode(t.tls_key_sha256.value()), kKey);
  ASSERT_EQ(t.inputs.size(), 2u);
  EXPECT_EQ(hex_encode(t.inputs[1]), kInputs[1]);
  EXPECT_EQ(t.serving_since, now);
  EXPECT_EQ(status(id), OrderStatus::Processing);
  const Report stored = state.start_report(id).value();
  EXPECT_EQ(stored.report, canonical_json(report));
  EXPECT_EQ(stored.time, now);
  EXPECT_EQ(stored.index, next_index - 1);
  EXPECT_FALSE(state.report(id)) << "the start report is not the final report";
  const json j = to_json(*state.order(id))["serve"];
  EXPECT_EQ(j["tls_key_sha256"], kKey);
  EXPECT_EQ(j["inputs"], json(kInputs));
  EXPECT_EQ(j["serving_since"], now);
  EXPECT_TRUE(j["cancel_requested"].is_null());
  EXPECT_EQ(j["endpoint"], "https://127.0.0.1:8443");
}

TEST_F(Services, StartShouldRefuseSendersOtherThanTheOrdersCvm) {
  const std::uint64_t id = service_order();
  EXPECT_EQ(start(id, service_report(id, kKey), &other_vm), reason::kNotAllowed);
  EXPECT_EQ(start(id, service_report(id, kKey), &creator), reason::kNotAllowed);
  EXPECT_EQ(start(next_index + 10, service_report(id, kKey)), reason::kNotFound);
}

TEST_F(Services, StartShouldRefuseABatchOrder) {
  const std::uint64_t id = put_order_in(OrderStatus::Processing);
  EXPECT_EQ(start(id, service_report(id, kKey)), reason::kBadState);
}

// A CVM whose loader restarted serves again under a new key, which replaces
// the old one; the same key again is a duplicate.
TEST_F(Services, StartAgainShouldReplaceTheKeyAndRefuseTheSameKey) {
  const std::uint64_t id = started_service();
  EXPECT_EQ(start(id, service_report(id, kKey)), reason::kAlreadyExists);
  now += 7;
  EXPECT_EQ(start(id, service_report(id, kOtherKey)), "");
  EXPECT_EQ(hex_encode(terms(id).tls_key_sha256.value()), kOtherKey);
  EXPECT_EQ(terms(id).serving_since, now);
  // The final report must now name the new key.
  EXPECT_EQ(submit(id, service_report(id, kKey)), reason::kReportMismatch);
  EXPECT_EQ(start(id, service_report(id, kKey), &other_vm), reason::kNotAllowed);
}

TEST_F(Services, StartShouldRefuseEveryStatusButProcessing) {
  const std::uint64_t fresh = service_order(false);
  EXPECT_EQ(start(fresh, service_report(fresh, kKey)), reason::kBadState) << "new";
  ok(creator, "orders.cancel", {{"order", fresh}});
  EXPECT_EQ(start(fresh, service_report(fresh, kKey)), reason::kBadState) << "canceled";
  const std::uint64_t failed = service_order();
  ok(vm, "orders.fail", {{"order", failed}, {"reason", "no GPU"}});
  EXPECT_EQ(start(failed, service_report(failed, kKey)), reason::kBadState) << "error";
}

TEST_F(Services, StartShouldRefuseAReportThatDoesNotMatch) {
  const std::uint64_t id = service_order();
  const std::uint64_t other = service_order();
  EXPECT_EQ(start(id, service_report(other, kKey)), reason::kReportMismatch) << "another order's report";
  json b = service_body(id, kKey);
  b["ledger"] = hex_encode(LedgerId{9, 9});
  EXPECT_EQ(start(id, testing::sign_report_body(b, vm)), reason::kReportMismatch) << "another ledger";
  b = service_body(id, kKey);
  b["cvm"] = hex_encode(crypto::sha256(other_vm.id()));
  EXPECT_EQ(start(id, testing::sign_report_body(b, vm)), reason::kReportMismatch) << "another CVM";
  EXPECT_EQ(start(id, testing::sign_report_body(b, other_vm)), reason::kReportMismatch)
      << "another CVM's own report";
  b = service_body(id, kKey);
  b["engine"] = "sha256:f00d";
  EXPECT_EQ(start(id, testing::sign_report_body(b, vm)), reason::kReportMismatch) << "another engine";
  EXPECT_FALSE(terms(id).started());
  EXPECT_FALSE(state.start_report(id));
}

TEST_F(Services, StartShouldRefuseABadSignature) {
  const std::uint64_t id = service_order();
  EXPECT_EQ(start(id, testing::sign_report_body(service_body(id, kKey), other_vm)), reason::kBadSignature);
  json forged = service_report(id, kKey);
  forged["report"]["service"]["tls_key_sha256"] = kOtherKey;
  EXPECT_EQ(start(id, forged), reason::kBadSignature) << "a TLS key swapped after signing";
  forged = service_report(id, kKey);
  forged["report"]["inputs"][0]["plaintext_sha256"] = std::string(64, '3');
  EXPECT_EQ(start(id, forged), reason::kBadSignature) << "an input digest swapped after signing";
  EXPECT_FALSE(terms(id).started());
}

TEST_F(Services, StartShouldRefuseAReportWithoutATlsKey) {
  const std::uint64_t id = service_order();
  auto r = run(vm, "services.start", {{"order", id}, {"report", report(vm, id)}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, reason::kReportMismatch);
  EXPECT_EQ(r.error().message,
            "order " + std::to_string(id) + " is a service; its report lacks service.tls_key_sha256");
  json b = service_body(id, kKey);
  b["service"].erase("tls_key_sha256");
  EXPECT_EQ(malformed_start(id, b), reason::kMalformed);
  for (const json& key : {json(std::string(63, 'a')), json(std::string(64, 'A')), json(1), json(nullptr)}) {
    b = service_body(id, kKey);
    b["service"]["tls_key_sha256"] = key;
    EXPECT_EQ(malformed_start(id, b), reason::kMalformed) << key.dump();
  }
  for (const json& inputs :
       {json("x"), json({1}), json::array({json::object()}), json::array({{{"plaintext_sha256", "00"}}})}) {
    b = service_body(id, kKey);
    b["inputs"] = inputs;
    EXPECT_EQ(malformed_start(id, b), reason::kMalformed) << inputs.dump();
  }
  b = service_body(id, kKey);
  b.erase("inputs");
  EXPECT_EQ(malformed_start(id, b), reason::kMalformed) << "no inputs";
  b = service_body(id, kKey);
  b["service"] = "key";
  EXPECT_EQ(malformed_start(id, b), reason::kMalformed) << "service not an object";
}

TEST_F(Services, CancelShouldCancelANewServiceOrderAndRefund) {
  const std::uint64_t id = service_order(false);
  ok(creator, "orders.cancel", {{"order", id}});
  EXPECT_EQ(status(id), OrderStatus::Canceled);
  EXPECT_EQ(balance(creator), 1000u);
}

TEST_F(Services, CancelShouldAskARunningServiceToStop) {
  const std::uint64_t id = started_service();
  now += 7;
  ok(creator, "orders.cancel", {{"order", id}});
  EXPECT_EQ(status(id), OrderStatus::Processing);
  EXPECT_EQ(terms(id).cancel_requested, now);
  EXPECT_EQ(state.order(id)->refund, 0u);
  EXPECT_EQ(state.totals().escrow, 100u) << "the deposit stays in escrow until the final report";
  EXPECT_EQ(to_json(*state.order(id))["serve"]["cancel_requested"], now);
}

TEST_F(Services, CancelShouldRefuseAskingTwice) {
  const std::uint64_t id = started_service();
  ok(creator, "orders.cancel", {{"order", id}});
  const std::uint64_t first = now;
  now += 3;
  EXPECT_EQ(reason(creator, "orders.cancel", {{"order", id}}), reason::kAlreadyExists);
  EXPECT_EQ(terms(id).cancel_requested, first);
}

TEST_F(Services, CancelShouldRefuseAnyoneButTheCreator) {
  const std::uint64_t id = started_service();
  EXPECT_EQ(reason(stranger, "orders.cancel", {{"order", id}}), reason::kNotOwner);
  EXPECT_EQ(reason(vm, "orders.cancel", {{"order", id}}), reason::kNotOwner);
  EXPECT_FALSE(terms(id).cancel_requested);
}

TEST_F(Services, CancelShouldStillRefuseARunningBatchOrder) {
  const std::uint64_t id = put_order_in(OrderStatus::Processing);
  EXPECT_EQ(reason(creator, "orders.cancel", {{"order", id}}), reason::kBadState);
}

TEST_F(Services, FinalReportShouldEndTheServiceAndChargePerHourFromTheOrdersStart) {
  const std::uint64_t id = service_order();
  now += 10;
  ASSERT_EQ(start(id, service_report(id, kKey)), "");
  ok(creator, "orders.cancel", {{"order", id}});
  now += 50;
  const json final_report = service_report(id, kKey);
  EXPECT_EQ(submit(id, final_report), "");
  const Order o = state.order(id).value();
  EXPECT_EQ(o.status, OrderStatus::Done);
  EXPECT_EQ(o.ended_at, now);
  EXPECT_EQ(state.report(id)->report, canonical_json(final_report));
  EXPECT_EQ(balance(provider), 60u) << "3600/h for the 60 s from orders.start";
  EXPECT_EQ(o.refund, 40u);
  EXPECT_EQ(balance(creator), 1000u - 60);
  EXPECT_EQ(state.totals().escrow, 0u);
  EXPECT_EQ(sum_of_balances_and_escrow(), state.totals().supply);
}

TEST_F(Services, FinalReportShouldRefuseAServiceNotStarted) {
  const std::uint64_t id = service_order();
  auto r = run(vm, "reports.submit", {{"order", id}, {"report", service_report(id, kKey)}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, reason::kBadState);
  EXPECT_EQ(r.error().message,
            "order " + std::to_string(id) + "'s service has not started (services.start comes first)");
}

TEST_F(Services, FinalReportShouldRefuseAnotherTlsKey) {
  const std::uint64_t id = started_service();
  auto r = run(vm, "reports.submit", {{"order", id}, {"report", service_report(id, kOtherKey)}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, reason::kReportMismatch);
  EXPECT_EQ(r.error().message, "the report names TLS key " + kOtherKey.substr(0, 16) +
                                   ", the service started with " + kKey.substr(0, 16));
  EXPECT_EQ(status(id), OrderStatus::Processing);
}

TEST_F(Services, FinalReportShouldRefuseAReportWithoutAServicePart) {
  const std::uint64_t id = started_service();
  EXPECT_EQ(submit(id, report(vm, id)), reason::kReportMismatch);
  EXPECT_EQ(status(id), OrderStatus::Processing);
}

TEST_F(Services, FinalReportShouldRunTheReportChecks) {
  const std::uint64_t id = started_service();
  const std::uint64_t other = started_service();
  EXPECT_EQ(submit(id, service_report(other, kKey)), reason::kReportMismatch);
  json b = service_body(id, kKey);
  b["engine"] = "sha256:f00d";
  EXPECT_EQ(submit(id, testing::sign_report_body(b, vm)), reason::kReportMismatch);
  EXPECT_EQ(submit(id, testing::sign_report_body(service_body(id, kKey), other_vm)), reason::kBadSignature);
  EXPECT_EQ(status(id), OrderStatus::Processing);
}

TEST_F(Services, BatchReportShouldRefuseAServicePart) {
  const std::uint64_t id = put_order_in(OrderStatus::Processing);
  auto r = run(vm, "reports.submit", {{"order", id}, {"report", service_report(id, kKey)}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, reason::kReportMismatch);
  EXPECT_EQ(r.error().message,
            "order " + std::to_string(id) + " is not a service, but its report has a service part");
}

TEST_F(Services, FailShouldEndAServiceAndSettle) {
  const std::uint64_t started = started_service();
  now += 30;
  ok(vm, "orders.fail", {{"order", started}, {"reason", "the engine crashed 3 times"}});
  EXPECT_EQ(status(started), OrderStatus::Error);
  EXPECT_EQ(state.order(started)->refund, 70u);
  const std::uint64_t unstarted = service_order();
  ok(vm, "orders.fail", {{"order", unstarted}, {"reason", "no GPU"}});
  EXPECT_EQ(status(unstarted), OrderStatus::Error);
  EXPECT_EQ(reason(vm, "reports.submit", {{"order", started}, {"report", service_report(started, kKey)}}),
            reason::kBadState);
}

// --- split services: worker CVMs (orders.create "workers", services.join) ---

// A service headed by OrderTest's `vm`, split over workers `w1` and `w2`,
// CVMs of the same provider.
class SplitServices : public Services {
 protected:
  void SetUp() override {
    Services::SetUp();
    w1 = cvm(provider, tee);
    w2 = cvm(provider, tee);
  }

  static std::string id_of(const Party& c) { return hex_encode(crypto::sha256(c.id())); }

  json split_args(json workers) {
    json a = service_args();
    a["workers"] = std::move(workers);
    return a;
  }

  // A service split over w1 and w2; Processing after orders.start when `start`.
  std::uint64_t split_service(bool start = true) {
    const std::uint64_t id = next_index;
    ok(creator, "orders.create", split_args({id_of(w1), id_of(w2)}));
    if (start) ok(vm, "orders.start", {{"order", id}});
    return id;
  }

  std::string join(Party& sender, std::uint64_t order, std::string_view endpoint = "10.0.0.2:50052") {
    return reason(sender, "services.join", {{"order", order}, {"endpoint", endpoint}});
  }

  Party w1, w2;
};

TEST_F(SplitServices, ShouldRecordTheWorkersNotYetJoined) {
  const std::uint64_t id = split_service(false);
  const std::vector<Worker> workers = {{crypto::sha256(w1.id()), "", std::nullopt},
                                       {crypto::sha256(w2.id()), "", std::nullopt}};
  EXPECT_EQ(terms(id).workers, workers);
  EXPECT_EQ(to_json(*state.order(id))["serve"]["workers"],
            json::parse(R"([{"cvm":")" + id_of(w1) + R"(","endpoint":null,"joined_at":null},{"cvm":")" +
                        id_of(w2) + R"(","endpoint":null,"joined_at":null}])"));
  const std::uint64_t whole = service_order(false);
  EXPECT_TRUE(terms(whole).workers.empty());
  EXPECT_FALSE(to_json(*state.order(whole))["serve"].contains("workers")) << "a service on one CVM";
}

TEST_F(SplitServices, ShouldRefuseAWorkerThatIsNoListedCvm) {
  Party unlisted;
  auto r = run(creator, "orders.create", split_args({id_of(w1), id_of(unlisted)}));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, reason::kNotFound);
  EXPECT_EQ(r.error().message, "no CVM " + id_of(unlisted).substr(0, 16) + " (listed as a worker)");
  EXPECT_EQ(reason(creator, "orders.create", split_args({id_of(stranger)})), reason::kNotFound)
      << "an account's id hashed as if it were a CVM key";
  EXPECT_EQ(reason(creator, "orders.create", split_args({stranger.hex()})), reason::kNotFound)
      << "an account id";
  EXPECT_EQ(balance(creator), 1000u) << "no deposit moved";
}

// Malformed before any rule: which CVMs split one service is the creator's
// statement alone, so the parser refuses what no state could make valid.
TEST_F(SplitServices, ShouldRefuseWorkersThatDoNotSplitOneNamedService) {
  // The parser's message for a refused orders.create; its reason is malformed.
  const auto refused = [&](json a) {
    auto stx = parse_and_verify(testing::signed_tx(ledger_id, creator, "orders.create", std::move(a)));
    if (stx) return std::string("accepted");
    EXPECT_EQ(stx.error().reason, reason::kMalformed);
    return stx.error().message;
  };
  EXPECT_EQ(refused(split_args({id_of(w1), id_of(w1)})), "\"workers\" lists CVM " + id_of(w1) + " twice");
  EXPECT_EQ(refused(split_args({id_of(w1), id_of(vm)})),
            "\"workers\" lists the order's own CVM " + id_of(vm) + ": the head is not its own worker");
  json batch = order_args(vm, 10);
  batch["workers"] = {id_of(w1)};
  const std::string batch_only = "\"workers\" goes with \"serve\": only a service is split over CVMs";
  EXPECT_EQ(refused(batch), batch_only) << "workers on a batch order";
  json on_offer = order_args(vm, 10);
  on_offer.erase("cvm");
  on_offer["offer"] = tee;
  on_offer["workers"] = {id_of(w1)};
  EXPECT_EQ(refused(on_offer), batch_only) << "workers on a batch order placed on a tee offer";
  on_offer["outputs"] = json::array();
  on_offer["serve"] = {{"access", "public"}};
  EXPECT_EQ(refused(on_offer), "a service order names its CVM; only batch orders go on an offer");
  std::vector<std::string> eight;
  for (int i = 0; i < 8; ++i) eight.push_back(id_of(cvm(provider, tee)));
  EXPECT_EQ(refused(split_args(eight)), "\"workers\" must list 1 to 7 CVMs");
  EXPECT_EQ(refused(split_args(json::array())), "\"workers\" must list 1 to 7 CVMs");
  EXPECT_EQ(refused(split_args(id_of(w1))), "\"workers\" must be an array of CVM ids");
  for (const json& workers : {json({1}), json({id_of(w1).substr(2)}), json({"AB" + id_of(w1).substr(2)}),
                              json::array({json{{"cvm", id_of(w1)}}}), json(nullptr)}) {
    EXPECT_NE(refused(split_args(workers)), "accepted") << workers.dump();
  }
  eight.pop_back();
  const std::uint64_t id = next_index;
  ok(creator, "orders.create", split_args(eight));
  EXPECT_EQ(terms(id).workers.size(), kMaxServiceWorkers) << "7 workers";
}

TEST_F(SplitServices, JoinShouldPublishTheWorkersEndpointAndTime) {
  const std::uint64_t id = split_service();
  now += 3;
  EXPECT_EQ(join(w1, id), "");
  ServiceTerms t = terms(id);
  EXPECT_EQ(t.workers[0], (Worker{crypto::sha256(w1.id()), "10.0.0.2:50052", now}));
  EXPECT_EQ(t.workers[1], (Worker{crypto::sha256(w2.id()), "", std::nullopt})) << "the other has not joined";
  EXPECT_EQ(status(id), OrderStatus::Processing);
  EXPECT_FALSE(t.started()) << "a join starts nothing";
  const json j = to_json(*state.order(id))["serve"]["workers"][0];
  EXPECT_EQ(j, (json{{"cvm", id_of(w1)}, {"endpoint", "10.0.0.2:50052"}, {"joined_at", now}}));
  // A worker that restarted joins again: its new endpoint replaces the old.
  now += 60;
  EXPECT_EQ(join(w1, id, "[fd00::2]:7000"), "");
  EXPECT_EQ(terms(id).workers[0], (Worker{crypto::sha256(w1.id()), "[fd00::2]:7000", now}));
  EXPECT_EQ(join(w2, id, "worker-2.internal:50052"), "");
  EXPECT_EQ(terms(id).workers[1].endpoint, "worker-2.internal:50052");
  // Joining while the creator asks the service to stop changes nothing else.
  ok(creator, "orders.cancel", {{"order", id}});
  EXPECT_EQ(join(w2, id, "10.0.0.3:50052"), "");
}

TEST_F(SplitServices, JoinShouldRefuseSendersThatAreNotAWorkerOfTheOrder) {
  const std::uint64_t id = split_service();
  auto r = run(other_vm, "services.join", {{"order", id}, {"endpoint", "10.0.0.9:50052"}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, reason::kNotAllowed);
  EXPECT_EQ(r.error().message,
            "CVM " + id_of(other_vm).substr(0, 16) + " is not a worker of order " + std::to_string(id));
  EXPECT_EQ(join(vm, id), reason::kNotAllowed) << "the head";
  EXPECT_EQ(join(stranger, id), reason::kNotAllowed) << "an account that is no CVM";
  EXPECT_EQ(join(creator, id), reason::kNotAllowed) << "the creator";
  EXPECT_EQ(join(provider, id), reason::kNotAllowed) << "the provider";
  Party nobody;
  EXPECT_EQ(join(nobody, id), reason::kUnknownAccount);
  // A worker of one order is no worker of another.
  const std::uint64_t whole = service_order();
  EXPECT_EQ(join(w1, whole), reason::kNotAllowed) << "a service on one CVM";
  const std::uint64_t other = next_index;
  ok(creator, "orders.create", split_args({id_of(w2)}));
  ok(vm, "orders.start", {{"order", other}});
  EXPECT_EQ(join(w1, other), reason::kNotAllowed) << "another split service";
  EXPECT_EQ(join(w1, put_order_in(OrderStatus::Processing)), reason::kBadState) << "a batch order";
  EXPECT_EQ(join(w1, next_index + 10), reason::kNotFound);
  EXPECT_TRUE(terms(id).workers[0].endpoint.empty());
}

TEST_F(SplitServices, JoinShouldRefuseEveryStatusButProcessing) {
  const std::uint64_t fresh = split_service(false);
  EXPECT_EQ(join(w1, fresh), reason::kBadState) << "new";
  ok(creator, "orders.cancel", {{"order", fresh}});
  EXPECT_EQ(join(w1, fresh), reason::kBadState) << "canceled";
  const std::uint64_t done = split_service();
  EXPECT_EQ(start(done, service_report(done, kKey)), "");
  EXPECT_EQ(submit(done, service_report(done, kKey)), "");
  EXPECT_EQ(status(done), OrderStatus::Done);
  EXPECT_EQ(join(w1, done), reason::kBadState) << "done";
  const std::uint64_t failed = split_service();
  ok(vm, "orders.fail", {{"order", failed}, {"reason", "a worker never joined"}});
  EXPECT_EQ(join(w1, failed), reason::kBadState) << "error";
}

TEST_F(SplitServices, JoinShouldRefuseAnEndpointThatIsNotHostAndPort) {
  const std::uint64_t id = split_service();
  const auto refused = [&](json args) { return parse_reason(w1, "services.join", std::move(args)); };
  for (const json& endpoint : {json(""),
                               json("10.0.0.2"),
                               json("10.0.0.2:"),
                               json(":50052"),
                               json("10.0.0.2:0"),
                               json("10.0.0.2:65536"),
                               json("10.0.0.2:050052"),
                               json("10.0.0.2:08080"),
                               json("10.0.0.2:5o052"),
                               json("10.0.0.2:+80"),
                               json("10.0.0.2:123456"),
                               json("10.0.0.2 :50052"),
                               json("10.0.0.2:50052 "),
                               json("\t10.0.0.2:50052"),
                               json("10.0.0.2:50052\n"),
                               json("h\xc3\xb3st:50052"),
                               json("[]:50052"),
                               json("[::1:50052"),
                               json(std::string(250, 'h') + ":50052"),
                               json(50052),
                               json(nullptr),
                               json({"10.0.0.2:50052"})}) {
    EXPECT_EQ(refused({{"order", id}, {"endpoint", endpoint}}), reason::kMalformed) << endpoint.dump();
  }
  EXPECT_EQ(refused({{"order", id}}), reason::kMalformed) << "no endpoint";
  EXPECT_EQ(refused({{"endpoint", "10.0.0.2:50052"}}), reason::kMalformed) << "no order";
  EXPECT_EQ(refused({{"order", id}, {"endpoint", "10.0.0.2:50052"}, {"tls", 1}}), reason::kMalformed);
  for (const std::string& endpoint : std::vector<std::string>{
           "a:1", "10.0.0.2:65535", "[::1]:50052", "worker-2:50052", std::string(249, 'h') + ":50052"}) {
    EXPECT_EQ(join(w1, id, endpoint), "") << endpoint;
    EXPECT_EQ(terms(id).workers[0].endpoint, endpoint);
  }
}

// --- paid use of a service: subscriptions, usage, pricing while it runs ---

// Services for subscribers on OrderTest's provider (per_hour 3600: 1 token a
// second from orders.start), and a client with 1000 tokens.
class Subscriptions : public Services {
 protected:
  void SetUp() override {
    Services::SetUp();
    client = account(1000);
  }

  static json subscribers(std::uint64_t per_request, std::uint64_t per_1k_tokens) {
    return {{"access", "subscribers"},
            {"price", {{"per_request", per_request}, {"per_1k_tokens", per_1k_tokens}}}};
  }

  json service_order_args(json serve, std::vector<std::uint64_t> offers = {}, std::uint64_t deposit = 100) {
    json a = order_args(vm, deposit, std::move(offers));
    a["outputs"] = json::array();
    a["serve"] = std::move(serve);
    return a;
  }

  // A service order of `creator`'s with `deposit`, paying `offers`; started
  // (orders.start, then services.start with kKey) unless told otherwise.
  std::uint64_t paid_service(json serve, std::vector<std::uint64_t> offers = {}, std::uint64_t deposit = 100,
                             bool started = true) {
    const std::uint64_t id = next_index;
    ok(creator, "orders.create", service_order_args(std::move(serve), std::move(offers), deposit));
    if (started) {
      ok(vm, "orders.start", {{"order", id}});
      EXPECT_EQ(start(id, service_report(id, kKey)), "");
    }
    return id;
  }

  std::string subscribe(Party& p, std::uint64_t order, std::uint64_t deposit) {
    return reason(p, "services.subscribe", {{"order", order}, {"deposit", deposit}});
  }

  static json entry(const Party& p, std::uint64_t requests, std::uint64_t tokens = 0,
                    std::uint64_t bytes = 0) {
    return {{"account", p.hex()}, {"requests", requests}, {"tokens", tokens}, {"bytes", bytes}};
  }

  std::string usage(std::uint64_t order, json entries, Party* sender = nullptr) {
    return reason(sender ? *sender : vm, "services.usage", {{"order", order}, {"usage", std::move(entries)}});
  }
  // A braced list of entries is always an array: as a json, clang reads
  // {one_entry} as a copy of that entry, GCC as an array of it.
  std::string usage(std::uint64_t order, std::initializer_list<json> entries, Party* sender = nullptr) {
    json list = json::array();
    for (const json& e : entries) list.push_back(e);
    return usage(order, std::move(list), sender);
  }

  Subscription subscription(std::uint64_t order, const Party& p) {
    return state.subscription(order, p.id()).value();
  }

  // What the order's payment to `offer` holds.
  std::uint64_t paid(std::uint64_t order, std::uint64_t offer) {
    const Order o = state.order(order).value();
    for (const Payment& p : o.payments) {
      if (p.offer == offer) return p.amount;
    }
    ADD_FAILURE() << "order " << order << " has no payment to offer " << offer;
    return 0;
  }

  Party client;
};

TEST_F(Subscriptions, ShouldCreateAServiceForSubscribersWithItsPrice) {
  const std::uint64_t id = paid_service(subscribers(2, 3), {}, 100, false);
  EXPECT_EQ(terms(id).rule, (ServeRule{ServiceAccess::Subscribers, {}, UsagePrice{2, 3}}));
  const json j = to_json(*state.order(id))["serve"];
  EXPECT_EQ(j["access"], "subscribers");
  EXPECT_EQ(j["price"], (json{{"per_request", 2}, {"per_1k_tokens", 3}}));
  EXPECT_EQ(j["revenue"], 0);
  EXPECT_TRUE(j["exhausted_at"].is_null());
  const std::uint64_t free = paid_service({{"access", "subscribers"}}, {}, 100, false);
  EXPECT_EQ(terms(free).rule.price, UsagePrice{});
  const std::uint64_t open = paid_service({{"access", "public"}}, {}, 100, false);
  EXPECT_FALSE(to_json(*state.order(open))["serve"].contains("price")) << "only subscribers pay a price";
}

TEST_F(Subscriptions, ShouldRefuseAPriceOutsideSubscribersAndMalformedPrices) {
  const auto refused = [&](json serve) {
    return parse_reason(creator, "orders.create", service_order_args(std::move(serve)));
  };
  const json price = {{"per_request", 1}, {"per_1k_tokens", 1}};
  EXPECT_EQ(refused({{"access", "public"}, {"price", price}}), reason::kMalformed);
  EXPECT_EQ(refused({{"access", "accounts"}, {"accounts", {stranger.hex()}}, {"price", price}}),
            reason::kMalformed);
  EXPECT_EQ(refused({{"access", "subscribers"}, {"accounts", {stranger.hex()}}}), reason::kMalformed);
  for (const json& bad :
       {json(1), json::object(), json{{"per_request", 1}}, json{{"per_1k_tokens", 1}},
        json{{"per_request", -1}, {"per_1k_tokens", 1}}, json{{"per_request", 1}, {"per_1k_tokens", "1"}},
        json{{"per_request", kMaxAmount + 1}, {"per_1k_tokens", 1}},
        json{{"per_request", 1}, {"per_1k_tokens", 1}, {"per_byte", 1}}}) {
    EXPECT_EQ(refused({{"access", "subscribers"}, {"price", bad}}), reason::kMalformed) << bad.dump();
  }
  EXPECT_EQ(refused(subscribers(kMaxAmount, 0)), "");
}

TEST_F(Subscriptions, ShouldRefuseAServiceWhoseRevenueSharesAddUpToMoreThanAll) {
  Party carol = account();
  const std::uint64_t model = offer(carol, "model", share(6000));
  const std::uint64_t too_much = offer(carol, "engine", share(4001));
  const std::uint64_t rest = offer(carol, "engine", share(4000));
  auto r = run(creator, "orders.create", service_order_args(subscribers(1, 0), {model, too_much}));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, reason::kNotAllowed);
  EXPECT_EQ(r.error().message, "the order's revenue_share offers add up to 10001 bps, more than 10000");
  ok(creator, "orders.create", service_order_args(subscribers(1, 0), {model, rest}));
  ok(creator, "orders.create", order_args(vm, 10, {model, too_much}));  // a batch order pays no share
}

TEST_F(Subscriptions, SubscribeShouldMoveTheDepositIntoEscrowAndTopItUp) {
  const std::uint64_t id = paid_service(subscribers(1, 0), {}, 100, false);
  const std::uint64_t escrow = state.totals().escrow;
  const std::uint64_t first = now;
  EXPECT_EQ(subscribe(client, id, 40), "") << "a new order takes subscriptions";
  Subscription s = subscription(id, client);
  EXPECT_EQ(s, (Subscription{id, client.id(), 40, 0, 0, 0, 0, first, first, false, 0}));
  EXPECT_EQ(balance(client), 960u);
  EXPECT_EQ(state.totals().escrow, escrow + 40);
  now += 5;
  EXPECT_EQ(subscribe(client, id, 2), "");
  s = subscription(id, client);
  EXPECT_EQ(s.deposit, 42u);
  EXPECT_EQ(s.created_at, first);
  EXPECT_EQ(s.updated_at, now);
  EXPECT_EQ(state.totals().escrow, escrow + 42);
  EXPECT_EQ(to_json(s), (json{{"order", id},
                              {"account", client.hex()},
                              {"deposit", 42},
                              {"charged", 0},
                              {"requests", 0},
                              {"tokens", 0},
                              {"bytes", 0},
                              {"created_at", first},
                              {"updated_at", now},
                              {"closed", false},
                              {"refund", 0}}));
  EXPECT_EQ(subscribe(stranger, id, 1), "");
  const auto all = state.subscriptions(id);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_LT(all[0].account, all[1].account) << "in account order";
  EXPECT_TRUE(state.subscriptions(id + 1).empty());
}

TEST_F(Subscriptions, SubscribeShouldRefuseWhatIsNotAServiceForSubscribers) {
  EXPECT_EQ(subscribe(client, put_order_in(OrderStatus::Processing), 1), reason::kBadState);
  const std::uint64_t open = service_order();
  auto r = run(client, "services.subscribe", {{"order", open}, {"deposit", 1}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, reason::kNotAllowed);
  EXPECT_EQ(r.error().message,
            "order " + std::to_string(open) + "'s service is not for subscribers (its access is public)");
  const std::uint64_t listed = paid_service({{"access", "accounts"}, {"accounts", {client.hex()}}});
  EXPECT_EQ(subscribe(client, listed, 1), reason::kNotAllowed);
  EXPECT_EQ(subscribe(client, next_index + 10, 1), reason::kNotFound);
  EXPECT_EQ(parse_reason(client, "services.subscribe", {{"order", open}, {"deposit", 0}}),
            reason::kMalformed);
  EXPECT_EQ(balance(client), 1000u);
}

TEST_F(Subscriptions, SubscribeShouldRefuseAnOrderThatEndedOrWasAskedToStop) {
  const std::uint64_t done = paid_service(subscribers(1, 0));
  ASSERT_EQ(submit(done, service_report(done, kKey)), "");
  EXPECT_EQ(subscribe(client, done, 1), reason::kBadState) << "done";
  const std::uint64_t failed = paid_service(subscribers(1, 0));
  ok(vm, "orders.fail", {{"order", failed}, {"reason", "no GPU"}});
  EXPECT_EQ(subscribe(client, failed, 1), reason::kBadState) << "error";
  const std::uint64_t canceled = paid_service(subscribers(1, 0), {}, 100, false);
  ok(creator, "orders.cancel", {{"order", canceled}});
  EXPECT_EQ(subscribe(client, canceled, 1), reason::kBadState) << "canceled";
  const std::uint64_t stopping = paid_service(subscribers(1, 0));
  EXPECT_EQ(subscribe(client, stopping, 5), "");
  ok(creator, "orders.cancel", {{"order", stopping}});
  auto r = run(client, "services.subscribe", {{"order", stopping}, {"deposit", 1}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, reason::kBadState) << "asked to stop: not even a top-up";
  EXPECT_EQ(r.error().message,
            "order " + std::to_string(stopping) + " was asked to stop; it takes no new subscriptions");
}

TEST_F(Subscriptions, SubscribeShouldRefuseMoreThanTheBalance) {
  const std::uint64_t id = paid_service(subscribers(1, 0));
  EXPECT_EQ(subscribe(client, id, 1001), reason::kInsufficientFunds);
  EXPECT_FALSE(state.subscription(id, client.id()));
}

// What subscribers are charged goes to the creator, who may subscribe it
// again, so a subscription's deposit can outgrow the supply.
TEST_F(Subscriptions, SubscribeShouldRefuseADepositPastTheMaximum) {
  const std::uint64_t id = paid_service(subscribers(1, 0));
  const std::uint64_t most = kMaxAmount - state.totals().supply;
  ok(creator, "accounts.fund", {{"to", creator.hex()}, {"amount", most}});
  EXPECT_EQ(subscribe(creator, id, most), "");
  EXPECT_EQ(usage(id, {entry(creator, most)}), "");
  EXPECT_EQ(subscription(id, creator).charged, most);
  EXPECT_EQ(subscribe(creator, id, most), reason::kOverflow);
  EXPECT_EQ(subscription(id, creator).deposit, most);
}

TEST(UsageCharge, ShouldChargePerRequestAndRoundTokensUpToTheNextToken) {
  EXPECT_EQ(usage_charge(UsagePrice{5, 0}, 3, 99, 1000), 15u);
  EXPECT_EQ(usage_charge(UsagePrice{0, 1}, 0, 1, 1000), 1u) << "1/1000 of a token rounds up";
  EXPECT_EQ(usage_charge(UsagePrice{0, 1}, 0, 1000, 1000), 1u);
  EXPECT_EQ(usage_charge(UsagePrice{0, 1}, 0, 1001, 1000), 2u);
  EXPECT_EQ(usage_charge(UsagePrice{0, 999}, 0, 1, 1000), 1u);
  EXPECT_EQ(usage_charge(UsagePrice{0, 1001}, 0, 1, 1000), 2u);
  EXPECT_EQ(usage_charge(UsagePrice{2, 3}, 4, 2000, 1000), 14u);
  EXPECT_EQ(usage_charge(UsagePrice{0, 0}, kMaxAmount, kMaxAmount, 1000), 0u);
  EXPECT_EQ(usage_charge(UsagePrice{1, 0}, 0, 0, 1000), 0u);
}

TEST(UsageCharge, ShouldComputeHugeProductsExactlyAndCapThemAtTheDeposit) {
  EXPECT_EQ(usage_charge(UsagePrice{kMaxAmount, kMaxAmount}, kMaxAmount, kMaxAmount, 77), 77u);
  EXPECT_EQ(usage_charge(UsagePrice{kMaxAmount, 0}, 1, 0, kMaxAmount), kMaxAmount);
  EXPECT_EQ(usage_charge(UsagePrice{0, kMaxAmount}, 0, 1000, kMaxAmount), kMaxAmount);
  EXPECT_EQ(usage_charge(UsagePrice{0, kMaxAmount}, 0, 1, kMaxAmount), kMaxAmount / 1000 + 1);
}

TEST_F(Subscriptions, UsageShouldChargePerRequestAndPer1kTokensRoundingUp) {
  const std::uint64_t id = paid_service(subscribers(2, 3));
  EXPECT_EQ(subscribe(client, id, 500), "");
  const std::uint64_t creator_before = balance(creator);
  const std::uint64_t escrow = state.totals().escrow;
  EXPECT_EQ(usage(id, {entry(client, 1, 1)}), "");
  EXPECT_EQ(subscription(id, client).charged, 3u) << "2 + ceil(3 * 1 / 1000)";
  EXPECT_EQ(usage(id, {entry(client, 1, 1000, 7)}), "");
  EXPECT_EQ(subscription(id, client).charged, 5u) << "2 + 3";
  EXPECT_EQ(usage(id, {entry(client, 1, 1001, 7)}), "");
  EXPECT_EQ(subscription(id, client).charged, 6u) << "2 + ceil(3003 / 1000)";
  EXPECT_EQ(usage(id, {entry(client, 4, 2000, 9)}), "");
  const Subscription s = subscription(id, client);
  EXPECT_EQ(s.charged, 14u);
  EXPECT_EQ(s.requests, 4u);
  EXPECT_EQ(s.tokens, 2000u);
  EXPECT_EQ(s.bytes, 9u);
  EXPECT_EQ(s.updated_at, now);
  EXPECT_EQ(balance(creator), creator_before + 14) << "no revenue share: all of it to the creator";
  EXPECT_EQ(state.totals().escrow, escrow - 14);
  EXPECT_EQ(terms(id).revenue, 14u);
  EXPECT_EQ(balance(client), 500u);
}

TEST_F(Subscriptions, UsageShouldCapTheChargeAtTheDepositUntilATopUp) {
  const std::uint64_t id = paid_service(subscribers(10, 0));
  EXPECT_EQ(subscribe(client, id, 25), "");
  EXPECT_EQ(usage(id, {entry(client, 2)}), "");
  EXPECT_EQ(subscription(id, client).charged, 20u);
  EXPECT_FALSE(subscription(id, client).exhausted());
  EXPECT_EQ(usage(id, {entry(client, 5)}), "");
  EXPECT_EQ(subscription(id, client).charged, 25u) << "50 owed, 25 deposited";
  EXPECT_TRUE(subscription(id, client).exhausted());
  EXPECT_EQ(usage(id, {entry(client, 6)}), "");
  EXPECT_EQ(subscription(id, client).charged, 25u);
  EXPECT_EQ(balance(client), 975u);
  EXPECT_EQ(subscribe(client, id, 100), "");
  EXPECT_FALSE(subscription(id, client).exhausted());
  EXPECT_EQ(usage(id, {entry(client, 6)}), "");
  EXPECT_EQ(subscription(id, client).charged, 60u) << "the use the deposit did not cover is charged now";
  ASSERT_EQ(submit(id, service_report(id, kKey)), "");
  EXPECT_EQ(subscription(id, client).refund, 65u);
  EXPECT_EQ(balance(client), 940u);
}

TEST_F(Subscriptions, UsageShouldRefuseSendersOtherThanTheOrdersCvm) {
  const std::uint64_t id = paid_service(subscribers(1, 0));
  EXPECT_EQ(subscribe(client, id, 10), "");
  EXPECT_EQ(usage(id, {entry(client, 1)}, &other_vm), reason::kNotAllowed);
  EXPECT_EQ(usage(id, {entry(client, 1)}, &creator), reason::kNotAllowed);
  EXPECT_EQ(usage(id, {entry(client, 1)}, &client), reason::kNotAllowed);
  EXPECT_EQ(usage(next_index + 10, {entry(client, 1)}), reason::kNotFound);
  EXPECT_EQ(subscription(id, client).charged, 0u);
}

TEST_F(Subscriptions, UsageShouldRefuseAServiceNotRunningForSubscribers) {
  const std::uint64_t fresh = paid_service(subscribers(1, 0), {}, 100, false);
  EXPECT_EQ(subscribe(client, fresh, 10), "");
  EXPECT_EQ(usage(fresh, {entry(client, 1)}), reason::kBadState) << "new";
  ok(vm, "orders.start", {{"order", fresh}});
  auto r = run(vm, "services.usage", {{"order", fresh}, {"usage", {entry(client, 1)}}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, reason::kBadState) << "not started";
  EXPECT_EQ(r.error().message,
            "order " + std::to_string(fresh) + "'s service has not started (services.start comes first)");
  r = run(vm, "services.usage", {{"order", started_service()}, {"usage", {entry(client, 1)}}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, reason::kBadState) << "public";
  EXPECT_NE(r.error().message.find("is not for subscribers"), std::string::npos);
  // With no entries it is the running service's per-hour tick, for any service.
  EXPECT_TRUE(run(vm, "services.usage", {{"order", started_service()}, {"usage", json::array()}}));
  EXPECT_EQ(usage(put_order_in(OrderStatus::Processing), {entry(client, 1)}), reason::kBadState) << "batch";
  const std::uint64_t done = paid_service(subscribers(1, 0));
  EXPECT_EQ(subscribe(client, done, 10), "");
  ASSERT_EQ(submit(done, service_report(done, kKey)), "");
  EXPECT_EQ(usage(done, {entry(client, 1)}), reason::kBadState) << "done: its subscriptions are closed";
  EXPECT_EQ(subscription(done, client).charged, 0u);
}

TEST_F(Subscriptions, UsageShouldRefuseACounterThatWentBackNamingIt) {
  const std::uint64_t id = paid_service(subscribers(1, 1));
  EXPECT_EQ(subscribe(client, id, 900), "");
  EXPECT_EQ(usage(id, {entry(client, 5, 50, 500)}), "");
  EXPECT_EQ(usage(id, {entry(client, 4, 50, 500)}), reason::kUsageRegressed);
  EXPECT_EQ(usage(id, {entry(client, 5, 50, 499)}), reason::kUsageRegressed);
  auto r = run(vm, "services.usage", {{"order", id}, {"usage", {entry(client, 6, 49, 600)}}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, reason::kUsageRegressed);
  EXPECT_EQ(r.error().message, "account " + client.hex().substr(0, 16) +
                                   ": tokens 49 is below the recorded 50 (usage counts are cumulative)");
  EXPECT_EQ(usage(id, {entry(client, 5, 50, 500)}), "") << "the same counters again charge nothing";
  EXPECT_EQ(subscription(id, client).charged, 6u);
}

TEST_F(Subscriptions, UsageShouldRefuseAnAccountWithoutASubscriptionAndChargeNoOne) {
  const std::uint64_t id = paid_service(subscribers(1, 0));
  const std::uint64_t other = paid_service(subscribers(1, 0));
  EXPECT_EQ(subscribe(client, id, 10), "");
  EXPECT_EQ(subscribe(stranger, other, 10), "");
  auto r = run(vm, "services.usage", {{"order", id}, {"usage", {entry(client, 3), entry(stranger, 1)}}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, reason::kNotFound);
  EXPECT_EQ(r.error().message, "account " + stranger.hex().substr(0, 16) + " has no subscription to order " +
                                   std::to_string(id));
  EXPECT_EQ(subscription(id, client).charged, 0u) << "all or nothing";
}

TEST_F(Subscriptions, UsageShouldChargeEveryListedSubscriber) {
  const std::uint64_t id = paid_service(subscribers(1, 0));
  EXPECT_EQ(subscribe(client, id, 10), "");
  EXPECT_EQ(subscribe(stranger, id, 10), "");
  EXPECT_EQ(usage(id, {entry(stranger, 4), entry(client, 3)}), "");
  EXPECT_EQ(subscription(id, client).charged, 3u);
  EXPECT_EQ(subscription(id, stranger).charged, 4u);
  EXPECT_EQ(terms(id).revenue, 7u);
}

TEST_F(Subscriptions, UsageShouldPayARevenueShareItsFloorAndTheCreatorTheRest) {
  Party carol = account();
  const std::uint64_t model = offer(carol, "model", share(2500));
  const std::uint64_t id = paid_service(subscribers(1, 0), {model});
  EXPECT_EQ(subscribe(client, id, 999), "");
  const std::uint64_t creator_before = balance(creator);
  EXPECT_EQ(usage(id, {entry(client, 3)}), "");
  EXPECT_EQ(balance(carol), 0u) << "floor(3 * 0.25)";
  EXPECT_EQ(balance(creator), creator_before + 3);
  EXPECT_EQ(usage(id, {entry(client, 4)}), "");
  EXPECT_EQ(balance(carol), 1u);
  EXPECT_EQ(balance(creator), creator_before + 3);
  EXPECT_EQ(usage(id, {entry(client, 10)}), "");
  EXPECT_EQ(balance(carol), 2u) << "floor(10 * 0.25)";
  EXPECT_EQ(balance(creator), creator_before + 8);
  EXPECT_EQ(paid(id, model), 2u) << "the order's payments show the share";
  ASSERT_EQ(submit(id, service_report(id, kKey)), "");
  EXPECT_EQ(paid(id, model), 2u) << "and keep it through settlement";
}

TEST_F(Subscriptions, RevenueSharesShouldNeverDriftOverManySmallUsages) {
  Party carol = account();
  Party dana = account();
  const std::uint64_t model = offer(carol, "model", share(3333));
  const std::uint64_t dataset = offer(dana, "dataset", share(2500));
  const std::uint64_t id = paid_service(subscribers(1, 0), {model, dataset});
  EXPECT_EQ(subscribe(client, id, 999), "");
  const std::uint64_t creator_before = balance(creator);
  constexpr std::uint64_t kUses = 997;
  for (std::uint64_t n = 1; n <= kUses; ++n) {
    ASSERT_EQ(usage(id, {entry(client, n)}), "");
    const std::uint64_t creators = balance(creator) - creator_before;
    ASSERT_EQ(balance(carol) + balance(dana) + creators, n);
    ASSERT_LE(balance(carol), n * 3333 / 10000);
    ASSERT_LE(balance(dana), n * 2500 / 10000);
    ASSERT_GE(balance(carol) + balance(dana) + 1, n * 3333 / 10000 + n * 2500 / 10000)
        << "behind by one at most";
  }
  EXPECT_EQ(balance(carol), kUses * 3333 / 10000);
  EXPECT_EQ(balance(dana), kUses * 2500 / 10000);
  EXPECT_EQ(balance(creator) - creator_before, kUses - kUses * 3333 / 10000 - kUses * 2500 / 10000);
  // One usage of the same total splits it the same way.
  const std::uint64_t once = paid_service(subscribers(1, 0), {model, dataset});
  EXPECT_EQ(subscribe(stranger, once, 999), "");
  EXPECT_EQ(usage(once, {entry(stranger, kUses)}), "");
  EXPECT_EQ(paid(once, model), paid(id, model));
  EXPECT_EQ(paid(once, dataset), paid(id, dataset));
}

// Two halves round up on the same token: the second waits for the next one
// rather than take back what the creator was paid.
TEST_F(Subscriptions, SharesRoundingUpTogetherShouldWaitRatherThanTakeFromTheCreator) {
  Party carol = account();
  Party dana = account();
  const std::uint64_t model = offer(carol, "model", share(5000));
  const std::uint64_t dataset = offer(dana, "dataset", share(5000));
  const std::uint64_t id = paid_service(subscribers(1, 0), {model, dataset});
  EXPECT_EQ(subscribe(client, id, 999), "");
  const std::uint64_t creator_before = balance(creator);
  EXPECT_EQ(usage(id, {entry(client, 1)}), "");
  EXPECT_EQ(balance(creator), creator_before + 1);
  EXPECT_EQ(usage(id, {entry(client, 2)}), "");
  EXPECT_EQ(balance(carol), 1u);
  EXPECT_EQ(balance(dana), 0u);
  EXPECT_EQ(balance(creator), creator_before + 1);
  EXPECT_EQ(usage(id, {entry(client, 3)}), "");
  EXPECT_EQ(balance(dana), 1u);
  EXPECT_EQ(usage(id, {entry(client, 10)}), "");
  EXPECT_EQ(balance(carol), 5u);
  EXPECT_EQ(balance(dana), 4u);
  EXPECT_EQ(balance(creator), creator_before + 1);
}

TEST_F(Subscriptions, UsageShouldRefuseARevenuePastTheMaximum) {
  const std::uint64_t id = paid_service(subscribers(1, 0));
  EXPECT_EQ(subscribe(client, id, 10), "");
  Order o = state.order(id).value();
  o.serve->revenue = kMaxAmount - 1;  // as after a very long life of recycled deposits
  state.put(o);
  EXPECT_EQ(usage(id, {entry(client, 2)}), reason::kOverflow);
  EXPECT_EQ(usage(id, {entry(client, 1)}), "");
  EXPECT_EQ(terms(id).revenue, kMaxAmount);
}

TEST_F(Subscriptions, UsageShouldPayPerHourOffersForTheTimeSinceTheOrderStarted) {
  Party dana = account();
  const std::uint64_t dataset = offer(dana, "dataset", per_hour(7200));
  const std::uint64_t id = paid_service(subscribers(1, 0), {dataset}, 500);
  EXPECT_EQ(subscribe(client, id, 10), "");
  now += 30;
  EXPECT_EQ(usage(id, {entry(client, 0)}), "");
  EXPECT_EQ(balance(provider), 30u);
  EXPECT_EQ(balance(dana), 60u);
  EXPECT_EQ(paid(id, tee), 30u);
  EXPECT_EQ(paid(id, dataset), 60u);
  now += 10;
  EXPECT_EQ(usage(id, {entry(client, 1)}), "");
  EXPECT_EQ(balance(provider), 40u);
  EXPECT_EQ(balance(dana), 80u);
  now += 5;
  ASSERT_EQ(submit(id, service_report(id, kKey)), "");
  EXPECT_EQ(balance(provider), 45u) << "the rest at settlement, never twice";
  EXPECT_EQ(balance(dana), 90u);
  EXPECT_EQ(paid(id, tee), 45u);
  EXPECT_EQ(paid(id, dataset), 90u);
  EXPECT_EQ(state.order(id)->refund, 500u - 135);
  EXPECT_FALSE(terms(id).exhausted_at);
}

TEST_F(Subscriptions, ShouldEndAServiceWhoseDepositRunsOut) {
  const std::uint64_t id = paid_service(subscribers(1, 0), {}, 100);
  EXPECT_EQ(subscribe(client, id, 50), "");
  EXPECT_EQ(usage(id, {entry(client, 10)}), "");
  now += 150;
  EXPECT_EQ(usage(id, {entry(client, 12)}), "");
  EXPECT_EQ(balance(provider), 100u) << "150 owed; the deposit held 100";
  EXPECT_EQ(terms(id).exhausted_at, now);
  EXPECT_EQ(terms(id).cancel_requested, now) << "the loader stops it as if canceled";
  EXPECT_EQ(to_json(*state.order(id))["serve"]["exhausted_at"], now);
  EXPECT_EQ(subscribe(stranger, id, 5), reason::kBadState);
  const std::uint64_t exhausted = now;
  now += 10;
  EXPECT_EQ(usage(id, {entry(client, 13)}), "") << "it is still serving";
  EXPECT_EQ(terms(id).exhausted_at, exhausted);
  EXPECT_EQ(balance(provider), 100u);
  ASSERT_EQ(submit(id, service_report(id, kKey)), "");
  const Order o = state.order(id).value();
  EXPECT_EQ(o.status, OrderStatus::Done);
  EXPECT_EQ(o.refund, 0u) << "the deposit is spent";
  EXPECT_EQ(balance(provider), 100u);
  EXPECT_TRUE(subscription(id, client).closed);
  EXPECT_EQ(subscription(id, client).refund, 50u - 13);
  EXPECT_EQ(balance(client), 1000u - 13);
  EXPECT_EQ(state.totals().escrow, 0u);
}

TEST_F(Subscriptions, AnEmptyUsageShouldPayPerHourAndEndAPublicServiceWhoseDepositRunsOut) {
  // The provider's tee offer: 3600 an hour, 1 a second; the deposit is 100.
  const std::uint64_t id = started_service();
  now += 40;
  EXPECT_TRUE(run(vm, "services.usage", {{"order", id}, {"usage", json::array()}}));
  EXPECT_EQ(balance(provider), 40u);
  EXPECT_FALSE(terms(id).exhausted_at);
  now += 70;
  EXPECT_TRUE(run(vm, "services.usage", {{"order", id}, {"usage", json::array()}}));
  EXPECT_EQ(balance(provider), 100u) << "110 owed; the deposit held 100";
  EXPECT_EQ(terms(id).exhausted_at, now);
  EXPECT_EQ(terms(id).cancel_requested, now);
}

TEST_F(Subscriptions, ExhaustionShouldKeepTheCreatorsEarlierRequestToStop) {
  const std::uint64_t id = paid_service(subscribers(1, 0), {}, 100);
  EXPECT_EQ(subscribe(client, id, 50), "");
  ok(creator, "orders.cancel", {{"order", id}});
  const std::uint64_t asked = now;
  now += 200;
  EXPECT_EQ(usage(id, {entry(client, 1)}), "");
  EXPECT_EQ(terms(id).exhausted_at, now);
  EXPECT_EQ(terms(id).cancel_requested, asked);
}

TEST_F(Subscriptions, FixedOffersShouldBePaidAtTheFirstStartOnly) {
  Party carol = account();
  const std::uint64_t engine = offer(carol, "engine", fixed(30));
  const std::uint64_t id = paid_service({{"access", "public"}}, {engine}, 100, false);
  ok(vm, "orders.start", {{"order", id}});
  EXPECT_EQ(balance(carol), 0u);
  ASSERT_EQ(start(id, service_report(id, kKey)), "");
  EXPECT_EQ(balance(carol), 30u);
  EXPECT_EQ(paid(id, engine), 30u);
  now += 10;
  ASSERT_EQ(start(id, service_report(id, kOtherKey)), "") << "the loader restarted";
  EXPECT_EQ(balance(carol), 30u);
  now += 10;
  ASSERT_EQ(submit(id, service_report(id, kOtherKey)), "");
  EXPECT_EQ(balance(carol), 30u);
  EXPECT_EQ(balance(provider), 20u);
  const Order o = state.order(id).value();
  ASSERT_EQ(o.payments.size(), 2u);
  EXPECT_EQ(o.payments[0].amount, 20u);
  EXPECT_EQ(o.payments[1].amount, 30u);
  EXPECT_EQ(o.refund, 50u);
  EXPECT_EQ(balance(creator), 1000u - 50);
}

TEST_F(Subscriptions, FixedOffersShouldTakeWhatIsLeftAndNothingIfTheServiceNeverStarted) {
  Party carol = account();
  const std::uint64_t engine = offer(carol, "engine", fixed(30));
  const std::uint64_t short_deposit = paid_service(subscribers(1, 0), {engine}, 20);
  EXPECT_EQ(balance(carol), 20u);
  EXPECT_EQ(subscribe(client, short_deposit, 5), "");
  now += 1;
  EXPECT_EQ(usage(short_deposit, {entry(client, 1)}), "");
  EXPECT_EQ(terms(short_deposit).exhausted_at, now) << "nothing left for the provider's hour";
  const std::uint64_t never = paid_service({{"access", "public"}}, {engine}, 100, false);
  ok(vm, "orders.start", {{"order", never}});
  now += 10;
  ok(vm, "orders.fail", {{"order", never}, {"reason", "no GPU"}});
  EXPECT_EQ(balance(carol), 20u);
  EXPECT_EQ(paid(never, engine), 0u);
  EXPECT_EQ(state.order(never)->refund, 90u);
}

TEST_F(Subscriptions, TheFinalReportShouldCloseAndRefundEverySubscription) {
  const std::uint64_t supply = state.totals().supply;
  const std::uint64_t id = paid_service(subscribers(1, 0));
  EXPECT_EQ(subscribe(client, id, 50), "");
  EXPECT_EQ(subscribe(stranger, id, 30), "");
  EXPECT_EQ(usage(id, {entry(client, 10), entry(stranger, 40)}), "");
  now += 20;
  ASSERT_EQ(submit(id, service_report(id, kKey)), "");
  EXPECT_EQ(subscription(id, client),
            (Subscription{id, client.id(), 50, 10, 10, 0, 0, now - 20, now, true, 40}));
  EXPECT_EQ(subscription(id, stranger).refund, 0u) << "exhausted";
  EXPECT_TRUE(subscription(id, stranger).closed);
  EXPECT_EQ(balance(client), 990u);
  EXPECT_EQ(balance(stranger), 970u);
  EXPECT_EQ(state.totals().escrow, 0u);
  EXPECT_EQ(state.totals().supply, supply);
  EXPECT_EQ(subscribe(client, id, 1), reason::kBadState) << "a closed subscription is not topped up";
  EXPECT_EQ(usage(id, {entry(client, 11)}), reason::kBadState) << "nor charged";
}

TEST_F(Subscriptions, ShouldRefuseToPayOutMoreThanEscrowHolds) {
  const std::uint64_t id = paid_service(subscribers(1, 0));
  EXPECT_EQ(subscribe(client, id, 10), "");
  state.put(Totals{state.totals().supply, 2});  // a damaged state
  auto r = run(vm, "services.usage", {{"order", id}, {"usage", {entry(client, 3)}}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, reason::kOverflow);
  EXPECT_EQ(r.error().message, "escrow holds less than 3");
}

TEST_F(Subscriptions, FailingOrCancelingShouldCloseAndRefundSubscriptionsToo) {
  const std::uint64_t failed = paid_service(subscribers(1, 0));
  EXPECT_EQ(subscribe(client, failed, 50), "");
  EXPECT_EQ(usage(failed, {entry(client, 5)}), "");
  ok(vm, "orders.fail", {{"order", failed}, {"reason", "the engine crashed 3 times"}});
  EXPECT_TRUE(subscription(failed, client).closed);
  EXPECT_EQ(subscription(failed, client).refund, 45u);
  const std::uint64_t canceled = paid_service(subscribers(1, 0), {}, 100, false);
  EXPECT_EQ(subscribe(stranger, canceled, 20), "");
  ok(creator, "orders.cancel", {{"order", canceled}});
  EXPECT_EQ(status(canceled), OrderStatus::Canceled);
  EXPECT_TRUE(subscription(canceled, stranger).closed);
  EXPECT_EQ(subscription(canceled, stranger).refund, 20u);
  EXPECT_EQ(balance(client), 995u);
  EXPECT_EQ(balance(stranger), 1000u);
  EXPECT_EQ(state.totals().escrow, 0u);
}

}  // namespace
}  // namespace ward::ledger
