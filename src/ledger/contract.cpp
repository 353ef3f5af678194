#include "ledger/contract.h"

#include <algorithm>
#include <string>

#include "base/bytes.h"

namespace ward::ledger {
namespace {

std::string short_id(std::span<const std::uint8_t> id) {
  return hex_encode(id.first(8));
}

CvmId cvm_id_of(const crypto::Ed25519PublicKey& key) {
  return crypto::sha256(key);
}

RuleResult credit(State& s, const AccountId& id, std::uint64_t amount) {
  auto account = s.account(id);
  if (!account) return reject(reason::kUnknownAccount, "no account " + short_id(id));
  if (amount > kMaxAmount - account->balance) {
    return reject(reason::kOverflow, "the balance of " + short_id(id) + " would exceed 2^63-1");
  }
  account->balance += amount;
  s.put(*account);
  return {};
}

RuleResult debit(State& s, const AccountId& id, std::uint64_t amount) {
  auto account = s.account(id);
  if (!account) return reject(reason::kUnknownAccount, "no account " + short_id(id));
  if (account->balance < amount) {
    return reject(reason::kInsufficientFunds,
                  "balance " + std::to_string(account->balance) + " is less than " + std::to_string(amount));
  }
  account->balance -= amount;
  s.put(*account);
  return {};
}

// An order whose CVM is the sender, or the reason it is not.
std::expected<Order, Rejection> order_for_cvm(State& s, const Record& r, std::uint64_t id) {
  auto order = s.order(id);
  if (!order) return reject(reason::kNotFound, "no order " + std::to_string(id));
  if (cvm_id_of(r.stx.tx.sender) != order->cvm) {
    return reject(reason::kNotAllowed, "only the order's CVM may do this");
  }
  return *order;
}

// Pays the provider, then each listed offer, then refunds the rest; moves
// exactly the deposit out of escrow.
RuleResult settle(State& s, Order& order) {
  const bool done = order.status == OrderStatus::Done;
  const std::uint64_t seconds = order.ended_at >= order.started_at ? order.ended_at - order.started_at : 0;
  std::uint64_t left = order.deposit;
  const auto cvm = s.cvm(order.cvm);
  if (!cvm) return reject(reason::kNotFound, "the order's CVM is gone");
  std::vector<std::uint64_t> payees{cvm->offer};
  payees.insert(payees.end(), order.offers.begin(), order.offers.end());
  order.payments.clear();
  for (const std::uint64_t id : payees) {
    const auto offer = s.offer(id);
    if (!offer) return reject(reason::kNotFound, "no offer " + std::to_string(id));
    const std::uint64_t amount = settlement_amount(offer->price, done, seconds, left);
    left -= amount;
    if (auto ok = credit(s, offer->owner, amount); !ok) return ok;
    order.payments.push_back(Payment{id, offer->owner, offer->price, amount});
  }
  if (auto ok = credit(s, order.creator, left); !ok) return ok;
  order.refund = left;
  Totals totals = s.totals();
  if (totals.escrow < order.deposit)
    return reject(reason::kOverflow, "escrow holds less than the order's deposit");
  totals.escrow -= order.deposit;
  s.put(totals);
  s.put(order);
  return {};
}

RuleResult apply_accounts_register(State& s, const Record& r, const args::AccountsRegister& a) {
  const auto& tx = r.stx.tx;
  if (s.account(tx.sender))
    return reject(reason::kAlreadyExists, "account " + short_id(tx.sender) + " exists");
  if (tx.nonce != 1) return reject(reason::kBadNonce, "a new account's first nonce is 1");
  s.put(Account{tx.sender, a.recipient, a.name, 0, 1, r.index});
  return {};
}

}  // namespace

std::uint64_t settlement_amount(const Price& price, bool done, std::uint64_t seconds, std::uint64_t left) {
  __extension__ using u128 = unsigned __int128;
  u128 amount = 0;
  switch (price.model) {
    case PriceModel::Fixed:
      amount = done ? price.amount : 0;
      break;
    case PriceModel::PerHour:
      amount = (u128{price.amount} * seconds + 3599) / 3600;
      break;
    case PriceModel::RevenueShare:
      amount = 0;
      break;
  }
  return amount < left ? static_cast<std::uint64_t>(amount) : left;
}

RuleResult apply_accounts_fund(State& s, const Record&, const args::AccountsFund& a) {
  if (!s.info().dev) return reject(reason::kDevOnly, "the faucet exists only on dev ledgers");
  if (!s.account(a.to)) return reject(reason::kUnknownAccount, "no account " + short_id(a.to));
  Totals totals = s.totals();
  if (a.amount > kMaxAmount - totals.supply)
    return reject(reason::kOverflow, "the supply would exceed 2^63-1");
  totals.supply += a.amount;
  s.put(totals);
  return credit(s, a.to, a.amount);
}

RuleResult apply_accounts_transfer(State& s, const Record& r, const args::AccountsTransfer& a) {
  if (!s.account(a.to)) return reject(reason::kUnknownAccount, "no account " + short_id(a.to));
  // Debit before reading the recipient, so a transfer to oneself sees the debit.
  if (auto ok = debit(s, r.stx.tx.sender, a.amount); !ok) return ok;
  return credit(s, a.to, a.amount);
}

RuleResult apply_offers_create(State& s, const Record& r, const args::OffersCreate& a) {
  s.put(Offer{r.index, r.stx.tx.sender, a.kind, a.name, a.resource, a.price, true});
  return {};
}

namespace {
RuleResult set_offer_enabled(State& s, const Record& r, std::uint64_t id, bool enabled) {
  auto offer = s.offer(id);
  if (!offer) return reject(reason::kNotFound, "no offer " + std::to_string(id));
  if (offer->owner != r.stx.tx.sender)
    return reject(reason::kNotOwner, "only the offer's owner may change it");
  if (offer->enabled == enabled) {
    return reject(reason::kBadState,
                  "offer " + std::to_string(id) + (enabled ? " is enabled" : " is disabled"));
  }
  offer->enabled = enabled;
  s.put(*offer);
  return {};
}
}  // namespace

RuleResult apply_offers_enable(State& s, const Record& r, const args::OffersEnable& a) {
  return set_offer_enabled(s, r, a.offer, true);
}

RuleResult apply_offers_disable(State& s, const Record& r, const args::OffersDisable& a) {
  return set_offer_enabled(s, r, a.offer, false);
}

RuleResult apply_cvms_register(State& s, const Record& r, const args::CvmsRegister& a) {
  const auto offer = s.offer(a.offer);
  if (!offer) return reject(reason::kNotFound, "no offer " + std::to_string(a.offer));
  if (offer->owner != r.stx.tx.sender)
    return reject(reason::kNotOwner, "only the tee offer's owner may add CVMs");
  if (offer->kind != OfferKind::Tee) return reject(reason::kNotAllowed, "a CVM needs a tee offer");
  const CvmId id = cvm_id_of(a.key);
  if (s.cvm(id)) return reject(reason::kAlreadyExists, "CVM " + short_id(id) + " exists");
  if (s.account(a.key)) return reject(reason::kAlreadyExists, "the CVM key already has an account");
  s.put(Cvm{id, a.key, a.recipient, a.certificate, a.offer, r.stx.tx.sender, r.time, r.time});
  s.put(Account{a.key, a.recipient, "cvm " + short_id(id), 0, 0, r.index});
  return {};
}

RuleResult apply_cvms_heartbeat(State& s, const Record& r, const args::CvmsHeartbeat&) {
  auto cvm = s.cvm(cvm_id_of(r.stx.tx.sender));
  if (!cvm) return reject(reason::kNotAllowed, "only a CVM sends heartbeats");
  cvm->heartbeat_at = r.time;
  s.put(*cvm);
  return {};
}

RuleResult apply_orders_create(State& s, const Record& r, const args::OrdersCreate& a) {
  const auto cvm = s.cvm(a.cvm);
  if (!cvm) return reject(reason::kNotFound, "no CVM " + short_id(a.cvm));
  const auto tee = s.offer(cvm->offer);
  if (!tee || !tee->enabled) return reject(reason::kBadState, "the CVM's tee offer is disabled");
  for (const std::uint64_t id : a.offers) {
    const auto offer = s.offer(id);
    if (!offer) return reject(reason::kNotFound, "no offer " + std::to_string(id));
    if (offer->kind == OfferKind::Tee) {
      return reject(reason::kNotAllowed,
                    "offer " + std::to_string(id) + " is a tee offer; the CVM's is paid");
    }
    if (!offer->enabled) return reject(reason::kBadState, "offer " + std::to_string(id) + " is disabled");
  }
  if (auto ok = debit(s, r.stx.tx.sender, a.deposit); !ok) return ok;
  Totals totals = s.totals();
  if (a.deposit > kMaxAmount - totals.escrow) return reject(reason::kOverflow, "escrow would exceed 2^63-1");
  totals.escrow += a.deposit;
  s.put(totals);
  Order order;
  order.id = r.index;
  order.creator = r.stx.tx.sender;
  order.cvm = a.cvm;
  order.engine = a.engine;
  order.inputs = a.inputs;
  order.outputs = a.outputs;
  order.offers = a.offers;
  order.deposit = a.deposit;
  order.created_at = r.time;
  if (a.serve) {
    order.serve.emplace();
    order.serve->rule = *a.serve;
  }
  s.put(order);
  return {};
}

RuleResult apply_orders_start(State& s, const Record& r, const args::OrdersStart& a) {
  auto order = order_for_cvm(s, r, a.order);
  if (!order) return std::unexpected(order.error());
  if (order->status != OrderStatus::New) {
    return reject(reason::kBadState, "order is " + std::string(to_string(order->status)) + ", not new");
  }
  order->status = OrderStatus::Processing;
  order->started_at = r.time;
  s.put(*order);
  return {};
}

namespace {

// A running service ends only by its CVM's final report (or orders.fail), so
// the creator's cancel is a request the CVM sees on the order.
RuleResult request_service_stop(State& s, const Record& r, Order& order) {
  if (order.serve->cancel_requested) {
    return reject(reason::kAlreadyExists, "order " + std::to_string(order.id) + " was already asked to stop");
  }
  order.serve->cancel_requested = r.time;
  s.put(order);
  return {};
}

}  // namespace

RuleResult apply_orders_cancel(State& s, const Record& r, const args::OrdersCancel& a) {
  auto order = s.order(a.order);
  if (!order) return reject(reason::kNotFound, "no order " + std::to_string(a.order));
  if (order->creator != r.stx.tx.sender)
    return reject(reason::kNotOwner, "only the order's creator may cancel it");
  if (order->serve && order->status == OrderStatus::Processing) return request_service_stop(s, r, *order);
  if (order->status != OrderStatus::New) {
    return reject(reason::kBadState, "order is " + std::string(to_string(order->status)) + ", not new");
  }
  order->status = OrderStatus::Canceled;
  order->ended_at = r.time;
  order->refund = order->deposit;
  if (auto ok = credit(s, order->creator, order->deposit); !ok) return ok;
  Totals totals = s.totals();
  if (totals.escrow < order->deposit) return reject(reason::kOverflow, "escrow holds less than the deposit");
  totals.escrow -= order->deposit;
  s.put(totals);
  s.put(*order);
  return {};
}

RuleResult apply_orders_fail(State& s, const Record& r, const args::OrdersFail& a) {
  auto order = order_for_cvm(s, r, a.order);
  if (!order) return std::unexpected(order.error());
  if (order->status != OrderStatus::Processing) {
    return reject(reason::kBadState,
                  "order is " + std::string(to_string(order->status)) + ", not processing");
  }
  order->status = OrderStatus::Error;
  order->ended_at = r.time;
  order->error = a.reason;
  return settle(s, *order);
}

namespace {

// The checks of what a submitted report says, each against what the ledger
// knows: the order it names, this ledger, the order's CVM (which is the
// sender, by order_for_cvm), the order's engine, and the sender's signature.
RuleResult check_report_order(const Order& order, const args::ReportClaims& c) {
  if (c.order == order.id) return {};
  return reject(reason::kReportMismatch, "the report is for order " + std::to_string(c.order) +
                                             ", not order " + std::to_string(order.id));
}

RuleResult check_report_ledger(const State& s, const args::ReportClaims& c) {
  const LedgerId& id = s.info().id;
  if (c.ledger == id) return {};
  return reject(reason::kReportMismatch,
                "the report is for ledger " + short_id(c.ledger) + ", not ledger " + short_id(id));
}

RuleResult check_report_cvm(const Order& order, const args::ReportClaims& c) {
  if (c.cvm == order.cvm) return {};
  return reject(reason::kReportMismatch,
                "the report names CVM " + short_id(c.cvm) + ", the order's is " + short_id(order.cvm));
}

RuleResult check_report_engine(const Order& order, const args::ReportClaims& c) {
  if (c.engine == order.engine) return {};
  return reject(reason::kReportMismatch,
                "the report ran engine " + c.engine + ", the order's is " + order.engine);
}

// A service's final report names the TLS key its start report did; a batch
// order's report has no service part.
RuleResult check_report_service(const Order& order, const args::ReportClaims& c) {
  const std::string id = std::to_string(order.id);
  if (!order.serve) {
    if (!c.service) return {};
    return reject(reason::kReportMismatch,
                  "order " + id + " is not a service, but its report has a service part");
  }
  if (!c.service) {
    return reject(reason::kReportMismatch,
                  "order " + id + " is a service; its report lacks service.tls_key_sha256");
  }
  if (order.serve->tls_key_sha256 && c.service->tls_key_sha256 != *order.serve->tls_key_sha256) {
    return reject(reason::kReportMismatch, "the report names TLS key " + short_id(c.service->tls_key_sha256) +
                                               ", the service started with " +
                                               short_id(*order.serve->tls_key_sha256));
  }
  return {};
}

RuleResult check_report_signature(const Record& r, const args::ReportClaims& c) {
  std::string signed_bytes(kReportDomain);
  signed_bytes += c.body;
  if (crypto::ed25519_verify(r.stx.tx.sender, as_bytes(signed_bytes), c.sig)) return {};
  return reject(reason::kBadSignature, "the report's signature does not verify under the CVM's key");
}

// The report checks, in the documented order ("Reports" in docs/ledger.md).
RuleResult check_report(const State& s, const Record& r, const Order& order, const args::ReportClaims& c) {
  for (const RuleResult& check :
       {check_report_order(order, c), check_report_ledger(s, c), check_report_cvm(order, c),
        check_report_engine(order, c), check_report_service(order, c)}) {
    if (!check) return check;
  }
  return check_report_signature(r, c);
}

}  // namespace

RuleResult apply_services_start(State& s, const Record& r, const args::ServicesStart& a) {
  auto order = order_for_cvm(s, r, a.order);
  if (!order) return std::unexpected(order.error());
  const std::string id = std::to_string(a.order);
  if (!order->serve) return reject(reason::kBadState, "order " + id + " is not a service order");
  if (order->status != OrderStatus::Processing) {
    return reject(reason::kBadState,
                  "order is " + std::string(to_string(order->status)) + ", not processing");
  }
  // A second start is the CVM's loader starting again (it restarted): the
  // new key replaces the old one, so clients stop trusting the old one.
  Order unstarted = *order;
  unstarted.serve->tls_key_sha256.reset();
  if (auto ok = check_report(s, r, unstarted, a.claims); !ok) return ok;
  if (order->serve->tls_key_sha256 == a.claims.service->tls_key_sha256)
    return reject(reason::kAlreadyExists, "order " + id + "'s service already started with this TLS key");
  s.put_start_report(Report{a.order, a.report, r.index, r.time});
  order->serve->tls_key_sha256 = a.claims.service->tls_key_sha256;
  order->serve->inputs = a.claims.service->inputs;
  order->serve->endpoint = a.claims.service->endpoint;
  order->serve->serving_since = r.time;
  s.put(*order);
  return {};
}

RuleResult apply_reports_submit(State& s, const Record& r, const args::ReportsSubmit& a) {
  auto order = order_for_cvm(s, r, a.order);
  if (!order) return std::unexpected(order.error());
  if (s.report(a.order))
    return reject(reason::kAlreadyExists, "order " + std::to_string(a.order) + " has a report");
  if (order->status != OrderStatus::Processing) {
    return reject(reason::kBadState,
                  "order is " + std::string(to_string(order->status)) + ", not processing");
  }
  if (order->serve && !order->serve->started()) {
    return reject(reason::kBadState, "order " + std::to_string(a.order) +
                                         "'s service has not started (services.start comes first)");
  }
  if (auto ok = check_report(s, r, *order, a.claims); !ok) return ok;
  s.put(Report{a.order, a.report, r.index, r.time});
  order->status = OrderStatus::Done;
  order->ended_at = r.time;
  return settle(s, *order);
}

namespace {

std::string grant_name(const GrantId& id) {
  return "grant " + hex_encode(id).substr(0, 16);
}

// One entry of grants.use: refused when its owner revoked it, or when its
// limited uses are spent by other orders; the same order counts once.
RuleResult use_grant(State& s, std::uint64_t order, const args::GrantUse& g) {
  auto grant = s.grant(g.id, g.owner);
  if (grant && grant->revoked)
    return reject(reason::kRevoked, grant_name(g.id) + " was revoked by its owner");
  if (g.uses == 0) return {};
  Grant counted = grant.value_or(Grant{g.id, g.owner, {}, false, 0});
  if (std::find(counted.orders.begin(), counted.orders.end(), order) != counted.orders.end()) return {};
  if (counted.orders.size() >= g.uses) {
    return reject(reason::kUsedUp,
                  grant_name(g.id) + " allows " + std::to_string(g.uses) + " uses, all spent");
  }
  counted.orders.push_back(order);
  s.put(counted);
  return {};
}

}  // namespace

RuleResult apply_grants_use(State& s, const Record& r, const args::GrantsUse& a) {
  auto order = order_for_cvm(s, r, a.order);
  if (!order) return std::unexpected(order.error());
  if (order->status != OrderStatus::Processing) {
    return reject(reason::kBadState,
                  "order is " + std::string(to_string(order->status)) + ", not processing");
  }
  for (const args::GrantUse& g : a.grants) {
    if (auto ok = use_grant(s, a.order, g); !ok) return ok;
  }
  return {};
}

RuleResult apply_grants_revoke(State& s, const Record& r, const args::GrantsRevoke& a) {
  const AccountId& owner = r.stx.tx.sender;
  Grant grant = s.grant(a.grant, owner).value_or(Grant{a.grant, owner, {}, false, 0});
  if (grant.revoked) return reject(reason::kAlreadyExists, grant_name(a.grant) + " is already revoked");
  grant.revoked = true;
  grant.revoked_at = r.time;
  s.put(grant);
  return {};
}

std::expected<void, Rejection> apply(State& state, const Record& record) {
  const Transaction& tx = record.stx.tx;
  if (tx.ledger != state.info().id)
    return reject(reason::kWrongLedger, "the transaction is for another ledger");
  OverlayState overlay(state);
  RuleResult result;
  if (const auto* reg = std::get_if<args::AccountsRegister>(&tx.action)) {
    result = apply_accounts_register(overlay, record, *reg);
  } else {
    auto sender = overlay.account(tx.sender);
    if (!sender) return reject(reason::kUnknownAccount, "the sender has no account; register first");
    if (tx.nonce != sender->nonce + 1) {
      return reject(reason::kBadNonce, "expected nonce " + std::to_string(sender->nonce + 1) + ", got " +
                                           std::to_string(tx.nonce));
    }
    sender->nonce = tx.nonce;
    overlay.put(*sender);
    result = std::visit(
        [&](const auto& a) -> RuleResult {
          using A = std::decay_t<decltype(a)>;
          if constexpr (std::is_same_v<A, args::AccountsRegister>) {
            return apply_accounts_register(overlay, record, a);
          } else if constexpr (std::is_same_v<A, args::AccountsFund>) {
            return apply_accounts_fund(overlay, record, a);
          } else if constexpr (std::is_same_v<A, args::AccountsTransfer>) {
            return apply_accounts_transfer(overlay, record, a);
          } else if constexpr (std::is_same_v<A, args::OffersCreate>) {
            return apply_offers_create(overlay, record, a);
          } else if constexpr (std::is_same_v<A, args::OffersEnable>) {
            return apply_offers_enable(overlay, record, a);
          } else if constexpr (std::is_same_v<A, args::OffersDisable>) {
            return apply_offers_disable(overlay, record, a);
          } else if constexpr (std::is_same_v<A, args::CvmsRegister>) {
            return apply_cvms_register(overlay, record, a);
          } else if constexpr (std::is_same_v<A, args::CvmsHeartbeat>) {
            return apply_cvms_heartbeat(overlay, record, a);
          } else if constexpr (std::is_same_v<A, args::OrdersCreate>) {
            return apply_orders_create(overlay, record, a);
          } else if constexpr (std::is_same_v<A, args::OrdersStart>) {
            return apply_orders_start(overlay, record, a);
          } else if constexpr (std::is_same_v<A, args::OrdersCancel>) {
            return apply_orders_cancel(overlay, record, a);
          } else if constexpr (std::is_same_v<A, args::OrdersFail>) {
            return apply_orders_fail(overlay, record, a);
          } else if constexpr (std::is_same_v<A, args::ReportsSubmit>) {
            return apply_reports_submit(overlay, record, a);
          } else if constexpr (std::is_same_v<A, args::ServicesStart>) {
            return apply_services_start(overlay, record, a);
          } else if constexpr (std::is_same_v<A, args::GrantsUse>) {
            return apply_grants_use(overlay, record, a);
          } else {
            static_assert(std::is_same_v<A, args::GrantsRevoke>);
            return apply_grants_revoke(overlay, record, a);
          }
        },
        tx.action);
  }
  if (!result) return result;
  overlay.commit();
  return {};
}

}  // namespace ward::ledger
