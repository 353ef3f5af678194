#include "evm/anvil.h"

#include <signal.h>
#include <spawn.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <chrono>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>

#include "evm/rpc.h"

extern char** environ;

namespace ward::evm {
namespace {

constexpr std::string_view kNpmPath = ".deps/npm/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil";

// A port nobody listens on now (anvil binds it a moment later; start() tries
// another if it lost the race).
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

}  // namespace

Result<std::unique_ptr<Anvil>> Anvil::start(const std::filesystem::path& binary,
                                            const std::vector<std::string>& extra) {
  for (int attempt = 0; attempt < 5; ++attempt) {
    std::unique_ptr<Anvil> a(new Anvil());
    a->port_ = free_port();
    a->url_ = "http://127.0.0.1:" + std::to_string(a->port_);
    std::vector<std::string> args = {binary.string(),          "--host",  "127.0.0.1", "--port",
                                     std::to_string(a->port_), "--silent"};
    args.insert(args.end(), extra.begin(), extra.end());
    std::vector<char*> argv;
    for (auto& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    if (::posix_spawn(&a->pid_, args[0].c_str(), nullptr, nullptr, argv.data(), environ) != 0) {
      a->pid_ = -1;
      return fail("evm.anvil", "cannot run " + binary.string() + " (scripts/setup.sh installs it)");
    }
    auto rpc = RpcClient::open(a->url_);
    if (!rpc) return std::unexpected(rpc.error());
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(a->pid_, &status, WNOHANG) == a->pid_) {
        a->pid_ = -1;  // most likely the port was taken meanwhile: try another
        break;
      }
      if ((*rpc)->chain_id()) return a;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  return fail("evm.anvil", binary.string() + " did not start answering on a loopback port");
}

void Anvil::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

Result<void> Anvil::fund(const Address& who) const {
  auto rpc = RpcClient::open(url_);
  if (!rpc) return std::unexpected(rpc.error());
  auto set = (*rpc)->request("anvil_setBalance",
                             nlohmann::json::array({data_text(who.bytes), "0x3635c9adc5dea00000"}));
  if (!set) return std::unexpected(set.error());
  return {};
}

std::optional<std::filesystem::path> find_anvil(const std::filesystem::path& self_dir) {
  std::error_code ec;
  for (const auto& candidate : {std::filesystem::path(kNpmPath), self_dir / "../../.." / kNpmPath}) {
    if (std::filesystem::exists(candidate, ec)) return std::filesystem::absolute(candidate, ec);
  }
  return std::nullopt;
}

}  // namespace ward::evm
