#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <sys/stat.h>

#include <gtest/gtest.h>

#include "crypto/hash.h"
#include "crypto/random.h"
#include "store/store.h"
#include "store_testing.h"

namespace ward::store {
namespace {

namespace fs = std::filesystem;
using testing::read_bytes;
using testing::TempDir;
using testing::write_bytes;

class FileStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = open_store((tmp_.path() / "store").string());
    ASSERT_TRUE(s) << s.error().message;
    store_ = std::move(*s);
  }

  fs::path blob_path(const crypto::Sha256Digest& d) const { return tmp_.path() / "store" / hex_encode(d); }
  std::size_t entries() const {
    return static_cast<std::size_t>(
        std::distance(fs::directory_iterator(tmp_.path() / "store"), fs::directory_iterator()));
  }

  TempDir tmp_{"store-file"};
  std::unique_ptr<Store> store_;
};

TEST_F(FileStoreTest, shouldRoundTripAFile) {
  const Bytes data = crypto::random_bytes(3 * 1024 * 1024 + 17);
  write_bytes(tmp_.path() / "in", data);
  auto put = store_->put_file(tmp_.path() / "in");
  ASSERT_TRUE(put) << put.error().message;
  EXPECT_EQ(put->sha256, crypto::sha256(data));
  EXPECT_EQ(put->size, data.size());
  EXPECT_EQ(put->uri, "file://" + (tmp_.path() / "store").string() + "/" + hex_encode(put->sha256));
  EXPECT_EQ(read_bytes(blob_path(put->sha256)), data);
  EXPECT_EQ(entries(), 1u);

  auto size = store_->head(put->sha256);
  ASSERT_TRUE(size) << size.error().message;
  EXPECT_EQ(*size, std::optional<std::uint64_t>(data.size()));

  auto got = store_->get_file(put->sha256, tmp_.path() / "out");
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(got->size, data.size());
  EXPECT_EQ(read_bytes(tmp_.path() / "out"), data);

  auto bytes = fetch_bytes(put->uri, data.size());
  ASSERT_TRUE(bytes) << bytes.error().message;
  EXPECT_EQ(*bytes, data);
  auto fetched = fetch_file(put->uri, tmp_.path() / "fetched");
  ASSERT_TRUE(fetched) << fetched.error().message;
  EXPECT_EQ(read_bytes(tmp_.path() / "fetched"), data);
}

TEST_F(FileStoreTest, shouldRoundTripBytesIncludingAnEmptyBlob) {
  for (const Bytes& data : {to_bytes("hello"), Bytes{}}) {
    auto put = store_->put_bytes(data);
    ASSERT_TRUE(put) << put.error().message;
    EXPECT_EQ(put->sha256, crypto::sha256(data));
    auto got = store_->get_bytes(put->sha256, 100);
    ASSERT_TRUE(got) << got.error().message;
    EXPECT_EQ(*got, data);
  }
}

TEST_F(FileStoreTest, shouldSucceedWhenTheBlobIsAlreadyStored) {
  write_bytes(tmp_.path() / "in", as_bytes("same bytes"));
  auto first = store_->put_file(tmp_.path() / "in");
  ASSERT_TRUE(first) << first.error().message;
  auto second = store_->put_file(tmp_.path() / "in");
  ASSERT_TRUE(second) << second.error().message;
  auto third = store_->put_bytes(as_bytes("same bytes"));
  ASSERT_TRUE(third) << third.error().message;
  EXPECT_EQ(first->uri, second->uri);
  EXPECT_EQ(first->uri, third->uri);
  EXPECT_EQ(entries(), 1u);
}

TEST_F(FileStoreTest, shouldReplaceAStoredBlobOfTheWrongSize) {
  auto put = store_->put_bytes(as_bytes("complete blob"));
  ASSERT_TRUE(put);
  write_bytes(blob_path(put->sha256), as_bytes("compl"));
  ASSERT_TRUE(store_->put_bytes(as_bytes("complete blob")));
  EXPECT_EQ(read_bytes(blob_path(put->sha256)), to_bytes("complete blob"));
}

