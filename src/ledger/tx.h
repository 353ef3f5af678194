// Ledger transactions: the strict envelope parser, canonical bytes, signing,
// and the record (an accepted transaction with its log index and time).
// Format: docs/ledger.md ("Transactions", "Records and the log").
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/bytes.h"
#include "base/error.h"
#include "crypto/hash.h"
#include "crypto/keys.h"

namespace ward::ledger {

using LedgerId = std::array<std::uint8_t, 32>;
using AccountId = crypto::Ed25519PublicKey;
using CvmId = crypto::Sha256Digest;
using GrantId = crypto::Sha256Digest;  // SHA-256 of the owner-signed grant policy

// Amounts, nonces and ids are at most 2^63-1 so that every value fits SQLite's
// signed 64-bit INTEGER and a sum of two never wraps an unsigned 64-bit word.
inline constexpr std::uint64_t kMaxAmount = std::numeric_limits<std::int64_t>::max();
inline constexpr std::size_t kMaxEnvelopeSize = std::size_t{64} << 10;
inline constexpr std::string_view kTxDomain = "ward/ledger/tx/v1\n";
// What a CVM's integrity report signature covers: this, then the canonical
// JSON of the report object (src/loader/report.h builds and signs reports).
inline constexpr std::string_view kReportDomain = "ward/report/v1\n";
// A tee offer's failover timeout when it names none, and the most it may name.
inline constexpr std::uint64_t kDefaultCvmTimeout = 90;
inline constexpr std::uint64_t kMaxCvmTimeout = 86400;
// A grant's use limit is at most this; 0 means unlimited.
inline constexpr std::uint64_t kMaxGrantUses = 100000;
// The most grants one grants.use may name.
inline constexpr std::size_t kMaxGrantsPerUse = 256;
// The most accounts a service order's access list may name.
inline constexpr std::size_t kMaxServiceAccounts = 256;
// A revenue_share price is at most this many basis points: all of it.
inline constexpr std::uint32_t kMaxBps = 10000;
// The most accounts one services.usage may report on.
inline constexpr std::size_t kMaxUsageEntries = 256;
// The most worker CVMs a split service order may name, and the longest
// HOST:PORT a worker may publish (services.join).
inline constexpr std::size_t kMaxServiceWorkers = 7;
inline constexpr std::size_t kMaxWorkerEndpoint = 255;

// Why a transaction was refused. `reason` is one of the codes below (stable;
// callers branch on it), `message` one line for a person.
struct Rejection {
  std::string reason;
  std::string message;
};

namespace reason {
inline constexpr const char* kMalformed = "malformed";
inline constexpr const char* kTooLarge = "too_large";
inline constexpr const char* kBadSignature = "bad_signature";
inline constexpr const char* kWrongLedger = "wrong_ledger";
inline constexpr const char* kBadNonce = "bad_nonce";
inline constexpr const char* kUnknownAccount = "unknown_account";
inline constexpr const char* kAlreadyExists = "already_exists";
inline constexpr const char* kNotFound = "not_found";
inline constexpr const char* kNotOwner = "not_owner";
inline constexpr const char* kNotAllowed = "not_allowed";
inline constexpr const char* kBadState = "bad_state";
inline constexpr const char* kInsufficientFunds = "insufficient_funds";
inline constexpr const char* kOverflow = "overflow";
inline constexpr const char* kDevOnly = "dev_only";
inline constexpr const char* kRevoked = "revoked";
inline constexpr const char* kUsedUp = "used_up";
inline constexpr const char* kReportMismatch = "report_mismatch";
inline constexpr const char* kUsageRegressed = "usage_regressed";
inline constexpr const char* kCertificateMismatch = "certificate_mismatch";
}  // namespace reason

inline std::unexpected<Rejection> reject(const char* reason, std::string message) {
  return std::unexpected<Rejection>(Rejection{reason, std::move(message)});
}

enum class OfferKind { Engine, Dataset, Model, Tee };

// A CVM's resources as its provider declares them (cvms.register), and what
// an order placed on a tee offer needs (orders.create): a CVM takes only an
// order that fits (orders.take).
inline constexpr std::uint64_t kMaxCores = 4096;
inline constexpr std::uint64_t kMaxMemoryMib = std::uint64_t{1} << 32;
inline constexpr std::uint64_t kMaxGpus = 64;
struct Resources {
  std::uint64_t cores = 0;
  std::uint64_t memory_mib = 0;
  std::uint64_t gpus = 0;

