#include "engine/sandbox.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <string_view>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <thread>
#include <utility>

#include <nlohmann/json.hpp>

#include "base/bytes.h"
#include "base/file.h"
#include "base/unique_fd.h"
#include "engine/output.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

namespace ward::engine {
namespace {

using std::chrono::steady_clock;

constexpr const char* kDefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
constexpr std::size_t kTailBytes = 4096;
constexpr std::size_t kMaxStatusBytes = 65536;
constexpr auto kGrace = std::chrono::seconds(5);
// bwrap's own processes in the sandbox's process count: its monitor and pid 1.
constexpr std::uint64_t kBwrapProcesses = 2;
// Descriptor numbers in bwrap's process; everything we pass starts above.
constexpr int kStatusFd = 3;
constexpr int kArgsFd = 4;
constexpr int kFirstFreeFd = 5;
constexpr int kHighFd = 10;
constexpr std::string_view kReserved[] = {"proc", "dev", "tmp", "ward"};
// The output tmpfs's inode limit: one per page of the cap, within these.
constexpr std::uint64_t kMinOutputInodes = 1024;
constexpr std::uint64_t kMaxOutputInodes = std::uint64_t{1} << 22;
// Larger caps are not a limit anyway; this keeps the page arithmetic exact.
constexpr std::uint64_t kMaxOutputCap = std::uint64_t{1} << 62;

std::string errno_text(int e = errno) {
  return std::strerror(e);
}


// Moves a descriptor above the numbers bwrap's process uses, close-on-exec.
UniqueFd high(int fd) {
  if (fd < 0) return UniqueFd();
  UniqueFd moved(::fcntl(fd, F_DUPFD_CLOEXEC, kHighFd));
  ::close(fd);
  return moved;
}

std::optional<std::string> read_text(const std::filesystem::path& path) {
  auto data = read_file(path, 1 << 20);
  if (!data) return std::nullopt;
  return std::string(as_chars(*data));
}

bool write_text(const std::filesystem::path& path, std::string_view text) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  return fd && ::write(fd.get(), text.data(), text.size()) == static_cast<ssize_t>(text.size());
}

// "key N" from a cgroup file such as memory.events.
std::uint64_t field(const std::string& text, std::string_view key) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t end = std::min(text.find('\n', pos), text.size());
    const std::string_view line(text.data() + pos, end - pos);
    if (line.starts_with(key) && line.size() > key.size() && line[key.size()] == ' ')
      return std::strtoull(std::string(line.substr(key.size() + 1)).c_str(), nullptr, 10);
    pos = end + 1;
  }
  return 0;
}

// A cgroup for one run, made under the caller's own where that is writable
// (cgroup v2, or v1's memory and pids hierarchies). It limits memory and
// processes for the whole sandbox, counts OOM kills, and kills what is left.
class RunCgroup {
 public:
  static std::unique_ptr<RunCgroup> create(const SandboxLimits& limits) {
    if (const char* off = std::getenv("WARD_SANDBOX_NO_CGROUP"); off && *off && std::string_view(off) != "0")
      return nullptr;
    auto self = read_text("/proc/self/cgroup");
    if (!self) return nullptr;
    static std::atomic<unsigned> counter{0};
    const std::string name = "ward-sandbox-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
    std::unique_ptr<RunCgroup> cg(new RunCgroup());
    const std::string memory = std::to_string(limits.memory_bytes);
    const std::string pids = std::to_string(limits.max_processes + kBwrapProcesses);

    // The path of this process's cgroup for `controller` ("" for v2).
    const auto own_path = [&self](std::string_view controller) -> std::optional<std::string> {
      std::size_t pos = 0;
      while (pos < self->size()) {
        const std::size_t end = std::min(self->find('\n', pos), self->size());
        const std::string line = self->substr(pos, end - pos);
        pos = end + 1;
        const std::size_t a = line.find(':');
        const std::size_t b = a == std::string::npos ? a : line.find(':', a + 1);
        if (b == std::string::npos) continue;
        const std::string controllers = "," + line.substr(a + 1, b - a - 1) + ",";
        if (controller.empty() ? controllers == ",,"
                               : controllers.find("," + std::string(controller) + ",") != std::string::npos)
          return line.substr(b + 1);
      }
      return std::nullopt;
    };
    const auto make = [&cg,
                       &name](const std::filesystem::path& parent) -> std::optional<std::filesystem::path> {
      const std::filesystem::path dir = parent / name;
      if (::mkdir(dir.c_str(), 0755) != 0) return std::nullopt;
      cg->dirs_.push_back(dir);
      return dir;
    };

    struct stat st;
    if (::stat("/sys/fs/cgroup/cgroup.controllers", &st) == 0) {
      auto path = own_path("");
      if (!path) return nullptr;
      auto dir = make(std::filesystem::path("/sys/fs/cgroup") / path->substr(path->starts_with('/') ? 1 : 0));
      if (!dir) return nullptr;
      cg->v2_ = true;
      cg->memory_dir_ = *dir;
      cg->memory_ = write_text(*dir / "memory.max", memory);
      if (cg->memory_) write_text(*dir / "memory.swap.max", "0");
      cg->pids_ = write_text(*dir / "pids.max", pids);
      cg->add_procs(*dir);
    } else {
      for (std::string_view controller : {"memory", "pids"}) {
        auto path = own_path(controller);
        if (!path) continue;
        auto dir = make(std::filesystem::path("/sys/fs/cgroup") / controller /
                        path->substr(path->starts_with('/') ? 1 : 0));
        if (!dir) continue;
        if (controller == "memory") {
          cg->memory_ = write_text(*dir / "memory.limit_in_bytes", memory);
          if (cg->memory_) write_text(*dir / "memory.memsw.limit_in_bytes", memory);  // no swapping past it
          cg->memory_dir_ = *dir;
        } else {
          cg->pids_ = write_text(*dir / "pids.max", pids);
        }
        cg->add_procs(*dir);
      }
    }
    if (!cg->memory_ && !cg->pids_) return nullptr;
    return cg;
  }

