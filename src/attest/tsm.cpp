#include "attest/tsm.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <sys/stat.h>
#include <system_error>

#include "base/file.h"
#include "crypto/random.h"

namespace ward::attest {
namespace {

// configfs text attributes (generation, provider, privlevel) fit in a page.
constexpr std::size_t kMaxAttributeSize = 4096;
constexpr unsigned kMaxPrivlevel = 3;

std::string errno_text() {
  return std::strerror(errno);
}

class SystemTsmFs final : public TsmFs {
 public:
  bool exists(const std::filesystem::path& path) override {
    std::error_code ec;
    return std::filesystem::exists(path, ec);
  }

  Result<void> make_dir(const std::filesystem::path& path) override {
    if (::mkdir(path.c_str(), 0700) != 0)
      return fail("io.create", "cannot create " + path.string() + ": " + errno_text());
    return {};
  }

  Result<void> remove_dir(const std::filesystem::path& path) override {
    if (::rmdir(path.c_str()) != 0)
      return fail("io.remove", "cannot remove " + path.string() + ": " + errno_text());
    return {};
  }

  Result<Bytes> read(const std::filesystem::path& path, std::size_t max_size) override {
    return read_file(path, max_size);
  }

  Result<void> write(const std::filesystem::path& path, ByteView data) override {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return fail("io.open", "cannot open " + path.string() + ": " + errno_text());
    auto written = write_all(fd, data);
    // configfs passes a binary attribute to the driver only on close.
    const bool closed = ::close(fd) == 0;
    if (!written) return fail(written.error(), path.string());
    if (!closed) return fail("io.write", "cannot write " + path.string() + ": " + errno_text());
    return {};
  }
};

std::unexpected<Error> tsm_error(std::string message) {
  return fail("attest.tsm", std::move(message));
}

std::string_view trim_newline(std::string_view s) {
  while (!s.empty() && s.back() == '\n') s.remove_suffix(1);
  return s;
}

Result<std::uint64_t> read_generation(TsmFs& fs, const std::filesystem::path& entry) {
  const auto path = entry / "generation";
  auto text = fs.read(path, kMaxAttributeSize);
  if (!text) return tsm_error(text.error().message);
  const std::string_view digits = trim_newline(as_chars(*text));
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size())
    return tsm_error(path.string() + " does not hold a generation number");
  return value;
}

// The steps between creating the entry and removing it.
Result<TsmReport> request_report(TsmFs& fs, const std::filesystem::path& entry, ByteView report_data,
                                 std::optional<unsigned> privlevel) {
  auto initial = read_generation(fs, entry);
  if (!initial) return std::unexpected(initial.error());
  std::uint64_t writes = 0;

  if (privlevel) {
    const auto path = entry / "privlevel";
    if (!fs.exists(path))
      return tsm_error("this TSM does not take a privilege level (no " + path.string() + ")");
    auto written = fs.write(path, as_bytes(std::to_string(*privlevel) + "\n"));
    if (!written) return tsm_error(written.error().message);
    ++writes;
  }
  auto written = fs.write(entry / "inblob", report_data);
  if (!written) return tsm_error(written.error().message);
  ++writes;

  TsmReport report;
  auto outblob = fs.read(entry / "outblob", kMaxTsmBlobSize);
  if (!outblob) return tsm_error(outblob.error().message);
  if (outblob->empty()) return tsm_error("the TSM returned an empty report");
  report.outblob = std::move(*outblob);

  // Only some TSMs have supplemental data; for the others the attribute is absent.
  if (const auto path = entry / "auxblob"; fs.exists(path)) {
    auto auxblob = fs.read(path, kMaxTsmBlobSize);
    if (!auxblob) return tsm_error(auxblob.error().message);
    report.auxblob = std::move(*auxblob);
  }

  auto provider = fs.read(entry / "provider", kMaxAttributeSize);
  if (!provider) return tsm_error(provider.error().message);
  report.provider = trim_newline(as_chars(*provider));
  if (report.provider.empty()) return tsm_error("the TSM did not name its provider");

  // Every write bumps the generation: any other count means someone else
  // wrote to the entry between our writes and our reads, so the report may
  // not bind our report data.
  auto final_generation = read_generation(fs, entry);
  if (!final_generation) return std::unexpected(final_generation.error());
  if (*final_generation != *initial + writes) {
    return tsm_error("another writer changed the report entry " + entry.string() + " (generation " +
                     std::to_string(*final_generation) + ", expected " + std::to_string(*initial + writes) +
                     "); try again");
  }
  return report;
}

}  // namespace

TsmFs& system_tsm_fs() {
  static SystemTsmFs fs;
  return fs;
}

Result<TsmReport> tsm_report(ByteView report_data, const std::filesystem::path& root) {
  TsmOptions options;
  options.root = root;
  return tsm_report(report_data, options, system_tsm_fs());
}

Result<TsmReport> tsm_report(ByteView report_data, const TsmOptions& options, TsmFs& fs) {
  if (report_data.size() != kTsmReportDataSize) {
    return tsm_error("report data must be " + std::to_string(kTsmReportDataSize) + " bytes, not " +
                     std::to_string(report_data.size()));
  }
  if (options.privlevel && *options.privlevel > kMaxPrivlevel)
    return tsm_error("privilege level " + std::to_string(*options.privlevel) + " is above 3");
  if (!fs.exists(options.root)) {
    return tsm_error("configfs-tsm not available at " + options.root.string() +
                     " (it needs a TDX or SEV-SNP guest kernel with configfs mounted)");
  }

  // A fresh entry per request: concurrent requests in this process never share one.
  const auto entry =
      options.root / ("ward-" + std::to_string(::getpid()) + "-" + hex_encode(crypto::random_bytes(8)));
  if (auto made = fs.make_dir(entry); !made) return tsm_error(made.error().message);

  auto report = request_report(fs, entry, report_data, options.privlevel);
  auto removed = fs.remove_dir(entry);
  if (!report) return report;
  if (!removed) return tsm_error(removed.error().message);
  return report;
}

}  // namespace ward::attest
