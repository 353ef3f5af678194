#include "engine/image.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <sys/stat.h>
#include <unordered_set>
#include <utility>

#include <nlohmann/json.hpp>

#include "base/bytes.h"
#include "base/decimal.h"
#include "base/file.h"
#include "base/unique_fd.h"
#include "base/work_dir.h"
#include "crypto/hash.h"

namespace ward::engine {
namespace {

using json = nlohmann::json;

constexpr std::size_t kMaxJsonSize = std::size_t{4} << 20;  // index, manifests, config
constexpr std::size_t kBufferSize = std::size_t{1} << 16;
constexpr int kMaxIndexDepth = 4;
constexpr int kMaxLinkHops = 8;
constexpr std::size_t kMaxEntryPath = 4096;
constexpr std::uint64_t kMaxArchiveMembers = 1'000'000;
constexpr std::string_view kWhiteoutPrefix = ".wh.";
constexpr std::string_view kOpaqueMarker = ".wh..wh..opq";

#if defined(__x86_64__)
constexpr const char* kArchitecture = "amd64";
#elif defined(__aarch64__)
constexpr const char* kArchitecture = "arm64";
#else
constexpr const char* kArchitecture = "unknown";
#endif

std::string errno_text(int e = errno) {
  return std::strerror(e);
}

// A name from an archive as it may appear in a message: bounded in length.
std::string shown(std::string_view name) {
  return name.size() <= 200 ? std::string(name) : std::string(name.substr(0, 200)) + "...";
}


struct ReadArchiveFree {
  void operator()(archive* a) const { archive_read_free(a); }
};
struct WriteArchiveFree {
  void operator()(archive* a) const { archive_write_free(a); }
};
struct EntryFree {
  void operator()(archive_entry* e) const { archive_entry_free(e); }
};
using ReadArchive = std::unique_ptr<archive, ReadArchiveFree>;
using WriteArchive = std::unique_ptr<archive, WriteArchiveFree>;
using Entry = std::unique_ptr<archive_entry, EntryFree>;

std::string archive_message(archive* a) {
  const char* text = archive_error_string(a);
  return text ? text : "unknown libarchive error";
}

bool is_sha256_digest(std::string_view d) {
  if (d.size() != 71 || !d.starts_with("sha256:")) return false;
  return std::ranges::all_of(d.substr(7),
                             [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

std::string sha256_digest(ByteView data) {
  const auto d = crypto::sha256(data);
  return "sha256:" + hex_encode(d);
}

std::string blob_name(const std::string& digest) {
  return "blobs/sha256/" + digest.substr(7);
}

// "a/./b//c/" → "a/b/c"; nullopt for absolute names, empty ones and any "..".
std::optional<std::string> normalize_member(std::string_view name) {
  if (name.empty() || name.front() == '/') return std::nullopt;
  std::string out;
  while (!name.empty()) {
    const std::size_t slash = name.find('/');
    const std::string_view part = name.substr(0, slash);
    name = slash == std::string_view::npos ? std::string_view() : name.substr(slash + 1);
    if (part.empty() || part == ".") continue;
    if (part == "..") return std::nullopt;
    if (!out.empty()) out += '/';
    out += part;
  }
  if (out.empty()) return std::nullopt;
  return out;
}

// A forward-only byte stream.
class Stream {
 public:
  virtual ~Stream() = default;
  // Reads up to out.size() bytes; returns 0 only at the end.
  virtual Result<std::size_t> read(std::span<std::uint8_t> out) = 0;
};

Result<void> drain(Stream& s) {
  std::vector<std::uint8_t> buf(kBufferSize);
  for (;;) {
    auto n = s.read(buf);
    if (!n) return std::unexpected(n.error());
    if (*n == 0) return {};
  }
}

class FdStream final : public Stream {
 public:
  FdStream(UniqueFd fd, std::string name) : fd_(std::move(fd)), name_(std::move(name)) {}
  Result<std::size_t> read(std::span<std::uint8_t> out) override {
    for (;;) {
      const ssize_t n = ::read(fd_.get(), out.data(), out.size());
      if (n >= 0) return static_cast<std::size_t>(n);
      if (errno != EINTR) return fail("engine.image", "cannot read " + name_ + ": " + errno_text());
    }
  }

 private:
  UniqueFd fd_;
  std::string name_;
};

// One member of a tar, read in place.
class ArchiveMemberStream final : public Stream {
 public:
  ArchiveMemberStream(ReadArchive a, std::string name) : a_(std::move(a)), name_(std::move(name)) {}
  Result<std::size_t> read(std::span<std::uint8_t> out) override {
    const la_ssize_t n = archive_read_data(a_.get(), out.data(), out.size());
    if (n < 0) return fail("engine.image", "cannot read " + name_ + ": " + archive_message(a_.get()));
    return static_cast<std::size_t>(n);
  }

 private:
  ReadArchive a_;
  std::string name_;
};

// Hashes (SHA-256) and counts what passes through, failing past `limit`.
class HashingStream final : public Stream {
 public:
  HashingStream(Stream& inner, std::uint64_t limit, std::string what)
      : inner_(inner), limit_(limit), what_(std::move(what)) {}
  Result<std::size_t> read(std::span<std::uint8_t> out) override {
    auto n = inner_.read(out);
    if (!n) return n;
    count_ += *n;
    if (count_ > limit_)
      return fail("engine.limit", what_ + " exceeds the size limit of " + std::to_string(limit_) + " bytes");
    hasher_.update(ByteView(out.data(), *n));
    return n;
  }
  std::uint64_t count() const { return count_; }
  std::string digest() { return "sha256:" + hex_encode(hasher_.finish()); }

 private:
  Stream& inner_;
  std::uint64_t limit_;
  std::string what_;
  std::uint64_t count_ = 0;
  crypto::Hasher hasher_{crypto::HashAlg::Sha256};
};

// Feeds a Stream to libarchive, keeping the stream's own Error so that it,
// rather than libarchive's paraphrase, reaches the caller.
struct ArchiveFeed {
  Stream* stream = nullptr;
  std::vector<std::uint8_t> buffer = std::vector<std::uint8_t>(kBufferSize);
  std::optional<Error> error;

  static la_ssize_t read(archive* a, void* self, const void** out) {
    auto* feed = static_cast<ArchiveFeed*>(self);
    auto n = feed->stream->read(feed->buffer);
    if (!n) {
      feed->error = n.error();
      archive_set_error(a, EIO, "%s", n.error().message.c_str());
      return -1;
    }
    *out = feed->buffer.data();
    return static_cast<la_ssize_t>(*n);
  }

  Error failure(archive* a, const std::string& code, const std::string& context) const {
    if (error) return Error(error->code, context + ": " + error->message);
    return Error(code, context + ": " + archive_message(a));
  }
};

// The uncompressed bytes of a layer blob: gzip, zstd or none, by its magic.
class DecompressStream final : public Stream {
 public:
  static Result<std::unique_ptr<DecompressStream>> open(Stream& raw, const std::string& what) {
    std::unique_ptr<DecompressStream> s(new DecompressStream(raw, what));
    archive* a = s->a_.get();
    if (!a || archive_read_support_filter_gzip(a) != ARCHIVE_OK ||
        archive_read_support_filter_zstd(a) != ARCHIVE_OK ||
        archive_read_support_format_raw(a) != ARCHIVE_OK ||
        archive_read_support_format_empty(a) != ARCHIVE_OK)
      return fail("engine.image", "libarchive lacks built-in gzip or zstd support");
    if (archive_read_open(a, &s->feed_, nullptr, &ArchiveFeed::read, nullptr) != ARCHIVE_OK)
      return std::unexpected(s->feed_.failure(a, "engine.image", "cannot read " + what));
    archive_entry* entry = nullptr;
    const int r = archive_read_next_header(a, &entry);
    if (r == ARCHIVE_EOF) {
      s->eof_ = true;
    } else if (r != ARCHIVE_OK) {
      return std::unexpected(s->feed_.failure(a, "engine.image", "cannot read " + what));
    }
    const int filter = archive_filter_code(a, 0);
    if (filter != ARCHIVE_FILTER_NONE && filter != ARCHIVE_FILTER_GZIP && filter != ARCHIVE_FILTER_ZSTD)
      return fail("engine.image", what + " is compressed with " + archive_filter_name(a, 0) +
                                      "; layers must be uncompressed, gzip or zstd");
    return s;
  }

  Result<std::size_t> read(std::span<std::uint8_t> out) override {
    if (eof_) return std::size_t{0};
    const la_ssize_t n = archive_read_data(a_.get(), out.data(), out.size());
    if (n < 0) return std::unexpected(feed_.failure(a_.get(), "engine.image", "cannot decompress " + what_));
    if (n == 0) eof_ = true;
    return static_cast<std::size_t>(n);
  }

 private:
  DecompressStream(Stream& raw, std::string what) : a_(archive_read_new()), what_(std::move(what)) {
    feed_.stream = &raw;
  }
  ArchiveFeed feed_;
  ReadArchive a_;
  std::string what_;
  bool eof_ = false;
};

// The files of an image, by their names inside the layout.
class ImageSource {
 public:
  virtual ~ImageSource() = default;
  virtual bool exists(const std::string& name) = 0;
  // Fails with "engine.image" naming `name` when it is missing.
  virtual Result<std::unique_ptr<Stream>> open(const std::string& name) = 0;

  Result<Bytes> read_small(const std::string& name, std::size_t max) {
    auto s = open(name);
    if (!s) return std::unexpected(s.error());
    Bytes out;
    std::vector<std::uint8_t> buf(kBufferSize);
    for (;;) {
      auto n = (*s)->read(buf);
      if (!n) return std::unexpected(n.error());
      if (*n == 0) return out;
      if (out.size() + *n > max)
        return fail("engine.image", name + " is larger than " + std::to_string(max) + " bytes");
      out.insert(out.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(*n));
    }
  }
};

class DirSource final : public ImageSource {
 public:
  explicit DirSource(std::filesystem::path root) : root_(std::move(root)) {}
  bool exists(const std::string& name) override {
    struct stat st;
    return ::stat((root_ / name).c_str(), &st) == 0 && S_ISREG(st.st_mode);
  }
  Result<std::unique_ptr<Stream>> open(const std::string& name) override {
    const std::filesystem::path path = root_ / name;
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd)
      return fail("engine.image", "cannot open " + name + " in " + root_.string() + ": " + errno_text());
    struct stat st;
    if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode))
      return fail("engine.image", name + " in " + root_.string() + " is not a regular file");
    return std::make_unique<FdStream>(std::move(fd), name);
  }

 private:
  std::filesystem::path root_;
};

// A tar (optionally gzip or zstd compressed), indexed once; each member is
// read by a fresh pass that skips to it (seeking over uncompressed data).
class TarSource final : public ImageSource {
 public:
  static Result<std::unique_ptr<TarSource>> open_archive(const std::filesystem::path& path) {
    std::unique_ptr<TarSource> source(new TarSource(path));
    auto a = source->start();
    if (!a) return std::unexpected(a.error());
    std::uint64_t count = 0;
    for (;;) {
      archive_entry* entry = nullptr;
      const int r = archive_read_next_header(a->get(), &entry);
      if (r == ARCHIVE_EOF) break;
      if (r < ARCHIVE_WARN)
        return fail("engine.image", "cannot read " + path.string() + ": " + archive_message(a->get()));
      if (++count > kMaxArchiveMembers)
        return fail("engine.limit",
                    path.string() + " has more than " + std::to_string(kMaxArchiveMembers) + " members");
      const char* raw = archive_entry_pathname(entry);
      if (!raw) continue;
      auto name = normalize_member(raw);
      if (!name) continue;  // never addressable by an image's references
      Member m;
      if (const char* hard = archive_entry_hardlink(entry)) {
        m.kind = Member::Hardlink;
        m.target = normalize_member(hard).value_or("");
      } else if (archive_entry_filetype(entry) == AE_IFLNK) {
        m.kind = Member::Symlink;
        const char* target = archive_entry_symlink(entry);
        const std::string dir = std::filesystem::path(*name).parent_path().string();
        if (target && *target != '/') m.target = normalize_member(dir + "/" + target).value_or("");
      } else if (archive_entry_filetype(entry) == AE_IFREG) {
        m.kind = Member::File;
      }
      auto [it, inserted] = source->members_.emplace(*name, m);
      if (!inserted) it->second.kind = Member::Duplicate;
    }
    return source;
  }

