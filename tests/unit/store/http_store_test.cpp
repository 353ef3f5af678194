#include <cstdlib>
#include <filesystem>
#include <memory>

#include <gtest/gtest.h>

#include "crypto/hash.h"
#include "crypto/random.h"
#include "nginx.h"
#include "store/store.h"
#include "store_testing.h"

namespace ward::store {
namespace {

namespace fs = std::filesystem;
using testing::NginxServer;
using testing::read_bytes;
using testing::TempDir;
using testing::write_bytes;

class HttpStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(testing::kNginx)) GTEST_SKIP() << "no " << testing::kNginx;
    nginx_ = std::make_unique<NginxServer>(tmp_.path() / "nginx", std::nullopt);
    std::string why;
    ASSERT_TRUE(nginx_->start(why)) << why;
    store_ = open(nginx_->origin() + "/blobs/");
  }
  void TearDown() override { nginx_.reset(); }

  static std::unique_ptr<Store> open(const std::string& uri) {
    auto s = open_store(uri);
    EXPECT_TRUE(s) << s.error().message;
    return s ? std::move(*s) : nullptr;
  }

  TempDir tmp_{"store-http"};
  std::unique_ptr<NginxServer> nginx_;
  std::unique_ptr<Store> store_;
};

TEST_F(HttpStoreTest, shouldRoundTripAMultiMebibyteFile) {
  ASSERT_TRUE(store_);
  EXPECT_EQ(store_->uri(), nginx_->origin() + "/blobs");
  const Bytes data = crypto::random_bytes(6 * 1024 * 1024 + 123);
  write_bytes(tmp_.path() / "in", data);
  Progress up("upload in", data.size());
  auto put = store_->put_file(tmp_.path() / "in", &up);
  ASSERT_TRUE(put) << put.error().message;
  EXPECT_EQ(put->sha256, crypto::sha256(data));
  EXPECT_EQ(put->size, data.size());
  EXPECT_EQ(put->uri, nginx_->origin() + "/blobs/" + hex_encode(put->sha256));
  EXPECT_EQ(read_bytes(nginx_->blobs() / hex_encode(put->sha256)), data);

  auto size = store_->head(put->sha256);
  ASSERT_TRUE(size) << size.error().message;
  EXPECT_EQ(*size, std::optional<std::uint64_t>(data.size()));

  Progress down("download", data.size());
  auto got = store_->get_file(put->sha256, tmp_.path() / "out", &down);
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(got->size, data.size());
  EXPECT_EQ(read_bytes(tmp_.path() / "out"), data);

  auto bytes = store_->get_bytes(put->sha256, data.size());
  ASSERT_TRUE(bytes) << bytes.error().message;
  EXPECT_EQ(*bytes, data);

  auto fetched = fetch_file(put->uri, tmp_.path() / "fetched");
  ASSERT_TRUE(fetched) << fetched.error().message;
  EXPECT_EQ(read_bytes(tmp_.path() / "fetched"), data);
}

TEST_F(HttpStoreTest, shouldRoundTripBytesAndSucceedWhenAlreadyStored) {
  ASSERT_TRUE(store_);
  for (const Bytes& data : {to_bytes("hello"), Bytes{}}) {
    auto put = store_->put_bytes(data);
    ASSERT_TRUE(put) << put.error().message;
    auto again = store_->put_bytes(data);
    ASSERT_TRUE(again) << again.error().message;
    EXPECT_EQ(again->uri, put->uri);
    auto got = fetch_bytes(put->uri, 100);
    ASSERT_TRUE(got) << got.error().message;
    EXPECT_EQ(*got, data);
  }
  write_bytes(tmp_.path() / "in", as_bytes("hello"));
  auto put = store_->put_file(tmp_.path() / "in");
  ASSERT_TRUE(put) << put.error().message;
  EXPECT_EQ(put->sha256, crypto::sha256(as_bytes("hello")));

  fs::remove(nginx_->blobs() / hex_encode(crypto::sha256(Bytes{})));
  write_bytes(tmp_.path() / "empty", Bytes{});
  auto empty = store_->put_file(tmp_.path() / "empty");
  ASSERT_TRUE(empty) << empty.error().message;
  EXPECT_EQ(empty->size, 0u);
  EXPECT_TRUE(fs::exists(nginx_->blobs() / hex_encode(crypto::sha256(Bytes{}))));
}

