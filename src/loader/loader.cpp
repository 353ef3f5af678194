#include "loader/loader.h"

#include <algorithm>
#include <condition_variable>
#include <iostream>
#include <mutex>
#include <optional>
#include <thread>

#include "base/bytes.h"
#include "ca/server.h"

namespace ward::loader {
namespace {

using Clock = std::chrono::steady_clock;

void say(const std::string& line) {
  std::cout << "ward-loader: " << line << std::endl;
}

std::string stages_text(const std::map<std::string, std::uint64_t>& stages) {
  std::string out;
  for (const char* name : {"fetch", "verify", "decrypt", "run", "encrypt", "upload", "wipe", "publish"}) {
    auto it = stages.find(name);
    if (it == stages.end()) continue;
    if (!out.empty()) out += " ";
    out += std::string(name) + "=" + std::to_string(it->second) + "ms";
  }
  return out;
}

// Among the open orders, this CVM's that need work: Processing ones first (a
// previous run died during them), then New ones, oldest first.
std::vector<ledger::Order> pending_orders(const OpenOrders& open, const ledger::CvmId& id) {
  std::vector<ledger::Order> out;
  for (const auto* orders : {&open.processing, &open.fresh}) {
    for (const auto& order : *orders)
      if (order.cvm == id) out.push_back(order);
  }
  return out;
}

// Heartbeats from a thread of their own while an order runs, so that a CVM
// busy with a long order is not taken for a failed one (orders.reassign).
class HeartbeatThread {
 public:
  HeartbeatThread(const std::string& ledger, const keys::PartyKey& key, std::chrono::milliseconds every)
      : thread_([this, ledger, &key, every] { run(ledger, key, every); }) {}
  ~HeartbeatThread() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }

