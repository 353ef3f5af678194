#include "engine/sandbox.h"

#include <dirent.h>
#include <stdlib.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <atomic>
#include <netinet/in.h>
#include <optional>
#include <sys/socket.h>
#include <sys/stat.h>
#include <thread>

#include <gtest/gtest.h>

#include "engine/netns.h"
#include "fixture.h"

namespace ward::engine {
namespace {

using namespace testing;
using Outcome = RunResult::Outcome;

// True when some process's command line holds `marker`.
bool process_alive_with(const std::string& marker) {
  DIR* d = ::opendir("/proc");
  bool found = false;
  while (const dirent* e = d ? ::readdir(d) : nullptr) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    std::string cmdline = read_text(std::filesystem::path("/proc") / e->d_name / "cmdline");
    std::ranges::replace(cmdline, '\0', ' ');
    if (cmdline.find(marker) != std::string::npos) found = true;
  }
  if (d) ::closedir(d);
  return found;
}

// The disk space the files under `dir` take (symlinks not followed).
std::uint64_t disk_usage(const std::filesystem::path& dir) {
  std::uint64_t total = 0;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(
           dir, std::filesystem::directory_options::skip_permission_denied, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    struct stat st {};
    if (::lstat(it->path().c_str(), &st) == 0) total += static_cast<std::uint64_t>(st.st_blocks) * 512;
  }
  return total;
}

// What payload.cpp's "tree" mode writes into a/b/c.bin.
std::string payload_pattern(long bytes) {
  std::string out(static_cast<std::size_t>(bytes), '\0');
  for (long i = 0; i < bytes; ++i)
    out[static_cast<std::size_t>(i)] = static_cast<char>((i * 7 + i / 251) & 0xff);
  return out;
}

class SandboxTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    // The host must allow what bwrap needs; the tests check Ward, not the kernel.
    if (std::system("bwrap --unshare-all --unshare-user --ro-bind / / true >/dev/null 2>&1") != 0)
      GTEST_SKIP() << "bubblewrap cannot create namespaces on this host";
    if (GetParam()) ::setenv("WARD_SANDBOX_NO_CGROUP", "1", 1);
    std::filesystem::create_directories(tmp_ / "rootfs/bin");
    std::filesystem::copy_file(WARD_ENGINE_PAYLOAD, tmp_ / "rootfs/bin/payload");
    ::chmod((tmp_ / "rootfs").c_str(), 0755);
    ::chmod((tmp_ / "rootfs/bin").c_str(), 0755);
    ::chmod((tmp_ / "rootfs/bin/payload").c_str(), 0755);
    std::filesystem::create_directories(tmp_ / "input");
    ::chmod((tmp_ / "input").c_str(), 0755);
    write_text(tmp_ / "input/data.txt", "input data");
    std::filesystem::create_directories(tmp_ / "output");
    spec_.rootfs = tmp_ / "rootfs";
    spec_.inputs = {tmp_ / "input"};
    spec_.output = tmp_ / "output";
    spec_.log = tmp_ / "log.txt";
    spec_.limits.wall_time = std::chrono::seconds(20);
    spec_.limits.memory_bytes = 256 << 20;
  }
  void TearDown() override { ::unsetenv("WARD_SANDBOX_NO_CGROUP"); }

  RunResult run(std::vector<std::string> argv) {
    spec_.argv = std::move(argv);
    auto result = run_sandboxed(spec_);
    EXPECT_TRUE(result) << result.error().code << ": " << result.error().message;
    return result ? *result : RunResult{Outcome::Exited, -1, {}, 0, {}};
  }
  std::string log() const { return read_text(tmp_ / "log.txt"); }

  TempDir tmp_;
  SandboxSpec spec_;
};

TEST_P(SandboxTest, ShouldExitWithTheEnginesStatus) {
  auto ok = run({"/bin/payload", "exit", "0"});
  EXPECT_EQ(ok.outcome, Outcome::Exited);
  EXPECT_EQ(ok.code, 0);
  EXPECT_EQ(ok.describe(), "exited with status 0");
  auto three = run({"/bin/payload", "exit", "3"});
  EXPECT_EQ(three.outcome, Outcome::Exited);
  EXPECT_EQ(three.code, 3);
  // Exit status 1 from the engine is not a sandbox failure.
  auto one = run({"payload", "exit", "1"});
  EXPECT_EQ(one.outcome, Outcome::Exited);
  EXPECT_EQ(one.code, 1);
}