  bool fits(const Resources& need) const {
    return cores >= need.cores && memory_mib >= need.memory_mib && gpus >= need.gpus;
  }
  bool operator==(const Resources&) const = default;
};
enum class PriceModel { Fixed, PerHour, RevenueShare };

struct Price {
  PriceModel model = PriceModel::Fixed;
  std::uint64_t amount = 0;  // fixed and per_hour
  std::uint32_t bps = 0;     // revenue_share, at most 10000

  bool operator==(const Price&) const = default;
};

// Who may reach a service order's endpoint: anyone, the listed accounts, or
// the accounts that subscribed to it (services.subscribe).
enum class ServiceAccess { Public, Accounts, Subscribers };

// What a subscriber pays for using a service, in tokens: per request, and per
// 1000 tokens of the engine's (rounded up). Only a Subscribers rule has one.
struct UsagePrice {
  std::uint64_t per_request = 0;    // 0..kMaxAmount
  std::uint64_t per_1k_tokens = 0;  // 0..kMaxAmount

  bool operator==(const UsagePrice&) const = default;
};

// The access rule a service order's creator sets in orders.create "serve".
struct ServeRule {
  ServiceAccess access = ServiceAccess::Public;
  std::vector<AccountId> accounts;  // Accounts: 1..kMaxServiceAccounts, none twice; otherwise none
  UsagePrice price;                 // zero unless Subscribers

