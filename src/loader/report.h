// The integrity report (DESIGN.md step 10): what a CVM ran for an order, on
// what, and what came out, signed by the CVM's key. Its certificate carries
// the hardware evidence, so the report verifies down to the hardware.
//
//   {"report": {...fields below...},
//    "sig": hex Ed25519 by the CVM over "ward/report/v1\n" + canonical JSON of "report"}
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "crypto/hash.h"
#include "crypto/keys.h"
#include "ledger/tx.h"

namespace ward::loader {

inline constexpr std::string_view kReportDomain = ledger::kReportDomain;
inline constexpr std::size_t kMaxReportSize = std::size_t{60} << 10;  // fits a ledger transaction

struct ReportInput {
  crypto::Sha256Digest resource{};          // the descriptor's ciphertext_sha256
  crypto::Sha256Digest plaintext_sha256{};  // checked after decryption
  crypto::Ed25519PublicKey owner{};         // who signed the descriptor and the grant
  crypto::Sha256Digest grant{};             // SHA-256 of the grant document
};

struct ReportOutput {
  std::string uri;                  // blob URI of the encrypted output
  crypto::Sha256Digest sha256{};    // of the ciphertext
  std::uint64_t size = 0;
  std::vector<std::string> recipients;
};

// A worker CVM of a split service order, as the head verified it through
// its tunnel before the engine started (serve/tunnel.h).
struct ReportWorker {
  ledger::CvmId cvm{};
  std::string certificate;  // PEM of its CVM certificate (evidence inside)
  std::string endpoint;     // "HOST:PORT", where its tunnel listens

  bool operator==(const ReportWorker&) const = default;
};

// A service order's reports (the start report and the final one) carry the
// service's TLS endpoint instead of an output: a service has no output.
struct ReportService {
  crypto::Sha256Digest tls_key_sha256{};  // of the TLS key's DER SubjectPublicKeyInfo
  std::string tls_certificate;            // PEM of the service certificate when the report was made
  std::string endpoint;                   // "https://HOST:PORT", where the gateway listens
  std::vector<ReportWorker> workers;      // a split order's; "workers" only when there are any
};

struct Report {
  ledger::LedgerId ledger{};
  std::uint64_t order = 0;
  ledger::CvmId cvm{};
  std::string certificate;  // PEM of the CVM certificate (evidence inside)
  std::string engine;       // "sha256:<hex>", the image config digest
  ReportInput engine_resource;
  std::vector<ReportInput> inputs;  // in /ward/inputs/<n> order
  ReportOutput output;              // a batch order's; absent from a service's report
  std::optional<ReportService> service;  // a service order's
  std::string started;  // RFC 3339
  std::string finished;
  int exit_code = 0;
  std::string outcome;                          // "exited with status 0"
  std::map<std::string, std::uint64_t> stages_ms;  // fetch, verify, decrypt, run, encrypt, upload
};

struct SignedReport {
  Report report;
  crypto::Ed25519Signature sig{};
  nlohmann::json json;  // {"report": ..., "sig": ...}
};

nlohmann::json report_json(const Report& report);
SignedReport sign_report(const Report& report, const crypto::Ed25519PrivateKey& key);

// Strict parse (no unknown or duplicate fields, exact types and hex lengths).
// Does not check the signature: see report_signature_valid. Errors: "report.parse".
Result<SignedReport> parse_report(const nlohmann::json& signed_report);
Result<SignedReport> parse_report_text(std::string_view text);

// The signature over the report by `key`.
bool report_signature_valid(const SignedReport& report, const crypto::Ed25519PublicKey& key);

}  // namespace ward::loader
