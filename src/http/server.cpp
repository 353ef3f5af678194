#include "http/server.h"

#include <netdb.h>

#include <algorithm>
#include <arpa/inet.h>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <ctime>
#include <deque>
#include <exception>
#include <mutex>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <optional>
#include <string>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <thread>
#include <unordered_map>
#include <vector>

#include "base/unique_fd.h"

namespace ward::http {
namespace {

using Clock = std::chrono::steady_clock;

// One read takes at most this much; it also bounds what a client can have
// buffered here beyond the request being read.
constexpr std::size_t kReadChunk = 64 * 1024;
// How often deadlines are checked: their precision.
constexpr std::chrono::milliseconds kTick{50};
// After refusing a request whose body was not read, the rest of what the
// client sends is read and dropped this long before closing: closing with
// unread bytes would send a reset, which can destroy our answer before the
// client reads it.
constexpr std::chrono::milliseconds kLinger{1000};
// epoll data of the wake-up eventfd; listeners follow, connections start high.
constexpr std::uint64_t kWakeTag = 0;
constexpr std::uint64_t kFirstConnectionId = std::uint64_t{1} << 32;

bool no_body_status(int status) {
  return (status >= 100 && status < 200) || status == 204 || status == 304;
}

std::string http_date() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[64];
  const std::size_t n = std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return std::string(buf, n);
}

// The status line and header fields. `length` is the Content-Length, or
// nullopt for a chunked body (or, to an HTTP/1.0 client, one ended by closing).
std::string response_head(const Response& res, std::optional<std::size_t> length, bool keep_alive,
                          int version_minor) {
  std::string head = "HTTP/1.1 " + std::to_string(res.status) + " " + std::string(reason_phrase(res.status)) +
                     "\r\nDate: " + http_date() + "\r\n";
  for (const Header& h : res.headers) {
    if (iequals(h.name, "Content-Length") || iequals(h.name, "Transfer-Encoding") ||
        iequals(h.name, "Connection") || iequals(h.name, "Date")) {
      continue;
    }
    head += h.name + ": " + h.value + "\r\n";
  }
  if (!no_body_status(res.status)) {
    if (length) {
      head += "Content-Length: " + std::to_string(*length) + "\r\n";
    } else if (version_minor >= 1) {
      head += "Transfer-Encoding: chunked\r\n";
    }
  }
  if (!keep_alive) {
    head += "Connection: close\r\n";
  } else if (version_minor == 0) {
    head += "Connection: keep-alive\r\n";
  }
  head += "\r\n";
  return head;
}

std::string refusal_bytes(const Refusal& refusal) {
  const Response res = error_response(refusal.status, refusal.reason, refusal.message);
  return response_head(res, res.body.size(), false, 1) + res.body;
}

std::string peer_address(const sockaddr_storage& sa) {
  char text[INET6_ADDRSTRLEN] = {};
  if (sa.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&sa);
    inet_ntop(AF_INET, &in->sin_addr, text, sizeof text);
  } else if (sa.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&sa);
    if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
      inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], text, sizeof text);
    } else {
      inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text);
    }
  }
  return text;
}

// What a streaming handler and the loop share: bytes handed to the loop and
// not yet written, which the handler waits on (backpressure).
struct Flow {
  std::mutex mu;
  std::condition_variable cv;
  std::size_t queued = 0;
  bool closed = false;

  void close() {
    {
      const std::lock_guard lock(mu);
      closed = true;
    }
    cv.notify_all();
  }
  void written(std::size_t n) {
    {
      const std::lock_guard lock(mu);
      queued -= std::min(queued, n);
    }
    cv.notify_all();
  }
};

struct Job {
  std::uint64_t connection;
  Request request;
  bool keep_alive;
  std::shared_ptr<Flow> flow;
};

// Bytes of a response for the loop to write; `last` ends the response.
struct Output {
  std::uint64_t connection;
  std::string bytes;
  bool last;
  bool close;
};