 private:
  void run(const std::string& target, const keys::PartyKey& key, std::chrono::milliseconds every) {
    auto client = ledger::open_client(target);
    std::unique_lock lock(mutex_);
    while (!wake_.wait_for(lock, every, [this] { return stop_; })) {
      lock.unlock();
      if (client) (void)ledger::submit_signed(**client, key, "cvms.heartbeat", nlohmann::json::object());
      lock.lock();
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;
};

std::uint64_t unix_now() {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
}

// Orders placed on this CVM's tee offer (docs/ledger.md, "Orders on a tee
// offer"), seen by an idle CVM: an order held by a CVM of the offer that has
// sent no heartbeat for longer than the offer's timeout is reassigned, and
// the oldest order no CVM holds is taken. True when this CVM took one.
bool take_from_offer(ledger::LedgerClient& ledger, const CvmState& cvm, std::uint64_t offer,
                     std::uint64_t timeout, const std::optional<ledger::Resources>& have,
                     const std::vector<ledger::Order>& processing, const std::vector<ledger::Order>& fresh) {
  bool took = false;
  for (const auto* orders : {&processing, &fresh}) {
    for (const auto& order : *orders) {
      if (order.tee_offer != offer || took) continue;
      // Only what fits what this CVM declared (the ledger refuses the rest).
      if (order.needs && !(have && have->fits(*order.needs))) continue;
      if (order.cvm != ledger::CvmId{}) {
        if (order.cvm == cvm.id) continue;
        auto holder = ledger.cvm(order.cvm);
        if (!holder || !*holder || unix_now() <= (*holder)->heartbeat_at + timeout) continue;
        auto moved = ledger::submit_signed(ledger, cvm.key, "orders.reassign", {{"order", order.id}});
        if (!moved) continue;
        say("order " + std::to_string(order.id) + ": CVM " + hex_encode(order.cvm).substr(0, 16) +
            " sent no heartbeat for " + std::to_string(unix_now() - (*holder)->heartbeat_at) +
            " s; reassigned it");
      }
      auto taken = ledger::submit_signed(ledger, cvm.key, "orders.take", {{"order", order.id}});
      if (taken) {
        say("order " + std::to_string(order.id) + ": took it from tee offer " + std::to_string(offer));
        took = true;
      }
    }
  }
  return took;
}

// Among the Processing orders, a split service order that lists this CVM
// among its workers (docs/serving.md, "Split inference"); nullopt when there
// is none.
std::optional<ledger::Order> worker_order(const std::vector<ledger::Order>& processing,
                                          const ledger::CvmId& id) {
  for (const auto& order : processing) {
    if (!order.serve) continue;
    for (const auto& w : order.serve->workers)
      if (w.cvm == id) return order;
  }
  return std::nullopt;
}

}  // namespace

Result<OpenOrders> open_orders(ledger::LedgerClient& ledger, std::uint64_t& from, std::size_t page) {
  OpenOrders out;
  std::optional<std::uint64_t> oldest_open;
  ledger::OrderFilter filter;
  filter.first_id = from;
  filter.limit = page;
  std::uint64_t past = from;  // past every order listed
  for (;;) {
    auto listed = ledger.orders(filter);
    if (!listed) return std::unexpected(listed.error());
    for (auto& order : *listed) {
      past = std::max(past, order.id + 1);
      const bool open =
          order.status == ledger::OrderStatus::New || order.status == ledger::OrderStatus::Processing;
      if (!open) continue;
      if (!oldest_open) oldest_open = order.id;
      (order.status == ledger::OrderStatus::New ? out.fresh : out.processing).push_back(std::move(order));
    }
    if (listed->size() < page) break;
    filter.first_id = past;
  }
  from = oldest_open.value_or(past);
  return out;
}

std::filesystem::path default_work_root(const ledger::CvmId& id) {
  return std::filesystem::path("/dev/shm") / ("ward-cvm-" + hex_encode(id).substr(0, 16));
}

Result<void> run_loader(const LoaderOptions& options, const std::atomic<bool>& stop) {
  auto cvm = provision_cvm(options.cvm);
  if (!cvm) return std::unexpected(cvm.error());
  say("CVM " + hex_encode(cvm->id) + (cvm->simulated ? " (SIMULATED TEE)" : "") + " ready, certificate in " +
      (options.cvm.dir / "cvm.pem").string());

  PipelineOptions pipeline = options.pipeline;
  if (pipeline.work_root.empty()) pipeline.work_root = default_work_root(cvm->id);
  pipeline.service.heartbeat = options.heartbeat;
  pipeline.stop = &stop;
  if (!pipeline.log) pipeline.log = [](std::string_view line) { say(std::string(line)); };
  CertificateRenewal renewal(options.cvm, options.renewal, pipeline.log);
  pipeline.renewal = &renewal;
  wipe_work_root(pipeline.work_root);

  auto ledger = ledger::open_client(options.ledger);
  if (!ledger) return std::unexpected(ledger.error());
  // The CVMs of a split order verify each other under the center's certificate.
  // Without it this CVM serves no split order (start_split_head says so).
  if (auto ca = ca::fetch_ca_certificate(options.cvm.ca_url); ca) {
    pipeline.ca_certificate = std::move(*ca);
  } else {
    say("no certification center certificate, so no split orders: " + ca.error().message);
  }

  auto summary = (*ledger)->summary();
  if (!summary) return fail(summary.error(), "the ledger");
  std::uint64_t seen_size = summary->size;  // records already looked at for orders
  std::uint64_t open_from = 0;              // no order before it is open (open_orders)
  auto unreachable_since = Clock::now();
  bool registered = false;
  std::uint64_t offer = 0, timeout = ledger::kDefaultCvmTimeout;
  std::optional<ledger::Resources> resources;
  Clock::time_point last_heartbeat{};
  while (!stop.load()) {
    // A transient ledger error is retried for a while; a persistent one ends the loader.
    const auto retry = [&](const Error& e) -> Result<void> {
      if (Clock::now() - unreachable_since > std::chrono::seconds(30)) return fail(e, "the ledger");
      std::this_thread::sleep_for(options.poll);
      return {};
    };
    if (!registered) {
      auto listed = (*ledger)->cvm(cvm->id);
      if (!listed) {
        if (auto ok = retry(listed.error()); !ok) return ok;
        continue;
      }
      unreachable_since = Clock::now();
      if (!*listed) {
        std::this_thread::sleep_for(options.poll);
        continue;
      }
      registered = true;
      offer = (*listed)->offer;
      resources = (*listed)->resources;
      if (auto tee = (*ledger)->offer(offer); tee && *tee && (*tee)->timeout != 0) timeout = (*tee)->timeout;
      say("listed on the ledger; waiting for orders");
    }
    if (Clock::now() - last_heartbeat >= options.heartbeat) {
      auto beat = ledger::submit_signed(**ledger, cvm->key, "cvms.heartbeat", nlohmann::json::object());
      if (!beat) {
        if (auto ok = retry(beat.error()); !ok) return ok;
        continue;
      }
      last_heartbeat = Clock::now();
    }
    renewal.renew_if_due(*cvm, **ledger);
    // One listing of the open orders a poll: this CVM's own, and when it has
    // none, its offer's orders and the split orders it is a worker of.
    auto open = open_orders(**ledger, open_from);
    if (!open) {
      if (auto ok = retry(open.error()); !ok) return ok;
      continue;
    }
    unreachable_since = Clock::now();
    const std::vector<ledger::Order> orders = pending_orders(*open, cvm->id);
    if (orders.empty()) {
      if (take_from_offer(**ledger, *cvm, offer, timeout, resources, open->processing, open->fresh)) continue;
      if (auto work = worker_order(open->processing, cvm->id)) {
        say("order " + std::to_string(work->id) + ": a worker of this split order; starting its part");
        auto done = process_worker(*cvm, **ledger, *work, pipeline);
        last_heartbeat = Clock::now();
        if (done) {
          say("order " + std::to_string(work->id) + ": the worker's part is over");
        } else {
          say("order " + std::to_string(work->id) + ": the worker stopped: " + done.error().message);
          // Not again for the same order at once: the head is told by its tunnels.
          std::this_thread::sleep_for(options.poll);
        }
        continue;
      }
    }
    if (orders.empty()) {
      if (options.exit_when_idle) return {};
      // Wake as soon as the ledger grows (a new order is a new record)
      // rather than after a fixed sleep.
      auto page = (*ledger)->records_after(seen_size, std::chrono::seconds(1));
      if (page) {
        seen_size = page->size;
      } else {
        std::this_thread::sleep_for(options.poll);
      }
      continue;
    }
    for (const auto& order : orders) {
      if (stop.load()) break;
      if (order.status == ledger::OrderStatus::New) {
        auto started = ledger::submit_signed(**ledger, cvm->key, "orders.start", {{"order", order.id}});
        if (!started) {
          say("order " + std::to_string(order.id) + ": cannot start: " + started.error().message);
          continue;
        }
      } else {
        say("order " + std::to_string(order.id) + ": was left processing; running it again");
      }
      std::optional<HeartbeatThread> beating;
      beating.emplace(options.ledger, cvm->key, options.heartbeat);
      auto outcome = process_order(*cvm, **ledger, order, pipeline);
      beating.reset();
      last_heartbeat = Clock::now();
      if (!outcome) {
        say("order " + std::to_string(order.id) + ": could not record its end: " + outcome.error().message);
        continue;
      }
      if (outcome->done) {
        say("order " + std::to_string(order.id) + ": done (" + stages_text(outcome->stages_ms) + ")");
      } else {
        say("order " + std::to_string(order.id) + ": error: " + outcome->reason);
      }
    }
  }
  return {};
}

}  // namespace ward::loader
