#include "ledger/evm/client.h"

#include <algorithm>
#include <cstdlib>
#include <utility>

#include "crypto/hash.h"
#include "evm/abi.h"
#include "evm/rpc.h"
#include "evm/sender.h"
#include "evm/trie.h"
#include "evm/u256.h"
#include "ledger/evm/bundle.h"
#include "ledger/evm/calls.h"
#include "ledger/evm/reader.h"

namespace ward::ledger::evm {
namespace {

using json = nlohmann::json;
namespace chain = ward::evm;

std::unexpected<Error> no_log(std::string_view what) {
  return fail("ledger.evm", "an EVM ledger has no Merkle log, so no " + std::string(what) +
                                ": its blocks and receipts are its log (see docs/evm.md)");
}

// What a provider gives each CVM it lists, in wei, so that the CVM can pay
// for its own transactions (WARD_EVM_CVM_GAS, default 0.1 of the chain's
// coin: about 200 calls at 2 gwei).
chain::U256 cvm_gas() {
  constexpr std::uint64_t kDefault = 100'000'000'000'000'000;  // 10^17 wei
  const char* env = std::getenv("WARD_EVM_CVM_GAS");
  if (!env || !*env) return chain::U256(kDefault);
  auto v = chain::U256::from_decimal(env);
  return v ? *v : chain::U256(kDefault);
}

// Blocks on top of a transaction's own before it counts (WARD_EVM_CONFIRMATIONS,
// default 1: anvil and chains with instant finality).
std::uint64_t confirmations() {
  const char* env = std::getenv("WARD_EVM_CONFIRMATIONS");
  if (!env || !*env) return 1;
  char* end = nullptr;
  const unsigned long long n = std::strtoull(env, &end, 10);
  return (*end == '\0' && n >= 1 && n <= 1000) ? n : 1;
}

Result<CvmIdentity> read_cvm_identity(const json& field) {
  if (!field.is_object() || field.size() != 2 || !field.contains("address") || !field.contains("binding") ||
      !field["address"].is_string() || !field["binding"].is_string()) {
    return fail("ledger.evm",
                "args.evm of cvms.register must be {\"address\": \"0x...\", \"binding\": \"<hex>\"}");
  }
  auto address = chain::Address::parse(field["address"].get<std::string>());
  if (!address) return fail(address.error(), "args.evm.address");
  auto binding = hex_decode(field["binding"].get<std::string>());
  if (!binding || binding->size() != 64) return fail("ledger.evm", "args.evm.binding is not 64 bytes of hex");
  CvmIdentity id;
  id.address = *address;
  std::copy(binding->begin(), binding->end(), id.binding.begin());
  return id;
}

const args::ReportClaims* report_claims(const Action& action) {
  if (const auto* r = std::get_if<args::ReportsSubmit>(&action)) return &r->claims;
  if (const auto* s = std::get_if<args::ServicesStart>(&action)) return &s->claims;
  return nullptr;
}

// Whether contract.cpp refuses with `r` only after it has checked the
// report's signature, so that with a bad signature the SQLite ledger says
// bad_signature: services.start's "already started with this TLS key", and
// an overflow while settling or paying.
bool refused_after_signature(const Action& action, const Rejection& r) {
  if (r.reason == reason::kOverflow) return true;
  return std::holds_alternative<args::ServicesStart>(action) && r.reason == reason::kAlreadyExists;
}

class EvmClient final : public LedgerClient {
 public:
  EvmClient(std::string target, std::unique_ptr<chain::RpcClient> rpc, Deployment deployment, LedgerInfo info)
      : target_(std::move(target)),
        rpc_(std::move(rpc)),
        deployment_(deployment),
        info_(info),
        reader_(*rpc_, deployment.contract) {}

  std::string target() const override { return target_; }

  Result<LedgerSummary> summary() override {
    auto totals = reader_.totals();
    if (!totals) return std::unexpected(totals.error());
    LedgerSummary s;
    s.info = info_;
    s.origin = "evm/" + std::to_string(deployment_.chain_id) + "/" + deployment_.contract.to_checksum();
    s.size = totals->records;
    return s;
  }

  Result<Receipt> submit(std::string_view) override {
    return fail(
        "ledger.evm",
        "an EVM ledger takes calls signed with the sender's Ethereum key, not signed envelopes: send the "
        "transaction with the ward verb that makes it (it signs with the key file's EVM key)");
  }

