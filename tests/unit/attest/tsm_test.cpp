#include "attest/tsm.h"

#include <unistd.h>

#include <charconv>
#include <fstream>

#include <gtest/gtest.h>

#include "base/file.h"

namespace ward::attest {
namespace {

namespace fs = std::filesystem;

// configfs-tsm over a plain directory: mkdir populates the attributes, a
// write to inblob or privlevel bumps the generation and regenerates outblob,
// rmdir takes the attributes with it.
class ConfigfsEmulator final : public TsmFs {
 public:
  std::string provider = "tdx_guest";
  std::optional<Bytes> auxblob;  // created on mkdir when set
  bool has_privlevel = false;
  int bumps_per_write = 1;  // 2 stands for a second writer racing us
  bool empty_outblob = false;
  std::vector<fs::path> removed;
  std::optional<std::string> written_privlevel;

  bool exists(const fs::path& path) override { return fs::exists(path); }

  Result<void> make_dir(const fs::path& path) override {
    if (auto made = system_tsm_fs().make_dir(path); !made) return made;
    put(path / "generation", "0\n");
    put(path / "inblob", "");
    put(path / "outblob", "");
    put(path / "provider", provider + "\n");
    if (auxblob) put(path / "auxblob", std::string(as_chars(*auxblob)));
    if (has_privlevel) put(path / "privlevel", "");
    return {};
  }

  Result<void> remove_dir(const fs::path& path) override {
    removed.push_back(path);
    fs::remove_all(path);
    return {};
  }

  Result<Bytes> read(const fs::path& path, std::size_t max_size) override {
    return system_tsm_fs().read(path, max_size);
  }

  Result<void> write(const fs::path& path, ByteView data) override {
    if (auto written = system_tsm_fs().write(path, data); !written) return written;
    const fs::path entry = path.parent_path();
    if (path.filename() == "privlevel") written_privlevel = std::string(as_chars(data));
    if (path.filename() == "inblob")
      put(entry / "outblob", empty_outblob ? "" : "QUOTE(" + std::string(as_chars(data)) + ")");
    const std::string text = std::string(as_chars(read_file(entry / "generation", 64).value()));
    std::uint64_t generation = 0;
    std::from_chars(text.data(), text.data() + text.size(), generation);
    put(entry / "generation",
        std::to_string(generation + static_cast<std::uint64_t>(bumps_per_write)) + "\n");
    return {};
  }

 private:
  static void put(const fs::path& path, const std::string& content) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
  }
};

class TsmTest : public testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("ward-tsm-test-" + std::to_string(::getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_);
    options_.root = root_;
  }
  void TearDown() override { fs::remove_all(root_); }

  bool root_is_empty() const { return fs::is_empty(root_); }

  fs::path root_;
  TsmOptions options_;
  ConfigfsEmulator configfs_;
  const Bytes report_data_ = Bytes(kTsmReportDataSize, 0x5a);
};

TEST_F(TsmTest, ShouldReturnTheTdxQuoteForTheReportData) {
  auto report = tsm_report(report_data_, options_, configfs_);
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report->provider, "tdx_guest");
  EXPECT_EQ(report->outblob, to_bytes("QUOTE(" + std::string(as_chars(report_data_)) + ")"));
  EXPECT_TRUE(report->auxblob.empty());
  EXPECT_FALSE(configfs_.written_privlevel);
}

TEST_F(TsmTest, ShouldReturnTheSnpCertificateTableAndWriteThePrivilegeLevel) {
  configfs_.provider = "sev_guest";
  configfs_.auxblob = Bytes{0x63, 0x65, 0x72, 0x74, 0x00, 0xff};
  configfs_.has_privlevel = true;
  options_.privlevel = 2;
  auto report = tsm_report(report_data_, options_, configfs_);
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report->provider, "sev_guest");
  EXPECT_EQ(report->auxblob, *configfs_.auxblob);
  EXPECT_EQ(configfs_.written_privlevel, "2\n");
}

TEST_F(TsmTest, ShouldRejectWhenAnotherWriterBumpsTheGeneration) {
  configfs_.bumps_per_write = 2;
  auto report = tsm_report(report_data_, options_, configfs_);
  ASSERT_FALSE(report);
  EXPECT_EQ(report.error().code, "attest.tsm");
  EXPECT_NE(report.error().message.find("another writer"), std::string::npos) << report.error().message;
  EXPECT_NE(report.error().message.find("expected 1"), std::string::npos) << report.error().message;
}