TEST_P(SandboxTest, ShouldGiveInputsReadOnlyOutputWritableAndArgs) {
  spec_.args_json = R"({"epochs": 3})";
  auto result = run({"/bin/payload", "check-io"});
  EXPECT_EQ(result.outcome, Outcome::Exited);
  EXPECT_EQ(result.code, 0) << log();
  EXPECT_EQ(read_text(tmp_ / "output/result.txt"), R"({"epochs": 3}|input data)");
  EXPECT_EQ(read_text(tmp_ / "input/data.txt"), "input data");
  EXPECT_FALSE(std::filesystem::exists(tmp_ / "input/new.txt"));
  EXPECT_FALSE(std::filesystem::exists(tmp_ / "rootfs/bin/new"));
}

TEST_P(SandboxTest, ShouldClearTheEnvironmentAndUseTheImagesSettings) {
  ::setenv("WARD_TEST_HOST_SECRET", "leak", 1);
  spec_.env = {"ENGINE_MODE=fast", "PATH=/bin"};
  spec_.working_dir = "/bin";
  auto result = run({"payload", "env"});
  ::unsetenv("WARD_TEST_HOST_SECRET");
  ASSERT_EQ(result.code, 0) << log();
  const std::string env = read_text(tmp_ / "output/env.txt");
  EXPECT_NE(env.find("ENGINE_MODE=fast\n"), std::string::npos) << env;
  EXPECT_NE(env.find("cwd=/bin\n"), std::string::npos) << env;
  EXPECT_EQ(env.find("WARD_TEST_HOST_SECRET"), std::string::npos) << env;
  if (::geteuid() == 0) {
    EXPECT_NE(env.find("uid=" + std::to_string(kSandboxUid) + "\n"), std::string::npos) << env;
  }
}

TEST_P(SandboxTest, ShouldHaveNoNetwork) {
  const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(listener, 4), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  auto result = run({"/bin/payload", "net", std::to_string(ntohs(addr.sin_port))});
  EXPECT_EQ(result.code, 0) << log();
  EXPECT_LT(::accept(listener, nullptr, nullptr), 0) << "the host's listener got a connection";
  ::close(listener);
}

TEST_P(SandboxTest, ShouldKillTheWholeSandboxAtTheTimeLimit) {
  spec_.limits.wall_time = std::chrono::milliseconds(1500);
  const std::string marker = "ward-timeout-marker-" + std::to_string(::getpid());
  auto result = run({"/bin/payload", "sleep", marker});
  EXPECT_EQ(result.outcome, Outcome::TimedOut);
  EXPECT_EQ(result.describe(), "killed: over its 1500 ms time limit");
  EXPECT_GE(result.elapsed, std::chrono::milliseconds(1500));
  EXPECT_LT(result.elapsed, std::chrono::seconds(8));
  EXPECT_FALSE(process_alive_with(marker)) << "a sandboxed process outlived the time limit";
}

TEST_P(SandboxTest, ShouldStopAnEngineOverItsMemoryLimit) {
  spec_.limits.memory_bytes = 64 << 20;
  auto result = run({"/bin/payload", "alloc", "512"});
  EXPECT_FALSE(result.outcome == Outcome::Exited && result.code == 0) << result.describe();
  EXPECT_TRUE(result.outcome == Outcome::MemoryExceeded || result.outcome == Outcome::Signaled ||
              (result.outcome == Outcome::Exited && result.code == 3))
      << result.describe();
  // Within the limit it runs.
  auto small = run({"/bin/payload", "alloc", "16"});
  EXPECT_EQ(small.outcome, Outcome::Exited);
  EXPECT_EQ(small.code, 0) << log();
}

TEST_P(SandboxTest, ShouldLimitAForkBomb) {
  spec_.limits.max_processes = 16;
  auto result = run({"/bin/payload", "forkbomb", "500"});
  EXPECT_EQ(result.outcome, Outcome::Exited);
  EXPECT_EQ(result.code, 0) << log();
}

