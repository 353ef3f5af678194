#include "base/file.h"

#include <filesystem>

#include <gtest/gtest.h>

namespace ward {
namespace {

namespace fs = std::filesystem;

class FileTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("ward-file-test-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(FileTest, CommittedFileAppearsWithItsContent) {
  auto f = AtomicFile::create(dir_ / "out");
  ASSERT_TRUE(f);
  ASSERT_TRUE(f->write(as_bytes("hello")));
  EXPECT_FALSE(fs::exists(dir_ / "out"));
  ASSERT_TRUE(f->commit());
  EXPECT_EQ(read_file(dir_ / "out", 100).value(), to_bytes("hello"));
}

TEST_F(FileTest, UncommittedFileLeavesNothingBehind) {
  {
    auto f = AtomicFile::create(dir_ / "out");
    ASSERT_TRUE(f);
    ASSERT_TRUE(f->write(as_bytes("partial plaintext")));
  }
  EXPECT_TRUE(fs::is_empty(dir_));
}

TEST_F(FileTest, NothingIsVisibleBeforeCommit) {
  auto f = AtomicFile::create(dir_ / "out");
  ASSERT_TRUE(f);
  ASSERT_TRUE(f->write(as_bytes("in progress")));
  EXPECT_TRUE(fs::is_empty(dir_));
  ASSERT_TRUE(f->commit());
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 1);
}

TEST_F(FileTest, CommitReplacesAnExistingFile) {
  ASSERT_TRUE(AtomicFile::create(dir_ / "out")->commit());
  auto f = AtomicFile::create(dir_ / "out");
  ASSERT_TRUE(f->write(as_bytes("new")));
  ASSERT_TRUE(f->commit());
  EXPECT_EQ(read_file(dir_ / "out", 100).value(), to_bytes("new"));
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 1);
}

TEST_F(FileTest, CommitWithoutReplaceShouldRefuseExistingFile) {
  auto f = AtomicFile::create(dir_ / "key");
  ASSERT_TRUE(f->write(as_bytes("second")));
  {
    auto first = AtomicFile::create(dir_ / "key");
    ASSERT_TRUE(first->write(as_bytes("first")));
    ASSERT_TRUE(first->commit(AtomicFile::Replace::No));
  }
  auto r = f->commit(AtomicFile::Replace::No);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, "io.exists");
  EXPECT_EQ(read_file(dir_ / "key", 100).value(), to_bytes("first"));
}

TEST_F(FileTest, ReadFileShouldRefuseOversizedFile) {
  auto f = AtomicFile::create(dir_ / "big");
  ASSERT_TRUE(f->write(Bytes(1000, 1)));
  ASSERT_TRUE(f->commit());
  auto r = read_file(dir_ / "big", 999);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, "io.too_large");
}

TEST_F(FileTest, ReadFileShouldNameMissingFile) {
  auto r = read_file(dir_ / "nope", 10);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("nope"), std::string::npos);
}

TEST_F(FileTest, CreateShouldFailInMissingDirectory) {
  auto f = AtomicFile::create(dir_ / "missing" / "out");
  ASSERT_FALSE(f);
  EXPECT_EQ(f.error().code, "io.create");
}

TEST_F(FileTest, ShouldWriteDeviceInPlaceNotReplaceIt) {
  auto f = AtomicFile::create("/dev/null");
  ASSERT_TRUE(f) << f.error().message;
  ASSERT_TRUE(f->write(as_bytes("discarded")));
  ASSERT_TRUE(f->commit());
  EXPECT_TRUE(fs::is_character_file("/dev/null"));
}

}  // namespace
}  // namespace ward