  Result<Receipt> submit_as(const keys::PartyKey& key, std::string_view type, json args) override {
    std::optional<CvmIdentity> cvm;
    if (type == "cvms.register" && args.is_object() && args.contains(kCvmIdentityField)) {
      auto identity = read_cvm_identity(args[std::string(kCvmIdentityField)]);
      if (!identity) return std::unexpected(identity.error());
      cvm = *identity;
      args.erase(std::string(kCvmIdentityField));
    }
    // The Ward parser reads the transaction as the SQLite ledger would, so a
    // malformed one is refused the same way, before anything is sent.
    const json tx = {{"v", 1},
                     {"ledger", hex_encode(info_.id)},
                     {"sender", hex_encode(key.signing_public_key())},
                     {"nonce", 1},
                     {"type", type},
                     {"args", std::move(args)}};
    const auto sig = key.signing_key().sign(as_bytes(canonical_bytes(tx)));
    const json envelope = {{"sig", base64_encode(sig)}, {"tx", tx}};
    auto parsed = parse_envelope(envelope.dump());
    if (!parsed) return Receipt{std::move(parsed.error()), 0, {}, {}};

    auto evm_key = key.evm_key();
    if (!evm_key) return std::unexpected(evm_key.error());
    auto data = encode_call(parsed->tx, key.signing_key(), evm_key->address(), cvm);
    if (!data) return std::unexpected(data.error());

    if (const auto* claims = report_claims(parsed->tx.action)) {
      // The contract checks a report's claims but cannot check its Ed25519
      // signature: the client does, in contract.cpp's order (the claims
      // first, then the signature, then what comes after it).
      auto dry = rpc_->call(evm_key->address(), deployment_.contract, *data);
      if (!dry) return std::unexpected(dry.error());
      std::string signed_bytes(kReportDomain);
      signed_bytes += claims->body;
      const bool signed_ok =
          crypto::ed25519_verify(key.signing_public_key(), as_bytes(signed_bytes), claims->sig);
      const Rejection bad_signature{reason::kBadSignature,
                                    "the report's signature does not verify under the CVM's key"};
      if (dry->reverted) {
        Rejection refused = rejection_from_revert(dry->data);
        if (!signed_ok && refused_after_signature(parsed->tx.action, refused)) refused = bad_signature;
        return Receipt{std::move(refused), 0, {}, {}};
      }
      if (!signed_ok) return Receipt{bad_signature, 0, {}, {}};
    }

    chain::SendOptions options;
    options.chain_id = deployment_.chain_id;
    options.confirmations = confirmations();
    if (cvm) {
      // The provider pays its CVM's gas: the CVM's address gets it before
      // the listing, so a failure here lists nothing and can be retried.
      if (auto paid = give_gas(*evm_key, cvm->address, options); !paid) return std::unexpected(paid.error());
    }
    auto sent = chain::send_call(*rpc_, *evm_key, deployment_.contract, *data, options);
    if (!sent) return std::unexpected(sent.error());
    if (sent->reverted) return Receipt{rejection_from_revert(sent->revert_data), 0, {}, {}};
    auto index = record_index(sent->receipt->receipt.logs, deployment_.contract);
    if (!index) {
      return fail("ledger.evm", "the receipt of transaction " +
                                    chain::data_text(sent->receipt->transaction_hash) +
                                    " holds no WardLedger event");
    }
    Receipt receipt;
    receipt.index = *index;
    receipt.leaf = sent->receipt->transaction_hash;
    return receipt;
  }

  // Brings `to`'s balance up to cvm_gas() when it holds less than half of it.
  Result<void> give_gas(const chain::PrivateKey& payer, const chain::Address& to,
                        chain::SendOptions options) {
    const chain::U256 target = cvm_gas();
    auto balance = rpc_->balance(to);
    if (!balance) return std::unexpected(balance.error());
    auto have = balance->to_uint64();
    auto want = target.to_uint64();
    // A balance past 2^64 wei (18 of the coin) is plenty.
    if (!want || !have || *have >= *want / 2) return {};
    options.value = chain::U256(*want - *have);
    auto sent = chain::send_call(*rpc_, payer, to, {}, options);
    if (!sent) return fail(sent.error(), "sending the CVM at " + to.to_checksum() + " its gas");
    if (sent->reverted)
      return fail("ledger.evm", "sending the CVM at " + to.to_checksum() + " its gas reverted");
    return {};
  }

  std::optional<Result<std::string>> prove_report(std::uint64_t order, const Report& report,
                                                  const CvmId& cvm) override {
    return prove_on_chain(order, report, cvm);
  }
  std::optional<Result<nlohmann::json>> report_bundle(std::uint64_t order) override {
    return make_bundle(order);
  }

