#include "serve/relay.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <deque>
#include <exception>
#include <mutex>
#include <utility>
#include <vector>

namespace ward::serve {
namespace {

using Clock = std::chrono::steady_clock;

// The most read from the upstream at once, and so the most held per exchange.
constexpr std::size_t kReadSize = 64 * 1024;
// A body of known length up to this is read whole and keeps its length.
constexpr std::uint64_t kMaxWholeBody = 64 * 1024;
// Interim (1xx) responses skipped before a final one.
constexpr int kMaxInterim = 16;
constexpr std::size_t kMaxChunkSizeDigits = 15;

// Fields that describe one connection (RFC 9110 §7.6.1), never relayed.
constexpr std::array<std::string_view, 7> kHopByHop = {
    "Connection", "Keep-Alive", "Proxy-Connection", "TE", "Trailer", "Transfer-Encoding", "Upgrade"};

std::unexpected<Error> bad_response(std::string what) {
  return fail("serve.upstream", "the upstream's response " + std::move(what));
}

std::unexpected<Error> bad_chunk(std::string what) {
  return fail("serve.upstream", "the upstream's chunked body " + std::move(what));
}

bool no_body_status(int status) {
  return status < 200 || status == 204 || status == 304;
}

Result<void> parse_status_line(std::string_view line, ResponseHead& head) {
  if (line.starts_with("HTTP/1.1 ")) {
    head.version_minor = 1;
  } else if (line.starts_with("HTTP/1.0 ")) {
    head.version_minor = 0;
  } else if (line.starts_with("HTTP/")) {
    return bad_response("is not HTTP/1.0 or HTTP/1.1");
  } else {
    return bad_response("does not start with a status line");
  }
  const std::string_view code = line.substr(9, 3);
  if (code.size() != 3 || !std::ranges::all_of(code, [](char c) { return c >= '0' && c <= '9'; }) ||
      code[0] < '1' || code[0] > '5') {
    return bad_response("has no status code from 100 to 599");
  }
  head.status = (code[0] - '0') * 100 + (code[1] - '0') * 10 + (code[2] - '0');
  const std::string_view rest = line.substr(12);
  if (!rest.empty() && rest.front() != ' ') return bad_response("has a status code longer than three digits");
  const std::string_view reason = rest.empty() ? rest : rest.substr(1);
  if (!http::is_field_value(reason)) return bad_response("has control characters in its reason phrase");
  head.reason = std::string(reason);
  return {};
}

// Framing and connection semantics from the fields (RFC 9112 §6.3).
Result<void> interpret_fields(ResponseHead& head) {
  std::optional<std::uint64_t> length;
  bool chunked = false;
  bool close = false;
  bool keep_alive = false;
  for (const http::Header& h : head.headers) {
    if (http::iequals(h.name, "Content-Length")) {
      const std::string_view text = h.value;
      std::uint64_t value = 0;
      if (text.empty() || !std::ranges::all_of(text, [](char c) { return c >= '0' && c <= '9'; })) {
        return bad_response("has a Content-Length that is not a number");
      }
      if (std::from_chars(text.data(), text.data() + text.size(), value).ec != std::errc()) {
        return bad_response("has a Content-Length out of range");
      }
      if (length && *length != value) return bad_response("has two different Content-Lengths");
      length = value;
    } else if (http::iequals(h.name, "Transfer-Encoding")) {
      if (chunked || !http::iequals(http::trim(h.value), "chunked")) {
        return bad_response("has a transfer coding other than one chunked");
      }
      chunked = true;
    } else if (http::iequals(h.name, "Connection")) {
      close = close || http::list_has(h.value, "close");
      keep_alive = keep_alive || http::list_has(h.value, "keep-alive");
    }
  }
  if (chunked && length) return bad_response("has both Content-Length and Transfer-Encoding");
  if (chunked && head.version_minor == 0) return bad_response("is HTTP/1.0 with Transfer-Encoding");
  if (no_body_status(head.status)) {
    head.body = ResponseBody::None;
  } else if (chunked) {
    head.body = ResponseBody::Chunked;
  } else if (length) {
    head.body = ResponseBody::Length;
    head.content_length = *length;
  } else {
    head.body = ResponseBody::UntilClose;
  }
  head.keep_alive =
      (head.version_minor == 1 ? !close : keep_alive && !close) && head.body != ResponseBody::UntilClose;
  return {};
}

std::unexpected<Error> head_too_large(const http::Limits& limits) {
  return bad_response("head is larger than " + std::to_string(limits.max_head_bytes) + " bytes");
}

// The field names a message's Connection fields list: hop-by-hop too.
std::vector<std::string_view> connection_options(const http::Headers& headers) {
  std::vector<std::string_view> names;
  for (const http::Header& h : headers) {
    if (!http::iequals(h.name, "Connection")) continue;
    std::string_view list = h.value;
    while (!list.empty()) {
      const auto comma = list.find(',');
      if (const auto name = http::trim(list.substr(0, comma)); !name.empty()) names.push_back(name);
      if (comma == std::string_view::npos) break;
      list.remove_prefix(comma + 1);
    }
  }
  return names;
}

bool is_hop_by_hop(std::string_view name, const std::vector<std::string_view>& options) {
  const auto same = [&](std::string_view other) { return http::iequals(name, other); };
  return std::ranges::any_of(kHopByHop, same) || std::ranges::any_of(options, same);
}

// The request as sent upstream: its own framing (the server de-chunked the
// body), no hop-by-hop fields, no Expect (the body is already here).
std::string upstream_request(const http::Request& request) {
  const auto options = connection_options(request.headers);
  std::string out = request.method + " " + request.target + " HTTP/1.1\r\n";
  bool had_body = !request.body.empty();
  for (const http::Header& h : request.headers) {
    if (http::iequals(h.name, "Content-Length") || http::iequals(h.name, "Transfer-Encoding"))
      had_body = true;
    if (is_hop_by_hop(h.name, options) || http::iequals(h.name, "Content-Length") ||
        http::iequals(h.name, "Expect")) {
      continue;
    }
    out += h.name + ": " + h.value + "\r\n";
  }
  if (had_body) out += "Content-Length: " + std::to_string(request.body.size()) + "\r\n";
  out += "\r\n";
  out += request.body;
  return out;
}

// The upstream's fields as handed to http::Server, which writes the framing.
http::Headers passed_back(const http::Headers& headers) {
  const auto options = connection_options(headers);
  http::Headers out;
  for (const http::Header& h : headers) {
    if (is_hop_by_hop(h.name, options) || http::iequals(h.name, "Content-Length")) continue;
    out.push_back(h);
  }
  return out;
}

http::Response upstream_failure(const Error& error, const std::string& context) {
  if (error.code == "serve.timeout") {
    return http::error_response(504, "upstream_timeout", context + ": " + error.message);
  }
  return http::error_response(502, "upstream", context + ": " + error.message);
}

// Thrown out of a stream callback to make http::Server cut the connection
// instead of ending the body as if it were complete.
struct BrokenOff : std::exception {
  const char* what() const noexcept override { return "the relayed response was broken off"; }
};

// An upstream connection and what was read from it past what was used.
struct Upstream {
  std::unique_ptr<Stream> stream;
  std::string buffered;