enum class Phase {
  Reading,    // waiting for or reading a request
  Handling,   // a handler has it; its answer is being queued and written
  Lingering,  // answered and closing; reading and dropping what still comes
};

struct Connection {
  std::uint64_t id = 0;
  UniqueFd fd;
  std::unique_ptr<Transport> io;
  std::string peer;
  bool dead = false;
  bool handshaken = false;
  Phase phase = Phase::Reading;
  // Reading: the deadline of the request (or of the idle wait, until its
  // first byte); Lingering: of the lingering.
  Clock::time_point deadline;
  bool request_started = false;
  std::string in;
  std::size_t head_scan = 0;  // where the search for the head's end resumes
  std::optional<ParsedHead> head;
  bool sent_continue = false;
  bool peer_eof = false;
  // Output, written from out_pos on. The first `uncounted` unwritten bytes
  // are the loop's own (100 Continue), not the handler's flow.
  std::string out;
  std::size_t out_pos = 0;
  std::size_t uncounted = 0;
  std::optional<Clock::time_point> write_deadline;
  bool response_done = false;
  bool close_after = false;
  std::shared_ptr<Flow> flow;
  // What the transport last asked for (TLS reads may need writes and back).
  bool read_wants_write = false;
  bool write_wants_read = false;
  std::uint32_t events = 0;

  bool output_pending() const { return out_pos < out.size(); }
};

}  // namespace

struct Server::Impl {
  Handler handler;
  ServerOptions options;
  std::vector<UniqueFd> listeners;
  UniqueFd epoll;
  UniqueFd wake;
  std::atomic<bool> stop_requested{false};

  std::mutex output_mu;
  std::vector<Output> outputs;

  std::mutex job_mu;
  std::condition_variable job_cv;
  std::deque<Job> jobs;
  bool pool_stopping = false;
  std::vector<std::thread> workers;

  // Owned by the loop thread.
  std::unordered_map<std::uint64_t, std::unique_ptr<Connection>> connections;
  std::unordered_map<std::string, std::size_t> per_peer;
  std::vector<std::uint64_t> dead;
  std::uint64_t next_id = kFirstConnectionId;
  std::size_t max_connections = 0;
  bool draining = false;
  Clock::time_point last_sweep{};

  Impl(Handler h, ServerOptions o) : handler(std::move(h)), options(std::move(o)) {
    wake = UniqueFd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  }

  void notify_loop() {
    const std::uint64_t one = 1;
    if (wake) {
      [[maybe_unused]] const auto n = ::write(wake.get(), &one, sizeof one);
    }
  }

  // ---- handler threads ----

  void post(Output output) {
    {
      const std::lock_guard lock(output_mu);
      outputs.push_back(std::move(output));
    }
    notify_loop();
  }

  // Hands the loop `bytes` of a streamed response, counting them in `flow`.
  void post_counted(const Job& job, std::string bytes, bool last, bool close) {
    {
      const std::lock_guard lock(job.flow->mu);
      job.flow->queued += bytes.size();
    }
    post(Output{job.connection, std::move(bytes), last, close});
  }

  class Sink final : public ChunkSink {
   public:
    Sink(Impl& impl, const Job& job) : impl_(impl), job_(job) {}
    Result<void> write(std::string_view data) override {
      if (data.empty()) return {};
      Flow& flow = *job_.flow;
      {
        std::unique_lock lock(flow.mu);
        const bool room = flow.cv.wait_for(lock, impl_.options.write_timeout, [&] {
          return flow.closed || impl_.stop_requested || flow.queued < impl_.options.stream_buffer_bytes;
        });
        if (flow.closed) return fail("http.stream", "the client is gone");
        if (impl_.stop_requested) return fail("http.stream", "the server is stopping");
        if (!room) return fail("http.stream", "the client does not read the stream");
      }
      std::string framed;
      if (job_.request.version_minor >= 1) {
        char size[20];
        const int n = std::snprintf(size, sizeof size, "%zx\r\n", data.size());
        framed.reserve(data.size() + static_cast<std::size_t>(n) + 2);
        framed.append(size, static_cast<std::size_t>(n)).append(data).append("\r\n");
      } else {
        framed.assign(data);
      }
      impl_.post_counted(job_, std::move(framed), false, false);
      return {};
    }