  Result<std::optional<Account>> account(const AccountId& id) override { return reader_.account(id); }
  Result<std::vector<Offer>> offers() override { return reader_.offers(); }
  Result<std::optional<Offer>> offer(std::uint64_t id) override { return reader_.offer(id); }
  Result<std::vector<Order>> orders(const OrderFilter& filter) override { return reader_.orders(filter); }
  Result<std::optional<Order>> order(std::uint64_t id) override { return reader_.order(id); }
  Result<std::vector<Cvm>> cvms() override { return reader_.cvms(); }
  Result<std::optional<Cvm>> cvm(const CvmId& id) override { return reader_.cvm(id); }
  Result<std::optional<Report>> report(std::uint64_t order) override { return reader_.report(order); }
  Result<std::optional<Report>> start_report(std::uint64_t order) override {
    return reader_.start_report(order);
  }
  Result<std::vector<Subscription>> subscriptions(std::uint64_t order) override {
    return reader_.subscriptions(order);
  }
  Result<std::optional<Subscription>> subscription(std::uint64_t order, const AccountId& account) override {
    return reader_.subscription(order, account);
  }
  Result<std::optional<Grant>> grant(const GrantId& id, const AccountId& owner) override {
    return reader_.grant(id, owner);
  }

  Result<std::optional<RecordProof>> record(std::uint64_t, std::optional<std::uint64_t>) override {
    return no_log("record proofs");
  }
  Result<std::string> checkpoint() override { return no_log("checkpoints"); }
  Result<std::vector<Hash>> consistency_proof(std::uint64_t, std::uint64_t) override {
    return no_log("consistency proofs");
  }
  Result<FeedPage> records_after(std::uint64_t, std::chrono::seconds) override {
    return no_log("record feed");
  }

 private:
  // The logs of `signature` from the contract whose topic 1 is `key`, in
  // chain order (none a reorg removed).
  Result<std::vector<chain::MinedLog>> logs_of(std::string_view signature, const Hash& key) {
    auto topic = chain::abi::event_topic(signature);
    if (!topic) return std::unexpected(topic.error());
    chain::LogFilter filter;
    filter.address = deployment_.contract;
    filter.topics = {{*topic}, {key}};
    auto logs = rpc_->logs(filter);
    if (!logs) return std::unexpected(logs.error());
    std::erase_if(*logs, [](const chain::MinedLog& l) { return l.removed; });
    return logs;
  }

  // The one such log.
  Result<chain::MinedLog> one_log(std::string_view signature, const Hash& key, std::string_view what) {
    auto logs = logs_of(signature, key);
    if (!logs) return std::unexpected(logs.error());
    if (logs->size() != 1) {
      return fail("ledger.proof", "the chain holds " + std::to_string(logs->size()) + " " +
                                      std::string(what) + " events, not one");
    }
    return std::move(logs->front());
  }

  // The order's events, one each (a service's latest start).
  Result<BundleEvents> bundle_events(std::uint64_t order) {
    const Hash order_topic = chain::U256(order).big_endian();
    auto created = one_log("OrderCreated(uint64,bytes32,bytes32,bytes)", order_topic, "OrderCreated");
    if (!created) return std::unexpected(created.error());
    if (created->log.topics.size() != 4)
      return fail("ledger.proof", "OrderCreated does not name the order's CVM");
    auto submitted = one_log("ReportSubmitted(uint64,bytes32,uint64,bytes)", order_topic, "ReportSubmitted");
    if (!submitted) return std::unexpected(submitted.error());
    // An order placed on a tee offer names no CVM when created: its CVM is
    // the one whose take came last before the report.
    std::optional<chain::MinedLog> taken;
    Hash cvm = created->log.topics[3];
    if (cvm == Hash{}) {
      auto takes = logs_of("OrderTaken(uint64,bytes32,uint64)", order_topic);
      if (!takes) return std::unexpected(takes.error());
      std::erase_if(*takes, [&](const chain::MinedLog& l) {
        return l.block_number > submitted->block_number ||
               (l.block_number == submitted->block_number && l.log_index > submitted->log_index);
      });
      if (takes->empty() || takes->back().log.topics.size() != 3)
        return fail("ledger.proof", "no CVM took the order before its report");
      taken = std::move(takes->back());
      cvm = taken->log.topics[2];
    }
    auto listed = one_log("CvmRegistered(bytes32,bytes32,address,uint64,uint64,string,bytes,bytes)", cvm,
                          "CvmRegistered");
    if (!listed) return std::unexpected(listed.error());
    auto starts = logs_of("ServiceStarted(uint64,bytes32,bytes32,uint64,string,bytes)", order_topic);
    if (!starts) return std::unexpected(starts.error());
    BundleEvents events{std::move(*listed), std::move(*created), std::nullopt, std::move(*submitted),
                        std::move(taken)};
    if (!starts->empty()) events.service_started = std::move(starts->back());
    return events;
  }

