// The contract: the ledger's rules as pure logic over a State
// (docs/ledger.md, "Contract rules"). Deterministic: the result depends only
// on the state and the record (its index and time), so replaying the log
// rebuilds the state exactly.
#pragma once

#include <expected>

#include "ledger/state.h"
#include "ledger/tx.h"

namespace ward::ledger {

// Applies one record whose signature has already been checked. On rejection
// `state` is unchanged.
std::expected<void, Rejection> apply(State& state, const Record& record);

// The rules, one per transaction type. Each is called by apply() after the
// ledger id and nonce checks, on an overlay it discards on rejection, so a rule
// may write before it fails.
using RuleResult = std::expected<void, Rejection>;
RuleResult apply_accounts_fund(State& s, const Record& r, const args::AccountsFund& a);
RuleResult apply_accounts_transfer(State& s, const Record& r, const args::AccountsTransfer& a);
RuleResult apply_offers_create(State& s, const Record& r, const args::OffersCreate& a);
RuleResult apply_offers_enable(State& s, const Record& r, const args::OffersEnable& a);
RuleResult apply_offers_disable(State& s, const Record& r, const args::OffersDisable& a);
RuleResult apply_cvms_register(State& s, const Record& r, const args::CvmsRegister& a);
RuleResult apply_cvms_heartbeat(State& s, const Record& r, const args::CvmsHeartbeat& a);
RuleResult apply_cvms_update(State& s, const Record& r, const args::CvmsUpdate& a);
RuleResult apply_orders_create(State& s, const Record& r, const args::OrdersCreate& a);
RuleResult apply_orders_start(State& s, const Record& r, const args::OrdersStart& a);
RuleResult apply_orders_cancel(State& s, const Record& r, const args::OrdersCancel& a);
RuleResult apply_orders_fail(State& s, const Record& r, const args::OrdersFail& a);
RuleResult apply_reports_submit(State& s, const Record& r, const args::ReportsSubmit& a);
RuleResult apply_services_start(State& s, const Record& r, const args::ServicesStart& a);
RuleResult apply_grants_use(State& s, const Record& r, const args::GrantsUse& a);
RuleResult apply_orders_take(State& s, const Record& r, const args::OrdersTake& a);
RuleResult apply_orders_reassign(State& s, const Record& r, const args::OrdersReassign& a);
RuleResult apply_grants_revoke(State& s, const Record& r, const args::GrantsRevoke& a);
RuleResult apply_services_subscribe(State& s, const Record& r, const args::ServicesSubscribe& a);
RuleResult apply_services_usage(State& s, const Record& r, const args::ServicesUsage& a);
RuleResult apply_services_join(State& s, const Record& r, const args::ServicesJoin& a);

// What settlement pays a payee: fixed pays its amount on Done only, per_hour
// ceil(amount * seconds / 3600), revenue_share nothing; never more than `left`.
std::uint64_t settlement_amount(const Price& price, bool done, std::uint64_t seconds, std::uint64_t left);

// What a subscription with these cumulative counters is charged in all:
// requests * per_request + ceil(tokens * per_1k_tokens / 1000), computed
// exactly, and never more than `deposit`.
std::uint64_t usage_charge(const UsagePrice& price, std::uint64_t requests, std::uint64_t tokens,
                           std::uint64_t deposit);

}  // namespace ward::ledger
