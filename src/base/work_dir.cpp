#include "base/work_dir.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <sys/stat.h>
#include <system_error>
#include <vector>

#include "base/file.h"
#include "base/unique_fd.h"

namespace ward {
namespace {

std::string errno_text() {
  return std::strerror(errno);
}

}  // namespace

Result<void> remove_tree_at(int dirfd, const std::string& name) {
  struct stat st;
  if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return {};
    return fail("io.remove", "cannot remove " + name + ": " + errno_text());
  }
  if (S_ISDIR(st.st_mode)) {
    if ((st.st_mode & S_IRWXU) != S_IRWXU) ::fchmodat(dirfd, name.c_str(), S_IRWXU, 0);
    UniqueFd fd(::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) return fail("io.remove", "cannot open " + name + " to remove it: " + errno_text());
    auto names = list_dir_names(fd.get());
    if (!names) return fail("io.remove", "cannot list " + name + ": " + names.error().message);
    for (const auto& n : *names)
      if (auto ok = remove_tree_at(fd.get(), n); !ok) return ok;
    if (::unlinkat(dirfd, name.c_str(), AT_REMOVEDIR) != 0)
      return fail("io.remove", "cannot remove " + name + ": " + errno_text());
    return {};
  }
  if (::unlinkat(dirfd, name.c_str(), 0) != 0 && errno != ENOENT)
    return fail("io.remove", "cannot remove " + name + ": " + errno_text());
  return {};
}

Result<void> remove_tree(const std::filesystem::path& path) {
  std::filesystem::path p = path.lexically_normal();
  if (p.filename().empty()) p = p.parent_path();
  const std::filesystem::path parent = p.parent_path().empty() ? "." : p.parent_path();
  UniqueFd dir(::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir) {
    if (errno == ENOENT) return {};
    return fail("io.remove", "cannot open " + parent.string() + ": " + errno_text());
  }
  return remove_tree_at(dir.get(), p.filename().string());
}

Result<WorkDir> WorkDir::create(const std::filesystem::path& parent, std::string_view prefix, mode_t mode) {
  std::string name = (parent / (std::string(prefix) + "XXXXXX")).string();
  if (::mkdtemp(name.data()) == nullptr)
    return fail("io.open", "cannot create a temporary directory in " + parent.string() + ": " + errno_text());
  WorkDir dir{std::filesystem::path(name)};
  if (mode != 0700 && ::chmod(name.c_str(), mode) != 0)
    return fail("io.open", "cannot set the mode of " + name + ": " + errno_text());
  return dir;
}

Result<WorkDir> WorkDir::create_at(const std::filesystem::path& path, mode_t mode) {
  std::error_code ec;
  std::filesystem::create_directories(path.parent_path(), ec);
  if (ec) return fail("io.open", "cannot create " + path.parent_path().string() + ": " + ec.message());
  if (auto gone = remove_tree(path); !gone) return std::unexpected(gone.error());
  if (::mkdir(path.c_str(), mode) != 0)
    return fail("io.open", "cannot create " + path.string() + ": " + errno_text());
  return WorkDir(path);
}

WorkDir::~WorkDir() {
  if (!path_.empty()) (void)remove_tree(path_);
}

}  // namespace ward
