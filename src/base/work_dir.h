// A private working directory removed with everything in it when its
// WorkDir is destroyed: downloads stage their tree in one next to the
// output, uploads keep their ciphertext in one, and the loader runs each
// order in one, so a failure leaves nothing behind however it happens.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <sys/types.h>

#include "base/error.h"

namespace ward {

class WorkDir {
 public:
  // A new directory in `parent` named `prefix` + six random characters.
  // Errors: "io.open".
  static Result<WorkDir> create(const std::filesystem::path& parent, std::string_view prefix,
                                mode_t mode = 0700);
  // The directory `path`, made empty: what a previous owner left there (a
  // process killed mid-way) is removed first; `path`'s parent is created.
  // Errors: "io.open", "io.remove".
  static Result<WorkDir> create_at(const std::filesystem::path& path, mode_t mode = 0700);

  WorkDir(WorkDir&& other) noexcept : path_(std::move(other.path_)) { other.path_.clear(); }
  WorkDir& operator=(WorkDir&&) = delete;
  WorkDir(const WorkDir&) = delete;
  ~WorkDir();

  const std::filesystem::path& path() const { return path_; }

 private:
  explicit WorkDir(std::filesystem::path path) : path_(std::move(path)) {}
  std::filesystem::path path_;
};

// Removes `path` and everything below it without following symlinks, making
// read-only directories (an image's 0555 /proc) writable to empty them. A
// missing `path` is not an error. Errors: "io.remove".
Result<void> remove_tree(const std::filesystem::path& path);
// The same for the entry `name` of the directory open at `dirfd`.
Result<void> remove_tree_at(int dirfd, const std::string& name);

}  // namespace ward
