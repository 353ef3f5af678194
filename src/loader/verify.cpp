#include "loader/verify.h"

#include <algorithm>
#include <set>

#include "base/bytes.h"
#include "base/time.h"
#include "ca/certificate.h"
#include "evm/rpc.h"
#include "files/grant.h"
#include "ledger/evm/anchored.h"
#include "ledger/evm/bundle.h"
#include "serve/verify.h"
#include "store/store.h"

namespace ward::loader {
namespace {

using json = nlohmann::json;

std::string short_hex(const crypto::Sha256Digest& d) {
  return hex_encode(d).substr(0, 16);
}

bool same_input(const ReportInput& in, const files::Resource& r) {
  return in.resource == r.ciphertext_sha256 && in.plaintext_sha256 == r.plaintext_sha256 && in.owner == r.owner;
}

// Every input the order granted through a key broker was released by it, for
// this order, ledger and CVM, as its signed log says (kms/broker.h).
bool check_releases(attest::Checks& checks, const ledger::Order& order, const ledger::LedgerId& ledger_id,
                    const ledger::CvmId& cvm, const VerifyOptions& options) {
  std::size_t released = 0;
  for (std::size_t i = 0; i < order.inputs.size(); ++i) {
    const std::string& uri = order.inputs[i];
    auto text = store::fetch_bytes(uri, files::kMaxGrantSize);
    auto ref = store::parse_blob_uri(uri);
    if (!text || !ref || crypto::sha256(*text) != ref->sha256)
      return checks.pass_if("kms.release", false,
                            "grant " + uri + " cannot be read back: " + (text ? "it is not what its name says" : text.error().message));
    auto grant = files::parse_grant(as_chars(*text));
    if (!grant) return checks.pass_if("kms.release", false, "grant " + uri + ": " + grant.error().message);
    if (!grant->policy.broker) continue;
    const std::string& recipient = grant->policy.broker->recipient;
    // Replicas share the group key and keep logs of their own: any of them may hold the release.
    const auto binding = files::release_binding(grant->id, ledger_id, order.id, cvm);
    std::size_t logs = 0;
    bool found = false;
    for (const auto& log : options.brokers) {
      if (log.recipient != recipient) continue;
      ++logs;
      found = found || std::any_of(log.entries.begin(), log.entries.end(), [&](const kms::LogEntry& e) {
                return e.grant == grant->id && e.order == order.id && e.cvm == cvm && e.ledger == ledger_id &&
                       e.binding == binding;
              });
    }
    if (!checks.pass_if("kms.release", found,
                        logs == 0 ? "input " + std::to_string(i) + " is granted to key broker " + recipient +
                                        ", whose log was not given (--kms URL)"
                                  : "the " + std::to_string(logs) + " log(s) of its key broker hold no release of input " +
                                        std::to_string(i) + " (grant " + short_hex(grant->id) +
                                        ") for this order to CVM " + short_hex(cvm)))
      return false;
    ++released;
  }
  return checks.pass_if("kms.release", true,
                        std::to_string(released) + " input(s) released by a key broker for this order and CVM, "
                                                   "each in its signed log");
}

// "report.workers": a split order's report lists exactly the workers the
// order names (serve::check_reported_workers), at the time `at`.
bool check_workers(attest::Checks& checks, const ledger::Order& order, const Report& r,
                   const VerifyOptions& options, std::chrono::system_clock::time_point at) {
  std::vector<serve::ReportedWorker> reported;
  for (const auto& w : r.service->workers) reported.push_back({w.cvm, w.certificate});
  return serve::check_reported_workers(checks, "report.workers", "the report", order.serve->workers, reported,
                                       options.ca_certificate, options.policy, at);
}

// The checks after the report is known to be signed by a verified CVM.
void check_contents(OrderVerification& v, const ledger::Order& order, const ledger::LedgerId& ledger_id,
                    const ca::CvmIdentity& cvm, const VerifyOptions& options,
                    std::chrono::system_clock::time_point at) {
  attest::Checks& checks = v.checks;
  const Report& r = v.report->report;
  if (!checks.pass_if("report.order", r.order == order.id && r.ledger == ledger_id,
                      r.order == order.id && r.ledger == ledger_id
                          ? "order " + std::to_string(order.id) + " of ledger " + hex_encode(ledger_id).substr(0, 16)
                          : "the report is for order " + std::to_string(r.order) + " of ledger " +
                                hex_encode(r.ledger).substr(0, 16))) {
    return;
  }
  if (!checks.pass_if("report.cvm", r.cvm == cvm.id && r.cvm == order.cvm,
                      r.cvm == cvm.id && r.cvm == order.cvm
                          ? "CVM " + short_hex(r.cvm) + " holds the order and the certificate"
                          : "the report, its certificate and the order name different CVMs")) {
    return;
  }
  if (!checks.pass_if("report.engine", r.engine == order.engine,
                      r.engine == order.engine ? r.engine : "the report ran " + r.engine + ", the order names " +
                                                                order.engine)) {
    return;
  }
  // Every grant the order lists was used, and nothing else.
  std::multiset<std::string> ordered, used;
  for (const auto& uri : order.inputs) {
    auto ref = store::parse_blob_uri(uri);
    ordered.insert(ref ? hex_encode(ref->sha256) : uri);
  }
  used.insert(hex_encode(r.engine_resource.grant));
  for (const auto& in : r.inputs) used.insert(hex_encode(in.grant));
  if (!checks.pass_if("report.inputs", ordered == used,
                      ordered == used ? "the engine and " + std::to_string(r.inputs.size()) +
                                            " inputs, each under a grant the order lists"
                                      : "the report's grants are not the order's")) {
    return;
  }
  if (!options.brokers.empty() && !check_releases(checks, order, ledger_id, r.cvm, options)) return;
  // A service has no output: its report names the TLS key it served with,
  // which must be the one the ledger recorded from its start report.
  if (order.serve || r.service) {
    const bool same = order.serve && r.service && order.serve->tls_key_sha256 &&
                      *order.serve->tls_key_sha256 == r.service->tls_key_sha256;
    checks.pass_if("report.service", same,
                   same ? "served at " + r.service->endpoint + " with TLS key " +
                              short_hex(r.service->tls_key_sha256) + ", as the ledger recorded"
                   : !order.serve ? "the report has a service part, but the order is not a service"
                   : !r.service   ? "the order is a service, but its report has no service part"
                                  : "the report's TLS key is not the one the service started with");
    if (!same) return;
    if ((!order.serve->workers.empty() || !r.service->workers.empty()) &&
        !check_workers(checks, order, r, options, at))
      return;
  }
  std::vector<std::string> want = order.outputs, got = r.output.recipients;
  std::sort(want.begin(), want.end());
  std::sort(got.begin(), got.end());
  if (!checks.pass_if("report.outputs", want == got,
                      want == got ? "encrypted to " + std::to_string(got.size()) + " recipient(s) of the order"
                                  : "the output was encrypted to other recipients than the order's")) {
    return;
  }
  for (const auto& held : options.resources) {
    const auto& res = held.resource;
    const bool is_engine = same_input(r.engine_resource, res) && (!res.engine || *res.engine == r.engine);
    const bool is_input =
        std::any_of(r.inputs.begin(), r.inputs.end(), [&](const ReportInput& in) { return same_input(in, res); });
    if (!checks.pass_if("resource." + res.name, is_engine || is_input,
                        is_engine  ? "the engine, as in your descriptor"
                        : is_input ? "an input, as in your descriptor"
                                   : "your descriptor (" + short_hex(res.ciphertext_sha256) +
                                         ") is not what the order ran on")) {
      return;
    }
  }
  if (options.check_output && !r.service) {
    auto ref = store::parse_blob_uri(r.output.uri);
    Result<std::optional<std::uint64_t>> size = ref ? Result<std::optional<std::uint64_t>>(std::nullopt)
                                                    : std::unexpected(ref.error());
    if (ref) {
      auto store = store::open_store(ref->store_uri);
      size = store ? (*store)->head(ref->sha256) : std::unexpected(store.error());
    }
    const bool ok = ref && ref->sha256 == r.output.sha256 && size && *size && **size == r.output.size;
    if (!checks.pass_if("output.blob", ok,
                        ok     ? r.output.uri + " (" + std::to_string(r.output.size) + " bytes)"
                        : !size ? size.error().message
                                : "the store does not hold the output the report names")) {
      return;
    }
  }
}

// From the report's signature to its being the ledger's copy; false at the
// first failed check.
bool check_report(OrderVerification& v, const ledger::Order& order, const ledger::LedgerId& ledger_id,
                  const ledger::Report& stored, const VerifyOptions& options) {
  attest::Checks& checks = v.checks;
  json report_doc;
  if (options.report) {
    report_doc = *options.report;
  } else {
    auto doc = ledger::parse_strict_json(stored.report);
    if (!doc) {
      checks.fail("report.parse", doc.error().message);
      return false;
    }
    report_doc = std::move(*doc);
  }
  auto parsed = parse_report(report_doc);
  if (!checks.record("report.parse", parsed.has_value() ? Result<void>() : std::unexpected(parsed.error()))) {
    return false;
  }
  v.report = std::move(*parsed);

  auto cert = crypto::Certificate::from_pem(v.report->report.certificate);
  auto contents = cert ? ca::read_cvm_certificate(*cert) : std::unexpected(cert.error());
  if (!checks.record("report.certificate", contents ? Result<void>() : std::unexpected(contents.error()),
                     contents ? "CVM " + short_hex(contents->identity.id) : "")) {
    return false;
  }
  if (!checks.pass_if("report.signature",
                      report_signature_valid(*v.report, contents->identity.signing_key),
                      "signed by the certificate's key")) {
    return false;
  }
  // The certificate and its evidence, as they stood when the ledger accepted the report.
  const auto at = from_unix_seconds(stored.time);
  if (!at) {
    checks.fail("report.time", at.error().message);
    return false;
  }
  auto cvm = ca::verify_cvm_certificate(*cert, options.ca_certificate, options.policy, *at);
  v.simulated = cvm.appraisal.simulated;
  for (const auto& c : cvm.appraisal.checks.results()) {
    if (c.ok) {
      checks.pass(c.name, c.detail);
    } else {
      checks.fail(c.name, c.detail);
    }
  }
  v.evidence = cvm.appraisal;
  if (!cvm.accepted()) return false;

  check_contents(v, order, ledger_id, contents->identity, options, *at);
  if (!checks.ok()) return false;

  // The ledger: the report is the one the CVM submitted (its inclusion is
  // the caller's check).
  if (!checks.pass_if("ledger.report", ledger::canonical_json(report_doc) == stored.report,
                      "the report is the one on the ledger")) {
    return false;
  }
  return true;
}

}  // namespace

OrderVerification verify_order(ledger::LedgerClient& ledger, std::uint64_t order_id,
                               const VerifyOptions& options) {
  OrderVerification v;
  attest::Checks& checks = v.checks;
  auto summary = ledger.summary();
  if (!summary) {
    checks.fail("ledger.reach", summary.error().message);
    return v;
  }
  auto order = ledger.order(order_id);
  if (!order || !*order) {
    checks.fail("ledger.order", order ? "no order " + std::to_string(order_id) : order.error().message);
    return v;
  }
  if (!checks.pass_if("ledger.order", (*order)->status == ledger::OrderStatus::Done,
                      "order " + std::to_string(order_id) + " is " +
                          std::string(ledger::to_string((*order)->status)) +
                          ((*order)->error.empty() ? "" : ": " + (*order)->error))) {
    return v;
  }
  auto stored = ledger.report(order_id);
  if (!stored || !*stored) {
    checks.fail("ledger.report",
                stored ? "the ledger holds no report for the order" : stored.error().message);
    return v;
  }
  if (!check_report(v, **order, summary->info.id, **stored, options)) return v;
  if (auto on_chain = ledger.prove_report(order_id, **stored, (*order)->cvm)) {
    checks.record("ledger.inclusion",
                  *on_chain ? Result<void>() : Result<void>(std::unexpected(on_chain->error())),
                  *on_chain ? **on_chain : std::string());
    return v;
  }
  std::string vkey = options.ledger_key.empty() ? summary->verifier_key : options.ledger_key;
  auto verifier = ledger::parse_verifier_key(vkey);
  auto proof = ledger.record((*stored)->index, std::nullopt);
  Result<void> included;
  std::string detail;
  std::optional<ledger::Checkpoint> checkpoint;  // the checkpoint that holds the record
  if (!verifier) {
    included = std::unexpected(verifier.error());
  } else if (!proof) {
    included = std::unexpected(proof.error());
  } else if (!*proof) {
    included = fail("ledger.proof", "no checkpoint covers the report's record yet");
  } else if (auto cp = ledger::verify_record_proof(**proof, *verifier); !cp) {
    included = std::unexpected(cp.error());
  } else {
    auto record = ledger::parse_record((*proof)->record.bytes);
    const auto* submit = record ? std::get_if<ledger::args::ReportsSubmit>(&record->stx.tx.action) : nullptr;
    if (!submit || submit->order != order_id || submit->report != (*stored)->report ||
        ca::cvm_id(record->stx.tx.sender) != (*order)->cvm) {
      included = fail("ledger.proof", "record " + std::to_string((*stored)->index) +
                                          " is not the CVM's reports.submit for this order");
    } else {
      detail = "record " + std::to_string((*stored)->index) + " in the checkpoint of size " +
               std::to_string(cp->size) + " signed by " + verifier->name;
      checkpoint = *cp;
    }
  }
  if (!checks.record("ledger.inclusion", included, detail) || options.anchors.empty()) return v;

  // The public timestamp: an anchored checkpoint whose tree holds the record.
  auto anchors = ledger::evm::verify_anchors(ledger, *verifier, *checkpoint, options.anchors);
  if (!anchors) {
    checks.fail("ledger.anchor", anchors.error().message);
    return v;
  }
  const auto anchor = ledger::evm::first_anchor_holding(*anchors, (*stored)->index);
  checks.pass_if("ledger.anchor", anchor.has_value(),
                 anchor
                     ? "record " + std::to_string((*stored)->index) + " is in the checkpoint of size " +
                           std::to_string(anchor->size) + " anchored in block " +
                           std::to_string(anchor->block) + " at " + unix_seconds_text(anchor->time) + " (" +
                           std::to_string(anchors->size()) + " anchor(s) checked)"
                     : "no anchored checkpoint holds record " + std::to_string((*stored)->index) + " yet (" +
                           std::to_string(anchors->size()) + " anchor(s), the latest of size " +
                           (anchors->empty() ? std::string("none") : std::to_string(anchors->back().size)) +
                           "): run 'ward ledger anchor'");
  return v;
}

OrderVerification verify_bundle(const json& bundle, std::uint64_t order_id,
                                const std::vector<evm::Hash256>& pinned_blocks,
                                const VerifyOptions& options) {
  namespace bundles = ledger::evm;
  OrderVerification v;
  attest::Checks& checks = v.checks;
  auto proven = bundles::check_report_bundle(bundle);
  if (!proven) {
    checks.fail("ledger.bundle", proven.error().message);
    return v;
  }
  std::string blocks;
  for (const auto& b : proven->blocks) {
    blocks += (blocks.empty() ? "" : ", ") + b.event + " in block " + std::to_string(b.number);
  }
  checks.pass("ledger.bundle", blocks + " of chain " + std::to_string(proven->chain_id) +
                                   ": each header hashed, its receipts and transactions roots rebuilt");
  if (!checks.pass_if("ledger.order", proven->order.id == order_id,
                      proven->order.id == order_id
                          ? "order " + std::to_string(order_id) + " is Done: the contract took its report"
                          : "the bundle is for order " + std::to_string(proven->order.id))) {
    return v;
  }
  if (!check_report(v, proven->order, proven->ledger_id, proven->report, options)) return v;

  // Which chain: the report's block must be one the verifier trusts.
  const auto& at = proven->report_block();
  for (const auto& pin : pinned_blocks) {
    const bool known = std::any_of(proven->blocks.begin(), proven->blocks.end(),
                                   [&](const auto& b) { return b.hash == pin; });
    if (!known) {
      checks.fail("ledger.inclusion",
                  "the pinned block " + evm::data_text(pin) + " is none of the bundle's blocks");
      return v;
    }
  }
  const bool pinned = std::find(pinned_blocks.begin(), pinned_blocks.end(), at.hash) != pinned_blocks.end();
  checks.pass_if("ledger.inclusion", pinned,
                 pinned ? "sent from the CVM's bound address " + proven->cvm_address.to_checksum() +
                              " in block " + std::to_string(at.number) + " (" + evm::data_text(at.hash) +
                              ", pinned)"
                        : "the report's block " + std::to_string(at.number) + " (" + evm::data_text(at.hash) +
                              ") is not pinned: read its hash from a node or explorer you trust and pass it "
                              "with --block-hash");
  return v;
}

std::string verification_text(const OrderVerification& v) {
  std::string out;
  for (const auto& c : v.checks.results()) {
    out += c.ok ? "  ok    " : "  FAIL  ";
    out += c.name;
    if (!c.detail.empty()) out += ": " + c.detail;
    out += '\n';
  }
  if (v.accepted()) {
    out += v.simulated ? "verdict: verified (SIMULATED TEE: no hardware protection)\n" : "verdict: verified\n";
  } else {
    const auto* failed = v.checks.first_failure();
    out += "verdict: REJECTED at " + (failed ? failed->name : std::string("no check")) + "\n";
  }
  return out;
}

json verification_json(const OrderVerification& v) {
  json checks = json::array();
  for (const auto& c : v.checks.results()) checks.push_back({{"name", c.name}, {"ok", c.ok}, {"detail", c.detail}});
  const auto* failed = v.checks.first_failure();
  json out = {{"verdict", v.accepted() ? "verified" : "rejected"},
              {"simulated", v.simulated},
              {"checks", std::move(checks)},
              {"failed_check", failed ? json(failed->name) : json(nullptr)}};
  if (v.report) out["report"] = v.report->json;
  return out;
}

}  // namespace ward::loader
