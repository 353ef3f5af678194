// Test builders for the ledger: parties with keys, and signed transactions in
// one line, so each negative case is a one-line variation.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "base/bytes.h"
#include "crypto/keys.h"
#include "ledger/tx.h"

namespace ward::ledger::testing {

using nlohmann::json;

struct Party {
  crypto::Ed25519PrivateKey key = crypto::Ed25519PrivateKey::generate();
  std::uint64_t nonce = 0;  // last nonce this party had accepted

  AccountId id() const { return key.public_key(); }
  std::string hex() const { return hex_encode(id()); }
  std::string recipient() const { return "age1" + hex().substr(0, 58); }
};

inline json tx_json(const LedgerId& ledger, const Party& sender, std::uint64_t nonce, std::string_view type,
                    json args) {
  return {{"v", 1},       {"ledger", hex_encode(ledger)}, {"sender", sender.hex()}, {"nonce", nonce},
          {"type", type}, {"args", std::move(args)}};
}

// Signs whatever `tx` holds, valid or not, the way a client would.
inline std::string envelope(const json& tx, const crypto::Ed25519PrivateKey& key) {
  const auto sig = key.sign(as_bytes(canonical_bytes(tx)));
  return json{{"sig", base64_encode(sig)}, {"tx", tx}}.dump();
}

// The next transaction of `sender` (nonce = its last accepted + 1 unless given).
inline std::string signed_tx(const LedgerId& ledger, const Party& sender, std::string_view type, json args,
                             std::optional<std::uint64_t> nonce = std::nullopt) {
  return envelope(tx_json(ledger, sender, nonce.value_or(sender.nonce + 1), type, std::move(args)),
                  sender.key);
}

}  // namespace ward::ledger::testing
