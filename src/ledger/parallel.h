// Internal to src/ledger: spreading independent work (signature checks) over
// the machine's cores.
#pragma once

#include <algorithm>
#include <cstddef>
#include <thread>
#include <vector>

namespace ward::ledger::detail {

inline unsigned worker_count(std::size_t items, std::size_t per_worker) {
  const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
  return static_cast<unsigned>(std::clamp<std::size_t>(items / per_worker, 1, hw));
}

// Runs f(i) for i in [0, n) on up to worker_count threads.
template <class F>
void parallel_for(std::size_t n, std::size_t per_worker, F f) {
  const unsigned workers = worker_count(n, per_worker);
  if (workers == 1) {
    for (std::size_t i = 0; i < n; ++i) f(i);
    return;
  }
  std::vector<std::jthread> threads;
  for (unsigned w = 0; w < workers; ++w) {
    threads.emplace_back([&, w] {
      for (std::size_t i = w; i < n; i += workers) f(i);
    });
  }
}

}  // namespace ward::ledger::detail
