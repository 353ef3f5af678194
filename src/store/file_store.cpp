// The file backend: a directory of blobs, each at <dir>/<hex>.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <limits>
#include <sys/stat.h>
#include <system_error>
#include <vector>

#include "base/file.h"
#include "base/unique_fd.h"
#include "store/backends.h"

namespace ward::store::detail {
namespace {

namespace fs = std::filesystem;

std::string errno_text() {
  return std::strerror(errno);
}

// Local I/O errors from base carry "io.*" codes; a store reports "store.io".
std::unexpected<Error> io_error(const Error& e) {
  return fail("store.io", e.message);
}

class FileStore final : public Store {
 public:
  explicit FileStore(fs::path dir) : dir_(std::move(dir)) {}

  std::string uri() const override { return "file://" + dir_.string(); }

  Result<BlobInfo> put_file(const fs::path& path, Progress* progress) override {
    auto source = SourceFile::open(path);
    if (!source) return std::unexpected(source.error());
    auto digest = source->hash(path);
    if (!digest) return std::unexpected(digest.error());
    const BlobInfo info = info_of(*digest, source->size());
    if (already_stored(*digest, source->size())) {
      if (progress) progress->advance(source->size());
      return info;
    }
    auto out = AtomicFile::create(blob_path(*digest));
    if (!out) return io_error(out.error());
    // Hash again while copying: the copy is committed only if the bytes
    // written are the bytes the name was computed from.
    crypto::Hasher hasher(crypto::HashAlg::Sha256);
    std::vector<std::uint8_t> buf(kChunk);
    off_t offset = 0;
    for (;;) {
      auto n = pread_full(source->fd(), buf, offset);
      if (!n) return fail("store.io", "reading " + path.string() + ": " + n.error().message);
      if (*n == 0) break;
      const ByteView chunk(buf.data(), *n);
      hasher.update(chunk);
      if (auto w = out->write(chunk); !w)
        return fail("store.io", "writing " + info.uri + ": " + w.error().message);
      offset += static_cast<off_t>(*n);
      if (progress) progress->advance(*n);
    }
    if (finish_sha256(hasher) != *digest)
      return fail("store.io", path.string() + " changed while it was being stored");
    if (auto c = out->commit(); !c) return io_error(c.error());
    return info;
  }

  Result<BlobInfo> put_hashed_file(const fs::path& path, const crypto::Sha256Digest& digest,
                                   Progress* progress) override {
    auto source = SourceFile::open(path);
    if (!source) return std::unexpected(source.error());
    const BlobInfo info = info_of(digest, source->size());
    if (already_stored(digest, source->size())) {
      if (progress) progress->advance(source->size());
      return info;
    }
    auto linked = link_into_place(*source, path, digest);
    if (!linked) return std::unexpected(linked.error());
    if (*linked) {
      if (progress) progress->advance(source->size());
      return info;
    }
    auto out = AtomicFile::create(blob_path(digest));
    if (!out) return io_error(out.error());
    if (auto ok = copy_all(source->fd(), path, *out, info.uri, progress); !ok)
      return std::unexpected(ok.error());
    if (auto c = out->commit(); !c) return io_error(c.error());
    return info;
  }

  std::optional<fs::path> staging_dir() const override { return dir_; }

  Result<BlobInfo> put_bytes(ByteView bytes) override {
    if (bytes.size() > kMaxBlobSize) return fail("store.too_large", "blobs over 1 TiB are not stored");
    const crypto::Sha256Digest digest = crypto::sha256(bytes);
    const BlobInfo info = info_of(digest, bytes.size());
    if (already_stored(digest, bytes.size())) return info;
    auto out = AtomicFile::create(blob_path(digest));
    if (!out) return io_error(out.error());
    if (auto w = out->write(bytes); !w)
      return fail("store.io", "writing " + info.uri + ": " + w.error().message);
    if (auto c = out->commit(); !c) return io_error(c.error());
    return info;
  }

  Result<std::optional<std::uint64_t>> head(const crypto::Sha256Digest& digest) override {
    struct stat st;
    if (::stat(blob_path(digest).c_str(), &st) != 0) {
      if (errno == ENOENT || errno == ENOTDIR) return std::nullopt;
      return fail("store.io", "cannot stat " + blob_path(digest).string() + ": " + errno_text());
    }
    if (!S_ISREG(st.st_mode)) return fail("store.io", blob_path(digest).string() + " is not a regular file");
    return std::optional<std::uint64_t>(static_cast<std::uint64_t>(st.st_size));
  }

  Result<BlobInfo> get_stream(const crypto::Sha256Digest& digest, std::uint64_t max_size,
                              const Sink& sink) override {
    return read_blob(digest, max_size, sink);
  }

  Result<Bytes> get_range(const crypto::Sha256Digest& digest, std::uint64_t offset, std::uint64_t length) override {
    if (length > kMaxRangeSize) return fail("store.too_large", "ranges over 16 MiB are read whole");
    auto fd = open_blob(digest);
    if (!fd) return std::unexpected(fd.error());
    Bytes out(static_cast<std::size_t>(length));
    if (offset > static_cast<std::uint64_t>(std::numeric_limits<off_t>::max())) return Bytes{};
    auto n = pread_full(fd->get(), out, static_cast<off_t>(offset));
    if (!n) return fail("store.io", "reading " + blob_path(digest).string() + ": " + n.error().message);
    out.resize(*n);
    return out;
  }

