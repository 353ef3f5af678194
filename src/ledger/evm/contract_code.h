// The WardLedger and WardAnchor contracts' code, from the checked-in
// artifacts contracts/artifacts/WardLedger.json and WardAnchor.json
// (contracts/build.js), embedded at build time (embed_contract.cmake).
#pragma once

#include <string_view>

namespace ward::ledger::evm {

struct ContractCode {
  std::string_view creation_hex;  // "0x" and the creation code (WardLedger: constructor(bool dev) follows it)
  std::string_view runtime_hex;   // "0x" and the code a deployment leaves at its address
  std::string_view compiler;      // the solc version that compiled it
};

// WardLedger.
ContractCode contract_code();
// WardAnchor: its constructor takes no arguments.
ContractCode anchor_code();

}  // namespace ward::ledger::evm
