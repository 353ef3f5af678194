#include "serve/tls.h"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string>
#include <sys/socket.h>
#include <utility>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

namespace ward::serve {
namespace {

using Clock = std::chrono::steady_clock;
using http::IoResult;

std::string openssl_reason() {
  const unsigned long first = ERR_get_error();
  ERR_clear_error();
  if (first == 0) return "no detail from OpenSSL";
  const char* reason = ERR_reason_error_string(first);
  return reason != nullptr ? reason : "unknown OpenSSL error";
}

// OpenSSL's socket BIO writes with write(2), which raises SIGPIPE on a peer
// gone away; this one sends with MSG_NOSIGNAL so that is an error value, as
// in http's plain transport. Everything else is the socket BIO's.
int send_nosignal(BIO* bio, const char* data, int size) {
  const ssize_t n = ::send(BIO_get_fd(bio, nullptr), data, static_cast<std::size_t>(size), MSG_NOSIGNAL);
  BIO_clear_retry_flags(bio);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) BIO_set_retry_write(bio);
  return static_cast<int>(n);
}

const BIO_METHOD* nosignal_socket_method() {
  static const BIO_METHOD* const method = [] {
    const BIO_METHOD* socket = BIO_s_socket();
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR,
                                 "socket without SIGPIPE");
    if (m == nullptr || BIO_meth_set_write(m, send_nosignal) != 1 ||
        BIO_meth_set_read(m, BIO_meth_get_read(socket)) != 1 ||
        BIO_meth_set_puts(m, BIO_meth_get_puts(socket)) != 1 ||
        BIO_meth_set_ctrl(m, BIO_meth_get_ctrl(socket)) != 1 ||
        BIO_meth_set_create(m, BIO_meth_get_create(socket)) != 1 ||
        BIO_meth_set_destroy(m, BIO_meth_get_destroy(socket)) != 1) {
      throw std::bad_alloc();
    }
    return m;
  }();
  return method;
}

// Attaches `fd` (not owned) to `ssl` for both directions.
bool attach_socket(SSL* ssl, int fd) {
  BIO* bio = BIO_new(nosignal_socket_method());
  if (bio == nullptr) return false;
  BIO_set_fd(bio, fd, BIO_NOCLOSE);
  SSL_set_bio(ssl, bio, bio);
  return true;
}

bool tls13_only(SSL_CTX* ctx) {
  return SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) == 1 &&
         SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) == 1;
}

// A server's: TLS 1.3 only, and every connection shows the full chain (a
// resumed session would skip the certificates a client verifies).
bool server_defaults(SSL_CTX* ctx) {
  if (!tls13_only(ctx)) return false;
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_num_tickets(ctx, 0);
  SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
  return true;
}

// ---- server ----

class TlsTransport final : public http::Transport {
 public:
  explicit TlsTransport(SSL* ssl) : ssl_(ssl) {}
  ~TlsTransport() override { SSL_free(ssl_); }
  TlsTransport(const TlsTransport&) = delete;
  TlsTransport& operator=(const TlsTransport&) = delete;

  IoResult handshake() override {
    ERR_clear_error();
    const int r = SSL_do_handshake(ssl_);
    if (r == 1) return {IoResult::Status::Ok, 0, false};
    return status_of(r);
  }

  IoResult read(std::span<char> into) override {
    ERR_clear_error();
    std::size_t n = 0;
    const int r = SSL_read_ex(ssl_, into.data(), into.size(), &n);
    if (r == 1) return {IoResult::Status::Ok, n, false};
    return status_of(r);
  }

  IoResult write(std::span<const char> from) override {
    ERR_clear_error();
    std::size_t n = 0;
    const int r = SSL_write_ex(ssl_, from.data(), from.size(), &n);
    if (r == 1) return {IoResult::Status::Ok, n, false};
    return status_of(r);
  }

  void shutdown_write() override {
    ERR_clear_error();
    SSL_shutdown(ssl_);  // our close_notify; the peer's is not waited for
    ERR_clear_error();
    ::shutdown(SSL_get_fd(ssl_), SHUT_WR);
  }

