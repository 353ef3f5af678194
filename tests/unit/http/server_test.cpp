#include "http/server.h"

#include <poll.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <atomic>
#include <chrono>
#include <netinet/in.h>
#include <sys/socket.h>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "base/unique_fd.h"

namespace ward::http {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// A connection from 127.0.0.<from> to the server on 127.0.0.1.
UniqueFd connect_to(int port, int from = 1) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in src{};
  src.sin_family = AF_INET;
  src.sin_addr.s_addr = htonl((127u << 24) | static_cast<unsigned>(from));
  sockaddr_in dst{};
  dst.sin_family = AF_INET;
  dst.sin_port = htons(static_cast<std::uint16_t>(port));
  dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&src), sizeof src), 0);
  EXPECT_EQ(::connect(fd.get(), reinterpret_cast<sockaddr*>(&dst), sizeof dst), 0);
  return fd;
}

void send_all(const UniqueFd& fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0) return;
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

struct Answer {
  int status = 0;  // 0: closed or timed out before a whole response
  std::string head;
  std::string body;
};

// Reads one response (Content-Length or chunked, or to EOF), waiting up to `limit`.
Answer read_answer(const UniqueFd& fd, std::string& buffer, std::chrono::milliseconds limit = 5s,
                   bool head_request = false) {
  const auto deadline = Clock::now() + limit;
  Answer a;
  bool eof = false;
  auto fill = [&] {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    pollfd p{fd.get(), POLLIN, 0};
    if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) <= 0) return false;
    char buf[65536];
    const ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
    if (n <= 0) {
      eof = true;
      return false;
    }
    buffer.append(buf, static_cast<std::size_t>(n));
    return true;
  };
  std::size_t end;
  while ((end = buffer.find("\r\n\r\n")) == std::string::npos) {
    if (!fill()) return a;
  }
  a.head = buffer.substr(0, end + 2);
  buffer.erase(0, end + 4);
  const int status = std::atoi(a.head.c_str() + 9);
  if (status == 100) return read_answer(fd, buffer, limit, head_request);
  const auto cl = a.head.find("Content-Length: ");
  if (head_request) {
  } else if (cl != std::string::npos) {
    const std::size_t length = std::stoul(a.head.substr(cl + 16));
    while (buffer.size() < length) {
      if (!fill()) return a;
    }
    a.body = buffer.substr(0, length);
    buffer.erase(0, length);
  } else if (a.head.find("Transfer-Encoding: chunked") != std::string::npos) {
    for (;;) {
      std::size_t line;
      while ((line = buffer.find("\r\n")) == std::string::npos) {
        if (!fill()) return a;
      }
      const std::size_t size = std::stoul(buffer.substr(0, line), nullptr, 16);
      while (buffer.size() < line + 2 + size + 2) {
        if (!fill()) return a;
      }
      a.body += buffer.substr(line + 2, size);
      buffer.erase(0, line + 2 + size + 2);
      if (size == 0) break;
    }
  } else {
    while (fill()) {
    }
    if (!eof) return a;
    a.body = std::move(buffer);
    buffer.clear();
  }
  a.status = status;
  return a;
}

Answer request(const UniqueFd& fd, std::string_view bytes, std::chrono::milliseconds limit = 5s) {
  send_all(fd, bytes);
  std::string buffer;
  return read_answer(fd, buffer, limit);
}

// Whether the server closed the connection within `limit` (reading and
// dropping whatever it sent first).
bool closed_within(const UniqueFd& fd, std::chrono::milliseconds limit) {
  const auto deadline = Clock::now() + limit;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    pollfd p{fd.get(), POLLIN, 0};
    if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) <= 0) return false;
    char buf[4096];
    const ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
    if (n <= 0) return true;
  }
}

std::string get(std::string_view path) {
  return "GET " + std::string(path) + " HTTP/1.1\r\nHost: t\r\n\r\n";
}

std::string reason_of(const Answer& a) {
  const auto j = nlohmann::json::parse(a.body, nullptr, false);
  return j.is_object() && j.contains("error") ? j["error"]["reason"].get<std::string>() : "";
}