  bool exists(const std::string& name) override { return resolve(name).has_value(); }

  Result<std::unique_ptr<Stream>> open(const std::string& name) override {
    auto target = resolve(name);
    if (!target) return std::unexpected(target.error());
    auto a = start();
    if (!a) return std::unexpected(a.error());
    for (;;) {
      archive_entry* entry = nullptr;
      const int r = archive_read_next_header(a->get(), &entry);
      if (r == ARCHIVE_EOF) break;
      if (r < ARCHIVE_WARN)
        return fail("engine.image", "cannot read " + path_.string() + ": " + archive_message(a->get()));
      const char* raw = archive_entry_pathname(entry);
      if (raw && normalize_member(raw) == *target)
        return std::make_unique<ArchiveMemberStream>(std::move(*a), name);
    }
    return fail("engine.image", name + " vanished from " + path_.string() + " while it was read");
  }

 private:
  struct Member {
    enum Kind { File, Symlink, Hardlink, Duplicate, Other } kind = Other;
    std::string target;
  };

  explicit TarSource(std::filesystem::path path) : path_(std::move(path)) {}

  Result<ReadArchive> start() {
    ReadArchive a(archive_read_new());
    if (!a || archive_read_support_format_tar(a.get()) != ARCHIVE_OK ||
        archive_read_support_filter_gzip(a.get()) != ARCHIVE_OK ||
        archive_read_support_filter_zstd(a.get()) != ARCHIVE_OK)
      return fail("engine.image", "libarchive lacks tar, gzip or zstd support");
    if (archive_read_open_filename(a.get(), path_.c_str(), kBufferSize) != ARCHIVE_OK)
      return fail("engine.image", "cannot read " + path_.string() + ": " + archive_message(a.get()));
    return a;
  }

  // Follows symlinks and hard links (docker save links repeated layers).
  Result<std::string> resolve(const std::string& name) {
    std::string current = name;
    for (int hop = 0; hop <= kMaxLinkHops; ++hop) {
      const auto it = members_.find(current);
      if (it == members_.end()) return fail("engine.image", name + " is missing from " + path_.string());
      switch (it->second.kind) {
        case Member::File:
          return current;
        case Member::Duplicate:
          return fail("engine.image", name + " appears more than once in " + path_.string());
        case Member::Other:
          return fail("engine.image", name + " in " + path_.string() + " is not a regular file");
        case Member::Symlink:
        case Member::Hardlink:
          if (it->second.target.empty())
            return fail("engine.image", name + " in " + path_.string() + " links outside the archive");
          current = it->second.target;
          break;
      }
    }
    return fail("engine.image", name + " in " + path_.string() + " is a chain of too many links");
  }