TEST_F(FileStoreTest, shouldFailWithDigestAndLeaveNothingWhenABlobIsCorrupt) {
  auto put = store_->put_bytes(as_bytes("original bytes"));
  ASSERT_TRUE(put);
  write_bytes(blob_path(put->sha256), as_bytes("tampered bytes"));

  auto got = store_->get_file(put->sha256, tmp_.path() / "out");
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, "store.digest");
  EXPECT_FALSE(fs::exists(tmp_.path() / "out"));
  auto bytes = store_->get_bytes(put->sha256, 1000);
  ASSERT_FALSE(bytes);
  EXPECT_EQ(bytes.error().code, "store.digest");
  EXPECT_EQ(fs::directory_iterator(tmp_.path() / "store")->path().filename(), hex_encode(put->sha256));
  EXPECT_EQ(entries(), 1u);
}

TEST_F(FileStoreTest, shouldReportAMissingBlobAsNotFound) {
  const auto digest = crypto::sha256(as_bytes("never stored"));
  auto size = store_->head(digest);
  ASSERT_TRUE(size) << size.error().message;
  EXPECT_FALSE(*size);
  auto got = store_->get_file(digest, tmp_.path() / "out");
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, "store.not_found");
  EXPECT_FALSE(fs::exists(tmp_.path() / "out"));
  auto bytes = store_->get_bytes(digest, 10);
  ASSERT_FALSE(bytes);
  EXPECT_EQ(bytes.error().code, "store.not_found");
}

TEST_F(FileStoreTest, shouldNotCreateTheDirectoryWhenFetching) {
  const std::string uri =
      "file://" + (tmp_.path() / "absent").string() + "/" + hex_encode(crypto::sha256(as_bytes("x")));
  auto bytes = fetch_bytes(uri, 10);
  ASSERT_FALSE(bytes);
  EXPECT_EQ(bytes.error().code, "store.not_found");
  EXPECT_FALSE(fs::exists(tmp_.path() / "absent"));
}

TEST_F(FileStoreTest, shouldRefuseBlobsOverMaxSize) {
  auto put = store_->put_bytes(as_bytes("0123456789"));
  ASSERT_TRUE(put);
  auto exact = store_->get_bytes(put->sha256, 10);
  ASSERT_TRUE(exact) << exact.error().message;
  auto over = store_->get_bytes(put->sha256, 9);
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error().code, "store.too_large");
  auto fetched = fetch_bytes(put->uri, 9);
  ASSERT_FALSE(fetched);
  EXPECT_EQ(fetched.error().code, "store.too_large");
}

TEST_F(FileStoreTest, shouldFailToPutAMissingOrNonRegularFile) {
  auto missing = store_->put_file(tmp_.path() / "nope");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, "store.io");
  auto dir = store_->put_file(tmp_.path());
  ASSERT_FALSE(dir);
  EXPECT_EQ(dir.error().code, "store.io");
}

TEST_F(FileStoreTest, shouldCountEveryByteInProgress) {
  const Bytes data = crypto::random_bytes(2 * 1024 * 1024 + 5);
  write_bytes(tmp_.path() / "in", data);
  Progress progress("upload in", data.size());
  ASSERT_TRUE(store_->put_file(tmp_.path() / "in", &progress));
  auto put = store_->put_bytes(data);  // same blob, already there
  ASSERT_TRUE(put);
  Progress down("download", data.size());
  ASSERT_TRUE(store_->get_file(put->sha256, tmp_.path() / "out", &down));
  EXPECT_EQ(read_bytes(tmp_.path() / "out"), data);
}

// Runs `f` with stderr sent to a file, and returns what it wrote there.
template <class F>
std::string with_stderr_to_file(const fs::path& path, F f) {
  std::fflush(stderr);
  const int saved = ::dup(STDERR_FILENO);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  ::dup2(fd, STDERR_FILENO);
  ::close(fd);
  f();
  std::fflush(stderr);
  ::dup2(saved, STDERR_FILENO);
  ::close(saved);
  const Bytes written = read_bytes(path);
  return std::string(written.begin(), written.end());
}

