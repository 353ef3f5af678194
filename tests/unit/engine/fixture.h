// Building engine images by hand for the tests: layer tars (plain, gzip,
// zstd) with any entries, OCI layouts whose every digest can be made wrong,
// and docker save archives.
#pragma once

#include <archive.h>
#include <archive_entry.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <sys/stat.h>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "base/bytes.h"
#include "base/work_dir.h"
#include "crypto/hash.h"
#include "engine/image.h"

namespace ward::engine::testing {

using json = nlohmann::json;

inline std::string digest_of(ByteView data) {
  return "sha256:" + hex_encode(crypto::sha256(data));
}
inline std::string digest_of(const std::string& data) {
  return digest_of(as_bytes(data));
}

// A scratch directory (searchable by other uids, for root runs of the
// sandbox tests) removed afterwards whatever its modes.
class TempDir {
 public:
  TempDir() {
    std::string templ = (std::filesystem::temp_directory_path() / "ward-engine-test-XXXXXX").string();
    EXPECT_NE(::mkdtemp(templ.data()), nullptr);
    ::chmod(templ.c_str(), 0711);
    path_ = templ;
  }
  ~TempDir() { (void)ward::remove_tree(path_); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

inline void write_text(const std::filesystem::path& path, const std::string& data, mode_t mode = 0644) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << data;
  ::chmod(path.c_str(), mode);
}

inline std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// One entry of a layer tar.
struct TarEntry {
  enum Type { File, Dir, Symlink, Hardlink, Fifo } type = File;
  std::string path;
  std::string data;  // file content, or the link's target
  mode_t mode = 0644;
};

enum class Compression { None, Gzip, Zstd };

inline Bytes make_tar(const std::vector<TarEntry>& entries, Compression compression = Compression::None) {
  Bytes out;
  archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  if (compression == Compression::Gzip) archive_write_add_filter_gzip(a);
  if (compression == Compression::Zstd) archive_write_add_filter_zstd(a);
  archive_write_set_bytes_in_last_block(a, 1);
  archive_write_open(
      a, &out, nullptr,
      [](archive*, void* self, const void* buf, size_t len) -> la_ssize_t {
        auto* o = static_cast<Bytes*>(self);
        o->insert(o->end(), static_cast<const std::uint8_t*>(buf),
                  static_cast<const std::uint8_t*>(buf) + len);
        return static_cast<la_ssize_t>(len);
      },
      nullptr);
  for (const auto& e : entries) {
    archive_entry* entry = archive_entry_new();
    archive_entry_set_pathname(entry, e.path.c_str());
    archive_entry_set_perm(entry, e.mode);
    switch (e.type) {
      case TarEntry::File:
        archive_entry_set_filetype(entry, AE_IFREG);
        archive_entry_set_size(entry, static_cast<la_int64_t>(e.data.size()));
        break;
      case TarEntry::Dir:
        archive_entry_set_filetype(entry, AE_IFDIR);
        break;
      case TarEntry::Symlink:
        archive_entry_set_filetype(entry, AE_IFLNK);
        archive_entry_set_symlink(entry, e.data.c_str());
        break;
      case TarEntry::Hardlink:
        archive_entry_set_filetype(entry, AE_IFREG);
        archive_entry_set_hardlink(entry, e.data.c_str());
        break;
      case TarEntry::Fifo:
        archive_entry_set_filetype(entry, AE_IFIFO);
        break;
    }
    archive_write_header(a, entry);
    if (e.type == TarEntry::File) archive_write_data(a, e.data.data(), e.data.size());
    archive_entry_free(entry);
  }
  archive_write_close(a);
  archive_write_free(a);
  return out;
}

// The uncompressed tar of a layer: its diff_id.
inline std::string diff_id_of(const std::vector<TarEntry>& entries) {
  return digest_of(make_tar(entries));
}

struct Layer {
  std::vector<TarEntry> entries;
  Compression compression = Compression::None;
};

// An OCI image layout directory, with knobs to break it.
struct OciImage {
  std::vector<Layer> layers;
  std::vector<std::string> entrypoint = {"/bin/payload"};
  std::optional<std::vector<std::string>> diff_ids;  // the true ones unless set
  bool corrupt_config_digest = false;
  bool drop_last_layer_blob = false;
  bool two_manifests = false;

  // Writes it into `dir`; returns the config digest.
  std::string write(const std::filesystem::path& dir) const {
    std::filesystem::create_directories(dir / "blobs/sha256");
    const auto put = [&dir](ByteView data) {
      const std::string d = digest_of(data);
      std::ofstream(dir / "blobs/sha256" / d.substr(7), std::ios::binary)
          .write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
      return d;
    };
    json layer_descriptors = json::array();
    json ids = json::array();
    for (std::size_t i = 0; i < layers.size(); ++i) {
      const Bytes blob = make_tar(layers[i].entries, layers[i].compression);
      ids.push_back(diff_id_of(layers[i].entries));
      const std::string d = put(blob);
      if (drop_last_layer_blob && i + 1 == layers.size())
        std::filesystem::remove(dir / "blobs/sha256" / d.substr(7));
      layer_descriptors.push_back(
          {{"mediaType", "application/vnd.oci.image.layer.v1.tar"}, {"digest", d}, {"size", blob.size()}});
    }
    if (diff_ids) ids = *diff_ids;
    const std::string config =
        json{{"architecture", "amd64"},
             {"os", "linux"},
             {"config", {{"Entrypoint", entrypoint}, {"Env", {"A=b"}}, {"WorkingDir", "/"}}},
             {"rootfs", {{"type", "layers"}, {"diff_ids", ids}}}}
            .dump();
    std::string config_digest = put(as_bytes(config));
    const std::string true_config_digest = config_digest;
    if (corrupt_config_digest) config_digest = digest_of(std::string("something else"));
    const std::string manifest = json{
        {"schemaVersion", 2},
        {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
        {"config",
         {{"mediaType", "application/vnd.oci.image.config.v1+json"},
          {"digest", config_digest},
          {"size", config.size()}}},
        {"layers",
         layer_descriptors}}.dump();
    const std::string manifest_digest = put(as_bytes(manifest));
    json manifests = json::array();
    manifests.push_back({{"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                         {"digest", manifest_digest},
                         {"size", manifest.size()}});
    if (two_manifests) {
      const std::string other = json{
          {"schemaVersion", 2},
          {"config", json::parse(manifest)["config"]},
          {"layers", json::array()}}.dump();
      manifests.push_back({{"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                           {"digest", put(as_bytes(other))},
                           {"size", other.size()}});
    }
    write_text(dir / "index.json", json{{"schemaVersion", 2}, {"manifests", manifests}}.dump());
    write_text(dir / "oci-layout", R"({"imageLayoutVersion":"1.0.0"})");
    return true_config_digest;
  }
};

// A tar of the files under `dir`, named relative to it (like `tar -C dir .`).
inline void tar_directory(const std::filesystem::path& dir, const std::filesystem::path& out) {
  std::vector<TarEntry> entries;
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir))
    if (e.is_regular_file()) files.push_back(e.path());
  std::ranges::sort(files);
  for (const auto& f : files)
    entries.push_back({TarEntry::File, std::filesystem::relative(f, dir).string(), read_text(f)});
  const Bytes tar = make_tar(entries);
  std::ofstream(out, std::ios::binary)
      .write(reinterpret_cast<const char*>(tar.data()), static_cast<std::streamsize>(tar.size()));
}

}  // namespace ward::engine::testing
