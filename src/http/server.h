// The server every Ward HTTP service is built on: one event-loop thread
// (epoll, non-blocking sockets) reads requests, and only a complete request —
// head and body within the limits, before its deadline — goes to a fixed pool
// of handler threads. A slow or idle client therefore holds a socket, never a
// thread; the limits per peer and in total bound the sockets. Responses are
// written by the loop too, within a write timeout.
//
// Refusals the server makes itself (400, 408, 413, 431, 501, 503, ...) use
// Ward's shape, {"error": {"reason", "message"}}. Errors: "http.server".
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string_view>

#include "base/error.h"
#include "base/unique_fd.h"
#include "http/message.h"
#include "http/parser.h"
#include "http/transport.h"

namespace ward::http {

// Runs on a pool thread, possibly several at once: must be thread-safe.
// An exception it throws becomes a 500 "internal" answer.
using Handler = std::function<Response(const Request&)>;

struct ServerOptions {
  // Handler threads: requests handled at once (a long poll holds one).
  std::size_t threads = 16;
  // A request's head and body must all arrive within this, counted from its
  // first byte (from the accept for a connection's first request) however
  // steadily the bytes trickle in. Past it: 408, and the connection closes.
  std::chrono::milliseconds request_timeout{std::chrono::seconds(10)};
  // How long a connection may sit idle between requests.
  std::chrono::milliseconds keep_alive_timeout{std::chrono::seconds(5)};
  // A response must be taken by the client within this (for a streamed one:
  // what is queued, each time the queue starts to fill). Past it: closed.
  std::chrono::milliseconds write_timeout{std::chrono::seconds(10)};
  // Connections open at once, in total and from one peer address. Past
  // either, a new connection gets 503 and is closed at once.
  std::size_t max_connections = 1024;
  std::size_t max_connections_per_peer = 64;
  Limits limits{};
  // A streaming handler waits while more than this is queued for its client.
  std::size_t stream_buffer_bytes = 256 * 1024;
  // On stop(), how long requests already being handled get to be answered.
  std::chrono::milliseconds shutdown_timeout{std::chrono::seconds(3)};
  // The connection's byte stream; plain TCP when empty.
  TransportFactory transport{};
};

// A non-blocking TCP socket listening on HOST (a name or an IPv4/IPv6
// address) at `port` (0: a free one), and the port it got. Errors:
// "http.listen", saying where and why.
struct Listener {
  UniqueFd fd;
  int port = 0;
};
Result<Listener> listen_tcp(std::string_view host, int port);

class Server {
 public:
  explicit Server(Handler handler, ServerOptions options = {});
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and listens on HOST (a name or an IPv4/IPv6 address) at `port`;
  // port 0 picks a free one. Returns the port.
  Result<int> bind(std::string_view host, int port);
  // Runs the loop and the handler threads until stop(); then answers the
  // requests being handled (up to shutdown_timeout), closes every connection
  // and joins the threads. REQUIRES: bind() succeeded; handlers return soon
  // after stop() (a long poll must watch for it).
  Result<void> serve();
  // Makes serve() return; safe from any thread and from a signal-waiting
  // thread, before or during serve().
  void stop();
  bool stopping() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ward::http
