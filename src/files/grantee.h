// What a data owner checks before granting a CVM access (DESIGN.md step 5):
// the CVM is on the ledger, its certificate verifies under the certification
// center the owner trusts, its hardware evidence satisfies the owner's policy
// (which must pin the loader's measurement), and the keys the certificate
// binds are the ones the ledger lists.
#pragma once

#include <chrono>

#include "age/recipients.h"
#include "attest/appraisal.h"
#include "attest/policy.h"
#include "base/error.h"
#include "crypto/x509.h"
#include "ledger/client.h"

namespace ward::files {

struct VerifiedGrantee {
  age::X25519Recipient recipient;  // the CVM's, to wrap the file key to
  attest::Appraisal appraisal;     // its evidence's (simulated or not)
};

// Errors: "files.grant" ("CVM <id> is not on the ledger", "CVM <id> refused:
// <check>: <detail>", a policy that pins no measurement), the ledger's.
Result<VerifiedGrantee> verify_grantee(ledger::LedgerClient& ledger, const ledger::CvmId& cvm,
                                       const crypto::Certificate& ca_certificate, const attest::Policy& policy,
                                       std::chrono::system_clock::time_point at);

}  // namespace ward::files
