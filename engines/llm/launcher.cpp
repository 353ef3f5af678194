// ward-llm: the entrypoint of the LLM engine image (README.md). It finds the
// model among the order's inputs, sizes llama-server's threads to the CPUs the
// sandbox may use, and execs /llama-server on 127.0.0.1:8080, where the
// image's ward.serve.port label says the engine listens. Arguments given to
// ward-llm are passed to llama-server after its own, so an image's Cmd can
// add or override any llama-server option (a later one wins).
//
// A split order (docs/serving.md, "Split inference") sets the environment:
// - WARD_ROLE=rpc-worker, WARD_RPC_PORT=P: this sandbox is a worker; exec
//   /rpc-server on 127.0.0.1:P instead (the Cmd's options are llama-server's
//   and are not passed);
// - WARD_RPC_SERVERS=127.0.0.1:P1,...: the head; wait until each port
//   accepts (the loader serves them with its tunnels as the sandbox starts),
//   then run llama-server with --rpc on them and every layer offloaded to
//   the RPC devices and this one (--n-gpu-layers 999, unless the Cmd says).
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <netinet/in.h>
#include <string>
#include <string_view>
#include <sys/socket.h>
#include <system_error>
#include <thread>
#include <vector>

namespace fs = std::filesystem;

namespace {

constexpr int kMaxDepth = 8;

[[noreturn]] void die(const std::string& message) {
  std::fprintf(stderr, "ward-llm: %s\n", message.c_str());
  std::exit(2);
}

bool is_gguf(const fs::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".gguf";
}

// Every regular *.gguf file under `dir`, at most kMaxDepth levels down,
// symlinks not followed.
void find_models(const fs::path& dir, int depth, std::vector<fs::path>& found) {
  std::error_code ec;
  std::vector<fs::path> entries;
  for (const auto& entry : fs::directory_iterator(dir, ec)) entries.push_back(entry.path());
  if (ec) die("cannot read " + dir.string() + ": " + ec.message());
  std::sort(entries.begin(), entries.end());
  for (const auto& path : entries) {
    const auto status = fs::symlink_status(path, ec);
    if (ec) continue;
    if (fs::is_regular_file(status) && is_gguf(path)) found.push_back(path);
    if (fs::is_directory(status) && depth < kMaxDepth) find_models(path, depth + 1, found);
  }
}

// The CPUs this process may run on: llama.cpp's own default (4 threads)
// would oversubscribe a 2-core sandbox, and generation then collapses.
// The threads do not spin waiting for work (--poll 0): the CVM's gateway
// relays every token on the same cores, and a spinning thread delays it.
int usable_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) return 1;
  return std::max(1, CPU_COUNT(&set));
}

bool has_option(const std::vector<std::string>& args, std::initializer_list<std::string_view> names) {
  for (const auto& a : args) {
    for (auto n : names) {
      if (a == n || (a.size() > n.size() && a.starts_with(n) && a[n.size()] == '=')) return true;
    }
  }
  return false;
}

[[noreturn]] void exec(std::vector<std::string> args) {
  std::string line;
  for (const auto& a : args) line += (line.empty() ? "" : " ") + a;
  std::fprintf(stderr, "ward-llm: %s\n", line.c_str());
  std::fflush(stderr);
  std::vector<char*> cargs;
  for (auto& a : args) cargs.push_back(a.data());
  cargs.push_back(nullptr);
  ::execv(cargs[0], cargs.data());
  die("cannot run " + args[0] + ": " + std::strerror(errno));
}

// A 127.0.0.1 port from "127.0.0.1:P" (what the loader sets), or -1.
int loopback_port(std::string_view endpoint) {
  constexpr std::string_view prefix = "127.0.0.1:";
  if (!endpoint.starts_with(prefix)) return -1;
  const std::string digits(endpoint.substr(prefix.size()));
  if (digits.empty() || digits.size() > 5 || digits.find_first_not_of("0123456789") != std::string::npos)
    return -1;
  const int port = std::stoi(digits);
  return port >= 1 && port <= 65535 ? port : -1;
}

bool accepts(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

// Waits until every endpoint of the comma-separated list accepts.
void wait_for_workers(const std::string& list) {
  std::vector<int> ports;
  for (std::size_t at = 0; at <= list.size();) {
    const std::size_t comma = std::min(list.find(',', at), list.size());
    const int port = loopback_port(std::string_view(list).substr(at, comma - at));
    if (port < 0) die("WARD_RPC_SERVERS is not a list of 127.0.0.1:PORT: " + list);
    ports.push_back(port);
    at = comma + 1;
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  for (const int port : ports) {
    while (!accepts(port)) {
      if (std::chrono::steady_clock::now() > deadline)
        die("the worker at 127.0.0.1:" + std::to_string(port) + " never accepted");
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> extra(argv + 1, argv + argc);
  if (has_option(extra, {"-h", "--help"})) {
    std::printf(
        "usage: ward-llm [LLAMA-SERVER OPTION...]\n"
        "Runs /llama-server on the one *.gguf file under /ward/inputs (or -m PATH), on\n"
        "127.0.0.1:8080, with as many threads as this process may use CPUs.\n"
        "WARD_ROLE=rpc-worker WARD_RPC_PORT=P: runs /rpc-server on 127.0.0.1:P instead.\n"
        "WARD_RPC_SERVERS=127.0.0.1:P1,...: waits for those ports, then splits the model\n"
        "over them (--rpc, --n-gpu-layers 999).\n");
    return 0;
  }
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  const fs::path dir = ec ? fs::path("/") : self.parent_path();
  const fs::path server = dir / "llama-server";
  const std::string threads = std::to_string(usable_cpus());

  const char* role = std::getenv("WARD_ROLE");
  if (role != nullptr && std::string_view(role) == "rpc-worker") {
    const char* port = std::getenv("WARD_RPC_PORT");
    if (port == nullptr || loopback_port(std::string("127.0.0.1:") + port) < 0)
      die("WARD_ROLE=rpc-worker needs WARD_RPC_PORT=PORT");
    exec({(dir / "rpc-server").string(), "--host", "127.0.0.1", "--port", port, "--threads", threads});
  }

  std::vector<std::string> args{server.string()};
  if (!has_option(extra, {"-m", "--model"})) {
    const fs::path inputs = "/ward/inputs";
    if (!fs::is_directory(inputs, ec)) die("no /ward/inputs: the model is an input of the order");
    std::vector<fs::path> models;
    find_models(inputs, 0, models);
    if (models.empty()) die("no *.gguf file among the inputs under /ward/inputs");
    if (models.size() > 1) {
      std::string names;
      for (const auto& m : models) names += (names.empty() ? "" : ", ") + m.string();
      die(std::to_string(models.size()) + " *.gguf files among the inputs (" + names + "); name one with -m");
    }
    args.insert(args.end(), {"--model", models[0].string()});
    if (!has_option(extra, {"-a", "--alias"}))
      args.insert(args.end(), {"--alias", models[0].stem().string()});
  }
  args.insert(args.end(), {"--host", "127.0.0.1", "--port", "8080", "--threads", threads, "--threads-batch",
                           threads, "--poll", "0", "--no-webui"});
  if (const char* servers = std::getenv("WARD_RPC_SERVERS"); servers != nullptr && *servers != '\0') {
    wait_for_workers(servers);
    args.insert(args.end(), {"--rpc", servers});
    if (!has_option(extra, {"-ngl", "--gpu-layers", "--n-gpu-layers"}))
      args.insert(args.end(), {"--n-gpu-layers", "999"});
  }
  args.insert(args.end(), extra.begin(), extra.end());
  exec(std::move(args));
}
