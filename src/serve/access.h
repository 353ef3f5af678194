// Who may use a service (docs/serving.md, "Access"): a client signs each
// request with its party key (Ed25519), over the method, target and body,
// the order and the service's TLS key (so a signature is good for this
// service only), a time and a fresh nonce. The gateway checks the signature,
// refuses a time outside its window and a nonce it has already seen from
// that account, and applies the order's access rule. `ward proxy --key`
// signs; the gateway passes the authenticated account to the engine as
// Ward-Account and never a client's own.
#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>

#include "crypto/hash.h"
#include "crypto/keys.h"
#include "http/message.h"
#include "ledger/tx.h"

namespace ward::serve {

inline constexpr std::string_view kRequestDomain = "ward/request/v1\n";
inline constexpr std::string_view kAccountHeader = "Ward-Account";
inline constexpr std::string_view kTimeHeader = "Ward-Time";
inline constexpr std::string_view kNonceHeader = "Ward-Nonce";
inline constexpr std::string_view kSignatureHeader = "Ward-Signature";

// What the signature binds the request to: the service it is for.
struct ServiceBinding {
  std::uint64_t order = 0;
  crypto::Sha256Digest tls_key{};
};

// The bytes a client signs: the domain, then each field on a line of its own
// (method, target, order, TLS key hex, time, nonce hex, body SHA-256 hex).
std::string request_signing_bytes(std::string_view method, std::string_view target,
                                  const ServiceBinding& service, std::uint64_t time,
                                  std::string_view nonce_hex, std::string_view body);

// The four Ward-* headers for `request`, signed by `key` at `now` with a
// fresh 16-byte nonce (what `ward proxy --key` adds).
http::Headers sign_request(const http::Request& request, const ServiceBinding& service,
                           const crypto::Ed25519PrivateKey& key, std::chrono::system_clock::time_point now);

// Removes every Ward-* header above (a client's own, before signing or
// forwarding).
void remove_access_headers(http::Headers& headers);

struct AccessOptions {
  std::chrono::seconds window{60};       // a signature's time may be this far from the gateway's clock
  std::size_t max_remembered = 1 << 20;  // nonces kept (each for 2 windows); past it new requests are refused
};

// The gateway's check of each request. Thread-safe.
class AccessGuard {
 public:
  AccessGuard(ledger::ServeRule rule, ServiceBinding service, AccessOptions options = {});

  // The account a request is authenticated as (nullopt: unsigned, allowed by
  // a public rule), or the refusal to answer with: 401 "unauthenticated"
  // (no or a malformed signature, a time outside the window, a signature
  // that does not verify), 401 "replayed" (a nonce seen before), 403
  // "not_allowed" (an account the rule does not list), 503 "busy" (too many
  // nonces remembered).
  std::expected<std::optional<ledger::AccountId>, http::Response> check(
      const http::Request& request, std::chrono::system_clock::time_point now);

 private:
  ledger::ServeRule rule_;
  ServiceBinding service_;
  AccessOptions options_;
  std::mutex mutex_;
  using Seen = std::pair<ledger::AccountId, std::string>;  // (account, nonce)
  std::set<Seen> seen_;
  std::multimap<std::chrono::system_clock::time_point, Seen> expiry_;  // when each may be forgotten
};

}  // namespace ward::serve