  Result<nlohmann::json> make_bundle(std::uint64_t order) {
    auto events = bundle_events(order);
    if (!events) return std::unexpected(events.error());
    return make_report_bundle(*rpc_, deployment_.chain_id, deployment_.contract, order, *events);
  }

  // The report's bundle, checked as an offline verifier checks it, and the
  // report's block deep enough. Each block in the bundle is the node's
  // canonical block at its number (make_report_bundle fetched it by number and
  // refused it unless it is the block the event was mined in).
  Result<std::string> prove_on_chain(std::uint64_t order, const Report& report, const CvmId& cvm_id) {
    auto bundle = make_bundle(order);
    if (!bundle) return std::unexpected(bundle.error());
    auto checked = check_report_bundle(*bundle);
    if (!checked) return fail("ledger.proof", checked.error().message);
    if (checked->order.cvm != cvm_id) return fail("ledger.proof", "the chain's order names another CVM");
    if (checked->report.report != report.report || checked->report.index != report.index) {
      return fail("ledger.proof", "the report's event holds other bytes than the stored report");
    }
    const ProvenBlock& at = checked->report_block();
    auto head = rpc_->block_number();
    if (!head) return std::unexpected(head.error());
    const std::uint64_t depth = *head + 1 - at.number;
    if (depth < confirmations()) {
      return fail("ledger.proof", "the report's block has " + std::to_string(depth) +
                                      " confirmation(s), not " + std::to_string(confirmations()));
    }
    return "sent from the CVM's bound address " + checked->cvm_address.to_checksum() + ", in block " +
           std::to_string(at.number) + " (" + chain::data_text(at.hash) +
           "; receipts and transactions roots rebuilt from its " + std::to_string(at.receipts) +
           " transactions), " + std::to_string(depth) + " confirmation(s)";
  }

  std::string target_;
  std::unique_ptr<chain::RpcClient> rpc_;
  Deployment deployment_;
  LedgerInfo info_;
  ContractReader reader_;
};

}  // namespace

Result<json> cvm_identity(const keys::PartyKey& cvm_key) {
  auto evm_key = cvm_key.evm_key();
  if (!evm_key) return std::unexpected(evm_key.error());
  const chain::Address address = evm_key->address();
  return json{{"address", address.to_checksum()},
              {"binding", hex_encode(sign_binding(cvm_key.signing_key(), address))}};
}

Result<EvmTarget> parse_target(std::string_view target) {
  const auto bad = [&] {
    return fail("ledger.client",
                "bad EVM ledger '" + std::string(target) + "' (expected evm+http://HOST:PORT#0xCONTRACT)");
  };
  if (!target.starts_with(kScheme)) return bad();
  const std::string_view rest = target.substr(kScheme.size());
  const std::size_t hash = rest.find('#');
  if (hash == std::string_view::npos || !rest.starts_with("http://")) return bad();
  auto contract = chain::Address::parse(rest.substr(hash + 1));
  if (!contract) return fail(contract.error(), "the contract in '" + std::string(target) + "'");
  return EvmTarget{std::string(rest.substr(0, hash)), *contract};
}

Result<std::unique_ptr<LedgerClient>> open_evm_client(std::string_view target) {
  auto where = parse_target(target);
  if (!where) return std::unexpected(where.error());
  auto rpc = chain::RpcClient::open(where->node_url);
  if (!rpc) return std::unexpected(rpc.error());
  ContractReader reader(**rpc, where->contract);
  auto info = reader.info();
  if (!info) return fail(info.error(), "opening the EVM ledger " + std::string(target));
  auto chain_id = (*rpc)->chain_id();
  if (!chain_id) return std::unexpected(chain_id.error());
  if (ledger_id_for(*chain_id, where->contract) != info->id) {
    return fail("evm.chain", "the node at " + where->node_url + " is on chain " + std::to_string(*chain_id) +
                                 ", but the ledger at " + where->contract.to_checksum() +
                                 " was deployed on another chain (its ledger id does not match)");
  }
  Deployment deployment{*chain_id, where->contract};
  return std::unique_ptr<LedgerClient>(
      std::make_unique<EvmClient>(std::string(target), std::move(*rpc), deployment, *info));
}

}  // namespace ward::ledger::evm