  std::filesystem::path path_;
  std::map<std::string, Member> members_;
};

Result<std::unique_ptr<ImageSource>> open_source(const std::filesystem::path& image) {
  struct stat st;
  if (::stat(image.c_str(), &st) != 0)
    return fail("engine.image", "cannot open " + image.string() + ": " + errno_text());
  if (S_ISDIR(st.st_mode)) return std::unique_ptr<ImageSource>(std::make_unique<DirSource>(image));
  if (!S_ISREG(st.st_mode))
    return fail("engine.image", image.string() + " is neither a directory nor a file");
  auto tar = TarSource::open_archive(image);
  if (!tar) return std::unexpected(tar.error());
  return std::unique_ptr<ImageSource>(std::move(*tar));
}

Result<json> parse_json(ByteView data, const std::string& what) {
  json j = json::parse(data.begin(), data.end(), nullptr, false);
  if (j.is_discarded()) return fail("engine.image", what + " is not valid JSON");
  return j;
}

// A blob the image refers to, and what it must hash to where that is known.
struct BlobRef {
  std::string name;    // inside the layout
  std::string digest;  // "" when the reference names none
  std::optional<std::uint64_t> size;
};

struct ImagePlan {
  BlobRef config;
  std::vector<BlobRef> layers;
};

struct Descriptor {
  std::string media_type;
  std::string digest;
  std::optional<std::uint64_t> size;
  bool attestation = false;  // docker's attestation manifests ride along in indexes
};

Result<Descriptor> parse_descriptor(const json& j, const std::string& where) {
  if (!j.is_object()) return fail("engine.image", where + " is not a descriptor object");
  Descriptor d;
  const auto digest = j.find("digest");
  if (digest == j.end() || !digest->is_string()) return fail("engine.image", where + " has no digest");
  d.digest = digest->get<std::string>();
  if (!is_sha256_digest(d.digest))
    return fail("engine.image",
                where + " has the digest '" + shown(d.digest) + "'; only sha256:<64 hex> is supported");
  if (const auto mt = j.find("mediaType"); mt != j.end() && mt->is_string())
    d.media_type = mt->get<std::string>();
  if (const auto size = j.find("size"); size != j.end()) {
    if (!size->is_number_unsigned()) return fail("engine.image", where + " has an invalid size");
    d.size = size->get<std::uint64_t>();
  }
  if (const auto ann = j.find("annotations"); ann != j.end() && ann->is_object())
    d.attestation = ann->contains("vnd.docker.reference.type");
  return d;
}

bool is_manifest_type(std::string_view t) {
  return t == "application/vnd.oci.image.manifest.v1+json" ||
         t == "application/vnd.docker.distribution.manifest.v2+json";
}
bool is_index_type(std::string_view t) {
  return t == "application/vnd.oci.image.index.v1+json" ||
         t == "application/vnd.docker.distribution.manifest.list.v2+json";
}

Result<Bytes> read_verified_blob(ImageSource& src, const Descriptor& d, const std::string& what) {
  auto data = src.read_small(blob_name(d.digest), kMaxJsonSize);
  if (!data) return std::unexpected(data.error());
  const std::string actual = sha256_digest(*data);
  if (actual != d.digest)
    return fail("engine.digest",
                what + " " + d.digest + " does not match its digest (its content hashes to " + actual + ")");
  if (d.size && *d.size != data->size())
    return fail("engine.digest", what + " " + d.digest + " is " + std::to_string(data->size()) +
                                     " bytes, not the " + std::to_string(*d.size) + " its descriptor says");
  return data;
}

// The image manifests an index leads to, following nested indexes; entries
// whose blobs the layout lacks (other platforms of a multi-platform image)
// are left out.
Result<void> collect_manifests(ImageSource& src, const json& index, const std::string& what, int depth,
                               std::vector<Descriptor>& out) {
  const auto manifests = index.is_object() ? index.find("manifests") : index.end();
  if (manifests == index.end() || !manifests->is_array())
    return fail("engine.image", what + " has no manifests list");
  std::size_t i = 0;
  for (const json& m : *manifests) {
    auto d = parse_descriptor(m, what + " manifests[" + std::to_string(i++) + "]");
    if (!d) return std::unexpected(d.error());
    if (d->attestation || !src.exists(blob_name(d->digest))) continue;
    if (is_manifest_type(d->media_type)) {
      out.push_back(*d);
    } else if (is_index_type(d->media_type)) {
      if (depth >= kMaxIndexDepth) return fail("engine.image", what + " nests indexes too deeply");
      auto blob = read_verified_blob(src, *d, "index");
      if (!blob) return std::unexpected(blob.error());
      auto nested = parse_json(*blob, "index " + d->digest);
      if (!nested) return std::unexpected(nested.error());
      if (auto ok = collect_manifests(src, *nested, "index " + d->digest, depth + 1, out); !ok) return ok;
    }
  }
  return {};
}

Result<ImagePlan> plan_oci(ImageSource& src, const std::filesystem::path& image) {
  auto index_data = src.read_small("index.json", kMaxJsonSize);
  if (!index_data) return std::unexpected(index_data.error());
  auto index = parse_json(*index_data, "index.json");
  if (!index) return std::unexpected(index.error());
  std::vector<Descriptor> manifests;
  if (auto ok = collect_manifests(src, *index, "index.json", 0, manifests); !ok)
    return std::unexpected(ok.error());
  if (manifests.size() != 1)
    return fail("engine.image", image.string() + " holds " + std::to_string(manifests.size()) +
                                    " image manifests; an engine image must hold exactly one");
  auto manifest_data = read_verified_blob(src, manifests[0], "manifest");
  if (!manifest_data) return std::unexpected(manifest_data.error());
  auto manifest = parse_json(*manifest_data, "manifest " + manifests[0].digest);
  if (!manifest) return std::unexpected(manifest.error());
  if (!manifest->is_object() || !manifest->contains("config"))
    return fail("engine.image", "manifest " + manifests[0].digest + " has no config");
  auto config = parse_descriptor((*manifest)["config"], "the manifest's config");
  if (!config) return std::unexpected(config.error());
  ImagePlan plan;
  plan.config = {blob_name(config->digest), config->digest, config->size};
  const auto layers = manifest->find("layers");
  if (layers == manifest->end() || !layers->is_array())
    return fail("engine.image", "manifest " + manifests[0].digest + " has no layers list");
  for (std::size_t i = 0; i < layers->size(); ++i) {
    auto layer = parse_descriptor((*layers)[i], "the manifest's layers[" + std::to_string(i) + "]");
    if (!layer) return std::unexpected(layer.error());
    plan.layers.push_back({blob_name(layer->digest), layer->digest, layer->size});
  }
  return plan;
}

// "blobs/sha256/<hex>" names its digest; so does legacy "<hex>.json".
std::string digest_named_by(const std::string& name) {
  if (name.starts_with("blobs/sha256/") && is_sha256_digest("sha256:" + name.substr(13)))
    return "sha256:" + name.substr(13);
  if (name.size() == 69 && name.ends_with(".json") && is_sha256_digest("sha256:" + name.substr(0, 64)))
    return "sha256:" + name.substr(0, 64);
  return {};
}

Result<ImagePlan> plan_docker(ImageSource& src, const std::filesystem::path& image) {
  auto data = src.read_small("manifest.json", kMaxJsonSize);
  if (!data) return std::unexpected(data.error());
  auto manifest = parse_json(*data, "manifest.json");
  if (!manifest) return std::unexpected(manifest.error());
  if (!manifest->is_array()) return fail("engine.image", "manifest.json is not a list of images");
  if (manifest->size() != 1)
    return fail("engine.image", image.string() + " holds " + std::to_string(manifest->size()) +
                                    " images; an engine image must hold exactly one");
  const json& m = (*manifest)[0];
  const auto config = m.is_object() ? m.find("Config") : m.end();
  if (config == m.end() || !config->is_string()) return fail("engine.image", "manifest.json names no Config");
  auto config_name = normalize_member(config->get<std::string>());
  if (!config_name) return fail("engine.image", "manifest.json names an unsafe Config path");
  ImagePlan plan;
  plan.config = {*config_name, digest_named_by(*config_name), std::nullopt};
  const auto layers = m.find("Layers");
  if (layers == m.end() || !layers->is_array()) return fail("engine.image", "manifest.json names no Layers");
  for (const json& l : *layers) {
    auto name = l.is_string() ? normalize_member(l.get<std::string>()) : std::nullopt;
    if (!name) return fail("engine.image", "manifest.json names an invalid or unsafe layer path");
    plan.layers.push_back({*name, name->starts_with("blobs/") ? digest_named_by(*name) : "", std::nullopt});
  }
  return plan;
}

Result<std::vector<std::string>> string_list(const json& object, const char* key, const std::string& what) {
  std::vector<std::string> out;
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) return out;
  if (!it->is_array()) return fail("engine.image", what + " " + key + " is not a list");
  for (const json& s : *it) {
    if (!s.is_string()) return fail("engine.image", what + " " + key + " holds a non-string");
    out.push_back(s.get<std::string>());
  }
  return out;
}

// The labels as the config states them, and the serve port they declare.
Result<void> read_labels(const json& config, ImageConfig& out) {
  const auto it = config.find("Labels");
  if (it == config.end() || it->is_null()) return {};
  if (!it->is_object()) return fail("engine.image", "the image config's Labels is not an object");
  for (const auto& [key, value] : it->items()) {
    if (!value.is_string())
      return fail("engine.image", "the image config's label " + json(shown(key)).dump() + " is not a string");
    out.labels.emplace(key, value.get<std::string>());
  }
  if (const auto port = out.labels.find(std::string(kServePortLabel)); port != out.labels.end()) {
    auto parsed = parse_serve_port(port->second);
    if (!parsed) return fail(parsed.error(), "the image config");
    out.serve_port = *parsed;
  }
  return {};
}

Result<ImageConfig> parse_config(ByteView data, std::string digest) {
  auto j = parse_json(data, "the image config");
  if (!j) return std::unexpected(j.error());
  if (!j->is_object()) return fail("engine.image", "the image config is not a JSON object");
  ImageConfig out;
  out.digest = std::move(digest);
  if (const auto c = j->find("config"); c != j->end() && !c->is_null()) {
    if (!c->is_object()) return fail("engine.image", "the image config's config is not an object");
    for (auto [key, field] :
         {std::pair{"Entrypoint", &out.entrypoint}, {"Cmd", &out.cmd}, {"Env", &out.env}}) {
      auto list = string_list(*c, key, "the image config's");
      if (!list) return std::unexpected(list.error());
      *field = std::move(*list);
    }
    if (const auto w = c->find("WorkingDir"); w != c->end() && !w->is_null()) {
      if (!w->is_string()) return fail("engine.image", "the image config's WorkingDir is not a string");
      out.working_dir = w->get<std::string>();
    }
    if (auto ok = read_labels(*c, out); !ok) return std::unexpected(ok.error());
  }
  const auto rootfs = j->find("rootfs");
  if (rootfs == j->end() || !rootfs->is_object())
    return fail("engine.image", "the image config has no rootfs");
  auto diff_ids = string_list(*rootfs, "diff_ids", "the image config's rootfs");
  if (!diff_ids) return std::unexpected(diff_ids.error());
  for (const auto& d : *diff_ids)
    if (!is_sha256_digest(d))
      return fail("engine.image",
                  "the image config lists the diff_id '" + shown(d) + "'; only sha256:<64 hex> is supported");
  out.diff_ids = std::move(*diff_ids);
  return out;
}

struct LoadedImage {
  std::unique_ptr<ImageSource> source;
  ImagePlan plan;
  ImageConfig config;
};

Result<LoadedImage> load_image(const std::filesystem::path& image) {
  auto source = open_source(image);
  if (!source) return std::unexpected(source.error());
  ImageSource& src = **source;
  Result<ImagePlan> plan = src.exists("index.json") ? plan_oci(src, image)
                           : src.exists("manifest.json")
                               ? plan_docker(src, image)
                               : fail("engine.image", image.string() +
                                                          " is neither an OCI image layout "
                                                          "(no index.json) nor a docker save "
                                                          "archive (no manifest.json)");
  if (!plan) return std::unexpected(plan.error());
  auto data = src.read_small(plan->config.name, kMaxJsonSize);
  if (!data) return fail(data.error(), "the image config");
  const std::string digest = sha256_digest(*data);
  if (!plan->config.digest.empty() && plan->config.digest != digest)
    return fail("engine.digest", "the image config " + plan->config.digest +
                                     " does not match its digest (its content hashes to " + digest + ")");
  if (plan->config.size && *plan->config.size != data->size())
    return fail("engine.digest", "the image config is " + std::to_string(data->size()) + " bytes, not the " +
                                     std::to_string(*plan->config.size) + " its descriptor says");
  auto config = parse_config(*data, digest);
  if (!config) return std::unexpected(config.error());
  if (config->diff_ids.size() != plan->layers.size())
    return fail("engine.digest", "the manifest lists " + std::to_string(plan->layers.size()) +
                                     " layers but the config's rootfs.diff_ids " +
                                     std::to_string(config->diff_ids.size()));
  return LoadedImage{std::move(*source), std::move(*plan), std::move(*config)};
}

// ---- extraction ----

// The names in a directory; a failure reports as `code`.
Result<std::vector<std::string>> list_dir(int fd, const std::string& what, const char* code) {
  auto names = list_dir_names(fd);
  if (!names) return fail(code, "cannot list " + what + ": " + names.error().message);
  return names;
}

// Removal inside the tree being unpacked reports as unpacking.
Result<void> remove_tree_at(int dirfd, const std::string& name) {
  if (auto ok = ward::remove_tree_at(dirfd, name); !ok) return fail("engine.unpack", ok.error().message);
  return {};
}

Result<void> remove_children(int fd, const std::string& what) {
  auto names = list_dir(fd, what, "engine.unpack");
  if (!names) return std::unexpected(names.error());
  for (const auto& n : *names)
    if (auto ok = remove_tree_at(fd, n); !ok) return ok;
  return {};
}

// An entry's path as components; empty for the layer's root. Refuses
// absolute paths and "..".
Result<std::vector<std::string>> split_entry_path(std::string_view path) {
  if (path.size() > kMaxEntryPath)
    return fail("engine.unpack", "entry '" + shown(path) + "' has too long a path");
  if (!path.empty() && path.front() == '/')
    return fail("engine.unpack", "entry '" + shown(path) + "' has an absolute path");
  std::vector<std::string> parts;
  std::string_view rest = path;
  while (!rest.empty()) {
    const std::size_t slash = rest.find('/');
    const std::string_view part = rest.substr(0, slash);
    rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
    if (part.empty() || part == ".") continue;
    if (part == "..") return fail("engine.unpack", "entry '" + shown(path) + "' has a '..' component");
    parts.emplace_back(part);
  }
  return parts;
}

std::string join(const std::vector<std::string>& parts, std::size_t count) {
  std::string out;
  for (std::size_t i = 0; i < count; ++i) {
    if (i) out += '/';
    out += parts[i];
  }
  return out;
}

// Applies layer tars to a rootfs directory through file descriptors only:
// every path is walked component by component with O_NOFOLLOW, and every
// file is created with O_EXCL, so nothing is ever written through a symlink.
class Extractor {
 public:
  Extractor(int root, const UnpackLimits& limits) : root_(root), limits_(limits) {}

