// A private temporary directory (mode 0700) removed with everything in it
// when the WorkDir is destroyed. Internal to src/files: downloads keep their
// ciphertext and staging tree in one next to the output, so a failure leaves
// nothing at the output and one rename publishes it.
#pragma once

#include <filesystem>
#include <string_view>

#include "base/error.h"

namespace ward::files::detail {

class WorkDir {
 public:
  // A new directory in `parent` named `prefix` + random characters.
  // Errors: "io.open".
  static Result<WorkDir> create(const std::filesystem::path& parent, std::string_view prefix);
  WorkDir(WorkDir&& other) noexcept : path_(std::move(other.path_)) { other.path_.clear(); }
  WorkDir& operator=(WorkDir&&) = delete;
  WorkDir(const WorkDir&) = delete;
  ~WorkDir();

  const std::filesystem::path& path() const { return path_; }

 private:
  explicit WorkDir(std::filesystem::path path) : path_(std::move(path)) {}
  std::filesystem::path path_;
};

}  // namespace ward::files::detail
