#include "serve/client.h"

#include <utility>

#include "base/decimal.h"
#include "serve/tls.h"

namespace ward::serve {

Result<Endpoint> parse_endpoint(std::string_view url) {
  const auto bad = [url](const std::string& why) {
    return fail("serve.url", "endpoint \"" + std::string(url.substr(0, 200)) + "\" " + why +
                                 " (expected https://HOST:PORT)");
  };
  constexpr std::string_view kScheme = "https://";
  if (!url.starts_with(kScheme)) return bad("is not an https URL");
  std::string_view rest = url.substr(kScheme.size());
  Endpoint out;
  std::string_view port;
  const bool bracketed = rest.starts_with('[');
  if (bracketed) {
    const auto close = rest.find(']');
    if (close == std::string_view::npos || rest.substr(close + 1, 1) != ":") return bad("has no port");
    out.host = std::string(rest.substr(1, close - 1));
    port = rest.substr(close + 2);
  } else {
    const auto colon = rest.rfind(':');
    if (colon == std::string_view::npos) return bad("has no port");
    out.host = std::string(rest.substr(0, colon));
    port = rest.substr(colon + 1);
  }
  // A bracketed host is an IPv6 address and may hold colons; no host has a path.
  if (out.host.empty() || out.host.find_first_of(bracketed ? "/[]?#@ " : "/[]:?#@ ") != std::string::npos)
    return bad("has no valid host");
  auto number = parse_decimal(port, 65535);
  if (!number || *number < 1) return bad("has no valid port");
  out.port = static_cast<int>(*number);
  return out;
}

std::string rejection_line(const EndpointVerification& verification) {
  const auto* failed = verification.appraisal.checks.first_failure();
  if (!failed) return "REJECTED: no check ran";
  return "REJECTED at " + failed->name + ": " + failed->detail;
}

Result<std::unique_ptr<VerifiedClient>> VerifiedClient::open(std::string_view url, ClientOptions options) {
  auto endpoint = parse_endpoint(url);
  if (!endpoint) return std::unexpected(endpoint.error());
  auto ledger = ledger::open_client(options.ledger);
  if (!ledger) return std::unexpected(ledger.error());
  return std::unique_ptr<VerifiedClient>(
      new VerifiedClient(std::move(*endpoint), std::move(options), std::move(*ledger)));
}

VerifiedClient::VerifiedClient(Endpoint endpoint, ClientOptions options,
                               std::unique_ptr<ledger::LedgerClient> ledger)
    : endpoint_(std::move(endpoint)),
      options_(std::move(options)),
      cache_(options_.cache_ttl),
      ledger_(std::move(ledger)) {}

std::shared_ptr<const EndpointVerification> VerifiedClient::check(
    const std::vector<crypto::Certificate>& chain, bool use_cache) {
  if (use_cache && !chain.empty()) {
    if (auto hit = cache_.find(chain.front())) {
      std::lock_guard lock(mutex_);
      last_ = hit;
      return hit;
    }
  }
  std::lock_guard lock(mutex_);
  EndpointVerification verified = verify_endpoint(chain, options_.ca_cert, options_.policy, *ledger_,
                                                  options_.pins, std::chrono::system_clock::now());
  std::shared_ptr<const EndpointVerification> out;
  if (verified.accepted() && !chain.empty()) {
    out = cache_.store(chain.front(), std::move(verified));
  } else {
    out = std::make_shared<const EndpointVerification>(std::move(verified));
  }
  last_ = out;
  return out;
}

Result<std::unique_ptr<Stream>> VerifiedClient::connect() {
  auto tls = TlsStream::connect(endpoint_.host, endpoint_.port, options_.timeout);
  if (!tls) return std::unexpected(tls.error());
  auto verification = check((*tls)->peer_chain(), true);
  if (!verification->accepted()) return fail("serve.verify", rejection_line(*verification));
  return std::unique_ptr<Stream>(std::move(*tls));
}

Result<std::shared_ptr<const EndpointVerification>> VerifiedClient::verify_now() {
  auto tls = TlsStream::connect(endpoint_.host, endpoint_.port, options_.timeout);
  if (!tls) return std::unexpected(tls.error());
  return check((*tls)->peer_chain(), false);
}

std::shared_ptr<const EndpointVerification> VerifiedClient::last_verification() const {
  std::lock_guard lock(mutex_);
  return last_;
}

Dialer VerifiedClient::dialer() {
  return [this] { return connect(); };
}

}  // namespace ward::serve
