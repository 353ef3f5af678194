// The key broker (docs/kms.md): the reader of a grant can be a broker
// instead of one CVM. The broker runs in a CVM of its own, certified like
// any CVM; it holds a group key (an age identity with its Ed25519 key, as a
// party's) that owners grant to, and re-wraps a grant's header for a CVM only
// when the CVM's certificate and evidence meet the grant's policy, an order
// on the ledger names that CVM and the grant (a worker CVM of a split
// service order is released the order's engine grant only), and the ledger
// has neither seen the grant revoked nor used up. Every release is a
// signed, hash-chained entry of the broker's release log. Brokers of the same measurement share
// the group key: one releases it only to another that proves that measurement.
//
//   GET  /v1/broker    the broker statement (below)
//   POST /v1/release   a CVM's signed release request -> the re-wrapped header
//                      and its signed log entry
//   GET  /v1/releases  the release log, one signed entry per line
//   POST /v1/replicate another broker's signed request -> the group key,
//                      age-encrypted to that broker's CVM recipient
//
// Refusals are {"error": {"reason", "message"}}: 400 "malformed", 403
// "refused" (with the failed check first in the message), 502 "ledger" or
// "store" when those could not be read.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "attest/appraisal.h"
#include "attest/policy.h"
#include "base/error.h"
#include "ca/certificate.h"
#include "crypto/hash.h"
#include "crypto/x509.h"
#include "keys/party_key.h"
#include "ledger/tx.h"

namespace ward::kms {

// Signing domains.
inline constexpr std::string_view kStatementDomain = "ward/kms/broker/v1\n";
inline constexpr std::string_view kRequestDomain = "ward/kms/request/v1\n";
inline constexpr std::string_view kEntryDomain = "ward/kms/log/v1\n";
inline constexpr std::string_view kReplicateDomain = "ward/kms/replicate/v1\n";
// A request's time may differ from the broker's clock by at most this.
inline constexpr std::chrono::seconds kMaxClockSkew{300};
inline constexpr std::size_t kMaxRequestSize = std::size_t{256} << 10;

// A CVM's identity as its loader holds it (loader::CvmState's parts).
struct CvmCredentials {
  keys::PartyKey key;
  crypto::Certificate certificate;
  std::string certificate_pem;
};

// The broker statement: its CVM (certificate, evidence) says that the group
// whose age recipient and Ed25519 key these are is its own. Signed by the
// CVM's key over kStatementDomain + canonical {"cvm", "group_key", "recipient"}.
struct Statement {
  std::string recipient;                 // the group's age1... recipient: what grants are wrapped to
  crypto::Ed25519PublicKey group_key{};  // signs the release log
  ca::CvmIdentity cvm;                   // the broker CVM that speaks
  std::string certificate_pem;
  nlohmann::json json;
};
nlohmann::json make_statement(const CvmCredentials& cvm, const keys::PartyKey& group);

// A statement checked: its CVM certificate verifies under `ca_cert` and
// `policy` (which must pin a measurement: an owner says which broker code it
// trusts) down to the hardware, and its signature is the CVM's.
struct VerifiedStatement {
  Statement statement;
  attest::Appraisal appraisal;
};
// Errors: "kms.statement" naming the check that failed.
Result<VerifiedStatement> verify_statement(const nlohmann::json& doc, const crypto::Certificate& ca_cert,
                                           const attest::Policy& policy,
                                           std::chrono::system_clock::time_point at);

// What a CVM asks: the key of order `order`'s input `input` (a grant to
// this broker). Signed by the CVM's key over kRequestDomain + canonical
// {"broker", "input", "order", "time"}.
struct ReleaseRequest {
  std::uint64_t order = 0;
  std::uint64_t input = 0;
  std::string broker;  // the recipient the CVM asks: a request is for one broker group
  std::string time;    // RFC 3339 UTC
  std::string certificate_pem;
  crypto::Ed25519Signature sig{};
  nlohmann::json request;  // as signed
};
nlohmann::json make_request(const keys::PartyKey& cvm_key, std::string_view certificate_pem,
                            std::uint64_t order, std::uint64_t input, std::string_view broker,
                            std::chrono::system_clock::time_point now);
// Strict: no unknown, missing or duplicate field. Errors: "kms.request".
Result<ReleaseRequest> parse_request(std::string_view body);

// One release as the log keeps it, signed by the group key over
// kEntryDomain + canonical(entry): {"index", "prev", "time", "broker" (the
// releasing CVM's id), "grant", "owner", "ledger", "order", "cvm",
// "binding" (the header's ward-release value)}. `prev` is the SHA-256 of the
// previous line (64 zeros for the first), so the log is one chain.
struct LogEntry {
  std::uint64_t index = 0;
  crypto::Sha256Digest prev{};
  std::string time;
  ledger::CvmId broker{};
  crypto::Sha256Digest grant{};
  ledger::AccountId owner{};
  ledger::LedgerId ledger{};
  std::uint64_t order = 0;
  ledger::CvmId cvm{};
  crypto::Sha256Digest binding{};
  std::string line;  // the signed {"entry", "sig"} as one canonical JSON line
};
// Parses one line and checks its signature under `group_key`. Errors: "kms.log".
Result<LogEntry> parse_entry(std::string_view line, const crypto::Ed25519PublicKey& group_key);
// Checks a whole log (lines, each "\n"-terminated): every signature, indexes
// 0, 1, 2, ... and each prev the hash of the line before. Errors: "kms.log".
Result<std::vector<LogEntry>> verify_log(std::string_view text, const crypto::Ed25519PublicKey& group_key);

struct BrokerOptions {
  std::filesystem::path dir;  // the broker's sealed state: group key, release log
  std::string ledger;         // the ledger orders are read from
  crypto::Certificate ca_certificate;
  // Another broker to take the group key from (POST /v1/replicate) instead
  // of making one, when dir holds none.
  std::string peer;
};

// The group key, sealed in `dir`: made fresh, unsealed, or taken from `peer`.
// The broker's own CVM proves its measurement to a peer with its
// certificate. Errors: "kms.broker" (its own certificate does not verify or
// shows no launch measurement, ca::own_code), "kms.seal", "kms.peer", the
// ledger client's.
class Broker {
 public:
  static Result<std::unique_ptr<Broker>> open(CvmCredentials cvm, BrokerOptions options);
  ~Broker();

