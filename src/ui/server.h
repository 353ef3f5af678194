// `ward ui` as a C++ API (docs/ui.md): a local web app on the loopback
// address that holds the user's party key as a wallet would. The page is a
// view: this process signs every ledger transaction, makes the grants,
// verifies every service and report, and proxies chat to a service only
// after its endpoint verified under the user's pins. The key never leaves
// the process; no response carries it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "attest/policy.h"
#include "base/error.h"
#include "crypto/x509.h"
#include "http/message.h"
#include "keys/party_key.h"
#include "ledger/client.h"

namespace ward::ui {

// What the orders view shows of a service's use: the ledger's charges
// against the receipts kept in `receipts` (a receipt log, meter.h; may not
// exist yet). `ward ui` passes cli::check_usage's JSON.
using UsageCheck = std::function<Result<nlohmann::json>(ledger::LedgerClient&, std::uint64_t order,
                                                        const std::string& receipts)>;

struct Options {
  std::string ledger;  // a ledger URL or an embedded ledger's path
  keys::PartyKey key;  // signs; never sent to the page
  std::string store;   // where grants and offered descriptors are put
  crypto::Certificate ca_cert;
  attest::Policy policy;                     // what CVMs and services must meet
  std::filesystem::path receipts_dir;        // one receipt log per service, receipts-ORDER.jsonl
  UsageCheck usage;                          // none: the orders view shows no usage
  std::chrono::seconds deploy_timeout{120};  // for a service to start
};

class Server {
 public:
  // Errors: the receipts directory's.
  static Result<std::unique_ptr<Server>> create(Options options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds HOST:PORT (port 0 picks one). HOST must be a loopback address
  // ("127.0.0.1"); anything else is refused ("ui.listen"). Returns the port.
  Result<int> bind(std::string_view host, int port);
  // The URL to open, with the session token in its fragment (never sent to
  // any server). REQUIRES: bind() succeeded.
  std::string url() const;
  // Serves until stop(); see http::Server.
  Result<void> serve();
  // Makes serve() return; waits for running deploys to notice.
  void stop();

  // One request as the server answers it, for tests.
  http::Response handle(const http::Request& request);

 private:
  struct Impl;
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ward::ui
