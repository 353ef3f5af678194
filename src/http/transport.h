// The byte stream under one connection. The server's loop only ever calls
// these non-blocking; plain TCP is here, and a TLS transport (OpenSSL on a
// non-blocking socket: SSL_do_handshake, SSL_read, SSL_write) slots in
// through ServerOptions::transport without the loop changing.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <span>

namespace ward::http {

struct IoResult {
  enum class Status {
    Ok,          // `bytes` moved (more than 0)
    WouldBlock,  // nothing now; wait for the socket as `want_write` says
    Closed,      // the peer ended the stream cleanly
    Failed,      // the connection is broken
  };
  Status status = Status::Ok;
  std::size_t bytes = 0;
  // With WouldBlock: TLS may need the socket writable to read, or readable
  // to write; plain TCP waits for the direction it was called for.
  bool want_write = false;
};

class Transport {
 public:
  virtual ~Transport() = default;
  // Advances the opening handshake: Ok once done (at once for plain TCP).
  virtual IoResult handshake() { return {IoResult::Status::Ok, 0, false}; }
  virtual IoResult read(std::span<char> into) = 0;
  virtual IoResult write(std::span<const char> from) = 0;
  // Ends our sending side (a TLS close_notify, then a TCP FIN); best effort.
  virtual void shutdown_write() = 0;
};

// Makes the transport of an accepted socket. The server keeps owning `fd`
// and closes it after the transport is destroyed.
using TransportFactory = std::function<std::unique_ptr<Transport>(int fd)>;

std::unique_ptr<Transport> plain_transport(int fd);

}  // namespace ward::http