TEST(Progress, shouldStaySilentWhenStderrIsNotATerminal) {
  TempDir tmp("store-progress");
  bool enabled = true;
  const std::string written = with_stderr_to_file(tmp.path() / "err", [&] {
    Progress progress("upload x", 1000);
    enabled = progress.enabled();
    progress.advance(500);
    progress.advance(500);
  });
  EXPECT_FALSE(enabled);
  EXPECT_EQ(written, "");
}

TEST(Progress, shouldDrawABarOnATerminalAndEndTheLine) {
  const int master = ::posix_openpt(O_RDWR | O_NOCTTY);
  if (master < 0 || ::grantpt(master) != 0 || ::unlockpt(master) != 0) GTEST_SKIP() << "no pseudo-terminal";
  const int terminal = ::open(::ptsname(master), O_RDWR | O_NOCTTY | O_CLOEXEC);
  ASSERT_GE(terminal, 0);
  std::fflush(stderr);
  const int saved = ::dup(STDERR_FILENO);
  ::dup2(terminal, STDERR_FILENO);
  bool enabled = false;
  {
    Progress progress("upload x", 2 * 1024 * 1024);
    enabled = progress.enabled();
    progress.advance(1024 * 1024);
    progress.advance(1024 * 1024);
  }
  std::fflush(stderr);
  ::dup2(saved, STDERR_FILENO);
  ::close(saved);
  ::close(terminal);
  // A terminal hands its output over in pieces: read until it goes quiet.
  std::string drawn;
  pollfd ready{master, POLLIN, 0};
  while (::poll(&ready, 1, 200) == 1 && (ready.revents & POLLIN) != 0) {
    char buf[4096];
    const ssize_t n = ::read(master, buf, sizeof buf);
    if (n <= 0) break;
    drawn.append(buf, static_cast<std::size_t>(n));
  }
  ::close(master);
  EXPECT_TRUE(enabled);
  ASSERT_FALSE(drawn.empty());
  EXPECT_NE(drawn.find("upload x"), std::string::npos) << drawn;
  EXPECT_NE(drawn.find("100%"), std::string::npos) << drawn;
  EXPECT_NE(drawn.find("2.0 MiB / 2.0 MiB"), std::string::npos) << drawn;
  EXPECT_EQ(drawn.back(), '\n') << drawn;
}

}  // namespace
TEST_F(FileStoreTest, shouldStoreAHashedFileInOnePassAndReadRanges) {
  const Bytes data = crypto::random_bytes(2 * 1024 * 1024 + 5);
  write_bytes(tmp_.path() / "in", data);
  auto put = store_->put_hashed_file(tmp_.path() / "in", crypto::sha256(data));
  ASSERT_TRUE(put) << put.error().message;
  EXPECT_EQ(read_bytes(blob_path(put->sha256)), data);
  auto head = store_->get_range(put->sha256, 0, 300);
  ASSERT_TRUE(head) << head.error().message;
  EXPECT_EQ(*head, Bytes(data.begin(), data.begin() + 300));
  auto middle = store_->get_range(put->sha256, 1 << 20, 10);
  ASSERT_TRUE(middle) << middle.error().message;
  EXPECT_EQ(*middle, Bytes(data.begin() + (1 << 20), data.begin() + (1 << 20) + 10));
  auto tail = store_->get_range(put->sha256, data.size() - 2, 100);
  ASSERT_TRUE(tail) << tail.error().message;
  EXPECT_EQ(tail->size(), 2u);
  auto past = store_->get_range(put->sha256, data.size() + 5, 10);
  ASSERT_TRUE(past) << past.error().message;
  EXPECT_TRUE(past->empty());
  auto missing = store_->get_range(crypto::sha256(to_bytes("nothing")), 0, 10);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, "store.not_found");
  auto huge = store_->get_range(put->sha256, 0, kMaxRangeSize + 1);
  ASSERT_FALSE(huge);
  EXPECT_EQ(huge.error().code, "store.too_large");
}

