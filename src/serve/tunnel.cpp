#include "serve/tunnel.h"

#include <poll.h>

#include <algorithm>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <utility>

#include "base/bytes.h"
#include "http/server.h"
#include "serve/certificate.h"
#include "serve/verify.h"

namespace ward::serve {
namespace {

using std::chrono::system_clock;

// How long a tunnel's connect and handshake may take, and how long a relay
// waits for the other side to take what it writes.
constexpr std::chrono::seconds kTunnelTimeout{10};
constexpr int kPollMs = 200;

std::string short_hex(ByteView bytes) {
  return hex_encode(bytes).substr(0, 16);
}

// Waits up to kPollMs for `fd` to be readable; false when it is not.
bool readable(int fd) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, kPollMs) > 0;
}

}  // namespace

TunnelPeer verify_tunnel_peer(std::span<const crypto::Certificate> chain, const TunnelTrust& trust,
                              system_clock::time_point at) {
  TunnelPeer out;
  if (!check_tls_chain(out.appraisal.checks, chain, at)) return out;
  out.cvm_certificate = chain[1];
  if (trust.policies.empty()) {
    out.appraisal.checks.fail("tunnel.policy", "no attestation policy to hold the peer to");
    return out;
  }
  for (const auto& policy : trust.policies) {
    auto cvm = ca::verify_cvm_certificate(chain[1], trust.ca, policy, at);
    out.cvm = cvm.cvm;
    out.appraisal.continue_with(std::move(cvm.appraisal));
    if (!out.accepted()) return out;
  }
  attest::Checks& c = out.appraisal.checks;
  auto claims = read_service_certificate(chain[0]);
  if (!claims) {
    c.fail("tunnel.claims", claims.error().message);
    return out;
  }
  c.pass("tunnel.claims", "order " + std::to_string(claims->order) + " on ledger " +
                              short_hex(claims->ledger) + ", engine " + claims->engine);
  const TunnelOrder& want = trust.order;
  if (claims->ledger != want.ledger) {
    c.fail("tunnel.order", "the peer's tunnel is for ledger " + hex_encode(claims->ledger) + ", not " +
                               hex_encode(want.ledger));
    return out;
  }
  if (claims->order != want.order) {
    c.fail("tunnel.order", "the peer's tunnel is for order " + std::to_string(claims->order) +
                               ", not order " + std::to_string(want.order));
    return out;
  }
  if (claims->engine != want.engine || !claims->inputs.empty()) {
    c.fail("tunnel.order", "the peer's tunnel certificate names engine " + claims->engine + " and " +
                               std::to_string(claims->inputs.size()) + " inputs, not the order's engine " +
                               want.engine + " and none");
    return out;
  }
  c.pass("tunnel.order", "order " + std::to_string(want.order) + ", engine " + want.engine);
  const bool member = std::ranges::find(trust.members, out.cvm->id) != trust.members.end();
  c.pass_if("tunnel.member", member,
            member ? "CVM " + out.cvm->id_hex() + " is one the order lists here"
                   : "CVM " + out.cvm->id_hex() + " is not a CVM of order " + std::to_string(want.order) +
                         " that may be at this end");
  return out;
}

Result<TlsIdentity> tunnel_identity(const TunnelOrder& order, const crypto::Ed25519PrivateKey& cvm_key,
                                    const crypto::Certificate& cvm_cert, std::chrono::seconds lifetime) {
  const auto now = std::chrono::floor<std::chrono::seconds>(system_clock::now());
  const ServiceClaims claims{order.ledger, order.order, order.engine, {}};
  auto issued =
      issue_service_certificate(claims, cvm_key, cvm_cert, now - std::chrono::minutes(5), now + lifetime);
  if (!issued) return std::unexpected(issued.error());
  return TlsIdentity{std::move(issued->key), {std::move(issued->certificate), cvm_cert}};
}

Result<std::pair<std::string, int>> split_endpoint(std::string_view endpoint) {
  const auto bad = [&] {
    return fail("serve.tunnel", "bad tunnel endpoint '" + std::string(endpoint) + "' (expected HOST:PORT)");
  };
  const auto colon = endpoint.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return bad();
  std::string host(endpoint.substr(0, colon));
  if (host.front() == '[') {
    if (host.size() < 3 || host.back() != ']') return bad();
    host = host.substr(1, host.size() - 2);
  }
  const std::string_view digits = endpoint.substr(colon + 1);
  if (digits.empty() || digits.size() > 5 ||
      !std::ranges::all_of(digits, [](char ch) { return ch >= '0' && ch <= '9'; }))
    return bad();
  const int port = std::stoi(std::string(digits));
  if (port < 1 || port > 65535) return bad();
  return std::pair{host, port};
}

// ---- TunnelServer ----

TunnelServer::TunnelServer(TlsIdentity identity, TunnelTrust trust, Dial dial, TunnelLog log)
    : identity_(std::move(identity)),
      trust_(std::move(trust)),
      dial_(std::move(dial)),
      log_(std::move(log)) {}

TunnelServer::~TunnelServer() {
  stop();
}

Result<int> TunnelServer::start(const std::string& host, int port) {
  auto listener = http::listen_tcp(host, port);
  if (!listener) return fail("serve.tunnel", listener.error().message);
  listener_ = std::move(listener->fd);
  acceptor_ = std::thread([this] { accept_loop(); });
  return listener->port;
}

