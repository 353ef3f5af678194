#include "attest/policy.h"

#include <algorithm>
#include <set>

#include <nlohmann/json.hpp>

namespace ward::attest {

namespace {

using nlohmann::json;

Result<void> bad(const std::string& field, const std::string& why) {
  return fail("attest.policy", "policy field \"" + field + "\": " + why);
}

Result<void> read_bool(const json& j, const char* field, bool& out) {
  if (!j.contains(field)) return {};
  if (!j[field].is_boolean()) return bad(field, "must be true or false");
  out = j[field].get<bool>();
  return {};
}

Result<std::vector<std::string>> read_strings(const json& value, const std::string& field) {
  if (!value.is_array()) return std::unexpected(bad(field, "must be a list of strings").error());
  std::vector<std::string> out;
  for (const auto& v : value) {
    if (!v.is_string()) return std::unexpected(bad(field, "must be a list of strings").error());
    out.push_back(v.get<std::string>());
  }
  return out;
}

Result<std::uint8_t> read_u8(const json& j, const std::string& field) {
  if (!j.is_number_unsigned() || j.get<std::uint64_t>() > 255) {
    return std::unexpected(bad(field, "must be an integer 0..255").error());
  }
  return static_cast<std::uint8_t>(j.get<std::uint64_t>());
}

Result<SnpTcb> read_snp_tcb(const json& j) {
  if (!j.is_object()) return std::unexpected(bad("min_snp_tcb", "must be an object").error());
  SnpTcb t;
  static const std::set<std::string> known{"bootloader", "tee", "snp", "microcode", "fmc"};
  for (const auto& [k, v] : j.items()) {
    if (!known.contains(k)) return std::unexpected(bad("min_snp_tcb." + k, "unknown component").error());
    auto n = read_u8(v, "min_snp_tcb." + k);
    if (!n) return std::unexpected(n.error());
    if (k == "bootloader") t.bootloader = *n;
    if (k == "tee") t.tee = *n;
    if (k == "snp") t.snp = *n;
    if (k == "microcode") t.microcode = *n;
    if (k == "fmc") t.fmc = *n;
  }
  for (const char* required : {"bootloader", "tee", "snp", "microcode"}) {
    if (!j.contains(required)) {
      return std::unexpected(bad(std::string("min_snp_tcb.") + required, "missing").error());
    }
  }
  return t;
}

bool tcb_at_least(const SnpTcb& reported, const SnpTcb& min) {
  if (min.fmc && (!reported.fmc || *reported.fmc < *min.fmc)) return false;
  return reported.bootloader >= min.bootloader && reported.tee >= min.tee && reported.snp >= min.snp &&
         reported.microcode >= min.microcode;
}

std::string tcb_text(const SnpTcb& t) {
  std::string s = "bootloader " + std::to_string(t.bootloader) + ", tee " + std::to_string(t.tee) + ", snp " +
                  std::to_string(t.snp) + ", microcode " + std::to_string(t.microcode);
  if (t.fmc) s += ", fmc " + std::to_string(*t.fmc);
  return s;
}

}  // namespace

Policy Policy::report_only() {
  Policy p;
  p.accepted_tcb_statuses = {
      TcbStatus::UpToDate,
      TcbStatus::SWHardeningNeeded,
      TcbStatus::ConfigurationNeeded,
      TcbStatus::ConfigurationAndSWHardeningNeeded,
      TcbStatus::OutOfDate,
      TcbStatus::OutOfDateConfigurationNeeded,
      TcbStatus::TDRelaunchAdvised,
      TcbStatus::TDRelaunchAdvisedConfigurationNeeded,
  };
  p.accepted_advisories = {"*"};
  p.require_collateral = false;
  return p;
}

Result<Policy> Policy::from_json(std::string_view text) {
  const json j = json::parse(text, nullptr, false);
  if (j.is_discarded()) return fail("attest.policy", "the policy is not valid JSON");
  if (!j.is_object()) return fail("attest.policy", "the policy must be a JSON object");
  static const std::set<std::string> known{
      "accepted_tcb_statuses", "accepted_advisories", "require_collateral", "min_snp_tcb", "measurements",
      "claims", "allow_debug", "report_data", "allow_simulated", "allow_smt", "allow_migration_agent"};
  for (const auto& [k, v] : j.items()) {
    if (!known.contains(k)) return fail("attest.policy", "unknown policy field \"" + k + "\"");
  }
  Policy p;
  if (j.contains("accepted_tcb_statuses")) {
    auto names = read_strings(j["accepted_tcb_statuses"], "accepted_tcb_statuses");
    if (!names) return std::unexpected(names.error());
    p.accepted_tcb_statuses.clear();
    for (const auto& n : *names) {
      auto status = parse_tcb_status(n);
      if (!status) return std::unexpected(bad("accepted_tcb_statuses", "unknown status \"" + n + "\"").error());
      if (*status == TcbStatus::Revoked || *status == TcbStatus::NotSupported) {
        return std::unexpected(bad("accepted_tcb_statuses", n + " can never be accepted").error());
      }
      p.accepted_tcb_statuses.push_back(*status);
    }
  }
  if (j.contains("accepted_advisories")) {
    auto ids = read_strings(j["accepted_advisories"], "accepted_advisories");
    if (!ids) return std::unexpected(ids.error());
    p.accepted_advisories = *ids;
  }
  if (auto r = read_bool(j, "require_collateral", p.require_collateral); !r) return std::unexpected(r.error());
  if (auto r = read_bool(j, "allow_debug", p.allow_debug); !r) return std::unexpected(r.error());
  if (auto r = read_bool(j, "allow_simulated", p.allow_simulated); !r) return std::unexpected(r.error());
  if (auto r = read_bool(j, "allow_smt", p.allow_smt); !r) return std::unexpected(r.error());
  if (auto r = read_bool(j, "allow_migration_agent", p.allow_migration_agent); !r) return std::unexpected(r.error());
  if (j.contains("min_snp_tcb")) {
    auto t = read_snp_tcb(j["min_snp_tcb"]);
    if (!t) return std::unexpected(t.error());
    p.min_snp_tcb = *t;
  }
  if (j.contains("measurements")) {
    if (!j["measurements"].is_object()) return std::unexpected(bad("measurements", "must be an object").error());
    for (const auto& [name, values] : j["measurements"].items()) {
      auto list = read_strings(values, "measurements." + name);
      if (!list) return std::unexpected(list.error());
      auto& allowed = p.allowed_measurements[name];
      for (const auto& hex : *list) {
        auto bytes = hex_decode(hex);
        if (!bytes || bytes->empty()) {
          return std::unexpected(bad("measurements." + name, "\"" + hex + "\" is not hex").error());
        }
        allowed.push_back(std::move(*bytes));
      }
    }
  }
  if (j.contains("claims")) {
    if (!j["claims"].is_object()) return std::unexpected(bad("claims", "must be an object").error());
    for (const auto& [name, values] : j["claims"].items()) {
      auto list = read_strings(values, "claims." + name);
      if (!list) return std::unexpected(list.error());
      p.allowed_claims[name] = *list;
    }
  }
  if (j.contains("report_data")) {
    if (!j["report_data"].is_string()) return std::unexpected(bad("report_data", "must be a hex string").error());
    auto bytes = hex_decode(j["report_data"].get<std::string>());
    if (!bytes || bytes->empty()) return std::unexpected(bad("report_data", "is not hex").error());
    p.expected_report_data = std::move(*bytes);
  }
  return p;
}

std::string Policy::to_json() const {
  json j;
  json statuses = json::array();
  for (auto s : accepted_tcb_statuses) statuses.push_back(std::string(tcb_status_name(s)));
  j["accepted_tcb_statuses"] = statuses;
  j["accepted_advisories"] = accepted_advisories;
  j["require_collateral"] = require_collateral;
  if (min_snp_tcb) {
    json t{{"bootloader", min_snp_tcb->bootloader},
           {"tee", min_snp_tcb->tee},
           {"snp", min_snp_tcb->snp},
           {"microcode", min_snp_tcb->microcode}};
    if (min_snp_tcb->fmc) t["fmc"] = *min_snp_tcb->fmc;
    j["min_snp_tcb"] = t;
  }
  json m = json::object();
  for (const auto& [name, values] : allowed_measurements) {
    json list = json::array();
    for (const auto& v : values) list.push_back(hex_encode(v));
    m[name] = list;
  }
  j["measurements"] = m;
  j["claims"] = allowed_claims;
  j["allow_debug"] = allow_debug;
  if (expected_report_data) j["report_data"] = hex_encode(*expected_report_data);
  j["allow_simulated"] = allow_simulated;
  j["allow_smt"] = allow_smt;
  j["allow_migration_agent"] = allow_migration_agent;
  return j.dump(2) + "\n";
}

void Policy::appraise(Appraisal& a) const {
  if (!a.accepted()) return;
  Checks& c = a.checks;
  if (a.simulated) {
    if (!c.pass_if("policy.simulated", allow_simulated,
                   allow_simulated ? "SIMULATED evidence, allowed by the policy: no hardware protection"
                                   : "simulated evidence is not allowed by the policy")) {
      return;
    }
  }
  if (!c.pass_if("policy.debug", !a.debug || allow_debug,
                 a.debug ? (allow_debug ? "debug mode on, allowed by the policy"
                                        : "the TEE runs in debug mode: its memory is readable by the host")
                         : "debug mode off")) {
    return;
  }
  if (a.snp_smt_allowed && *a.snp_smt_allowed && !allow_smt) {
    c.fail("policy.snp_smt", "the guest policy allows SMT, which this policy refuses");
    return;
  }
  if (a.snp_migration_agent_allowed && *a.snp_migration_agent_allowed && !allow_migration_agent) {
    c.fail("policy.snp_migration_agent", "the guest policy allows a migration agent, which this policy refuses");
    return;
  }
  if (a.platform == Platform::Snp && min_snp_tcb && a.snp_reported_tcb) {
    const bool ok = tcb_at_least(*a.snp_reported_tcb, *min_snp_tcb);
    a.tcb_status = ok ? TcbStatus::UpToDate : TcbStatus::OutOfDate;
    if (!c.pass_if("policy.snp_tcb", ok,
                   "reported TCB " + tcb_text(*a.snp_reported_tcb) + (ok ? " meets" : " is below") +
                       " the minimum " + tcb_text(*min_snp_tcb))) {
      return;
    }
  }
  const bool dcap = a.platform == Platform::Tdx || a.platform == Platform::Sgx;
  if (dcap && !a.tcb_status) {
    if (!c.pass_if("policy.collateral", !require_collateral,
                   require_collateral ? "the policy requires collateral (TCB status and revocation)"
                                      : "no collateral: TCB status not appraised")) {
      return;
    }
  }
  if (a.tcb_status) {
    const bool ok = std::find(accepted_tcb_statuses.begin(), accepted_tcb_statuses.end(), *a.tcb_status) !=
                    accepted_tcb_statuses.end();
    if (!c.pass_if("policy.tcb_status", ok,
                   std::string(tcb_status_name(*a.tcb_status)) + (ok ? " is accepted" : " is not accepted"))) {
      return;
    }
  }
  const bool any_advisory =
      std::find(accepted_advisories.begin(), accepted_advisories.end(), "*") != accepted_advisories.end();
  for (const auto& adv : a.advisories) {
    const bool ok = any_advisory ||
                    std::find(accepted_advisories.begin(), accepted_advisories.end(), adv) != accepted_advisories.end();
    if (!ok) {
      c.fail("policy.advisories", adv + " is not accepted by the policy");
      return;
    }
  }
  if (!a.advisories.empty()) c.pass("policy.advisories", std::to_string(a.advisories.size()) + " accepted");
  if (expected_report_data) {
    const bool ok = a.report_data == *expected_report_data;
    if (!c.pass_if("policy.report_data", ok,
                   ok ? "matches" : "is " + hex_encode(a.report_data) + ", expected " +
                                        hex_encode(*expected_report_data))) {
      return;
    }
  }
  for (const auto& [name, allowed] : allowed_measurements) {
    const Measurement* m = a.measurement(name);
    const std::string check = "policy.measurement." + name;
    if (m == nullptr) {
      c.fail(check, "the evidence has no measurement " + name);
      return;
    }
    const bool ok = std::find(allowed.begin(), allowed.end(), m->value) != allowed.end();
    if (!c.pass_if(check, ok, hex_encode(m->value) + (ok ? " is allowed" : " is not an allowed value"))) return;
  }
  for (const auto& [name, allowed] : allowed_claims) {
    const std::string check = "policy.claim." + name;
    auto it = a.claims.find(name);
    if (it == a.claims.end()) {
      c.fail(check, "the evidence has no " + name);
      return;
    }
    const bool ok = std::find(allowed.begin(), allowed.end(), it->second) != allowed.end();
    if (!c.pass_if(check, ok, it->second + (ok ? " is allowed" : " is not an allowed value"))) return;
  }
}

}  // namespace ward::attest
