#include "serve/relay.h"

#include <poll.h>

#include <arpa/inet.h>
#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <netinet/in.h>
#include <sys/socket.h>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "base/unique_fd.h"
#include "http/server.h"

namespace ward::serve {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

UniqueFd connect_to(int port) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in dst{};
  dst.sin_family = AF_INET;
  dst.sin_port = htons(static_cast<std::uint16_t>(port));
  dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::connect(fd.get(), reinterpret_cast<sockaddr*>(&dst), sizeof dst), 0);
  return fd;
}

bool send_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// Appends what arrives within `limit`; false at the end of the stream or on a timeout.
bool receive(int fd, std::string& into, std::chrono::milliseconds limit) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(limit.count())) <= 0) return false;
  char buf[65536];
  const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
  if (n <= 0) return false;
  into.append(buf, static_cast<std::size_t>(n));
  return true;
}

// The value of field `name` in a message head; nullopt when absent.
std::optional<std::string> field(std::string_view head, std::string_view name) {
  std::size_t pos = head.find("\r\n");
  while (pos != std::string_view::npos && pos + 2 < head.size()) {
    const std::size_t start = pos + 2;
    const std::size_t end = head.find("\r\n", start);
    const std::string_view line = head.substr(start, end - start);
    if (line.empty()) break;
    const auto colon = line.find(':');
    if (colon != std::string_view::npos && http::iequals(line.substr(0, colon), name)) {
      return std::string(http::trim(line.substr(colon + 1)));
    }
    pos = end;
  }
  return std::nullopt;
}

// A request as the upstream received it.
struct Seen {
  std::string head;
  std::string body;
};

// Reads one request (Content-Length bodies only, as the relay sends them);
// nullopt at the end of the connection.
std::optional<Seen> read_request(int fd, std::string& buffer) {
  std::size_t end;
  while ((end = buffer.find("\r\n\r\n")) == std::string::npos) {
    if (!receive(fd, buffer, 10s)) return std::nullopt;
  }
  Seen seen{buffer.substr(0, end + 2), ""};
  buffer.erase(0, end + 4);
  const std::size_t length = std::stoul(field(seen.head, "Content-Length").value_or("0"));
  while (buffer.size() < length) {
    if (!receive(fd, buffer, 10s)) return std::nullopt;
  }
  seen.body = buffer.substr(0, length);
  buffer.erase(0, length);
  return seen;
}

// An upstream of raw sockets, so that it can misbehave: each connection runs
// `serve` on a thread of its own. A connection ends with shutdown(), so that
// its descriptor stays valid until the upstream is destroyed.
class RawUpstream {
 public:
  using Serve = std::function<void(int fd)>;

  explicit RawUpstream(Serve serve) : serve_(std::move(serve)) {
    listener_ = UniqueFd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(listener_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::listen(listener_.get(), 64), 0);
    socklen_t size = sizeof addr;
    ::getsockname(listener_.get(), reinterpret_cast<sockaddr*>(&addr), &size);
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
  }

  ~RawUpstream() {
    stopping_ = true;
    acceptor_.join();
    const std::lock_guard lock(mu_);
    for (const UniqueFd& fd : fds_) ::shutdown(fd.get(), SHUT_RDWR);
    for (std::thread& t : workers_) t.join();
  }

  int port() const { return port_; }
  int connections() const { return accepted_; }

 private:
  void accept_loop() {
    while (!stopping_) {
      pollfd p{listener_.get(), POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      const int fd = ::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      ++accepted_;
      const std::lock_guard lock(mu_);
      fds_.emplace_back(fd);
      workers_.emplace_back([this, fd] { serve_(fd); });
    }
  }

  Serve serve_;
  UniqueFd listener_;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> accepted_{0};
  std::mutex mu_;
  std::vector<UniqueFd> fds_;
  std::vector<std::thread> workers_;
  std::thread acceptor_;
};

// Serves requests on one connection while `answer` gives their responses.
RawUpstream::Serve keep_alive(std::function<std::string(const Seen&)> answer) {
  return [answer = std::move(answer)](int fd) {
    std::string buffer;
    while (auto seen = read_request(fd, buffer)) {
      if (!send_all(fd, answer(*seen))) return;
    }
  };
}

// The front: an http::Server whose handler is a Forwarder to `port`.
class Front {
 public:
  explicit Front(int upstream_port, std::chrono::milliseconds timeout = 3s, ForwarderOptions options = {})
      : forwarder_([upstream_port, timeout] { return connect_tcp("127.0.0.1", upstream_port, timeout); },
                   options),
        server_(
            [this](const http::Request& r) {
              return forwarder_.forward(r, [this](const Exchange& e) {
                const std::lock_guard lock(mu_);
                exchanges_.push_back(e);
              });
            },
            http::ServerOptions{.threads = 8}) {
    port_ = server_.bind("127.0.0.1", 0).value();
    thread_ = std::thread([this] { (void)server_.serve(); });
  }
  ~Front() {
    server_.stop();
    thread_.join();
  }