  Result<std::size_t> fill() {
    std::array<char, kReadSize> buf;
    auto n = stream->read(buf);
    if (n && *n > 0) buffered.append(buf.data(), *n);
    return n;
  }
};

// Reads up to a final response head, dropping interim ones. `answered` is
// set once any byte of response arrived.
Result<ResponseHead> read_head(Upstream& up, const http::Limits& limits, bool& answered) {
  int interim = 0;
  for (;;) {
    auto parsed = parse_response_head(up.buffered, limits);
    if (!parsed) return std::unexpected(parsed.error());
    if (*parsed) {
      ResponseHead head = std::move((*parsed)->head);
      up.buffered.erase(0, (*parsed)->size);
      if (head.status >= 200) return head;
      if (head.status == 101) return bad_response("switches protocols, which was not asked for");
      if (++interim > kMaxInterim) {
        return bad_response("has more than " + std::to_string(kMaxInterim) + " interim (1xx) heads");
      }
      continue;
    }
    auto n = up.fill();
    if (!n) return std::unexpected(n.error());
    if (*n == 0) return fail("serve.io", "it closed the connection");
    answered = true;
  }
}

}  // namespace

Result<std::optional<ParsedResponseHead>> parse_response_head(std::string_view bytes,
                                                              const http::Limits& limits) {
  ParsedResponseHead out{};
  std::size_t pos = 0;
  bool first = true;
  for (;;) {
    const auto lf = bytes.find('\n', pos);
    if (lf == std::string_view::npos) {
      if (bytes.size() > limits.max_head_bytes) return head_too_large(limits);
      return std::nullopt;
    }
    if (lf + 1 > limits.max_head_bytes) return head_too_large(limits);
    std::string_view line = bytes.substr(pos, lf - pos);
    pos = lf + 1;
    if (line.ends_with('\r')) line.remove_suffix(1);
    if (line.find('\r') != std::string_view::npos) return bad_response("has a bare CR in its head");
    if (first) {
      if (auto ok = parse_status_line(line, out.head); !ok) return std::unexpected(ok.error());
      first = false;
      continue;
    }
    if (line.empty()) break;
    if (line.front() == ' ' || line.front() == '\t') return bad_response("folds a header line (obs-fold)");
    const auto colon = line.find(':');
    if (colon == std::string_view::npos || !http::is_token(line.substr(0, colon))) {
      return bad_response("has a header line that is not NAME: VALUE");
    }
    const std::string_view value = http::trim(line.substr(colon + 1));
    if (!http::is_field_value(value)) return bad_response("has control characters in a header value");
    if (out.head.headers.size() >= limits.max_headers) {
      return bad_response("has more than " + std::to_string(limits.max_headers) + " header fields");
    }
    out.head.headers.push_back(http::Header{std::string(line.substr(0, colon)), std::string(value)});
  }
  if (auto ok = interpret_fields(out.head); !ok) return std::unexpected(ok.error());
  out.size = pos;
  return out;
}

Result<std::size_t> ChunkedDecoder::decode(std::string_view input, std::string& out) {
  std::size_t i = 0;
  while (i < input.size() && state_ != State::Done) {
    switch (state_) {
      case State::Data: {
        const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, input.size() - i));
        out.append(input.substr(i, n));
        i += n;
        remaining_ -= n;
        if (remaining_ == 0) state_ = State::DataEnd;
        break;
      }
      case State::DataEnd:
      case State::DataEndLf: {
        const char c = input[i++];
        if (state_ == State::DataEnd && c == '\r') {
          state_ = State::DataEndLf;
        } else if (c == '\n') {
          state_ = State::Size;
        } else {
          return bad_chunk("has a chunk longer than its size");
        }
        break;
      }
      case State::Size:
      case State::Trailer: {
        const auto lf = input.find('\n', i);
        const std::size_t end = lf == std::string_view::npos ? input.size() : lf;
        if (line_.size() + (end - i) > max_line_) {
          return bad_chunk("has a line longer than " + std::to_string(max_line_) + " bytes");
        }
        line_.append(input.substr(i, end - i));
        i = end;
        if (lf == std::string_view::npos) break;
        ++i;
        if (auto ok = end_line(); !ok) return std::unexpected(ok.error());
        break;
      }
      case State::Done:
        break;
    }
  }
  return i;
}

