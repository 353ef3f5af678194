// The simulated TEE: TDX quotes v4 in Intel's exact format, measured from a
// binary, signed by a simulated PCK chain, with dcap-qvl collateral, so the
// production DCAP verifier checks them with sim::root() as its only anchor.
// It proves nothing: the root key is derived from a public label so that
// anyone can reproduce quotes, and verifiers accept the root only when a
// policy allows simulation.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "attest/dcap/collateral.h"
#include "attest/dcap/quote_builder.h"
#include "base/bytes.h"
#include "base/error.h"
#include "crypto/ecdsa.h"
#include "crypto/x509.h"

namespace ward::attest::sim {

// The root's private scalar is SHA-256 of this label.
inline constexpr std::string_view kRootKeyLabel = "ward/sim-tee/root/v1";

// Platform values the sim's quotes, PCK certificates and TCB Info share.
inline constexpr std::array<std::uint8_t, 6> kFmspc = {0x00, 0x00, 0x00, 0x00, 0xff, 0xff};
inline constexpr std::array<std::uint8_t, 2> kPceId = {0x00, 0x00};

// Self-signed, CN "Ward simulated TEE - NOT SECURE", P-256, valid
// 2025-01-01 .. 2050-01-01. Built in, so it is the same everywhere.
const crypto::Certificate& root();
// Its key, rebuilt from kRootKeyLabel.
crypto::EcPrivateKey root_key();

// The MRTD the sim reports for `binary`: its SHA-384.
std::array<std::uint8_t, 48> measure(ByteView binary);
// measure() of a file's contents, read in pieces. Errors: "io.open", "io.read".
Result<std::array<std::uint8_t, 48>> measure_file(const std::filesystem::path& path);

struct SimEvidence {
  Bytes quote;
  dcap::Collateral collateral;
};

// A TDX quote v4 with MRTD `mrtd` and `report_data` (exactly 64 bytes), RTMRs
// zero, not debug, at the TCB the collateral lists as UpToDate, plus that
// collateral (TCB Info, QE Identity, CRLs) valid from `now` - 1 h for 30
// days. Attestation key, PCK leaf and intermediates are fresh on every call.
// Errors: "attest.sim" for report data of another length.
Result<SimEvidence> make_quote(ByteView report_data, const std::array<std::uint8_t, 48>& mrtd,
                               std::chrono::system_clock::time_point now);

// The pieces make_quote assembles, for tests that vary one of them (a
// revoked PCK, a lower TCB, a TCB Info signed by another key) and sign the
// result with dcap::build_quote.

// The certificates under root() behind one quote, valid `now` - 1 h .. `now`
// + 1 year: the PCK Platform CA and the PCK leaf it issues (with Intel's SGX
// extensions: kFmspc, kPceId and the UpToDate TCB), and the TCB Signing
// certificate for TCB Info and QE Identity.
struct Pki {
  crypto::EcPrivateKey pck_ca_key;
  crypto::Certificate pck_ca;
  crypto::EcPrivateKey pck_key;
  crypto::Certificate pck;
  crypto::EcPrivateKey tcb_signing_key;
  crypto::Certificate tcb_signing;
};
Result<Pki> make_pki(std::chrono::system_clock::time_point now);

// The quote before signing: header, TD report (MRTD, report data, the
// UpToDate TEE TCB SVN), the simulated QE's report and the PCK chain
// (leaf, Platform CA, root).
dcap::QuoteParts quote_parts(const std::array<std::uint8_t, 64>& report_data,
                             const std::array<std::uint8_t, 48>& mrtd, const Pki& pki);

// The exact signed JSON texts: TCB Info v3 (id "TDX") for kFmspc, and QE
// Identity v2 (id "TD_QE") for the simulated QE, issued `now` - 1 h and
// next updated `now` + 30 days.
std::string tcb_info_json(std::chrono::system_clock::time_point now);
std::string qe_identity_json(std::chrono::system_clock::time_point now);

// TCB Info and QE Identity signed by pki.tcb_signing_key, the issuer chains,
// and empty CRLs from the root and the PCK Platform CA, all valid as above.
Result<dcap::Collateral> make_collateral(const Pki& pki, std::chrono::system_clock::time_point now);

}  // namespace ward::attest::sim