  ServeRule() = default;
  // {access, accounts} reads as before prices existed: no price.
  ServeRule(ServiceAccess access_rule, std::vector<AccountId> listed, UsagePrice usage_price = {})
      : access(access_rule), accounts(std::move(listed)), price(usage_price) {}
  bool operator==(const ServeRule&) const = default;
};

std::string_view to_string(OfferKind kind);
std::string_view to_string(PriceModel model);
std::string_view to_string(ServiceAccess access);
nlohmann::json price_json(const Price& price);

// What a CVM certificate (docs/ca.md) states about the CVM, as far as the
// contract compares it with the listed CVM: the certified Ed25519 key, the
// age recipient extension's text, and the end of its validity.
struct CvmCertificateClaims {
  crypto::Ed25519PublicKey key{};
  std::string recipient;  // "age1...", as the extension spells it
  std::chrono::sys_seconds not_after{};
};

// Reads `pem`, exactly one PEM certificate, without verifying anything: its
// key must be Ed25519 and its age recipient extension a DER UTF8String
// "age1...". Refused `malformed` otherwise, naming what is wrong.
std::expected<CvmCertificateClaims, Rejection> read_cvm_certificate_claims(std::string_view pem);

// Typed arguments of each transaction type; the parser guarantees the ranges
// documented in docs/ledger.md, so the contract only checks state.
namespace args {
struct AccountsRegister {
  std::string recipient;
  std::string name;
};
struct AccountsFund {
  AccountId to;
  std::uint64_t amount;
};
struct AccountsTransfer {
  AccountId to;
  std::uint64_t amount;
};
struct OffersCreate {
  OfferKind kind;
  std::string name;
  std::string resource;
  Price price;
  // A tee offer's failover timeout: seconds after a CVM's last heartbeat
  // from which anyone may reassign its orders placed on the offer
  // (orders.reassign); 0: kDefaultCvmTimeout. Only tee offers have one.
  std::uint64_t timeout = 0;
};
struct OffersEnable {
  std::uint64_t offer;
};
struct OffersDisable {
  std::uint64_t offer;
};
struct CvmsRegister {
  crypto::Ed25519PublicKey key;
  std::string recipient;
  std::string certificate;
  std::uint64_t offer;
  std::optional<Resources> resources = std::nullopt;  // what the CVM has, as its provider declares it
};
struct CvmsHeartbeat {};
// A listed CVM's renewed certificate, for the same keys.
struct CvmsUpdate {
  std::string certificate;  // PEM, as sent
  CvmCertificateClaims claims;
};
struct OrdersCreate {
  CvmId cvm;  // all zero when the order is placed on `offer`
  // A batch order placed on a tee offer instead of one CVM: any CVM of the
  // offer takes it (orders.take), and another one when that CVM fails.
  std::optional<std::uint64_t> offer;
  // With `offer`: what a CVM must declare to take the order.
  std::optional<Resources> needs = std::nullopt;
  std::string engine;
  std::vector<std::string> inputs;
  std::vector<std::string> outputs;
  std::vector<std::uint64_t> offers;
  std::uint64_t deposit;
  std::optional<ServeRule> serve;  // a service order: `outputs` is empty
  // A split service's worker CVMs, which serve its head (`cvm`) the engine's
  // layers over attested tunnels: with `serve` and `cvm` only, 0 (none) to
  // kMaxServiceWorkers, none twice, not `cvm`.
  std::vector<CvmId> workers = {};
};
struct OrdersStart {
  std::uint64_t order;
};
// A CVM of the order's tee offer takes an order placed on the offer; the
// first valid take wins.
struct OrdersTake {
  std::uint64_t order;
};
// Anyone: an order placed on an offer whose CVM has sent no heartbeat for
// longer than the offer's timeout goes back to New, for another CVM to take.
struct OrdersReassign {
  std::uint64_t order;
};
struct OrdersCancel {
  std::uint64_t order;
};
struct OrdersFail {
  std::uint64_t order;
  std::string reason;
};
// What a service's report says about the service: the hash of the TLS public
// key the CVM serves with, and the plaintext digests of the inputs it loaded,
// which a client compares with the service's certificate.
struct ServiceClaims {
  crypto::Sha256Digest tls_key_sha256{};
  std::vector<crypto::Sha256Digest> inputs;  // report.inputs[].plaintext_sha256, in order
  std::string endpoint;                      // report.service.endpoint, "https://..."