   private:
    Impl& impl_;
    const Job& job_;
  };

  void handle(Job& job) {
    Response res;
    try {
      res = handler(job.request);
    } catch (const std::exception& e) {
      res = error_response(500, "internal", std::string("the server failed: ") + e.what());
    } catch (...) {
      res = error_response(500, "internal", "the server failed");
    }
    const bool head_only = job.request.method == "HEAD";
    // A request answered while the server stops is the connection's last.
    bool keep_alive = job.keep_alive && !stop_requested;
    if (const auto c = find_header(res.headers, "Connection"); c && iequals(*c, "close")) keep_alive = false;
    const int minor = job.request.version_minor;
    if (!res.stream) {
      std::string bytes = response_head(res, res.body.size(), keep_alive, minor);
      if (!head_only && !no_body_status(res.status)) bytes += res.body;
      post_counted(job, std::move(bytes), true, !keep_alive);
      return;
    }
    // An HTTP/1.0 client knows no chunks: its stream ends when we close.
    if (minor == 0) keep_alive = false;
    post_counted(job, response_head(res, std::nullopt, keep_alive, minor), head_only,
                 head_only && !keep_alive);
    if (head_only) return;
    Sink sink(*this, job);
    try {
      res.stream(sink);
    } catch (...) {
      // The head is out: all that is left is to end the connection, so that
      // the client sees a truncated body rather than a complete one.
      post(Output{job.connection, "", true, true});
      return;
    }
    post_counted(job, minor >= 1 ? "0\r\n\r\n" : "", true, !keep_alive);
  }

  void work() {
    for (;;) {
      std::unique_lock lock(job_mu);
      job_cv.wait(lock, [&] { return pool_stopping || !jobs.empty(); });
      if (pool_stopping) return;
      Job job = std::move(jobs.front());
      jobs.pop_front();
      lock.unlock();
      handle(job);
    }
  }

  // ---- the loop ----

  void watch(Connection& c) {
    std::uint32_t want = 0;
    if (c.phase != Phase::Handling || c.write_wants_read) want |= EPOLLIN;
    if (c.output_pending() || c.read_wants_write) want |= EPOLLOUT;
    if (want == c.events) return;
    epoll_event ev{};
    ev.events = want;
    ev.data.u64 = c.id;
    ::epoll_ctl(epoll.get(), EPOLL_CTL_MOD, c.fd.get(), &ev);
    c.events = want;
  }

  void close_connection(Connection& c) {
    if (c.dead) return;
    c.dead = true;
    if (c.flow) c.flow->close();
    c.io.reset();
    c.fd.reset();
    if (auto it = per_peer.find(c.peer); it != per_peer.end() && --it->second == 0) per_peer.erase(it);
    dead.push_back(c.id);
  }

  void queue_loop_bytes(Connection& c, std::string bytes) {
    if (!c.output_pending()) {
      c.out.clear();
      c.out_pos = 0;
      c.write_deadline = Clock::now() + options.write_timeout;
    }
    c.uncounted += bytes.size();
    c.out += bytes;
  }

  // Answers a request the server refuses itself, then closes.
  void refuse(Connection& c, const Refusal& refusal) {
    queue_loop_bytes(c, refusal_bytes(refusal));
    c.phase = Phase::Handling;
    c.response_done = true;
    c.close_after = true;
    c.head.reset();
  }

