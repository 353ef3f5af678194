// Blob stores: where Ward keeps ciphertext (encrypted files, grants, outputs).
// Blobs are content-addressed: a blob's name is the lower-case hex SHA-256 of
// its bytes, and every read checks the bytes against that name, so a store
// needs no trust: it can lose or withhold data, never change it unnoticed.
//
// Backends, chosen by URI:
//   file:///abs/dir (or a plain directory path)  blobs at <dir>/<hex>
//   http://host[:port]/prefix, https://...       GET/PUT/HEAD <prefix>/<hex>
//                                                (a WebDAV server such as nginx)
// A blob's URI is its store's URI + "/" + <hex>.
//
// Error codes: "store.uri" (not a store or blob URI), "store.io" (local I/O),
// "store.http" (the server could not be reached or answered an error),
// "store.not_found", "store.digest" (the bytes do not hash to their name),
// "store.too_large".
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "base/bytes.h"
#include "base/error.h"
#include "crypto/hash.h"

namespace ward::store {

// No store holds blobs larger than this (1 TiB); larger ones are refused
// with "store.too_large" before any byte moves.
inline constexpr std::uint64_t kMaxBlobSize = std::uint64_t{1} << 40;

// Progress of one transfer. On a terminal (stderr is a tty) it draws a bar
// on stderr; elsewhere it prints nothing.
class Progress {
 public:
  // `label` names the transfer ("upload alice.csv"); `total` 0 when unknown.
  Progress(std::string label, std::uint64_t total);
  ~Progress();  // finishes the line, if one was drawn
  void advance(std::uint64_t bytes);
  bool enabled() const { return enabled_; }
  // Also tells `observer` the bytes done and the total after each advance
  // (a page showing the transfer: ward ui), on the transfer's thread.
  void observe(std::function<void(std::uint64_t done, std::uint64_t total)> observer) {
    observer_ = std::move(observer);
  }

 private:
  std::function<void(std::uint64_t, std::uint64_t)> observer_;
  std::string label_;
  std::uint64_t total_ = 0;
  std::uint64_t done_ = 0;
  bool enabled_ = false;
  std::int64_t last_draw_ms_ = 0;
  std::int64_t start_ms_ = 0;  // for the rate
  bool drawn_ = false;
  void draw(std::int64_t now_ms);
};

// Receives a blob's bytes in order, as they arrive.
using Sink = std::function<Result<void>(ByteView)>;

struct BlobInfo {
  std::string uri;  // the blob's URI
  crypto::Sha256Digest sha256{};
  std::uint64_t size = 0;
};

class Store {
 public:
  virtual ~Store() = default;

  // The store's URI, in the canonical spelling (file:///abs/dir, http://...).
  virtual std::string uri() const = 0;

  // Streams the file at `path` into the store (hashing it on the way; a
  // file store writes atomically, so a reader never sees a partial blob).
  // Storing a blob that is already there succeeds.
  virtual Result<BlobInfo> put_file(const std::filesystem::path& path, Progress* progress = nullptr) = 0;
  // The same for a private temporary file whose SHA-256 the caller computed
  // while writing it, and which it removes afterwards without changing it
  // again: it is sent in one pass, without hashing it again, and a file
  // store that shares its file system (see staging_dir) links it into place
  // instead of copying it. A wrong `digest` stores a blob that every reader
  // refuses (reads check the bytes against the name).
  virtual Result<BlobInfo> put_hashed_file(const std::filesystem::path& path, const crypto::Sha256Digest& digest,
                                           Progress* progress = nullptr) = 0;
  // A directory on the store's own file system where such a temporary file
  // can be written, so that put_hashed_file stores it without copying it;
  // nullopt for a remote store.
  virtual std::optional<std::filesystem::path> staging_dir() const { return std::nullopt; }
  virtual Result<BlobInfo> put_bytes(ByteView bytes) = 0;

  // The blob's size, or nullopt when the store does not have it.
  virtual Result<std::optional<std::uint64_t>> head(const crypto::Sha256Digest& digest) = 0;

  // Streams blob `digest` to `sink` as it arrives, hashing it on the way,
  // and refuses ("store.too_large") more than `max_size` bytes. It succeeds
  // only when the whole blob arrived and hashed to `digest`; on any error the
  // caller must discard what `sink` was given ("store.digest" comes after
  // the last byte). An error `sink` returns stops the transfer and is returned.
  virtual Result<BlobInfo> get_stream(const crypto::Sha256Digest& digest, std::uint64_t max_size,
                                      const Sink& sink) = 0;
  // Up to `length` bytes of blob `digest` from `offset` (fewer where it
  // ends), as the store holds them: a part of a blob cannot be checked
  // against its name, so the caller must check them by other means (a
  // descriptor's header_sha256). Errors: "store.not_found", "store.http",
  // "store.io", "store.too_large" (`length` over 16 MiB).
  virtual Result<Bytes> get_range(const crypto::Sha256Digest& digest, std::uint64_t offset,
                                  std::uint64_t length) = 0;

  // get_stream into a new file at `dest` (AtomicFile: nothing appears at
  // `dest` unless the whole blob arrived and hashed to `digest`).
  Result<BlobInfo> get_file(const crypto::Sha256Digest& digest, const std::filesystem::path& dest,
                            Progress* progress = nullptr);
  // The blob's bytes, refusing ("store.too_large") blobs over `max_size`.
  Result<Bytes> get_bytes(const crypto::Sha256Digest& digest, std::uint64_t max_size);
};

// The most get_range returns at once.
inline constexpr std::uint64_t kMaxRangeSize = std::uint64_t{16} << 20;

// Opens a store by URI (see above). A relative directory path is made
// absolute; a file store's directory is created if missing.
Result<std::unique_ptr<Store>> open_store(std::string_view uri);

// Splits a blob URI into its store's URI and its digest
// ("file:///s/<hex>" -> "file:///s", digest). Errors: "store.uri".
struct BlobRef {
  std::string store_uri;
  crypto::Sha256Digest sha256{};
};
Result<BlobRef> parse_blob_uri(std::string_view blob_uri);

// open_store(ref.store_uri) then get_*: fetches a blob by its URI.
Result<BlobInfo> fetch_file(std::string_view blob_uri, const std::filesystem::path& dest,
                            Progress* progress = nullptr);
Result<Bytes> fetch_bytes(std::string_view blob_uri, std::uint64_t max_size);

}  // namespace ward::store
