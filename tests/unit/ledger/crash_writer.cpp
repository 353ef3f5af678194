// Test-only writer for the crash test: appends transfers from one account to
// another in random batches, printing "ack <nonce>" once each is durable,
// until it is killed.
//
// usage: ledger_crash_writer <ledger.db> <sender seed hex> <recipient hex>
#include <unistd.h>

#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "base/bytes.h"
#include "crypto/keys.h"
#include "ledger/ledger.h"

using namespace ward;
using namespace ward::ledger;

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s <ledger.db> <sender seed hex> <recipient hex>\n", argv[0]);
    return 2;
  }
  auto seed = hex_decode(argv[2]);
  if (!seed) return 2;
  auto key = crypto::Ed25519PrivateKey::from_seed(*seed);
  if (!key) return 2;
  auto ledger = Ledger::open(argv[1]);
  if (!ledger) {
    std::fprintf(stderr, "%s\n", ledger.error().message.c_str());
    return 1;
  }
  auto account = ledger->account(key->public_key());
  if (!account || !*account) return 1;
  std::uint64_t nonce = (*account)->nonce;
  const std::string sender = hex_encode(key->public_key());
  const std::string ledger_id = hex_encode(ledger->info().id);
  std::mt19937_64 rng(std::random_device{}());
  for (;;) {
    const std::size_t count = 1 + rng() % 32;
    std::vector<std::string> batch;
    for (std::size_t i = 1; i <= count; ++i) {
      const nlohmann::json tx = {{"v", 1},
                                 {"ledger", ledger_id},
                                 {"sender", sender},
                                 {"nonce", nonce + i},
                                 {"type", "accounts.transfer"},
                                 {"args", {{"to", argv[3]}, {"amount", 1}}}};
      auto envelope = sign_transaction(tx, *key);
      if (!envelope) return 1;
      batch.push_back(std::move(*envelope));
    }
    auto receipts = ledger->submit_many(batch);
    if (!receipts) {
      std::fprintf(stderr, "%s\n", receipts.error().message.c_str());
      return 1;
    }
    std::string out;
    for (std::size_t i = 0; i < receipts->size(); ++i) {
      if (!(*receipts)[i].accepted()) {
        std::fprintf(stderr, "rejected: %s\n", (*receipts)[i].rejection->message.c_str());
        return 1;
      }
      out += "ack " + std::to_string(nonce + i + 1) + "\n";
    }
    // One write per batch, so the reader never sees half a line.
    if (::write(STDOUT_FILENO, out.data(), out.size()) != static_cast<ssize_t>(out.size())) return 1;
    nonce += count;
  }
}