Result<void> ChunkedDecoder::end_line() {
  std::string_view line = line_;
  if (line.ends_with('\r')) line.remove_suffix(1);
  if (line.find('\r') != std::string_view::npos) return bad_chunk("has a bare CR");
  if (state_ == State::Trailer) {
    trailer_bytes_ += line_.size() + 1;
    if (trailer_bytes_ > max_line_) {
      return bad_chunk("has a trailer larger than " + std::to_string(max_line_) + " bytes");
    }
    if (line.empty()) state_ = State::Done;
    line_.clear();
    return {};
  }
  const std::string_view size_text = http::trim(line.substr(0, line.find(';')));
  if (size_text.empty() || size_text.size() > kMaxChunkSizeDigits) {
    return bad_chunk("has a chunk size that is not 1 to 15 hex digits");
  }
  std::uint64_t size = 0;
  const auto [end, ec] = std::from_chars(size_text.data(), size_text.data() + size_text.size(), size, 16);
  if (ec != std::errc() || end != size_text.data() + size_text.size()) {
    return bad_chunk("has a chunk size that is not hex");
  }
  line_.clear();
  remaining_ = size;
  state_ = size == 0 ? State::Trailer : State::Data;
  return {};
}

struct Forwarder::Pool {
  struct Idle {
    std::unique_ptr<Stream> stream;
    Clock::time_point since;
  };

