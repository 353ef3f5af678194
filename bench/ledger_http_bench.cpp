// Sustained durable appends per second through the ledger's HTTP server
// (signature verification, the contract, group commit with fsync, the signed
// checkpoint, and HTTP/JSON both ways), beside the raw single-core Ed25519
// verification rate measured in the same run.
//
// The server runs in-process on 127.0.0.1 over a temporary database; each
// client thread holds one keep-alive connection and submits pre-signed
// envelopes one at a time, as a node would.
//
// usage: ledger_http_bench [transactions (default 40000)] [client threads (default 32)]
#include <httplib.h>

#include <atomic>
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
#include "ledger/server.h"
#include "ledger_bench_common.h"

using namespace ward;
using namespace ward::ledger;
using namespace ward::ledger::bench;

namespace {}  // namespace

int main(int argc, char** argv) {
  const std::size_t total = argc > 1 ? std::stoul(argv[1]) : 40000;
  const std::size_t threads = argc > 2 ? std::stoul(argv[2]) : 32;
  const auto dir = std::filesystem::temp_directory_path() /
                   ("ward-ledger-http-bench-" + hex_encode(crypto::random_bytes(6)));
  std::filesystem::create_directories(dir);

  const double verify = verify_rate();
  std::printf("Ed25519 verify, 1 core:                      %8.0f /s (hardware threads: %u)\n", verify,
              std::thread::hardware_concurrency());

  auto ledger = Ledger::init(dir / "http.db", true).value();
  const auto work = prepare(ledger, threads, total / threads);
  const std::uint64_t before = ledger.size();

  LedgerServer server(ledger, ServerOptions{.threads = threads + 8});
  const int port = server.bind({"127.0.0.1", 0}).value();
  std::jthread serving([&] { (void)server.serve(); });

  std::atomic<std::uint64_t> rejected{0};
  std::atomic<std::uint64_t> failed{0};
  const auto start = Clock::now();
  {
    std::vector<std::jthread> pool;
    for (std::size_t t = 0; t < threads; ++t) {
      pool.emplace_back([&, t] {
        httplib::Client http("127.0.0.1", port);
        http.set_keep_alive(true);
        http.set_tcp_nodelay(true);
        http.set_read_timeout(std::chrono::seconds(30));
        for (const auto& envelope : work[t]) {
          auto res = http.Post("/v1/tx", envelope, "application/json");
          if (!res) {
            if (failed++ == 0)
              std::fprintf(stderr, "first failure: %s\n", httplib::to_string(res.error()).c_str());
          } else if (res->status != 200) {
            if (rejected++ == 0)
              std::fprintf(stderr, "first rejection: %d %s\n", res->status, res->body.c_str());
          }
        }
      });
    }
  }
  const double secs = seconds_since(start);
  server.stop();
  const std::size_t sent = threads * (total / threads);
  const std::uint64_t appended = ledger.size() - before;
  std::printf("POST /v1/tx, %3zu keep-alive clients:         %8zu tx in %6.2f s = %8.0f tx/s%s\n", threads,
              sent, secs, static_cast<double>(appended) / secs,
              rejected || failed || appended != sent ? " (REJECTIONS OR FAILURES!)" : "");
  if (rejected || failed) {
    std::printf("  rejected %llu, failed %llu\n", static_cast<unsigned long long>(rejected.load()),
                static_cast<unsigned long long>(failed.load()));
  }
  std::printf("  = %.2f x the single-core Ed25519 verify rate\n",
              static_cast<double>(appended) / secs / verify);
  std::filesystem::remove_all(dir);
  return rejected || failed ? 1 : 0;
}
