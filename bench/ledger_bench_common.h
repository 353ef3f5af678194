// What the ledger benchmarks share: parties that sign transactions, the raw
// Ed25519 verification rate, and a funded set of parties with pre-signed
// transfers (setup goes through the ledger directly and is not measured).
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/bytes.h"
#include "crypto/keys.h"
#include "crypto/random.h"
#include "ledger/ledger.h"

namespace ward::ledger::bench {

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

struct Party {
  crypto::Ed25519PrivateKey key = crypto::Ed25519PrivateKey::generate();
  std::uint64_t nonce = 0;
  std::string hex() const { return hex_encode(key.public_key()); }
};

inline std::string sign(const Ledger& ledger, Party& p, std::string_view type, nlohmann::json args) {
  const nlohmann::json tx = {{"v", 1},
                             {"ledger", hex_encode(ledger.info().id)},
                             {"sender", p.hex()},
                             {"nonce", ++p.nonce},
                             {"type", type},
                             {"args", std::move(args)}};
  return sign_transaction(tx, p.key).value();
}

// Ed25519 verifications per second on one core, over transaction-sized messages.
inline double verify_rate() {
  const auto key = crypto::Ed25519PrivateKey::generate();
  std::vector<Bytes> messages;
  std::vector<crypto::Ed25519Signature> sigs;
  for (int i = 0; i < 256; ++i) {
    messages.push_back(crypto::random_bytes(300));
    sigs.push_back(key.sign(messages.back()));
  }
  const auto pub = key.public_key();
  std::size_t n = 0;
  const auto start = Clock::now();
  while (seconds_since(start) < 1.0) {
    for (std::size_t i = 0; i < messages.size(); ++i) n += crypto::ed25519_verify(pub, messages[i], sigs[i]);
  }
  return static_cast<double>(n) / seconds_since(start);
}

// Registers and funds `count` parties, then pre-signs `per_party` transfers each.
inline std::vector<std::vector<std::string>> prepare(Ledger& ledger, std::size_t count,
                                                     std::size_t per_party) {
  std::vector<Party> parties(count);
  Party sink;
  std::vector<std::string> setup{sign(ledger, sink, "accounts.register", {{"recipient", "age1sink"}})};
  for (auto& p : parties) {
    setup.push_back(sign(ledger, p, "accounts.register", {{"recipient", "age1bench"}}));
    setup.push_back(sign(ledger, p, "accounts.fund", {{"to", p.hex()}, {"amount", per_party}}));
  }
  const auto receipts = ledger.submit_many(setup).value();
  for (const auto& r : receipts) {
    if (!r.accepted()) {
      std::fprintf(stderr, "setup rejected: %s\n", r.rejection->message.c_str());
      std::exit(1);
    }
  }
  std::vector<std::vector<std::string>> out(count);
  for (std::size_t i = 0; i < count; ++i) {
    for (std::size_t k = 0; k < per_party; ++k) {
      out[i].push_back(sign(ledger, parties[i], "accounts.transfer", {{"to", sink.hex()}, {"amount", 1}}));
    }
  }
  return out;
}

}  // namespace ward::ledger::bench
