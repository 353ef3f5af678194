// Intel DCAP quote verification (SGX v3, SGX/TDX v4 and v5) as a list of
// named checks: parsing, PCK chain to the root with CRLs, QE report signature
// and attestation-key binding, quote signature, then (with collateral) TCB
// Info and QE Identity signatures and validity, FMSPC/PCE-ID match and TCB
// level selection. The simulated TEE's quotes run through the same code with
// its root as the anchor.
#pragma once

#include <chrono>
#include <span>

#include "attest/appraisal.h"
#include "attest/dcap/collateral.h"
#include "crypto/x509.h"

namespace ward::attest::dcap {

// The Intel SGX Root CA (SHA-256 of DER 44a0196b...74d3), built in.
const crypto::Certificate& intel_sgx_root();

// Verifies `quote` and fills `out` (platform, measurements, report data,
// debug, TCB status and advisories, checks). The chain must end at one of
// `anchors`; `out.simulated` is set when it ends at sim::root(). Without
// collateral there is no revocation or TCB appraisal: the checks say so and
// `out.tcb_status` stays empty.
void verify_quote(ByteView quote, const Collateral* collateral, std::span<const crypto::Certificate> anchors,
                  std::chrono::system_clock::time_point at, Appraisal& out);

}  // namespace ward::attest::dcap