 private:
  IoResult status_of(int r) {
    const int error = SSL_get_error(ssl_, r);
    // The loop thread serves every connection: leave nothing queued that a
    // later call for another one would read as its own error.
    ERR_clear_error();
    switch (error) {
      case SSL_ERROR_WANT_READ:
        return {IoResult::Status::WouldBlock, 0, false};
      case SSL_ERROR_WANT_WRITE:
        return {IoResult::Status::WouldBlock, 0, true};
      case SSL_ERROR_ZERO_RETURN:
        return {IoResult::Status::Closed, 0, false};
      default:
        return {IoResult::Status::Failed, 0, false};
    }
  }

  SSL* ssl_;
};

// ---- client ----

Result<void> wait_for(int fd, bool want_write, Clock::time_point deadline, const char* code) {
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return fail("serve.timeout", "timed out");
    pollfd p{fd, static_cast<short>(want_write ? POLLOUT : POLLIN), 0};
    const int r = ::poll(&p, 1, static_cast<int>(left));
    if (r > 0) return {};
    if (r < 0 && errno != EINTR) return fail(code, std::string("poll failed: ") + std::strerror(errno));
  }
}

// A non-blocking TCP socket connected to HOST:PORT by `deadline`.
Result<UniqueFd> connect_socket(const std::string& host, int port, Clock::time_point deadline) {
  const std::string where = host + ":" + std::to_string(port);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  if (const int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &found); rc != 0)
    return fail("serve.tls", "cannot resolve " + where + ": " + ::gai_strerror(rc));
  const std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> owned(found, ::freeaddrinfo);
  std::string why = "no address";
  for (const addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
    UniqueFd fd(::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol));
    if (!fd) continue;
    if (::connect(fd.get(), ai->ai_addr, ai->ai_addrlen) != 0) {
      if (errno != EINPROGRESS) {
        why = std::strerror(errno);
        continue;
      }
      if (auto waited = wait_for(fd.get(), true, deadline, "serve.tls"); !waited) {
        why = waited.error().message;
        continue;
      }
      int error = 0;
      socklen_t len = sizeof error;
      ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &error, &len);
      if (error != 0) {
        why = std::strerror(error);
        continue;
      }
    }
    // Requests are relayed as they come: small writes must not wait for Nagle.
    const int one = 1;
    ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
  }
  return fail("serve.tls", "cannot connect to " + where + ": " + why);
}

SSL_CTX* client_ctx() {
  static SSL_CTX* const ctx = [] {
    SSL_CTX* c = SSL_CTX_new(TLS_client_method());
    if (c == nullptr || !tls13_only(c)) throw std::bad_alloc();
    // OpenSSL checks the handshake's signature with the leaf's key whatever
    // the mode; whether that leaf is to be trusted is verify.h's decision,
    // never the system store's.
    SSL_CTX_set_verify(c, SSL_VERIFY_NONE, nullptr);
    SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
    return c;
  }();
  return ctx;
}

bool is_ip_literal(const std::string& host) {
  in6_addr scratch{};
  return ::inet_pton(AF_INET, host.c_str(), &scratch) == 1 ||
         ::inet_pton(AF_INET6, host.c_str(), &scratch) == 1;
}

}  // namespace

// ---- TlsServerContext ----

Result<std::shared_ptr<SSL_CTX>> TlsServerContext::make_ctx(
    const std::vector<crypto::Certificate>& chain) const {
  if (chain.empty()) return fail("serve.tls", "the certificate chain is empty");
  if (EVP_PKEY_eq(chain.front().public_key(), key_.evp()) != 1)
    return fail("serve.tls", "the chain's leaf does not certify the TLS key");
  std::shared_ptr<SSL_CTX> ctx(SSL_CTX_new(TLS_server_method()), SSL_CTX_free);
  if (!ctx || !server_defaults(ctx.get()))
    return fail("serve.tls", "cannot make a TLS context: " + openssl_reason());
  // The server's loop appends to its buffer while a write waits to be retried.
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  bool ok = SSL_CTX_use_certificate(ctx.get(), chain.front().native()) == 1 &&
            SSL_CTX_use_PrivateKey(ctx.get(), key_.evp()) == 1 && SSL_CTX_check_private_key(ctx.get()) == 1;
  for (std::size_t i = 1; ok && i < chain.size(); ++i)
    ok = SSL_CTX_add1_chain_cert(ctx.get(), chain[i].native()) == 1;
  if (!ok) return fail("serve.tls", "cannot load the certificate chain: " + openssl_reason());
  return ctx;
}

