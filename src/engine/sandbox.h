// Running an engine inside bubblewrap: no network, a read-only root, its
// inputs read-only, one writable output directory, and limits on time,
// memory, processes and output size. The engine never runs unsandboxed: if
// the sandbox cannot be set up, run_sandboxed fails and nothing ran.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <sys/types.h>
#include <vector>

#include "base/error.h"

namespace ward::engine {

// The uid and gid the engine runs as when the caller is root, so that the
// process limit binds and no host root ever enters the sandbox.
inline constexpr unsigned kSandboxUid = 65534;
// The most of the engine's stdout and stderr kept in SandboxSpec::log.
inline constexpr std::uint64_t kMaxLogBytes = std::uint64_t{1} << 20;

struct SandboxLimits {
  std::chrono::milliseconds wall_time{600'000};
  std::uint64_t memory_bytes = 4ull << 30;
  std::uint64_t max_processes = 64;
  std::uint64_t max_output_bytes = 1ull << 30;
};

struct SandboxSpec {
  std::filesystem::path rootfs;               // read-only at /
  std::vector<std::filesystem::path> inputs;  // read-only at /ward/inputs/<n>/ (n = 0, 1, ...)
  std::filesystem::path output;               // an empty directory: receives /ward/output/ on success
  std::string args_json;                      // read-only at /ward/args.json ("{}" when empty)
  std::vector<std::string> argv;              // usually entrypoint + cmd from the image config
  std::vector<std::string> env;               // "KEY=VALUE"; PATH gets a default when absent
  std::string working_dir;                    // "/" when empty
  std::filesystem::path log;                  // stdout+stderr, first kMaxLogBytes; none when empty
  SandboxLimits limits;
  // Called once, on run_sandboxed's thread, as soon as the sandbox exists,
  // with the pid (in the caller's pid namespace) of its first process: the
  // engine shares that process's namespaces, its network namespace among
  // them (a service is reached through a socket made there, netns.h).
  std::function<void(pid_t)> on_started;
  // When set, the whole sandbox is killed soon (within 200 ms) after it
  // becomes true, and the outcome is Stopped.
  const std::atomic<bool>* stop = nullptr;
};

struct RunResult {
  enum class Outcome { Exited, Signaled, TimedOut, MemoryExceeded, OutputExceeded, OutputRefused, Stopped };
  Outcome outcome = Outcome::Exited;
  int code = 0;  // the exit status (Exited) or the signal (otherwise, when one killed it)
  std::chrono::milliseconds elapsed{0};
  std::uint64_t limit = 0;  // the limit it broke: milliseconds or bytes (for describe)
  std::string refused;      // OutputRefused: what the output held, and where
  // One line: "exited with status 0", "killed: over its 2 s time limit", ...
  std::string describe() const;
};

// Runs spec.argv inside bubblewrap (bwrap, or the program $WARD_BWRAP names):
// all namespaces unshared (its own network namespace holds only loopback),
// no capabilities, a new session, killed with its caller. / is a read-only
// tmpfs holding the rootfs's top-level entries (read-only binds), a fresh
// /proc, a minimal /dev, a tmpfs /tmp (at most memory_bytes), and /ward.
// When the caller is root the engine runs as kSandboxUid: every path must
// be reachable by that uid (inputs readable, the output's parents
// searchable). The output directory is never handed to it: /ward/output/ is
// a tmpfs of max_output_bytes (plus a page), mounted over spec.output in a
// mount namespace of the sandbox's own, and only when the engine exits 0
// within the limit, with regular files and directories only, are its files
// copied into spec.output, owned by the caller. Every other run leaves
// spec.output empty. The tmpfs's pages count against the memory cgroup.
//
// Limits: wall time (the sandbox's whole process tree is killed), memory (a
// memory cgroup when one can be created under the caller's, else
// RLIMIT_AS), processes (a pids cgroup, else RLIMIT_NPROC), output (the
// tmpfs's size and inodes: ENOSPC; RLIMIT_FSIZE per file; the sizes of the
// files, sparse ones in full, re-checked before any is copied out).
// MemoryExceeded means the memory cgroup recorded an OOM kill; without a
// cgroup, an allocation failing under RLIMIT_AS shows only as the engine's
// own exit or signal, and a SIGKILL (which only the kernel's OOM killer can
// send into the sandbox besides Ward's own on time-out) is reported as
// MemoryExceeded. bwrap reports a death by signal n as status 128+n, so an
// engine exiting with 129..192 reads as Signaled.
//
// OutputExceeded: the tmpfs filled up (a write was refused), a file hit
// RLIMIT_FSIZE, or the files add up to more than the limit. OutputRefused:
// the output holds a symlink, FIFO, socket or device, or nests directories
// deeper than 64.
//
// Errors ("engine.sandbox"): bwrap is missing, a path is unusable, the
// output is not an empty directory, the output's tmpfs cannot be mounted
// (neither root nor unprivileged user namespaces), or bwrap failed before
// the engine started (its own message is included); nothing ran. After a
// run ("engine.output", "io.*"): its output could not be copied out, and
// spec.output was emptied again.
Result<RunResult> run_sandboxed(const SandboxSpec& spec);

}  // namespace ward::engine
