// Transactions per second that `ward` sustains against the EVM ledger on a
// local anvil, beside the node's own limit measured in the same run:
//
//   node limit  pre-signed raw transfers of the chain's coin, sent as fast as
//               one connection per thread can (eth_sendRawTransaction, no
//               waiting): what anvil itself takes;
//   ward        accounts.transfer through the EVM LedgerClient, as every
//               `ward` verb sends it: the Ward parser, gas estimation, fees,
//               signing, sending, and waiting for the mined receipt.
//
// Each thread is one party with its own key and client (one nonce sequence
// per key, as the chain requires). Gas per call is read from the receipts;
// contracts/test/ledger_test.js prints every call's gas.
//
// usage: evm_ledger_bench [transactions per thread (default 200)] [threads (default 4)]
#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "../tests/unit/evm/anvil_testing.h"
#include "evm/sender.h"
#include "evm/transaction.h"
#include "keys/party_key.h"
#include "ledger/client.h"
#include "ledger/evm/deploy.h"

using namespace ward;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t per_thread = argc > 1 ? std::stoul(argv[1]) : 200;
  const std::size_t threads = argc > 2 ? std::stoul(argv[2]) : 4;

  evm::testing::Anvil anvil;
  std::string why;
  if (!anvil.start(why)) {
    std::fprintf(stderr, "evm_ledger_bench: %s\n", why.c_str());
    return 1;
  }
  auto rpc = evm::RpcClient::open(anvil.url()).value();

  // The node's limit: pre-signed coin transfers, one key per thread.
  {
    std::vector<evm::PrivateKey> keys;
    for (std::size_t t = 0; t < threads; ++t) {
      keys.push_back(evm::PrivateKey::generate());
      evm::testing::Anvil::fund_gas(*rpc, keys.back().address());
    }
    const auto chain = rpc->chain_id().value();
    std::vector<std::vector<Bytes>> raw(threads);
    for (std::size_t t = 0; t < threads; ++t) {
      for (std::size_t i = 0; i < per_thread; ++i) {
        evm::Eip1559Transaction tx;
        tx.chain_id = chain;
        tx.nonce = i;
        tx.max_priority_fee_per_gas = evm::U256(1'000'000'000);
        tx.max_fee_per_gas = evm::U256(10'000'000'000);
        tx.gas_limit = 21'000;
        tx.to = keys[(t + 1) % threads].address();
        tx.value = evm::U256(1);
        raw[t].push_back(evm::sign_transaction(tx, keys[t]).raw());
      }
    }
    std::atomic<std::uint64_t> failed{0};
    const auto start = Clock::now();
    {
      std::vector<std::jthread> pool;
      for (std::size_t t = 0; t < threads; ++t) {
        pool.emplace_back([&, t] {
          auto own = evm::RpcClient::open(anvil.url()).value();
          for (const auto& r : raw[t]) {
            if (!own->send_raw_transaction(r)) ++failed;
          }
        });
      }
    }
    const double took = seconds_since(start);
    std::printf("node limit: %zu raw transfers, %zu threads:        %8.0f tx/s (%.2f s, %lu failed)\n",
                threads * per_thread, threads, static_cast<double>(threads * per_thread) / took, took,
                static_cast<unsigned long>(failed.load()));
  }

  // ward: the ledger deployed, one party per thread, each transferring to the next.
  const keys::PartyKey deployer = keys::PartyKey::generate();
  evm::testing::Anvil::fund_gas(*rpc, deployer.evm_key().value().address());
  const auto deployed = ledger::evm::deploy_ledger(anvil.url(), deployer, true).value();
  std::printf("deploy: %lu gas\n", static_cast<unsigned long>(deployed.gas_used));
  std::vector<keys::PartyKey> parties;
  for (std::size_t t = 0; t < threads; ++t) {
    parties.push_back(keys::PartyKey::generate());
    evm::testing::Anvil::fund_gas(*rpc, parties.back().evm_key().value().address());
    auto client = ledger::open_client(deployed.target).value();
    ledger::submit_signed(*client, parties.back(), "accounts.register",
                          {{"recipient", parties.back().recipient().to_string()}, {"name", "p"}})
        .value();
    ledger::submit_signed(*client, parties.back(), "accounts.fund",
                          {{"to", hex_encode(parties.back().signing_public_key())}, {"amount", 1'000'000}})
        .value();
  }
  for (std::size_t n : {std::size_t{1}, threads}) {
    std::atomic<std::uint64_t> failed{0};
    const std::size_t count = n == 1 ? per_thread / 2 : per_thread;
    const auto start = Clock::now();
    {
      std::vector<std::jthread> pool;
      for (std::size_t t = 0; t < n; ++t) {
        pool.emplace_back([&, t] {
          auto client = ledger::open_client(deployed.target).value();
          const std::string to = hex_encode(parties[(t + 1) % threads].signing_public_key());
          for (std::size_t i = 0; i < count; ++i) {
            auto r =
                ledger::submit_signed(*client, parties[t], "accounts.transfer", {{"to", to}, {"amount", 1}});
            if (!r) ++failed;
          }
        });
      }
    }
    const double took = seconds_since(start);
    std::printf("ward: %zu accounts.transfer, %zu thread(s):        %8.1f tx/s (%.2f s, %lu failed)\n",
                n * count, n, static_cast<double>(n * count) / took, took,
                static_cast<unsigned long>(failed.load()));
  }
  // Gas of one transfer, from its receipt.
  {
    auto client = ledger::open_client(deployed.target).value();
    auto r =
        ledger::submit_signed(*client, parties[0], "accounts.transfer",
                              {{"to", hex_encode(parties[1 % threads].signing_public_key())}, {"amount", 1}})
            .value();
    auto receipt = rpc->receipt(r.leaf).value();
    std::printf("gas of one accounts.transfer: %lu\n",
                static_cast<unsigned long>(receipt ? (*receipt).gas_used : 0));
  }
  return 0;
}