TEST_F(HttpStoreTest, shouldReportAMissingBlobAsNotFound) {
  ASSERT_TRUE(store_);
  const auto digest = crypto::sha256(as_bytes("never stored"));
  auto size = store_->head(digest);
  ASSERT_TRUE(size) << size.error().message;
  EXPECT_FALSE(*size);
  auto got = store_->get_file(digest, tmp_.path() / "out");
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, "store.not_found");
  EXPECT_FALSE(fs::exists(tmp_.path() / "out"));
  auto bytes = store_->get_bytes(digest, 100);
  ASSERT_FALSE(bytes);
  EXPECT_EQ(bytes.error().code, "store.not_found");
}

TEST_F(HttpStoreTest, shouldFailWithDigestWhenTheServerHoldsTamperedBytes) {
  ASSERT_TRUE(store_);
  const Bytes data = crypto::random_bytes(2 * 1024 * 1024);
  auto put = store_->put_bytes(data);
  ASSERT_TRUE(put) << put.error().message;
  Bytes tampered = data;
  tampered[tampered.size() / 2] ^= 1;
  write_bytes(nginx_->blobs() / hex_encode(put->sha256), tampered);

  auto got = store_->get_file(put->sha256, tmp_.path() / "out");
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, "store.digest");
  EXPECT_FALSE(fs::exists(tmp_.path() / "out"));
  auto bytes = store_->get_bytes(put->sha256, data.size());
  ASSERT_FALSE(bytes);
  EXPECT_EQ(bytes.error().code, "store.digest");
}

TEST_F(HttpStoreTest, shouldRefuseBlobsOverMaxSizeAndKeepWorking) {
  ASSERT_TRUE(store_);
  const Bytes data = crypto::random_bytes(1024 * 1024);
  auto put = store_->put_bytes(data);
  ASSERT_TRUE(put) << put.error().message;
  auto over = store_->get_bytes(put->sha256, data.size() - 1);
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error().code, "store.too_large");
  auto exact = store_->get_bytes(put->sha256, data.size());
  ASSERT_TRUE(exact) << exact.error().message;
  EXPECT_EQ(*exact, data);
}

TEST_F(HttpStoreTest, shouldNameTheUrlAndStatusWhenTheServerRefuses) {
  ASSERT_TRUE(store_);
  auto readonly = open(nginx_->origin() + "/readonly");
  ASSERT_TRUE(readonly);
  auto put = readonly->put_bytes(as_bytes("x"));
  ASSERT_FALSE(put);
  EXPECT_EQ(put.error().code, "store.http");
  const std::string url = nginx_->origin() + "/readonly/" + hex_encode(crypto::sha256(as_bytes("x")));
  EXPECT_NE(put.error().message.find(url), std::string::npos) << put.error().message;
  EXPECT_NE(put.error().message.find("HTTP 405"), std::string::npos) << put.error().message;
}

TEST_F(HttpStoreTest, shouldNotFollowRedirects) {
  ASSERT_TRUE(store_);
  auto put = store_->put_bytes(as_bytes("behind a redirect"));
  ASSERT_TRUE(put) << put.error().message;
  auto moved = open(nginx_->origin() + "/moved");
  ASSERT_TRUE(moved);
  auto got = moved->get_bytes(put->sha256, 100);
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, "store.http");
  EXPECT_NE(got.error().message.find("HTTP 302"), std::string::npos) << got.error().message;
}

TEST_F(HttpStoreTest, shouldFailWithHttpWhenTheServerIsDown) {
  ASSERT_TRUE(store_);
  auto put = store_->put_bytes(as_bytes("stored before the outage"));
  ASSERT_TRUE(put) << put.error().message;
  nginx_->stop();
  auto size = store_->head(put->sha256);
  ASSERT_FALSE(size);
  EXPECT_EQ(size.error().code, "store.http");
  EXPECT_NE(size.error().message.find(put->uri), std::string::npos) << size.error().message;
  auto got = store_->get_file(put->sha256, tmp_.path() / "out");
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, "store.http");
  EXPECT_FALSE(fs::exists(tmp_.path() / "out"));
  auto again = store_->put_bytes(as_bytes("during the outage"));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, "store.http");
}

