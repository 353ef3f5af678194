#include "cli/serve.h"

#include <pthread.h>

#include <thread>

namespace ward::cli {

Result<StopSignals> StopSignals::block() {
  StopSignals s;
  sigemptyset(&s.set_);
  sigaddset(&s.set_, SIGINT);
  sigaddset(&s.set_, SIGTERM);
  if (pthread_sigmask(SIG_BLOCK, &s.set_, nullptr) != 0) return fail("cli.signal", "cannot block signals");
  return s;
}

Result<void> StopSignals::serve(const std::function<Result<void>()>& serve,
                                const std::function<void()>& stop) const {
  std::thread waiter([this, &stop] {
    int sig = 0;
    sigwait(&set_, &sig);
    stop();
  });
  auto served = serve();
  // Wakes the waiter when the server stopped by itself; after a signal it
  // has already returned and this one stays pending, blocked, unused.
  pthread_kill(waiter.native_handle(), SIGTERM);
  waiter.join();
  return served;
}

std::string url_of(const ledger::ListenAddress& address, int port) {
  const bool ipv6 = address.host.find(':') != std::string::npos;
  return "http://" + (ipv6 ? "[" + address.host + "]" : address.host) + ":" + std::to_string(port);
}

}  // namespace ward::cli
