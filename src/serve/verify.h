// Verifying a service endpoint before sending it a byte (docs/serving.md):
// the TLS chain [service certificate, CVM certificate] down to the hardware
// evidence, then the service order on the ledger that the certificate names.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "attest/appraisal.h"
#include "attest/policy.h"
#include "ca/certificate.h"
#include "crypto/hash.h"
#include "crypto/x509.h"
#include "ledger/client.h"
#include "ledger/state.h"
#include "serve/certificate.h"

namespace ward::serve {

// Appends "tls.chain" to `checks`: `chain` is [leaf, CVM certificate], the
// leaf a TLS certificate the CVM's key issued (a service's or a tunnel's),
// not a CA, in force at `at`.
bool check_tls_chain(attest::Checks& checks, std::span<const crypto::Certificate> chain,
                     std::chrono::system_clock::time_point at);

// What the client insists on, beyond what the ledger says.
struct EndpointPins {
  std::optional<std::string> engine;         // "sha256:<hex>": the engine must be this one
  std::vector<crypto::Sha256Digest> models;  // each must be among the service's inputs
};

struct EndpointVerification {
  // Checks in order, the first failure ending them: "tls.chain", those of
  // ca::verify_cvm_certificate, then "service.claims", "service.ledger",
  // "service.order", "service.engine", "service.inputs", "service.key", and
  // for a split order "service.workers": every worker the order names, with
  // the CVM certificate the start report lists for it verified under the
  // same center and policy.
  attest::Appraisal appraisal;
  std::optional<ServiceClaims> claims;      // set once the extensions parse
  std::optional<ca::CvmIdentity> cvm;       // set once the CVM certificate's extensions parse
  crypto::Sha256Digest tls_key{};           // tls_key_digest of the leaf, when there is one
  std::optional<crypto::Certificate> leaf;  // the service certificate, when there is one

  bool accepted() const { return appraisal.accepted(); }
};

// The service fields of an order, as the service's start report put them on
// the ledger.
struct ServiceState {
  crypto::Sha256Digest tls_key_sha256{};
  std::vector<crypto::Sha256Digest> inputs;  // plaintext SHA-256 of each input
  std::uint64_t serving_since = 0;           // 0 until the start report
  bool cancel_requested = false;
};

// A worker of a split order as the head's start report lists it.
struct ReportedWorker {
  ledger::CvmId cvm{};
  std::string certificate;  // PEM of its CVM certificate
};

// Appends `name` ("service.workers", "report.workers"): `reported`, the
// workers that `source` ("the start report") lists, are exactly `listed`, in
// order, each with a CVM certificate of that CVM that verifies under
// `ca_cert` and `policy` at `at`.
bool check_reported_workers(attest::Checks& checks, std::string_view name, std::string_view source,
                            const std::vector<ledger::Worker>& listed,
                            const std::vector<ReportedWorker>& reported, const crypto::Certificate& ca_cert,
                            const attest::Policy& policy, std::chrono::system_clock::time_point at);

// What the ledger says about the order a certificate names.
struct LedgerFacts {
  ledger::LedgerId ledger{};
  std::optional<ledger::Order> order;   // nullopt: the ledger has no such order
  std::optional<ServiceState> service;  // nullopt: not a service order
  // A split order's workers, from the start report on the ledger; nullopt
  // when the report has no list (or could not be read: "service.workers"
  // says so).
  std::optional<std::vector<ReportedWorker>> workers = std::nullopt;
};

// The one place the ledger is asked: its id, then order `order`.
Result<LedgerFacts> ledger_facts(ledger::LedgerClient& ledger, std::uint64_t order);

// The service fields of `order` (ledger::Order::serve); nullopt for an order
// that is not a service.
std::optional<ServiceState> service_state(const ledger::Order& order);

// Verifies `peer_chain` (leaf first, as the server sent it) at `at`: the leaf
// issued by the CVM certificate's key, that certificate under `ca_cert` with
// its evidence meeting `policy`, and the named order active on `ledger`,
// running this engine and these inputs with this TLS key, and the pins.
EndpointVerification verify_endpoint(std::span<const crypto::Certificate> peer_chain,
                                     const crypto::Certificate& ca_cert, const attest::Policy& policy,
                                     ledger::LedgerClient& ledger, const EndpointPins& pins,
                                     std::chrono::system_clock::time_point at);

// The same with the ledger's answers given, for a caller that holds them.
EndpointVerification verify_endpoint(std::span<const crypto::Certificate> peer_chain,
                                     const crypto::Certificate& ca_cert, const attest::Policy& policy,
                                     const LedgerFacts& facts, const EndpointPins& pins,
                                     std::chrono::system_clock::time_point at);

// One line per check, then the verdict (SIMULATED when the evidence is), as
// `ward orders verify` prints; and the same as JSON.
std::string endpoint_verification_text(const EndpointVerification& v);
nlohmann::json endpoint_verification_json(const EndpointVerification& v);

// Verifications by certificate, so a client verifies each endpoint
// certificate once rather than on every connection. Thread-safe. An entry
// holds for `ttl` after it is stored and never past its leaf's notAfter; a
// changed certificate is another key, so it is verified again.
class VerificationCache {
 public:
  explicit VerificationCache(std::chrono::seconds ttl = std::chrono::seconds(60)) : ttl_(ttl) {}

  std::shared_ptr<const EndpointVerification> find(
      const crypto::Certificate& leaf,
      std::chrono::system_clock::time_point now = std::chrono::system_clock::now());
  std::shared_ptr<const EndpointVerification> store(
      const crypto::Certificate& leaf, EndpointVerification verification,
      std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

 private:
  struct Entry {
    std::shared_ptr<const EndpointVerification> verification;
    std::chrono::system_clock::time_point expires;
  };
  std::chrono::seconds ttl_;
  std::mutex mu_;
  std::map<crypto::Sha256Digest, Entry> entries_;
};

}  // namespace ward::serve
