// A blocking byte stream, the one shape both halves of serving relay HTTP
// over: a TCP socket (the gateway to its engine, tests) or a TLS connection
// (ward proxy to the gateway, tls.h).
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <span>
#include <string_view>

#include "base/error.h"

namespace ward::serve {

class Stream {
 public:
  virtual ~Stream() = default;
  // Up to into.size() bytes, waiting for at least one; 0 at a clean end of
  // the stream. Errors "serve.io" (reset), "serve.timeout" (no progress
  // within the stream's timeout: a relay answers 504 rather than 502).
  virtual Result<std::size_t> read(std::span<char> into) = 0;
  // All of `data`, or an error "serve.io" or "serve.timeout".
  virtual Result<void> write_all(std::string_view data) = 0;
};

// A stream over a connected socket it owns; reads and writes time out after
// `timeout` without progress.
std::unique_ptr<Stream> socket_stream(int fd, std::chrono::milliseconds timeout);

// Connects to HOST:PORT over TCP within `timeout`. Errors "serve.connect".
Result<std::unique_ptr<Stream>> connect_tcp(std::string_view host, int port,
                                            std::chrono::milliseconds timeout);

}  // namespace ward::serve
