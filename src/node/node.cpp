#include "node/node.h"

#include <fcntl.h>
#include <spawn.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstring>
#include <sys/wait.h>
#include <thread>

#include "base/bytes.h"
#include "base/file.h"
#include "ca/certificate.h"
#include "ledger/client.h"
#include "ledger/evm/client.h"

extern char** environ;

namespace ward::node {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct CvmProcess {
  fs::path dir;
  pid_t pid = -1;
  bool registered = false;
  Clock::time_point restart_at{};
};

Result<pid_t> spawn(const std::vector<std::string>& argv, const fs::path& log) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (!log.empty()) {
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
  }
  // The node blocks SIGINT and SIGTERM to wait for them; a loader must get
  // them delivered, with their default meaning until it installs handlers.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGINT);
  sigaddset(&defaults, SIGTERM);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, args[0], &actions, &attr, args.data(), environ);
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return fail("node.spawn", "cannot start " + argv[0] + ": " + std::strerror(rc));
  return pid;
}

Result<void> ensure_account(ledger::LedgerClient& ledger, const keys::PartyKey& provider) {
  auto account = ledger.account(provider.signing_public_key());
  if (!account) return std::unexpected(account.error());
  if (*account) return {};
  auto receipt =
      ledger::submit_signed(ledger, provider, "accounts.register",
                            {{"recipient", provider.recipient().to_string()}, {"name", "provider"}});
  if (!receipt) return fail(receipt.error(), "registering the provider");
  return {};
}

Result<std::uint64_t> ensure_offer(ledger::LedgerClient& ledger, const NodeOptions& options) {
  if (options.offer) return *options.offer;
  auto offers = ledger.offers();
  if (!offers) return std::unexpected(offers.error());
  for (const auto& o : *offers) {
    if (o.owner == options.provider->signing_public_key() && o.kind == ledger::OfferKind::Tee && o.enabled) {
      return o.id;
    }
  }
  auto receipt = ledger::submit_signed(
      ledger, *options.provider, "offers.create",
      {{"kind", "tee"},
       {"name", options.platform == "sim" ? "simulated TEE (NOT SECURE)" : "confidential VM"},
       {"resource", options.platform == "sim" ? "sim" : "tdx/sev-snp via configfs-tsm"},
       {"price", {{"model", "per_hour"}, {"amount", options.price_per_hour}}}});
  if (!receipt) return fail(receipt.error(), "creating the tee offer");
  return receipt->index;
}

// Lists a CVM whose loader has written its certificate; false while it has not yet.
Result<bool> register_cvm(ledger::LedgerClient& ledger, const NodeOptions& options, std::uint64_t offer,
                          const fs::path& dir, const std::function<void(const std::string&)>& log) {
  std::error_code ec;
  if (!fs::exists(dir / "cvm.pem", ec)) return false;
  auto pem = read_file(dir / "cvm.pem", std::size_t{1} << 20);
  if (!pem) return std::unexpected(pem.error());
  auto cert = crypto::Certificate::from_pem(as_chars(*pem));
  if (!cert) return std::unexpected(cert.error());
  auto contents = ca::read_cvm_certificate(*cert);
  if (!contents) return std::unexpected(contents.error());
  const auto& id = contents->identity;
  auto listed = ledger.cvm(id.id);
  if (!listed) return std::unexpected(listed.error());
  if (*listed) return true;
  nlohmann::json args = {{"key", hex_encode(id.signing_key)},
                         {"recipient", id.recipient.to_string()},
                         {"certificate", cert->to_pem()},
                         {"offer", offer}};
  if (options.resources) args["resources"] = ledger::to_json(*options.resources);
  if (ledger.target().starts_with(ledger::evm::kScheme)) {
    // An EVM ledger lists the CVM with the address it sends from, which its
    // loader wrote with its key's binding (docs/evm.md).
    auto identity = read_file(dir / ledger::evm::kCvmIdentityFile, std::size_t{1} << 12);
    if (!identity) return std::unexpected(identity.error());
    auto parsed = nlohmann::json::parse(as_chars(*identity), nullptr, false);
    if (parsed.is_discarded())
      return fail("node.cvm", "the CVM's " + std::string(ledger::evm::kCvmIdentityFile) + " is not JSON");
    args[std::string(ledger::evm::kCvmIdentityField)] = std::move(parsed);
  }
  auto receipt = ledger::submit_signed(ledger, *options.provider, "cvms.register", std::move(args));
  if (!receipt) return fail(receipt.error(), "registering CVM " + id.id_hex());
  log("CVM " + id.id_hex() + " listed on the ledger (offer " + std::to_string(offer) + ")");
  return true;
}