void TunnelServer::stop() {
  stop_ = true;
  if (acceptor_.joinable()) acceptor_.join();
  std::list<std::thread> threads;
  {
    std::lock_guard lock(mu_);
    threads.swap(threads_);
  }
  for (auto& t : threads) t.join();
  listener_.reset();
}

void TunnelServer::accept_loop() {
  while (!stop_.load()) {
    if (!readable(listener_.get())) continue;
    UniqueFd fd(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!fd) continue;
    std::lock_guard lock(mu_);
    threads_.emplace_back([this, fd = std::move(fd)]() mutable { relay(std::move(fd)); });
  }
}

void TunnelServer::relay(UniqueFd fd) {
  auto stream = TlsStream::accept(std::move(fd), identity_, kTunnelTimeout);
  if (!stream) {
    ++refused_;
    log_("refused a tunnel: " + stream.error().message);
    return;
  }
  const TunnelPeer peer = verify_tunnel_peer((*stream)->peer_chain(), trust_, trust_.clock());
  if (!peer.accepted()) {
    ++refused_;
    log_("refused a tunnel peer: " + peer.appraisal.checks.first_failure_text());
    return;
  }
  ++accepted_;
  auto local = dial_();
  if (!local) {
    log_("a tunnel from CVM " + short_hex(peer.cvm->id) + " has nothing to reach: " + local.error().message);
    return;
  }
  auto ended = (*stream)->splice(local->get(), stop_, &traffic_);
  if (!ended) log_("the tunnel from CVM " + short_hex(peer.cvm->id) + " broke: " + ended.error().message);
}

// ---- TunnelClient ----

TunnelClient::TunnelClient(TlsIdentity identity, TunnelTrust trust, TunnelLog log)
    : identity_(std::move(identity)), trust_(std::move(trust)), log_(std::move(log)) {}

TunnelClient::~TunnelClient() {
  stop();
}

Result<std::unique_ptr<TlsStream>> TunnelClient::open(const std::string& endpoint,
                                                      const ledger::CvmId& worker, TunnelPeer* peer) {
  const std::string who = "worker CVM " + short_hex(worker) + " at " + endpoint;
  auto where = split_endpoint(endpoint);
  if (!where) return std::unexpected(where.error());
  auto stream = TlsStream::connect(where->first, where->second, kTunnelTimeout, &identity_);
  if (!stream) return fail("serve.tunnel", who + ": " + stream.error().message);
  TunnelTrust trust = trust_;
  trust.members = {worker};
  TunnelPeer verified = verify_tunnel_peer((*stream)->peer_chain(), trust, trust.clock());
  if (!verified.accepted())
    return fail("serve.tunnel", who + ": " + verified.appraisal.checks.first_failure_text());
  if (peer != nullptr) *peer = std::move(verified);
  return stream;
}

Result<TunnelPeer> TunnelClient::probe(const std::string& endpoint, const ledger::CvmId& worker) {
  TunnelPeer peer;
  auto stream = open(endpoint, worker, &peer);
  if (!stream) return std::unexpected(stream.error());
  return peer;
}

void TunnelClient::serve(UniqueFd listener, const std::string& endpoint, const ledger::CvmId& worker) {
  std::lock_guard lock(mu_);
  const int fd = listener.get();
  listeners_.push_back(std::move(listener));
  threads_.emplace_back([this, fd, endpoint, worker] { accept_loop(fd, endpoint, worker); });
}

std::optional<std::string> TunnelClient::lost() const {
  std::lock_guard lock(mu_);
  return lost_;
}

void TunnelClient::stop() {
  stop_ = true;
  for (;;) {
    std::list<std::thread> threads;
    {
      std::lock_guard lock(mu_);
      threads.swap(threads_);
    }
    if (threads.empty()) break;
    for (auto& t : threads) t.join();
  }
  std::lock_guard lock(mu_);
  listeners_.clear();
}

void TunnelClient::lose(const std::string& why) {
  {
    std::lock_guard lock(mu_);
    if (!lost_) lost_ = why;
  }
  log_(why);
}

void TunnelClient::accept_loop(int listener, std::string endpoint, ledger::CvmId worker) {
  while (!stop_.load()) {
    if (!readable(listener)) continue;
    UniqueFd local(::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC));
    if (!local) continue;
    // RPC is small messages answered one by one: none may wait for Nagle.
    const int one = 1;
    ::setsockopt(local.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    std::lock_guard lock(mu_);
    if (stop_.load()) break;
    threads_.emplace_back([this, local = std::move(local), endpoint, worker]() mutable {
      relay(std::move(local), endpoint, worker);
    });
  }
}

void TunnelClient::relay(UniqueFd local, const std::string& endpoint, const ledger::CvmId& worker) {
  auto stream = open(endpoint, worker, nullptr);
  if (!stream) {
    if (!stop_.load()) lose(stream.error().message);
    return;
  }
  auto ended = (*stream)->splice(local.get(), stop_);
  if (stop_.load()) return;
  const std::string who = "worker CVM " + short_hex(worker) + " at " + endpoint;
  if (!ended) {
    lose(who + ": the tunnel broke: " + ended.error().message);
  } else if (*ended == TlsStream::Ended::ByPeer) {
    lose(who + " closed the tunnel");
  }
}

}  // namespace ward::serve