  Result<void> extract_layer(archive* a, const ArchiveFeed& feed, const std::string& what) {
    written_.clear();
    ancestors_.clear();
    for (;;) {
      archive_entry* entry = nullptr;
      const int r = archive_read_next_header(a, &entry);
      if (r == ARCHIVE_EOF) return {};
      if (r < ARCHIVE_WARN) return std::unexpected(feed.failure(a, "engine.unpack", "cannot read " + what));
      if (++entries_ > limits_.max_entries)
        return fail("engine.limit",
                    "the image has more than " + std::to_string(limits_.max_entries) + " entries");
      if (auto ok = apply(a, entry, feed); !ok) return fail(ok.error(), what);
    }
  }

  // Sets the directories' final modes, deepest first (until now they were
  // 0700, so extraction could always write into them).
  Result<void> finish() {
    std::vector<std::pair<std::string, mode_t>> dirs(dir_modes_.begin(), dir_modes_.end());
    std::ranges::sort(dirs, [](const auto& x, const auto& y) {
      return std::ranges::count(x.first, '/') > std::ranges::count(y.first, '/');
    });
    for (const auto& [path, mode] : dirs) {
      auto parts = split_entry_path(path);
      if (!parts) return std::unexpected(parts.error());
      auto dir = open_dir(*parts, parts->size(), false, path);
      if (!dir) continue;  // removed or replaced by a later layer
      if (::fchmod(dir->get(), mode) != 0)
        return fail("engine.unpack", "cannot set the mode of " + shown(path) + ": " + errno_text());
    }
    if (::fchmod(root_, 0755) != 0)
      return fail("engine.unpack", "cannot set the mode of the rootfs: " + errno_text());
    return {};
  }

