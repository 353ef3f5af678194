// TLS 1.3 for serving (OpenSSL 3): the gateway's server side, a Transport
// for http::Server whose chain can be rotated while connections stay open,
// and the client's blocking stream. Neither side trusts anything by itself:
// the client takes whatever chain the server proves it holds the key of, and
// verify.h decides whether that chain is acceptable.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string_view>
#include <vector>

#include <openssl/types.h>

#include "base/error.h"
#include "base/unique_fd.h"
#include "crypto/ecdsa.h"
#include "crypto/x509.h"
#include "http/transport.h"
#include "serve/stream.h"

namespace ward::serve {

// One TLS key and its current chain (the leaf first). Thread-safe: the
// server's loop makes transports while another thread rotates the chain.
class TlsServerContext : public std::enable_shared_from_this<TlsServerContext> {
 public:
  // `chain` must start with `key`'s certificate. Errors: "serve.tls".
  static Result<std::shared_ptr<TlsServerContext>> create(const crypto::EcPrivateKey& key,
                                                          std::vector<crypto::Certificate> chain);

  // Rotation: handshakes from now on present `chain`, whose leaf must
  // certify the same key; connections already open keep what they have.
  Result<void> update(std::vector<crypto::Certificate> chain);

  // Non-blocking TLS over each accepted socket, for ServerOptions::transport.
  // The transports share this context's state as of their accept.
  http::TransportFactory transport();

 private:
  explicit TlsServerContext(crypto::EcPrivateKey key) : key_(std::move(key)) {}
  Result<std::shared_ptr<SSL_CTX>> make_ctx(const std::vector<crypto::Certificate>& chain) const;
  std::shared_ptr<SSL_CTX> current() const;

  crypto::EcPrivateKey key_;
  mutable std::mutex mu_;
  std::shared_ptr<SSL_CTX> ctx_;
};

// A TLS key and the chain it is presented with (its certificate first): one
// end's identity in a mutually authenticated connection (tunnel.h).
struct TlsIdentity {
  crypto::EcPrivateKey key;
  std::vector<crypto::Certificate> chain;
};

// A blocking TLS 1.3 connection. Errors: "serve.tls" for the connect
// and the handshake and for a broken TLS record layer; "serve.io" (stream.h)
// for a reset, "serve.timeout" for no progress within the timeout.
class TlsStream final : public Stream {
 public:
  // Connects to HOST:PORT and completes the handshake within `timeout`,
  // sending no application data. Each later read or write times out after
  // `timeout` without progress. With `identity`, presents its chain when the
  // server asks for a client certificate.
  static Result<std::unique_ptr<TlsStream>> connect(std::string_view host, int port,
                                                    std::chrono::milliseconds timeout,
                                                    const TlsIdentity* identity = nullptr);
  // The server side of a mutually authenticated connection on an accepted
  // socket: presents `identity`'s chain, and completes the handshake within
  // `timeout` only when the client presents a chain and proves it holds its
  // leaf's key. Whether that chain is acceptable is the caller's decision
  // (tunnel.h), as for a client's.
  static Result<std::unique_ptr<TlsStream>> accept(UniqueFd fd, const TlsIdentity& identity,
                                                   std::chrono::milliseconds timeout);
  ~TlsStream() override;
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;

  // The certificates the peer sent, its leaf first.
  std::vector<crypto::Certificate> peer_chain() const { return chain_; }

  Result<std::size_t> read(std::span<char> into) override;
  Result<void> write_all(std::string_view data) override;

  // Relays bytes both ways between this connection and `plain` (a connected
  // stream socket, not owned), each chunk as soon as it arrives, until either
  // side closes, fails, or `stop` is set (looked at every 200 ms). Returns
  // which side ended it; an error names the side that failed. Adds the bytes
  // relayed each way to `traffic`, when given, as they go.
  enum class Ended { ByPeer, ByPlain, Stopped };
  struct Traffic {
    std::atomic<std::uint64_t> from_peer{0}, to_peer{0};
  };
  Result<Ended> splice(int plain, const std::atomic<bool>& stop, Traffic* traffic = nullptr);

 private:
  TlsStream(UniqueFd fd, SSL* ssl, std::chrono::milliseconds timeout);
  // Completes the handshake by `deadline` and keeps the peer's chain.
  Result<void> handshake(std::chrono::steady_clock::time_point deadline, const std::string& where);

  UniqueFd fd_;
  SSL* ssl_;
  std::chrono::milliseconds timeout_;
  std::vector<crypto::Certificate> chain_;
};

}  // namespace ward::serve
