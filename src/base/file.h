// File I/O that fails with a clear Error and never leaves a half-written file.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <sys/types.h>
#include <vector>

#include "base/bytes.h"
#include "base/error.h"

namespace ward {

// Reads a whole file, refusing files larger than `max_size` bytes.
Result<Bytes> read_file(const std::filesystem::path& path, std::size_t max_size);

// Output that appears at `path` only when complete. The data goes to an
// unnamed file in the target's directory (O_TMPFILE; a hidden temporary name
// on file systems without it), and commit() fsyncs it and links it into
// place. Destroying an uncommitted AtomicFile, or the process dying, leaves
// nothing at `path`. When `path` exists and is not a regular file
// (/dev/null, /dev/stdout, a FIFO), it is written in place instead: there is
// nothing to rename over it.
class AtomicFile {
 public:
  enum class Replace { Yes, No };

  static Result<AtomicFile> create(const std::filesystem::path& path, unsigned mode = 0644);
  AtomicFile(AtomicFile&& other) noexcept;
  AtomicFile& operator=(AtomicFile&&) = delete;
  AtomicFile(const AtomicFile&) = delete;
  ~AtomicFile();

  int fd() const { return fd_; }
  Result<void> write(ByteView data);
  // With Replace::No, fails with "io.exists" (and leaves the existing file
  // alone) if something appeared at the path meanwhile.
  Result<void> commit(Replace replace = Replace::Yes);

 private:
  enum class Kind { Unnamed, Named, InPlace };
  AtomicFile(std::filesystem::path target, Kind kind, std::filesystem::path temp, int fd)
      : target_(std::move(target)), kind_(kind), temp_(std::move(temp)), fd_(fd) {}
  std::filesystem::path target_;
  Kind kind_;
  std::filesystem::path temp_;  // a named temporary file to remove on failure
  int fd_ = -1;
};

// Writes all of `data` to `fd`, retrying short writes and EINTR.
Result<void> write_all(int fd, ByteView data);
// Positional forms: at `offset`, leaving the file offset alone.
Result<void> pwrite_all(int fd, ByteView data, off_t offset);
Result<std::size_t> pread_full(int fd, std::span<std::uint8_t> out, off_t offset);
// Reads up to `out.size()` bytes, stopping early only at end of input.
// Returns the number of bytes read.
Result<std::size_t> read_full(int fd, std::span<std::uint8_t> out);

// The names in the directory open at `dirfd`, all but "." and "..", read
// from the start through a duplicate of `dirfd`: no new open, so a directory
// whose mode shuts out even its owner can still be listed. Errors: "io.read".
Result<std::vector<std::string>> list_dir_names(int dirfd);

}  // namespace ward