 private:
  fs::path blob_path(const crypto::Sha256Digest& digest) const { return dir_ / digest_hex(digest); }

  BlobInfo info_of(const crypto::Sha256Digest& digest, std::uint64_t size) const {
    return BlobInfo{uri() + "/" + digest_hex(digest), digest, size};
  }

  Result<UniqueFd> open_blob(const crypto::Sha256Digest& digest) const {
    const fs::path path = blob_path(digest);
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) {
      if (errno == ENOENT || errno == ENOTDIR) return fail("store.not_found", "no blob " + info_of(digest, 0).uri);
      return fail("store.io", "cannot open " + path.string() + ": " + errno_text());
    }
    return fd;
  }

  // Copies all of `fd` into `out`, in large reads.
  static Result<void> copy_all(int fd, const fs::path& path, AtomicFile& out, const std::string& uri,
                               Progress* progress) {
    std::vector<std::uint8_t> buf(kChunk);
    off_t offset = 0;
    for (;;) {
      auto n = pread_full(fd, buf, offset);
      if (!n) return fail("store.io", "reading " + path.string() + ": " + n.error().message);
      if (*n == 0) return {};
      if (auto w = out.write(ByteView(buf.data(), *n)); !w)
        return fail("store.io", "writing " + uri + ": " + w.error().message);
      offset += static_cast<off_t>(*n);
      if (progress) progress->advance(*n);
    }
  }

  // A blob of the right size is taken as stored; one of another size (a
  // damaged copy) is replaced.
  // Gives the caller's private file the blob's name as a second link, made
  // readable and flushed like a copy would be: false where the file systems
  // differ (or do not link), and the caller copies instead.
  Result<bool> link_into_place(const SourceFile& source, const fs::path& path,
                               const crypto::Sha256Digest& digest) const {
    const fs::path blob = blob_path(digest);
    if (::fchmod(source.fd(), 0644) != 0 || ::fsync(source.fd()) != 0)
      return fail("store.io", "cannot prepare " + path.string() + " for the store: " + errno_text());
    if (::link(path.c_str(), blob.c_str()) == 0) return true;
    // Stored meanwhile; or a damaged blob of another size, which the copy replaces.
    if (errno == EEXIST) return already_stored(digest, source.size());
    if (errno == EXDEV || errno == EPERM || errno == EMLINK || errno == EOPNOTSUPP) return false;
    return fail("store.io", "cannot link " + path.string() + " to " + blob.string() + ": " + errno_text());
  }

  bool already_stored(const crypto::Sha256Digest& digest, std::uint64_t size) const {
    struct stat st;
    return ::stat(blob_path(digest).c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
           static_cast<std::uint64_t>(st.st_size) == size;
  }

  // Streams the blob to `sink`, at most `max_size` bytes, and checks that
  // it hashes to its name. The caller must discard what `sink` got unless
  // this succeeds.
  Result<BlobInfo> read_blob(const crypto::Sha256Digest& digest, std::uint64_t max_size,
                             const Sink& sink) const {
    const fs::path path = blob_path(digest);
    const BlobInfo info = info_of(digest, 0);
    auto blob = open_blob(digest);
    if (!blob) return std::unexpected(blob.error());
    const int fd = blob->get();
    max_size = std::min(max_size, kMaxBlobSize);
    struct stat st;
    if (::fstat(fd, &st) != 0) return fail("store.io", "cannot stat " + path.string() + ": " + errno_text());
    if (!S_ISREG(st.st_mode)) return fail("store.io", path.string() + " is not a regular file");
    if (static_cast<std::uint64_t>(st.st_size) > max_size) return too_large(info, max_size);
    crypto::Hasher hasher(crypto::HashAlg::Sha256);
    std::vector<std::uint8_t> buf(kChunk);
    std::uint64_t total = 0;
    for (;;) {
      auto n = read_full(fd, buf);
      if (!n) return fail("store.io", "reading " + path.string() + ": " + n.error().message);
      if (*n == 0) break;
      total += *n;
      if (total > max_size) return too_large(info, max_size);  // it grew
      const ByteView chunk(buf.data(), *n);
      hasher.update(chunk);
      if (auto s = sink(chunk); !s) return std::unexpected(s.error());
    }
    const crypto::Sha256Digest got = finish_sha256(hasher);
    if (got != digest) {
      return fail("store.digest",
                  "blob " + info.uri + " is corrupt: its bytes hash to " + digest_hex(got) + " instead");
    }
    return BlobInfo{info.uri, digest, total};
  }

  static std::unexpected<Error> too_large(const BlobInfo& info, std::uint64_t max_size) {
    return fail("store.too_large",
                "blob " + info.uri + " is larger than " + std::to_string(max_size) + " bytes");
  }

  fs::path dir_;
};

}  // namespace

Result<std::unique_ptr<Store>> open_file_store(const fs::path& dir, bool create) {
  std::error_code ec;
  if (create) {
    fs::create_directories(dir, ec);
    if (ec)
      return fail("store.io", "cannot create the store directory " + dir.string() + ": " + ec.message());
  }
  if (fs::exists(dir, ec) && !fs::is_directory(dir, ec))
    return fail("store.io", "the store " + dir.string() + " is not a directory");
  return std::unique_ptr<Store>(std::make_unique<FileStore>(dir));
}

}  // namespace ward::store::detail
