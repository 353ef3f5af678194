// Running one of Ward's HTTP servers (`ward ledger serve`, `ward ca serve`)
// in the foreground until SIGINT or SIGTERM, and the URL it prints.
#pragma once

#include <signal.h>

#include <functional>
#include <string>

#include "base/error.h"
#include "ledger/server.h"

namespace ward::cli {

class StopSignals {
 public:
  // Blocks SIGINT and SIGTERM in this thread. Call it before starting any
  // thread (a server's pool, a ledger's writer): they inherit the mask, so
  // the signals reach only serve() below and the server stops cleanly rather
  // than dying mid-write.
  static Result<StopSignals> block();

  // Runs `serve` until it returns; a signal calls `stop`, which must make it
  // return.
  Result<void> serve(const std::function<Result<void>()>& serve, const std::function<void()>& stop) const;

 private:
  sigset_t set_{};
};

// "http://HOST:PORT", with an IPv6 host in brackets.
std::string url_of(const ledger::ListenAddress& address, int port);

}  // namespace ward::cli