  Dialer dial;
  ForwarderOptions options;
  std::mutex mu;
  std::deque<Idle> idle;  // the most recently used last

  // The most recently used idle connection, or null.
  std::unique_ptr<Stream> take() {
    std::vector<std::unique_ptr<Stream>> expired;
    const std::lock_guard lock(mu);
    const auto now = Clock::now();
    while (!idle.empty() && now - idle.front().since > options.idle_timeout) {
      expired.push_back(std::move(idle.front().stream));
      idle.pop_front();
    }
    if (idle.empty()) return nullptr;
    auto stream = std::move(idle.back().stream);
    idle.pop_back();
    return stream;
  }

  void put(std::unique_ptr<Stream> stream) {
    std::unique_ptr<Stream> dropped;
    const std::lock_guard lock(mu);
    if (options.max_idle == 0) return;
    if (idle.size() >= options.max_idle) {
      dropped = std::move(idle.front().stream);
      idle.pop_front();
    }
    idle.push_back(Idle{std::move(stream), Clock::now()});
  }

  // The exchange up to the response head: on a pooled connection if there
  // is one, else (or when that one turns out dead before answering) on a
  // fresh one. Retrying is safe then: the upstream never answered.
  std::expected<std::pair<Upstream, ResponseHead>, http::Response> open(std::string_view request,
                                                                        bool& unreachable) {
    for (bool first_try = true;; first_try = false) {
      Upstream up;
      if (first_try) up.stream = take();
      const bool pooled = up.stream != nullptr;
      if (!pooled) {
        auto dialed = dial();
        if (!dialed) {
          unreachable = true;
          return std::unexpected(
              http::error_response(502, "upstream", "cannot reach the upstream: " + dialed.error().message));
        }
        up.stream = std::move(*dialed);
      }
      bool answered = false;
      auto sent = up.stream->write_all(request);
      Result<ResponseHead> head =
          sent ? read_head(up, options.response_limits, answered) : std::unexpected(sent.error());
      if (head) return std::pair{std::move(up), std::move(*head)};
      // A timeout is not staleness: the upstream may be working on it.
      if (pooled && !answered && head.error().code != "serve.timeout") continue;
      if (head.error().code == "serve.upstream") {
        return std::unexpected(http::error_response(502, "upstream", head.error().message));
      }
      return std::unexpected(
          upstream_failure(head.error(), "the upstream broke off before its response head"));
    }
  }
};

namespace {

// The body of one response, relayed on the handler thread after its head.
struct Relay {
  std::function<void(std::unique_ptr<Stream>)> give_back;
  http::Limits limits;
  Upstream up;
  ResponseHead head;
  Exchange exchange;
  std::function<void(const Exchange&)> done;
  bool finished = false;

  Relay() = default;
  Relay(const Relay&) = delete;
  Relay& operator=(const Relay&) = delete;
  ~Relay() { finish(false); }

  // Reports the exchange once; the connection goes back to the pool only
  // after a complete response that leaves it clean and open.
  void finish(bool complete) {
    if (finished) return;
    finished = true;
    exchange.complete = complete;
    if (complete && head.keep_alive && up.buffered.empty()) give_back(std::move(up.stream));
    up.stream.reset();
    if (done) done(exchange);
  }