  void dispatch(Connection& c, std::string body, std::size_t consumed) {
    RequestHead& h = c.head->head;
    Request req;
    req.method = std::move(h.method);
    req.target = std::move(h.target);
    req.path = std::move(h.path);
    req.query = std::move(h.query);
    req.headers = std::move(h.headers);
    req.body = std::move(body);
    req.peer = c.peer;
    req.version_minor = h.version_minor;
    const bool keep_alive = h.keep_alive && !draining;
    c.in.erase(0, consumed);
    c.head.reset();
    c.head_scan = 0;
    c.sent_continue = false;
    c.request_started = false;
    c.phase = Phase::Handling;
    c.response_done = false;
    c.close_after = !keep_alive;
    c.flow = std::make_shared<Flow>();
    {
      const std::lock_guard lock(job_mu);
      jobs.push_back(Job{c.id, std::move(req), keep_alive, c.flow});
    }
    job_cv.notify_one();
  }

  void expect_body(Connection& c) {
    if (c.head->head.expect_continue && !c.sent_continue) {
      c.sent_continue = true;
      queue_loop_bytes(c, "HTTP/1.1 100 Continue\r\n\r\n");
    }
  }

  // Parses what has arrived; true when the phase changed (dispatched or refused).
  bool parse(Connection& c) {
    const Limits& limits = options.limits;
    if (!c.head) {
      if (c.in.empty()) return false;
      const std::size_t from = c.head_scan;
      const std::string_view in = c.in;
      const bool ended = in.find("\n\r\n", from) != std::string_view::npos ||
                         in.find("\n\n", from) != std::string_view::npos;
      c.head_scan = in.size() >= 2 ? in.size() - 2 : 0;
      if (!ended && in.size() <= limits.max_head_bytes) return false;
      auto parsed = parse_head(in, limits);
      if (!parsed) {
        refuse(c, parsed.error());
        return true;
      }
      if (!*parsed) return false;
      c.head = std::move(**parsed);
    }
    const std::size_t head_size = c.head->size;
    switch (c.head->head.body) {
      case BodyKind::None:
        dispatch(c, {}, head_size);
        return true;
      case BodyKind::Length: {
        const std::size_t need = head_size + c.head->head.content_length;
        if (c.in.size() < need) {
          expect_body(c);
          return false;
        }
        dispatch(c, c.in.substr(head_size, c.head->head.content_length), need);
        return true;
      }
      case BodyKind::Chunked: {
        auto body = parse_chunked_body(std::string_view(c.in).substr(head_size), limits);
        if (!body) {
          refuse(c, body.error());
          return true;
        }
        if (!*body) {
          // Chunk framing may not multiply what a client makes us hold.
          if (c.in.size() > limits.max_head_bytes * 2 + limits.max_body_bytes * 2 + kReadChunk) {
            refuse(c, Refusal{413, "too_large", "the chunked request body has too much framing"});
            return true;
          }
          expect_body(c);
          return false;
        }
        const std::size_t size = (*body)->size;
        dispatch(c, std::move((*body)->body), head_size + size);
        return true;
      }
    }
    return false;
  }

  // Writes what it can; false when the connection closed.
  bool flush(Connection& c) {
    while (c.output_pending()) {
      const IoResult r = c.io->write(std::span<const char>(c.out).subspan(c.out_pos));
      if (r.status == IoResult::Status::Ok) {
        c.out_pos += r.bytes;
        const std::size_t own = std::min(c.uncounted, r.bytes);
        c.uncounted -= own;
        if (c.flow && r.bytes > own) c.flow->written(r.bytes - own);
        c.write_wants_read = false;
        continue;
      }
      if (r.status == IoResult::Status::WouldBlock) {
        c.write_wants_read = !r.want_write;
        return true;
      }
      close_connection(c);
      return false;
    }
    c.out.clear();
    c.out_pos = 0;
    c.write_deadline.reset();
    return true;
  }