  const nlohmann::json& statement() const;
  const std::string& recipient() const;

  // The whole release path; the error code is the HTTP reason: "malformed",
  // "refused", "ledger", "store".
  Result<nlohmann::json> release(std::string_view body);
  // The log's text.
  Result<std::string> log_text() const;
  // A peer broker's request for the group key. Errors as release().
  Result<nlohmann::json> replicate(std::string_view body);

 private:
  struct Impl;
  explicit Broker(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Serves `broker` on host:port until `stop` (port 0 picks one; `on_bound`
// gets the port). Errors: "kms.server".
struct ServeOptions {
  std::size_t threads = 8;
};
class Server {
 public:
  Server(Broker& broker, ServeOptions options = {});
  ~Server();
  Result<int> bind(std::string_view host, int port);
  Result<void> serve();
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The client side.
// GET /v1/broker from `url`, verified (verify_statement). Errors: "kms.client", "kms.statement".
Result<VerifiedStatement> fetch_statement(std::string_view url, const crypto::Certificate& ca_cert,
                                          const attest::Policy& policy);
// A CVM's release request to the broker at `url`: the re-wrapped header.
// The caller authenticates it (files::accept_release). Errors: "kms.client",
// "kms.refused" with the broker's reason.
struct Released {
  Bytes header;
  std::string entry;  // the log line
};
// GET /v1/releases from `url`: the log's text, unverified (verify_log).
Result<std::string> fetch_log(std::string_view url);
Result<Released> request_release(std::string_view url, const keys::PartyKey& cvm_key,
                                 std::string_view certificate_pem, std::uint64_t order, std::uint64_t input,
                                 std::string_view broker);

}  // namespace ward::kms