  [[noreturn]] void cut() {
    finish(false);
    throw BrokenOff();
  }

  void send(http::ChunkSink& sink, std::string_view data) {
    if (data.empty()) return;
    if (!sink.write(data)) cut();
    exchange.response_bytes += data.size();
  }

  // Reads more from the upstream; false at its clean end.
  bool more() {
    auto n = up.fill();
    if (!n) cut();
    return *n > 0;
  }

  void run(http::ChunkSink& sink) {
    switch (head.body) {
      case ResponseBody::Length:
        for (std::uint64_t left = head.content_length;;) {
          const auto take = static_cast<std::size_t>(std::min<std::uint64_t>(left, up.buffered.size()));
          send(sink, std::string_view(up.buffered).substr(0, take));
          up.buffered.erase(0, take);
          left -= take;
          if (left == 0) break;
          if (!more()) cut();
        }
        break;
      case ResponseBody::Chunked: {
        ChunkedDecoder decoder(limits);
        for (;;) {
          std::string data;
          auto used = decoder.decode(up.buffered, data);
          send(sink, data);
          if (!used) cut();
          up.buffered.erase(0, *used);
          if (decoder.done()) break;
          if (!more()) cut();
        }
        break;
      }
      case ResponseBody::UntilClose:
        do {
          send(sink, up.buffered);
          up.buffered.clear();
        } while (more());
        break;
      case ResponseBody::None:
        break;
    }
    finish(true);
  }
};

}  // namespace

Forwarder::Forwarder(Dialer dial, ForwarderOptions options) : pool_(std::make_shared<Pool>()) {
  pool_->dial = std::move(dial);
  pool_->options = std::move(options);
}

Forwarder::~Forwarder() = default;

http::Response Forwarder::forward(const http::Request& request, std::function<void(const Exchange&)> done) {
  bool unreachable = false;
  auto opened = pool_->open(upstream_request(request), unreachable);
  if (!opened) {
    if (done) done(Exchange{opened.error().status, request.body.size(), 0, false, !unreachable});
    return std::move(opened.error());
  }
  auto relay = std::make_shared<Relay>();
  relay->give_back = [pool = pool_](std::unique_ptr<Stream> stream) { pool->put(std::move(stream)); };
  relay->limits = pool_->options.response_limits;
  relay->up = std::move(opened->first);
  relay->head = std::move(opened->second);
  relay->exchange = Exchange{relay->head.status, request.body.size(), 0, false};
  relay->done = std::move(done);

  http::Response res;
  res.status = relay->head.status;
  res.headers = passed_back(relay->head.headers);
  if (request.method == "HEAD") {
    // Streamed, so that http::Server announces no length rather than a
    // false Content-Length: 0; it runs no stream callback for HEAD.
    relay->finish(true);
    res.stream = [](http::ChunkSink&) {};
    return res;
  }
  const ResponseBody body = relay->head.body;
  if (body == ResponseBody::None ||
      (body == ResponseBody::Length && relay->head.content_length <= kMaxWholeBody)) {
    const auto length = static_cast<std::size_t>(relay->head.content_length);
    while (relay->up.buffered.size() < length) {
      auto n = relay->up.fill();
      if (n && *n > 0) continue;
      // The head is not out yet, so the client gets an error, not a
      // truncated body; the relay's end closes the connection and reports.
      http::Response failed =
          n ? http::error_response(502, "upstream",
                                   "the upstream closed the connection within its response body")
            : upstream_failure(n.error(), "the upstream broke off its response body");
      relay->exchange.status = failed.status;
      return failed;
    }
    res.body = relay->up.buffered.substr(0, length);
    relay->up.buffered.erase(0, length);
    relay->exchange.response_bytes = res.body.size();
    relay->finish(true);
    return res;
  }
  res.stream = [relay](http::ChunkSink& sink) { relay->run(sink); };
  return res;
}

}  // namespace ward::serve
