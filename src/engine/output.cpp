#include "engine/output.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <vector>

#include "base/file.h"
#include "base/unique_fd.h"

namespace ward::engine::detail {
namespace {

constexpr std::size_t kMaxShownPath = 200;
constexpr std::size_t kCopyChunk = std::size_t{1} << 20;

std::string errno_text(int e = errno) {
  return std::strerror(e);
}

// The engine names its files: shown on one line, control bytes replaced.
std::string shown(std::string_view path) {
  std::string out;
  for (const char c : path.substr(0, kMaxShownPath))
    out += static_cast<unsigned char>(c) < 0x20 || c == 0x7f ? '?' : c;
  if (path.size() > kMaxShownPath) out += "...";
  return out;
}

std::string join(const std::string& dir, const std::string& name) {
  return dir.empty() ? name : dir + "/" + name;
}

const char* kind_of(mode_t mode) {
  if (S_ISLNK(mode)) return "a symbolic link";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  return "a special file";
}

Result<std::vector<std::string>> list_dir(int fd, const std::string& where) {
  auto names = list_dir_names(fd);
  if (!names)
    return fail("engine.output",
                "cannot list " + shown(where.empty() ? "the output" : where) + ": " + names.error().message);
  return names;
}

// Opens an entry of the engine's tree for reading. An entry its owner made
// unreadable (mode 0 and such) is opened up when the caller is not root (it
// owns the entry then): a file for the open only, a directory for good
// (u+rx; the walk needs to search it).
UniqueFd open_entry(int dirfd, const std::string& name, bool dir) {
  const int flags = O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC | (dir ? O_DIRECTORY : 0);
  UniqueFd fd(::openat(dirfd, name.c_str(), flags));
  if (!fd && errno == EACCES) {
    struct stat st;
    if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        ::fchmodat(dirfd, name.c_str(), (st.st_mode & 07777) | S_IRUSR | (dir ? S_IXUSR : 0), 0) == 0) {
      fd = UniqueFd(::openat(dirfd, name.c_str(), flags));
      if (fd && !dir) ::fchmod(fd.get(), st.st_mode & 07777);
    }
  }
  return fd;
}

Result<void> scan(int dirfd, const std::string& where, int depth, std::uint64_t limit, OutputScan& out) {
  auto names = list_dir(dirfd, where);
  if (!names) return std::unexpected(names.error());
  for (const auto& name : *names) {
    const std::string path = join(where, name);
    struct stat st;
    if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
      return fail("engine.output", "cannot read " + shown(path) + ": " + errno_text());
    if (S_ISREG(st.st_mode)) {
      out.bytes += static_cast<std::uint64_t>(st.st_size);
      if (out.bytes > limit) {
        out.verdict = OutputScan::Verdict::OverLimit;
        return {};
      }
    } else if (S_ISDIR(st.st_mode)) {
      if (depth >= kMaxOutputDepth) {
        out.verdict = OutputScan::Verdict::Refused;
        out.refused =
            "directories nested deeper than " + std::to_string(kMaxOutputDepth) + " at " + shown(path);
        return {};
      }
      UniqueFd sub = open_entry(dirfd, name, true);
      if (!sub) return fail("engine.output", "cannot open " + shown(path) + ": " + errno_text());
      if (auto ok = scan(sub.get(), path, depth + 1, limit, out);
          !ok || out.verdict != OutputScan::Verdict::Fits)
        return ok;
    } else {
      out.verdict = OutputScan::Verdict::Refused;
      out.refused = std::string(kind_of(st.st_mode)) + " at " + shown(path);
      return {};
    }
  }
  return {};
}

// Removes what copy_output made under `dirfd` (all of it the caller's own).
void remove_children(int dirfd) {
  auto names = list_dir(dirfd, "");
  if (!names) return;
  for (const auto& name : *names) {
    struct stat st;
    if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (S_ISDIR(st.st_mode)) {
      ::fchmodat(dirfd, name.c_str(), S_IRWXU, 0);
      UniqueFd sub(::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (sub) remove_children(sub.get());
      ::unlinkat(dirfd, name.c_str(), AT_REMOVEDIR);
    } else {
      ::unlinkat(dirfd, name.c_str(), 0);
    }
  }
}

Result<void> copy_file(int from_dir, int to_dir, const std::string& name, const std::string& path,
                       std::uint64_t& budget) {
  UniqueFd in = open_entry(from_dir, name, false);
  if (!in) return fail("engine.output", "cannot open " + shown(path) + ": " + errno_text());
  struct stat st;
  if (::fstat(in.get(), &st) != 0 || !S_ISREG(st.st_mode))
    return fail("engine.output", shown(path) + " is no longer a regular file");
  UniqueFd out(::openat(to_dir, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!out) return fail("io.create", "cannot create " + shown(path) + " in the output: " + errno_text());
  for (;;) {
    // One byte past the budget tells a file that grew from one that fits exactly.
    const std::uint64_t want = budget < kCopyChunk ? budget + 1 : kCopyChunk;
    const ssize_t n = ::sendfile(out.get(), in.get(), nullptr, static_cast<std::size_t>(want));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail("io.write", "cannot copy " + shown(path) + " out of the sandbox: " + errno_text());
    if (n == 0) break;
    if (static_cast<std::uint64_t>(n) > budget)
      return fail("engine.output",
                  "the output grew past its limit while it was copied (" + shown(path) + ")");
    budget -= static_cast<std::uint64_t>(n);
  }
  if (::fchmod(out.get(), st.st_mode & 0777) != 0)
    return fail("io.write", "cannot set the mode of " + shown(path) + ": " + errno_text());
  if (::close(out.release()) != 0)
    return fail("io.write", "cannot write " + shown(path) + ": " + errno_text());
  return {};
}

Result<void> copy_tree(int from, int to, const std::string& where, int depth, std::uint64_t& budget) {
  auto names = list_dir(from, where);
  if (!names) return std::unexpected(names.error());
  for (const auto& name : *names) {
    const std::string path = join(where, name);
    struct stat st;
    if (::fstatat(from, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
      return fail("engine.output", "cannot read " + shown(path) + ": " + errno_text());
    if (S_ISREG(st.st_mode)) {
      if (auto ok = copy_file(from, to, name, path, budget); !ok) return ok;
      continue;
    }
    if (!S_ISDIR(st.st_mode))
      return fail("engine.output",
                  "the output holds " + std::string(kind_of(st.st_mode)) + " at " + shown(path));
    if (depth >= kMaxOutputDepth)
      return fail("engine.output",
                  "the output nests directories deeper than " + std::to_string(kMaxOutputDepth));
    UniqueFd sub_from = open_entry(from, name, true);
    if (!sub_from) return fail("engine.output", "cannot open " + shown(path) + ": " + errno_text());
    if (::mkdirat(to, name.c_str(), 0700) != 0)
      return fail("io.create", "cannot create " + shown(path) + " in the output: " + errno_text());
    UniqueFd sub_to(::openat(to, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!sub_to) return fail("io.open", "cannot open " + shown(path) + " in the output: " + errno_text());
    if (auto ok = copy_tree(sub_from.get(), sub_to.get(), path, depth + 1, budget); !ok) return ok;
    // Applied last: a read-only directory is filled first.
    if (::fchmod(sub_to.get(), st.st_mode & 0777) != 0)
      return fail("io.write", "cannot set the mode of " + shown(path) + ": " + errno_text());
  }
  return {};
}

}  // namespace

Result<OutputScan> scan_output(int root, std::uint64_t limit) {
  OutputScan out;
  if (auto ok = scan(root, "", 0, limit, out); !ok) return std::unexpected(ok.error());
  return out;
}

Result<void> copy_output(int from, int to, std::uint64_t limit) {
  std::uint64_t budget = limit;
  auto ok = copy_tree(from, to, "", 0, budget);
  if (!ok) remove_children(to);
  return ok;
}

}  // namespace ward::engine::detail
