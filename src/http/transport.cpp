#include "http/transport.h"

#include <cerrno>
#include <sys/socket.h>

namespace ward::http {
namespace {

class PlainTransport final : public Transport {
 public:
  explicit PlainTransport(int fd) : fd_(fd) {}

  IoResult read(std::span<char> into) override {
    for (;;) {
      const ssize_t n = ::recv(fd_, into.data(), into.size(), 0);
      if (n > 0) return {IoResult::Status::Ok, static_cast<std::size_t>(n), false};
      if (n == 0) return {IoResult::Status::Closed, 0, false};
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return {IoResult::Status::WouldBlock, 0, false};
      return {IoResult::Status::Failed, 0, false};
    }
  }

  IoResult write(std::span<const char> from) override {
    for (;;) {
      // MSG_NOSIGNAL: a peer gone away is an error value, not a SIGPIPE.
      const ssize_t n = ::send(fd_, from.data(), from.size(), MSG_NOSIGNAL);
      if (n >= 0) return {IoResult::Status::Ok, static_cast<std::size_t>(n), false};
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return {IoResult::Status::WouldBlock, 0, true};
      return {IoResult::Status::Failed, 0, false};
    }
  }

  void shutdown_write() override { ::shutdown(fd_, SHUT_WR); }

 private:
  int fd_;
};

}  // namespace

std::unique_ptr<Transport> plain_transport(int fd) {
  return std::make_unique<PlainTransport>(fd);
}

}  // namespace ward::http
