#include "files/tar.h"

#include <algorithm>
#include <archive.h>
#include <archive_entry.h>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <string>
#include <string_view>
#include <sys/stat.h>
#include <system_error>
#include <unistd.h>
#include <vector>

#include "base/file.h"

namespace ward::files::detail {
namespace {

constexpr std::size_t kReadSize = 64 * 1024;
// Deeper trees than this are refused rather than walked recursively.
constexpr int kMaxDepth = 256;
constexpr std::size_t kMaxPathSize = 4096;

std::unexpected<Error> tar_error(struct archive* a, const std::string& what) {
  const char* message = a ? archive_error_string(a) : nullptr;
  return fail("files.tar", what + (message ? std::string(": ") + message : std::string()));
}

struct Entry {
  std::string rel;
  bool dir = false;
};

Result<void> collect(const std::filesystem::path& root, const std::string& prefix, int depth,
                     std::vector<Entry>& entries) {
  if (depth > kMaxDepth) return fail("files.dir", root.string() + " is nested deeper than 256 directories");
  std::error_code ec;
  const std::filesystem::path dir = prefix.empty() ? root : root / prefix;
  std::filesystem::directory_iterator it(dir, ec);
  if (ec) return fail("io.open", "cannot read directory " + dir.string() + ": " + ec.message());
  for (; it != std::filesystem::directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    const std::string rel = prefix.empty() ? name : prefix + "/" + name;
    const auto status = it->symlink_status(ec);
    if (ec) return fail("io.open", "cannot stat " + it->path().string() + ": " + ec.message());
    if (std::filesystem::is_directory(status)) {
      entries.push_back({rel, true});
      if (auto ok = collect(root, rel, depth + 1, entries); !ok) return ok;
    } else if (std::filesystem::is_regular_file(status)) {
      entries.push_back({rel, false});
    } else {
      return fail("files.dir", it->path().string() +
                                   " is neither a regular file nor a directory (only those are uploaded)");
    }
  }
  if (ec) return fail("io.open", "cannot read directory " + dir.string() + ": " + ec.message());
  return {};
}

la_ssize_t append_to_buffer(struct archive*, void* client_data, const void* data, size_t size) {
  auto* buffer = static_cast<Bytes*>(client_data);
  const auto* bytes = static_cast<const std::uint8_t*>(data);
  buffer->insert(buffer->end(), bytes, bytes + size);
  return static_cast<la_ssize_t>(size);
}

// A relative path with no empty, "." or ".." component (a trailing '/' on a
// directory allowed), so joining it to the destination stays inside it.
bool safe_relative_path(std::string_view path, bool dir) {
  if (dir && path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  if (path.empty() || path.size() > kMaxPathSize || path.front() == '/') return false;
  std::size_t start = 0;
  while (start <= path.size()) {
    const std::size_t end = std::min(path.find('/', start), path.size());
    const std::string_view part = path.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") return false;
    start = end + 1;
  }
  return true;
}

std::string errno_text() { return std::strerror(errno); }

}  // namespace

struct DirTarReader::Impl {
  std::filesystem::path root;
  std::vector<Entry> entries;
  std::size_t next = 0;
  struct archive* archive = nullptr;
  Bytes buffer;
  std::size_t pos = 0;
  int fd = -1;
  std::string current;
  std::uint64_t remaining = 0;
  bool finished = false;

  ~Impl() {
    if (fd >= 0) ::close(fd);
    if (archive) archive_write_free(archive);
  }

  Result<void> start_entry(const Entry& e) {
    struct archive_entry* entry = archive_entry_new();
    if (!entry) return fail("files.tar", "out of memory");
    archive_entry_copy_pathname(entry, e.rel.c_str());
    archive_entry_set_mtime(entry, 0, 0);
    archive_entry_set_uid(entry, 0);
    archive_entry_set_gid(entry, 0);
    if (e.dir) {
      archive_entry_set_filetype(entry, AE_IFDIR);
      archive_entry_set_perm(entry, 0755);
    } else {
      const auto path = root / e.rel;
      fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
      struct stat st {};
      if (fd < 0 || ::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        archive_entry_free(entry);
        return fail("files.dir", "cannot read " + path.string() + " as a regular file: " + errno_text());
      }
      current = path.string();
      remaining = static_cast<std::uint64_t>(st.st_size);
      archive_entry_set_filetype(entry, AE_IFREG);
      archive_entry_set_perm(entry, (st.st_mode & 0111) ? 0755 : 0644);
      archive_entry_set_size(entry, st.st_size);
    }
    const int r = archive_write_header(archive, entry);
    archive_entry_free(entry);
    if (r < ARCHIVE_WARN) return tar_error(archive, "writing the tar entry for " + e.rel);
    return {};
  }

  Result<void> file_data() {
    Bytes chunk(static_cast<std::size_t>(std::min<std::uint64_t>(remaining, kReadSize)));
    if (!chunk.empty()) {
      auto n = read_full(fd, chunk);
      if (!n) return std::unexpected(n.error());
      if (*n != chunk.size()) return fail("files.dir", current + " shrank while it was read");
      if (archive_write_data(archive, chunk.data(), chunk.size()) != static_cast<la_ssize_t>(chunk.size()))
        return tar_error(archive, "writing " + current + " into the tar");
      remaining -= chunk.size();
    }
    if (remaining == 0) {
      std::uint8_t extra = 0;
      auto n = read_full(fd, std::span<std::uint8_t>(&extra, 1));
      if (!n) return std::unexpected(n.error());
      if (*n != 0) return fail("files.dir", current + " grew while it was read");
      ::close(fd);
      fd = -1;
    }
    return {};
  }

