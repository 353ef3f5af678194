// The HTTP/1.1 relay both serving forwarders are built on: the gateway in the
// CVM (to the engine) and `ward proxy` (to the gateway). A Forwarder sends a
// request an http::Server handler received to an upstream over pooled
// keep-alive connections and streams the answer back as it arrives. The
// upstream's response head is parsed strictly (a pure function, fuzzed by
// tests/fuzz/fuzz_http_response.cpp) so that no response is read two ways.
// Errors: "serve.upstream" (a response that is not valid HTTP).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "base/error.h"
#include "http/message.h"
#include "http/parser.h"
#include "serve/stream.h"

namespace ward::serve {

// How a response's body ends (RFC 9112 §6.3).
enum class ResponseBody { None, Length, Chunked, UntilClose };

struct ResponseHead {
  int status = 0;
  int version_minor = 1;
  std::string reason;
  http::Headers headers;
  // From the status and the framing fields; a response to HEAD has no body
  // whatever this says.
  ResponseBody body = ResponseBody::UntilClose;
  std::uint64_t content_length = 0;  // with ResponseBody::Length
  // Whether the connection may carry another request after this response.
  bool keep_alive = true;
};

struct ParsedResponseHead {
  ResponseHead head;
  std::size_t size;  // bytes of the input the head took, blank line included
};

// The response head at the start of `bytes`, or nullopt while more bytes are
// needed. Refused: a bad status line, HTTP other than 1.0 and 1.1, obsolete
// line folding, a bare CR, Content-Length with Transfer-Encoding, two
// different Content-Lengths, a transfer coding other than chunked or one in
// HTTP/1.0, and a head over `limits.max_head_bytes` or `limits.max_headers`.
Result<std::optional<ParsedResponseHead>> parse_response_head(std::string_view bytes,
                                                              const http::Limits& limits);

// A chunked body (RFC 9112 §7.1) decoded as it arrives, holding no more than
// the line being read. Extensions and trailer fields are dropped; a line, and
// the trailer section, may take at most `limits.max_head_bytes`.
class ChunkedDecoder {
 public:
  explicit ChunkedDecoder(const http::Limits& limits) : max_line_(limits.max_head_bytes) {}
  // Consumes a prefix of `input` (all of it, unless the body ends within
  // it), appending the data it carries to `out`. Returns the bytes consumed.
  Result<std::size_t> decode(std::string_view input, std::string& out);
  // Whether the last chunk and the trailer have been read.
  bool done() const { return state_ == State::Done; }

 private:
  enum class State { Size, Data, DataEnd, DataEndLf, Trailer, Done };
  Result<void> end_line();

  std::size_t max_line_;
  State state_ = State::Size;
  std::string line_;
  std::uint64_t remaining_ = 0;
  std::size_t trailer_bytes_ = 0;
};

// Opens a new connection to the upstream. Called from many threads at once.
using Dialer = std::function<Result<std::unique_ptr<Stream>>()>;

struct ForwarderOptions {
  std::size_t max_idle = 32;                      // pooled idle upstream connections
  std::chrono::milliseconds idle_timeout{30000};  // drop pooled ones older than this
  http::Limits response_limits{};  // head size and header count for the upstream's response head
};

// What one relayed exchange was, for metering (the serving issue counts per
// client): the status the client got, the request body sent upstream and the
// response body relayed back (de-chunked), and whether the response reached
// its end.
struct Exchange {
  int status = 0;
  std::uint64_t request_bytes = 0;
  std::uint64_t response_bytes = 0;
  bool complete = false;
  // False when the upstream could not be reached at all (nothing was sent):
  // the request may go to another replica.
  bool reached = true;
};

// Thread-safe: many handler threads call forward() at once. The responses it
// returns keep the connection pool alive, so they may outlive the Forwarder.
class Forwarder {
 public:
  explicit Forwarder(Dialer dial, ForwarderOptions options = {});
  ~Forwarder();
  Forwarder(const Forwarder&) = delete;
  Forwarder& operator=(const Forwarder&) = delete;

  // Relays `request` upstream and returns the response to hand back to
  // http::Server: its head at once, its body streamed chunk by chunk as the
  // upstream produces it (SSE and streamed tokens arrive unbuffered); a body
  // of known length up to 64 KiB comes whole, keeping its Content-Length.
  // An upstream that cannot be dialled or breaks before a complete head is a
  // 502 "upstream", one that times out before it a 504 "upstream_timeout".
  // A body the upstream breaks off, or the client stops taking, ends the
  // client's connection without the last chunk (the stream callback throws,
  // which http::Server turns into a cut connection), so that it is never
  // taken for a complete one. `done` (may be empty) is called once when the
  // exchange ends, from the handler thread, with what was relayed.
  http::Response forward(const http::Request& request, std::function<void(const Exchange&)> done = {});

 private:
  struct Pool;
  std::shared_ptr<Pool> pool_;
};

}  // namespace ward::serve
