// What `ward demo` and `ward demo serve` share: their inputs (the data set,
// the trainer, the loader), a work directory removed at the end, the ledger
// and the certification center served on 127.0.0.1, a file store, and a node
// with one simulated CVM. The destructor stops the node and the servers and
// removes what was made, so nothing keeps running afterwards.
#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include "attest/policy.h"
#include "base/error.h"
#include "ca/center.h"
#include "ca/server.h"
#include "evm/anvil.h"
#include "keys/party_key.h"
#include "ledger/client.h"
#include "ledger/ledger.h"
#include "ledger/server.h"
#include "serve/client.h"
#include "serve/proxy.h"
#include "serve/relay.h"
#include "store/store.h"

namespace ward::cli::demo {

namespace fs = std::filesystem;

struct DemoArgs {
  std::string dir;
  std::string data;
  std::string trainer;
  std::string loader;
  bool keep = false;
  // "sqlite" (served on loopback) or "evm": the WardLedger contract on an
  // anvil the demo starts (docs/evm.md).
  std::string ledger = "sqlite";
};

// The first of `candidates` that exists (empty ones skipped), made absolute.
std::optional<fs::path> first_existing(const std::vector<fs::path>& candidates);
// The directory of the running ward binary.
fs::path self_dir();

// A llama.cpp binary (llama-server, rpc-server): `given` when not empty,
// else the one next to ward, else scripts/build-llama.sh's
// (.deps/llama/<commit>-<variant>/bin/, from the build tree or here).
std::optional<fs::path> llama_binary(const std::string& name, const std::string& given = "");

// `--ledger sqlite|evm` on a demo command, into `ledger` (DemoArgs::ledger).
void add_ledger_choice(CLI::App* command, std::string& ledger);

void say(const std::string& line);
void step(const std::string& title);

// Runs a program to completion, its output captured; fails with its last line.
Result<std::string> run_program(const std::vector<std::string>& argv);

struct Party {
  std::string name;
  keys::PartyKey key;
};

// Waits until order `id` is Done or Error.
Result<ledger::Order> wait_for_order(ledger::LedgerClient& ledger, std::uint64_t id,
                                     std::chrono::seconds timeout);

// A party training on its own data alone, on its own machine, in the same
// sandbox the CVM uses; returns its model.json.
Result<fs::path> train_locally(const fs::path& image, const fs::path& csv, const fs::path& work);

// A server of ours (serve::Proxy, ui::Server, ...) serving on a thread,
// stopped and joined when this goes.
template <class Server>
class Running {
 public:
  explicit Running(Server& server) : server_(server), thread_([this] { (void)server_.serve(); }) {}
  ~Running() {
    server_.stop();
    thread_.join();
  }
  Running(const Running&) = delete;
  Running& operator=(const Running&) = delete;

 private:
  Server& server_;
  std::thread thread_;
};

// An answer from a local HTTP server, its streamed body collected.
struct Answer {
  int status = 0;
  std::string body;
  std::string receipt;  // the Ward-Receipt header, if any
};

// One request through `http` (a Forwarder to a local proxy), as any HTTP
// client would send it; a body is sent as JSON. `on_data`, when given, sees
// the body as it arrives.
Answer call(serve::Forwarder& http, const std::string& method, const std::string& target, std::string body,
            const std::function<void(std::string_view)>& on_data = {});

// "reason: message" of an error answer, or the start of its body.
std::string error_of(const Answer& a);

// The party's balance on the ledger (0 for an unknown account).
Result<std::uint64_t> balance(ledger::LedgerClient& ledger, const keys::PartyKey& key);

// Waits (60 s at most) until service order `id` has published its endpoint,
// and returns it; fails with the order's error, or pointing at the loader's log.
Result<std::string> wait_for_endpoint(ledger::LedgerClient& ledger, std::uint64_t id,
                                      const fs::path& loader_log);

// Opens a client for `endpoint` and verifies it now, printing every check;
// fails unless it is accepted.
Result<std::unique_ptr<serve::VerifiedClient>> verify_and_show(const std::string& endpoint,
                                                               const serve::ClientOptions& options);

// `ward proxy --key KEY --receipts FILE` in this process: `client`'s service
// on 127.0.0.1 (a free port), every request signed by `key`, every receipt
// kept in `receipts`.
struct LocalProxy {
  std::unique_ptr<serve::Proxy> proxy;
  int port = 0;
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port); }
};
Result<LocalProxy> open_proxy(std::unique_ptr<serve::VerifiedClient> client, const keys::PartyKey& key,
                              const fs::path& receipts, std::size_t threads);

class DemoWorld {
 public:
  // Finds the inputs, makes the directory, starts the ledger, the center and
  // the store, and prints `title` and where they are.
  static Result<std::unique_ptr<DemoWorld>> open(const DemoArgs& args, const std::string& title);
  ~DemoWorld();
  DemoWorld(const DemoWorld&) = delete;
  DemoWorld& operator=(const DemoWorld&) = delete;

  // A new identity, its key file under keys/, registered on the ledger.
  Result<Party> make_party(const std::string& name);
  // Mints `amount` to `party` (the dev ledger's faucet).
  Result<void> fund(const Party& party, std::uint64_t amount);
  // Starts the node (its loader gets `loader_args` after the demo's own) and
  // waits until its CVM is listed; sets cvm_id, mrtd and policy.
  Result<void> start_node(const std::vector<std::string>& loader_args, std::uint64_t price_per_hour);
  // On an EVM ledger, gives `key`'s address gas money (anvil_setBalance):
  // the demo's chain is its own. Nothing to do on SQLite.
  Result<void> give_gas(const keys::PartyKey& key);

  fs::path dir;
  fs::path data;
  fs::path trainer;
  fs::path loader_path;
  std::string ledger_url;
  std::string ca_url;
  std::unique_ptr<store::Store> store;
  std::unique_ptr<ledger::LedgerClient> ledger;
  std::optional<ca::CertificationCenter> center;
  ledger::CvmId cvm_id{};
  std::array<std::uint8_t, 48> mrtd{};
  attest::Policy policy;  // strict, but simulated evidence and this loader's measurement allowed
  fs::path loader_log;

 private:
  DemoWorld() = default;

  bool keep_ = false;
  fs::path work_;
  Result<void> start_chain();

  std::unique_ptr<evm::Anvil> anvil_;  // the chain of --ledger evm
  std::optional<ledger::Ledger> ledger_db_;
  std::unique_ptr<ledger::LedgerServer> ledger_server_;
  std::thread ledger_thread_;
  attest::Policy ca_policy_;
  std::unique_ptr<ca::CaServer> ca_server_;
  std::thread ca_thread_;
  keys::PartyKey provider_ = keys::PartyKey::generate();
  std::atomic<bool> node_stop_{false};
  std::thread node_thread_;
};

}  // namespace ward::cli::demo
