#include "base/file.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <sys/stat.h>

namespace ward {
namespace {

std::string errno_text() {
  return std::strerror(errno);
}

}  // namespace

Result<Bytes> read_file(const std::filesystem::path& path, std::size_t max_size) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail("io.open", "cannot open " + path.string() + ": " + errno_text());
  Bytes out;
  std::uint8_t buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      std::string why = errno_text();
      ::close(fd);
      return fail("io.read", "cannot read " + path.string() + ": " + why);
    }
    if (n == 0) break;
    if (out.size() + static_cast<std::size_t>(n) > max_size) {
      ::close(fd);
      return fail("io.too_large", path.string() + " is larger than " + std::to_string(max_size) + " bytes");
    }
    out.insert(out.end(), buf, buf + n);
  }
  ::close(fd);
  return out;
}

Result<void> write_all(int fd, ByteView data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail("io.write", "write failed: " + errno_text());
    data = data.subspan(static_cast<std::size_t>(n));
  }
  return {};
}

Result<void> pwrite_all(int fd, ByteView data, off_t offset) {
  while (!data.empty()) {
    ssize_t n = ::pwrite(fd, data.data(), data.size(), offset);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail("io.write", "write failed: " + errno_text());
    data = data.subspan(static_cast<std::size_t>(n));
    offset += n;
  }
  return {};
}

Result<std::size_t> pread_full(int fd, std::span<std::uint8_t> out, off_t offset) {
  std::size_t got = 0;
  while (got < out.size()) {
    ssize_t n = ::pread(fd, out.data() + got, out.size() - got, offset + static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail("io.read", "read failed: " + errno_text());
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  return got;
}

Result<std::size_t> read_full(int fd, std::span<std::uint8_t> out) {
  std::size_t got = 0;
  while (got < out.size()) {
    ssize_t n = ::read(fd, out.data() + got, out.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail("io.read", "read failed: " + errno_text());
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  return got;
}

Result<std::vector<std::string>> list_dir_names(int dirfd) {
  const int copy = ::fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
  DIR* d = copy < 0 ? nullptr : ::fdopendir(copy);
  if (!d) {
    const int err = errno;
    if (copy >= 0) ::close(copy);
    return fail("io.read", std::strerror(err));
  }
  // The duplicate shares the offset, which an earlier listing left at the end.
  ::rewinddir(d);
  std::vector<std::string> names;
  while (const dirent* e = ::readdir(d)) {
    const std::string_view n = e->d_name;
    if (n != "." && n != "..") names.emplace_back(n);
  }
  ::closedir(d);
  return names;
}

Result<AtomicFile> AtomicFile::create(const std::filesystem::path& path, unsigned mode) {
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return fail("io.create", "cannot open " + path.string() + ": " + errno_text());
    return AtomicFile(path, Kind::InPlace, {}, fd);
  }
  std::filesystem::path dir = path.parent_path().empty() ? "." : path.parent_path();
  // An unnamed file vanishes with the process, so even a kill leaves nothing.
  int fd = ::open(dir.c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, static_cast<mode_t>(mode));
  if (fd >= 0) return AtomicFile(path, Kind::Unnamed, {}, fd);
  if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
    return fail("io.create", "cannot create " + path.string() + ": " + errno_text());
  // File systems without O_TMPFILE: a hidden temporary name, removed on failure.
  std::string temp = (dir / ("." + path.filename().string() + ".ward-tmp-XXXXXX")).string();
  fd = ::mkostemp(temp.data(), O_CLOEXEC);
  if (fd < 0) return fail("io.create", "cannot create " + path.string() + ": " + errno_text());
  // mkostemp makes the file 0600; give it the mode a plain open() would have.
  mode_t mask = ::umask(0);
  ::umask(mask);
  if (::fchmod(fd, static_cast<mode_t>(mode) & ~mask) != 0) {
    std::string why = errno_text();
    ::close(fd);
    ::unlink(temp.c_str());
    return fail("io.create", "cannot set the mode of " + path.string() + ": " + why);
  }
  return AtomicFile(path, Kind::Named, std::move(temp), fd);
}

AtomicFile::AtomicFile(AtomicFile&& other) noexcept
    : target_(std::move(other.target_)), kind_(other.kind_), temp_(std::move(other.temp_)), fd_(other.fd_) {
  other.fd_ = -1;
  other.temp_.clear();
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!temp_.empty()) ::unlink(temp_.c_str());
}

Result<void> AtomicFile::write(ByteView data) {
  return write_all(fd_, data);
}

Result<void> AtomicFile::commit(Replace replace) {
  const std::string target = target_.string();
  if (kind_ != Kind::InPlace && ::fsync(fd_) != 0)
    return fail("io.write", "cannot flush " + target + ": " + errno_text());
  if (kind_ == Kind::Unnamed) {
    // Give the unnamed file a name: directly at the target when it must not
    // replace anything, else at a fresh temporary name that is then renamed.
    std::string self = "/proc/self/fd/" + std::to_string(fd_);
    std::string name = target;
    if (replace == Replace::Yes) {
      name = (target_.parent_path().empty() ? "." : target_.parent_path().string()) + "/." +
             target_.filename().string() + ".ward-tmp-" + std::to_string(::getpid()) + "-" +
             std::to_string(fd_);
      ::unlink(name.c_str());
    }
    if (::linkat(AT_FDCWD, self.c_str(), AT_FDCWD, name.c_str(), AT_SYMLINK_FOLLOW) != 0) {
      if (errno == EEXIST) return fail("io.exists", target + " already exists");
      return fail("io.rename", "cannot move output into place at " + target + ": " + errno_text());
    }
    if (replace == Replace::Yes) temp_ = name;
  }
  int rc = ::close(fd_);
  fd_ = -1;
  if (rc != 0) return fail("io.write", "cannot close " + target + ": " + errno_text());
  if (temp_.empty()) return {};
  if (replace == Replace::No) {
    if (::link(temp_.c_str(), target.c_str()) != 0) {
      if (errno == EEXIST) return fail("io.exists", target + " already exists");
      return fail("io.rename", "cannot move output into place at " + target + ": " + errno_text());
    }
    ::unlink(temp_.c_str());
  } else if (::rename(temp_.c_str(), target.c_str()) != 0) {
    return fail("io.rename", "cannot move output into place at " + target + ": " + errno_text());
  }
  temp_.clear();
  return {};
}

}  // namespace ward
