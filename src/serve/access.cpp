#include "serve/access.h"

#include <algorithm>

#include "base/bytes.h"
#include "base/decimal.h"
#include "crypto/random.h"

namespace ward::serve {
namespace {

using std::chrono::system_clock;

std::unexpected<http::Response> refuse(int status, std::string_view reason, const std::string& message) {
  return std::unexpected(http::error_response(status, reason, message));
}

template <std::size_t N>
std::optional<std::array<std::uint8_t, N>> fixed_hex(std::string_view text) {
  auto bytes = hex_decode(text);
  if (!bytes || bytes->size() != N || hex_encode(*bytes) != text) return std::nullopt;
  std::array<std::uint8_t, N> out{};
  std::copy(bytes->begin(), bytes->end(), out.begin());
  return out;
}

}  // namespace

std::string request_signing_bytes(std::string_view method, std::string_view target,
                                  const ServiceBinding& service, std::uint64_t time,
                                  std::string_view nonce_hex, std::string_view body) {
  std::string out(kRequestDomain);
  out += method;
  out += '\n';
  out += target;
  out += '\n';
  out += std::to_string(service.order) + '\n';
  out += hex_encode(service.tls_key) + '\n';
  out += std::to_string(time) + '\n';
  out += nonce_hex;
  out += '\n';
  out += hex_encode(crypto::sha256(as_bytes(body)));
  return out;
}

http::Headers sign_request(const http::Request& request, const ServiceBinding& service,
                           const crypto::Ed25519PrivateKey& key, system_clock::time_point now) {
  const auto time = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count());
  const std::string nonce = hex_encode(crypto::random_bytes(16));
  const auto sig = key.sign(
      as_bytes(request_signing_bytes(request.method, request.target, service, time, nonce, request.body)));
  return {{std::string(kAccountHeader), hex_encode(key.public_key())},
          {std::string(kTimeHeader), std::to_string(time)},
          {std::string(kNonceHeader), nonce},
          {std::string(kSignatureHeader), hex_encode(sig)}};
}

void remove_access_headers(http::Headers& headers) {
  std::erase_if(headers, [](const http::Header& h) {
    return http::iequals(h.name, kAccountHeader) || http::iequals(h.name, kTimeHeader) ||
           http::iequals(h.name, kNonceHeader) || http::iequals(h.name, kSignatureHeader);
  });
}

AccessGuard::AccessGuard(ledger::ServeRule rule, ServiceBinding service, AccessOptions options)
    : rule_(std::move(rule)), service_(service), options_(options) {}

std::expected<std::optional<ledger::AccountId>, http::Response> AccessGuard::check(
    const http::Request& request, system_clock::time_point now) {
  const auto account_text = request.header(kAccountHeader);
  const auto time_text = request.header(kTimeHeader);
  const auto nonce_text = request.header(kNonceHeader);
  const auto sig_text = request.header(kSignatureHeader);
  if (!account_text && !time_text && !nonce_text && !sig_text) {
    if (rule_.access == ledger::ServiceAccess::Public) return std::nullopt;
    return refuse(401, "unauthenticated",
                  "this service serves only the accounts its order lists: sign requests with your party key "
                  "(ward proxy --key)");
  }
  if (!account_text || !time_text || !nonce_text || !sig_text)
    return refuse(401, "unauthenticated",
                  "a signed request needs Ward-Account, Ward-Time, Ward-Nonce and Ward-Signature");
  const auto account = fixed_hex<32>(*account_text);
  const auto nonce = fixed_hex<16>(*nonce_text);
  const auto sig = fixed_hex<64>(*sig_text);
  const auto time = parse_decimal(*time_text);
  if (!account || !nonce || !sig || !time)
    return refuse(401, "unauthenticated",
                  "a Ward-* header is malformed (hex of the right length, a decimal time)");
  const auto at = system_clock::time_point(std::chrono::seconds(*time));
  if (at < now - options_.window || at > now + options_.window)
    return refuse(401, "unauthenticated",
                  "the request's time is more than " + std::to_string(options_.window.count()) +
                      " s from the gateway's clock");
  if (!crypto::ed25519_verify(*account,
                              as_bytes(request_signing_bytes(request.method, request.target, service_, *time,
                                                             *nonce_text, request.body)),
                              *sig))
    return refuse(401, "unauthenticated",
                  "the request's signature does not verify for this method, target, body and service");
  if (rule_.access == ledger::ServiceAccess::Accounts &&
      std::find(rule_.accounts.begin(), rule_.accounts.end(), *account) == rule_.accounts.end())
    return refuse(403, "not_allowed",
                  "account " + hex_encode(*account).substr(0, 16) + " is not one this service serves");
  std::lock_guard lock(mutex_);
  while (!expiry_.empty() && expiry_.begin()->first <= now) {
    seen_.erase(expiry_.begin()->second);
    expiry_.erase(expiry_.begin());
  }
  Seen key{*account, std::string(*nonce_text)};
  if (seen_.contains(key)) return refuse(401, "replayed", "this request's nonce was already used: a replay");
  if (seen_.size() >= options_.max_remembered)
    return refuse(503, "busy", "too many recent requests to remember their nonces; retry shortly");
  // A nonce is kept until its time can no longer pass the window check.
  seen_.insert(key);
  expiry_.emplace(at + options_.window + std::chrono::seconds(1), std::move(key));
  return *account;
}

}  // namespace ward::serve