 private:
  // Opens the directory made of the first `count` components, creating
  // missing ones when `create`. A symlink or non-directory on the way fails.
  // `missing` (when given) reports that a component does not exist.
  Result<UniqueFd> open_dir(const std::vector<std::string>& parts, std::size_t count, bool create,
                            const std::string& entry, bool* missing = nullptr) {
    UniqueFd fd(::fcntl(root_, F_DUPFD_CLOEXEC, 0));
    if (!fd) return fail("engine.unpack", "cannot open the rootfs: " + errno_text());
    for (std::size_t i = 0; i < count; ++i) {
      UniqueFd next(::openat(fd.get(), parts[i].c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!next && errno == ENOENT && create) {
        if (::mkdirat(fd.get(), parts[i].c_str(), 0700) != 0)
          return fail("engine.unpack", "cannot create " + shown(join(parts, i + 1)) + ": " + errno_text());
        dir_modes_.emplace(join(parts, i + 1), 0755);
        next =
            UniqueFd(::openat(fd.get(), parts[i].c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      }
      if (!next) {
        if (errno == ENOENT && missing) *missing = true;
        if (errno == ELOOP || errno == ENOTDIR)
          return fail("engine.unpack", "entry '" + shown(entry) + "' would be written through '" +
                                           shown(join(parts, i + 1)) +
                                           "', which is a symlink or not a directory");
        return fail("engine.unpack", "cannot open " + shown(join(parts, i + 1)) + ": " + errno_text());
      }
      fd = std::move(next);
    }
    return fd;
  }

  void record_written(const std::vector<std::string>& parts) {
    written_.insert(join(parts, parts.size()));
    for (std::size_t i = 1; i < parts.size(); ++i) ancestors_.insert(join(parts, i));
  }

  // Under an opaque directory only this layer's entries survive.
  Result<void> clear_lower(int dirfd, const std::string& rel) {
    auto names = list_dir(dirfd, shown(rel), "engine.unpack");
    if (!names) return std::unexpected(names.error());
    for (const auto& name : *names) {
      const std::string child = rel.empty() ? name : rel + "/" + name;
      if (!written_.contains(child) && !ancestors_.contains(child)) {
        if (auto ok = remove_tree_at(dirfd, name); !ok) return ok;
        continue;
      }
      UniqueFd sub(::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (sub)
        if (auto ok = clear_lower(sub.get(), child); !ok) return ok;
    }
    return {};
  }

  Result<void> apply(archive* a, archive_entry* entry, const ArchiveFeed& feed) {
    const char* raw = archive_entry_pathname(entry);
    if (!raw) return fail("engine.unpack", "an entry has a name that cannot be read");
    const std::string path = raw;
    auto parts = split_entry_path(path);
    if (!parts) return std::unexpected(parts.error());
    if (parts->empty()) return {};  // the layer's root directory
    const std::string name = parts->back();
    const std::size_t depth = parts->size() - 1;

    if (name.starts_with(kWhiteoutPrefix)) {
      bool missing = false;
      auto parent = open_dir(*parts, depth, false, path, &missing);
      if (!parent) {
        if (missing) return {};  // nothing there to hide
        return std::unexpected(parent.error());
      }
      if (name == kOpaqueMarker) return clear_lower(parent->get(), join(*parts, depth));
      const std::string target = name.substr(kWhiteoutPrefix.size());
      if (target.empty() || target == "." || target == "..")
        return fail("engine.unpack", "entry '" + shown(path) + "' is an invalid whiteout");
      return remove_tree_at(parent->get(), target);
    }

    auto parent = open_dir(*parts, depth, true, path);
    if (!parent) return std::unexpected(parent.error());
    const int pfd = parent->get();
    record_written(*parts);

    if (const char* link = archive_entry_hardlink(entry)) return hardlink(pfd, name, *parts, link);

    const mode_t mode = archive_entry_perm(entry);
    switch (archive_entry_filetype(entry)) {
      case AE_IFDIR: {
        struct stat st;
        if (::fstatat(pfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(st.st_mode))
          if (auto ok = remove_tree_at(pfd, name); !ok) return ok;
        if (::mkdirat(pfd, name.c_str(), 0700) != 0 && errno != EEXIST)
          return fail("engine.unpack", "cannot create " + shown(path) + ": " + errno_text());
        dir_modes_[join(*parts, parts->size())] = mode & 01777;  // no set-id bits
        return {};
      }
      case AE_IFREG:
        return regular_file(a, entry, feed, pfd, name, path, mode);
      case AE_IFLNK: {
        const char* target = archive_entry_symlink(entry);
        if (!target || !*target) return fail("engine.unpack", "symlink '" + shown(path) + "' has no target");
        if (auto ok = remove_tree_at(pfd, name); !ok) return ok;
        if (::symlinkat(target, pfd, name.c_str()) != 0)
          return fail("engine.unpack", "cannot create symlink " + shown(path) + ": " + errno_text());
        return {};
      }
      case AE_IFCHR:
      case AE_IFBLK:
      case AE_IFIFO:
      case AE_IFSOCK:
        return {};  // skipped: the sandbox provides its own /dev
      default:
        return fail("engine.unpack", "entry '" + shown(path) + "' has an unknown type");
    }
  }

  Result<void> regular_file(archive* a, archive_entry* entry, const ArchiveFeed& feed, int pfd,
                            const std::string& name, const std::string& path, mode_t mode) {
    const std::int64_t size = archive_entry_size_is_set(entry) ? archive_entry_size(entry) : 0;
    if (size < 0 ||
        static_cast<std::uint64_t>(size) > limits_.max_bytes - std::min(file_bytes_, limits_.max_bytes))
      return fail("engine.limit", "the image's files exceed the size limit of " +
                                      std::to_string(limits_.max_bytes) + " bytes at '" + shown(path) + "'");
    file_bytes_ += static_cast<std::uint64_t>(size);
    if (auto ok = remove_tree_at(pfd, name); !ok) return ok;
    UniqueFd fd(::openat(pfd, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!fd) return fail("engine.unpack", "cannot create " + shown(path) + ": " + errno_text());
    for (;;) {
      const void* buf = nullptr;
      std::size_t len = 0;
      la_int64_t offset = 0;
      const int r = archive_read_data_block(a, &buf, &len, &offset);
      if (r == ARCHIVE_EOF) break;
      if (r < ARCHIVE_WARN)
        return std::unexpected(feed.failure(a, "engine.unpack", "cannot read " + shown(path)));
      if (offset < 0 || static_cast<std::uint64_t>(offset) + len > static_cast<std::uint64_t>(size))
        return fail("engine.unpack", "entry '" + shown(path) + "' has data beyond its size");
      if (auto ok = pwrite_all(fd.get(), ByteView(static_cast<const std::uint8_t*>(buf), len), offset); !ok)
        return fail(ok.error(), shown(path));
    }
    if (::ftruncate(fd.get(), size) != 0 || ::fchmod(fd.get(), mode & 0777) != 0)
      return fail("engine.unpack", "cannot finish " + shown(path) + ": " + errno_text());
    return {};
  }

  Result<void> hardlink(int pfd, const std::string& name, const std::vector<std::string>& parts,
                        const char* link) {
    const std::string path = join(parts, parts.size());
    auto target = split_entry_path(link);
    if (!target) return fail(target.error(), "hard link " + shown(path));
    if (target->empty()) return fail("engine.unpack", "hard link '" + shown(path) + "' points at the root");
    if (join(*target, target->size()) == path) return {};
    auto tdir = open_dir(*target, target->size() - 1, false, link);
    if (!tdir)
      return fail("engine.unpack", "hard link '" + shown(path) + "' points at '" + shown(link) +
                                       "', which is not an earlier entry of the image");
    const std::string& tname = target->back();
    struct stat st;
    if (::fstatat(tdir->get(), tname.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 ||
        !(S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)))
      return fail("engine.unpack", "hard link '" + shown(path) + "' points at '" + shown(link) +
                                       "', which is not an earlier file of the image");
    if (auto ok = remove_tree_at(pfd, name); !ok) return ok;
    if (::linkat(tdir->get(), tname.c_str(), pfd, name.c_str(), 0) != 0)
      return fail("engine.unpack", "cannot create hard link " + shown(path) + ": " + errno_text());
    return {};
  }

  int root_;
  UnpackLimits limits_;
  std::uint64_t entries_ = 0;
  std::uint64_t file_bytes_ = 0;
  std::unordered_set<std::string> written_, ancestors_;  // this layer's
  std::map<std::string, mode_t> dir_modes_;
};

// Reads one layer end to end, checking its blob digest and size (where the
// manifest names them) and its diff_id, and extracting it when `extractor`.
Result<void> process_layer(ImageSource& src, const BlobRef& layer, const std::string& diff_id,
                           std::size_t index, std::size_t count, std::uint64_t& budget_used,
                           const UnpackLimits& limits, Extractor* extractor) {
  const std::string what =
      "layer " + std::to_string(index + 1) + " of " + std::to_string(count) + " (" + layer.name + ")";
  if (!src.exists(layer.name)) return fail("engine.image", what + " is missing from the image");
  auto raw = src.open(layer.name);
  if (!raw) return fail(raw.error(), what);
  HashingStream blob(**raw, UINT64_MAX, what);
  auto decompressed = DecompressStream::open(blob, what);
  if (!decompressed) return std::unexpected(decompressed.error());
  HashingStream tar(**decompressed, limits.max_bytes - budget_used, what + " with the layers before it");
  if (extractor) {
    ArchiveFeed feed;
    feed.stream = &tar;
    ReadArchive a(archive_read_new());
    if (!a || archive_read_support_format_tar(a.get()) != ARCHIVE_OK ||
        archive_read_support_format_empty(a.get()) != ARCHIVE_OK)
      return fail("engine.unpack", "libarchive lacks tar support");
    if (archive_read_open(a.get(), &feed, nullptr, &ArchiveFeed::read, nullptr) != ARCHIVE_OK)
      return std::unexpected(feed.failure(a.get(), "engine.unpack", "cannot read " + what));
    if (auto ok = extractor->extract_layer(a.get(), feed, what); !ok) return ok;
  }
  if (auto ok = drain(tar); !ok) return ok;
  if (auto ok = drain(blob); !ok) return ok;
  budget_used += tar.count();
  if (!layer.digest.empty()) {
    const std::string actual = blob.digest();
    if (actual != layer.digest)
      return fail("engine.digest",
                  what + " does not match its digest " + layer.digest + " (it hashes to " + actual + ")");
  }
  if (layer.size && *layer.size != blob.count())
    return fail("engine.digest", what + " is " + std::to_string(blob.count()) + " bytes, not the " +
                                     std::to_string(*layer.size) + " its descriptor says");
  const std::string actual_diff_id = tar.digest();
  if (actual_diff_id != diff_id)
    return fail("engine.digest",
                what + " uncompressed hashes to " + actual_diff_id + ", not to its diff_id " + diff_id);
  return {};
}

// ---- packing ----

// The layer's tar passes through a SHA-256 (its diff_id) into a gzip that
// writes the blob to a file through another SHA-256 (its digest).
struct LayerWriter {
  int fd = -1;
  archive* gzip = nullptr;
  crypto::Hasher tar_hash{crypto::HashAlg::Sha256};
  crypto::Hasher blob_hash{crypto::HashAlg::Sha256};
  std::uint64_t blob_size = 0;
  std::optional<Error> error;

  static la_ssize_t on_tar(archive* a, void* self, const void* buf, std::size_t len) {
    auto* w = static_cast<LayerWriter*>(self);
    w->tar_hash.update(ByteView(static_cast<const std::uint8_t*>(buf), len));
    if (archive_write_data(w->gzip, buf, len) != static_cast<la_ssize_t>(len)) {
      w->error = Error("engine.pack", "cannot compress the layer: " + archive_message(w->gzip));
      archive_set_error(a, EIO, "compression failed");
      return -1;
    }
    return static_cast<la_ssize_t>(len);
  }
  static la_ssize_t on_blob(archive* a, void* self, const void* buf, std::size_t len) {
    auto* w = static_cast<LayerWriter*>(self);
    const ByteView data(static_cast<const std::uint8_t*>(buf), len);
    w->blob_hash.update(data);
    w->blob_size += len;
    if (auto ok = write_all(w->fd, data); !ok) {
      w->error = ok.error();
      archive_set_error(a, EIO, "write failed");
      return -1;
    }
    return static_cast<la_ssize_t>(len);
  }
};

struct FdWriter {
  int fd = -1;
  std::optional<Error> error;
  static la_ssize_t on_write(archive* a, void* self, const void* buf, std::size_t len) {
    auto* w = static_cast<FdWriter*>(self);
    if (auto ok = write_all(w->fd, ByteView(static_cast<const std::uint8_t*>(buf), len)); !ok) {
      w->error = ok.error();
      archive_set_error(a, EIO, "write failed");
      return -1;
    }
    return static_cast<la_ssize_t>(len);
  }
};

Entry make_entry(const std::string& path, mode_t type, mode_t perm, std::int64_t size) {
  Entry e(archive_entry_new());
  archive_entry_set_pathname(e.get(), path.c_str());
  archive_entry_set_filetype(e.get(), type);
  archive_entry_set_perm(e.get(), perm);
  archive_entry_set_size(e.get(), size);
  archive_entry_set_mtime(e.get(), 0, 0);
  archive_entry_set_uid(e.get(), 0);
  archive_entry_set_gid(e.get(), 0);
  return e;
}

Error pack_error(archive* a, const std::optional<Error>& sink_error, const std::string& what) {
  if (sink_error) return Error(sink_error->code, what + ": " + sink_error->message);
  return Error("engine.pack", what + ": " + archive_message(a));
}

Result<void> copy_fd_to_archive(archive* a, int fd, std::uint64_t expected,
                                const std::optional<Error>& sink_error, const std::string& what) {
  std::vector<std::uint8_t> buf(kBufferSize);
  std::uint64_t total = 0;
  for (;;) {
    auto n = read_full(fd, buf);
    if (!n) return fail(n.error(), what);
    if (*n == 0) break;
    total += *n;
    if (total > expected) break;
    if (archive_write_data(a, buf.data(), *n) != static_cast<la_ssize_t>(*n))
      return std::unexpected(pack_error(a, sink_error, what));
  }
  if (total != expected) return fail("engine.pack", what + " changed size while it was packed");
  return {};
}

Result<void> pack_tree(archive* tar, int dirfd, const std::string& prefix,
                       const std::optional<Error>& sink_error) {
  auto names = list_dir(dirfd, prefix.empty() ? "." : prefix, "engine.pack");
  if (!names) return std::unexpected(names.error());
  std::ranges::sort(*names);
  for (const auto& name : *names) {
    const std::string path = prefix + name;
    struct stat st;
    if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
      return fail("engine.pack", "cannot stat " + path + ": " + errno_text());
    if (S_ISDIR(st.st_mode)) {
      Entry e = make_entry(path, AE_IFDIR, st.st_mode & 01777, 0);
      if (archive_write_header(tar, e.get()) != ARCHIVE_OK)
        return std::unexpected(pack_error(tar, sink_error, path));
      UniqueFd sub(::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!sub) return fail("engine.pack", "cannot open " + path + ": " + errno_text());
      if (auto ok = pack_tree(tar, sub.get(), path + "/", sink_error); !ok) return ok;
    } else if (S_ISREG(st.st_mode)) {
      UniqueFd fd(::openat(dirfd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
      if (!fd) return fail("engine.pack", "cannot open " + path + ": " + errno_text());
      Entry e = make_entry(path, AE_IFREG, st.st_mode & 0777, st.st_size);
      if (archive_write_header(tar, e.get()) != ARCHIVE_OK)
        return std::unexpected(pack_error(tar, sink_error, path));
      if (auto ok =
              copy_fd_to_archive(tar, fd.get(), static_cast<std::uint64_t>(st.st_size), sink_error, path);
          !ok)
        return ok;
    } else if (S_ISLNK(st.st_mode)) {
      std::string target(static_cast<std::size_t>(st.st_size) + 1, '\0');
      const ssize_t n = ::readlinkat(dirfd, name.c_str(), target.data(), target.size());
      if (n < 0 || static_cast<std::size_t>(n) >= target.size())
        return fail("engine.pack", "cannot read the symlink " + path + ": " + errno_text());
      target.resize(static_cast<std::size_t>(n));
      Entry e = make_entry(path, AE_IFLNK, 0777, 0);
      archive_entry_set_symlink(e.get(), target.c_str());
      if (archive_write_header(tar, e.get()) != ARCHIVE_OK)
        return std::unexpected(pack_error(tar, sink_error, path));
    } else {
      return fail("engine.pack", path +
                                     " is a device, FIFO or socket; an engine image holds only files, "
                                     "directories and symlinks");
    }
  }
  return {};
}

// An unnamed scratch file next to `out` (the layer can be large).
Result<UniqueFd> scratch_file(const std::filesystem::path& out) {
  const std::filesystem::path dir = out.parent_path().empty() ? "." : out.parent_path();
  UniqueFd fd(::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
  if (fd) return fd;
  std::string temp = (dir / ".ward-layer-XXXXXX").string();
  fd = UniqueFd(::mkostemp(temp.data(), O_CLOEXEC));
  if (!fd) return fail("io.create", "cannot create a scratch file in " + dir.string() + ": " + errno_text());
  ::unlink(temp.c_str());
  return fd;
}

struct Layer {
  std::string diff_id, digest;
  std::uint64_t size = 0;
};

Result<Layer> write_layer(const std::filesystem::path& dir, int out_fd) {
  UniqueFd root(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!root) return fail("engine.pack", "cannot open the directory " + dir.string() + ": " + errno_text());
  LayerWriter w;
  w.fd = out_fd;
  WriteArchive gzip(archive_write_new());
  WriteArchive tar(archive_write_new());
  w.gzip = gzip.get();
  if (!gzip || !tar || archive_write_add_filter_gzip(gzip.get()) != ARCHIVE_OK ||
      archive_write_set_filter_option(gzip.get(), "gzip", "timestamp", nullptr) != ARCHIVE_OK ||
      archive_write_set_format_raw(gzip.get()) != ARCHIVE_OK ||
      archive_write_set_bytes_in_last_block(gzip.get(), 1) != ARCHIVE_OK ||
      archive_write_set_format_pax_restricted(tar.get()) != ARCHIVE_OK)
    return fail("engine.pack", "libarchive lacks built-in gzip or pax support");
  if (archive_write_open(gzip.get(), &w, nullptr, &LayerWriter::on_blob, nullptr) != ARCHIVE_OK)
    return std::unexpected(pack_error(gzip.get(), w.error, "the layer"));
  Entry raw = make_entry("layer.tar", AE_IFREG, 0644, 0);
  if (archive_write_header(gzip.get(), raw.get()) != ARCHIVE_OK)
    return std::unexpected(pack_error(gzip.get(), w.error, "the layer"));
  if (archive_write_open(tar.get(), &w, nullptr, &LayerWriter::on_tar, nullptr) != ARCHIVE_OK)
    return std::unexpected(pack_error(tar.get(), w.error, "the layer"));
  if (auto ok = pack_tree(tar.get(), root.get(), "", w.error); !ok) return std::unexpected(ok.error());
  if (archive_write_close(tar.get()) != ARCHIVE_OK)
    return std::unexpected(pack_error(tar.get(), w.error, "the layer"));
  if (archive_write_close(gzip.get()) != ARCHIVE_OK)
    return std::unexpected(pack_error(gzip.get(), w.error, "the layer"));
  return Layer{"sha256:" + hex_encode(w.tar_hash.finish()), "sha256:" + hex_encode(w.blob_hash.finish()),
               w.blob_size};
}

Result<std::string> dump_json(const json& j) {
  try {
    return j.dump();
  } catch (const json::exception&) {
    return fail("engine.pack", "the image settings hold text that is not valid UTF-8");
  }
}

Result<void> write_member(archive* tar, const std::string& name, std::string_view data, const FdWriter& w) {
  Entry e = make_entry(name, AE_IFREG, 0644, static_cast<std::int64_t>(data.size()));
  if (archive_write_header(tar, e.get()) != ARCHIVE_OK ||
      archive_write_data(tar, data.data(), data.size()) != static_cast<la_ssize_t>(data.size()))
    return std::unexpected(pack_error(tar, w.error, name));
  return {};
}

}  // namespace

Result<int> parse_serve_port(std::string_view text) {
  auto port = parse_decimal(text, 65535);
  if (!port || *port == 0)
    return fail("engine.label", "the label " + std::string(kServePortLabel) +
                                    " is not a port number (digits only, no leading zero, 1..65535)");
  return static_cast<int>(*port);
}

Result<ImageConfig> inspect_image(const std::filesystem::path& image) {
  auto loaded = load_image(image);
  if (!loaded) return std::unexpected(loaded.error());
  const UnpackLimits limits;
  std::uint64_t used = 0;
  for (std::size_t i = 0; i < loaded->plan.layers.size(); ++i)
    if (auto ok = process_layer(*loaded->source, loaded->plan.layers[i], loaded->config.diff_ids[i], i,
                                loaded->plan.layers.size(), used, limits, nullptr);
        !ok)
      return std::unexpected(ok.error());
  return std::move(loaded->config);
}

Result<ImageConfig> unpack_image(const std::filesystem::path& image, const std::filesystem::path& rootfs,
                                 const UnpackLimits& limits) {
  bool created = false;
  struct stat st;
  if (::lstat(rootfs.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode))
      return fail("engine.unpack", rootfs.string() + " exists and is not a directory");
  } else if (errno == ENOENT) {
    if (::mkdir(rootfs.c_str(), 0700) != 0)
      return fail("engine.unpack", "cannot create " + rootfs.string() + ": " + errno_text());
    created = true;
  } else {
    return fail("engine.unpack", "cannot stat " + rootfs.string() + ": " + errno_text());
  }
  UniqueFd root(::open(rootfs.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!root) return fail("engine.unpack", "cannot open " + rootfs.string() + ": " + errno_text());
  if (!created) {
    auto names = list_dir(root.get(), rootfs.string(), "engine.unpack");
    if (!names) return std::unexpected(names.error());
    if (!names->empty()) return fail("engine.unpack", rootfs.string() + " is not empty");
  }

  auto result = [&]() -> Result<ImageConfig> {
    auto loaded = load_image(image);
    if (!loaded) return std::unexpected(loaded.error());
    Extractor extractor(root.get(), limits);
    std::uint64_t used = 0;
    for (std::size_t i = 0; i < loaded->plan.layers.size(); ++i)
      if (auto ok = process_layer(*loaded->source, loaded->plan.layers[i], loaded->config.diff_ids[i], i,
                                  loaded->plan.layers.size(), used, limits, &extractor);
          !ok)
        return std::unexpected(ok.error());
    if (auto ok = extractor.finish(); !ok) return std::unexpected(ok.error());
    return std::move(loaded->config);
  }();
  if (result) return result;
  if (created) {
    root.reset();
    (void)remove_tree(rootfs);
  } else {
    ::fchmod(root.get(), 0700);
    (void)remove_children(root.get(), rootfs.string());
  }
  return result;
}

Result<std::string> pack_image(const std::filesystem::path& dir, const PackOptions& options,
                               const std::filesystem::path& out) {
  for (const auto& [key, value] : options.labels) {
    if (key.empty()) return fail("engine.label", "a label has an empty key");
    if (key == kServePortLabel)
      if (auto port = parse_serve_port(value); !port) return std::unexpected(port.error());
  }
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return fail("engine.pack", dir.string() + " is not a directory");
  auto scratch = scratch_file(out);
  if (!scratch) return std::unexpected(scratch.error());
  auto layer = write_layer(dir, scratch->get());
  if (!layer) return std::unexpected(layer.error());

  json run = json::object();
  if (!options.entrypoint.empty()) run["Entrypoint"] = options.entrypoint;
  if (!options.cmd.empty()) run["Cmd"] = options.cmd;
  if (!options.env.empty()) run["Env"] = options.env;
  if (!options.working_dir.empty()) run["WorkingDir"] = options.working_dir;
  if (!options.labels.empty()) run["Labels"] = options.labels;
  const json config_json = {{"architecture", kArchitecture},
                            {"os", "linux"},
                            {"config", run},
                            {"rootfs", {{"type", "layers"}, {"diff_ids", {layer->diff_id}}}}};
  auto config = dump_json(config_json);
  if (!config) return std::unexpected(config.error());
  const std::string config_digest = sha256_digest(as_bytes(*config));
  const json manifest_json = {{"schemaVersion", 2},
                              {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                              {"config",
                               {{"mediaType", "application/vnd.oci.image.config.v1+json"},
                                {"digest", config_digest},
                                {"size", config->size()}}},
                              {"layers",
                               {{{"mediaType", "application/vnd.oci.image.layer.v1.tar+gzip"},
                                 {"digest", layer->digest},
                                 {"size", layer->size}}}}};
  const std::string manifest = manifest_json.dump();
  const std::string manifest_digest = sha256_digest(as_bytes(manifest));
  const json index_json = {{"schemaVersion", 2},
                           {"mediaType", "application/vnd.oci.image.index.v1+json"},
                           {"manifests",
                            {{{"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                              {"digest", manifest_digest},
                              {"size", manifest.size()}}}}};
  const json docker_json = json::array({{{"Config", blob_name(config_digest)},
                                         {"RepoTags", json::array()},
                                         {"Layers", {blob_name(layer->digest)}}}});

  auto file = AtomicFile::create(out, 0644);
  if (!file) return std::unexpected(file.error());
  FdWriter w{file->fd(), std::nullopt};
  WriteArchive tar(archive_write_new());
  if (!tar || archive_write_set_format_pax_restricted(tar.get()) != ARCHIVE_OK)
    return fail("engine.pack", "libarchive lacks pax support");
  if (archive_write_open(tar.get(), &w, nullptr, &FdWriter::on_write, nullptr) != ARCHIVE_OK)
    return std::unexpected(pack_error(tar.get(), w.error, out.string()));

  std::map<std::string, std::string> small = {{blob_name(config_digest), *config},
                                              {blob_name(manifest_digest), manifest}};
  for (const char* d : {"blobs", "blobs/sha256"}) {
    Entry e = make_entry(d, AE_IFDIR, 0755, 0);
    if (archive_write_header(tar.get(), e.get()) != ARCHIVE_OK)
      return std::unexpected(pack_error(tar.get(), w.error, out.string()));
  }
  // Blobs in name order; the layer is copied from the scratch file.
  std::vector<std::string> blobs = {blob_name(config_digest), blob_name(manifest_digest),
                                    blob_name(layer->digest)};
  std::ranges::sort(blobs);
  for (const auto& name : blobs) {
    if (!small.contains(name)) {
      Entry e = make_entry(name, AE_IFREG, 0644, static_cast<std::int64_t>(layer->size));
      if (archive_write_header(tar.get(), e.get()) != ARCHIVE_OK)
        return std::unexpected(pack_error(tar.get(), w.error, out.string()));
      if (::lseek(scratch->get(), 0, SEEK_SET) != 0)
        return fail("engine.pack", "cannot rewind the layer: " + errno_text());
      if (auto ok = copy_fd_to_archive(tar.get(), scratch->get(), layer->size, w.error, "the layer"); !ok)
        return std::unexpected(ok.error());
    } else if (auto ok = write_member(tar.get(), name, small.at(name), w); !ok) {
      return std::unexpected(ok.error());
    }
  }
  for (const auto& [name, data] : std::initializer_list<std::pair<const char*, std::string>>{
           {"index.json", index_json.dump()},
           {"manifest.json", docker_json.dump()},
           {"oci-layout", R"({"imageLayoutVersion":"1.0.0"})"}})
    if (auto ok = write_member(tar.get(), name, data, w); !ok) return std::unexpected(ok.error());
  if (archive_write_close(tar.get()) != ARCHIVE_OK)
    return std::unexpected(pack_error(tar.get(), w.error, out.string()));
  if (auto ok = file->commit(); !ok) return std::unexpected(ok.error());
  return config_digest;
}

}  // namespace ward::engine