  // Between requests: the idle timeout, unless the next one (pipelined) has begun.
  void start_waiting(Connection& c) {
    c.phase = Phase::Reading;
    c.request_started = !c.in.empty();
    c.deadline = Clock::now() + (c.request_started ? options.request_timeout : options.keep_alive_timeout);
  }

  // Moves the connection on as far as it goes without waiting.
  void progress(Connection& c) {
    if (!c.handshaken) {
      const IoResult r = c.io->handshake();
      if (r.status == IoResult::Status::WouldBlock) {
        c.read_wants_write = r.want_write;
        watch(c);
        return;
      }
      if (r.status != IoResult::Status::Ok) return close_connection(c);
      c.handshaken = true;
    }
    char buf[kReadChunk];
    for (;;) {
      if (!flush(c)) return;
      if (c.phase == Phase::Handling) {
        if (!c.response_done || c.output_pending()) break;
        c.flow.reset();
        if (c.close_after) {
          c.io->shutdown_write();
          c.phase = Phase::Lingering;
          c.deadline = Clock::now() + kLinger;
          continue;
        }
        start_waiting(c);
        continue;
      }
      if (c.phase == Phase::Reading && parse(c)) continue;
      if (c.phase == Phase::Reading && c.peer_eof) return close_connection(c);
      const IoResult r = c.io->read(std::span<char>(buf, sizeof buf));
      if (r.status == IoResult::Status::WouldBlock) {
        c.read_wants_write = r.want_write;
        break;
      }
      c.read_wants_write = false;
      if (r.status == IoResult::Status::Ok) {
        if (c.phase == Phase::Lingering) continue;
        if (!c.request_started) {
          c.request_started = true;
          c.deadline = Clock::now() + options.request_timeout;
        }
        c.in.append(buf, r.bytes);
        continue;
      }
      if (r.status == IoResult::Status::Closed && c.phase == Phase::Reading) {
        c.peer_eof = true;
        continue;
      }
      return close_connection(c);
    }
    watch(c);
  }

  void refuse_at_once(int fd, const Refusal& refusal) {
    // What the client already sent is read first, so that closing does not
    // reset the connection before it reads the answer.
    char scratch[4096];
    for (int i = 0; i < 16 && ::recv(fd, scratch, sizeof scratch, MSG_DONTWAIT) > 0; ++i) {
    }
    const std::string bytes = refusal_bytes(refusal);
    [[maybe_unused]] auto n = ::send(fd, bytes.data(), bytes.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    ::shutdown(fd, SHUT_WR);
  }

  void accept_all(int listener) {
    for (;;) {
      sockaddr_storage sa{};
      socklen_t len = sizeof sa;
      UniqueFd fd(::accept4(listener, reinterpret_cast<sockaddr*>(&sa), &len, SOCK_NONBLOCK | SOCK_CLOEXEC));
      if (!fd) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        return;  // EAGAIN, or out of descriptors: the next tick tries again
      }
      std::string peer = peer_address(sa);
      if (connections.size() >= max_connections) {
        refuse_at_once(fd.get(),
                       Refusal{503, "busy", "the server has too many connections; try again later"});
        continue;
      }
      std::size_t& from_peer = per_peer[peer];
      if (from_peer >= options.max_connections_per_peer) {
        refuse_at_once(fd.get(), Refusal{503, "busy",
                                         "too many connections from " + peer + " (at most " +
                                             std::to_string(options.max_connections_per_peer) + ")"});
        continue;
      }
      ++from_peer;
      const int one = 1;
      ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      auto c = std::make_unique<Connection>();
      c->id = next_id++;
      c->io = options.transport ? options.transport(fd.get()) : plain_transport(fd.get());
      c->fd = std::move(fd);
      c->peer = std::move(peer);
      // The first request's time runs from the accept, so that a client
      // cannot idle and then trickle for a second full deadline.
      c->deadline = Clock::now() + options.request_timeout;
      c->request_started = true;
      c->events = EPOLLIN;
      epoll_event ev{};
      ev.events = c->events;
      ev.data.u64 = c->id;
      if (!c->io || ::epoll_ctl(epoll.get(), EPOLL_CTL_ADD, c->fd.get(), &ev) != 0) {
        if (--per_peer[c->peer] == 0) per_peer.erase(c->peer);
        continue;
      }
      Connection& conn = *c;
      connections.emplace(conn.id, std::move(c));
      progress(conn);
    }
  }

