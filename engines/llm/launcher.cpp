// ward-llm: the entrypoint of the LLM engine image (README.md). It finds the
// model among the order's inputs, sizes llama-server's threads to the CPUs the
// sandbox may use, and execs /llama-server on 127.0.0.1:8080, where the
// image's ward.serve.port label says the engine listens. Arguments given to
// ward-llm are passed to llama-server after its own, so an image's Cmd can
// add or override any llama-server option (a later one wins).
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>
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

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> extra(argv + 1, argv + argc);
  if (has_option(extra, {"-h", "--help"})) {
    std::printf(
        "usage: ward-llm [LLAMA-SERVER OPTION...]\n"
        "Runs /llama-server on the one *.gguf file under /ward/inputs (or -m PATH), on\n"
        "127.0.0.1:8080, with as many threads as this process may use CPUs.\n");
    return 0;
  }
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  const fs::path server = (ec ? fs::path("/") : self.parent_path()) / "llama-server";

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
  const std::string threads = std::to_string(usable_cpus());
  args.insert(args.end(), {"--host", "127.0.0.1", "--port", "8080", "--threads", threads, "--threads-batch",
                           threads, "--poll", "0", "--no-webui"});
  args.insert(args.end(), extra.begin(), extra.end());

  std::string line;
  for (const auto& a : args) line += (line.empty() ? "" : " ") + a;
  std::fprintf(stderr, "ward-llm: %s\n", line.c_str());
  std::fflush(stderr);

  std::vector<char*> cargs;
  for (auto& a : args) cargs.push_back(a.data());
  cargs.push_back(nullptr);
  ::execv(cargs[0], cargs.data());
  die("cannot run " + server.string() + ": " + std::strerror(errno));
}
