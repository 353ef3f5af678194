#include "serve/stream.h"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string>
#include <sys/socket.h>

#include "base/unique_fd.h"

namespace ward::serve {
namespace {

using Clock = std::chrono::steady_clock;

int poll_ms(std::chrono::milliseconds timeout) {
  return static_cast<int>(std::max<std::chrono::milliseconds::rep>(timeout.count(), 0));
}

// Waits until `fd` is ready for `events`; false on a timeout.
Result<bool> wait_ready(int fd, short events, std::chrono::milliseconds timeout) {
  pollfd p{fd, events, 0};
  for (;;) {
    const int n = ::poll(&p, 1, poll_ms(timeout));
    if (n > 0) return true;
    if (n == 0) return false;
    if (errno != EINTR) return fail("serve.io", std::string("poll: ") + std::strerror(errno));
  }
}

class SocketStream final : public Stream {
 public:
  SocketStream(int fd, std::chrono::milliseconds timeout) : fd_(fd), timeout_(timeout) {}

  Result<std::size_t> read(std::span<char> into) override {
    for (;;) {
      // MSG_DONTWAIT: poll() said readable, but the timeout must hold even
      // if it was wrong (a checksum failure drops the data after the wakeup).
      const ssize_t n = ::recv(fd_.get(), into.data(), into.size(), MSG_DONTWAIT);
      if (n >= 0) return static_cast<std::size_t>(n);
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        return fail("serve.io", std::string("reading from the connection: ") + std::strerror(errno));
      }
      auto ready = wait_ready(fd_.get(), POLLIN, timeout_);
      if (!ready) return std::unexpected(ready.error());
      if (!*ready) return timed_out("reading from");
    }
  }

  Result<void> write_all(std::string_view data) override {
    while (!data.empty()) {
      const ssize_t n = ::send(fd_.get(), data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        data.remove_prefix(static_cast<std::size_t>(n));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
        return fail("serve.io", std::string("writing to the connection: ") + std::strerror(errno));
      }
      auto ready = wait_ready(fd_.get(), POLLOUT, timeout_);
      if (!ready) return std::unexpected(ready.error());
      if (!*ready) return timed_out("writing to");
    }
    return {};
  }

 private:
  std::unexpected<Error> timed_out(std::string_view doing) const {
    return fail("serve.timeout", std::string(doing) + " the connection timed out after " +
                                     std::to_string(timeout_.count()) + " ms without progress");
  }

  UniqueFd fd_;
  std::chrono::milliseconds timeout_;
};

// One address of a name: a connected, blocking socket, or why not.
Result<UniqueFd> connect_one(const addrinfo& ai, Clock::time_point deadline) {
  UniqueFd fd(::socket(ai.ai_family, ai.ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai.ai_protocol));
  if (!fd) return fail("serve.connect", std::string("socket: ") + std::strerror(errno));
  if (::connect(fd.get(), ai.ai_addr, ai.ai_addrlen) != 0) {
    if (errno != EINPROGRESS) return fail("serve.connect", std::strerror(errno));
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    auto ready = wait_ready(fd.get(), POLLOUT, left);
    if (!ready) return fail("serve.connect", ready.error().message);
    if (!*ready) return fail("serve.connect", "timed out");
    int error = 0;
    socklen_t size = sizeof error;
    if (::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &error, &size) != 0) error = errno;
    if (error != 0) return fail("serve.connect", std::strerror(error));
  }
  const int flags = ::fcntl(fd.get(), F_GETFL);
  if (flags < 0 || ::fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK) != 0) {
    return fail("serve.connect", std::string("fcntl: ") + std::strerror(errno));
  }
  const int one = 1;
  ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

}  // namespace

std::unique_ptr<Stream> socket_stream(int fd, std::chrono::milliseconds timeout) {
  return std::make_unique<SocketStream>(fd, timeout);
}

Result<std::unique_ptr<Stream>> connect_tcp(std::string_view host, int port,
                                            std::chrono::milliseconds timeout) {
  const std::string where = std::string(host) + ":" + std::to_string(port);
  if (port <= 0 || port > 65535) return fail("serve.connect", "connecting to " + where + ": not a TCP port");
  const auto deadline = Clock::now() + timeout;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string name(host);
  const std::string service = std::to_string(port);
  if (const int rc = ::getaddrinfo(name.c_str(), service.c_str(), &hints, &found); rc != 0) {
    return fail("serve.connect", "resolving " + name + ": " + ::gai_strerror(rc));
  }
  const std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> list(found, &::freeaddrinfo);
  std::string why = "no address";
  for (const addrinfo* ai = list.get(); ai != nullptr; ai = ai->ai_next) {
    auto fd = connect_one(*ai, deadline);
    if (fd) return socket_stream(fd->release(), timeout);
    why = fd.error().message;
    if (Clock::now() >= deadline) break;
  }
  return fail("serve.connect", "connecting to " + where + ": " + why);
}

}  // namespace ward::serve