Result<std::shared_ptr<TlsServerContext>> TlsServerContext::create(const crypto::EcPrivateKey& key,
                                                                   std::vector<crypto::Certificate> chain) {
  std::shared_ptr<TlsServerContext> context(new TlsServerContext(key));
  if (auto ok = context->update(std::move(chain)); !ok) return std::unexpected(ok.error());
  return context;
}

Result<void> TlsServerContext::update(std::vector<crypto::Certificate> chain) {
  auto ctx = make_ctx(chain);
  if (!ctx) return std::unexpected(ctx.error());
  const std::lock_guard lock(mu_);
  ctx_ = std::move(*ctx);
  return {};
}

std::shared_ptr<SSL_CTX> TlsServerContext::current() const {
  const std::lock_guard lock(mu_);
  return ctx_;
}

http::TransportFactory TlsServerContext::transport() {
  return [self = shared_from_this()](int fd) -> std::unique_ptr<http::Transport> {
    // SSL_new copies the context's certificates and holds a reference to it,
    // so a later update() leaves this connection as it is.
    SSL* ssl = SSL_new(self->current().get());
    if (ssl == nullptr) throw std::bad_alloc();
    auto transport = std::make_unique<TlsTransport>(ssl);
    if (!attach_socket(ssl, fd)) throw std::bad_alloc();
    SSL_set_accept_state(ssl);
    return transport;
  };
}

// ---- TlsStream ----

TlsStream::TlsStream(UniqueFd fd, SSL* ssl, std::chrono::milliseconds timeout)
    : fd_(std::move(fd)), ssl_(ssl), timeout_(timeout) {}

TlsStream::~TlsStream() {
  SSL_free(ssl_);
}

Result<void> TlsStream::handshake(Clock::time_point deadline, const std::string& where) {
  for (;;) {
    ERR_clear_error();
    const int r = SSL_do_handshake(ssl_);
    if (r == 1) break;
    const int error = SSL_get_error(ssl_, r);
    if (error != SSL_ERROR_WANT_READ && error != SSL_ERROR_WANT_WRITE)
      return fail("serve.tls", "TLS handshake with " + where + " failed: " + openssl_reason());
    if (auto waited = wait_for(fd_.get(), error == SSL_ERROR_WANT_WRITE, deadline, "serve.tls"); !waited)
      return fail("serve.tls", "TLS handshake with " + where + ": " + waited.error().message);
  }
  // A client's chain as its peer sent it starts with the leaf; a server's
  // does not, so the leaf is taken on its own and never twice.
  std::vector<X509*> certs;
  X509* leaf = SSL_get0_peer_certificate(ssl_);
  if (leaf != nullptr) certs.push_back(leaf);
  const STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl_);
  for (int i = 0; chain != nullptr && i < sk_X509_num(chain); ++i) {
    X509* cert = sk_X509_value(chain, i);
    if (i == 0 && leaf != nullptr && X509_cmp(cert, leaf) == 0) continue;
    certs.push_back(cert);
  }
  for (X509* x : certs) {
    unsigned char* der = nullptr;
    const int size = i2d_X509(x, &der);
    if (size <= 0) throw std::bad_alloc();
    auto cert = crypto::Certificate::from_der(ByteView(der, static_cast<std::size_t>(size)));
    OPENSSL_free(der);
    if (!cert) return fail("serve.tls", "the peer at " + where + " sent a certificate that does not parse");
    chain_.push_back(std::move(*cert));
  }
  if (chain_.empty()) return fail("serve.tls", "the peer at " + where + " sent no certificate");
  return {};
}

namespace {

// Loads `identity` into `ssl`: its key, its certificate and the rest of its
// chain.
Result<void> use_identity(SSL* ssl, const TlsIdentity& identity) {
  if (identity.chain.empty()) return fail("serve.tls", "the certificate chain is empty");
  if (EVP_PKEY_eq(identity.chain.front().public_key(), identity.key.evp()) != 1)
    return fail("serve.tls", "the chain's leaf does not certify the TLS key");
  bool ok = SSL_use_certificate(ssl, identity.chain.front().native()) == 1 &&
            SSL_use_PrivateKey(ssl, identity.key.evp()) == 1 && SSL_check_private_key(ssl) == 1;
  for (std::size_t i = 1; ok && i < identity.chain.size(); ++i)
    ok = SSL_add1_chain_cert(ssl, identity.chain[i].native()) == 1;
  if (!ok) return fail("serve.tls", "cannot load the certificate chain: " + openssl_reason());
  return {};
}

// Accepts every chain during the handshake: OpenSSL still checks that the
// peer holds its leaf's key; the chain itself is judged after (tunnel.h).
int accept_any_chain(int, X509_STORE_CTX*) {
  return 1;
}

SSL_CTX* mutual_server_ctx() {
  static SSL_CTX* const ctx = [] {
    SSL_CTX* c = SSL_CTX_new(TLS_server_method());
    if (c == nullptr || !server_defaults(c)) throw std::bad_alloc();
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, accept_any_chain);
    return c;
  }();
  return ctx;
}

