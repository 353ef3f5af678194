// Shared pieces of the files tests: a private temporary directory, a real
// file store in it, party keys, small file helpers, and a store that serves
// whatever bytes it was given without checking them (to reach age's own
// authentication behind a store that lies).
#pragma once

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "base/bytes.h"
#include "base/file.h"
#include "files/resource.h"
#include "files/transfer.h"
#include "keys/party_key.h"
#include "store/store.h"

namespace ward::files::testing {

namespace fs = std::filesystem;

inline void write_text(const fs::path& path, std::string_view text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

inline std::string read_text(const fs::path& path) {
  auto bytes = read_file(path, std::size_t{1} << 30);
  return bytes ? std::string(as_chars(*bytes)) : std::string("<unreadable>");
}

// Inverts the byte at OFFSET in place, so the file always changes (writing a
// fixed value leaves a random byte unchanged one time in 256).
inline void flip_byte(const fs::path& path, std::streamoff offset) {
  fs::permissions(path, fs::perms::owner_write, fs::perm_options::add);
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(offset);
  const int old = f.get();
  ASSERT_NE(old, EOF) << path << " has no byte at " << offset;
  f.seekp(offset);
  f.put(static_cast<char>(~old));
}

// Serves stored bytes as they are, after an optional edit, with no digest check.
class LyingStore final : public store::Store {
 public:
  explicit LyingStore(store::Store& real) : real_(real) {}
  std::function<void(Bytes&)> edit;

  std::string uri() const override { return real_.uri(); }
  Result<store::BlobInfo> put_file(const fs::path& path, store::Progress* progress) override {
    return real_.put_file(path, progress);
  }
  Result<store::BlobInfo> put_hashed_file(const fs::path& path, const crypto::Sha256Digest& digest,
                                          store::Progress* progress) override {
    return real_.put_hashed_file(path, digest, progress);
  }
  Result<store::BlobInfo> put_bytes(ByteView bytes) override { return real_.put_bytes(bytes); }
  Result<std::optional<std::uint64_t>> head(const crypto::Sha256Digest& digest) override {
    return real_.head(digest);
  }
  Result<store::BlobInfo> get_stream(const crypto::Sha256Digest& digest, std::uint64_t max_size,
                                     const store::Sink& sink) override {
    auto bytes = real_.get_bytes(digest, std::uint64_t{1} << 30);
    if (!bytes) return std::unexpected(bytes.error());
    if (edit) edit(*bytes);
    if (bytes->size() > max_size) return fail("store.too_large", "lying store: too large");
    if (auto ok = sink(*bytes); !ok) return std::unexpected(ok.error());
    return store::BlobInfo{uri() + "/" + hex_encode(digest), digest, bytes->size()};
  }
  Result<Bytes> get_range(const crypto::Sha256Digest& digest, std::uint64_t offset, std::uint64_t length) override {
    auto bytes = real_.get_bytes(digest, std::uint64_t{1} << 30);
    if (!bytes) return std::unexpected(bytes.error());
    if (edit) edit(*bytes);
    if (offset >= bytes->size()) return Bytes{};
    const auto end = std::min<std::uint64_t>(bytes->size(), offset + length);
    return Bytes(bytes->begin() + static_cast<std::ptrdiff_t>(offset), bytes->begin() + static_cast<std::ptrdiff_t>(end));
  }

 private:
  store::Store& real_;
};

class FilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "ward-files-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    auto store = store::open_store((dir_ / "store").string());
    ASSERT_TRUE(store) << store.error().message;
    store_ = std::move(*store);
    fs::create_directories(dir_ / "out");
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  const fs::path& dir() const { return dir_; }
  fs::path out(const std::string& name) const { return dir_ / "out" / name; }
  store::Store& store() { return *store_; }
  // True when nothing but `keep` is in the output directory (no partial output, no temporary).
  bool out_dir_holds_only(std::initializer_list<std::string> keep = {}) const {
    std::size_t n = 0;
    for (const auto& e : fs::directory_iterator(dir_ / "out")) {
      if (std::find(keep.begin(), keep.end(), e.path().filename().string()) == keep.end()) return false;
      ++n;
    }
    return n == keep.size();
  }

  SignedResource upload_text(const std::string& name, std::string_view text) {
    write_text(dir_ / "in" / name, text);
    auto res = upload(dir_ / "in" / name, owner_, *store_);
    EXPECT_TRUE(res) << res.error().message;
    return *res;
  }

  keys::PartyKey owner_ = keys::PartyKey::generate();
  keys::PartyKey other_ = keys::PartyKey::generate();
  keys::PartyKey cvm_ = keys::PartyKey::generate();

 private:
  fs::path dir_;
  std::unique_ptr<store::Store> store_;
};

}  // namespace ward::files::testing