TEST_F(TsmTest, ShouldRejectWhenAnotherWriterRacesAPrivilegeLevelRequest) {
  configfs_.has_privlevel = true;
  configfs_.bumps_per_write = 2;
  options_.privlevel = 0;
  auto report = tsm_report(report_data_, options_, configfs_);
  ASSERT_FALSE(report);
  EXPECT_NE(report.error().message.find("expected 2"), std::string::npos) << report.error().message;
}

TEST_F(TsmTest, ShouldSayConfigfsTsmIsMissingWhenTheRootIsAbsent) {
  options_.root = root_ / "no-such-dir";
  auto report = tsm_report(report_data_, options_, configfs_);
  ASSERT_FALSE(report);
  EXPECT_EQ(report.error().code, "attest.tsm");
  EXPECT_NE(report.error().message.find("configfs-tsm not available at " + options_.root.string()),
            std::string::npos)
      << report.error().message;
}

TEST_F(TsmTest, ShouldSayConfigfsTsmIsMissingOnTheRealFileSystem) {
  auto report = tsm_report(report_data_, root_ / "no-such-dir");
  ASSERT_FALSE(report);
  EXPECT_NE(report.error().message.find("configfs-tsm not available"), std::string::npos);
}

TEST_F(TsmTest, ShouldRefuseReportDataThatIsNot64Bytes) {
  for (std::size_t size : {0u, 32u, 63u, 65u}) {
    auto report = tsm_report(Bytes(size, 1), options_, configfs_);
    ASSERT_FALSE(report) << size;
    EXPECT_EQ(report.error().code, "attest.tsm");
    EXPECT_NE(report.error().message.find("64 bytes"), std::string::npos);
  }
  EXPECT_TRUE(configfs_.removed.empty()) << "no entry is made for bad input";
}

TEST_F(TsmTest, ShouldRefuseAPrivilegeLevelAbove3) {
  configfs_.has_privlevel = true;
  options_.privlevel = 4;
  auto report = tsm_report(report_data_, options_, configfs_);
  ASSERT_FALSE(report);
  EXPECT_NE(report.error().message.find("above 3"), std::string::npos);
}

TEST_F(TsmTest, ShouldRejectAPrivilegeLevelTheTsmDoesNotTake) {
  options_.privlevel = 0;
  auto report = tsm_report(report_data_, options_, configfs_);
  ASSERT_FALSE(report);
  EXPECT_NE(report.error().message.find("privilege level"), std::string::npos);
  EXPECT_TRUE(root_is_empty());
}

TEST_F(TsmTest, ShouldRejectAnEmptyReport) {
  configfs_.empty_outblob = true;
  auto report = tsm_report(report_data_, options_, configfs_);
  ASSERT_FALSE(report);
  EXPECT_NE(report.error().message.find("empty report"), std::string::npos);
}

TEST_F(TsmTest, ShouldRemoveTheEntryAfterSuccess) {
  ASSERT_TRUE(tsm_report(report_data_, options_, configfs_));
  ASSERT_EQ(configfs_.removed.size(), 1u);
  EXPECT_EQ(configfs_.removed[0].parent_path(), root_);
  EXPECT_TRUE(root_is_empty());
}

TEST_F(TsmTest, ShouldRemoveTheEntryAfterFailure) {
  configfs_.bumps_per_write = 2;
  ASSERT_FALSE(tsm_report(report_data_, options_, configfs_));
  EXPECT_EQ(configfs_.removed.size(), 1u);
  EXPECT_TRUE(root_is_empty());
}

TEST_F(TsmTest, ShouldUseAFreshEntryForEachRequest) {
  ASSERT_TRUE(tsm_report(report_data_, options_, configfs_));
  ASSERT_TRUE(tsm_report(report_data_, options_, configfs_));
  ASSERT_EQ(configfs_.removed.size(), 2u);
  EXPECT_NE(configfs_.removed[0], configfs_.removed[1]);
}

// A plain directory is not configfs: mkdir leaves the entry empty, so the
// request fails at the first read, and the real rmdir still cleans up.
TEST_F(TsmTest, ShouldFailAndCleanUpOnADirectoryThatIsNotConfigfs) {
  auto report = tsm_report(report_data_, root_);
  ASSERT_FALSE(report);
  EXPECT_EQ(report.error().code, "attest.tsm");
  EXPECT_NE(report.error().message.find("generation"), std::string::npos) << report.error().message;
  EXPECT_TRUE(root_is_empty());
}

}  // namespace
}  // namespace ward::attest