// Writes all of `data` to the non-blocking socket `fd` within `timeout` of
// no progress.
Result<void> send_all(int fd, std::string_view data, std::chrono::milliseconds timeout) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n > 0) {
      data.remove_prefix(static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (auto waited = wait_for(fd, true, Clock::now() + timeout, "serve.io"); !waited)
        return fail(waited.error().code, "writing to the local end " + waited.error().message);
      continue;
    }
    return fail("serve.io", std::string("writing to the local end failed: ") + std::strerror(errno));
  }
  return {};
}

}  // namespace

Result<std::unique_ptr<TlsStream>> TlsStream::connect(std::string_view host, int port,
                                                      std::chrono::milliseconds timeout,
                                                      const TlsIdentity* identity) {
  const std::string name(host);
  const auto deadline = Clock::now() + timeout;
  auto fd = connect_socket(name, port, deadline);
  if (!fd) return std::unexpected(fd.error());
  SSL* ssl = SSL_new(client_ctx());
  if (ssl == nullptr) throw std::bad_alloc();
  std::unique_ptr<TlsStream> stream(new TlsStream(std::move(*fd), ssl, timeout));
  if (!attach_socket(ssl, stream->fd_.get())) throw std::bad_alloc();
  if (identity != nullptr) {
    if (auto ok = use_identity(ssl, *identity); !ok) return std::unexpected(ok.error());
  }
  SSL_set_connect_state(ssl);
  if (!is_ip_literal(name) && SSL_set_tlsext_host_name(ssl, name.c_str()) != 1)
    return fail("serve.tls", "cannot name the server " + name + " in the handshake");
  if (auto ok = stream->handshake(deadline, name + ":" + std::to_string(port)); !ok)
    return std::unexpected(ok.error());
  return stream;
}

