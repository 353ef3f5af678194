// Appraisal policy: what a relying party accepts beyond valid signatures.
// A policy file's omitted fields take the strict defaults; the CLI without
// --policy uses Policy::report_only(), which accepts any TCB status but
// Revoked and NotSupported and still refuses debug and simulation.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "attest/appraisal.h"
#include "base/bytes.h"
#include "base/error.h"

namespace ward::attest {

struct Policy {
  // TCB statuses accepted (strict default: UpToDate only).
  std::vector<TcbStatus> accepted_tcb_statuses{TcbStatus::UpToDate};
  // Advisory IDs tolerated; any other advisory rejects (strict default:
  // none). The entry "*" tolerates every advisory.
  std::vector<std::string> accepted_advisories;
  // Refuse DCAP evidence without collateral (no TCB status, no revocation check).
  bool require_collateral = true;
  // With a minimum, SEV-SNP evidence gets tcb_status UpToDate when every
  // REPORTED_TCB component reaches it and OutOfDate otherwise; AMD publishes
  // no TCB levels, so without one the status stays unset.
  std::optional<SnpTcb> min_snp_tcb;
  // Measurement name -> allowed values; a name absent here is not constrained.
  std::map<std::string, std::vector<Bytes>> allowed_measurements;
  // Whether any measurement is pinned: a policy that says which code may
  // read (a grant's, a broker's) must pin one.
  bool pins_measurement() const {
    for (const auto& [name, values] : allowed_measurements)
      if (!values.empty()) return true;
    return false;
  }
  // Claim name -> allowed values ("driver_version", "vbios_version").
  std::map<std::string, std::vector<std::string>> allowed_claims;
  bool allow_debug = false;
  // SEV-SNP guest policy bits: SMT is common and allowed by default; a
  // migration agent can move the guest's memory elsewhere and is refused.
  bool allow_smt = true;
  bool allow_migration_agent = false;
  std::optional<Bytes> expected_report_data;
  bool allow_simulated = false;

  static Policy strict() { return Policy{}; }
  static Policy report_only();

  // Errors: "attest.policy", naming the field. Unknown fields are refused.
  static Result<Policy> from_json(std::string_view json);
  std::string to_json() const;

  // Appends "policy.*" checks to `a` (only when its platform checks passed).
  // Simulated evidence is refused first unless allow_simulated.
  void appraise(Appraisal& a) const;
};

}  // namespace ward::attest
