// Verifying an order's integrity report from outside (DESIGN.md step 11):
// report signature -> CVM certificate -> hardware evidence -> vendor (or,
// when the policy allows, simulated) root and measurement policy -> the
// order's engine, inputs and outputs -> the ledger's inclusion proof.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "attest/appraisal.h"
#include "attest/policy.h"
#include "crypto/x509.h"
#include "evm/keccak.h"
#include "files/resource.h"
#include "kms/broker.h"
#include "ledger/client.h"
#include "loader/report.h"

namespace ward::loader {

struct VerifyOptions {
  crypto::Certificate ca_certificate;  // the certification center the verifier trusts
  attest::Policy policy;               // what the CVM's evidence must satisfy
  // Descriptors the verifier holds: each must be the engine or an input of
  // the report, with the same ciphertext and plaintext digests.
  std::vector<files::SignedResource> resources;
  // A report to check in place of the ledger's (it must still equal it).
  std::optional<nlohmann::json> report;
  // Pinned checkpoint verifier key (C2SP vkey); empty: the ledger's own.
  std::string ledger_key;
  // Check that the store still holds the encrypted output.
  bool check_output = true;
  // A WardAnchor (evm+http://HOST:PORT#0xANCHOR): the report's record must be
  // in a checkpoint anchored there ("ledger.anchor"), every anchor of the
  // ledger checked against it (ledger/evm/anchored.h).
  std::string anchors;
  // Key brokers' release logs (kms::verify_log'd under their verified
  // statements): every input granted to one of them must have a release in
  // its log for this order, ledger and CVM ("kms.release"). Empty: brokers'
  // releases are not checked.
  struct BrokerLog {
    std::string url;
    std::string recipient;
    std::vector<kms::LogEntry> entries;
  };
  std::vector<BrokerLog> brokers = {};
};

struct OrderVerification {
  // Every check in order; the first failure ends the list.
  attest::Checks checks;
  std::optional<SignedReport> report;
  std::optional<attest::Appraisal> evidence;  // the CVM certificate's appraisal
  bool simulated = false;

  bool accepted() const { return checks.ran() && checks.ok(); }
};

OrderVerification verify_order(ledger::LedgerClient& ledger, std::uint64_t order_id, const VerifyOptions& options);

// The same checks on an offline bundle of an EVM ledger's blocks
// (ledger/evm/bundle.h) in place of a ledger: the order as its events state
// it, the report from its event, and, for "ledger.inclusion", the report's
// block hash among `pinned_blocks` (hashes the verifier read from a chain it
// trusts; a bundle alone proves no chain). No node is asked anything.
OrderVerification verify_bundle(const nlohmann::json& bundle, std::uint64_t order_id,
                                const std::vector<evm::Hash256>& pinned_blocks, const VerifyOptions& options);

// One line per check, then the verdict (SIMULATED when the evidence is).
std::string verification_text(const OrderVerification& v);
nlohmann::json verification_json(const OrderVerification& v);

}  // namespace ward::loader
