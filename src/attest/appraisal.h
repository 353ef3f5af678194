// What a platform verifier establishes about one piece of evidence: the
// platform, the TCB status, measurements, report data and the checks it ran.
// A policy (policy.h) then decides whether that is acceptable.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "attest/checks.h"
#include "base/bytes.h"
#include "base/error.h"

namespace ward::attest {

enum class Platform { Tdx, Sgx, Snp, NvGpu, Sim };

std::string_view platform_name(Platform p);  // "tdx", "sgx", "snp", "nvgpu", "sim"
std::optional<Platform> parse_platform(std::string_view name);

// Intel's TCB statuses (TCB Info v3 / QE Identity v2 spellings), also used for
// SEV-SNP (UpToDate or OutOfDate against a minimum TCB).
enum class TcbStatus {
  UpToDate,
  SWHardeningNeeded,
  ConfigurationNeeded,
  ConfigurationAndSWHardeningNeeded,
  OutOfDate,
  OutOfDateConfigurationNeeded,
  Revoked,
  TDRelaunchAdvised,
  TDRelaunchAdvisedConfigurationNeeded,
  NotSupported,
};

std::string_view tcb_status_name(TcbStatus s);  // "UpToDate", ...
std::optional<TcbStatus> parse_tcb_status(std::string_view name);

// SEV-SNP TCB_VERSION components (Milan/Genoa layout; Turin adds fmc).
struct SnpTcb {
  std::uint8_t bootloader = 0;
  std::uint8_t tee = 0;
  std::uint8_t snp = 0;
  std::uint8_t microcode = 0;
  std::optional<std::uint8_t> fmc;  // Turin only
  friend bool operator==(const SnpTcb&, const SnpTcb&) = default;
};

struct Measurement {
  std::string name;  // "mrtd", "rtmr0".."rtmr3", "mrseam", "mrenclave", "mrsigner", "measurement", "host_data", ...
  Bytes value;
};

struct Appraisal {
  Platform platform = Platform::Tdx;
  bool simulated = false;  // chained to Ward's simulated-TEE root
  bool debug = false;      // the TEE's debug mode was on (TD DEBUG, SGX DEBUG, SNP policy DEBUG)
  // Set when collateral allowed a TCB level to be selected.
  std::optional<TcbStatus> tcb_status;
  std::vector<std::string> advisories;
  std::vector<Measurement> measurements;
  Bytes report_data;  // 64 bytes for TDX/SGX/SNP; the SPDM nonce (32 bytes) for nvgpu
  std::optional<SnpTcb> snp_reported_tcb;
  std::optional<bool> snp_smt_allowed;
  std::optional<bool> snp_migration_agent_allowed;
  // Further facts worth printing and matching: "fmspc", "tcb_date",
  // "snp_product", "driver_version", "vbios_version", ...
  std::map<std::string, std::string> claims;
  Checks checks;

  const Measurement* measurement(std::string_view name) const;
  bool accepted() const { return checks.ran() && checks.ok(); }
  // Becomes `next` (an appraisal of evidence this one's checks led to), with
  // these checks first: how a verifier makes another's appraisal part of its
  // own list.
  void continue_with(Appraisal next);
};

// The `ward attest verify --json` object: verdict, platform, simulated,
// debug, tcb_status, advisories, measurements, report_data, the SEV-SNP
// facts when present, claims, checks, failed_check.
nlohmann::json appraisal_to_json(const Appraisal& a);
// Human text: one line per check, then the verdict (SIMULATED when simulated).
std::string appraisal_to_text(const Appraisal& a);

}  // namespace ward::attest