  bool operator==(const ServiceClaims&) const = default;
};
// What a submitted report says about itself, which the contract checks
// against the order and the submitting CVM before it settles.
struct ReportClaims {
  LedgerId ledger{};
  std::uint64_t order = 0;
  CvmId cvm{};
  std::string engine;
  std::optional<ServiceClaims> service;  // report.service, present in a service's reports only
  crypto::Ed25519Signature sig{};
  std::string body;  // canonical JSON of the report object: `sig` covers kReportDomain + body
};
struct ReportsSubmit {
  std::uint64_t order;
  std::string report;  // canonical JSON text of the signed report {"report": {...}, "sig": ...}
  ReportClaims claims;
};
// A service order's start: the CVM serves it now, with the TLS key its signed
// start report names.
struct ServicesStart {
  std::uint64_t order;
  std::string report;  // as in ReportsSubmit
  ReportClaims claims;
};
// One grant an order's CVM is about to use, as the owner-signed policy says.
struct GrantUse {
  GrantId id{};
  AccountId owner{};
  std::uint64_t uses = 0;  // the policy's limit, 1..kMaxGrantUses; 0 = unlimited
};
struct GrantsUse {
  std::uint64_t order;
  std::vector<GrantUse> grants;  // 1..kMaxGrantsPerUse, no (id, owner) twice
};
struct GrantsRevoke {
  GrantId grant;
};
// A client's subscription to a service for subscribers, or its top-up.
struct ServicesSubscribe {
  std::uint64_t order;
  std::uint64_t deposit;  // 1..kMaxAmount
};
// One subscriber's use of a service as its CVM counted it: cumulative since
// the subscription began.
struct Usage {
  AccountId account{};
  std::uint64_t requests = 0;
  std::uint64_t tokens = 0;
  std::uint64_t bytes = 0;
};
struct ServicesUsage {
  std::uint64_t order;
  std::vector<Usage> usage;  // 0..kMaxUsageEntries, no account twice
};
// A worker CVM of a split service publishes where its tunnel listens.
struct ServicesJoin {
  std::uint64_t order;
  std::string endpoint;  // HOST:PORT, port 1..65535, printable ASCII without spaces
};
}  // namespace args

using Action = std::variant<args::AccountsRegister, args::AccountsFund, args::AccountsTransfer,
                            args::OffersCreate, args::OffersEnable, args::OffersDisable, args::CvmsRegister,
                            args::CvmsHeartbeat, args::CvmsUpdate, args::OrdersCreate, args::OrdersStart,
                            args::OrdersCancel, args::OrdersFail, args::ReportsSubmit, args::ServicesStart,
                            args::GrantsUse, args::GrantsRevoke, args::ServicesSubscribe, args::ServicesUsage,
                            args::OrdersTake, args::OrdersReassign, args::ServicesJoin>;

struct Transaction {
  LedgerId ledger{};
  AccountId sender{};
  std::uint64_t nonce = 0;
  std::string type;     // "orders.create", ...
  nlohmann::json args;  // as sent (validated)
  Action action;        // the same arguments, typed
};

struct SignedTx {
  Transaction tx;
  crypto::Ed25519Signature sig{};
  std::string canonical;  // canonical JSON of the tx object (without the domain prefix)
};

// JSON with keys sorted bytewise and no insignificant whitespace.
std::string canonical_json(const nlohmann::json& value);

// The bytes the sender signs: kTxDomain followed by the canonical tx object.
std::string canonical_bytes(const SignedTx& stx);
std::string canonical_bytes(const nlohmann::json& tx);

// Checks `tx` as the ledger would (except state), signs it, and returns the
// envelope text {"sig": ..., "tx": ...}. Fails ("ledger.tx") when `tx` is not a
// valid transaction or its sender is not `key`'s public key.
Result<std::string> sign_transaction(const nlohmann::json& tx, const crypto::Ed25519PrivateKey& key);

// Strict parse of an envelope: at most kMaxEnvelopeSize bytes, no duplicate
// keys, no floating point numbers anywhere, no unknown fields, integers within
// 0..kMaxAmount. Does not check the signature (see verify_signature).
std::expected<SignedTx, Rejection> parse_envelope(std::string_view text);

bool verify_signature(const SignedTx& stx);

// parse_envelope, then verify_signature.
std::expected<SignedTx, Rejection> parse_and_verify(std::string_view text);

// An accepted transaction: leaf `index` of the log, accepted at `time`.
struct Record {
  std::uint64_t index = 0;
  std::uint64_t time = 0;
  SignedTx stx;
};

// The record's canonical bytes {"index":N,"sig":"...","time":T,"tx":{...}},
// the Merkle leaf.
std::string record_bytes(const Record& record);

// Parses stored record bytes, re-checking the transaction's form and signature
// and that the bytes are canonical. Errors: "ledger.record".
Result<Record> parse_record(std::string_view bytes);

// Parses JSON text refusing duplicate keys (two readers of the same bytes
// could otherwise disagree about what was signed), floating point numbers,
// and nesting deeper than 32. Other documents signed over canonical_json use
// it too. Errors: "ledger.json".
Result<nlohmann::json> parse_strict_json(std::string_view text);

// A 32-byte id (ledger, account, CVM) in its only accepted spelling: 64
// lower-case hex digits. Errors: "ledger.id".
Result<std::array<std::uint8_t, 32>> parse_id(std::string_view text);

}  // namespace ward::ledger
