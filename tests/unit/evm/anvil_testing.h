// A real anvil for the tests (evm::Anvil, from .deps/npm: scripts/setup.sh),
// killed with the fixture, and the WardLedger artifact the tests deploy.
#pragma once

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/bytes.h"
#include "evm/anvil.h"
#include "evm/rpc.h"
#include "evm/signer.h"

namespace ward::evm::testing {

// Relative to the repository root, where the tests run.
inline constexpr const char* kArtifact = "contracts/artifacts/WardLedger.json";
// anvil's first prefunded dev account (its well-known test mnemonic).
inline constexpr const char* kDevKey = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

class Anvil {
 public:
  // Starts anvil with `extra` arguments; false (and `why`) when it would not.
  bool start(std::string& why, const std::vector<std::string>& extra = {}) {
    auto binary = find_anvil(".");
    if (!binary) {
      why = "no anvil under .deps/npm (run scripts/setup.sh)";
      return false;
    }
    auto started = evm::Anvil::start(*binary, extra);
    if (!started) {
      why = started.error().message;
      return false;
    }
    anvil_ = std::move(*started);
    return true;
  }

  void stop() { anvil_.reset(); }
  int port() const { return anvil_->port(); }
  std::string url() const { return anvil_->url(); }

  static PrivateKey dev_key() { return *PrivateKey::from_bytes(*hex_decode(kDevKey)); }

  // Gives `who` 1000 ETH for gas (anvil_setBalance).
  static bool fund_gas(RpcClient& rpc, const Address& who) {
    auto r = rpc.request("anvil_setBalance", nlohmann::json::array({data_text(who.bytes), "0x3635c9adc5dea00000"}));
    return r.has_value();
  }

 private:
  std::unique_ptr<evm::Anvil> anvil_;
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
