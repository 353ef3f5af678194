// The WardLedger contract's code, from the checked-in artifact
// contracts/artifacts/WardLedger.json (contracts/build.js), embedded at build
// time.
#pragma once

#include <string_view>

namespace ward::ledger::evm {

struct ContractCode {
  std::string_view creation_hex;  // "0x" and the creation code: constructor(bool dev) follows it
  std::string_view runtime_hex;   // "0x" and the code a deployment leaves at its address
  std::string_view compiler;      // the solc version that compiled it
};

ContractCode contract_code();

}  // namespace ward::ledger::evm
