// A real anvil (npm @foundry-rs/anvil, installed by scripts/setup.sh into
// .deps/npm), started by the test on a free loopback port and killed with it,
// and the WardLedger artifact the tests deploy.
#pragma once

#include <signal.h>
#include <spawn.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <chrono>
#include <fstream>
#include <netinet/in.h>
#include <string>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/bytes.h"
#include "evm/rpc.h"
#include "evm/signer.h"

extern char** environ;

namespace ward::evm::testing {

// Relative to the repository root, where the tests run.
inline constexpr const char* kAnvil = ".deps/npm/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil";
inline constexpr const char* kArtifact = "contracts/artifacts/WardLedger.json";
// anvil's first prefunded dev account (its well-known test mnemonic).
inline constexpr const char* kDevKey = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

class Anvil {
 public:
  Anvil() = default;
  ~Anvil() { stop(); }
  Anvil(const Anvil&) = delete;
  Anvil& operator=(const Anvil&) = delete;

  // Starts anvil with `extra` arguments; false (and `why`) when it would not.
  bool start(std::string& why, std::vector<std::string> extra = {}) {
    for (int attempt = 0; attempt < 5; ++attempt) {
      port_ = free_port();
      std::vector<std::string> args = {kAnvil, "--host", "127.0.0.1", "--port", std::to_string(port_), "--silent"};
      args.insert(args.end(), extra.begin(), extra.end());
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      if (::posix_spawn(&pid_, kAnvil, nullptr, nullptr, argv.data(), environ) != 0) {
        why = std::string("cannot run ") + kAnvil + " (run scripts/setup.sh)";
        pid_ = -1;
        return false;
      }
      if (wait_until_answering()) return true;
      stop();
    }
    why = "anvil did not start";
    return false;
  }

  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  static PrivateKey dev_key() { return *PrivateKey::from_bytes(*hex_decode(kDevKey)); }

  // Gives `who` 1000 ETH for gas (anvil_setBalance).
  static bool fund_gas(RpcClient& rpc, const Address& who) {
    auto r = rpc.request("anvil_setBalance", nlohmann::json::array({data_text(who.bytes), "0x3635c9adc5dea00000"}));
    return r.has_value();
  }

 private:
  static int free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    int port = 0;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      port = ntohs(addr.sin_port);
    }
    ::close(fd);
    return port;
  }

  bool wait_until_answering() {
    auto rpc = RpcClient::open(url());
    if (!rpc) return false;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return false;
      }
      if ((*rpc)->chain_id()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

  pid_t pid_ = -1;
  int port_ = 0;
};

// The artifact's creation code ("bytecode").
inline Bytes ward_ledger_creation_code() {
  std::ifstream in(kArtifact);
  const auto artifact = nlohmann::json::parse(in, nullptr, false);
  if (artifact.is_discarded()) return {};
  const std::string hex = artifact.value("bytecode", "");
  auto bytes = hex_decode(std::string_view(hex).substr(hex.starts_with("0x") ? 2 : 0));
  return bytes ? *bytes : Bytes{};
}

}  // namespace ward::evm::testing