void stop_all(std::vector<CvmProcess>& cvms) {
  for (auto& c : cvms) {
    if (c.pid > 0) ::kill(c.pid, SIGTERM);
  }
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  for (auto& c : cvms) {
    while (c.pid > 0) {
      int status = 0;
      const pid_t r = ::waitpid(c.pid, &status, WNOHANG);
      if (r == c.pid || r < 0) {
        c.pid = -1;
        break;
      }
      if (Clock::now() > deadline) {
        ::kill(c.pid, SIGKILL);
        ::waitpid(c.pid, &status, 0);
        c.pid = -1;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
}

}  // namespace

fs::path default_loader_path() {
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path("ward-loader") : self.parent_path() / "ward-loader";
}

Result<void> run_node(const NodeOptions& options, const std::atomic<bool>& stop) {
  const auto log = [&](const std::string& line) {
    if (options.log) options.log(line);
  };
  if (!options.provider) return fail("node.options", "no provider key");
  if (options.cvms == 0) return fail("node.options", "--cvms must be at least 1");
  std::error_code ec;
  if (!fs::exists(options.loader, ec)) {
    return fail("node.loader", "no ward-loader at " + options.loader.string());
  }
  auto ledger = ledger::open_client(options.ledger);
  if (!ledger) return std::unexpected(ledger.error());
  if (auto ok = ensure_account(**ledger, *options.provider); !ok) return ok;
  auto offer = ensure_offer(**ledger, options);
  if (!offer) return std::unexpected(offer.error());

  std::vector<CvmProcess> cvms(options.cvms);
  for (std::size_t i = 0; i < cvms.size(); ++i) cvms[i].dir = options.dir / ("cvm-" + std::to_string(i));
  Result<void> result;
  while (!stop.load()) {
    for (auto& c : cvms) {
      if (c.pid > 0) {
        int status = 0;
        if (::waitpid(c.pid, &status, WNOHANG) == c.pid) {
          log("the loader of " + c.dir.filename().string() + " (pid " + std::to_string(c.pid) + ") " +
              (WIFSIGNALED(status) ? "was killed by signal " + std::to_string(WTERMSIG(status))
                                   : "exited with status " + std::to_string(WEXITSTATUS(status))) +
              "; restarting it");
          c.pid = -1;
          c.restart_at = Clock::now() + std::chrono::milliseconds(500);
        }
      }
      if (c.pid <= 0 && Clock::now() >= c.restart_at) {
        std::vector<std::string> argv = {options.loader.string(), "--dir", c.dir.string(), "--ledger",
                                         options.ledger, "--store", options.store, "--ca", options.ca_url,
                                         "--platform", options.platform};
        if (!options.work_root.empty()) {
          argv.insert(argv.end(), {"--work", (options.work_root / c.dir.filename()).string()});
        }
        argv.insert(argv.end(), options.loader_args.begin(), options.loader_args.end());
        auto pid = spawn(argv, options.loader_log);
        if (!pid) {
          result = std::unexpected(pid.error());
          break;
        }
        c.pid = *pid;
      }
      if (!c.registered) {
        auto listed = register_cvm(**ledger, options, *offer, c.dir, log);
        if (!listed) log("CVM in " + c.dir.string() + " not listed yet: " + listed.error().message);
        c.registered = listed && *listed;
      }
    }
    if (!result) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  stop_all(cvms);
  return result;
}

}  // namespace ward::node