// A private file written in the staging directory becomes the blob without
// a copy: one inode, readable like any blob, and it outlives the caller's name.
TEST_F(FileStoreTest, shouldLinkAHashedFileWrittenInTheStagingDirectory) {
  auto staging = store_->staging_dir();
  ASSERT_TRUE(staging);
  EXPECT_EQ(*staging, tmp_.path() / "store");
  const Bytes data = crypto::random_bytes(100 * 1024 + 3);
  const fs::path private_dir = *staging / ".upload";
  fs::create_directory(private_dir);
  write_bytes(private_dir / "ciphertext", data);
  fs::permissions(private_dir / "ciphertext", fs::perms::owner_read | fs::perms::owner_write);
  auto put = store_->put_hashed_file(private_dir / "ciphertext", crypto::sha256(data));
  ASSERT_TRUE(put) << put.error().message;
  struct stat source {
  }, blob{};
  ASSERT_EQ(::stat((private_dir / "ciphertext").c_str(), &source), 0);
  ASSERT_EQ(::stat(blob_path(put->sha256).c_str(), &blob), 0);
  EXPECT_EQ(source.st_ino, blob.st_ino);
  EXPECT_EQ(blob.st_mode & 0777, 0644u);
  fs::remove_all(private_dir);
  EXPECT_EQ(read_bytes(blob_path(put->sha256)), data);
  auto got = store_->get_bytes(put->sha256, data.size());
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(*got, data);
}

// A damaged blob of another size under the name is replaced by a copy, not
// kept because a link cannot be made over it.
TEST_F(FileStoreTest, shouldReplaceADamagedBlobWhenStoringAHashedFile) {
  const Bytes data = crypto::random_bytes(4096);
  const auto digest = crypto::sha256(data);
  write_bytes(blob_path(digest), to_bytes("truncated"));
  write_bytes(tmp_.path() / "store" / ".in", data);
  auto put = store_->put_hashed_file(tmp_.path() / "store" / ".in", digest);
  ASSERT_TRUE(put) << put.error().message;
  auto got = store_->get_bytes(digest, data.size());
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(*got, data);
}

// From another file system the file is copied (the caller's name stays its own).
TEST_F(FileStoreTest, shouldCopyAHashedFileFromAnotherFileSystem) {
  struct stat here {
  }, shm{};
  ASSERT_EQ(::stat(tmp_.path().c_str(), &here), 0);
  if (::stat("/dev/shm", &shm) != 0 || shm.st_dev == here.st_dev) GTEST_SKIP() << "no second file system";
  TempDir other{"store-other-fs", "/dev/shm"};
  const Bytes data = crypto::random_bytes(70 * 1024);
  write_bytes(other.path() / "in", data);
  auto put = store_->put_hashed_file(other.path() / "in", crypto::sha256(data));
  ASSERT_TRUE(put) << put.error().message;
  struct stat source {
  }, blob{};
  ASSERT_EQ(::stat((other.path() / "in").c_str(), &source), 0);
  ASSERT_EQ(::stat(blob_path(put->sha256).c_str(), &blob), 0);
  EXPECT_EQ(source.st_nlink, 1u);
  EXPECT_EQ(read_bytes(blob_path(put->sha256)), data);
}

// A caller that names the wrong digest stores a blob no reader accepts.
TEST_F(FileStoreTest, shouldRefuseToReadAHashedFileStoredUnderAWrongDigest) {
  const Bytes data = to_bytes("the bytes");
  write_bytes(tmp_.path() / "in", data);
  const auto wrong = crypto::sha256(to_bytes("other bytes"));
  auto put = store_->put_hashed_file(tmp_.path() / "in", wrong);
  ASSERT_TRUE(put) << put.error().message;
  auto got = store_->get_bytes(wrong, 100);
  ASSERT_FALSE(got);
  EXPECT_EQ(got.error().code, "store.digest");
}

}  // namespace ward::store