// Echoes the path and body; "/sleep" takes 300 ms, "/big" answers 8 MiB,
// "/stream" streams three chunks.
Response echo(const Request& req) {
  if (req.path == "/sleep") std::this_thread::sleep_for(300ms);
  if (req.path == "/big") {
    Response res;
    res.set_content(std::string(8 << 20, 'b'), "application/octet-stream");
    return res;
  }
  if (req.path == "/stream") {
    Response res;
    res.set_header("Content-Type", "text/event-stream");
    res.stream = [](ChunkSink& sink) {
      for (const char* part : {"data: 1\n\n", "data: 2\n\n", "data: 3\n\n"}) {
        if (!sink.write(part)) return;
      }
    };
    return res;
  }
  if (req.path == "/throw") throw std::runtime_error("boom");
  Response res;
  res.set_content(req.method + " " + req.path + " " + req.get_param("q") + " " + req.body, "text/plain");
  return res;
}

class ServerTest : public ::testing::Test {
 protected:
  void start(ServerOptions options = {}, Handler handler = echo) {
    server_ = std::make_unique<Server>(std::move(handler), std::move(options));
    auto port = server_->bind("127.0.0.1", 0);
    ASSERT_TRUE(port) << port.error().message;
    port_ = *port;
    thread_ = std::thread([this] {
      auto served = server_->serve();
      EXPECT_TRUE(served) << served.error().message;
    });
  }
  void TearDown() override {
    if (server_) server_->stop();
    if (thread_.joinable()) thread_.join();
  }
  // Whether a fresh honest client gets its answer within `limit`.
  bool healthy(std::chrono::milliseconds limit = 1s) {
    const UniqueFd fd = connect_to(port_);
    return request(fd, get("/ok"), limit).status == 200;
  }

  std::unique_ptr<Server> server_;
  std::thread thread_;
  int port_ = 0;
};

TEST_F(ServerTest, ShouldAnswerARequestWithItsBodyAndQuery) {
  start();
  const UniqueFd fd = connect_to(port_);
  const Answer a = request(fd, "POST /p?q=a%20b HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello");
  EXPECT_EQ(a.status, 200);
  EXPECT_EQ(a.body, "POST /p a b hello");
  EXPECT_NE(a.head.find("Content-Type: text/plain"), std::string::npos);
}

TEST_F(ServerTest, ShouldCloseATricklingClientAtTheRequestDeadline) {
  start(ServerOptions{.request_timeout = 1s});
  const UniqueFd fd = connect_to(port_);
  const std::string head = get("/ok");
  const auto begin = Clock::now();
  std::size_t sent = 0;
  std::string buffer;
  Answer a;
  // Every byte arrives well within any per-read timeout; the request as a
  // whole never does.
  for (; sent < head.size() - 1 && Clock::now() - begin < 3s; ++sent) {
    if (::send(fd.get(), &head[sent], 1, MSG_NOSIGNAL) != 1) break;
    pollfd p{fd.get(), POLLIN, 0};
    if (::poll(&p, 1, 100) > 0) {
      a = read_answer(fd, buffer, 1s);
      break;
    }
  }
  const auto took = Clock::now() - begin;
  EXPECT_EQ(a.status, 408);
  EXPECT_EQ(reason_of(a), "timeout");
  EXPECT_GE(sent, 8u);
  EXPECT_GE(took, 900ms);
  EXPECT_LT(took, 2s);
  EXPECT_TRUE(closed_within(fd, 2s));
}

TEST_F(ServerTest, ShouldServeOthersWhileSlowClientsHoldEveryThreadsWorth) {
  start(ServerOptions{.threads = 2, .request_timeout = 5s});
  std::vector<UniqueFd> slow;
  for (int i = 0; i < 40; ++i) {
    slow.push_back(connect_to(port_, 2 + i % 4));
    send_all(slow.back(), "GET /ok HTTP/1.1\r\nHost:");
  }
  for (int i = 0; i < 10; ++i) {
    const auto begin = Clock::now();
    EXPECT_TRUE(healthy());
    EXPECT_LT(Clock::now() - begin, 200ms);
  }
}

