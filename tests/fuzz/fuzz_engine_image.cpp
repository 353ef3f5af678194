// Engine images as the loader receives them from an engine owner. The first
// byte picks what the rest is:
//   0: a whole image file (OCI layout tar or docker save archive): inspected,
//      and unpacked when it verifies;
//   1: one layer tar, wrapped here into an OCI layout with matching digests
//      (its diff_id is its own SHA-256, so uncompressed layers verify) and
//      unpacked, to reach the extractor's path, link and whiteout handling.
// Nothing may crash, and nothing may ever appear outside the rootfs: the
// scratch directory must hold only what this harness put there.
#include <stdlib.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "base/bytes.h"
#include "base/work_dir.h"
#include "crypto/hash.h"
#include "engine/image.h"

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

const fs::path& scratch() {
  static const fs::path dir = [] {
    std::string templ = (fs::temp_directory_path() / "fuzz-engine-image-XXXXXX").string();
    if (!::mkdtemp(templ.data())) std::abort();
    return fs::path(templ);
  }();
  return dir;
}

void write(const fs::path& path, ward::ByteView data) {
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
}

std::string digest(ward::ByteView data) {
  return "sha256:" + ward::hex_encode(ward::crypto::sha256(data));
}

// Writes `data` as a blob and returns its descriptor.
json put_blob(const fs::path& layout, ward::ByteView data, const char* media_type) {
  const std::string d = digest(data);
  write(layout / "blobs/sha256" / d.substr(7), data);
  return {{"mediaType", media_type}, {"digest", d}, {"size", data.size()}};
}

void wrap_layer(const fs::path& layout, ward::ByteView layer) {
  fs::create_directories(layout / "blobs/sha256");
  const json layer_desc = put_blob(layout, layer, "application/vnd.oci.image.layer.v1.tar");
  const std::string config = json{
      {"rootfs", {{"type", "layers"}, {"diff_ids", {layer_desc["digest"]}}}},
      {"config", json::object()}}.dump();
  const json config_desc =
      put_blob(layout, ward::as_bytes(config), "application/vnd.oci.image.config.v1+json");
  const std::string manifest =
      json{{"schemaVersion", 2}, {"config", config_desc}, {"layers", {layer_desc}}}.dump();
  const json manifest_desc =
      put_blob(layout, ward::as_bytes(manifest), "application/vnd.oci.image.manifest.v1+json");
  const std::string index = json{{"schemaVersion", 2}, {"manifests", {manifest_desc}}}.dump();
  write(layout / "index.json", ward::as_bytes(index));
}

void check_nothing_escaped(const fs::path& expected_only) {
  for (const auto& e : fs::directory_iterator(scratch()))
    if (e.path() != expected_only) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const ward::ByteView input(data + 1, size - 1);
  const fs::path image = scratch() / "image";
  const fs::path rootfs = scratch() / "rootfs";
  const ward::engine::UnpackLimits limits{.max_bytes = 1 << 22, .max_entries = 4096};
  if (data[0] == 0) {
    write(image, input);
    if (ward::engine::inspect_image(image)) {
      auto unpacked = ward::engine::unpack_image(image, rootfs, limits);
      if (!unpacked && fs::exists(rootfs)) std::abort();  // a failed unpack must clean up
    }
  } else {
    wrap_layer(image, input);
    auto unpacked = ward::engine::unpack_image(image, rootfs, limits);
    if (!unpacked && fs::exists(rootfs)) std::abort();
  }
  (void)ward::remove_tree(rootfs);
  check_nothing_escaped(image);
  (void)ward::remove_tree(image);
  return 0;
}
