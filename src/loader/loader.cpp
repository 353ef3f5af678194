#include "loader/loader.h"

#include <iostream>
#include <thread>

#include "base/bytes.h"

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

// The orders of this CVM that need work: Processing ones first (a previous
// run died during them), then New ones, oldest first.
Result<std::vector<ledger::Order>> pending_orders(ledger::LedgerClient& ledger, const ledger::CvmId& id) {
  std::vector<ledger::Order> out;
  for (auto status : {ledger::OrderStatus::Processing, ledger::OrderStatus::New}) {
    ledger::OrderFilter filter;
    filter.cvm = id;
    filter.status = status;
    auto orders = ledger.orders(filter);
    if (!orders) return std::unexpected(orders.error());
    out.insert(out.end(), orders->begin(), orders->end());
  }
  return out;
}

}  // namespace

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

  auto summary = (*ledger)->summary();
  if (!summary) return fail(summary.error(), "the ledger");
  std::uint64_t seen_size = summary->size;  // records already looked at for orders
  auto unreachable_since = Clock::now();
  bool registered = false;
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
    auto orders = pending_orders(**ledger, cvm->id);
    if (!orders) {
      if (auto ok = retry(orders.error()); !ok) return ok;
      continue;
    }
    unreachable_since = Clock::now();
    if (orders->empty()) {
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
    for (const auto& order : *orders) {
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
      auto outcome = process_order(*cvm, **ledger, order, pipeline);
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
