// File I/O that fails with a clear Error and never leaves a half-written file.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>

#include "base/bytes.h"
#include "base/error.h"

namespace ward {

// Reads a whole file, refusing files larger than `max_size` bytes.
Result<Bytes> read_file(const std::filesystem::path& path, std::size_t max_size);

// Writes to a temporary file beside `path`; commit() fsyncs and renames it into
// place. Destroying an uncommitted AtomicFile removes the temporary file, so a
// failure part way never leaves partial output at `path`. When `path` already
// exists and is not a regular file (/dev/null, /dev/stdout, a FIFO), it is
// written in place: there is nothing to rename over it.
class AtomicFile {
 public:
  static Result<AtomicFile> create(const std::filesystem::path& path, unsigned mode = 0644);
  AtomicFile(AtomicFile&& other) noexcept;
  AtomicFile& operator=(AtomicFile&&) = delete;
  AtomicFile(const AtomicFile&) = delete;
  ~AtomicFile();

  int fd() const { return fd_; }
  Result<void> write(ByteView data);
  Result<void> commit();

 private:
  AtomicFile(std::filesystem::path target, std::filesystem::path temp, int fd)
      : target_(std::move(target)), temp_(std::move(temp)), fd_(fd) {}
  // temp_ is empty when writing in place.
  std::filesystem::path target_;
  std::filesystem::path temp_;
  int fd_ = -1;
};

// Writes all of `data` to `fd`, retrying short writes and EINTR.
Result<void> write_all(int fd, ByteView data);
// Reads up to `out.size()` bytes, stopping early only at end of input.
// Returns the number of bytes read.
Result<std::size_t> read_full(int fd, std::span<std::uint8_t> out);

}  // namespace ward
