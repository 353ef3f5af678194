// Internal to src/store: the URI grammar and the helpers the backends share.
// Nothing outside this folder includes it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "base/error.h"
#include "crypto/hash.h"
#include "store/store.h"

namespace ward::store::detail {

// Copy buffer size for every transfer.
inline constexpr std::size_t kChunk = std::size_t{1} << 20;

// A store URI taken apart, without touching the file system or the network.
struct StoreLocation {
  enum class Kind { File, Http };
  Kind kind = Kind::File;
  std::filesystem::path dir;  // File: absolute and lexically normal
  bool https = false;         // Http: the rest
  std::string host;           // lower case
  int port = 0;
  std::string prefix;  // "" or "/a/b", no trailing slash

  // The canonical spelling: file:///abs/dir, http://host[:port][/prefix].
  std::string uri() const;
};

// Errors: "store.uri".
Result<StoreLocation> parse_store_uri(std::string_view uri);

std::string digest_hex(const crypto::Sha256Digest& digest);
crypto::Sha256Digest finish_sha256(crypto::Hasher& hasher);

// A read-only file descriptor that closes itself.
class SourceFile {
 public:
  // Opens a regular file for reading. Errors: "store.io", "store.too_large"
  // (over kMaxBlobSize).
  static Result<SourceFile> open(const std::filesystem::path& path);
  SourceFile(SourceFile&& other) noexcept : fd_(other.fd_), size_(other.size_) { other.fd_ = -1; }
  SourceFile& operator=(SourceFile&&) = delete;
  ~SourceFile();

  int fd() const { return fd_; }
  std::uint64_t size() const { return size_; }
  // SHA-256 of the whole file, read from its start (a first pass: a blob's
  // name must be known before its bytes are written under it).
  Result<crypto::Sha256Digest> hash(const std::filesystem::path& path) const;

 private:
  SourceFile(int fd, std::uint64_t size) : fd_(fd), size_(size) {}
  int fd_ = -1;
  std::uint64_t size_ = 0;
};

// `create`: make the directory (mkdir -p) when it is missing.
Result<std::unique_ptr<Store>> open_file_store(const std::filesystem::path& dir, bool create);
Result<std::unique_ptr<Store>> open_http_store(const StoreLocation& location);

}  // namespace ward::store::detail
