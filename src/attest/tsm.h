// The Linux configfs-tsm evidence provider (Documentation/ABI/testing/
// configfs-tsm): asks the kernel's TSM driver for a TDX quote or an SEV-SNP
// report that binds 64 bytes of report data. One report entry per call, so
// concurrent callers in this process never share one; a writer from another
// process that touches our entry is detected by its generation counter.
#pragma once

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>

#include "base/bytes.h"
#include "base/error.h"

namespace ward::attest {

inline constexpr const char* kDefaultTsmRoot = "/sys/kernel/config/tsm/report";
inline constexpr std::size_t kTsmReportDataSize = 64;
// The kernel's TSM_REPORT_OUTBLOB_MAX: 32 KiB at first, 16 MiB in later kernels.
inline constexpr std::size_t kMaxTsmBlobSize = 16 * 1024 * 1024;

struct TsmReport {
  std::string provider;  // "tdx_guest", "sev_guest", ...: names the format of outblob
  Bytes outblob;         // the TDX quote or SEV-SNP report
  Bytes auxblob;         // sev_guest: the certificate table (GHCB spec 4.1.8.1); may be empty
};

struct TsmOptions {
  std::filesystem::path root = kDefaultTsmRoot;
  // SEV-SNP VMPL to report for (0..3); unset leaves the kernel's default.
  std::optional<unsigned> privlevel;
};

// The file-system calls the provider makes, so that tests can stand in for
// configfs, which creates an entry's attributes on mkdir and regenerates the
// report on writes. Errors: "io.*".
class TsmFs {
 public:
  virtual ~TsmFs() = default;
  virtual bool exists(const std::filesystem::path& path) = 0;
  virtual Result<void> make_dir(const std::filesystem::path& path) = 0;
  virtual Result<void> remove_dir(const std::filesystem::path& path) = 0;
  // Fails with "io.too_large" beyond `max_size` bytes.
  virtual Result<Bytes> read(const std::filesystem::path& path, std::size_t max_size) = 0;
  // One open, write and close: configfs applies a binary attribute on close.
  virtual Result<void> write(const std::filesystem::path& path, ByteView data) = 0;
};

// The real file system.
TsmFs& system_tsm_fs();

// Creates a report entry under the root, writes the report data (and the
// privilege level), reads the report back and removes the entry again, also
// on failure. Errors: "attest.tsm" for report data that is not 64 bytes, a
// missing configfs-tsm, a concurrent writer, an empty report, or a failed
// step (the message names the file and the reason).
Result<TsmReport> tsm_report(ByteView report_data, const std::filesystem::path& root = kDefaultTsmRoot);
Result<TsmReport> tsm_report(ByteView report_data, const TsmOptions& options, TsmFs& fs);

}  // namespace ward::attest
