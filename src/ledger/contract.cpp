#include "ledger/contract.h"

#include <algorithm>
#include <string>

#include "base/bytes.h"
#include "base/time.h"

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

// Moves `amount` from `from`'s balance into escrow.
RuleResult into_escrow(State& s, const AccountId& from, std::uint64_t amount) {
  if (auto ok = debit(s, from, amount); !ok) return ok;
  Totals totals = s.totals();
  if (amount > kMaxAmount - totals.escrow) return reject(reason::kOverflow, "escrow would exceed 2^63-1");
  totals.escrow += amount;
  s.put(totals);
  return {};
}

// Pays `amount` out of escrow to `to`.
RuleResult out_of_escrow(State& s, const AccountId& to, std::uint64_t amount) {
  Totals totals = s.totals();
  if (totals.escrow < amount)
    return reject(reason::kOverflow, "escrow holds less than " + std::to_string(amount));
  totals.escrow -= amount;
  s.put(totals);
  return credit(s, to, amount);
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

// The offers an order pays: the provider's (its CVM's tee offer) first, then
// each listed offer in order.
std::expected<std::vector<Offer>, Rejection> payees(const State& s, const Order& order) {
  std::uint64_t tee = order.tee_offer;
  if (tee == 0) {
    const auto cvm = s.cvm(order.cvm);
    if (!cvm) return reject(reason::kNotFound, "the order's CVM is gone");
    tee = cvm->offer;
  }
  std::vector<std::uint64_t> ids{tee};
  ids.insert(ids.end(), order.offers.begin(), order.offers.end());
  std::vector<Offer> out;
  for (const std::uint64_t id : ids) {
    auto offer = s.offer(id);
    if (!offer) return reject(reason::kNotFound, "no offer " + std::to_string(id));
    out.push_back(std::move(*offer));
  }
  return out;
}

// Pays the provider, then each listed offer, then refunds the rest; moves
// exactly the deposit out of escrow.
RuleResult settle_batch(State& s, Order& order) {
  const bool done = order.status == OrderStatus::Done;
  // Time on CVMs that failed counts up to each one's last heartbeat; a
  // canceled order (New again after a failover) runs on no CVM now.
  const bool running = order.status != OrderStatus::Canceled;
  const std::uint64_t seconds =
      order.billed + (running && order.ended_at >= order.started_at ? order.ended_at - order.started_at : 0);
  std::uint64_t left = order.deposit;
  auto offers = payees(s, order);
  if (!offers) return std::unexpected(offers.error());
  order.payments.clear();
  for (const Offer& offer : *offers) {
    const std::uint64_t amount = settlement_amount(offer.price, done, seconds, left);
    left -= amount;
    if (auto ok = credit(s, offer.owner, amount); !ok) return ok;
    order.payments.push_back(Payment{offer.id, offer.owner, offer.price, amount});
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

// --- a service order's money, paid while it runs (docs/ledger.md, "Paying for a service") ---

// A service order's payments, one per payee in payees() order with nothing
// paid yet; made once, when money first moves.
RuleResult open_payments(const State& s, Order& order) {
  if (!order.payments.empty()) return {};
  auto offers = payees(s, order);
  if (!offers) return std::unexpected(offers.error());
  for (const Offer& offer : *offers) order.payments.push_back(Payment{offer.id, offer.owner, offer.price, 0});
  return {};
}

// What is left of a service order's deposit: revenue_share payees are paid
// from subscriptions, everyone else from the deposit.
std::uint64_t deposit_left(const Order& order) {
  std::uint64_t paid = 0;
  for (const Payment& p : order.payments) {
    if (p.price.model != PriceModel::RevenueShare) paid += p.amount;
  }
  return order.deposit - paid;
}

RuleResult pay(State& s, Payment& payment, std::uint64_t amount) {
  if (auto ok = out_of_escrow(s, payment.to, amount); !ok) return ok;
  payment.amount += amount;
  return {};
}

// At a service's first start: each fixed offer, as far as the deposit goes.
RuleResult pay_fixed(State& s, Order& order) {
  for (Payment& p : order.payments) {
    if (p.price.model != PriceModel::Fixed) continue;
    if (auto ok = pay(s, p, settlement_amount(p.price, true, 0, deposit_left(order))); !ok) return ok;
  }
  return {};
}

// Each per_hour offer what it is owed for the order's time from orders.start
// to `now`, less what it was paid, as far as the deposit goes. False when the
// deposit could not pay all that is owed.
std::expected<bool, Rejection> pay_per_hour(State& s, Order& order, std::uint64_t now) {
  const std::uint64_t seconds = now >= order.started_at ? now - order.started_at : 0;
  bool covered = true;
  for (Payment& p : order.payments) {
    if (p.price.model != PriceModel::PerHour) continue;
    const std::uint64_t owed = settlement_amount(p.price, true, seconds, kMaxAmount) - p.amount;
    const std::uint64_t amount = std::min(owed, deposit_left(order));
    covered = covered && amount == owed;
    if (auto ok = pay(s, p, amount); !ok) return std::unexpected(ok.error());
  }
  return covered;
}

// `amount` newly charged to the order's subscribers: each revenue_share offer
// is paid up to floor(revenue * bps / 10000) in all, revenue being everything
// charged to them so far, and the creator the rest. Cumulative over the order,
// so rounding never drifts; an offer whose share rounds up just as another's
// does waits for the next charge rather than take from the creator what the
// creator was already paid.
RuleResult share_revenue(State& s, Order& order, std::uint64_t amount) {
  __extension__ using u128 = unsigned __int128;
  std::uint64_t& revenue = order.serve->revenue;
  if (amount > kMaxAmount - revenue) {
    return reject(reason::kOverflow, "order " + std::to_string(order.id) + "'s revenue would exceed 2^63-1");
  }
  revenue += amount;
  std::uint64_t left = amount;
  for (Payment& p : order.payments) {
    if (p.price.model != PriceModel::RevenueShare) continue;
    const auto due = static_cast<std::uint64_t>(u128{revenue} * p.price.bps / kMaxBps) - p.amount;
    const std::uint64_t paid = std::min(due, left);
    if (auto ok = pay(s, p, paid); !ok) return ok;
    left -= paid;
  }
  return out_of_escrow(s, order.creator, left);
}

// When a service order ends: every subscription is closed and what it was
// not charged goes back to its subscriber.
RuleResult close_subscriptions(State& s, const Order& order, std::uint64_t now) {
  for (Subscription sub : s.subscriptions(order.id)) {
    sub.refund = sub.deposit - sub.charged;
    sub.closed = true;
    sub.updated_at = now;
    if (auto ok = out_of_escrow(s, sub.account, sub.refund); !ok) return ok;
    s.put(sub);
  }
  return {};
}

// A service order's fixed offers were paid at its first start and its other
// payees as it ran: what is still owed per hour, then the rest of the deposit
// back to the creator, and every subscription closed.
RuleResult settle_service(State& s, Order& order) {
  if (auto ok = open_payments(s, order); !ok) return ok;
  if (auto paid = pay_per_hour(s, order, order.ended_at); !paid) return std::unexpected(paid.error());
  order.refund = deposit_left(order);
  if (auto ok = out_of_escrow(s, order.creator, order.refund); !ok) return ok;
  if (auto ok = close_subscriptions(s, order, order.ended_at); !ok) return ok;
  s.put(order);
  return {};
}

// Order `id` as its CVM (the sender) may act on it while it serves: a
// service order, Processing.
std::expected<Order, Rejection> processing_service_for_cvm(State& s, const Record& r, std::uint64_t id) {
  auto order = order_for_cvm(s, r, id);
  if (!order) return order;
  if (!order->serve)
    return reject(reason::kBadState, "order " + std::to_string(id) + " is not a service order");
  if (order->status != OrderStatus::Processing) {
    return reject(reason::kBadState,
                  "order is " + std::string(to_string(order->status)) + ", not processing");
  }
  return order;
}

RuleResult settle(State& s, Order& order) {
  if (order.serve) return settle_service(s, order);
  return settle_batch(s, order);
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
  s.put(Offer{r.index, r.stx.tx.sender, a.kind, a.name, a.resource, a.price, true, a.timeout});
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
  s.put(Cvm{id, a.key, a.recipient, a.certificate, a.offer, r.stx.tx.sender, r.time, r.time, a.resources});
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

namespace {

// cvms.update's checks (docs/ledger.md, "Renewing a CVM's certificate"), in
// order: the new certificate is for the CVM's keys, and lasts longer than
// the one it replaces.
RuleResult check_certificate_key(const Cvm& cvm, const CvmCertificateClaims& c) {
  if (c.key == cvm.key) return {};
  return reject(reason::kCertificateMismatch, "the certificate certifies key " + short_id(c.key) +
                                                  ", not the CVM's key " + short_id(cvm.key));
}

RuleResult check_certificate_recipient(const Cvm& cvm, const CvmCertificateClaims& c) {
  if (c.recipient == cvm.recipient) return {};
  return reject(reason::kCertificateMismatch,
                "the certificate names another age recipient than the CVM's " + cvm.recipient);
}

// A recorded certificate that does not parse (cvms.register stores what the
// provider sent, unread) has no expiry to keep: any new one is later.
RuleResult check_certificate_later(const Cvm& cvm, const CvmCertificateClaims& c) {
  const auto current = read_cvm_certificate_claims(cvm.certificate);
  if (!current || c.not_after > current->not_after) return {};
  return reject(reason::kBadState, "the certificate expires at " + format_rfc3339(c.not_after) +
                                       ", not after the current one (" + format_rfc3339(current->not_after) +
                                       ")");
}

}  // namespace

RuleResult apply_cvms_update(State& s, const Record& r, const args::CvmsUpdate& a) {
  auto cvm = s.cvm(cvm_id_of(r.stx.tx.sender));
  if (!cvm)
    return reject(reason::kNotAllowed, "only a listed CVM renews its certificate, sending with its key");
  for (const RuleResult& check :
       {check_certificate_key(*cvm, a.claims), check_certificate_recipient(*cvm, a.claims),
        check_certificate_later(*cvm, a.claims)}) {
    if (!check) return check;
  }
  cvm->certificate = a.certificate;
  s.put(*cvm);
  return {};
}

namespace {

// A service's subscribers pay its revenue_share offers from what they are
// charged, so those shares add up to at most all of it.
RuleResult check_revenue_shares(const State& s, const std::vector<std::uint64_t>& offers) {
  std::uint64_t bps = 0;
  for (const std::uint64_t id : offers) {
    const auto offer = s.offer(id);
    if (offer && offer->price.model == PriceModel::RevenueShare) bps += offer->price.bps;
  }
  if (bps <= kMaxBps) return {};
  return reject(reason::kNotAllowed, "the order's revenue_share offers add up to " + std::to_string(bps) +
                                         " bps, more than " + std::to_string(kMaxBps));
}

}  // namespace

RuleResult apply_orders_create(State& s, const Record& r, const args::OrdersCreate& a) {
  if (a.offer) {
    const auto tee = s.offer(*a.offer);
    if (!tee) return reject(reason::kNotFound, "no offer " + std::to_string(*a.offer));
    if (tee->kind != OfferKind::Tee)
      return reject(reason::kNotAllowed, "offer " + std::to_string(*a.offer) + " is not a tee offer");
    if (!tee->enabled)
      return reject(reason::kBadState, "tee offer " + std::to_string(*a.offer) + " is disabled");
  } else {
    const auto cvm = s.cvm(a.cvm);
    if (!cvm) return reject(reason::kNotFound, "no CVM " + short_id(a.cvm));
    const auto tee = s.offer(cvm->offer);
    if (!tee || !tee->enabled) return reject(reason::kBadState, "the CVM's tee offer is disabled");
  }
  for (const CvmId& worker : a.workers) {
    if (!s.cvm(worker))
      return reject(reason::kNotFound, "no CVM " + short_id(worker) + " (listed as a worker)");
  }
  for (const std::uint64_t id : a.offers) {
    const auto offer = s.offer(id);
    if (!offer) return reject(reason::kNotFound, "no offer " + std::to_string(id));
    if (offer->kind == OfferKind::Tee) {
      return reject(reason::kNotAllowed,
                    "offer " + std::to_string(id) + " is a tee offer; the CVM's is paid");
    }
    if (!offer->enabled) return reject(reason::kBadState, "offer " + std::to_string(id) + " is disabled");
  }
  if (a.serve) {
    if (auto ok = check_revenue_shares(s, a.offers); !ok) return ok;
  }
  if (auto ok = into_escrow(s, r.stx.tx.sender, a.deposit); !ok) return ok;
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
  order.tee_offer = a.offer.value_or(0);
  order.needs = a.needs;
  if (a.serve) {
    order.serve.emplace();
    order.serve->rule = *a.serve;
    for (const CvmId& worker : a.workers) order.serve->workers.push_back(Worker{worker, {}, std::nullopt});
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

RuleResult apply_orders_take(State& s, const Record& r, const args::OrdersTake& a) {
  auto order = s.order(a.order);
  if (!order) return reject(reason::kNotFound, "no order " + std::to_string(a.order));
  const CvmId id = cvm_id_of(r.stx.tx.sender);
  const auto cvm = s.cvm(id);
  if (!cvm) return reject(reason::kNotAllowed, "only a CVM takes orders");
  if (order->tee_offer == 0)
    return reject(reason::kNotAllowed,
                  "order " + std::to_string(a.order) + " names its CVM; it is not to take");
  if (cvm->offer != order->tee_offer) {
    return reject(reason::kNotAllowed, "order " + std::to_string(a.order) + " is for tee offer " +
                                           std::to_string(order->tee_offer) + ", not this CVM's offer " +
                                           std::to_string(cvm->offer));
  }
  if (order->needs && !(cvm->resources && cvm->resources->fits(*order->needs))) {
    const Resources have = cvm->resources.value_or(Resources{});
    return reject(
        reason::kNotAllowed,
        "order " + std::to_string(a.order) + " needs " + std::to_string(order->needs->cores) + " cores, " +
            std::to_string(order->needs->memory_mib) + " MiB and " + std::to_string(order->needs->gpus) +
            " GPUs; CVM " + short_id(id) +
            (cvm->resources ? " declares " + std::to_string(have.cores) + ", " +
                                  std::to_string(have.memory_mib) + " and " + std::to_string(have.gpus)
                            : " declares none"));
  }
  if (order->status != OrderStatus::New)
    return reject(reason::kBadState, "order is " + std::string(to_string(order->status)) + ", not new");
  if (order->cvm != CvmId{})
    return reject(reason::kBadState,
                  "order " + std::to_string(a.order) + " was taken by CVM " + short_id(order->cvm));
  order->cvm = id;
  s.put(*order);
  return {};
}

RuleResult apply_orders_reassign(State& s, const Record& r, const args::OrdersReassign& a) {
  auto order = s.order(a.order);
  if (!order) return reject(reason::kNotFound, "no order " + std::to_string(a.order));
  if (order->tee_offer == 0) {
    return reject(reason::kNotAllowed,
                  "order " + std::to_string(a.order) +
                      " names its CVM (its grants are for it alone); only orders placed on "
                      "an offer move");
  }
  const bool taken = order->cvm != CvmId{};
  if (!taken || (order->status != OrderStatus::New && order->status != OrderStatus::Processing)) {
    return reject(reason::kBadState, "order " + std::to_string(a.order) + " is " +
                                         std::string(to_string(order->status)) +
                                         (taken ? "" : " and on no CVM") + ": there is nothing to reassign");
  }
  const auto cvm = s.cvm(order->cvm);
  const auto tee = s.offer(order->tee_offer);
  if (!cvm || !tee) return reject(reason::kNotFound, "the order's CVM or tee offer is gone");
  const std::uint64_t timeout = tee->timeout != 0 ? tee->timeout : kDefaultCvmTimeout;
  const std::uint64_t silent = r.time > cvm->heartbeat_at ? r.time - cvm->heartbeat_at : 0;
  if (silent <= timeout) {
    return reject(reason::kBadState, "CVM " + short_id(cvm->id) + " sent a heartbeat " +
                                         std::to_string(silent) + " s ago, within its offer's timeout of " +
                                         std::to_string(timeout) + " s");
  }
  // Billing stops at the failed CVM's last heartbeat.
  if (order->status == OrderStatus::Processing && cvm->heartbeat_at > order->started_at) {
    const std::uint64_t ran = cvm->heartbeat_at - order->started_at;
    if (ran > kMaxAmount - order->billed)
      return reject(reason::kOverflow, "the order's billed time overflows");
    order->billed += ran;
  }
  order->status = OrderStatus::New;
  order->cvm = CvmId{};
  order->started_at = 0;
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
  // Moved off a CVM that failed: that CVM's time is paid, the rest refunded.
  if (order->billed > 0) return settle(s, *order);
  order->refund = order->deposit;
  if (auto ok = out_of_escrow(s, order->creator, order->deposit); !ok) return ok;
  if (order->serve) {
    if (auto ok = close_subscriptions(s, *order, r.time); !ok) return ok;
  }
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
  auto order = processing_service_for_cvm(s, r, a.order);
  if (!order) return std::unexpected(order.error());
  const std::string id = std::to_string(a.order);
  // A second start is the CVM's loader starting again (it restarted): the
  // new key replaces the old one, so clients stop trusting the old one.
  Order unstarted = *order;
  unstarted.serve->tls_key_sha256.reset();
  if (auto ok = check_report(s, r, unstarted, a.claims); !ok) return ok;
  if (order->serve->tls_key_sha256 == a.claims.service->tls_key_sha256)
    return reject(reason::kAlreadyExists, "order " + id + "'s service already started with this TLS key");
  // Its first start (no start report yet) pays the fixed offers; a restart
  // pays nothing.
  if (!s.start_report(a.order)) {
    if (auto ok = open_payments(s, *order); !ok) return ok;
    if (auto ok = pay_fixed(s, *order); !ok) return ok;
  }
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

RuleResult apply_services_subscribe(State& s, const Record& r, const args::ServicesSubscribe& a) {
  const auto order = s.order(a.order);
  const std::string id = std::to_string(a.order);
  if (!order) return reject(reason::kNotFound, "no order " + id);
  if (!order->serve) return reject(reason::kBadState, "order " + id + " is not a service order");
  if (order->serve->rule.access != ServiceAccess::Subscribers) {
    return reject(reason::kNotAllowed, "order " + id + "'s service is not for subscribers (its access is " +
                                           std::string(to_string(order->serve->rule.access)) + ")");
  }
  if (order->status != OrderStatus::New && order->status != OrderStatus::Processing) {
    return reject(reason::kBadState,
                  "order " + id + " is " + std::string(to_string(order->status)) + ", not new or processing");
  }
  if (order->serve->cancel_requested) {
    return reject(reason::kBadState, "order " + id + " was asked to stop; it takes no new subscriptions");
  }
  const AccountId& client = r.stx.tx.sender;
  if (auto ok = into_escrow(s, client, a.deposit); !ok) return ok;
  Subscription sub = s.subscription(a.order, client).value_or(Subscription{a.order, client});
  if (sub.deposit == 0) sub.created_at = r.time;
  if (a.deposit > kMaxAmount - sub.deposit) {
    return reject(reason::kOverflow, "the subscription's deposit would exceed 2^63-1");
  }
  sub.deposit += a.deposit;
  sub.updated_at = r.time;
  s.put(sub);
  return {};
}

std::uint64_t usage_charge(const UsagePrice& price, std::uint64_t requests, std::uint64_t tokens,
                           std::uint64_t deposit) {
  __extension__ using u128 = unsigned __int128;
  // Each product is below 2^126, so the sum is exact.
  const u128 cost = u128{requests} * price.per_request + (u128{tokens} * price.per_1k_tokens + 999) / 1000;
  return cost < deposit ? static_cast<std::uint64_t>(cost) : deposit;
}

namespace {

// A usage counter may only grow: the CVM reports totals since the
// subscription began.
RuleResult check_counter(const AccountId& account, const char* name, std::uint64_t reported,
                         std::uint64_t recorded) {
  if (reported >= recorded) return {};
  return reject(reason::kUsageRegressed, "account " + short_id(account) + ": " + name + " " +
                                             std::to_string(reported) + " is below the recorded " +
                                             std::to_string(recorded) + " (usage counts are cumulative)");
}

// Records one subscriber's usage and charges its subscription what the new
// counters cost beyond what it was charged, at most its deposit.
RuleResult charge_usage(State& s, const Record& r, Order& order, const args::Usage& u) {
  auto sub = s.subscription(order.id, u.account);
  if (!sub) {
    return reject(reason::kNotFound, "account " + short_id(u.account) + " has no subscription to order " +
                                         std::to_string(order.id));
  }
  if (auto ok = check_counter(u.account, "requests", u.requests, sub->requests); !ok) return ok;
  if (auto ok = check_counter(u.account, "tokens", u.tokens, sub->tokens); !ok) return ok;
  if (auto ok = check_counter(u.account, "bytes", u.bytes, sub->bytes); !ok) return ok;
  // The counters never go back and the deposit only grows, so this is never
  // below what was charged before.
  const std::uint64_t charged = usage_charge(order.serve->rule.price, u.requests, u.tokens, sub->deposit);
  const std::uint64_t delta = charged - sub->charged;
  sub->charged = charged;
  sub->requests = u.requests;
  sub->tokens = u.tokens;
  sub->bytes = u.bytes;
  sub->updated_at = r.time;
  s.put(*sub);
  return share_revenue(s, order, delta);
}

}  // namespace

RuleResult apply_services_usage(State& s, const Record& r, const args::ServicesUsage& a) {
  auto order = processing_service_for_cvm(s, r, a.order);
  if (!order) return std::unexpected(order.error());
  const std::string id = std::to_string(a.order);
  if (!order->serve->started()) {
    return reject(reason::kBadState,
                  "order " + id + "'s service has not started (services.start comes first)");
  }
  // Any running service sends it (with no entries, it charges the per-hour
  // offers); only a service for subscribers has usage to charge.
  if (!a.usage.empty() && order->serve->rule.access != ServiceAccess::Subscribers)
    return reject(reason::kBadState, "order " + id + "'s service is not for subscribers");
  for (const args::Usage& u : a.usage) {
    if (auto ok = charge_usage(s, r, *order, u); !ok) return ok;
  }
  auto covered = pay_per_hour(s, *order, r.time);
  if (!covered) return std::unexpected(covered.error());
  // The deposit is spent: the service must end, as if its creator canceled it.
  if (!*covered && !order->serve->exhausted_at) {
    order->serve->exhausted_at = r.time;
    if (!order->serve->cancel_requested) order->serve->cancel_requested = r.time;
  }
  s.put(*order);
  return {};
}

RuleResult apply_services_join(State& s, const Record& r, const args::ServicesJoin& a) {
  auto order = s.order(a.order);
  const std::string id = std::to_string(a.order);
  if (!order) return reject(reason::kNotFound, "no order " + id);
  if (!order->serve) return reject(reason::kBadState, "order " + id + " is not a service order");
  const CvmId sender = cvm_id_of(r.stx.tx.sender);
  if (!s.cvm(sender))
    return reject(reason::kNotAllowed, "only a listed CVM joins a service, sending with its key");
  auto& workers = order->serve->workers;
  const auto worker =
      std::find_if(workers.begin(), workers.end(), [&](const Worker& w) { return w.cvm == sender; });
  if (worker == workers.end()) {
    return reject(reason::kNotAllowed, "CVM " + short_id(sender) + " is not a worker of order " + id);
  }
  if (order->status != OrderStatus::Processing) {
    return reject(reason::kBadState,
                  "order is " + std::string(to_string(order->status)) + ", not processing");
  }
  // A worker that restarted joins again, at its new endpoint.
  worker->endpoint = a.endpoint;
  worker->joined_at = r.time;
  s.put(*order);
  return {};
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
          } else if constexpr (std::is_same_v<A, args::CvmsUpdate>) {
            return apply_cvms_update(overlay, record, a);
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
          } else if constexpr (std::is_same_v<A, args::ServicesSubscribe>) {
            return apply_services_subscribe(overlay, record, a);
          } else if constexpr (std::is_same_v<A, args::ServicesUsage>) {
            return apply_services_usage(overlay, record, a);
          } else if constexpr (std::is_same_v<A, args::OrdersTake>) {
            return apply_orders_take(overlay, record, a);
          } else if constexpr (std::is_same_v<A, args::OrdersReassign>) {
            return apply_orders_reassign(overlay, record, a);
          } else if constexpr (std::is_same_v<A, args::ServicesJoin>) {
            return apply_services_join(overlay, record, a);
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
