// What the attestation tests read off an appraisal: the first failed check.
#pragma once

#include <string>

#include "attest/evidence.h"

namespace ward::attest {

// The name of the first failed check, or "" when every check passed.
inline std::string failed(const Appraisal& a) {
  const CheckResult* f = a.checks.first_failure();
  return f ? f->name : "";
}

// The first failed check with its detail, for a failing assertion's message.
inline std::string why(const Appraisal& a) {
  const CheckResult* f = a.checks.first_failure();
  return f ? f->name + ": " + f->detail : "accepted";
}

}  // namespace ward::attest
