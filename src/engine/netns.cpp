#include "engine/netns.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string>
#include <sys/socket.h>
#include <thread>

namespace ward::engine {
namespace {

std::string errno_text(int e) {
  return std::strerror(e);
}

}  // namespace

Result<UniqueFd> open_network_namespace(pid_t pid) {
  const std::string path = "/proc/" + std::to_string(pid) + "/ns/net";
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd)
    return fail("engine.netns",
                "cannot open the sandbox's network namespace " + path + ": " + errno_text(errno));
  return fd;
}

namespace {

// A TCP socket made in `netns`. setns changes the calling thread's
// namespace only, so a thread of its own creates the socket and ends; the
// caller's thread never moves.
Result<UniqueFd> socket_in_namespace(int netns) {
  int made = -1;
  int err = 0;
  std::thread([&] {
    if (::setns(netns, CLONE_NEWNET) != 0) {
      err = errno;
      return;
    }
    made = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (made < 0) err = errno;
  }).join();
  if (made < 0) {
    return fail("engine.netns",
                "cannot create a socket in the sandbox's network namespace: " + errno_text(err) +
                    (err == EPERM ? " (serving needs the loader to run as root)" : ""));
  }
  return UniqueFd(made);
}

sockaddr_in loopback(int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return addr;
}

}  // namespace

Result<UniqueFd> listen_in_namespace(int netns, int port) {
  auto fd = socket_in_namespace(netns);
  if (!fd) return std::unexpected(fd.error());
  const int one = 1;
  (void)::setsockopt(fd->get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  const sockaddr_in addr = loopback(port);
  if (::bind(fd->get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(fd->get(), 16) != 0) {
    return fail("engine.listen", "cannot listen on port " + std::to_string(port) +
                                     " in the sandbox's network namespace: " + errno_text(errno));
  }
  return fd;
}

Result<UniqueFd> connect_in_namespace(int netns, int port, std::chrono::milliseconds timeout) {
  auto made = socket_in_namespace(netns);
  if (!made) return std::unexpected(made.error());
  UniqueFd fd = std::move(*made);
  const sockaddr_in addr = loopback(port);
  const std::string where = "the engine's port " + std::to_string(port);
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    if (errno != EINPROGRESS)
      return fail("engine.connect", "cannot connect to " + where + ": " + errno_text(errno));
    pollfd p{fd.get(), POLLOUT, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(timeout.count()));
    if (ready <= 0)
      return fail("engine.connect",
                  where + " did not answer within " + std::to_string(timeout.count()) + " ms");
    int so_error = 0;
    socklen_t len = sizeof so_error;
    if (::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &so_error, &len) != 0 || so_error != 0) {
      return fail("engine.connect",
                  "cannot connect to " + where + ": " + errno_text(so_error ? so_error : errno));
    }
  }
  const int flags = ::fcntl(fd.get(), F_GETFL);
  if (flags < 0 || ::fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK) != 0) {
    return fail("engine.connect", "cannot make the engine's socket blocking: " + errno_text(errno));
  }
  const int one = 1;
  (void)::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

}  // namespace ward::engine
