// A node's JSON-RPC answers, which a hostile or broken node controls: the
// input is the HTTP body of the answer, given to every RpcClient call that
// reads one (quantities, data, receipts, logs, blocks, revert data). Nothing
// may crash; whatever a call accepts must hold its documented shape.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "evm/rpc.h"

namespace {

using namespace ward::evm;

// Answers every request with the fuzz input, with the request's id put in
// where the input says "ID", so that answers get past the id check.
class Replay final : public RpcClient {
 public:
  explicit Replay(std::string answer) : RpcClient("http://fuzz"), answer_(std::move(answer)) {}

 protected:
  ward::Result<std::string> post(const std::string& body) override {
    const auto id_at = body.find("\"id\":");
    const std::string id = body.substr(id_at + 5, body.find(',', id_at) - id_at - 5);
    std::string out = answer_;
    for (std::size_t at = out.find("ID"); at != std::string::npos; at = out.find("ID", at + id.size())) {
      out.replace(at, 2, id);
    }
    return out;
  }

 private:
  std::string answer_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Replay rpc(std::string(reinterpret_cast<const char*>(data), size));
  const Address a{};
  const Hash256 h{};
  (void)rpc.chain_id();
  (void)rpc.transaction_count(a, "latest");
  if (auto r = rpc.receipt(h); r && *r) {
    if ((*r)->transaction_hash != h) std::abort();
  }
  (void)rpc.block_receipts(3);
  if (auto b = rpc.block(3); b && *b) {
    if ((*b)->number != 3) std::abort();
  }
  (void)rpc.latest_block();
  (void)rpc.logs(LogFilter{});
  if (auto c = rpc.call(std::nullopt, a, {}); c && !c->reverted && c->data.size() > size) std::abort();
  (void)rpc.estimate_gas(a, a, {});
  (void)rpc.send_raw_transaction(ward::Bytes{0x02, 0xc0});
  (void)rpc.max_priority_fee_per_gas();
  return 0;
}