  void take_outputs() {
    std::vector<Output> batch;
    {
      const std::lock_guard lock(output_mu);
      batch.swap(outputs);
    }
    for (Output& o : batch) {
      const auto it = connections.find(o.connection);
      if (it == connections.end() || it->second->dead) continue;
      Connection& c = *it->second;
      if (!c.output_pending()) {
        c.out.clear();
        c.out_pos = 0;
        c.write_deadline = Clock::now() + options.write_timeout;
      }
      c.out += o.bytes;
      if (o.last) c.response_done = true;
      if (o.close || draining) c.close_after = true;
      progress(c);
    }
  }

  // Once a tick, not once a wake-up: under load the loop wakes far more often.
  void check_deadlines() {
    const auto now = Clock::now();
    if (now - last_sweep < kTick) return;
    last_sweep = now;
    for (auto& [id, c] : connections) {
      if (c->dead) continue;
      if (c->write_deadline && now >= *c->write_deadline) {
        // Reset rather than close: the kernel would otherwise keep trying
        // to deliver what this client does not read.
        const linger abort{1, 0};
        ::setsockopt(c->fd.get(), SOL_SOCKET, SO_LINGER, &abort, sizeof abort);
        close_connection(*c);
      } else if (c->phase == Phase::Lingering && now >= c->deadline) {
        close_connection(*c);
      } else if (c->phase == Phase::Reading && now >= c->deadline) {
        // Before the handshake ends (TLS) there is no channel to answer on.
        if (!c->handshaken || (!c->request_started && c->in.empty())) {
          close_connection(*c);
          continue;
        }
        // Best effort: one write attempt, then lingering ends it.
        refuse(*c, Refusal{408, "timeout",
                           "the request did not arrive within " +
                               std::to_string(options.request_timeout.count()) + " ms"});
        progress(*c);
      }
    }
  }

  void bury_dead() {
    for (const std::uint64_t id : dead) connections.erase(id);
    dead.clear();
  }

  void begin_drain() {
    draining = true;
    listeners.clear();
    for (auto& [id, c] : connections) {
      if (c->dead) continue;
      if (c->phase == Phase::Handling) {
        c->close_after = true;
      } else {
        close_connection(*c);
      }
    }
    bury_dead();
  }

