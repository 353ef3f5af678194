#include "base/work_dir.h"

#include <filesystem>
#include <fstream>
#include <sys/stat.h>

#include <gtest/gtest.h>

namespace ward {
namespace {

namespace fs = std::filesystem;

class WorkDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = WorkDir::create(fs::temp_directory_path(), "ward-workdir-test-");
    ASSERT_TRUE(dir) << dir.error().message;
    root_ = std::make_unique<WorkDir>(std::move(*dir));
  }
  const fs::path& root() const { return root_->path(); }

  // A tree an engine image could leave: a read-only directory with a file
  // in it, and a symlink pointing out of the tree.
  static void fill(const fs::path& dir, const fs::path& outside) {
    fs::create_directories(dir / "proc" / "sub");
    std::ofstream(dir / "proc" / "sub" / "f") << "x";
    fs::create_symlink(outside, dir / "link");
    ::chmod((dir / "proc" / "sub").c_str(), 0555);
    ::chmod((dir / "proc").c_str(), 0555);
  }

  std::unique_ptr<WorkDir> root_;
};

TEST_F(WorkDirTest, shouldRemoveEverythingButWhatALinkPointsToWhenDestroyed) {
  const fs::path outside = root() / "outside";
  std::ofstream(outside) << "keep me";
  fs::path made;
  {
    auto dir = WorkDir::create(root(), "w-");
    ASSERT_TRUE(dir) << dir.error().message;
    made = dir->path();
    EXPECT_EQ(fs::status(made).permissions(), fs::perms::owner_all);
    fill(made, outside);
  }
  EXPECT_FALSE(fs::exists(fs::symlink_status(made)));
  EXPECT_TRUE(fs::exists(outside));
}

TEST_F(WorkDirTest, shouldEmptyWhatAPreviousOwnerLeftWhenCreatedAtAPath) {
  const fs::path path = root() / "roots" / "order-7";
  fs::create_directories(path);
  fill(path, root());
  {
    auto dir = WorkDir::create_at(path);
    ASSERT_TRUE(dir) << dir.error().message;
    EXPECT_TRUE(fs::is_empty(path));
    auto moved = std::move(*dir);
    EXPECT_EQ(moved.path(), path);
  }
  EXPECT_FALSE(fs::exists(path));
  EXPECT_TRUE(fs::exists(root() / "roots"));
}

TEST_F(WorkDirTest, shouldSetTheModeAskedFor) {
  auto dir = WorkDir::create(root(), "w-", 0711);
  ASSERT_TRUE(dir) << dir.error().message;
  EXPECT_EQ(fs::status(dir->path()).permissions(),
            fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);
}

TEST_F(WorkDirTest, shouldFailWithAReasonWhenTheParentIsMissing) {
  auto dir = WorkDir::create(root() / "missing", "w-");
  ASSERT_FALSE(dir);
  EXPECT_EQ(dir.error().code, "io.open");
  EXPECT_TRUE(remove_tree(root() / "missing" / "nothing"));
}

}  // namespace
}  // namespace ward
