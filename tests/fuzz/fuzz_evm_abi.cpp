// ABI return data, event data and revert data, as a node returns them for a
// contract: the first byte picks a type list, the rest is decoded. Whatever
// decodes must re-encode to the same bytes (only canonical input decodes).
#include <array>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "evm/abi.h"

namespace {

using ward::evm::abi::Type;

const std::vector<std::vector<Type>>& type_lists() {
  static const auto lists = [] {
    constexpr std::array<std::string_view, 8> texts = {
        "uint256",
        "bool,address,bytes32,int8",
        "bytes,string",
        "uint64[],string[]",
        "(uint64,bytes32)[]",
        "uint256[][],string[]",
        "(string,address,int64),bytes3[2]",
        "bytes32,string,(uint64,bytes32)[]",
    };
    std::vector<std::vector<Type>> out;
    for (std::string_view text : texts) out.push_back(ward::evm::abi::parse_types(text).value());
    return out;
  }();
  return lists;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const auto& lists = type_lists();
  const std::vector<Type>& types = lists[data[0] % lists.size()];
  ward::ByteView input(data + 1, size - 1);
  if (auto values = ward::evm::abi::decode(types, input)) {
    auto again = ward::evm::abi::encode(types, *values);
    if (!again || *again != ward::Bytes(input.begin(), input.end())) std::abort();
  } else if (values.error().code != "evm.abi") {
    std::abort();
  }

  if (auto revert = ward::evm::abi::decode_revert(input)) {
    if (revert->describe().find('\n') != std::string::npos) std::abort();
    static const auto error = ward::evm::abi::Function::parse("Refused(string,uint64)").value();
    (void)ward::evm::abi::decode_error(error, input);
  }
  return 0;
}
