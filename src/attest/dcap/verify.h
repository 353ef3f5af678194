// Intel DCAP quote verification (SGX v3, SGX/TDX v4 and v5) as a list of
// named checks: parsing, PCK chain to the root with CRLs, QE report signature
// and attestation-key binding, quote signature, then (with collateral) TCB
// Info and QE Identity signatures and validity, FMSPC/PCE-ID match and TCB
// level selection. The simulated TEE's quotes run through the same code with
// its root as the anchor.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "attest/appraisal.h"
#include "attest/dcap/collateral.h"
#include "crypto/x509.h"

namespace ward::attest::dcap {

// The Intel SGX Root CA (SHA-256 of DER 44a0196b...74d3), built in.
const crypto::Certificate& intel_sgx_root();

// What verification has established from bytes alone, kept across
// verifications: certificate chains as decoded (by their exact PEM text),
// certificates as decoded (by their DER), chains found valid (by the exact
// DER of every certificate in the chain, the trust anchor and each CRL
// checked) and CRLs found signed by their issuer (crypto::VerifiedCrls, by
// the DER of both), so that a new chain under the same CRLs has only its
// certificates checked. A verdict is reused only at times inside the window
// where every one of those certificates and CRLs is valid; a changed byte
// anywhere is another key, so a newer CRL is checked afresh, and revocation
// is looked up in the CRLs for every new chain. Failures are never kept.
// Each kind holds at most `capacity` entries, the least recently used
// dropped first. Safe to use from several threads.
class VerificationCache {
 public:
  static constexpr std::size_t kDefaultCapacity = 1024;
  explicit VerificationCache(std::size_t capacity = kDefaultCapacity);
  ~VerificationCache();
  VerificationCache(const VerificationCache&) = delete;
  VerificationCache& operator=(const VerificationCache&) = delete;

  // The one that verify_quote and PreparedCollateral::prepare use unless
  // given another: a process verifies each distinct chain once per window.
  static VerificationCache& process();

  // The certificates of `pem`, as crypto::parse_pem_chain gives them, each
  // decoded at most once: a text, a certificate's DER or a built-in root
  // (intel_sgx_root(), sim::root()) seen before is taken as it was.
  Result<std::shared_ptr<const std::vector<crypto::Certificate>>> decode(std::string_view pem);
  // crypto::verify_chain of `chain` (leaf first) to `anchor` with `crls`, or
  // the word that these exact bytes verified, if `at` lies in the window
  // where all of them are valid.
  Result<void> verify_chain(std::span<const crypto::Certificate> chain, const crypto::Certificate& anchor,
                            std::span<const crypto::Crl> crls, std::chrono::system_clock::time_point at);

  std::size_t decoded_chains() const;
  std::size_t verified_chains() const;
  std::size_t verified_crls() const;
  void clear();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Collateral parsed once for any number of quotes: its CRLs, TCB Info, QE
// Identity and issuer chains as objects, and a memo of what has been
// verified under it (the signed bodies' chains and signatures, and PCK
// chains), each reused only at times inside the window where every
// certificate and CRL involved is valid, and only for the same trust anchor.
// Copies share the memo; safe to use from several threads.
class PreparedCollateral {
 public:
  // Errors carry the name of the failed check as their code
  // ("collateral.crls", "collateral.tcb_info.parse",
  // "collateral.qe_identity.parse", "collateral.tcb_info.chain",
  // "collateral.qe_identity.chain").
  static Result<PreparedCollateral> prepare(const Collateral& c,
                                            VerificationCache& cache = VerificationCache::process());

  struct Parsed;
  struct Memo;
  const Parsed& parsed() const { return *parsed_; }
  Memo& memo() const { return *memo_; }

 private:
  PreparedCollateral(std::shared_ptr<const Parsed> parsed, std::shared_ptr<Memo> memo)
      : parsed_(std::move(parsed)), memo_(std::move(memo)) {}
  std::shared_ptr<const Parsed> parsed_;
  std::shared_ptr<Memo> memo_;
};

// Verifies `quote` and fills `out` (platform, measurements, report data,
// debug, TCB status and advisories, checks). The chain must end at one of
// `anchors`; `out.simulated` is set when it ends at sim::root(). Without
// collateral there is no revocation or TCB appraisal: the checks say so and
// `out.tcb_status` stays empty. Chains that `cache` holds as valid at `at`
// are not verified again (the appraisal lists the same checks).
void verify_quote(ByteView quote, const Collateral* collateral, std::span<const crypto::Certificate> anchors,
                  std::chrono::system_clock::time_point at, Appraisal& out,
                  VerificationCache& cache = VerificationCache::process());
// The same checks, with collateral prepared once: what its memo already
// holds is not verified again (the appraisal lists the same checks).
void verify_quote(ByteView quote, const PreparedCollateral& collateral,
                  std::span<const crypto::Certificate> anchors, std::chrono::system_clock::time_point at,
                  Appraisal& out, VerificationCache& cache = VerificationCache::process());

}  // namespace ward::attest::dcap
