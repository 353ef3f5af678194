// A local anvil (npm @foundry-rs/anvil, installed by scripts/setup.sh), the
// chain of `ward demo --ledger evm`, the tests and the benchmarks: started on
// a free loopback port, stopped (and reaped) with the object.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

#include "base/error.h"
#include "evm/address.h"

namespace ward::evm {

class Anvil {
 public:
  // Starts `binary` with `extra` arguments and waits (up to 20 s) until it
  // answers eth_chainId. Errors: "evm.anvil".
  static Result<std::unique_ptr<Anvil>> start(const std::filesystem::path& binary,
                                              const std::vector<std::string>& extra = {});
  ~Anvil() { stop(); }
  Anvil(const Anvil&) = delete;
  Anvil& operator=(const Anvil&) = delete;

  void stop();
  const std::string& url() const { return url_; }
  int port() const { return port_; }

  // Gives `who` 1000 of the chain's coin (anvil_setBalance): anvil's play
  // money, for gas.
  Result<void> fund(const Address& who) const;

 private:
  Anvil() = default;
  pid_t pid_ = -1;
  int port_ = 0;
  std::string url_;
};

// Where setup.sh installs anvil: .deps/npm/... under the working directory,
// or under the checkout that holds `self_dir` (the running binary's
// directory, build/src/cli).
std::optional<std::filesystem::path> find_anvil(const std::filesystem::path& self_dir);

}  // namespace ward::evm