TEST_F(ServerTest, ShouldRefuseConnectionsOverThePerPeerLimitWith503) {
  start(ServerOptions{.max_connections_per_peer = 3});
  std::vector<UniqueFd> held;
  for (int i = 0; i < 3; ++i) held.push_back(connect_to(port_, 2));
  std::this_thread::sleep_for(100ms);
  const UniqueFd over = connect_to(port_, 2);
  const Answer refused = request(over, get("/ok"));
  EXPECT_EQ(refused.status, 503);
  EXPECT_EQ(reason_of(refused), "busy");
  EXPECT_TRUE(closed_within(over, 1s));
  // Another peer is not affected, and a slot freed is a slot again.
  EXPECT_TRUE(healthy());
  held.pop_back();
  // The slot is free once the server has seen the close, which a loaded
  // machine (sanitizers, parallel tests) can delay past any fixed sleep.
  int status = 0;
  for (const auto deadline = Clock::now() + 5s; status != 200 && Clock::now() < deadline;) {
    const UniqueFd again = connect_to(port_, 2);
    status = request(again, get("/ok")).status;
    if (status != 200) std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(status, 200);
}

TEST_F(ServerTest, ShouldRefuseConnectionsOverTheTotalLimitWith503) {
  start(ServerOptions{.max_connections = 2});
  const UniqueFd a = connect_to(port_, 2);
  const UniqueFd b = connect_to(port_, 3);
  std::this_thread::sleep_for(100ms);
  const UniqueFd c = connect_to(port_, 4);
  EXPECT_EQ(request(c, get("/ok")).status, 503);
}

TEST_F(ServerTest, ShouldRefuseABodyOverTheLimitWith413NamingTheLimit) {
  ServerOptions options;
  options.limits.max_body_bytes = 1000;
  start(options);
  const UniqueFd fd = connect_to(port_);
  // Sent whole, as a client that does not wait for 100 Continue would.
  const Answer a =
      request(fd,
              "POST /p HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded\r\n"
              "Content-Length: 20000\r\n\r\n" +
                  std::string(20000, 'a'));
  EXPECT_EQ(a.status, 413);
  EXPECT_EQ(reason_of(a), "too_large");
  EXPECT_NE(a.body.find("larger than 1000 bytes"), std::string::npos) << a.body;
  EXPECT_TRUE(closed_within(fd, 2s));
  // A form body under the limit is just a body, whatever its type.
  const UniqueFd form = connect_to(port_);
  EXPECT_EQ(request(form,
                    "POST /p HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                    "Content-Length: 999\r\n\r\n" +
                        std::string(999, 'a'))
                .status,
            200);
}

TEST_F(ServerTest, ShouldRefuseAChunkedBodyOverTheLimitWith413) {
  ServerOptions options;
  options.limits.max_body_bytes = 1000;
  start(options);
  const UniqueFd fd = connect_to(port_);
  const Answer a = request(fd, "POST /p HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3E8\r\n" +
                                   std::string(1000, 'a') + "\r\n1\r\nb\r\n0\r\n\r\n");
  EXPECT_EQ(a.status, 413);
}

TEST_F(ServerTest, ShouldRefuseOversizedHeadsWith431) {
  ServerOptions options;
  options.limits.max_head_bytes = 1024;
  options.limits.max_headers = 8;
  start(options);
  {
    const UniqueFd fd = connect_to(port_);
    EXPECT_EQ(request(fd, "GET /ok HTTP/1.1\r\nX: " + std::string(2000, 'a') + "\r\n\r\n").status, 431);
  }
  {
    const UniqueFd fd = connect_to(port_);
    // No blank line ever comes: refused as soon as the limit is passed.
    EXPECT_EQ(request(fd, "GET /ok HTTP/1.1\r\nX: " + std::string(2000, 'a')).status, 431);
  }
  {
    std::string many = "GET /ok HTTP/1.1\r\n";
    for (int i = 0; i < 9; ++i) many += "H" + std::to_string(i) + ": v\r\n";
    const UniqueFd fd = connect_to(port_);
    EXPECT_EQ(request(fd, many + "\r\n").status, 431);
  }
  EXPECT_TRUE(healthy());
}

TEST_F(ServerTest, ShouldRefuseGarbageWith400AndKeepServing) {
  start();
  const UniqueFd fd = connect_to(port_);
  const Answer a = request(fd, "HELLO\r\n\r\n");
  EXPECT_EQ(a.status, 400);
  EXPECT_EQ(reason_of(a), "malformed");
  EXPECT_TRUE(healthy());
}

TEST_F(ServerTest, ShouldServeSequentialRequestsOnOneKeptAliveConnection) {
  start();
  const UniqueFd fd = connect_to(port_);
  for (int i = 0; i < 5; ++i) {
    const Answer a = request(fd, get("/n" + std::to_string(i)));
    EXPECT_EQ(a.status, 200);
    EXPECT_EQ(a.body, "GET /n" + std::to_string(i) + "  ");
    EXPECT_EQ(a.head.find("Connection: close"), std::string::npos);
  }
}

TEST_F(ServerTest, ShouldAnswerPipelinedRequestsInOrder) {
  start(ServerOptions{.threads = 4});
  const UniqueFd fd = connect_to(port_);
  send_all(fd, get("/sleep") + "POST /b HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi" + get("/c"));
  std::string buffer;
  EXPECT_EQ(read_answer(fd, buffer).body, "GET /sleep  ");
  EXPECT_EQ(read_answer(fd, buffer).body, "POST /b  hi");
  EXPECT_EQ(read_answer(fd, buffer).body, "GET /c  ");
}

TEST_F(ServerTest, ShouldCloseAfterConnectionCloseAndForHttp10) {
  start();
  {
    const UniqueFd fd = connect_to(port_);
    const Answer a = request(fd, "GET /ok HTTP/1.1\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(a.status, 200);
    EXPECT_NE(a.head.find("Connection: close"), std::string::npos);
    EXPECT_TRUE(closed_within(fd, 2s));
  }
  {
    const UniqueFd fd = connect_to(port_);
    EXPECT_EQ(request(fd, "GET /ok HTTP/1.0\r\n\r\n").status, 200);
    EXPECT_TRUE(closed_within(fd, 2s));
  }
}

TEST_F(ServerTest, ShouldCloseAnIdleConnectionAfterTheKeepAliveTimeout) {
  start(ServerOptions{.keep_alive_timeout = 300ms});
  const UniqueFd fd = connect_to(port_);
  EXPECT_EQ(request(fd, get("/ok")).status, 200);
  const auto begin = Clock::now();
  EXPECT_TRUE(closed_within(fd, 2s));
  EXPECT_LT(Clock::now() - begin, 1s);
}

TEST_F(ServerTest, ShouldAnswerHeadWithTheLengthButNoBody) {
  start();
  const UniqueFd fd = connect_to(port_);
  send_all(fd, "HEAD /abc HTTP/1.1\r\n\r\n" + get("/next"));
  std::string buffer;
  const Answer head = read_answer(fd, buffer, 5s, true);
  EXPECT_EQ(head.status, 200);
  EXPECT_NE(head.head.find("Content-Length: 11"), std::string::npos) << head.head;
  // The next answer starts right after the head: no body was sent.
  EXPECT_EQ(read_answer(fd, buffer).body, "GET /next  ");
}

TEST_F(ServerTest, ShouldDecodeAChunkedRequestBody) {
  start();
  const UniqueFd fd = connect_to(port_);
  const Answer a = request(
      fd, "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
  EXPECT_EQ(a.status, 200);
  EXPECT_EQ(a.body, "POST /c  hello world");
}

TEST_F(ServerTest, ShouldSend100ContinueBeforeTheBody) {
  start();
  const UniqueFd fd = connect_to(port_);
  send_all(fd, "POST /e HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n");
  std::string buffer;
  pollfd p{fd.get(), POLLIN, 0};
  ASSERT_GT(::poll(&p, 1, 2000), 0);
  char buf[64];
  const ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string(buf, static_cast<std::size_t>(n)), "HTTP/1.1 100 Continue\r\n\r\n");
  send_all(fd, "ok");
  EXPECT_EQ(read_answer(fd, buffer).body, "POST /e  ok");
}

TEST_F(ServerTest, ShouldStreamAChunkedResponse) {
  start();
  const UniqueFd fd = connect_to(port_);
  const Answer a = request(fd, get("/stream"));
  EXPECT_EQ(a.status, 200);
  EXPECT_NE(a.head.find("Transfer-Encoding: chunked"), std::string::npos);
  EXPECT_EQ(a.body, "data: 1\n\ndata: 2\n\ndata: 3\n\n");
  EXPECT_EQ(request(fd, get("/after")).body, "GET /after  ");
}

TEST_F(ServerTest, ShouldTurnAnExceptionIntoA500) {
  start();
  const UniqueFd fd = connect_to(port_);
  const Answer a = request(fd, get("/throw"));
  EXPECT_EQ(a.status, 500);
  EXPECT_EQ(reason_of(a), "internal");
}

TEST_F(ServerTest, ShouldNotLetAClientThatDoesNotReadHoldTheOnlyThread) {
  start(ServerOptions{.threads = 1, .write_timeout = 500ms});
  const UniqueFd reluctant = connect_to(port_);
  int small = 4096;
  ::setsockopt(reluctant.get(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  send_all(reluctant, get("/big"));
  std::this_thread::sleep_for(100ms);
  // The one handler thread has long handed the 8 MiB to the loop.
  EXPECT_TRUE(healthy());
  // Past the write timeout the server gives up: what is left to read ends
  // well short of the 8 MiB.
  std::this_thread::sleep_for(1s);
  std::size_t got = 0;
  bool eof = false;
  for (const auto deadline = Clock::now() + 3s; Clock::now() < deadline;) {
    pollfd p{reluctant.get(), POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    char buf[65536];
    const ssize_t n = ::recv(reluctant.get(), buf, sizeof buf, 0);
    if (n <= 0) {
      eof = true;
      break;
    }
    got += static_cast<std::size_t>(n);
  }
  EXPECT_TRUE(eof) << got;
  EXPECT_LT(got, std::size_t{8} << 20);
}

TEST_F(ServerTest, ShouldStopPromptlyWithConnectionsOpen) {
  std::atomic<bool> handling{false};
  start(ServerOptions{.threads = 2}, [&handling](const Request& req) {
    if (req.path == "/sleep") handling = true;
    return echo(req);
  });
  const UniqueFd idle = connect_to(port_);
  const UniqueFd partial = connect_to(port_);
  send_all(partial, "GET /ok HTTP/1.1\r\nHo");
  const UniqueFd busy = connect_to(port_);
  send_all(busy, get("/sleep"));
  // Stopped while /sleep is being handled (a fixed sleep could stop it before
  // the request was read, on a loaded machine).
  for (const auto deadline = Clock::now() + 5s; !handling && Clock::now() < deadline;)
    std::this_thread::sleep_for(1ms);
  ASSERT_TRUE(handling) << "the server never began handling /sleep";
  const auto begin = Clock::now();
  server_->stop();
  thread_.join();
  EXPECT_LT(Clock::now() - begin, 2s);
  // The request being handled was answered; every connection is closed.
  std::string buffer;
  const Answer answered = read_answer(busy, buffer, 1s);
  EXPECT_EQ(answered.status, 200);
  EXPECT_NE(answered.head.find("Connection: close"), std::string::npos);
  EXPECT_TRUE(closed_within(idle, 1s));
  EXPECT_TRUE(closed_within(partial, 1s));
  EXPECT_TRUE(closed_within(busy, 1s));
}

TEST_F(ServerTest, ShouldReturnAtOnceWhenStoppedBeforeServing) {
  server_ = std::make_unique<Server>(echo);
  ASSERT_TRUE(server_->bind("127.0.0.1", 0));
  server_->stop();
  EXPECT_TRUE(server_->serve());
}

TEST(ServerBind, ShouldListenOnIpv6AndRefuseAPortInUse) {
  Server v6(echo);
  auto port = v6.bind("::1", 0);
  ASSERT_TRUE(port) << port.error().message;
  Server again(echo);
  auto taken = again.bind("::1", *port);
  ASSERT_FALSE(taken);
  EXPECT_EQ(taken.error().code, "http.server");
  EXPECT_FALSE(Server(echo).bind("203.0.113.7", 0));
}

}  // namespace
}  // namespace ward::http
