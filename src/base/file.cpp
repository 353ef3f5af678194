#include "base/file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cerrno>
#include <cstring>

namespace ward {
namespace {

std::string errno_text() { return std::strerror(errno); }

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

Result<AtomicFile> AtomicFile::create(const std::filesystem::path& path, unsigned mode) {
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return fail("io.create", "cannot open " + path.string() + ": " + errno_text());
    return AtomicFile(path, {}, fd);
  }
  std::filesystem::path dir = path.parent_path().empty() ? "." : path.parent_path();
  std::string temp = (dir / ("." + path.filename().string() + ".ward-tmp-XXXXXX")).string();
  int fd = ::mkostemp(temp.data(), O_CLOEXEC);
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
  return AtomicFile(path, std::move(temp), fd);
}

AtomicFile::AtomicFile(AtomicFile&& other) noexcept
    : target_(std::move(other.target_)), temp_(std::move(other.temp_)), fd_(other.fd_) {
  other.fd_ = -1;
  other.temp_.clear();
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!temp_.empty()) ::unlink(temp_.c_str());
}

Result<void> AtomicFile::write(ByteView data) { return write_all(fd_, data); }

Result<void> AtomicFile::commit() {
  if (temp_.empty()) {
    int rc = ::close(fd_);
    fd_ = -1;
    if (rc != 0) return fail("io.write", "cannot close " + target_.string() + ": " + errno_text());
    return {};
  }
  if (::fsync(fd_) != 0) return fail("io.write", "cannot flush " + target_.string() + ": " + errno_text());
  int rc = ::close(fd_);
  fd_ = -1;
  if (rc != 0) return fail("io.write", "cannot close " + target_.string() + ": " + errno_text());
  if (::rename(temp_.c_str(), target_.c_str()) != 0)
    return fail("io.rename", "cannot move output into place at " + target_.string() + ": " + errno_text());
  temp_.clear();
  return {};
}

}  // namespace ward