  // One step: a file's next piece, the next entry's header, or the end.
  Result<void> step() {
    if (fd >= 0) return file_data();
    if (next < entries.size()) return start_entry(entries[next++]);
    if (archive_write_close(archive) != ARCHIVE_OK) return tar_error(archive, "finishing the tar");
    finished = true;
    return {};
  }
};

DirTarReader::DirTarReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DirTarReader::~DirTarReader() = default;

Result<std::unique_ptr<DirTarReader>> DirTarReader::open(const std::filesystem::path& dir) {
  auto impl = std::make_unique<Impl>();
  impl->root = dir;
  if (auto ok = collect(dir, "", 0, impl->entries); !ok) return std::unexpected(ok.error());
  std::sort(impl->entries.begin(), impl->entries.end(),
            [](const Entry& a, const Entry& b) { return a.rel < b.rel; });
  impl->archive = archive_write_new();
  if (!impl->archive) return fail("files.tar", "out of memory");
  if (archive_write_set_format_pax_restricted(impl->archive) != ARCHIVE_OK ||
      archive_write_open(impl->archive, &impl->buffer, nullptr, append_to_buffer, nullptr) != ARCHIVE_OK)
    return tar_error(impl->archive, "starting the tar");
  return std::unique_ptr<DirTarReader>(new DirTarReader(std::move(impl)));
}

Result<std::size_t> DirTarReader::read(std::span<std::uint8_t> out) {
  Impl& s = *impl_;
  std::size_t filled = 0;
  while (filled < out.size()) {
    if (s.pos < s.buffer.size()) {
      const std::size_t n = std::min(out.size() - filled, s.buffer.size() - s.pos);
      std::copy_n(s.buffer.begin() + static_cast<std::ptrdiff_t>(s.pos), n, out.begin() + static_cast<std::ptrdiff_t>(filled));
      s.pos += n;
      filled += n;
      continue;
    }
    s.buffer.clear();
    s.pos = 0;
    if (s.finished) break;
    if (auto ok = s.step(); !ok) return std::unexpected(ok.error());
  }
  return filled;
}

Result<void> extract_tar(int fd, const std::filesystem::path& dest) {
  struct archive* a = archive_read_new();
  if (!a) return fail("files.tar", "out of memory");
  struct Closer {
    struct archive* a;
    ~Closer() { archive_read_free(a); }
  } closer{a};
  if (archive_read_support_format_tar(a) != ARCHIVE_OK || archive_read_open_fd(a, fd, kReadSize) != ARCHIVE_OK)
    return tar_error(a, "opening the tar");
  struct archive_entry* entry = nullptr;
  for (;;) {
    const int r = archive_read_next_header(a, &entry);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) return tar_error(a, "reading the tar");
    const char* name = archive_entry_pathname(entry);
    if (!name) return fail("files.tar", "a tar entry has no path");
    const std::string path = name;
    const auto type = archive_entry_filetype(entry);
    const bool dir = type == AE_IFDIR;
    if (archive_entry_hardlink(entry) || archive_entry_symlink(entry) || (type != AE_IFREG && !dir))
      return fail("files.tar", "tar entry \"" + path.substr(0, 200) + "\" is neither a regular file nor a directory");
    if (!safe_relative_path(path, dir))
      return fail("files.tar", "tar entry \"" + path.substr(0, 200) + "\" is not a safe relative path");
    const std::filesystem::path target = dest / path;
    std::error_code ec;
    if (dir) {
      if (::mkdir(target.c_str(), 0755) != 0) {
        const int err = errno;
        // A directory named again (or made earlier as a file's parent) is fine.
        if (err != EEXIST || !std::filesystem::is_directory(std::filesystem::symlink_status(target, ec)))
          return fail("files.tar", "cannot create directory " + path.substr(0, 200) + ": " + std::strerror(err));
      }
      continue;
    }
    std::filesystem::create_directories(target.parent_path(), ec);
    if (ec) return fail("files.tar", "cannot create the directory of " + path.substr(0, 200) + ": " + ec.message());
    const mode_t mode = (archive_entry_perm(entry) & 0111) ? 0755 : 0644;
    const int out = ::open(target.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (out < 0) return fail("files.tar", "cannot create " + path.substr(0, 200) + ": " + errno_text());
    Result<void> written;
    for (;;) {
      const void* data = nullptr;
      size_t size = 0;
      la_int64_t offset = 0;
      const int rr = archive_read_data_block(a, &data, &size, &offset);
      if (rr == ARCHIVE_EOF) break;
      if (rr < ARCHIVE_WARN) {
        written = tar_error(a, "reading " + path.substr(0, 200) + " from the tar");
        break;
      }
      written = pwrite_all(out, ByteView(static_cast<const std::uint8_t*>(data), size), offset);
      if (!written) break;
    }
    if (written && archive_entry_size_is_set(entry) && ::ftruncate(out, archive_entry_size(entry)) != 0)
      written = fail("io.write", "cannot size " + path.substr(0, 200) + ": " + errno_text());
    ::close(out);
    if (!written) return written;
  }
  return {};
}

}  // namespace ward::files::detail