  int port() const { return port_; }
  std::vector<Exchange> exchanges() {
    const std::lock_guard lock(mu_);
    return exchanges_;
  }

 private:
  Forwarder forwarder_;
  http::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::vector<Exchange> exchanges_;
};

struct Answer {
  int status = 0;
  std::string head;       // the status line and fields
  std::string body;       // de-chunked
  bool closed = false;    // the server closed the connection within the limit
  bool complete = false;  // the body reached its end: its length, its last chunk, or the close
};

// Sends `request`, which asks for Connection: close, and reads the answer to
// the end of the connection, or for `limit`.
Answer fetch(int port, std::string_view request, std::chrono::milliseconds limit = 5s) {
  const UniqueFd fd = connect_to(port);
  send_all(fd.get(), request);
  const auto deadline = Clock::now() + limit;
  std::string bytes;
  Answer a;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left <= 0ms) break;
    if (!receive(fd.get(), bytes, left)) {
      a.closed = Clock::now() < deadline;
      break;
    }
  }
  const std::size_t end = bytes.find("\r\n\r\n");
  if (end == std::string::npos) return a;
  a.head = bytes.substr(0, end + 2);
  a.status = std::atoi(a.head.c_str() + 9);
  std::string_view rest = std::string_view(bytes).substr(end + 4);
  if (request.starts_with("HEAD ")) {
    a.complete = rest.empty();
  } else if (field(a.head, "Transfer-Encoding") == "chunked") {
    for (;;) {
      const std::size_t line = rest.find("\r\n");
      if (line == std::string_view::npos) break;
      const std::size_t size = std::stoul(std::string(rest.substr(0, line)), nullptr, 16);
      if (rest.size() < line + 2 + size + 2) {
        a.body += rest.substr(line + 2);
        break;
      }
      a.body += rest.substr(line + 2, size);
      rest.remove_prefix(line + 2 + size + 2);
      if (size == 0) {
        a.complete = true;
        break;
      }
    }
  } else if (auto length = field(a.head, "Content-Length")) {
    a.body = rest;
    a.complete = a.body.size() == std::stoul(*length);
  } else {
    a.body = rest;
    a.complete = a.closed;
  }
  return a;
}

std::string get(std::string_view path, std::string_view extra = "") {
  return "GET " + std::string(path) + " HTTP/1.1\r\nHost: model.test\r\nConnection: close\r\n" +
         std::string(extra) + "\r\n";
}

std::string reason_of(const Answer& a) {
  const auto j = nlohmann::json::parse(a.body, nullptr, false);
  return j.is_object() && j.contains("error") ? j["error"]["reason"].get<std::string>() : "";
}

std::string ok(std::string_view body, std::string_view extra = "") {
  return "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" + std::string(extra) +
         "\r\n" + std::string(body);
}

// ---- relaying ----

TEST(Forwarder, RelaysGetWithEndToEndFieldsAndWithoutHopByHopOnes) {
  std::mutex mu;
  Seen seen;
  RawUpstream upstream(keep_alive([&](const Seen& s) {
    const std::lock_guard lock(mu);
    seen = s;
    return ok(R"({"answer":42})",
              "Content-Type: application/json\r\nConnection: keep-alive, X-Hop\r\nKeep-Alive: timeout=5\r\n"
              "X-Hop: 1\r\nX-Reply: yes\r\n");
  }));
  Front front(upstream.port());
  const Answer a = fetch(front.port(), get("/v1/models?x=1",
                                           "X-Custom: a\r\nKeep-Alive: 300\r\nTE: trailers\r\n"
                                           "Upgrade: h2c\r\nConnection: X-Drop\r\nX-Drop: 1\r\n"
                                           "Proxy-Connection: keep-alive\r\n"));
  ASSERT_EQ(a.status, 200);
  EXPECT_EQ(a.body, R"({"answer":42})");
  EXPECT_TRUE(a.complete);
  // A small answer keeps its length rather than being re-chunked.
  EXPECT_EQ(field(a.head, "Content-Length"), "13");
  EXPECT_EQ(field(a.head, "Content-Type"), "application/json");
  EXPECT_EQ(field(a.head, "X-Reply"), "yes");
  EXPECT_FALSE(field(a.head, "Keep-Alive"));
  EXPECT_FALSE(field(a.head, "X-Hop"));

  const std::lock_guard lock(mu);
  EXPECT_TRUE(seen.head.starts_with("GET /v1/models?x=1 HTTP/1.1\r\n")) << seen.head;
  EXPECT_EQ(field(seen.head, "Host"), "model.test");
  EXPECT_EQ(field(seen.head, "X-Custom"), "a");
  for (const char* name : {"Connection", "Keep-Alive", "TE", "Upgrade", "X-Drop", "Proxy-Connection",
                           "Content-Length", "Transfer-Encoding"}) {
    EXPECT_FALSE(field(seen.head, name)) << name << " was relayed";
  }
  const auto exchanges = front.exchanges();
  ASSERT_EQ(exchanges.size(), 1u);
  EXPECT_EQ(exchanges[0].status, 200);
  EXPECT_EQ(exchanges[0].response_bytes, 13u);
  EXPECT_TRUE(exchanges[0].complete);
}

