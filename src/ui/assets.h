// The web app's files (src/ui/web/), embedded in the binary at build time by
// embed.cmake, so `ward ui` serves exactly what was built and reads nothing
// from disk.
#pragma once

#include <span>
#include <string_view>

namespace ward::ui {

struct Asset {
  std::string_view path;  // "/index.html", "/app.js", ...
  std::string_view content_type;
  std::string_view bytes;
};

std::span<const Asset> assets();

}  // namespace ward::ui
