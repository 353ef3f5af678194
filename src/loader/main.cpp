// ward-loader: the trusted loader that runs inside each CVM (DESIGN.md steps
// 2 and 7-10). Started by `ward node run`, one per CVM.
#include <atomic>
#include <csignal>
#include <exception>
#include <iostream>

#include <CLI/CLI.hpp>

#include "base/decimal.h"
#include "loader/loader.h"

namespace {

std::atomic<bool> g_stop{false};

extern "C" void on_signal(int) {
  g_stop.store(true);
}

int run(int argc, char** argv) {
  CLI::App app(
      "ward-loader: the trusted loader inside a CVM. It makes the CVM's keys, gets them certified over "
      "hardware evidence, and runs the orders placed on the CVM: fetch, verify, decrypt, run sandboxed, "
      "encrypt, report.",
      "ward-loader");
  ward::loader::LoaderOptions options;
  std::uint64_t time_limit_s = 600;
  std::uint64_t memory_limit_mb = 4096;
  std::uint64_t poll_ms = 200;
  std::string work;
  std::string serve_listen = "127.0.0.1:0";
  std::uint64_t cert_lifetime_s = 3600;
  std::uint64_t usage_interval_ms = 10000;
  std::uint64_t renew_before_s = 0;
  app.add_option("--dir", options.cvm.dir, "The CVM's private directory (its key and certificate)")
      ->required();
  app.add_option("--ledger", options.ledger, "The ledger (a `ward ledger serve` URL)")->required();
  app.add_option("--store", options.pipeline.store, "Where encrypted outputs are uploaded")->required();
  app.add_option("--ca", options.cvm.ca_url, "The certification center's URL")->required();
  app.add_option("--platform", options.cvm.platform,
                 "sim (Ward's NOT SECURE simulated TEE) or tsm (configfs-tsm)")
      ->required()
      ->check(CLI::IsMember({"sim", "tsm"}));
  app.add_option("--work", work, "tmpfs directory for decrypted orders (default /dev/shm/ward-cvm-<id>)");
  app.add_option(
         "--kms", options.pipeline.kms,
         "A key broker (`ward kms serve` URL) that re-wraps grants to it for this CVM; repeat for replicas")
      ->option_text("URL");
  app.add_option("--time-limit", time_limit_s, "An engine's wall-clock limit, seconds (default 600)");
  app.add_option("--memory-limit", memory_limit_mb, "An engine's memory limit, MiB (default 4096)");
  app.add_option("--poll-ms", poll_ms, "How often to look for new orders (default 200)");
  std::uint64_t heartbeat_ms = 30000;
  app.add_option("--heartbeat-ms", heartbeat_ms, "How often the CVM sends a heartbeat (default 30000)")
      ->check(CLI::Range(std::uint64_t{100}, std::uint64_t{3600000}));
  app.add_flag("--exit-when-idle", options.exit_when_idle, "Stop once no order is waiting");
  app.add_option(
      "--serve-listen", serve_listen,
      "HOST:PORT where a service order's TLS gateway listens; port 0 picks one (default 127.0.0.1:0)");
  app.add_option(
      "--serve-host", options.pipeline.service.public_host,
      "The host clients reach the gateway by, in the published endpoint (default: the listen host)");
  app.add_option("--cert-lifetime", cert_lifetime_s,
                 "A service certificate's lifetime, seconds; renewed at half (default 3600)");
  app.add_option("--usage-interval-ms", usage_interval_ms,
                 "How often a service reports its subscribers' usage to the ledger, which also charges "
                 "per-hour offers, milliseconds (default 10000)");
  app.add_option(
      "--renew-before", renew_before_s,
      "Renew the CVM certificate once this many seconds or fewer are left of it (default: the last "
      "third of its lifetime)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  const auto colon = serve_listen.rfind(':');
  auto serve_port = colon == std::string::npos
                        ? ward::Result<std::uint64_t>(ward::fail("number.format", "no port"))
                        : ward::parse_decimal(serve_listen.substr(colon + 1), 65535);
  if (!serve_port || colon == 0) {
    std::cerr << "ward-loader: error: --serve-listen must be HOST:PORT with a port of 0 to 65535"
              << std::endl;
    return 2;
  }
  std::string serve_host = serve_listen.substr(0, colon);
  if (serve_host.size() > 2 && serve_host.front() == '[' && serve_host.back() == ']')
    serve_host = serve_host.substr(1, serve_host.size() - 2);
  options.pipeline.service.listen_host = serve_host;
  options.pipeline.service.listen_port = static_cast<int>(*serve_port);
  if (cert_lifetime_s < 2 || cert_lifetime_s > 30 * 24 * 3600) {
    std::cerr << "ward-loader: error: --cert-lifetime must be 2 to 2592000 seconds" << std::endl;
    return 2;
  }
  options.pipeline.service.certificate_lifetime = std::chrono::seconds(cert_lifetime_s);
  if (usage_interval_ms < 100 || usage_interval_ms > 3600 * 1000) {
    std::cerr << "ward-loader: error: --usage-interval-ms must be 100 to 3600000" << std::endl;
    return 2;
  }
  options.pipeline.service.usage_interval = std::chrono::milliseconds(usage_interval_ms);
  if (app.count("--renew-before") > 0) {
    if (renew_before_s < 1 || renew_before_s > 366 * 24 * 3600) {
      std::cerr << "ward-loader: error: --renew-before must be 1 to 31622400 seconds" << std::endl;
      return 2;
    }
    options.renewal.before = std::chrono::seconds(renew_before_s);
  }
  options.pipeline.work_root = work;
  options.pipeline.limits.wall_time = std::chrono::seconds(time_limit_s);
  options.pipeline.limits.memory_bytes = memory_limit_mb << 20;
  options.poll = std::chrono::milliseconds(poll_ms);
  options.heartbeat = std::chrono::milliseconds(heartbeat_ms);

  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);
  auto result = ward::loader::run_loader(options, g_stop);
  if (!result) {
    std::cerr << "ward-loader: error: " << result.error().message << std::endl;
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "ward-loader: error: internal error: " << e.what() << std::endl;
    return 1;
  }
}
