// The outcome of a verification as an ordered list of named checks, so a
// rejection names the rule that failed ("quote.signature", "pck.chain", ...).
// Verifiers stop at the first failure: later checks rely on earlier ones.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace ward::attest {

struct CheckResult {
  std::string name;    // dotted, stable: "quote.signature"
  bool ok;
  std::string detail;  // one line: what was found, or what was wrong
};

class Checks {
 public:
  // Each returns whether the check passed, so callers write
  // `if (!checks.pass_if(...)) return;`.
  bool pass(std::string_view name, std::string detail = {});
  bool fail(std::string_view name, std::string detail);
  bool pass_if(std::string_view name, bool ok, std::string detail);
  // Records `outcome`: passed with no detail, or failed with its message.
  bool record(std::string_view name, const Result<void>& outcome, std::string detail_if_ok = {});
  // Appends `other`'s checks after these, keeping their order and outcomes:
  // how a verifier runs another's checks as part of its own list.
  void append(const Checks& other);

  // True when no check failed (an empty list is not a verdict: see ran()).
  bool ok() const { return !failed_; }
  bool ran() const { return !results_.empty(); }
  // The first failed check, if any.
  const CheckResult* first_failure() const;
  // The first failed check as "<name>: <detail>", or "no checks ran".
  std::string first_failure_text() const;
  const std::vector<CheckResult>& results() const { return results_; }

 private:
  std::vector<CheckResult> results_;
  bool failed_ = false;
};

}  // namespace ward::attest
