#include "files/workdir.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <system_error>

namespace ward::files::detail {

Result<WorkDir> WorkDir::create(const std::filesystem::path& parent, std::string_view prefix) {
  std::string name = (parent / (std::string(prefix) + "XXXXXX")).string();
  if (::mkdtemp(name.data()) == nullptr)
    return fail("io.open", "cannot create a temporary directory in " + parent.string() + ": " + std::strerror(errno));
  return WorkDir(std::filesystem::path(name));
}

WorkDir::~WorkDir() {
  if (path_.empty()) return;
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

}  // namespace ward::files::detail
