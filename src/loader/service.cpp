#include "loader/service.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

#include "base/bytes.h"
#include "base/time.h"
#include "ca/certificate.h"
#include "engine/netns.h"
#include "engine/sandbox.h"
#include "ledger/contract.h"
#include "loader/prepare.h"
#include "serve/certificate.h"
#include "serve/gateway.h"
#include "serve/meter.h"
#include "serve/stream.h"
#include "serve/tls.h"
#include "serve/tunnel.h"

namespace ward::loader {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using std::chrono::system_clock;

// How long the gateway waits on the engine for a request's answer to make
// progress (a model may think for a while between tokens).
constexpr std::chrono::seconds kEngineIoTimeout{120};
constexpr std::chrono::milliseconds kDialTimeout{2000};

// Runs the engine, and runs it again when it exits, up to max_restarts
// times; knows the network namespace of the sandbox running now.
class EngineSupervisor {
 public:
  EngineSupervisor(engine::SandboxSpec spec, int max_restarts, std::function<void(const std::string&)> log)
      : spec_(std::move(spec)), max_restarts_(max_restarts), log_(std::move(log)) {}
  ~EngineSupervisor() { stop(); }

  void start() {
    thread_ = std::thread([this] { run(); });
  }
  void stop() {
    stop_ = true;
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  // The reason it gave up, once it has.
  std::optional<std::string> failure() const {
    std::lock_guard lock(mutex_);
    return failure_;
  }
  // A connection to the engine's port, inside its sandbox.
  Result<UniqueFd> dial_fd(int port) {
    UniqueFd netns;
    {
      std::lock_guard lock(mutex_);
      if (netns_) netns = UniqueFd(::fcntl(netns_.get(), F_DUPFD_CLOEXEC, 0));
    }
    if (!netns) return fail("engine.connect", "the engine is not running");
    return engine::connect_in_namespace(netns.get(), port, kDialTimeout);
  }
  Result<std::unique_ptr<serve::Stream>> dial(int port) {
    auto fd = dial_fd(port);
    if (!fd) return std::unexpected(fd.error());
    return serve::socket_stream(fd->release(), kEngineIoTimeout);
  }
  // Called with each new sandbox's network namespace as it starts, before
  // the engine may connect anywhere: where a split order's head listens for
  // its engine's connections to the workers.
  void on_namespace(std::function<void(int netns)> hook) { on_namespace_ = std::move(hook); }

 private:
  void run() {
    for (int restarts = 0;; ++restarts) {
      std::error_code ec;
      fs::remove_all(spec_.output, ec);  // a service's output is never delivered: each run starts empty
      fs::create_directories(spec_.output, ec);
      engine::SandboxSpec spec = spec_;
      spec.stop = &stop_;
      spec.on_started = [this](pid_t pid) {
        auto ns = engine::open_network_namespace(pid);
        if (ns && on_namespace_) on_namespace_(ns->get());
        std::lock_guard lock(mutex_);
        if (ns) netns_ = std::move(*ns);
      };
      auto ran = engine::run_sandboxed(spec);
      {
        std::lock_guard lock(mutex_);
        netns_.reset();
      }
      if (stop_) return;
      const std::string why = ran ? "the engine " + ran->describe() : ran.error().message;
      if (restarts >= max_restarts_) {
        std::lock_guard lock(mutex_);
        failure_ = why + (max_restarts_ > 0 ? " (after " + std::to_string(restarts) + " restarts)" : "");
        return;
      }
      log_(why + "; starting it again");
      std::unique_lock lock(mutex_);
      wake_.wait_for(lock, std::chrono::milliseconds(250) * (restarts + 1), [this] { return stop_.load(); });
      if (stop_) return;
    }
  }

  engine::SandboxSpec spec_;
  const int max_restarts_;
  std::function<void(const std::string&)> log_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  UniqueFd netns_;
  std::optional<std::string> failure_;
  std::function<void(int)> on_namespace_;
  std::thread thread_;
};

// "HOST:PORT", an IPv6 host in brackets.
std::string host_port(const std::string& host, int port) {
  const bool ipv6 = host.find(':') != std::string::npos;
  return (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::string endpoint_url(const std::string& host, int port) {
  return "https://" + host_port(host, port);
}

// The sandbox a service's engine runs in, a split order's worker's too: the
// image's entrypoint, command and environment (then `env`), the prepared
// inputs, an output directory that is never delivered, and no wall-clock
// limit of its own: it runs until the order ends.
Result<engine::SandboxSpec> service_sandbox(const Prepared& prepared, const ledger::Order& order,
                                            const PipelineOptions& options, const fs::path& work,
                                            const std::vector<std::string>& env = {}) {
  std::error_code ec;
  const fs::path output = work / "result" / "output";
  fs::create_directories(output, ec);
  if (ec) return fail("loader.work", "cannot create the engine's output directory: " + ec.message());
  engine::SandboxSpec spec;
  spec.rootfs = prepared.rootfs;
  spec.inputs = prepared.inputs;
  spec.output = output;
  spec.args_json = nlohmann::json{{"order", order.id}}.dump();
  spec.argv = prepared.image.entrypoint;
  spec.argv.insert(spec.argv.end(), prepared.image.cmd.begin(), prepared.image.cmd.end());
  spec.env = prepared.image.env;
  spec.env.insert(spec.env.end(), env.begin(), env.end());
  spec.working_dir = prepared.image.working_dir;
  spec.limits = options.limits;
  spec.limits.wall_time = std::chrono::hours(24 * 365 * 10);
  if (spec.argv.empty()) return fail("loader.engine", "the engine image names no entrypoint or command");
  return spec;
}

// Waits, up to the service's start timeout, until `what` (the engine, or a
// worker's) listens on `port` inside its sandbox. Ends early when the engine
// gives up, the loader stops, or `lost` says a split order lost a worker.
Result<void> wait_listening(EngineSupervisor& engine, int port, const std::string& what,
                            const PipelineOptions& options,
                            const std::function<std::optional<std::string>()>& lost = {}) {
  const auto ready_by = Clock::now() + options.service.start_timeout;
  for (;;) {
    if (lost) {
      if (auto gone = lost()) return fail("loader.worker", *gone);
    }
    if (auto failed = engine.failure()) return fail("loader.engine", *failed);
    if (options.stop && options.stop->load())
      return fail(std::string(kStoppedCode), "the loader is stopping");
    if (engine.dial_fd(port)) return {};
    if (Clock::now() >= ready_by) {
      return fail("loader.engine", what + " did not listen on its port " + std::to_string(port) + " within " +
                                       std::to_string(options.service.start_timeout.count()) + " s");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

// The subscriptions of a service for subscribers, as the ledger last said,
// by which the gateway admits each request (from its handler threads); the
// serving loop refreshes them every poll, so a new subscription or a top-up
// counts within one.
class Subscribers {
 public:
  Subscribers(std::uint64_t order, ledger::UsagePrice price) : order_(order), price_(price) {}

  void update(const std::vector<ledger::Subscription>& subscriptions) {
    std::lock_guard lock(mutex_);
    by_account_.clear();
    for (const auto& s : subscriptions) by_account_.emplace(s.account, s);
  }
  bool open(const ledger::AccountId& account) const {
    std::lock_guard lock(mutex_);
    const auto it = by_account_.find(account);
    return it != by_account_.end() && !it->second.closed;
  }

  // 402 for an account with no open subscription, or whose deposit would
  // not cover one more request on top of what it has used.
  std::optional<http::Response> admit(const ledger::AccountId& account, const serve::Usage& so_far) const {
    std::lock_guard lock(mutex_);
    const std::string order = std::to_string(order_);
    const auto it = by_account_.find(account);
    if (it == by_account_.end() || it->second.closed) {
      return http::error_response(402, "not_subscribed",
                                  "account " + hex_encode(account) + " has no subscription to order " +
                                      order + " (ward services subscribe " + order + " --deposit N)");
    }
    const std::uint64_t next =
        ledger::usage_charge(price_, so_far.requests + 1, so_far.tokens, ledger::kMaxAmount);
    if (next > it->second.deposit) {
      return http::error_response(
          402, "exhausted",
          "account " + hex_encode(account) + "'s deposit of " + std::to_string(it->second.deposit) +
              " for order " + order +
              " does not cover another request (used: " + std::to_string(so_far.requests) + " requests, " +
              std::to_string(so_far.tokens) + " tokens); top it up with ward services subscribe " + order);
    }
    return std::nullopt;
  }

 private:
  const std::uint64_t order_;
  const ledger::UsagePrice price_;
  mutable std::mutex mutex_;
  std::map<ledger::AccountId, ledger::Subscription> by_account_;
};

// The service's usage report (services.usage): what receipts have shown each
// subscriber since the last one, in batches the ledger takes, or no entries
// at all, which still charges the per-hour offers for the time served.
// `sent` remembers what the ledger accepted.
Result<void> report_usage(ledger::LedgerClient& ledger, const CvmState& cvm, std::uint64_t order,
                          const serve::Meter* meter, const Subscribers* subscribers,
                          std::map<ledger::AccountId, serve::Usage>& sent) {
  std::vector<std::pair<ledger::AccountId, serve::Usage>> changed;
  if (meter && subscribers) {
    for (const auto& [account, usage] : meter->receipted()) {
      const auto before = sent.find(account);
      if (subscribers->open(account) && (before == sent.end() || before->second != usage))
        changed.emplace_back(account, usage);
    }
  }
  std::size_t at = 0;
  do {
    nlohmann::json entries = nlohmann::json::array();
    const std::size_t end = std::min(changed.size(), at + ledger::kMaxUsageEntries);
    for (std::size_t i = at; i < end; ++i) {
      const auto& [account, u] = changed[i];
      entries.push_back({{"account", hex_encode(account)},
                         {"requests", u.requests},
                         {"tokens", u.tokens},
                         {"bytes", u.bytes}});
    }
    auto submitted = ledger::submit_signed(ledger, cvm.key, "services.usage",
                                           {{"order", order}, {"usage", std::move(entries)}});
    if (!submitted) return std::unexpected(submitted.error());
    for (std::size_t i = at; i < end; ++i) sent[changed[i].first] = changed[i].second;
    at = end;
  } while (at < changed.size());
  return {};
}

std::vector<crypto::Sha256Digest> input_digests(const Prepared& prepared) {
  std::vector<crypto::Sha256Digest> out;
  for (const auto& in : prepared.report_inputs) out.push_back(in.plaintext_sha256);
  return out;
}

// Where a split order's engines meet inside their sandboxes: a worker's
// engine listens on kRpcPort, and the head's engine finds worker i at
// 127.0.0.1:kRpcPort+i, a port its loader serves with the tunnel to it. The
// engine image reads the environment (engines/llm/launcher.cpp).
constexpr int kRpcPort = 50052;
constexpr std::string_view kRoleEnv = "WARD_ROLE=rpc-worker";
constexpr std::string_view kRpcPortEnv = "WARD_RPC_PORT=";
constexpr std::string_view kRpcServersEnv = "WARD_RPC_SERVERS=";
// How long a tunnel certificate lasts: tunnels are verified at their
// handshake, and the head's engine opens them when it starts.
constexpr std::chrono::hours kTunnelCertificateLifetime{24};

// The head's side of a split order, set up before its engine starts.
struct SplitHead {
  std::unique_ptr<serve::TunnelClient> tunnels;
  std::vector<ReportWorker> workers;  // as verified, for the start report
};

// What the CVMs of a split order require of each other: this CVM's own
// launch measurement, and each broker grant's policy, so the weights the
// head's engine sends reach only CVMs their owners' policies admit.
Result<std::vector<attest::Policy>> split_policies(const CvmState& cvm, const PipelineOptions& options,
                                                   std::vector<attest::Policy> grant_policies) {
  if (!options.ca_certificate)
    return fail("loader.worker", "this loader has no certification center certificate to verify peers with");
  auto own = ca::own_code(cvm.certificate, *options.ca_certificate, system_clock::now());
  if (!own) return std::unexpected(own.error());
  grant_policies.insert(grant_policies.begin(), own->same_code);
  return grant_policies;
}

// Waits for every worker to say on the ledger where its tunnel listens
// (services.join), then opens and verifies a tunnel to each.
Result<SplitHead> start_split_head(const CvmState& cvm, ledger::LedgerClient& ledger,
                                   const ledger::LedgerId& ledger_id, const ledger::Order& order,
                                   const Prepared& prepared, const PipelineOptions& options,
                                   const std::function<void(const std::string&)>& log) {
  auto policies = split_policies(cvm, options, prepared.broker_policies);
  if (!policies) return std::unexpected(policies.error());
  const serve::TunnelOrder tunnel_order{ledger_id, order.id, order.engine};
  auto identity = serve::tunnel_identity(tunnel_order, cvm.key.signing_key(), cvm.certificate,
                                         kTunnelCertificateLifetime);
  if (!identity) return fail(identity.error(), "the tunnel certificate");

  std::vector<ledger::Worker> workers;
  const auto ready_by = Clock::now() + options.service.start_timeout;
  for (;;) {
    auto current = ledger.order(order.id);
    if (current && *current && (*current)->serve) {
      workers = (*current)->serve->workers;
      const bool all = std::ranges::all_of(workers, [](const auto& w) { return !w.endpoint.empty(); });
      if (all) break;
    }
    if (options.stop && options.stop->load())
      return fail(std::string(kStoppedCode), "the loader is stopping");
    if (Clock::now() >= ready_by) {
      std::string missing;
      for (const auto& w : workers)
        if (w.endpoint.empty()) missing += (missing.empty() ? "" : ", ") + hex_encode(w.cvm).substr(0, 16);
      return fail("loader.worker", "workers " + missing + " did not join within " +
                                       std::to_string(options.service.start_timeout.count()) + " s");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }

  SplitHead head;
  serve::TunnelTrust trust{*options.ca_certificate, std::move(*policies), tunnel_order, {}};
  head.tunnels = std::make_unique<serve::TunnelClient>(std::move(*identity), std::move(trust), log);
  for (const auto& w : workers) {
    auto peer = head.tunnels->probe(w.endpoint, w.cvm);
    if (!peer) return fail("loader.worker", peer.error().message);
    head.workers.push_back(ReportWorker{w.cvm, peer->cvm_certificate->to_pem(), w.endpoint});
    log("worker CVM " + hex_encode(w.cvm).substr(0, 16) + " at " + w.endpoint + " verified");
  }
  return head;
}

}  // namespace

Result<SignedReport> serve_order(CvmState& cvm, ledger::LedgerClient& ledger,
                                 const ledger::LedgerId& ledger_id, const ledger::Order& order,
                                 const PipelineOptions& options, const fs::path& work,
                                 std::map<std::string, std::uint64_t>& stages) {
  const auto log = [&](const std::string& line) {
    if (options.log) options.log("order " + std::to_string(order.id) + ": " + line);
  };
  const ServiceOptions& service = options.service;
  // The engine is reached through a socket made in its sandbox's network
  // namespace, which takes CAP_SYS_ADMIN over it: root, as in a CVM.
  if (::geteuid() != 0) {
    return fail("loader.serve",
                "serving needs ward-loader to run as root (to reach the engine inside its sandbox)");
  }
  auto prepared = prepare_order(cvm, ledger, ledger_id, order, options, work, stages);
  if (!prepared) return std::unexpected(prepared.error());
  if (!prepared->image.serve_port) {
    return fail("loader.engine", "the engine image declares no port to serve on (its label ward.serve.port)");
  }
  const int port = *prepared->image.serve_port;

  // The order's TLS key and certificate, made here, chained to the CVM's
  // certificate of the moment.
  const serve::ServiceClaims claims{ledger_id, order.id, order.engine, input_digests(*prepared)};
  const auto issue = [&](const crypto::EcPrivateKey* key) {
    const auto now = std::chrono::floor<std::chrono::seconds>(system_clock::now());
    return serve::issue_service_certificate(claims, cvm.key.signing_key(), cvm.certificate,
                                            now - std::chrono::minutes(5), now + service.certificate_lifetime,
                                            key);
  };
  auto credentials = issue(nullptr);
  if (!credentials) return fail(credentials.error(), "the service certificate");
  auto tls = serve::TlsServerContext::create(credentials->key, {credentials->certificate, cvm.certificate});
  if (!tls) return fail(tls.error(), "the gateway's TLS");
  auto next_rotation = Clock::now() + service.certificate_lifetime / 2;

  // A split order: the workers' tunnels first, then the engine, which finds
  // worker i at 127.0.0.1:kRpcPort+i inside its sandbox.
  std::optional<SplitHead> split;
  std::vector<std::string> env;
  if (!order.serve->workers.empty()) {
    auto head = start_split_head(cvm, ledger, ledger_id, order, *prepared, options, log);
    if (!head) return std::unexpected(head.error());
    split = std::move(*head);
    std::string servers;
    for (std::size_t i = 0; i < split->workers.size(); ++i)
      servers += (i ? "," : "") + host_port("127.0.0.1", kRpcPort + static_cast<int>(i));
    env.push_back(std::string(kRpcServersEnv) + servers);
  }
  auto spec = service_sandbox(*prepared, order, options, work, env);
  if (!spec) return std::unexpected(spec.error());
  const auto lost_worker = [&]() -> std::optional<std::string> {
    return split ? split->tunnels->lost() : std::nullopt;
  };

  EngineSupervisor engine(std::move(*spec), service.max_restarts, log);
  if (split) {
    engine.on_namespace([&split, &log](int netns) {
      for (std::size_t i = 0; i < split->workers.size(); ++i) {
        const auto& w = split->workers[i];
        auto listener = engine::listen_in_namespace(netns, kRpcPort + static_cast<int>(i));
        if (!listener) {
          log("cannot serve worker " + std::to_string(i) + "'s port: " + listener.error().message);
          continue;
        }
        split->tunnels->serve(std::move(*listener), w.endpoint, w.cvm);
      }
    });
  }
  engine.start();
  if (auto ready = wait_listening(engine, port, "the engine", options, lost_worker); !ready)
    return std::unexpected(ready.error());

  serve::GatewayOptions gateway_options;
  gateway_options.host = service.listen_host;
  gateway_options.port = service.listen_port;
  const ledger::ServeRule& rule = order.serve->rule;
  const crypto::Sha256Digest tls_key = serve::tls_key_digest(credentials->certificate);
  gateway_options.access =
      std::make_shared<serve::AccessGuard>(rule, serve::ServiceBinding{order.id, tls_key});
  // Metering (docs/serving.md, "Metering and receipts"): every account that
  // signs its requests is counted and gets receipts; a service for
  // subscribers admits only accounts whose deposit covers the next request,
  // and carries on from the counters the ledger has (a restart).
  std::shared_ptr<serve::Meter> meter;
  std::shared_ptr<Subscribers> subscribers;
  if (rule.access != ledger::ServiceAccess::Public) {
    meter = std::make_shared<serve::Meter>(ledger_id, order.id, credentials->key, tls_key);
    gateway_options.meter = meter;
  }
  if (rule.access == ledger::ServiceAccess::Subscribers) {
    subscribers = std::make_shared<Subscribers>(order.id, rule.price);
    auto current = ledger.subscriptions(order.id);
    if (!current) return fail(current.error(), "the service's subscriptions");
    subscribers->update(*current);
    for (const auto& s : *current) meter->restore(s.account, serve::Usage{s.requests, s.tokens, s.bytes});
    gateway_options.admit = [subscribers](const ledger::AccountId& account, const serve::Usage& so_far) {
      return subscribers->admit(account, so_far);
    };
  }
  serve::Gateway gateway(
      *tls, [&engine, port] { return engine.dial(port); }, gateway_options);
  auto bound = gateway.start();
  if (!bound) return fail(bound.error(), "the gateway");
  const std::string endpoint =
      endpoint_url(service.public_host.empty() ? service.listen_host : service.public_host, *bound);

  Report report = report_of(cvm, ledger_id, order, *prepared);
  report.service =
      ReportService{serve::tls_key_digest(credentials->certificate), credentials->certificate.to_pem(),
                    endpoint, split ? split->workers : std::vector<ReportWorker>{}};
  report.outcome = "serving";
  report.stages_ms = stages;
  const SignedReport start = sign_report(report, cvm.key.signing_key());
  if (auto started = ledger::submit_signed(ledger, cvm.key, "services.start",
                                           {{"order", order.id}, {"report", start.json}});
      !started) {
    return fail(started.error(), "the ledger refused the service's start report");
  }
  log("serving at " + endpoint);
  const auto serving_since = Clock::now();

  // Serve until the creator cancels, the order leaves Processing, or the
  // engine gives up.
  std::string outcome;
  std::optional<Error> failure;
  auto last_heartbeat = Clock::now();
  auto last_usage = Clock::now();
  std::map<ledger::AccountId, serve::Usage> usage_sent;
  const auto send_usage = [&] {
    if (auto sent = report_usage(ledger, cvm, order.id, meter.get(), subscribers.get(), usage_sent); !sent)
      log("the ledger refused the service's usage: " + sent.error().message);
    last_usage = Clock::now();
  };
  while (outcome.empty() && !failure) {
    std::this_thread::sleep_for(service.poll);
    if (options.stop && options.stop->load()) {
      failure =
          Error{std::string(kStoppedCode), "the loader is stopping; the service is left to its restart"};
      break;
    }
    // A lost worker takes the engine down with it: the order fails, naming it.
    if (auto lost = lost_worker()) {
      failure = Error{"loader.worker", *lost};
      break;
    }
    if (auto failed = engine.failure()) {
      failure = Error{"loader.engine", *failed};
      break;
    }
    if (auto current = ledger.order(order.id); current && *current) {
      const auto& o = **current;
      if (o.status != ledger::OrderStatus::Processing) {
        outcome = "stopped: the order is no longer processing";
      } else if (o.serve && o.serve->exhausted_at) {
        outcome = "stopped: the order's deposit is spent";
      } else if (o.serve && o.serve->cancel_requested) {
        outcome = "stopped: canceled by its creator";
      }
    }
    if (subscribers) {
      if (auto current = ledger.subscriptions(order.id); current) subscribers->update(*current);
    }
    if (outcome.empty() && Clock::now() - last_usage >= service.usage_interval) send_usage();
    // A renewed CVM certificate goes into the chain at once, under a
    // service certificate re-issued for the same TLS key.
    const bool cvm_renewed = options.renewal && options.renewal->renew_if_due(cvm, ledger);
    if (cvm_renewed || Clock::now() >= next_rotation) {
      auto reissued = issue(&credentials->key);
      auto ok = reissued ? (*tls)->update({reissued->certificate, cvm.certificate}) : Result<void>();
      if (reissued && ok) {
        credentials->certificate = reissued->certificate;
        log(cvm_renewed ? "serving the renewed CVM certificate" : "rotated the service certificate");
      } else {
        log("cannot re-issue the service certificate: " + (reissued ? ok.error() : reissued.error()).message);
      }
      next_rotation = Clock::now() + service.certificate_lifetime / 2;
    }
    if (Clock::now() - last_heartbeat >= service.heartbeat) {
      (void)ledger::submit_signed(ledger, cvm.key, "cvms.heartbeat", nlohmann::json::object());
      last_heartbeat = Clock::now();
    }
  }
  gateway.stop();
  engine.stop();
  if (split) split->tunnels->stop();
  // What the last receipts showed is charged before the final report
  // settles the order and refunds the rest of each deposit.
  if (!failure) send_usage();
  stages["serve"] = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - serving_since).count());
  if (failure) return std::unexpected(*failure);
  log(outcome);

  report.certificate = cvm.certificate_pem;  // renewed since the start report, perhaps
  report.service->tls_certificate = credentials->certificate.to_pem();
  report.finished = format_rfc3339(system_clock::now());
  report.outcome = outcome;
  report.stages_ms = stages;
  return sign_report(report, cvm.key.signing_key());
}

Result<void> work_for_order(CvmState& cvm, ledger::LedgerClient& ledger, const ledger::LedgerId& ledger_id,
                            const ledger::Order& order, const PipelineOptions& options,
                            const fs::path& work) {
  const auto log = [&](const std::string& line) {
    if (options.log) options.log("order " + std::to_string(order.id) + " (worker): " + line);
  };
  const ServiceOptions& service = options.service;
  if (::geteuid() != 0) {
    return fail("loader.serve",
                "a worker needs ward-loader to run as root (to reach the engine inside its sandbox)");
  }
  auto policies = split_policies(cvm, options, {});
  if (!policies) return std::unexpected(policies.error());
  auto prepared = prepare_worker(cvm, ledger_id, order, options, work);
  if (!prepared) return std::unexpected(prepared.error());

  auto spec = service_sandbox(*prepared, order, options, work,
                              {std::string(kRoleEnv), std::string(kRpcPortEnv) + std::to_string(kRpcPort)});
  if (!spec) return std::unexpected(spec.error());
  EngineSupervisor engine(std::move(*spec), service.max_restarts, log);
  engine.start();
  if (auto ready = wait_listening(engine, kRpcPort, "the engine's worker", options); !ready)
    return std::unexpected(ready.error());

  // Only the order's head, running this same code, gets through.
  const serve::TunnelOrder tunnel_order{ledger_id, order.id, order.engine};
  auto identity = serve::tunnel_identity(tunnel_order, cvm.key.signing_key(), cvm.certificate,
                                         kTunnelCertificateLifetime);
  if (!identity) return fail(identity.error(), "the tunnel certificate");
  serve::TunnelServer tunnel(
      std::move(*identity),
      serve::TunnelTrust{*options.ca_certificate, std::move(*policies), tunnel_order, {order.cvm}},
      [&engine] { return engine.dial_fd(kRpcPort); }, log);
  auto port = tunnel.start(service.listen_host, service.listen_port);
  if (!port) return std::unexpected(port.error());
  const std::string endpoint =
      host_port(service.public_host.empty() ? service.listen_host : service.public_host, *port);
  if (auto joined = ledger::submit_signed(ledger, cvm.key, "services.join",
                                          {{"order", order.id}, {"endpoint", endpoint}});
      !joined) {
    return fail(joined.error(), "the ledger refused the worker's join");
  }
  log("the tunnel listens at " + endpoint + "; joined the order");

  auto last_heartbeat = Clock::now();
  Result<void> ended;
  for (;;) {
    std::this_thread::sleep_for(service.poll);
    if (options.stop && options.stop->load()) {
      ended = fail(std::string(kStoppedCode), "the loader is stopping");
      break;
    }
    if (auto failed = engine.failure()) {
      ended = fail("loader.engine", *failed);
      break;
    }
    if (auto current = ledger.order(order.id); current && *current) {
      if ((*current)->status != ledger::OrderStatus::Processing) {
        log("the order is " + std::string(ledger::to_string((*current)->status)) + "; the worker stops");
        break;
      }
    }
    if (Clock::now() - last_heartbeat >= service.heartbeat) {
      (void)ledger::submit_signed(ledger, cvm.key, "cvms.heartbeat", nlohmann::json::object());
      last_heartbeat = Clock::now();
    }
  }
  tunnel.stop();
  engine.stop();
  log("tunnels: " + std::to_string(tunnel.accepted()) + " accepted, " + std::to_string(tunnel.refused()) +
      " refused; " + std::to_string(tunnel.traffic().from_peer.load()) + " bytes from the head, " +
      std::to_string(tunnel.traffic().to_peer.load()) + " to it");
  return ended;
}

}  // namespace ward::loader