Result<std::unique_ptr<TlsStream>> TlsStream::accept(UniqueFd fd, const TlsIdentity& identity,
                                                     std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  const int flags = ::fcntl(fd.get(), F_GETFL);
  if (flags < 0 || ::fcntl(fd.get(), F_SETFL, flags | O_NONBLOCK) != 0)
    return fail("serve.tls", std::string("cannot make the socket non-blocking: ") + std::strerror(errno));
  const int one = 1;
  ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  std::string where = "a client";
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (::getpeername(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    char host[NI_MAXHOST], port[NI_MAXSERV];
    if (::getnameinfo(reinterpret_cast<sockaddr*>(&addr), len, host, sizeof host, port, sizeof port,
                      NI_NUMERICHOST | NI_NUMERICSERV) == 0)
      where = std::string(host) + ":" + port;
  }
  SSL* ssl = SSL_new(mutual_server_ctx());
  if (ssl == nullptr) throw std::bad_alloc();
  std::unique_ptr<TlsStream> stream(new TlsStream(std::move(fd), ssl, timeout));
  if (!attach_socket(ssl, stream->fd_.get())) throw std::bad_alloc();
  if (auto ok = use_identity(ssl, identity); !ok) return std::unexpected(ok.error());
  SSL_set_accept_state(ssl);
  if (auto ok = stream->handshake(deadline, where); !ok) return std::unexpected(ok.error());
  return stream;
}

Result<TlsStream::Ended> TlsStream::splice(int plain, const std::atomic<bool>& stop, Traffic* traffic) {
  const int flags = ::fcntl(plain, F_GETFL);
  if (flags < 0 || ::fcntl(plain, F_SETFL, flags | O_NONBLOCK) != 0)
    return fail("serve.io", std::string("cannot make the local end non-blocking: ") + std::strerror(errno));
  std::vector<char> buffer(64 * 1024);
  while (!stop.load()) {
    bool from_peer = SSL_pending(ssl_) > 0;
    bool from_plain = false;
    if (!from_peer) {
      pollfd p[2] = {{fd_.get(), POLLIN, 0}, {plain, POLLIN, 0}};
      const int r = ::poll(p, 2, 200);
      if (r < 0 && errno != EINTR)
        return fail("serve.io", std::string("poll failed: ") + std::strerror(errno));
      if (r <= 0) continue;
      from_peer = (p[0].revents & (POLLIN | POLLHUP | POLLERR)) != 0;
      from_plain = (p[1].revents & (POLLIN | POLLHUP | POLLERR)) != 0;
    }
    // Everything the peer's records hold now goes on at once; a partial
    // record waits for the next poll.
    while (from_peer) {
      ERR_clear_error();
      std::size_t n = 0;
      const int r = SSL_read_ex(ssl_, buffer.data(), buffer.size(), &n);
      if (r == 1) {
        if (auto sent = send_all(plain, std::string_view(buffer.data(), n), timeout_); !sent)
          return std::unexpected(sent.error());
        if (traffic != nullptr) traffic->from_peer += n;
        continue;
      }
      const int error = SSL_get_error(ssl_, r);
      if (error == SSL_ERROR_WANT_READ) break;
      if (error == SSL_ERROR_ZERO_RETURN) return Ended::ByPeer;
      if (error == SSL_ERROR_WANT_WRITE) {
        if (auto waited = wait_for(fd_.get(), true, Clock::now() + timeout_, "serve.io"); !waited)
          return fail(waited.error().code, "TLS read " + waited.error().message);
        continue;
      }
      if (error == SSL_ERROR_SYSCALL) return fail("serve.io", "the peer reset the TLS connection");
      return fail("serve.tls", "TLS read failed: " + openssl_reason());
    }
    if (from_plain) {
      const ssize_t n = ::recv(plain, buffer.data(), buffer.size(), 0);
      if (n == 0) {
        ERR_clear_error();
        SSL_shutdown(ssl_);
        ERR_clear_error();
        return Ended::ByPlain;
      }
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) continue;
        return fail("serve.io", std::string("reading the local end failed: ") + std::strerror(errno));
      }
      if (auto sent = write_all(std::string_view(buffer.data(), static_cast<std::size_t>(n))); !sent)
        return std::unexpected(sent.error());
      if (traffic != nullptr) traffic->to_peer += static_cast<std::uint64_t>(n);
    }
  }
  return Ended::Stopped;
}

Result<std::size_t> TlsStream::read(std::span<char> into) {
  for (;;) {
    ERR_clear_error();
    std::size_t n = 0;
    const int r = SSL_read_ex(ssl_, into.data(), into.size(), &n);
    if (r == 1) return n;
    const int error = SSL_get_error(ssl_, r);
    if (error == SSL_ERROR_ZERO_RETURN) return 0;
    if (error != SSL_ERROR_WANT_READ && error != SSL_ERROR_WANT_WRITE) {
      if (error == SSL_ERROR_SYSCALL) return fail("serve.io", "the TLS connection was reset");
      return fail("serve.tls", "TLS read failed: " + openssl_reason());
    }
    if (auto waited = wait_for(fd_.get(), error == SSL_ERROR_WANT_WRITE, Clock::now() + timeout_, "serve.io");
        !waited)
      return fail(waited.error().code, "TLS read " + waited.error().message);
  }
}

Result<void> TlsStream::write_all(std::string_view data) {
  while (!data.empty()) {
    ERR_clear_error();
    std::size_t n = 0;
    const int r = SSL_write_ex(ssl_, data.data(), data.size(), &n);
    if (r == 1) {
      data.remove_prefix(n);
      continue;
    }
    const int error = SSL_get_error(ssl_, r);
    if (error != SSL_ERROR_WANT_READ && error != SSL_ERROR_WANT_WRITE) {
      if (error == SSL_ERROR_SYSCALL) return fail("serve.io", "the TLS connection was reset");
      return fail("serve.tls", "TLS write failed: " + openssl_reason());
    }
    if (auto waited = wait_for(fd_.get(), error == SSL_ERROR_WANT_WRITE, Clock::now() + timeout_, "serve.io");
        !waited)
      return fail(waited.error().code, "TLS write " + waited.error().message);
  }
  return {};
}

}  // namespace ward::serve
