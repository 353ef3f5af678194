// One order through the CVM (DESIGN.md steps 7-10): fetch every component,
// verify every digest and grant, only then decrypt (into the CVM's tmpfs),
// run the engine in its sandbox, encrypt and upload the output, sign and
// publish the integrity report, wipe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "base/error.h"
#include "crypto/x509.h"
#include "engine/sandbox.h"
#include "ledger/client.h"
#include "loader/cvm.h"
#include "loader/report.h"

namespace ward::loader {

// How a service order is served (docs/serving.md).
struct ServiceOptions {
  // Where the TLS gateway listens: the CVM's public address; port 0 picks one.
  std::string listen_host = "127.0.0.1";
  int listen_port = 0;
  // The host clients use, in the endpoint the start report publishes;
  // listen_host when empty.
  std::string public_host;
  // The service certificate's lifetime; a new one (same key) is issued at half.
  std::chrono::seconds certificate_lifetime{3600};
  // An engine that exits is started again this many times, then the order fails.
  int max_restarts = 3;
  // How long an engine has to start listening on its port.
  std::chrono::seconds start_timeout{30};
  // How often the ledger is asked whether the order was canceled.
  std::chrono::milliseconds poll{500};
  std::chrono::milliseconds heartbeat{30000};
  // How often a paid service tells the ledger what its subscribers used
  // (services.usage, which also charges per-hour offers).
  std::chrono::milliseconds usage_interval{10000};
};

struct PipelineOptions {
  // Where orders are decrypted and run: a tmpfs inside the CVM. Each order
  // gets a private directory there, removed when the order ends.
  std::filesystem::path work_root;
  // Where the encrypted output is uploaded.
  std::string store;
  // Key brokers (`ward kms serve`) asked, in turn, for the key of a grant to
  // a broker: replicas of one broker group.
  std::vector<std::string> kms;
  engine::SandboxLimits limits;
  ServiceOptions service;
  // Set when the loader is stopping: a service being served stops without
  // ending its order, which a restarted loader serves again.
  const std::atomic<bool>* stop = nullptr;
  // Progress lines ("order 7: fetched 3 components"), for the loader's log.
  std::function<void(std::string_view)> log;
  // Set by the loader: a service renews the CVM certificate as it runs, and
  // serves the renewed one from then on.
  CertificateRenewal* renewal = nullptr;
  // The certification center's certificate, under which the CVMs of a split
  // order verify each other (serve/tunnel.h); set by the loader.
  std::optional<crypto::Certificate> ca_certificate;
};

// What became of an order.
struct OrderOutcome {
  bool done = false;       // Done with a published report; otherwise Error
  std::string reason;      // why it is in Error
  std::map<std::string, std::uint64_t> stages_ms;  // fetch, verify, decrypt, run, encrypt, upload, wipe, publish
};

// Runs `order`, which must be Processing on this CVM, and records the end on
// the ledger: reports.submit (Done) or orders.fail with the reason (Error).
// An Error return means the ledger could not be told, or the loader is
// stopping ("loader.stopped"); the order is still Processing and is retried
// (run again from the start). A service order may renew `cvm`'s certificate
// (options.renewal).
Result<OrderOutcome> process_order(CvmState& cvm, ledger::LedgerClient& ledger, const ledger::Order& order,
                                   const PipelineOptions& options);

// A worker's part of a split service order (docs/serving.md, "Split
// inference"), on an order that is Processing and lists this CVM among its
// workers: runs the engine's worker, serves the tunnel the head connects
// through, says where on the ledger (services.join), and keeps it up until
// the order leaves Processing. A worker records no end: the head's report
// lists it. An error says why it stopped early.
Result<void> process_worker(CvmState& cvm, ledger::LedgerClient& ledger, const ledger::Order& order,
                            const PipelineOptions& options);

// Removes what a previous run left in `work_root` (a loader killed mid-order).
void wipe_work_root(const std::filesystem::path& work_root);

}  // namespace ward::loader
