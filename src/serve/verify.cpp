#include "serve/verify.h"

#include <algorithm>
#include <functional>
#include <utility>

#include <nlohmann/json.hpp>

#include "base/time.h"

namespace ward::serve {
namespace {

using json = nlohmann::json;
using std::chrono::system_clock;

std::string short_hex(ByteView bytes) {
  return hex_encode(bytes).substr(0, 16);
}

}  // namespace

bool check_tls_chain(attest::Checks& checks, std::span<const crypto::Certificate> chain,
                     system_clock::time_point at) {
  constexpr std::string_view name = "tls.chain";
  if (chain.size() != 2)
    return checks.fail(name, "the peer sent " + std::to_string(chain.size()) +
                                 " certificates, not 2 (its service certificate, then its CVM certificate)");
  const crypto::Certificate& leaf = chain[0];
  const crypto::Certificate& cvm = chain[1];
  if (!cvm.ed25519_public_key())
    return checks.fail(
        name, "the second certificate (" + cvm.subject() + ") has no Ed25519 key: not a CVM certificate");
  if (auto signed_by = leaf.verify_signature(cvm); !signed_by)
    return checks.fail(name, "the service certificate (" + leaf.subject() + ") is not signed by the key of " +
                                 cvm.subject());
  if (at < leaf.not_before() || at > leaf.not_after())
    return checks.fail(name, "the service certificate is valid from " + format_rfc3339(leaf.not_before()) +
                                 " to " + format_rfc3339(leaf.not_after()) + ", not at " +
                                 format_rfc3339(at));
  if (leaf.is_ca()) return checks.fail(name, "the service certificate is a CA certificate");
  return checks.pass(name, leaf.subject() + " issued by " + cvm.subject() + ", valid until " +
                               format_rfc3339(leaf.not_after()));
}

namespace {

bool check_order(attest::Checks& checks, const ServiceClaims& claims, const ca::CvmIdentity& cvm,
                 const LedgerFacts& facts) {
  constexpr std::string_view name = "service.order";
  const std::string order = "order " + std::to_string(claims.order);
  if (!facts.order) return checks.fail(name, order + " is not on the ledger");
  if (!facts.service) return checks.fail(name, order + " is not a service order");
  if (facts.order->status != ledger::OrderStatus::Processing)
    return checks.fail(
        name, order + " is " + std::string(ledger::to_string(facts.order->status)) + ", not Processing");
  if (facts.order->cvm != cvm.id)
    return checks.fail(name,
                       order + " runs on CVM " + hex_encode(facts.order->cvm) + ", not on " + cvm.id_hex());
  if (facts.service->serving_since == 0) return checks.fail(name, order + " has not started serving");
  if (facts.service->cancel_requested) return checks.fail(name, order + " is being canceled");
  return checks.pass(name, order + " is serving on CVM " + short_hex(cvm.id) + " since " +
                               std::to_string(facts.service->serving_since));
}

bool check_engine(attest::Checks& checks, const ServiceClaims& claims, const ledger::Order& order,
                  const EndpointPins& pins) {
  constexpr std::string_view name = "service.engine";
  if (claims.engine != order.engine)
    return checks.fail(name, "the certificate names engine " + claims.engine + ", the order " + order.engine);
  if (pins.engine && *pins.engine != claims.engine)
    return checks.fail(name, "engine " + claims.engine + " is not the pinned " + *pins.engine);
  return checks.pass(name, claims.engine + (pins.engine ? " (pinned)" : ""));
}

bool check_inputs(attest::Checks& checks, const ServiceClaims& claims, const ServiceState& service,
                  const EndpointPins& pins) {
  constexpr std::string_view name = "service.inputs";
  if (claims.inputs != service.inputs)
    return checks.fail(name, "the certificate names " + std::to_string(claims.inputs.size()) +
                                 " input digests that are not the order's " +
                                 std::to_string(service.inputs.size()));
  for (const auto& model : pins.models) {
    if (std::ranges::find(claims.inputs, model) == claims.inputs.end())
      return checks.fail(name,
                         "the pinned model " + hex_encode(model) + " is not among the service's inputs");
  }
  return checks.pass(name,
                     std::to_string(claims.inputs.size()) + " inputs as on the ledger" +
                         (pins.models.empty() ? "" : ", " + std::to_string(pins.models.size()) + " pinned"));
}

// The workers a start report lists (report.service.workers), read as far as
// check_workers needs; nullopt when there are none or they do not read.
std::optional<std::vector<ReportedWorker>> reported_workers(const std::string& report_text) {
  json doc = json::parse(report_text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) return std::nullopt;
  const json* list = nullptr;
  if (auto r = doc.find("report"); r != doc.end() && r->is_object())
    if (auto s = r->find("service"); s != r->end() && s->is_object())
      if (auto w = s->find("workers"); w != s->end() && w->is_array()) list = &*w;
  if (list == nullptr) return std::nullopt;
  std::vector<ReportedWorker> out;
  for (const auto& w : *list) {
    if (!w.is_object() || !w.contains("cvm") || !w.contains("certificate") || !w.at("cvm").is_string() ||
        !w.at("certificate").is_string())
      return std::nullopt;
    auto id = hex_decode(w.at("cvm").get<std::string>());
    if (!id || id->size() != 32) return std::nullopt;
    ReportedWorker rw;
    std::copy(id->begin(), id->end(), rw.cvm.begin());
    rw.certificate = w.at("certificate").get<std::string>();
    out.push_back(std::move(rw));
  }
  return out;
}

using Lookup = std::function<Result<LedgerFacts>(std::uint64_t order)>;

EndpointVerification verify(std::span<const crypto::Certificate> chain, const crypto::Certificate& ca_cert,
                            const attest::Policy& policy, const Lookup& lookup, const EndpointPins& pins,
                            system_clock::time_point at) {
  EndpointVerification out;
  if (!chain.empty()) {
    out.tls_key = tls_key_digest(chain.front());
    out.leaf = chain.front();
  }
  if (!check_tls_chain(out.appraisal.checks, chain, at)) return out;

  auto cvm = ca::verify_cvm_certificate(chain[1], ca_cert, policy, at);
  out.cvm = cvm.cvm;
  out.appraisal.continue_with(std::move(cvm.appraisal));
  if (!out.accepted()) return out;

  auto claims = read_service_certificate(chain[0]);
  if (!claims) {
    out.appraisal.checks.fail("service.claims", claims.error().message);
    return out;
  }
  out.claims = *claims;
  out.appraisal.checks.pass("service.claims", "order " + std::to_string(claims->order) + " on ledger " +
                                                  short_hex(claims->ledger) + ", engine " + claims->engine +
                                                  ", " + std::to_string(claims->inputs.size()) + " inputs");

  auto facts = lookup(claims->order);
  attest::Checks& c = out.appraisal.checks;
  if (!facts) {
    c.fail("service.ledger", "cannot ask the ledger: " + facts.error().message);
    return out;
  }
  if (!c.pass_if("service.ledger", facts->ledger == claims->ledger,
                 facts->ledger == claims->ledger
                     ? "ledger " + hex_encode(facts->ledger)
                     : "the certificate is for ledger " + hex_encode(claims->ledger) + ", this is ledger " +
                           hex_encode(facts->ledger)))
    return out;
  if (!check_order(c, *claims, *out.cvm, *facts)) return out;
  if (!check_engine(c, *claims, *facts->order, pins)) return out;
  if (!check_inputs(c, *claims, *facts->service, pins)) return out;
  if (!c.pass_if("service.key", out.tls_key == facts->service->tls_key_sha256,
                 out.tls_key == facts->service->tls_key_sha256
                     ? "TLS key " + hex_encode(out.tls_key) + " as in the start report"
                     : "the TLS key " + hex_encode(out.tls_key) + " is not the start report's " +
                           hex_encode(facts->service->tls_key_sha256)))
    return out;
  if (facts->order->serve && !facts->order->serve->workers.empty()) {
    if (!facts->workers) {
      c.fail("service.workers", "the start report lists no workers");
      return out;
    }
    check_reported_workers(c, "service.workers", "the start report", facts->order->serve->workers,
                           *facts->workers, ca_cert, policy, at);
  }
  return out;
}

}  // namespace

bool check_reported_workers(attest::Checks& checks, std::string_view name, std::string_view source,
                            const std::vector<ledger::Worker>& listed,
                            const std::vector<ReportedWorker>& reported, const crypto::Certificate& ca_cert,
                            const attest::Policy& policy, system_clock::time_point at) {
  const std::string from(source);
  if (reported.size() != listed.size())
    return checks.fail(name, "the order names " + std::to_string(listed.size()) + " workers, " + from + " " +
                                 std::to_string(reported.size()));
  for (std::size_t i = 0; i < listed.size(); ++i) {
    const std::string which = "worker " + std::to_string(i) + " (CVM " + short_hex(listed[i].cvm) + ")";
    if (reported[i].cvm != listed[i].cvm)
      return checks.fail(name, which + ": " + from + " names CVM " + short_hex(reported[i].cvm) + " there");
    auto cert = crypto::Certificate::from_pem(reported[i].certificate);
    if (!cert) return checks.fail(name, which + ": its certificate does not parse: " + cert.error().message);
    auto verified = ca::verify_cvm_certificate(*cert, ca_cert, policy, at);
    if (!verified.accepted())
      return checks.fail(name, which + ": " + verified.appraisal.checks.first_failure_text());
    if (verified.cvm->id != listed[i].cvm)
      return checks.fail(name, which + ": the certificate is CVM " + verified.cvm->id_hex() + "'s");
  }
  return checks.pass(
      name, std::to_string(listed.size()) +
                " worker CVM(s) as the order names them, each certificate and its evidence verified");
}

std::optional<ServiceState> service_state(const ledger::Order& order) {
  if (!order.serve) return std::nullopt;
  const ledger::ServiceTerms& terms = *order.serve;
  ServiceState state;
  // Before the start report there is no key yet: zeros, which no key hashes to.
  if (terms.tls_key_sha256) state.tls_key_sha256 = *terms.tls_key_sha256;
  state.inputs = terms.inputs;
  state.serving_since = terms.serving_since.value_or(0);
  state.cancel_requested = terms.cancel_requested.has_value();
  return state;
}

Result<LedgerFacts> ledger_facts(ledger::LedgerClient& ledger, std::uint64_t order) {
  auto summary = ledger.summary();
  if (!summary) return std::unexpected(summary.error());
  auto found = ledger.order(order);
  if (!found) return std::unexpected(found.error());
  LedgerFacts facts{summary->info.id, std::move(*found), std::nullopt};
  if (facts.order) facts.service = service_state(*facts.order);
  if (facts.order && facts.order->serve && !facts.order->serve->workers.empty()) {
    auto start = ledger.start_report(order);
    if (!start) return std::unexpected(start.error());
    if (*start) facts.workers = reported_workers((*start)->report);
  }
  return facts;
}

EndpointVerification verify_endpoint(std::span<const crypto::Certificate> peer_chain,
                                     const crypto::Certificate& ca_cert, const attest::Policy& policy,
                                     ledger::LedgerClient& ledger, const EndpointPins& pins,
                                     system_clock::time_point at) {
  return verify(
      peer_chain, ca_cert, policy, [&ledger](std::uint64_t order) { return ledger_facts(ledger, order); },
      pins, at);
}

EndpointVerification verify_endpoint(std::span<const crypto::Certificate> peer_chain,
                                     const crypto::Certificate& ca_cert, const attest::Policy& policy,
                                     const LedgerFacts& facts, const EndpointPins& pins,
                                     system_clock::time_point at) {
  return verify(
      peer_chain, ca_cert, policy, [&facts](std::uint64_t) -> Result<LedgerFacts> { return facts; }, pins,
      at);
}

std::string endpoint_verification_text(const EndpointVerification& v) {
  std::string out;
  for (const auto& c : v.appraisal.checks.results()) {
    out += c.ok ? "  ok    " : "  FAIL  ";
    out += c.name;
    if (!c.detail.empty()) out += ": " + c.detail;
    out += '\n';
  }
  if (v.accepted()) {
    out += v.appraisal.simulated ? "verdict: verified (SIMULATED TEE: no hardware protection)\n"
                                 : "verdict: verified\n";
  } else {
    const auto* failed = v.appraisal.checks.first_failure();
    out += "REJECTED at " + (failed ? failed->name + ": " + failed->detail : std::string("no check")) + "\n";
  }
  return out;
}

json endpoint_verification_json(const EndpointVerification& v) {
  json checks = json::array();
  for (const auto& c : v.appraisal.checks.results())
    checks.push_back({{"name", c.name}, {"ok", c.ok}, {"detail", c.detail}});
  const auto* failed = v.appraisal.checks.first_failure();
  json out = {{"verdict", v.accepted() ? "verified" : "rejected"},
              {"simulated", v.appraisal.simulated},
              {"checks", std::move(checks)},
              {"failed_check", failed ? json(failed->name) : json(nullptr)},
              {"tls_key_sha256", hex_encode(v.tls_key)}};
  if (v.cvm) out["cvm"] = v.cvm->id_hex();
  if (v.claims) {
    json inputs = json::array();
    for (const auto& d : v.claims->inputs) inputs.push_back(hex_encode(d));
    out["service"] = {{"ledger", hex_encode(v.claims->ledger)},
                      {"order", v.claims->order},
                      {"engine", v.claims->engine},
                      {"inputs", std::move(inputs)}};
  }
  return out;
}

std::shared_ptr<const EndpointVerification> VerificationCache::find(const crypto::Certificate& leaf,
                                                                    system_clock::time_point now) {
  const auto key = crypto::sha256(leaf.to_der());
  const std::lock_guard lock(mu_);
  const auto it = entries_.find(key);
  if (it == entries_.end()) return nullptr;
  if (now >= it->second.expires) {
    entries_.erase(it);
    return nullptr;
  }
  return it->second.verification;
}

std::shared_ptr<const EndpointVerification> VerificationCache::store(const crypto::Certificate& leaf,
                                                                     EndpointVerification verification,
                                                                     system_clock::time_point now) {
  const auto key = crypto::sha256(leaf.to_der());
  const auto expires = std::min<system_clock::time_point>(now + ttl_, leaf.not_after());
  auto shared = std::make_shared<const EndpointVerification>(std::move(verification));
  const std::lock_guard lock(mu_);
  // Expired entries go whenever one is added, so the map holds only live ones.
  std::erase_if(entries_, [now](const auto& entry) { return now >= entry.second.expires; });
  entries_[key] = Entry{shared, expires};
  return shared;
}

}  // namespace ward::serve
