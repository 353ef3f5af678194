// The deterministic tar a "dir" resource is made of, and its safe extraction.
// Internal to src/files (libarchive stays behind this header).
//
// The tar (POSIX pax, restricted) holds the directory's regular files and
// subdirectories, paths relative to it, in bytewise order of their paths,
// with mtime 0, uid and gid 0, no user or group names, mode 0755 for
// directories and for files any execute bit is set on, 0644 for the others.
// The same tree always gives the same bytes.
#pragma once

#include <filesystem>
#include <memory>

#include "age/stream.h"
#include "base/error.h"

namespace ward::files::detail {

// Produces the tar of a directory on demand, reading one file at a time, so
// the tar itself is never stored. Errors: "files.dir" (a symlink or special
// file in the tree, a file that changed while read), "io.*", "files.tar".
class DirTarReader final : public age::Reader {
 public:
  static Result<std::unique_ptr<DirTarReader>> open(const std::filesystem::path& dir);
  ~DirTarReader() override;
  Result<std::size_t> read(std::span<std::uint8_t> out) override;

 private:
  struct Impl;
  explicit DirTarReader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Extracts the tar read from `fd` into `dest`, an existing empty directory.
// Only regular files and directories; every path must be relative, without
// "." or ".." components, and new (no entry twice). Errors: "files.tar".
Result<void> extract_tar(int fd, const std::filesystem::path& dest);

}  // namespace ward::files::detail
