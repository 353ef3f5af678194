// What a key broker and its clients read from anyone: a CVM's release
// request, a broker statement, and a release log. Nothing may crash; a
// request that parses must carry the fields it was parsed from, and a log
// that verifies must be a chain of as many entries as it has lines.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "attest/sim.h"
#include "kms/broker.h"
#include "ledger/tx.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto request = ward::kms::parse_request(text)) {
    if (request->request.at("order") != request->order || request->request.at("broker") != request->broker)
      std::abort();
  }
  // A fixed group key (all-zero bytes are a valid Ed25519 point encoding to try against).
  const ward::crypto::Ed25519PublicKey key{};
  if (auto entries = ward::kms::verify_log(text, key)) {
    std::size_t lines = 0;
    for (char c : text) lines += c == '\n';
    if (entries->size() != lines) std::abort();
  }
  if (auto doc = ward::ledger::parse_strict_json(text)) {
    ward::attest::Policy policy;
    policy.allow_simulated = true;
    policy.allowed_measurements["mrtd"] = {ward::Bytes(48, 0)};
    (void)ward::kms::verify_statement(*doc, ward::attest::sim::root(), policy, std::chrono::system_clock::now());
  }
  return 0;
}