TEST_P(SandboxTest, ShouldReportOutputOverItsLimit) {
  spec_.limits.max_output_bytes = 1 << 20;
  auto one_file = run({"/bin/payload", "write", std::to_string(2 << 20)});
  EXPECT_EQ(one_file.outcome, Outcome::OutputExceeded) << one_file.describe();
  EXPECT_EQ(one_file.describe(), "failed: its output exceeded its limit of 1048576 bytes (1 MiB)");
  EXPECT_TRUE(std::filesystem::is_empty(tmp_ / "output")) << "a failed run left files";
  auto many_files = run({"/bin/payload", "write-many", std::to_string(256 << 10)});
  EXPECT_EQ(many_files.outcome, Outcome::OutputExceeded) << many_files.describe();
  EXPECT_TRUE(std::filesystem::is_empty(tmp_ / "output")) << "a failed run left files";
  auto within = run({"/bin/payload", "write", std::to_string(512 << 10)});
  EXPECT_EQ(within.outcome, Outcome::Exited) << within.describe() << log();
  EXPECT_EQ(within.code, 0);
  EXPECT_EQ(std::filesystem::file_size(tmp_ / "output/big"), 512u << 10);
}

// An engine writing far more than its cap in files each under it (and
// ignoring every write error) gets ENOSPC at the cap: the run fails naming
// the limit, the output directory is left empty, and the disk holding the
// work tree never grew by more than the cap.
TEST_P(SandboxTest, ShouldNeverLetTheOutputGrowPastItsCap) {
  spec_.limits.max_output_bytes = 1 << 20;
  const std::uint64_t before = disk_usage(tmp_.path());
  std::atomic<bool> done{false};
  std::atomic<std::uint64_t> most{before};
  std::thread watcher([&] {
    while (!done) {
      most = std::max<std::uint64_t>(most, disk_usage(tmp_.path()));
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  auto result = run({"/bin/payload", "fill", "64", std::to_string(512 << 10)});
  done = true;
  watcher.join();
  most = std::max<std::uint64_t>(most, disk_usage(tmp_.path()));
  EXPECT_EQ(result.outcome, Outcome::OutputExceeded) << result.describe();
  EXPECT_NE(result.describe().find("limit of 1048576 bytes"), std::string::npos) << result.describe();
  EXPECT_TRUE(std::filesystem::is_empty(tmp_ / "output")) << "a failed run left files";
  EXPECT_LE(most - before, std::uint64_t{1} << 20) << "the work tree grew past the output cap";
}

TEST_P(SandboxTest, ShouldDeliverAnOutputWithinItsLimitByteForByte) {
  spec_.limits.max_output_bytes = 1 << 20;
  auto result = run({"/bin/payload", "tree"});
  ASSERT_EQ(result.outcome, Outcome::Exited) << result.describe();
  ASSERT_EQ(result.code, 0) << log();
  const auto out = tmp_ / "output";
  EXPECT_EQ(read_text(out / "top.txt"), "top\n");
  EXPECT_EQ(read_text(out / "a/b/c.bin"), payload_pattern(300000));
  EXPECT_EQ(read_text(out / "a/empty"), "");
  EXPECT_TRUE(std::filesystem::is_directory(out / "d/e"));
  EXPECT_TRUE(std::filesystem::is_empty(out / "d/e"));
  const auto mode = [&out](const char* name) {
    struct stat st {};
    EXPECT_EQ(::lstat((out / name).c_str(), &st), 0) << name;
    EXPECT_EQ(st.st_uid, ::geteuid()) << name << " does not belong to the caller";
    return st.st_mode & 07777;
  };
  EXPECT_EQ(mode("a/run.sh"), 0755u);
  EXPECT_EQ(mode("a/private"), 0600u);
  EXPECT_EQ(mode("a/b"), 0750u);
  EXPECT_EQ(mode("d/e"), 0700u);
  EXPECT_EQ(mode("top.txt"), 0644u);
}

// Modes the engine set are kept, even those that shut out its owner (but
// for a directory a non-root caller has to search).
TEST_P(SandboxTest, ShouldDeliverFilesTheEngineMadeUnreadable) {
  auto result = run({"/bin/payload", "unreadable"});
  ASSERT_EQ(result.outcome, Outcome::Exited) << result.describe();
  ASSERT_EQ(result.code, 0) << log();
  const auto out = tmp_ / "output";
  struct stat st {};
  ASSERT_EQ(::lstat((out / "secret.txt").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0u);
  ASSERT_EQ(::lstat((out / "closed").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, ::geteuid() == 0 ? 0u : 0500u);
  ASSERT_EQ(::chmod((out / "closed").c_str(), 0700), 0);
  ASSERT_EQ(::chmod((out / "secret.txt").c_str(), 0600), 0);
  ASSERT_EQ(::chmod((out / "closed/inner.txt").c_str(), 0600), 0);
  EXPECT_EQ(read_text(out / "secret.txt"), "s");
  EXPECT_EQ(read_text(out / "closed/inner.txt"), "i");
}

TEST_P(SandboxTest, ShouldRefuseLinksFifosAndSocketsInTheOutput) {
  for (const char* kind : {"symlink", "fifo", "socket"}) {
    auto result = run({"/bin/payload", "special", kind});
    EXPECT_EQ(result.outcome, Outcome::OutputRefused) << kind << ": " << result.describe() << log();
    EXPECT_NE(result.describe().find("only regular files and directories"), std::string::npos)
        << result.describe();
    EXPECT_TRUE(std::filesystem::is_empty(tmp_ / "output")) << kind << ": a refused output left files";
  }
}

TEST_P(SandboxTest, ShouldCountSparseFilesAtTheirFullSize) {
  spec_.limits.max_output_bytes = 1 << 20;
  auto result = run({"/bin/payload", "sparse", "8", std::to_string(512 << 10)});
  EXPECT_EQ(result.outcome, Outcome::OutputExceeded) << result.describe() << log();
  EXPECT_TRUE(std::filesystem::is_empty(tmp_ / "output")) << "a failed run left files";
}

TEST_P(SandboxTest, ShouldLimitTheNumberOfOutputFiles) {
  spec_.limits.max_output_bytes = 1 << 20;
  auto result = run({"/bin/payload", "empties", "5000"});
  EXPECT_EQ(result.outcome, Outcome::OutputExceeded) << result.describe() << log();
  EXPECT_TRUE(std::filesystem::is_empty(tmp_ / "output")) << "a failed run left files";
}

TEST_P(SandboxTest, ShouldRefuseAnOutputNestedTooDeep) {
  auto result = run({"/bin/payload", "deep", "200"});
  EXPECT_EQ(result.outcome, Outcome::OutputRefused) << result.describe() << log();
  EXPECT_TRUE(std::filesystem::is_empty(tmp_ / "output")) << "a refused output left files";
}

// The caller's directory is never handed to the sandbox's uid: its owner and
// mode stay, and the delivered files belong to the caller.
TEST_P(SandboxTest, ShouldLeaveTheOutputDirectorysOwnerAndModeAlone) {
  ASSERT_EQ(::chmod((tmp_ / "output").c_str(), 0750), 0);
  struct stat before {};
  ASSERT_EQ(::stat((tmp_ / "output").c_str(), &before), 0);
  auto result = run({"/bin/payload", "tree"});
  EXPECT_EQ(result.code, 0) << log();
  struct stat after {};
  ASSERT_EQ(::stat((tmp_ / "output").c_str(), &after), 0);
  EXPECT_EQ(after.st_uid, before.st_uid);
  EXPECT_EQ(after.st_gid, before.st_gid);
  EXPECT_EQ(after.st_mode, before.st_mode);
  struct stat file {};
  ASSERT_EQ(::stat((tmp_ / "output/top.txt").c_str(), &file), 0);
  EXPECT_EQ(file.st_uid, ::geteuid());
}

TEST_P(SandboxTest, ShouldRefuseAnOutputDirectoryThatIsNotEmpty) {
  write_text(tmp_ / "output/earlier.txt", "mine");
  spec_.argv = {"/bin/payload", "tree"};
  auto result = run_sandboxed(spec_);
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, "engine.sandbox");
  EXPECT_NE(result.error().message.find("not empty"), std::string::npos) << result.error().message;
  EXPECT_EQ(read_text(tmp_ / "output/earlier.txt"), "mine");
  EXPECT_FALSE(std::filesystem::exists(tmp_ / "output/top.txt")) << "something ran";
}

TEST_P(SandboxTest, ShouldCapTheLog) {
  auto result = run({"/bin/payload", "spam", std::to_string(3 << 20)});
  EXPECT_EQ(result.code, 0);
  const std::string text = log();
  EXPECT_GE(text.size(), kMaxLogBytes);
  EXPECT_LT(text.size(), kMaxLogBytes + 100);
  EXPECT_NE(text.find("[ward: log truncated"), std::string::npos);
}

TEST_P(SandboxTest, ShouldFailWithoutRunningWhenBwrapIsMissing) {
  ::setenv("WARD_BWRAP", (tmp_ / "no-such-bwrap").c_str(), 1);
  spec_.argv = {"/bin/payload", "check-io"};
  auto result = run_sandboxed(spec_);
  ::unsetenv("WARD_BWRAP");
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code, "engine.sandbox");
  EXPECT_TRUE(std::filesystem::is_empty(tmp_ / "output")) << "something ran";
}

TEST_P(SandboxTest, ShouldTellASandboxFailureFromAnEngineFailure) {
  spec_.argv = {"/bin/no-such-engine"};
  auto missing = run_sandboxed(spec_);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, "engine.sandbox");
  EXPECT_NE(missing.error().message.find("bwrap: "), std::string::npos) << missing.error().message;

  spec_.argv = {"/bin/payload", "exit", "0"};
  spec_.working_dir = "/no/such/dir";
  auto bad_dir = run_sandboxed(spec_);
  ASSERT_FALSE(bad_dir);
  EXPECT_EQ(bad_dir.error().code, "engine.sandbox");

  spec_.working_dir.clear();
  spec_.inputs = {tmp_ / "no-such-input"};
  auto bad_input = run_sandboxed(spec_);
  ASSERT_FALSE(bad_input);
  EXPECT_EQ(bad_input.error().code, "engine.sandbox");
}

INSTANTIATE_TEST_SUITE_P(Sandbox, SandboxTest, ::testing::Values(false, true), [](const auto& info) {
  return info.param ? std::string("RlimitsOnly") : std::string("Default");
});

// A service engine listens inside the sandbox: nothing on the host reaches
// it, a socket made in its network namespace does, and setting `stop` ends
// it with the outcome Stopped.
TEST_P(SandboxTest, ShouldReachAServiceOnlyThroughItsNetworkNamespaceAndStopIt) {
  if (::geteuid() != 0) GTEST_SKIP() << "entering the sandbox's network namespace needs root";
  const int port = 18000 + static_cast<int>(::getpid() % 1000);
  std::atomic<bool> stop{false};
  std::atomic<pid_t> child{0};
  spec_.argv = {"/bin/payload", "serve", std::to_string(port)};
  spec_.stop = &stop;
  spec_.on_started = [&](pid_t pid) { child = pid; };
  std::optional<Result<RunResult>> ran;
  std::thread runner([&] { ran.emplace(run_sandboxed(spec_)); });
  for (int i = 0; i < 200 && child == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_NE(child.load(), 0) << "on_started was not called";
  auto netns = open_network_namespace(child);
  ASSERT_TRUE(netns) << netns.error().message;
  Result<UniqueFd> fd = fail("test", "not tried");
  for (int i = 0; i < 100 && !fd; ++i) {
    fd = connect_in_namespace(netns->get(), port, std::chrono::milliseconds(500));
    if (!fd) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(fd) << fd.error().message;
  const std::string ping = "GET /ping HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_EQ(::send(fd->get(), ping.data(), ping.size(), MSG_NOSIGNAL), static_cast<ssize_t>(ping.size()));
  char buf[256] = {};
  std::string answer;
  while (answer.find("pong") == std::string::npos) {
    const ssize_t n = ::recv(fd->get(), buf, sizeof buf, 0);
    if (n <= 0) break;
    answer.append(buf, static_cast<std::size_t>(n));
  }
  EXPECT_NE(answer.find("200 OK"), std::string::npos) << answer;
  // The host's own loopback has nothing on that port.
  const int host = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_NE(::connect(host, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ::close(host);
  stop = true;
  runner.join();
  ASSERT_TRUE(ran && *ran) << (ran ? ran->error().message : "no result");
  EXPECT_EQ((*ran)->outcome, Outcome::Stopped);
  EXPECT_EQ((*ran)->describe(), "stopped");
}

TEST(RunResultTest, ShouldDescribeEachOutcomeInOneLine) {
  EXPECT_EQ((RunResult{Outcome::Exited, 2, {}, 0, {}}).describe(), "exited with status 2");
  EXPECT_EQ((RunResult{Outcome::Signaled, 11, {}, 0, {}}).describe(), "killed by signal 11 (SIGSEGV)");
  EXPECT_EQ((RunResult{Outcome::TimedOut, 9, {}, 2000, {}}).describe(), "killed: over its 2 s time limit");
  EXPECT_EQ((RunResult{Outcome::MemoryExceeded, 9, {}, 512ull << 20, {}}).describe(),
            "killed: over its 512 MiB memory limit");
  EXPECT_EQ((RunResult{Outcome::OutputExceeded, 0, {}, 100ull << 20, {}}).describe(),
            "failed: its output exceeded its limit of 104857600 bytes (100 MiB)");
  EXPECT_EQ((RunResult{Outcome::OutputExceeded, 0, {}, 1000, {}}).describe(),
            "failed: its output exceeded its limit of 1000 bytes");
}

}  // namespace
}  // namespace ward::engine
