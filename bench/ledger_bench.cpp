// Sustained durable appends per second through the embedded Ledger, with
// signature verification included, beside the raw single-core Ed25519
// verification rate measured in the same run.
//
// usage: ledger_bench [transactions (default 40000)] [submit threads (default 64)]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/bytes.h"
#include "crypto/keys.h"
#include "crypto/random.h"
#include "ledger/ledger.h"
#include "ledger_bench_common.h"

using namespace ward;
using namespace ward::ledger;
using namespace ward::ledger::bench;

namespace {

void report(const char* what, std::size_t txs, double secs, std::uint64_t rejected) {
  std::printf("%-44s %8zu tx in %6.2f s = %8.0f tx/s%s\n", what, txs, secs, static_cast<double>(txs) / secs,
              rejected ? " (REJECTIONS!)" : "");
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t total = argc > 1 ? std::stoul(argv[1]) : 40000;
  const std::size_t threads = argc > 2 ? std::stoul(argv[2]) : 64;
  const auto dir =
      std::filesystem::temp_directory_path() / ("ward-ledger-bench-" + hex_encode(crypto::random_bytes(6)));
  std::filesystem::create_directories(dir);

  const double verify = verify_rate();
  std::printf("Ed25519 verify, 1 core:                      %8.0f /s (hardware threads: %u)\n", verify,
              std::thread::hardware_concurrency());

  {
    auto ledger = Ledger::init(dir / "submit.db", true).value();
    const auto work = prepare(ledger, threads, total / threads);
    std::atomic<std::uint64_t> rejected{0};
    const auto start = Clock::now();
    {
      std::vector<std::jthread> pool;
      for (std::size_t t = 0; t < threads; ++t) {
        pool.emplace_back([&, t] {
          for (const auto& envelope : work[t]) {
            auto r = ledger.submit(envelope);
            if (!r || !r->accepted()) ++rejected;
          }
        });
      }
    }
    const double secs = seconds_since(start);
    char what[64];
    std::snprintf(what, sizeof what, "Ledger::submit, %zu threads:", threads);
    report(what, threads * (total / threads), secs, rejected);
  }
  {
    constexpr std::size_t kSubmitters = 4;
    constexpr std::size_t kChunk = 512;
    auto ledger = Ledger::init(dir / "many.db", true).value();
    const auto work = prepare(ledger, kSubmitters, total / kSubmitters);
    std::atomic<std::uint64_t> rejected{0};
    const auto start = Clock::now();
    {
      std::vector<std::jthread> pool;
      for (std::size_t t = 0; t < kSubmitters; ++t) {
        pool.emplace_back([&, t] {
          for (std::size_t i = 0; i < work[t].size(); i += kChunk) {
            const std::size_t n = std::min(kChunk, work[t].size() - i);
            auto rs = ledger.submit_many(std::span(work[t]).subspan(i, n));
            if (!rs) {
              rejected += n;
              continue;
            }
            for (const auto& r : *rs) rejected += !r.accepted();
          }
        });
      }
    }
    const double secs = seconds_since(start);
    report("Ledger::submit_many, 4 threads x 512:", kSubmitters * (total / kSubmitters), secs, rejected);
    const auto t0 = Clock::now();
    const auto v = ledger.verify().value();
    std::printf("Ledger::verify (replay, %llu records):           %6.2f s, %s\n",
                static_cast<unsigned long long>(v.records), seconds_since(t0),
                v.ok ? "ok" : v.problem.c_str());
  }
  std::filesystem::remove_all(dir);
}