  Result<void> run() {
    epoll = UniqueFd(::epoll_create1(EPOLL_CLOEXEC));
    if (!epoll || !wake)
      return fail("http.server", std::string("cannot create the event loop: ") + std::strerror(errno));
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kWakeTag;
    ::epoll_ctl(epoll.get(), EPOLL_CTL_ADD, wake.get(), &ev);
    for (std::size_t i = 0; i < listeners.size(); ++i) {
      ev.data.u64 = i + 1;
      ::epoll_ctl(epoll.get(), EPOLL_CTL_ADD, listeners[i].get(), &ev);
    }
    max_connections = options.max_connections;
    rlimit files{};
    if (::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur != RLIM_INFINITY) {
      // Leave descriptors for the handlers' own files and databases.
      const auto spare = files.rlim_cur > 128 ? files.rlim_cur - 64 : files.rlim_cur / 2;
      max_connections = std::min<std::size_t>(max_connections, spare);
    }
    std::optional<Clock::time_point> drain_until;
    std::vector<epoll_event> events(256);
    for (;;) {
      if (stop_requested && !draining) {
        begin_drain();
        drain_until = Clock::now() + options.shutdown_timeout;
      }
      if (draining && (connections.empty() || Clock::now() >= *drain_until)) break;
      const int n = ::epoll_wait(epoll.get(), events.data(), static_cast<int>(events.size()),
                                 static_cast<int>(kTick.count()));
      if (n < 0 && errno != EINTR)
        return fail("http.server", std::string("epoll_wait: ") + std::strerror(errno));
      for (int i = 0; i < n; ++i) {
        const std::uint64_t tag = events[i].data.u64;
        if (tag == kWakeTag) {
          std::uint64_t count = 0;
          [[maybe_unused]] auto r = ::read(wake.get(), &count, sizeof count);
          continue;
        }
        if (tag < kFirstConnectionId) {
          if (!draining && tag - 1 < listeners.size()) accept_all(listeners[tag - 1].get());
          continue;
        }
        const auto it = connections.find(tag);
        if (it == connections.end() || it->second->dead) continue;
        if (events[i].events & (EPOLLERR | EPOLLHUP)) {
          close_connection(*it->second);
          continue;
        }
        progress(*it->second);
      }
      take_outputs();
      check_deadlines();
      bury_dead();
    }
    for (auto& [id, c] : connections) close_connection(*c);
    bury_dead();
    return {};
  }

  void stop_pool() {
    {
      const std::lock_guard lock(job_mu);
      pool_stopping = true;
      jobs.clear();
    }
    job_cv.notify_all();
    for (std::thread& t : workers) t.join();
    workers.clear();
  }
};

Server::Server(Handler handler, ServerOptions options)
    : impl_(std::make_unique<Impl>(std::move(handler), std::move(options))) {}

Server::~Server() {
  stop();
}

Result<Listener> listen_tcp(std::string_view host, int port) {
  const std::string h(host);
  const std::string where =
      (h.find(':') != std::string::npos ? "[" + h + "]" : h) + ":" + std::to_string(port);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  if (const int rc = ::getaddrinfo(h.c_str(), service.c_str(), &hints, &found); rc != 0) {
    return fail("http.listen", "cannot listen on " + where + ": " + ::gai_strerror(rc));
  }
  std::string why = "not an address of this machine";
  for (addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
    UniqueFd fd(::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol));
    if (!fd) continue;
    const int one = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd.get(), ai->ai_addr, ai->ai_addrlen) != 0 || ::listen(fd.get(), SOMAXCONN) != 0) {
      why = errno == EADDRINUSE ? "the port is in use" : std::strerror(errno);
      continue;
    }
    sockaddr_storage sa{};
    socklen_t len = sizeof sa;
    ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&sa), &len);
    const int bound = sa.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&sa)->sin6_port)
                                               : ntohs(reinterpret_cast<sockaddr_in*>(&sa)->sin_port);
    ::freeaddrinfo(found);
    return Listener{std::move(fd), bound};
  }
  ::freeaddrinfo(found);
  return fail("http.listen", "cannot listen on " + where + " (" + why + ")");
}

Result<int> Server::bind(std::string_view host, int port) {
  auto listener = listen_tcp(host, port);
  if (!listener) return fail("http.server", listener.error().message);
  impl_->listeners.push_back(std::move(listener->fd));
  return listener->port;
}

Result<void> Server::serve() {
  if (impl_->listeners.empty()) return fail("http.server", "serve() before bind()");
  if (impl_->stop_requested) return {};
  const std::size_t threads = std::max<std::size_t>(impl_->options.threads, 1);
  for (std::size_t i = 0; i < threads; ++i) impl_->workers.emplace_back([this] { impl_->work(); });
  auto ran = impl_->run();
  impl_->listeners.clear();
  impl_->stop_pool();
  return ran;
}

void Server::stop() {
  impl_->stop_requested = true;
  impl_->notify_loop();
}

bool Server::stopping() const {
  return impl_->stop_requested;
}

}  // namespace ward::http
