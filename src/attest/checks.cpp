#include "attest/checks.h"

namespace ward::attest {

bool Checks::pass(std::string_view name, std::string detail) {
  results_.push_back({std::string(name), true, std::move(detail)});
  return true;
}

bool Checks::fail(std::string_view name, std::string detail) {
  results_.push_back({std::string(name), false, std::move(detail)});
  failed_ = true;
  return false;
}

bool Checks::pass_if(std::string_view name, bool ok, std::string detail) {
  return ok ? pass(name, std::move(detail)) : fail(name, std::move(detail));
}

bool Checks::record(std::string_view name, const Result<void>& outcome, std::string detail_if_ok) {
  if (outcome) return pass(name, std::move(detail_if_ok));
  return fail(name, outcome.error().message);
}

void Checks::append(const Checks& other) {
  for (const auto& r : other.results_) {
    results_.push_back(r);
    failed_ = failed_ || !r.ok;
  }
}

const CheckResult* Checks::first_failure() const {
  for (const auto& r : results_) {
    if (!r.ok) return &r;
  }
  return nullptr;
}

std::string Checks::first_failure_text() const {
  const CheckResult* failed = first_failure();
  return failed ? failed->name + ": " + failed->detail : std::string("no checks ran");
}

}  // namespace ward::attest