TEST(Forwarder, RelaysAChunkedPostWithItsOwnLength) {
  std::mutex mu;
  Seen seen;
  RawUpstream upstream(keep_alive([&](const Seen& s) {
    const std::lock_guard lock(mu);
    seen = s;
    return ok("got " + s.body);
  }));
  Front front(upstream.port());
  const Answer a = fetch(front.port(),
                         "POST /v1/chat HTTP/1.1\r\nHost: model.test\r\nConnection: close\r\n"
                         "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                         "6\r\n{\"q\":1\r\n1\r\n}\r\n0\r\n\r\n");
  ASSERT_EQ(a.status, 200);
  EXPECT_EQ(a.body, "got {\"q\":1}");
  const std::lock_guard lock(mu);
  EXPECT_TRUE(seen.head.starts_with("POST /v1/chat HTTP/1.1\r\n"));
  EXPECT_EQ(field(seen.head, "Content-Length"), "7");
  EXPECT_EQ(field(seen.head, "Content-Type"), "application/json");
  EXPECT_FALSE(field(seen.head, "Transfer-Encoding"));
  EXPECT_EQ(seen.body, "{\"q\":1}");
  ASSERT_EQ(front.exchanges().size(), 1u);
  EXPECT_EQ(front.exchanges()[0].request_bytes, 7u);
}

TEST(Forwarder, ReusesOneUpstreamConnectionForSequentialRequests) {
  RawUpstream upstream(keep_alive([](const Seen& s) { return ok(s.head.substr(0, s.head.find("\r\n"))); }));
  Front front(upstream.port());
  for (int i = 0; i < 10; ++i) {
    const std::string path = "/n/" + std::to_string(i);
    const Answer a = fetch(front.port(), get(path));
    ASSERT_EQ(a.status, 200);
    EXPECT_EQ(a.body, "GET " + path + " HTTP/1.1");
  }
  EXPECT_EQ(upstream.connections(), 1);
}

TEST(Forwarder, ServesManyHandlerThreadsAtOnce) {
  RawUpstream upstream(keep_alive([](const Seen& s) { return ok(s.head.substr(0, s.head.find("\r\n"))); }));
  Front front(upstream.port());
  std::atomic<int> good{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 8; ++c) {
    clients.emplace_back([&, c] {
      for (int i = 0; i < 10; ++i) {
        const std::string path = "/c" + std::to_string(c) + "/" + std::to_string(i);
        const Answer a = fetch(front.port(), get(path));
        if (a.status == 200 && a.body == "GET " + path + " HTTP/1.1") ++good;
      }
    });
  }
  for (std::thread& t : clients) t.join();
  EXPECT_EQ(good, 80);
  EXPECT_LE(upstream.connections(), 8);
}

TEST(Forwarder, DropsPooledConnectionsPastTheIdleTimeoutOrTheIdleLimit) {
  RawUpstream upstream(keep_alive([](const Seen&) { return ok("x"); }));
  {
    Front front(upstream.port(), 3s, ForwarderOptions{.idle_timeout = 50ms});
    EXPECT_EQ(fetch(front.port(), get("/")).body, "x");
    std::this_thread::sleep_for(150ms);
    EXPECT_EQ(fetch(front.port(), get("/")).body, "x");
    EXPECT_EQ(upstream.connections(), 2);
  }
  Front front(upstream.port(), 3s, ForwarderOptions{.max_idle = 0});
  EXPECT_EQ(fetch(front.port(), get("/")).body, "x");
  EXPECT_EQ(fetch(front.port(), get("/")).body, "x");
  EXPECT_EQ(upstream.connections(), 4);
}

TEST(Forwarder, HoldsTheUpstreamHeadToTheResponseLimits) {
  RawUpstream upstream(keep_alive([](const Seen&) { return ok("x", "A: 1\r\nB: 2\r\n"); }));
  http::Limits limits;
  limits.max_headers = 2;
  Front front(upstream.port(), 3s, ForwarderOptions{.response_limits = limits});
  const Answer a = fetch(front.port(), get("/"));
  EXPECT_EQ(a.status, 502);
  EXPECT_NE(a.body.find("more than 2 header fields"), std::string::npos) << a.body;
}

TEST(Forwarder, StreamsServerSentEventsAsTheyAreProduced) {
  std::promise<Clock::time_point> second_written;
  RawUpstream upstream([&](int fd) {
    std::string buffer;
    if (!read_request(fd, buffer)) return;
    send_all(fd,
             "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
             "b\r\ndata: one\n\n\r\n");
    std::this_thread::sleep_for(1500ms);
    second_written.set_value(Clock::now());
    send_all(fd, "b\r\ndata: two\n\n\r\n0\r\n\r\n");
  });
  Front front(upstream.port());
  const UniqueFd fd = connect_to(front.port());
  const auto sent = Clock::now();
  send_all(fd.get(), get("/v1/events"));
  std::string bytes;
  while (bytes.find("data: one") == std::string::npos) ASSERT_TRUE(receive(fd.get(), bytes, 5s));
  const auto first = Clock::now();
  while (bytes.find("data: two") == std::string::npos) ASSERT_TRUE(receive(fd.get(), bytes, 5s));
  const auto written = second_written.get_future().get();
  EXPECT_EQ(field(bytes, "Content-Type"), "text/event-stream");
  EXPECT_EQ(field(bytes, "Transfer-Encoding"), "chunked");
  // The first event is not held back until the second one, 1.5 s later
  // (the margin is for a loaded machine running ASan).
  EXPECT_LT(first, written - 1000ms)
      << "event 1 came " << std::chrono::duration_cast<std::chrono::milliseconds>(first - sent).count()
      << " ms after the request";
}

TEST(Forwarder, DecodesAChunkedUpstreamAndKeepsItsConnection) {
  RawUpstream upstream(keep_alive([](const Seen&) {
    return std::string(
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n"
        "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: 1\r\n\r\n");
  }));
  Front front(upstream.port());
  for (int i = 0; i < 2; ++i) {
    const Answer a = fetch(front.port(), get("/"));
    ASSERT_EQ(a.status, 200);
    EXPECT_EQ(a.body, "hello world");
    EXPECT_TRUE(a.complete);
    EXPECT_FALSE(field(a.head, "Trailer"));
  }
  EXPECT_EQ(upstream.connections(), 1);
  EXPECT_EQ(front.exchanges().back().response_bytes, 11u);
}

TEST(Forwarder, StreamsALargeBodyOfKnownLength) {
  const std::string big(1 << 20, 'x');
  RawUpstream upstream(keep_alive([&](const Seen&) { return ok(big); }));
  Front front(upstream.port());
  const Answer a = fetch(front.port(), get("/big"));
  ASSERT_EQ(a.status, 200);
  EXPECT_EQ(field(a.head, "Transfer-Encoding"), "chunked");
  EXPECT_EQ(a.body, big);
  EXPECT_TRUE(a.complete);
  EXPECT_EQ(fetch(front.port(), get("/big")).body, big);
  EXPECT_EQ(upstream.connections(), 1);
}

TEST(Forwarder, ReadsABodyOfUnknownLengthUntilTheUpstreamCloses) {
  for (const char* version : {"HTTP/1.0", "HTTP/1.1"}) {
    RawUpstream upstream([&](int fd) {
      std::string buffer;
      if (!read_request(fd, buffer)) return;
      send_all(fd, std::string(version) + " 200 OK\r\nContent-Type: text/plain\r\n\r\nhello ");
      std::this_thread::sleep_for(20ms);
      send_all(fd, "world");
      ::shutdown(fd, SHUT_RDWR);
    });
    Front front(upstream.port());
    for (int i = 0; i < 2; ++i) {
      const Answer a = fetch(front.port(), get("/"));
      ASSERT_EQ(a.status, 200) << version;
      EXPECT_EQ(a.body, "hello world");
      EXPECT_TRUE(a.complete);
    }
    // Such a connection is done: never pooled.
    EXPECT_EQ(upstream.connections(), 2);
    EXPECT_TRUE(front.exchanges().back().complete);
  }
}

TEST(Forwarder, AnswersHeadWithoutABodyAndKeepsTheConnection) {
  RawUpstream upstream(keep_alive([](const Seen& s) {
    if (s.head.starts_with("HEAD "))
      return std::string("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nX-Kind: head\r\n\r\n");
    return ok("full");
  }));
  Front front(upstream.port());
  const Answer head = fetch(front.port(), "HEAD / HTTP/1.1\r\nHost: m\r\nConnection: close\r\n\r\n");
  ASSERT_EQ(head.status, 200);
  EXPECT_EQ(field(head.head, "X-Kind"), "head");
  EXPECT_TRUE(head.complete);
  EXPECT_TRUE(head.closed);
  const Answer a = fetch(front.port(), get("/"));
  EXPECT_EQ(a.body, "full");
  EXPECT_EQ(upstream.connections(), 1);
}

TEST(Forwarder, RelaysNoContentAndSkipsInterimResponses) {
  RawUpstream upstream(keep_alive([](const Seen& s) {
    if (s.head.starts_with("DELETE ")) return std::string("HTTP/1.1 204 No Content\r\nX-Gone: 1\r\n\r\n");
    return std::string(
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  }));
  Front front(upstream.port());
  const Answer gone = fetch(front.port(), "DELETE /x HTTP/1.1\r\nHost: m\r\nConnection: close\r\n\r\n");
  ASSERT_EQ(gone.status, 204);
  EXPECT_EQ(field(gone.head, "X-Gone"), "1");
  EXPECT_TRUE(gone.body.empty());
  const Answer a = fetch(front.port(), get("/"));
  ASSERT_EQ(a.status, 200);
  EXPECT_EQ(a.body, "ok");
  EXPECT_FALSE(field(a.head, "Link"));
  EXPECT_EQ(upstream.connections(), 1);
}

// ---- failures ----

TEST(Forwarder, AnswersAMalformedUpstreamHeadWith502) {
  for (const char* bad : {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\nhello",
                          "HELLO\r\n\r\n", "HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n",
                          "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n"}) {
    RawUpstream upstream([&](int fd) {
      std::string buffer;
      if (read_request(fd, buffer)) send_all(fd, bad);
    });
    Front front(upstream.port());
    const Answer a = fetch(front.port(), get("/"));
    EXPECT_EQ(a.status, 502) << bad;
    EXPECT_EQ(reason_of(a), "upstream") << bad;
  }
}

TEST(Forwarder, AnswersAnUpstreamThatClosesBeforeItsHeadWith502) {
  RawUpstream upstream([](int fd) {
    std::string buffer;
    if (read_request(fd, buffer)) send_all(fd, "HTTP/1.1 200 OK\r\nContent-");
    ::shutdown(fd, SHUT_RDWR);
  });
  Front front(upstream.port());
  const Answer a = fetch(front.port(), get("/"));
  EXPECT_EQ(a.status, 502);
  EXPECT_EQ(reason_of(a), "upstream");
  EXPECT_EQ(front.exchanges().at(0).status, 502);
  EXPECT_FALSE(front.exchanges().at(0).complete);
}

TEST(Forwarder, AnswersAnUnreachableUpstreamWith502) {
  int port = 0;
  {
    RawUpstream gone([](int) {});
    port = gone.port();
  }
  Front front(port);
  const Answer a = fetch(front.port(), get("/"));
  EXPECT_EQ(a.status, 502);
  EXPECT_EQ(reason_of(a), "upstream");
}

TEST(Forwarder, AnswersAnUpstreamThatDoesNotAnswerInTimeWith504) {
  RawUpstream upstream([](int fd) {
    std::string buffer;
    if (read_request(fd, buffer)) receive(fd, buffer, 10s);
  });
  Front front(upstream.port(), 300ms);
  const auto start = Clock::now();
  const Answer a = fetch(front.port(), get("/"));
  EXPECT_EQ(a.status, 504);
  EXPECT_EQ(reason_of(a), "upstream_timeout");
  EXPECT_LT(Clock::now() - start, 3s);
}

TEST(Forwarder, CutsTheClientOffWhenTheUpstreamDiesMidBody) {
  RawUpstream upstream([](int fd) {
    std::string buffer;
    if (read_request(fd, buffer))
      send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n" + std::string(1000, 'a'));
    ::shutdown(fd, SHUT_RDWR);
  });
  Front front(upstream.port());
  const Answer a = fetch(front.port(), get("/"));
  EXPECT_EQ(a.status, 200);
  EXPECT_TRUE(a.closed) << "the client was left hanging";
  EXPECT_FALSE(a.complete);
  EXPECT_EQ(a.body, std::string(1000, 'a'));
  ASSERT_EQ(front.exchanges().size(), 1u);
  EXPECT_FALSE(front.exchanges()[0].complete);
  EXPECT_EQ(front.exchanges()[0].response_bytes, 1000u);
  // The broken connection was not pooled: the next request dials again.
  fetch(front.port(), get("/"));
  EXPECT_EQ(upstream.connections(), 2);
}

TEST(Forwarder, CutsAChunkedBodyThatBreaksOff) {
  RawUpstream upstream([](int fd) {
    std::string buffer;
    if (read_request(fd, buffer)) {
      send_all(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nZZ\r\n");
    }
    receive(fd, buffer, 10s);
  });
  Front front(upstream.port());
  const Answer a = fetch(front.port(), get("/"));
  EXPECT_EQ(a.status, 200);
  EXPECT_TRUE(a.closed);
  EXPECT_FALSE(a.complete);
  EXPECT_EQ(a.body, "hello");
}

TEST(Forwarder, AnswersASmallBodyThatBreaksOffWith502) {
  RawUpstream upstream([](int fd) {
    std::string buffer;
    if (read_request(fd, buffer)) send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort");
    ::shutdown(fd, SHUT_RDWR);
  });
  Front front(upstream.port());
  const Answer a = fetch(front.port(), get("/"));
  EXPECT_EQ(a.status, 502);
  EXPECT_EQ(reason_of(a), "upstream");
  fetch(front.port(), get("/"));
  EXPECT_EQ(upstream.connections(), 2);
}

TEST(Forwarder, RetriesADeadPooledConnectionOnAFreshOne) {
  // Each connection answers one request, then closes: the pooled one is dead.
  RawUpstream upstream([](int fd) {
    std::string buffer;
    if (read_request(fd, buffer)) send_all(fd, ok("fine"));
    ::shutdown(fd, SHUT_RDWR);
  });
  Front front(upstream.port());
  for (int i = 0; i < 3; ++i) {
    const Answer a = fetch(front.port(), get("/"));
    ASSERT_EQ(a.status, 200) << "request " << i << ": " << a.body;
    EXPECT_EQ(a.body, "fine");
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(upstream.connections(), 3);
}

TEST(Forwarder, DoesNotRetryAPooledConnectionThatHadAnswered) {
  std::atomic<int> requests{0};
  RawUpstream upstream([&](int fd) {
    std::string buffer;
    if (read_request(fd, buffer)) send_all(fd, ok("first"));
    if (read_request(fd, buffer)) {
      ++requests;
      send_all(fd, "HTTP/1.1 200 OK\r\nContent-");
    }
    ::shutdown(fd, SHUT_RDWR);
  });
  Front front(upstream.port());
  EXPECT_EQ(fetch(front.port(), get("/")).body, "first");
  const Answer a = fetch(front.port(), get("/"));
  EXPECT_EQ(a.status, 502);
  EXPECT_EQ(requests, 1);
  EXPECT_EQ(upstream.connections(), 1);
}

TEST(Forwarder, ClosesTheUpstreamWhenTheClientLeavesMidStream) {
  std::promise<void> upstream_cut;
  RawUpstream upstream([&](int fd) {
    std::string buffer;
    if (!read_request(fd, buffer)) return;
    send_all(fd, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n");
    const auto give_up = Clock::now() + 10s;
    while (Clock::now() < give_up) {
      if (!send_all(fd, "data: token\n\n")) {
        upstream_cut.set_value();
        return;
      }
      std::this_thread::sleep_for(5ms);
    }
  });
  Front front(upstream.port());
  {
    const UniqueFd fd = connect_to(front.port());
    send_all(fd.get(), get("/v1/events"));
    std::string bytes;
    while (bytes.find("data: token") == std::string::npos) ASSERT_TRUE(receive(fd.get(), bytes, 5s));
  }
  auto cut = upstream_cut.get_future();
  EXPECT_EQ(cut.wait_for(5s), std::future_status::ready) << "the upstream connection was left open";
  // The exchange is reported just after the upstream connection is closed.
  const auto give_up = Clock::now() + 5s;
  while (front.exchanges().empty() && Clock::now() < give_up) std::this_thread::sleep_for(5ms);
  const auto exchanges = front.exchanges();
  ASSERT_EQ(exchanges.size(), 1u);
  EXPECT_FALSE(exchanges[0].complete);
}

// ---- the response head parser ----

http::Limits small_limits() {
  http::Limits limits;
  limits.max_head_bytes = 256;
  limits.max_headers = 4;
  return limits;
}

ParsedResponseHead parsed(std::string_view bytes) {
  auto r = parse_response_head(bytes, small_limits());
  EXPECT_TRUE(r) << (r ? "" : r.error().message);
  EXPECT_TRUE(r && *r) << "incomplete";
  return r && *r ? **r : ParsedResponseHead{};
}

std::string refused(std::string_view bytes) {
  auto r = parse_response_head(bytes, small_limits());
  if (r) return "accepted";
  EXPECT_EQ(r.error().code, "serve.upstream");
  return r.error().message;
}

TEST(ParseResponseHead, ReadsTheFramingOfEachKindOfResponse) {
  const std::string text = "HTTP/1.1 200 OK\r\nContent-Length: 12\r\ncontent-length: 12\r\n\r\nbody";
  const auto length = parsed(text);
  EXPECT_EQ(length.head.status, 200);
  EXPECT_EQ(length.head.reason, "OK");
  EXPECT_EQ(length.head.body, ResponseBody::Length);
  EXPECT_EQ(length.head.content_length, 12u);
  EXPECT_TRUE(length.head.keep_alive);
  EXPECT_EQ(length.size, text.find("body"));

  const auto chunked = parsed("HTTP/1.1 200 OK\nTransfer-Encoding: Chunked\nConnection: close\n\n");
  EXPECT_EQ(chunked.head.body, ResponseBody::Chunked);
  EXPECT_FALSE(chunked.head.keep_alive);

  const auto old = parsed("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n");
  EXPECT_EQ(old.head.version_minor, 0);
  EXPECT_EQ(old.head.body, ResponseBody::UntilClose);
  EXPECT_FALSE(old.head.keep_alive);
  EXPECT_TRUE(
      parsed("HTTP/1.0 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n").head.keep_alive);
  EXPECT_FALSE(parsed("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n").head.keep_alive);

  EXPECT_EQ(parsed("HTTP/1.1 204 No Content\r\n\r\n").head.body, ResponseBody::None);
  EXPECT_EQ(parsed("HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n").head.body, ResponseBody::None);
  EXPECT_EQ(parsed("HTTP/1.1 100 Continue\r\n\r\n").head.body, ResponseBody::None);
  EXPECT_EQ(parsed("HTTP/1.1 200\r\n\r\n").head.reason, "");
  EXPECT_EQ(parsed("HTTP/1.1 404 \r\n\r\n").head.status, 404);
}

TEST(ParseResponseHead, WaitsForTheWholeHead) {
  for (std::string_view partial :
       {"", "HTTP/1.1 200 OK", "HTTP/1.1 200 OK\r\n", "HTTP/1.1 200 OK\r\nX: y\r\n\r"}) {
    auto r = parse_response_head(partial, small_limits());
    ASSERT_TRUE(r) << partial;
    EXPECT_FALSE(*r) << partial;
  }
}

TEST(ParseResponseHead, RefusesFramingThatCouldBeReadTwoWays) {
  EXPECT_EQ(refused("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"),
            "the upstream's response has both Content-Length and Transfer-Encoding");
  EXPECT_EQ(refused("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"),
            "the upstream's response has two different Content-Lengths");
  EXPECT_EQ(refused("HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n"),
            "the upstream's response has a Content-Length that is not a number");
  EXPECT_EQ(refused("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"),
            "the upstream's response has a Content-Length that is not a number");
  EXPECT_EQ(refused("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n"),
            "the upstream's response has a Content-Length out of range");
  EXPECT_EQ(refused("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
            "the upstream's response has a transfer coding other than one chunked");
  EXPECT_EQ(refused("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"),
            "the upstream's response has a transfer coding other than one chunked");
  EXPECT_EQ(refused("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
            "the upstream's response is HTTP/1.0 with Transfer-Encoding");
  EXPECT_EQ(refused("HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\n\r\n"),
            "the upstream's response folds a header line (obs-fold)");
  EXPECT_EQ(refused("HTTP/1.1 200 OK\r\nX-A: 1\rX-B: 2\r\n\r\n"),
            "the upstream's response has a bare CR in its head");
  EXPECT_EQ(refused("HTTP/1.1 200 OK\r\r\n\r\n"), "the upstream's response has a bare CR in its head");
}

TEST(ParseResponseHead, RefusesBadStatusLines) {
  EXPECT_EQ(refused("HTTP/2 200 OK\r\n\r\n"), "the upstream's response is not HTTP/1.0 or HTTP/1.1");
  EXPECT_EQ(refused("HTTP/1.2 200 OK\r\n\r\n"), "the upstream's response is not HTTP/1.0 or HTTP/1.1");
  EXPECT_EQ(refused("ICY 200 OK\r\n\r\n"), "the upstream's response does not start with a status line");
  EXPECT_EQ(refused("\r\nHTTP/1.1 200 OK\r\n\r\n"),
            "the upstream's response does not start with a status line");
  EXPECT_EQ(refused("HTTP/1.1  200 OK\r\n\r\n"),
            "the upstream's response has no status code from 100 to 599");
  EXPECT_EQ(refused("HTTP/1.1 20 OK\r\n\r\n"), "the upstream's response has no status code from 100 to 599");
  EXPECT_EQ(refused("HTTP/1.1 099 OK\r\n\r\n"), "the upstream's response has no status code from 100 to 599");
  EXPECT_EQ(refused("HTTP/1.1 600 OK\r\n\r\n"), "the upstream's response has no status code from 100 to 599");
  EXPECT_EQ(refused("HTTP/1.1 2000 OK\r\n\r\n"),
            "the upstream's response has a status code longer than three digits");
  EXPECT_EQ(refused(std::string("HTTP/1.1 200 O\x01K\r\n\r\n")),
            "the upstream's response has control characters in its reason phrase");
}

TEST(ParseResponseHead, RefusesBadFieldsAndHeadsOverTheLimits) {
  EXPECT_EQ(refused("HTTP/1.1 200 OK\r\nNo colon\r\n\r\n"),
            "the upstream's response has a header line that is not NAME: VALUE");
  EXPECT_EQ(refused("HTTP/1.1 200 OK\r\nX-A : 1\r\n\r\n"),
            "the upstream's response has a header line that is not NAME: VALUE");
  EXPECT_EQ(refused(std::string("HTTP/1.1 200 OK\r\nX-A: a\x7f\r\n\r\n")),
            "the upstream's response has control characters in a header value");
  EXPECT_EQ(refused("HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n\r\n"),
            "the upstream's response has more than 4 header fields");
  EXPECT_EQ(refused("HTTP/1.1 200 OK\r\nX: " + std::string(300, 'a') + "\r\n\r\n"),
            "the upstream's response head is larger than 256 bytes");
  EXPECT_EQ(refused("HTTP/1.1 200 OK\r\nX: " + std::string(300, 'a')),
            "the upstream's response head is larger than 256 bytes");
}

// ---- the chunked decoder ----

Result<std::string> decode_all(std::string_view input, std::size_t step, bool& done) {
  ChunkedDecoder decoder(small_limits());
  std::string out;
  while (!input.empty() && !decoder.done()) {
    const std::string_view piece = input.substr(0, step);
    auto used = decoder.decode(piece, out);
    if (!used) return std::unexpected(used.error());
    input.remove_prefix(*used);
  }
  done = decoder.done();
  return out;
}

TEST(ChunkedDecoder, DecodesTheSameWhateverThePieces) {
  const std::string body = "5;name=value\r\nhello\r\n1\nA\n10\r\n0123456789abcdef\r\n0\r\nX-T: 1\r\n\r\nNEXT";
  for (std::size_t step : {std::size_t{1}, std::size_t{2}, std::size_t{7}, body.size()}) {
    bool done = false;
    auto out = decode_all(body, step, done);
    ASSERT_TRUE(out) << out.error().message;
    EXPECT_EQ(*out, "helloA0123456789abcdef") << step;
    EXPECT_TRUE(done);
  }
  ChunkedDecoder decoder(small_limits());
  std::string out;
  auto used = decoder.decode(body, out);
  ASSERT_TRUE(used);
  EXPECT_EQ(body.substr(*used), "NEXT");
}

TEST(ChunkedDecoder, RefusesBadChunks) {
  const auto refused_chunk = [](std::string_view input) {
    bool done = false;
    auto out = decode_all(input, input.size(), done);
    if (out) return std::string("accepted");
    EXPECT_EQ(out.error().code, "serve.upstream");
    return out.error().message;
  };
  EXPECT_EQ(refused_chunk("xyz\r\n"), "the upstream's chunked body has a chunk size that is not hex");
  EXPECT_EQ(refused_chunk("\r\n"),
            "the upstream's chunked body has a chunk size that is not 1 to 15 hex digits");
  EXPECT_EQ(refused_chunk("1000000000000000\r\n"),
            "the upstream's chunked body has a chunk size that is not 1 to 15 hex digits");
  EXPECT_EQ(refused_chunk("-1\r\n"), "the upstream's chunked body has a chunk size that is not hex");
  EXPECT_EQ(refused_chunk("3\r\nabcd\r\n"), "the upstream's chunked body has a chunk longer than its size");
  EXPECT_EQ(refused_chunk("3\r\nabc\rX"), "the upstream's chunked body has a chunk longer than its size");
  EXPECT_EQ(refused_chunk("3\rx\nabc\r\n"), "the upstream's chunked body has a bare CR");
  EXPECT_EQ(refused_chunk("3;" + std::string(300, 'e')),
            "the upstream's chunked body has a line longer than 256 bytes");
  std::string trailer = "0\r\n";
  for (int i = 0; i < 20; ++i) trailer += "X-Trailer: 0123456789\r\n";
  EXPECT_EQ(refused_chunk(trailer), "the upstream's chunked body has a trailer larger than 256 bytes");
}

}  // namespace
}  // namespace ward::serve
