// The ledger's HTTP API (docs/ledger.md, "HTTP API") over an embedded Ledger:
// what `ward ledger serve` runs, and what the HTTP LedgerClient talks to.
//
// Every answer is JSON except the checkpoint and verifier key (text/plain);
// every refusal is {"error": {"reason": ..., "message": ...}} with a 4xx
// status (http_status() for transactions). Error codes: "ledger.server".
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "base/error.h"
#include "http/server.h"
#include "ledger/ledger.h"

namespace ward::ledger {

struct ServerOptions {
  // Requests handled at once. A waiting long poll holds a thread; idle and
  // slow connections hold none.
  std::size_t threads = 64;
  // Deadlines and connection limits (http/server.h); `threads` above and the
  // body limit (kMaxEnvelopeSize) override theirs.
  http::ServerOptions http{};
};

// The HTTP status of a refused transaction: 400 for a transaction that is
// wrong in itself (malformed, bad_signature, wrong_ledger), 413 too_large,
// 403 when the sender may not do it (not_owner, not_allowed, dev_only), 409
// when the ledger's state refuses it (bad_nonce, unknown_account,
// already_exists, not_found, bad_state, insufficient_funds, overflow).
int http_status(const Rejection& rejection);

struct ListenAddress {
  std::string host;
  int port = 0;
};
// "HOST:PORT" or "[IPv6]:PORT", port 0..65535 (0: any free port).
Result<ListenAddress> parse_listen_address(std::string_view text);

class LedgerServer {
 public:
  explicit LedgerServer(Ledger& ledger, ServerOptions options = {});
  ~LedgerServer();
  LedgerServer(const LedgerServer&) = delete;
  LedgerServer& operator=(const LedgerServer&) = delete;

  // Binds the listening socket; port 0 picks a free port. Returns the port.
  Result<int> bind(const ListenAddress& address);
  // Serves until stop(). REQUIRES: bind() succeeded.
  Result<void> serve();
  // Stops serving; safe from any thread. Long polls in progress end at once
  // with what they have.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ward::ledger