// The same server over TLS, with a self-signed certificate for 127.0.0.1
// that only WARD_STORE_CA_FILE makes trusted.
class HttpsStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(testing::kNginx)) GTEST_SKIP() << "no " << testing::kNginx;
    const fs::path cert = tmp_.path() / "cert.pem";
    const fs::path key = tmp_.path() / "key.pem";
    const std::string cmd =
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1"
        " -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -keyout " +
        key.string() + " -out " + cert.string() + " >/dev/null 2>&1";
    if (std::system(cmd.c_str()) != 0) GTEST_SKIP() << "the openssl command could not make a certificate";
    ca_file_ = cert;
    nginx_ = std::make_unique<NginxServer>(tmp_.path() / "nginx", testing::TlsFiles{cert, key});
    std::string why;
    ASSERT_TRUE(nginx_->start(why)) << why;
  }
  void TearDown() override {
    ::unsetenv("WARD_STORE_CA_FILE");
    nginx_.reset();
  }

  TempDir tmp_{"store-https"};
  fs::path ca_file_;
  std::unique_ptr<NginxServer> nginx_;
};

TEST_F(HttpsStoreTest, shouldRoundTripWhenTheCaFileTrustsTheServer) {
  ::setenv("WARD_STORE_CA_FILE", ca_file_.c_str(), 1);
  auto store = open_store(nginx_->origin() + "/blobs");
  ASSERT_TRUE(store) << store.error().message;
  const Bytes data = crypto::random_bytes(3 * 1024 * 1024);
  auto put = (*store)->put_bytes(data);
  ASSERT_TRUE(put) << put.error().message;
  EXPECT_EQ(put->uri, nginx_->origin() + "/blobs/" + hex_encode(crypto::sha256(data)));
  auto got = fetch_bytes(put->uri, data.size());
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(*got, data);
}

TEST_F(HttpsStoreTest, shouldRefuseAnUntrustedCertificate) {
  auto store = open_store(nginx_->origin() + "/blobs");
  ASSERT_TRUE(store) << store.error().message;
  auto put = (*store)->put_bytes(as_bytes("secret-free but still refused"));
  ASSERT_FALSE(put);
  EXPECT_EQ(put.error().code, "store.http");
  EXPECT_NE(put.error().message.find("not trusted"), std::string::npos) << put.error().message;
  EXPECT_TRUE(fs::is_empty(nginx_->blobs()));
}

TEST_F(HttpsStoreTest, shouldFailToOpenWithAnUnreadableCaFile) {
  ::setenv("WARD_STORE_CA_FILE", (tmp_.path() / "missing.pem").c_str(), 1);
  auto store = open_store(nginx_->origin() + "/blobs");
  ASSERT_FALSE(store);
  EXPECT_EQ(store.error().code, "store.http");
}

}  // namespace
TEST_F(HttpStoreTest, shouldStoreAHashedFileInOnePassAndReadRangesByRangeRequests) {
  ASSERT_TRUE(store_);
  const Bytes data = crypto::random_bytes(3 * 1024 * 1024 + 7);
  write_bytes(tmp_.path() / "in", data);
  auto put = store_->put_hashed_file(tmp_.path() / "in", crypto::sha256(data));
  ASSERT_TRUE(put) << put.error().message;
  EXPECT_EQ(read_bytes(nginx_->blobs() / hex_encode(put->sha256)), data);
  auto head = store_->get_range(put->sha256, 0, 250);
  ASSERT_TRUE(head) << head.error().message;
  EXPECT_EQ(*head, Bytes(data.begin(), data.begin() + 250));
  auto middle = store_->get_range(put->sha256, 2 << 20, 1000);
  ASSERT_TRUE(middle) << middle.error().message;
  EXPECT_EQ(*middle, Bytes(data.begin() + (2 << 20), data.begin() + (2 << 20) + 1000));
  auto tail = store_->get_range(put->sha256, data.size() - 3, 100);
  ASSERT_TRUE(tail) << tail.error().message;
  EXPECT_EQ(*tail, Bytes(data.end() - 3, data.end()));
  auto past = store_->get_range(put->sha256, data.size() + 10, 10);
  ASSERT_TRUE(past) << past.error().message;
  EXPECT_TRUE(past->empty());
  auto missing = store_->get_range(crypto::sha256(to_bytes("nothing")), 0, 10);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, "store.not_found");
}

}  // namespace ward::store
