// The slow-client attack on a Ward server, as tests/e2e/slow_clients.sh runs
// it: SLOW connections from 127.0.0.2..127.0.0.9 each send one byte of a
// request head per second and never finish it (a closed one reconnects),
// while honest clients on 127.0.0.1 send GET PATH one after another. Prints
// how many honest requests got a 200 within 1 s; exits 1 below --min-ratio.
// Loopback only: it refuses any other host.
//
// With --slow-port the slow clients attack another port than the honest
// clients ask (a TLS gateway, asked through `ward proxy`), and with --tls
// each starts a TLS record (a 16 KiB handshake record header) and trickles
// its body, so that a TLS server waits on a handshake that never completes.
//
//   slow_clients --port P --path /v1/info [--slow 200] [--seconds 10] [--min-ratio 0.95]
//                [--slow-port P2] [--tls 1]
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <arpa/inet.h>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <netinet/in.h>
#include <string>
#include <string_view>
#include <sys/socket.h>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr int kHonestThreads = 4;
constexpr auto kHonestLimit = 1s;
constexpr int kSlowAddresses = 8;  // 127.0.0.2 .. 127.0.0.9

sockaddr_in loopback(int last_octet, int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl((127u << 24) | static_cast<unsigned>(last_octet));
  return a;
}

// A blocking-connect socket from 127.0.0.<from> to 127.0.0.1:port, or -1.
int connect_from(int from, int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  const sockaddr_in src = loopback(from, 0);
  const sockaddr_in dst = loopback(1, port);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&src), sizeof src) != 0 ||
      ::connect(fd, reinterpret_cast<const sockaddr*>(&dst), sizeof dst) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

struct Slow {
  int fd = -1;
  std::size_t sent = 0;
};

// One byte a second on every slow connection; reconnects those the server closed.
void run_slow(int count, int port, bool tls, const std::atomic<bool>& done, std::atomic<int>& open_now,
              std::atomic<int>& reconnects) {
  // A TLS record header: handshake (22), TLS 1.0 record version, 16384 bytes to come.
  const std::string head = tls ? std::string("\x16\x03\x01\x40\x00\x01", 6)
                               : "GET /v1/info HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";
  std::vector<Slow> slow(static_cast<std::size_t>(count));
  while (!done) {
    const auto tick = Clock::now();
    int open = 0;
    for (std::size_t i = 0; i < slow.size(); ++i) {
      Slow& s = slow[i];
      if (s.fd >= 0) {
        // Anything the server sent (a 408) or its close means it gave up on us.
        char buf[512];
        const ssize_t n = ::recv(s.fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) || n > 0) {
          ::close(s.fd);
          s.fd = -1;
          ++reconnects;
        }
      }
      if (s.fd < 0) {
        s.fd = connect_from(2 + static_cast<int>(i % kSlowAddresses), port);
        s.sent = 0;
        if (s.fd < 0) continue;
      }
      const char byte = s.sent < head.size() ? head[s.sent] : (tls ? '\0' : 'a');
      if (::send(s.fd, &byte, 1, MSG_DONTWAIT | MSG_NOSIGNAL) == 1) ++s.sent;
      ++open;
    }
    open_now = open;
    std::this_thread::sleep_until(tick + 1s);
  }
  for (Slow& s : slow) {
    if (s.fd >= 0) ::close(s.fd);
  }
}

// One honest GET on a fresh connection: true for a 200 whose whole answer
// arrived within kHonestLimit.
bool honest_request(int port, const std::string& path) {
  const auto start = Clock::now();
  const auto deadline = start + kHonestLimit;
  const int fd = connect_from(1, port);
  if (fd < 0) return false;
  const std::string req = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  bool ok = ::send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size());
  std::string answer;
  while (ok) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      ok = false;
      break;
    }
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0) {
      ok = false;
      break;
    }
    char buf[4096];
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0) ok = false;
    if (n <= 0) break;
    answer.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return ok && answer.starts_with("HTTP/1.1 200 ") && Clock::now() <= deadline;
}

}  // namespace

int main(int argc, char** argv) {
  int port = 0;
  int slow = 200;
  int seconds = 10;
  double min_ratio = 0.95;
  std::string path = "/v1/info";
  int slow_port = 0;
  bool tls = false;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const char* value = argv[i + 1];
    if (flag == "--port") {
      port = std::atoi(value);
    } else if (flag == "--path") {
      path = value;
    } else if (flag == "--slow") {
      slow = std::atoi(value);
    } else if (flag == "--seconds") {
      seconds = std::atoi(value);
    } else if (flag == "--min-ratio") {
      min_ratio = std::atof(value);
    } else if (flag == "--slow-port") {
      slow_port = std::atoi(value);
    } else if (flag == "--tls") {
      tls = std::string_view(value) == "1";
    } else {
      std::fprintf(stderr, "slow_clients: unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  if (slow_port == 0) slow_port = port;
  if (port <= 0 || port > 65535 || slow_port <= 0 || slow_port > 65535 || !path.starts_with('/')) {
    std::fprintf(stderr,
                 "usage: slow_clients --port P --path /PATH [--slow N] [--seconds S] [--min-ratio R] "
                 "[--slow-port P] [--tls 1]\n");
    return 2;
  }

  std::atomic<bool> done{false};
  std::atomic<int> open_now{0};
  std::atomic<int> reconnects{0};
  std::thread attacker(run_slow, slow, slow_port, tls, std::cref(done), std::ref(open_now),
                       std::ref(reconnects));
  // Let every slow connection open and start its head first.
  std::this_thread::sleep_for(2s);
  const int open_at_start = open_now;

  std::atomic<int> total{0};
  std::atomic<int> answered{0};
  int min_open = open_at_start;
  const auto end = Clock::now() + std::chrono::seconds(seconds);
  std::vector<std::thread> honest;
  for (int t = 0; t < kHonestThreads; ++t) {
    honest.emplace_back([&] {
      while (Clock::now() < end) {
        const bool ok = honest_request(port, path);
        ++total;
        if (ok) ++answered;
        // An honest client asks now and then, not in a tight loop.
        std::this_thread::sleep_for(20ms);
      }
    });
  }
  while (Clock::now() < end) {
    std::this_thread::sleep_for(500ms);
    min_open = std::min(min_open, open_now.load());
  }
  for (std::thread& t : honest) t.join();
  done = true;
  attacker.join();

  const double ratio = total > 0 ? static_cast<double>(answered) / total : 0.0;
  std::printf(
      "%s: %d of %d honest requests answered 200 within 1 s (%.1f%%) while %d slow clients "
      "were connected (at least %d at each check; %d reconnected after the server closed them)\n",
      path.c_str(), answered.load(), total.load(), 100.0 * ratio, open_at_start, min_open, reconnects.load());
  return ratio >= min_ratio && total >= 20 ? 0 : 1;
}
