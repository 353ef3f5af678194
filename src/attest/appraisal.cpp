#include "attest/appraisal.h"

#include <array>
#include <utility>

#include <nlohmann/json.hpp>

namespace ward::attest {

namespace {

constexpr std::array<std::pair<Platform, std::string_view>, 5> kPlatforms{{
    {Platform::Tdx, "tdx"},
    {Platform::Sgx, "sgx"},
    {Platform::Snp, "snp"},
    {Platform::NvGpu, "nvgpu"},
    {Platform::Sim, "sim"},
}};

constexpr std::array<std::pair<TcbStatus, std::string_view>, 10> kStatuses{{
    {TcbStatus::UpToDate, "UpToDate"},
    {TcbStatus::SWHardeningNeeded, "SWHardeningNeeded"},
    {TcbStatus::ConfigurationNeeded, "ConfigurationNeeded"},
    {TcbStatus::ConfigurationAndSWHardeningNeeded, "ConfigurationAndSWHardeningNeeded"},
    {TcbStatus::OutOfDate, "OutOfDate"},
    {TcbStatus::OutOfDateConfigurationNeeded, "OutOfDateConfigurationNeeded"},
    {TcbStatus::Revoked, "Revoked"},
    {TcbStatus::TDRelaunchAdvised, "TDRelaunchAdvised"},
    {TcbStatus::TDRelaunchAdvisedConfigurationNeeded, "TDRelaunchAdvisedConfigurationNeeded"},
    {TcbStatus::NotSupported, "NotSupported"},
}};

}  // namespace

std::string_view platform_name(Platform p) {
  for (const auto& [value, name] : kPlatforms) {
    if (value == p) return name;
  }
  return "unknown";
}

std::optional<Platform> parse_platform(std::string_view name) {
  for (const auto& [value, n] : kPlatforms) {
    if (n == name) return value;
  }
  return std::nullopt;
}

std::string_view tcb_status_name(TcbStatus s) {
  for (const auto& [value, name] : kStatuses) {
    if (value == s) return name;
  }
  return "unknown";
}

std::optional<TcbStatus> parse_tcb_status(std::string_view name) {
  for (const auto& [value, n] : kStatuses) {
    if (n == name) return value;
  }
  return std::nullopt;
}

void Appraisal::continue_with(Appraisal next) {
  Checks before = std::move(checks);
  before.append(next.checks);
  *this = std::move(next);
  checks = std::move(before);
}

const Measurement* Appraisal::measurement(std::string_view name) const {
  for (const auto& m : measurements) {
    if (m.name == name) return &m;
  }
  return nullptr;
}

nlohmann::json appraisal_to_json(const Appraisal& a) {
  nlohmann::json j;
  j["verdict"] = a.accepted() ? "accept" : "reject";
  j["platform"] = std::string(platform_name(a.simulated ? Platform::Sim : a.platform));
  j["simulated"] = a.simulated;
  j["debug"] = a.debug;
  j["tcb_status"] = a.tcb_status ? nlohmann::json(std::string(tcb_status_name(*a.tcb_status)))
                                 : nlohmann::json(nullptr);
  j["advisories"] = a.advisories;
  nlohmann::json m = nlohmann::json::object();
  for (const auto& meas : a.measurements) m[meas.name] = hex_encode(meas.value);
  j["measurements"] = std::move(m);
  j["report_data"] = hex_encode(a.report_data);
  if (a.snp_reported_tcb) {
    const auto& t = *a.snp_reported_tcb;
    nlohmann::json tcb{{"bootloader", t.bootloader}, {"tee", t.tee}, {"snp", t.snp}, {"microcode", t.microcode}};
    if (t.fmc) tcb["fmc"] = *t.fmc;
    j["snp_reported_tcb"] = std::move(tcb);
  }
  if (a.snp_smt_allowed) j["snp_smt_allowed"] = *a.snp_smt_allowed;
  if (a.snp_migration_agent_allowed) j["snp_migration_agent_allowed"] = *a.snp_migration_agent_allowed;
  j["claims"] = a.claims;
  nlohmann::json checks = nlohmann::json::array();
  for (const auto& c : a.checks.results()) {
    checks.push_back({{"name", c.name}, {"ok", c.ok}, {"detail", c.detail}});
  }
  j["checks"] = std::move(checks);
  const CheckResult* failed = a.checks.first_failure();
  j["failed_check"] = failed ? nlohmann::json(failed->name) : nlohmann::json(nullptr);
  return j;
}

std::string appraisal_to_text(const Appraisal& a) {
  std::string out;
  for (const auto& c : a.checks.results()) {
    out += c.ok ? "  ok    " : "  FAIL  ";
    out += c.name;
    if (!c.detail.empty()) out += ": " + c.detail;
    out += '\n';
  }
  out += "platform: ";
  out += platform_name(a.simulated ? Platform::Sim : a.platform);
  out += '\n';
  if (a.tcb_status) {
    out += "tcb status: ";
    out += tcb_status_name(*a.tcb_status);
    out += '\n';
  }
  if (!a.advisories.empty()) {
    out += "advisories:";
    for (const auto& adv : a.advisories) out += " " + adv;
    out += '\n';
  }
  out += "report data: " + hex_encode(a.report_data) + '\n';
  for (const auto& m : a.measurements) out += m.name + ": " + hex_encode(m.value) + '\n';
  for (const auto& [k, v] : a.claims) out += k + ": " + v + '\n';
  if (a.accepted()) {
    out += a.simulated ? "verdict: accept (SIMULATED: no hardware protection)\n" : "verdict: accept\n";
  } else {
    const CheckResult* failed = a.checks.first_failure();
    out += "verdict: reject";
    if (failed) out += " (" + failed->name + ")";
    out += a.simulated ? " SIMULATED\n" : "\n";
  }
  return out;
}

}  // namespace ward::attest