  RunCgroup(const RunCgroup&) = delete;
  RunCgroup& operator=(const RunCgroup&) = delete;
  ~RunCgroup() {
    procs_.clear();
    for (int i = 0; i < 200 && !empty(); ++i) {
      kill_all();
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    for (auto it = dirs_.rbegin(); it != dirs_.rend(); ++it) ::rmdir(it->c_str());
  }

  // Descriptors of cgroup.procs files: writing "0" moves the writer in.
  std::vector<int> procs_fds() const {
    std::vector<int> out;
    for (const auto& fd : procs_) out.push_back(fd.get());
    return out;
  }
  bool limits_memory() const { return memory_; }
  bool limits_processes() const { return pids_; }

  std::uint64_t oom_kills() const {
    if (!memory_) return 0;
    auto text = read_text(memory_dir_ / (v2_ ? "memory.events" : "memory.oom_control"));
    return text ? field(*text, "oom_kill") : 0;
  }

  void kill_all() const {
    for (const auto& dir : dirs_) {
      if (v2_ && write_text(dir / "cgroup.kill", "1")) continue;
      auto procs = read_text(dir / "cgroup.procs");
      if (!procs) continue;
      std::size_t pos = 0;
      while (pos < procs->size()) {
        const std::size_t end = std::min(procs->find('\n', pos), procs->size());
        const long pid = std::strtol(procs->substr(pos, end - pos).c_str(), nullptr, 10);
        if (pid > 0) ::kill(static_cast<pid_t>(pid), SIGKILL);
        pos = end + 1;
      }
    }
  }

 private:
  RunCgroup() = default;

  void add_procs(const std::filesystem::path& dir) {
    UniqueFd fd = high(::open((dir / "cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC));
    if (fd) procs_.push_back(std::move(fd));
  }

  bool empty() const {
    for (const auto& dir : dirs_) {
      auto procs = read_text(dir / "cgroup.procs");
      if (procs && procs->find_first_not_of(" \n") != std::string::npos) return false;
    }
    return true;
  }

  std::vector<std::filesystem::path> dirs_;
  std::vector<UniqueFd> procs_;
  std::filesystem::path memory_dir_;
  bool v2_ = false;
  bool memory_ = false;
  bool pids_ = false;
};

Result<std::string> find_bwrap() {
  if (const char* env = std::getenv("WARD_BWRAP"); env && *env) {
    if (::access(env, X_OK) == 0) return std::string(env);
    return fail("engine.sandbox", std::string("bubblewrap is not at ") + env +
                                      " ($WARD_BWRAP); Ward never runs an engine unsandboxed");
  }
  const char* path_env = std::getenv("PATH");
  const std::string path = path_env && *path_env ? path_env : "/usr/bin:/bin";
  std::size_t pos = 0;
  while (pos <= path.size()) {
    const std::size_t end = std::min(path.find(':', pos), path.size());
    const std::string dir = path.substr(pos, end - pos);
    if (!dir.empty()) {
      const std::string candidate = dir + "/bwrap";
      if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    }
    pos = end + 1;
  }
  return fail(
      "engine.sandbox",
      "bubblewrap (bwrap) is not installed or not on PATH (Debian package bubblewrap); Ward never runs an "
      "engine unsandboxed");
}

Result<void> require_dir(const std::filesystem::path& path, const std::string& what) {
  struct stat st;
  if (path.empty()) return fail("engine.sandbox", "no " + what + " directory given");
  if (::stat(path.c_str(), &st) != 0)
    return fail("engine.sandbox", "cannot use " + path.string() + " as the " + what + ": " + errno_text());
  if (!S_ISDIR(st.st_mode))
    return fail("engine.sandbox", path.string() + " (the " + what + ") is not a directory");
  return {};
}

// The output must start empty: a failed run then leaves it as it was, and
// nothing of the caller's is hidden under the engine's tmpfs.
Result<void> require_empty(const std::filesystem::path& path) {
  DIR* d = ::opendir(path.c_str());
  if (!d) return fail("engine.sandbox", "cannot list the output " + path.string() + ": " + errno_text());
  bool empty = true;
  while (const dirent* e = ::readdir(d)) {
    const std::string_view n = e->d_name;
    if (n != "." && n != "..") empty = false;
  }
  ::closedir(d);
  if (!empty) return fail("engine.sandbox", "the output directory " + path.string() + " is not empty");
  return {};
}

// The tmpfs the engine writes its output into: at most the cap (rounded up
// to a page) and one page more, so that a full tmpfs always means a write
// was refused; one inode per page of the cap. Owned by the sandbox's uid.
std::string output_tmpfs_options(std::uint64_t cap, unsigned uid, unsigned gid) {
  const auto page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  cap = std::min(cap, kMaxOutputCap);
  const std::uint64_t size = (cap + page - 1) / page * page + page;
  const std::uint64_t inodes = std::clamp(cap / page, kMinOutputInodes, kMaxOutputInodes);
  return "size=" + std::to_string(size) + ",nr_inodes=" + std::to_string(inodes) +
         ",mode=0700,uid=" + std::to_string(uid) + ",gid=" + std::to_string(gid);
}

Result<std::vector<std::string>> bwrap_args(const std::string& bwrap, const SandboxSpec& spec) {
  std::vector<std::string> a = {bwrap,
                                "--unshare-all",
                                "--unshare-user",
                                "--disable-userns",
                                "--die-with-parent",
                                "--new-session",
                                "--cap-drop",
                                "ALL",
                                "--hostname",
                                "ward"};
  // / is bwrap's tmpfs, read-only at the end; the rootfs's top-level entries
  // are bound into it, so no mount point is ever created inside the image
  // and none is resolved through the image's symlinks.
  const std::filesystem::path rootfs = std::filesystem::absolute(spec.rootfs);
  DIR* d = ::opendir(rootfs.c_str());
  if (!d) return fail("engine.sandbox", "cannot list the rootfs " + rootfs.string() + ": " + errno_text());
  std::vector<std::string> names;
  while (const dirent* e = ::readdir(d)) {
    const std::string_view n = e->d_name;
    if (n != "." && n != ".." && std::ranges::find(kReserved, n) == std::end(kReserved))
      names.emplace_back(n);
  }
  ::closedir(d);
  std::ranges::sort(names);
  for (const auto& name : names) {
    const std::filesystem::path source = rootfs / name;
    struct stat st;
    if (::lstat(source.c_str(), &st) != 0) continue;
    if (S_ISDIR(st.st_mode) || S_ISREG(st.st_mode)) {
      a.insert(a.end(), {"--ro-bind", source.string(), "/" + name});
    } else if (S_ISLNK(st.st_mode)) {
      std::string target(static_cast<std::size_t>(st.st_size) + 1, '\0');
      const ssize_t n = ::readlink(source.c_str(), target.data(), target.size());
      if (n < 0 || static_cast<std::size_t>(n) >= target.size()) continue;
      target.resize(static_cast<std::size_t>(n));
      a.insert(a.end(), {"--symlink", target, "/" + name});
    }
  }
  a.insert(a.end(), {"--proc", "/proc", "--dev", "/dev", "--size", std::to_string(spec.limits.memory_bytes),
                     "--tmpfs", "/tmp"});
  for (std::size_t i = 0; i < spec.inputs.size(); ++i)
    a.insert(a.end(), {"--ro-bind", std::filesystem::absolute(spec.inputs[i]).string(),
                       "/ward/inputs/" + std::to_string(i)});
  a.insert(a.end(), {"--bind", std::filesystem::absolute(spec.output).string(), "/ward/output"});
  a.insert(a.end(), {"--perms", "0444", "--ro-bind-data", std::to_string(kArgsFd), "/ward/args.json"});
  a.insert(a.end(), {"--remount-ro", "/", "--clearenv"});
  bool has_path = false;
  for (const auto& kv : spec.env) {
    const std::size_t eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) continue;
    has_path = has_path || kv.substr(0, eq) == "PATH";
    a.insert(a.end(), {"--setenv", kv.substr(0, eq), kv.substr(eq + 1)});
  }
  if (!has_path) a.insert(a.end(), {"--setenv", "PATH", kDefaultPath});
  a.insert(a.end(), {"--chdir", spec.working_dir.empty() ? "/" : spec.working_dir});
  a.insert(a.end(), {"--json-status-fd", std::to_string(kStatusFd), "--"});
  a.insert(a.end(), spec.argv.begin(), spec.argv.end());
  return a;
}

// What the child reports through the close-on-exec pipe when it cannot
// reach exec; a successful exec closes the pipe with nothing written.
enum class Stage : int { Cgroup = 1, Namespace, OutputMount, Limits, DropUid, Access, Exec };
struct ChildFailure {
  Stage stage;
  int err;
  int index;
};

struct ChildPlan {
  const char* bwrap = nullptr;
  char** argv = nullptr;
  char** envp = nullptr;
  int devnull = -1, out = -1, status = -1, args = -1, report = -1;
  std::vector<int> cgroup_fds;
  // The output's tmpfs: mounted over `output` in the child's own mount
  // namespace, its root sent back through `channel`. Without root, a user
  // namespace mapping only the caller's own ids grants the mount.
  const char* output = nullptr;
  const char* tmpfs_options = nullptr;
  bool userns = false;
  const char* uid_map = nullptr;
  const char* gid_map = nullptr;
  int channel = -1;
  std::vector<std::pair<rlimit, int>> rlimits;  // value, resource
  bool drop = false;
  std::vector<std::pair<const char*, int>> access;  // path, mode
  pid_t parent = 0;
};

bool write_proc(const char* path, const char* text) {
  const int fd = ::open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const auto size = static_cast<ssize_t>(std::strlen(text));
  const bool ok = ::write(fd, text, static_cast<std::size_t>(size)) == size;
  return ::close(fd) == 0 && ok;
}

bool send_fd(int channel, int fd) {
  char byte = 0;
  iovec iov{&byte, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
  return ::sendmsg(channel, &msg, MSG_NOSIGNAL) == 1;
}

// The descriptor the child sent; none when it closed the channel first.
UniqueFd receive_fd(int channel) {
  char byte = 0;
  iovec iov{&byte, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t got;
  do {
    got = ::recvmsg(channel, &msg, MSG_CMSG_CLOEXEC);
  } while (got < 0 && errno == EINTR);
  const cmsghdr* c = got == 1 ? CMSG_FIRSTHDR(&msg) : nullptr;
  if (!c || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN(sizeof(int)))
    return UniqueFd();
  int fd;
  std::memcpy(&fd, CMSG_DATA(c), sizeof fd);
  return UniqueFd(fd);
}

// After fork: only async-signal-safe calls, raw syscalls for the ids (only
// this thread exists in the child).
[[noreturn]] void run_child(const ChildPlan& p) {
  const auto die = [&p](Stage stage, int index) {
    const ChildFailure f{stage, errno, index};
    (void)!::write(p.report, &f, sizeof f);
    ::_exit(127);
  };
  for (std::size_t i = 0; i < p.cgroup_fds.size(); ++i)
    if (::write(p.cgroup_fds[i], "0", 1) != 1) die(Stage::Cgroup, static_cast<int>(i));
  // Mounts made here stay in this process's namespace: bwrap's namespaces
  // inherit them, the host never sees them, and they vanish with the sandbox
  // (but for the descriptor sent to the parent, which keeps the tmpfs alive).
  if (::unshare(CLONE_NEWNS | (p.userns ? CLONE_NEWUSER : 0)) != 0) die(Stage::Namespace, 0);
  if (p.userns &&
      (!write_proc("/proc/self/setgroups", "deny") || !write_proc("/proc/self/uid_map", p.uid_map) ||
       !write_proc("/proc/self/gid_map", p.gid_map)))
    die(Stage::Namespace, 1);
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) die(Stage::Namespace, 2);
  if (::mount("ward-output", p.output, "tmpfs", MS_NOSUID | MS_NODEV, p.tmpfs_options) != 0)
    die(Stage::OutputMount, 0);
  const int output_root = ::open(p.output, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (output_root < 0 || !send_fd(p.channel, output_root)) die(Stage::OutputMount, 1);
  ::close(output_root);
  for (const auto& [value, resource] : p.rlimits)
    if (::setrlimit(static_cast<__rlimit_resource>(resource), &value) != 0) die(Stage::Limits, resource);
  if (p.drop) {
    if (::syscall(SYS_setgroups, 0, nullptr) != 0 ||
        ::syscall(SYS_setresgid, kSandboxUid, kSandboxUid, kSandboxUid) != 0 ||
        ::syscall(SYS_setresuid, kSandboxUid, kSandboxUid, kSandboxUid) != 0)
      die(Stage::DropUid, 0);
  }
  // Dropping ids clears the parent-death signal; set it now, then make sure
  // the parent did not die before it took effect.
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || ::getppid() != p.parent) ::_exit(127);
  for (std::size_t i = 0; i < p.access.size(); ++i)
    if (::access(p.access[i].first, p.access[i].second) != 0) die(Stage::Access, static_cast<int>(i));
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig)
    if (sig != SIGKILL && sig != SIGSTOP) ::sigaction(sig, &dfl, nullptr);
  sigset_t none;
  ::sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  if (::dup2(p.devnull, 0) < 0 || ::dup2(p.out, 1) < 0 || ::dup2(p.out, 2) < 0 ||
      ::dup2(p.status, kStatusFd) < 0 || ::dup2(p.args, kArgsFd) < 0)
    die(Stage::Exec, -1);
  ::syscall(SYS_close_range, kFirstFreeFd, ~0U, CLOSE_RANGE_CLOEXEC);
  ::execve(p.bwrap, p.argv, p.envp);
  die(Stage::Exec, -1);
  ::_exit(127);
}

// bwrap's last "bwrap: ..." line in the output's tail.
std::string bwrap_message(const std::string& tail) {
  std::size_t pos = tail.rfind("bwrap: ");
  while (pos != std::string::npos && pos != 0 && tail[pos - 1] != '\n') pos = tail.rfind("bwrap: ", pos - 1);
  if (pos == std::string::npos) return {};
  std::string line = tail.substr(pos, tail.find('\n', pos) - pos);
  return line;
}

// The "child-pid" bwrap reports first, once its line is complete.
std::optional<pid_t> child_pid(const std::string& status) {
  const std::size_t end = status.find('\n');
  if (end == std::string::npos) return std::nullopt;
  const auto doc = nlohmann::json::parse(status.substr(0, end), nullptr, false);
  if (!doc.is_object() || !doc.contains("child-pid") || !doc["child-pid"].is_number_integer())
    return std::nullopt;
  const auto pid = doc["child-pid"].get<long long>();
  if (pid <= 0 || pid > std::numeric_limits<pid_t>::max()) return std::nullopt;
  return static_cast<pid_t>(pid);
}

std::optional<int> exit_code(const std::string& status) {
  std::optional<int> code;
  std::size_t pos = 0;
  while (pos < status.size()) {
    const std::size_t end = std::min(status.find('\n', pos), status.size());
    const auto doc = nlohmann::json::parse(status.substr(pos, end - pos), nullptr, false);
    pos = end + 1;
    if (doc.is_object() && doc.contains("exit-code") && doc["exit-code"].is_number_integer())
      code = doc["exit-code"].get<int>();
  }
  return code;
}

std::string bytes_text(std::uint64_t n) {
  constexpr std::pair<std::uint64_t, const char*> kUnits[] = {
      {1ull << 30, " GiB"}, {1ull << 20, " MiB"}, {1ull << 10, " KiB"}};
  for (const auto& [unit, name] : kUnits)
    if (n >= unit && n % unit == 0) return std::to_string(n / unit) + name;
  return std::to_string(n) + " bytes";
}

}  // namespace

std::string RunResult::describe() const {
  switch (outcome) {
    case Outcome::Exited:
      return "exited with status " + std::to_string(code);
    case Outcome::Signaled: {
      const char* name = ::sigabbrev_np(code);
      return "killed by signal " + std::to_string(code) + (name ? std::string(" (SIG") + name + ")" : "");
    }
    case Outcome::TimedOut:
      return "killed: over its " +
             (limit % 1000 == 0 ? std::to_string(limit / 1000) + " s" : std::to_string(limit) + " ms") +
             " time limit";
    case Outcome::MemoryExceeded:
      return "killed: over its " + bytes_text(limit) + " memory limit";
    case Outcome::OutputExceeded: {
      const std::string unit = bytes_text(limit);
      return "failed: its output exceeded its limit of " + std::to_string(limit) + " bytes" +
             (unit.ends_with(" bytes") ? "" : " (" + unit + ")");
    }
    case Outcome::OutputRefused:
      return "failed: its output holds " + refused + "; only regular files and directories are delivered";
    case Outcome::Stopped:
      return "stopped";
  }
  return "unknown outcome";
}

Result<RunResult> run_sandboxed(const SandboxSpec& spec) {
  if (spec.argv.empty()) return fail("engine.sandbox", "nothing to run: the image has no entrypoint or cmd");
  auto bwrap = find_bwrap();
  if (!bwrap) return std::unexpected(bwrap.error());
  if (auto ok = require_dir(spec.rootfs, "rootfs"); !ok) return std::unexpected(ok.error());
  if (auto ok = require_dir(spec.output, "output"); !ok) return std::unexpected(ok.error());
  if (auto ok = require_empty(spec.output); !ok) return std::unexpected(ok.error());
  for (const auto& input : spec.inputs)
    if (auto ok = require_dir(input, "input"); !ok) return std::unexpected(ok.error());
  const bool drop = ::geteuid() == 0;
  auto args = bwrap_args(*bwrap, spec);
  if (!args) return std::unexpected(args.error());

  UniqueFd log;
  if (!spec.log.empty()) {
    log = UniqueFd(::open(spec.log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!log)
      return fail("engine.sandbox", "cannot create the log " + spec.log.string() + ": " + errno_text());
  }
  int out_pipe[2], status_pipe[2], report_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) return fail("engine.sandbox", "pipe: " + errno_text());
  UniqueFd out_r = high(out_pipe[0]), out_w = high(out_pipe[1]);
  if (::pipe2(status_pipe, O_CLOEXEC) != 0) return fail("engine.sandbox", "pipe: " + errno_text());
  UniqueFd status_r = high(status_pipe[0]), status_w = high(status_pipe[1]);
  if (::pipe2(report_pipe, O_CLOEXEC) != 0) return fail("engine.sandbox", "pipe: " + errno_text());
  UniqueFd report_r = high(report_pipe[0]), report_w = high(report_pipe[1]);
  int channel[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, channel) != 0)
    return fail("engine.sandbox", "socketpair: " + errno_text());
  UniqueFd channel_r = high(channel[0]), channel_w = high(channel[1]);
  UniqueFd devnull = high(::open("/dev/null", O_RDWR | O_CLOEXEC));
  UniqueFd args_fd = high(::memfd_create("ward-args.json", MFD_CLOEXEC));
  if (!out_r || !out_w || !status_r || !status_w || !report_r || !report_w || !channel_r || !channel_w ||
      !devnull || !args_fd)
    return fail("engine.sandbox", "cannot set up the sandbox's descriptors: " + errno_text());
  const std::string args_json = spec.args_json.empty() ? "{}" : spec.args_json;
  if (auto ok = write_all(args_fd.get(), as_bytes(args_json)); !ok) return fail(ok.error(), "args.json");
  if (::lseek(args_fd.get(), 0, SEEK_SET) != 0) return fail("engine.sandbox", "args.json: " + errno_text());

  auto cgroup = RunCgroup::create(spec.limits);
  ChildPlan plan;
  std::vector<char*> argv;
  for (auto& s : *args) argv.push_back(s.data());
  argv.push_back(nullptr);
  char* envp[] = {nullptr};
  plan.bwrap = args->front().c_str();
  plan.argv = argv.data();
  plan.envp = envp;
  plan.devnull = devnull.get();
  plan.out = out_w.get();
  plan.status = status_w.get();
  plan.args = args_fd.get();
  plan.report = report_w.get();
  if (cgroup) plan.cgroup_fds = cgroup->procs_fds();
  plan.rlimits.push_back({rlimit{0, 0}, RLIMIT_CORE});  // no core dumps of decrypted data
  const rlim_t fsize = static_cast<rlim_t>(spec.limits.max_output_bytes);
  plan.rlimits.push_back({rlimit{fsize, fsize}, RLIMIT_FSIZE});
  if (!cgroup || !cgroup->limits_memory()) {
    const rlim_t as = static_cast<rlim_t>(spec.limits.memory_bytes);
    plan.rlimits.push_back({rlimit{as, as}, RLIMIT_AS});
  }
  if (!cgroup || !cgroup->limits_processes()) {
    const rlim_t n = static_cast<rlim_t>(spec.limits.max_processes + kBwrapProcesses);
    plan.rlimits.push_back({rlimit{n, n}, RLIMIT_NPROC});
  }
  plan.drop = drop;
  const std::string output_path = std::filesystem::absolute(spec.output).string();
  const unsigned sandbox_uid = drop ? kSandboxUid : ::geteuid();
  const unsigned sandbox_gid = drop ? kSandboxUid : ::getegid();
  const std::string tmpfs_options =
      output_tmpfs_options(spec.limits.max_output_bytes, sandbox_uid, sandbox_gid);
  const std::string uid_map = std::to_string(sandbox_uid) + " " + std::to_string(sandbox_uid) + " 1";
  const std::string gid_map = std::to_string(sandbox_gid) + " " + std::to_string(sandbox_gid) + " 1";
  plan.output = output_path.c_str();
  plan.tmpfs_options = tmpfs_options.c_str();
  plan.userns = !drop;
  plan.uid_map = uid_map.c_str();
  plan.gid_map = gid_map.c_str();
  plan.channel = channel_w.get();
  std::vector<std::string> access_paths;
  std::vector<std::pair<std::string, int>> checks = {{spec.rootfs.string(), X_OK},
                                                     {spec.output.string(), W_OK | X_OK}};
  for (const auto& input : spec.inputs) checks.push_back({input.string(), R_OK | X_OK});
  for (const auto& [path, mode] : checks) plan.access.push_back({path.c_str(), mode});
  plan.parent = ::getpid();

  const auto start = steady_clock::now();
  const pid_t pid = ::fork();
  if (pid < 0) return fail("engine.sandbox", "fork: " + errno_text());
  if (pid == 0) run_child(plan);
  out_w.reset();
  status_w.reset();
  report_w.reset();
  channel_w.reset();
  // Held until the output is delivered: the tmpfs outlives the sandbox's
  // namespaces only through this descriptor.
  UniqueFd output_fs = receive_fd(channel_r.get());
  channel_r.reset();

  ChildFailure failure{};
  ssize_t got;
  do {
    got = ::read(report_r.get(), &failure, sizeof failure);
  } while (got < 0 && errno == EINTR);
  if (got == static_cast<ssize_t>(sizeof failure)) {
    int ignored;
    ::waitpid(pid, &ignored, 0);
    const std::string why = errno_text(failure.err);
    switch (failure.stage) {
      case Stage::Cgroup:
        return fail("engine.sandbox", "cannot enter the sandbox's cgroup: " + why);
      case Stage::Namespace:
        return fail("engine.sandbox", std::string("cannot create the ") +
                                          (drop ? "mount namespace" : "user and mount namespaces") +
                                          " for the output's tmpfs: " + why);
      case Stage::OutputMount:
        return fail("engine.sandbox", "cannot mount the output's tmpfs on " + output_path + ": " + why);
      case Stage::Limits:
        return fail("engine.sandbox", "cannot set the sandbox's resource limits: " + why);
      case Stage::DropUid:
        return fail("engine.sandbox", "cannot switch to uid " + std::to_string(kSandboxUid) + ": " + why);
      case Stage::Access:
        return fail("engine.sandbox",
                    "uid " + std::to_string(drop ? kSandboxUid : ::getuid()) + " cannot reach " +
                        checks.at(static_cast<std::size_t>(failure.index)).first + ": " + why);
      case Stage::Exec:
        return fail("engine.sandbox", "cannot start " + *bwrap + ": " + why);
    }
  }
  report_r.reset();
  if (!output_fs) {
    ::kill(pid, SIGKILL);
    int ignored;
    ::waitpid(pid, &ignored, 0);
    return fail("engine.sandbox", "the sandbox's output tmpfs was not handed over");
  }

  std::string status, tail;
  std::uint64_t logged = 0;
  bool truncated = false;
  bool timed_out = false;
  bool stopped = false;
  bool started_reported = false;
  const auto deadline = start + spec.limits.wall_time;
  std::optional<steady_clock::time_point> grace_end;
  std::vector<std::uint8_t> buf(65536);
  while (out_r || status_r) {
    const auto now = steady_clock::now();
    if (!timed_out && now >= deadline) {
      timed_out = true;
      ::kill(pid,
             SIGKILL);  // bwrap's monitor; its death takes the sandbox's pid 1, and with it every process
      if (cgroup) cgroup->kill_all();
      grace_end = now + kGrace;
    }
    if (!timed_out && !stopped && spec.stop && spec.stop->load()) {
      stopped = true;
      ::kill(pid, SIGKILL);
      if (cgroup) cgroup->kill_all();
      grace_end = now + kGrace;
    }
    if (grace_end && now >= *grace_end) break;
    const auto until = grace_end ? *grace_end : deadline;
    const auto wait_ms =
        std::min<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(until - now).count() + 1,
                            spec.stop ? 200 : 1000);
    pollfd fds[2];
    nfds_t n = 0;
    if (out_r) fds[n++] = {out_r.get(), POLLIN, 0};
    if (status_r) fds[n++] = {status_r.get(), POLLIN, 0};
    const int ready = ::poll(fds, n, static_cast<int>(wait_ms));
    if (ready < 0 && errno != EINTR) {
      ::kill(pid, SIGKILL);
      return fail("engine.sandbox", "poll: " + errno_text());
    }
    for (nfds_t i = 0; ready > 0 && i < n; ++i) {
      if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      const ssize_t r = ::read(fds[i].fd, buf.data(), buf.size());
      if (r < 0 && errno == EINTR) continue;
      const bool is_out = out_r && fds[i].fd == out_r.get();
      if (r <= 0) {
        (is_out ? out_r : status_r).reset();
        continue;
      }
      const std::string_view chunk(reinterpret_cast<const char*>(buf.data()), static_cast<std::size_t>(r));
      if (!is_out) {
        if (status.size() + chunk.size() <= kMaxStatusBytes) status += chunk;
        if (!started_reported && spec.on_started) {
          if (const auto child = child_pid(status)) {
            started_reported = true;
            spec.on_started(*child);
          }
        }
        continue;
      }
      tail += chunk;
      if (tail.size() > kTailBytes) tail.erase(0, tail.size() - kTailBytes);
      if (!log || truncated) continue;
      const std::size_t keep =
          static_cast<std::size_t>(std::min<std::uint64_t>(chunk.size(), kMaxLogBytes - logged));
      (void)write_all(log.get(), as_bytes(chunk.substr(0, keep)));
      logged += keep;
      if (keep < chunk.size()) {
        (void)write_all(log.get(),
                        as_bytes("\n[ward: log truncated at " + std::to_string(kMaxLogBytes) + " bytes]\n"));
        truncated = true;
      }
    }
  }
  if (timed_out || stopped) ::kill(pid, SIGKILL);
  int wstatus = 0;
  while (::waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(steady_clock::now() - start);

  RunResult result;
  result.elapsed = elapsed;
  if (stopped) {
    result.outcome = RunResult::Outcome::Stopped;
    result.code = SIGKILL;
    return result;
  }
  const std::uint64_t oom_kills = cgroup ? cgroup->oom_kills() : 0;
  if (timed_out) {
    result.outcome = RunResult::Outcome::TimedOut;
    result.code = SIGKILL;
    result.limit = static_cast<std::uint64_t>(spec.limits.wall_time.count());
    return result;
  }
  const auto code = exit_code(status);
  if (!code) {
    if (oom_kills > 0) {
      result.outcome = RunResult::Outcome::MemoryExceeded;
      result.code = SIGKILL;
      result.limit = spec.limits.memory_bytes;
      return result;
    }
    const std::string message = bwrap_message(tail);
    return fail("engine.sandbox",
                "the sandbox did not start: " +
                    (message.empty() ? "bwrap exited with status " +
                                           std::to_string(WIFEXITED(wstatus) ? WEXITSTATUS(wstatus)
                                                                             : 128 + WTERMSIG(wstatus))
                                     : message));
  }
  if (*code > 128 && *code < 128 + NSIG) {
    result.outcome = RunResult::Outcome::Signaled;
    result.code = *code - 128;
  } else {
    result.outcome = RunResult::Outcome::Exited;
    result.code = *code;
  }
  const bool failed = !(result.outcome == RunResult::Outcome::Exited && result.code == 0);
  if (failed &&
      (oom_kills > 0 || (!(cgroup && cgroup->limits_memory()) &&
                         result.outcome == RunResult::Outcome::Signaled && result.code == SIGKILL))) {
    result.outcome = RunResult::Outcome::MemoryExceeded;
    result.limit = spec.limits.memory_bytes;
    return result;
  }
  // The output: over its limit if a write was refused (the tmpfs is full,
  // a file hit RLIMIT_FSIZE) or its files add up to more than the cap;
  // delivered only from an engine that exited 0.
  const std::uint64_t cap = spec.limits.max_output_bytes;
  struct statfs usage {};
  const bool full = ::fstatfs(output_fs.get(), &usage) != 0 || usage.f_bavail == 0 || usage.f_ffree == 0;
  auto scan = detail::scan_output(output_fs.get(), cap);
  if ((result.outcome == RunResult::Outcome::Signaled && result.code == SIGXFSZ) || full ||
      (scan && scan->verdict == detail::OutputScan::Verdict::OverLimit)) {
    result.outcome = RunResult::Outcome::OutputExceeded;
    result.limit = cap;
    return result;
  }
  if (failed) return result;
  if (!scan) return fail(scan.error(), "the engine's output");
  if (scan->verdict == detail::OutputScan::Verdict::Refused) {
    result.outcome = RunResult::Outcome::OutputRefused;
    result.refused = scan->refused;
    return result;
  }
  UniqueFd dest(::open(spec.output.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dest)
    return fail("engine.output", "cannot open the output " + spec.output.string() + ": " + errno_text());
  if (auto ok = detail::copy_output(output_fs.get(), dest.get(), cap); !ok)
    return fail(ok.error(), "delivering the engine's output");
  return result;
}

}  // namespace ward::engine
