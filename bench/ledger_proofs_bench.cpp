// Transparency-log proofs at one million entries, tiles in a temporary SQLite
// file: inclusion proof + verification at random indices, consistency proof +
// verification between random sizes. Prints resident memory before and after
// building the log, and after the benchmarks, to show it stays flat.
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <sqlite3.h>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "ledger/merkle.h"
#include "ledger/sqlite_tiles.h"

namespace {

namespace fs = std::filesystem;
namespace ledger = ward::ledger;

constexpr std::uint64_t kEntries = 1'000'000;
constexpr std::size_t kBatch = 1000;

long rss_kib() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.starts_with("VmRSS:")) return std::stol(line.substr(6));
  }
  return -1;
}

void exec(sqlite3* db, const char* sql) {
  if (sqlite3_exec(db, sql, nullptr, nullptr, nullptr) != SQLITE_OK) {
    std::fprintf(stderr, "%s: %s\n", sql, sqlite3_errmsg(db));
    std::exit(1);
  }
}

// The log is built once and shared by every benchmark.
struct Fixture {
  fs::path path = fs::temp_directory_path() / ("ward_ledger_bench_" + std::to_string(::getpid()) + ".db");
  sqlite3* db = nullptr;
  std::unique_ptr<ledger::SqliteTileStore> store;
  std::unique_ptr<ledger::MerkleLog> log;
  ledger::Hash root{};

  Fixture() {
    fs::remove(path);
    if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) std::exit(1);
    exec(db, "PRAGMA journal_mode=WAL");
    store = std::make_unique<ledger::SqliteTileStore>(ledger::SqliteTileStore::open(db).value());
    log = std::make_unique<ledger::MerkleLog>(ledger::MerkleLog::open(*store, 0).value());

    const long before = rss_kib();
    const auto start = std::chrono::steady_clock::now();
    std::vector<ledger::Hash> batch(kBatch);
    for (std::uint64_t done = 0; done < kEntries; done += kBatch) {
      for (std::size_t i = 0; i < kBatch; ++i) {
        batch[i] = ledger::leaf_hash(ward::as_bytes("transaction " + std::to_string(done + i)));
      }
      exec(db, "BEGIN");
      if (!log->append(batch)) std::exit(1);
      exec(db, "COMMIT");
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    root = log->root().value();
    std::fprintf(
        stderr,
        "built %llu entries in %.2f s (%llu tiles, %.1f MiB file); RSS before %ld KiB, after %ld KiB\n",
        static_cast<unsigned long long>(kEntries), seconds, static_cast<unsigned long long>(tile_count()),
        static_cast<double>(fs::file_size(path)) / (1 << 20), before, rss_kib());
  }

  std::int64_t tile_count() {
    sqlite3_stmt* statement = nullptr;
    sqlite3_prepare_v2(db, "SELECT count(*) FROM tlog_tiles", -1, &statement, nullptr);
    sqlite3_step(statement);
    const std::int64_t n = sqlite3_column_int64(statement, 0);
    sqlite3_finalize(statement);
    return n;
  }

  ~Fixture() {
    std::fprintf(stderr, "RSS after the benchmarks: %ld KiB\n", rss_kib());
    log.reset();
    store.reset();
    sqlite3_close(db);
    fs::remove(path);
    fs::remove(path.string() + "-wal");
    fs::remove(path.string() + "-shm");
  }
};

Fixture& fixture() {
  static Fixture f;
  return f;
}

ledger::Hash entry(std::uint64_t i) {
  return ledger::leaf_hash(ward::as_bytes("transaction " + std::to_string(i)));
}

// Random queries are drawn before timing, so the loop times the proof alone.
constexpr std::size_t kQueries = 4096;

void BM_InclusionProofAndVerify(benchmark::State& state) {
  Fixture& f = fixture();
  std::mt19937_64 rng(1);
  std::uniform_int_distribution<std::uint64_t> pick(0, kEntries - 1);
  std::vector<std::pair<std::uint64_t, ledger::Hash>> queries;
  for (std::size_t i = 0; i < kQueries; ++i) {
    const std::uint64_t index = pick(rng);
    queries.emplace_back(index, entry(index));
  }
  std::size_t next = 0;
  for (auto _ : state) {
    const auto& [index, leaf] = queries[next++ % kQueries];
    auto proof = f.log->inclusion_proof(index, kEntries);
    if (!proof || !ledger::verify_inclusion(index, kEntries, leaf, *proof, f.root)) {
      state.SkipWithError("inclusion proof failed");
      return;
    }
  }
}
BENCHMARK(BM_InclusionProofAndVerify)->Unit(benchmark::kMicrosecond);

void BM_VerifyInclusionOnly(benchmark::State& state) {
  Fixture& f = fixture();
  const std::uint64_t index = 123'457;
  const ledger::Hash leaf = entry(index);
  const auto proof = f.log->inclusion_proof(index, kEntries).value();
  for (auto _ : state) {
    if (!ledger::verify_inclusion(index, kEntries, leaf, proof, f.root)) state.SkipWithError("verify failed");
  }
}
BENCHMARK(BM_VerifyInclusionOnly)->Unit(benchmark::kMicrosecond);

void BM_ConsistencyProofAndVerify(benchmark::State& state) {
  Fixture& f = fixture();
  std::mt19937_64 rng(3);
  std::uniform_int_distribution<std::uint64_t> pick(1, kEntries - 1);
  std::vector<std::pair<std::uint64_t, ledger::Hash>> queries;
  for (std::size_t i = 0; i < kQueries; ++i) {
    const std::uint64_t size1 = pick(rng);
    queries.emplace_back(size1, f.log->root_at(size1).value());
  }
  std::size_t next = 0;
  for (auto _ : state) {
    const auto& [size1, root1] = queries[next++ % kQueries];
    auto proof = f.log->consistency_proof(size1, kEntries);
    if (!proof || !ledger::verify_consistency(size1, kEntries, root1, f.root, *proof)) {
      state.SkipWithError("consistency proof failed");
      return;
    }
  }
}
BENCHMARK(BM_ConsistencyProofAndVerify)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
