// The attested overlay of a split service order (docs/serving.md, "Split
// inference"): mutually authenticated TLS 1.3 tunnels between the loaders of
// the order's CVMs, which carry the engine's own protocol (llama.cpp's RPC)
// from a port inside one CVM's sandbox to a port inside another's. The plain
// protocol never crosses a socket the host can see.
//
// Each end presents [tunnel certificate, CVM certificate]: the tunnel
// certificate is a service certificate (certificate.h) that the CVM's key
// issued for this order, naming no inputs. Each end accepts the other only
// when its CVM certificate verifies under the certification center with
// evidence meeting every policy it is given, its tunnel certificate names the
// same order on the same ledger running the same engine, and its CVM is one
// the order lists where this end expects it (the head for a worker; the one
// worker that published the endpoint for the head).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "attest/appraisal.h"
#include "attest/policy.h"
#include "base/error.h"
#include "base/unique_fd.h"
#include "ca/certificate.h"
#include "crypto/keys.h"
#include "crypto/x509.h"
#include "ledger/tx.h"
#include "serve/tls.h"

namespace ward::serve {

// What both ends of a tunnel belong to.
struct TunnelOrder {
  ledger::LedgerId ledger{};
  std::uint64_t order = 0;
  std::string engine;  // "sha256:<hex>"
};

// What one end requires of the other.
struct TunnelTrust {
  crypto::Certificate ca;                // the certification center's certificate
  std::vector<attest::Policy> policies;  // the peer's evidence must meet every one (at least one)
  TunnelOrder order;
  std::vector<ledger::CvmId> members;  // the CVMs the peer may be
  // The time peers are verified at (tests fix it).
  std::function<std::chrono::system_clock::time_point()> clock = [] {
    return std::chrono::system_clock::now();
  };
};

struct TunnelPeer {
  // Checks in order, the first failure ending them: "tls.chain", those of
  // ca::verify_cvm_certificate under each policy, "tunnel.claims",
  // "tunnel.order", "tunnel.member".
  attest::Appraisal appraisal;
  std::optional<ca::CvmIdentity> cvm;                  // once its CVM certificate's extensions parse
  std::optional<crypto::Certificate> cvm_certificate;  // once the chain has one

  bool accepted() const { return appraisal.accepted(); }
};

// Verifies the chain a tunnel's peer presented (leaf first) at `at`.
TunnelPeer verify_tunnel_peer(std::span<const crypto::Certificate> chain, const TunnelTrust& trust,
                              std::chrono::system_clock::time_point at);

// This end's identity for `order`: a fresh P-256 key and its tunnel
// certificate, issued by `cvm_key` (whose certificate `cvm_cert` is), valid
// for `lifetime` from now, presented with the CVM certificate.
Result<TlsIdentity> tunnel_identity(const TunnelOrder& order, const crypto::Ed25519PrivateKey& cvm_key,
                                    const crypto::Certificate& cvm_cert, std::chrono::seconds lifetime);

// "HOST:PORT" (an IPv6 host in brackets) split, for an endpoint a worker
// published. Errors: "serve.tunnel".
Result<std::pair<std::string, int>> split_endpoint(std::string_view endpoint);

using TunnelLog = std::function<void(const std::string&)>;

// A worker's end: accepts connections, verifies each peer, closes those
// that fail with the reason logged, and relays each verified one to a new
// connection that `dial` makes (the engine inside the sandbox).
class TunnelServer {
 public:
  using Dial = std::function<Result<UniqueFd>()>;
  TunnelServer(TlsIdentity identity, TunnelTrust trust, Dial dial, TunnelLog log);
  ~TunnelServer();
  TunnelServer(const TunnelServer&) = delete;
  TunnelServer& operator=(const TunnelServer&) = delete;

  // Listens on HOST:PORT (0: any free port) and returns the port. Errors:
  // "serve.tunnel".
  Result<int> start(const std::string& host, int port);
  // Closes the listener and every tunnel, and waits for their threads.
  void stop();
  std::uint64_t accepted() const { return accepted_.load(); }
  std::uint64_t refused() const { return refused_.load(); }
  // Bytes relayed so far: from_peer from the head to the engine, to_peer back.
  const TlsStream::Traffic& traffic() const { return traffic_; }

 private:
  void accept_loop();
  void relay(UniqueFd fd);

  TlsIdentity identity_;
  TunnelTrust trust_;
  Dial dial_;
  TunnelLog log_;
  UniqueFd listener_;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> accepted_{0}, refused_{0};
  TlsStream::Traffic traffic_;
  std::mutex mu_;
  std::list<std::thread> threads_;
  std::thread acceptor_;
};

// The head's end: each connection the engine makes to a listener (a socket
// inside its sandbox, one per worker) goes through a new tunnel to that
// worker's endpoint, whose peer must verify as that worker. A worker that
// cannot be reached or verified, or that ends or breaks a tunnel, is lost:
// lost() says which and why, and the order cannot go on without it.
class TunnelClient {
 public:
  TunnelClient(TlsIdentity identity, TunnelTrust trust, TunnelLog log);
  ~TunnelClient();
  TunnelClient(const TunnelClient&) = delete;
  TunnelClient& operator=(const TunnelClient&) = delete;

  // One tunnel to `worker` at `endpoint`, verified and then closed: what
  // the head checks before its engine starts. An error is "serve.tunnel"
  // naming the failed check.
  Result<TunnelPeer> probe(const std::string& endpoint, const ledger::CvmId& worker);
  // Serves `listener` for `worker` at `endpoint` until stop().
  void serve(UniqueFd listener, const std::string& endpoint, const ledger::CvmId& worker);
  std::optional<std::string> lost() const;
  void stop();

 private:
  Result<std::unique_ptr<TlsStream>> open(const std::string& endpoint, const ledger::CvmId& worker,
                                          TunnelPeer* peer);
  void accept_loop(int listener, std::string endpoint, ledger::CvmId worker);
  void relay(UniqueFd local, const std::string& endpoint, const ledger::CvmId& worker);
  void lose(const std::string& why);

  TlsIdentity identity_;
  TunnelTrust trust_;
  TunnelLog log_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  std::optional<std::string> lost_;
  std::vector<UniqueFd> listeners_;
  std::list<std::thread> threads_;
};

}  // namespace ward::serve
