#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "store/store.h"
#include "store_testing.h"

namespace ward::store {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

const std::string kHex = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

std::string store_uri_of(std::string_view uri) {
  auto s = open_store(uri);
  if (!s) return "error " + s.error().code + ": " + s.error().message;
  return (*s)->uri();
}

std::string error_code_of(std::string_view uri) {
  auto s = open_store(uri);
  return s ? "" : s.error().code;
}

TEST(StoreUri, shouldSpellHttpStoresCanonically) {
  EXPECT_EQ(store_uri_of("http://example.com"), "http://example.com");
  EXPECT_EQ(store_uri_of("http://example.com/"), "http://example.com");
  EXPECT_EQ(store_uri_of("HTTP://Example.COM:8080/blobs/"), "http://example.com:8080/blobs");
  EXPECT_EQ(store_uri_of("http://example.com:80/a/b//"), "http://example.com/a/b");
  EXPECT_EQ(store_uri_of("https://store.example:443/x"), "https://store.example/x");
  EXPECT_EQ(store_uri_of("https://store.example:8443/x%20y"), "https://store.example:8443/x%20y");
}

TEST(StoreUri, shouldRejectMalformedHttpUris) {
  for (const char* uri :
       {"http://", "http:///blobs", "http://user:pw@host/blobs", "http://host:0", "http://host:65536",
        "http://host:80x", "http://host:", "http://host/a?b", "http://host/a#b", "http://host/a//b",
        "http://host/a/../b", "http://host/a b", "http://[::1]:80/x", "http://host/%zz"}) {
    EXPECT_EQ(error_code_of(uri), "store.uri") << uri;
  }
}

TEST(StoreUri, shouldRejectUnsupportedSchemesAndEmptyUris) {
  EXPECT_EQ(error_code_of(""), "store.uri");
  EXPECT_EQ(error_code_of("s3://bucket/x"), "store.uri");
  EXPECT_EQ(error_code_of("file://host/dir"), "store.uri");
  EXPECT_EQ(error_code_of("file:///dir?x"), "store.uri");
  EXPECT_EQ(error_code_of("/tmp/a\nb"), "store.uri");
}

TEST(StoreUri, shouldSpellFileStoresCanonicallyAndCreateTheirDirectory) {
  TempDir tmp("store-uri");
  const fs::path dir = tmp.path() / "a" / "b";
  EXPECT_EQ(store_uri_of("file://" + dir.string() + "/"), "file://" + dir.string());
  EXPECT_TRUE(fs::is_directory(dir));
  EXPECT_EQ(store_uri_of(dir.string() + "/./"), "file://" + dir.string());
  EXPECT_EQ(store_uri_of("file://localhost" + dir.string()), "file://" + dir.string());
}

TEST(StoreUri, shouldMakeARelativePathAbsolute) {
  TempDir tmp("store-uri");
  const fs::path before = fs::current_path();
  fs::current_path(tmp.path());
  const std::string uri = store_uri_of("rel/store");
  fs::current_path(before);
  EXPECT_EQ(uri, "file://" + (fs::canonical(tmp.path()) / "rel" / "store").string());
  EXPECT_TRUE(fs::is_directory(tmp.path() / "rel" / "store"));
}

TEST(StoreUri, shouldRefuseAFileStoreThatIsAFile) {
  TempDir tmp("store-uri");
  testing::write_bytes(tmp.path() / "f", as_bytes("x"));
  EXPECT_EQ(error_code_of((tmp.path() / "f").string()), "store.io");
}

TEST(BlobUri, shouldSplitABlobUriIntoStoreAndDigest) {
  auto ref = parse_blob_uri("https://h.example:8443/blobs/" + kHex);
  ASSERT_TRUE(ref) << ref.error().message;
  EXPECT_EQ(ref->store_uri, "https://h.example:8443/blobs");
  EXPECT_EQ(hex_encode(ref->sha256), kHex);

  ref = parse_blob_uri("file:///srv/store/" + kHex);
  ASSERT_TRUE(ref) << ref.error().message;
  EXPECT_EQ(ref->store_uri, "file:///srv/store");

  ref = parse_blob_uri("http://h/" + kHex);
  ASSERT_TRUE(ref) << ref.error().message;
  EXPECT_EQ(ref->store_uri, "http://h");

  ref = parse_blob_uri("file:///" + kHex);
  ASSERT_TRUE(ref) << ref.error().message;
  EXPECT_EQ(ref->store_uri, "file:///");
}

TEST(BlobUri, shouldRejectALastSegmentThatIsNotALowerCaseSha256) {
  std::string upper = kHex;
  upper[0] = 'F';
  for (const std::string& uri :
       {std::string("file:///s/") + upper, "file:///s/" + kHex.substr(1), "file:///s/" + kHex + "0",
        "file:///s/" + kHex + "/", "file:///s/" + kHex.substr(0, 63) + "g", kHex, std::string(""),
        "http://h/" + kHex + "?x", "ftp://h/" + kHex, "http://u@h/" + kHex}) {
    auto ref = parse_blob_uri(uri);
    ASSERT_FALSE(ref) << uri;
    EXPECT_EQ(ref.error().code, "store.uri") << uri;
  }
}

}  // namespace
}  // namespace ward::store
