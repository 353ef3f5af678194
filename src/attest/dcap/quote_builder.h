// Writes Intel DCAP quotes byte for byte: the inverse of parse_quote (quote.h).
// The simulated TEE emits its evidence with it, and tests use it the way
// Intel's QVL uses QuoteV4Generator: start from valid parts, change one field,
// sign and serialize, so every negative case is a one-line variation.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <variant>

#include "attest/dcap/quote.h"
#include "base/bytes.h"
#include "base/error.h"
#include "crypto/ecdsa.h"

namespace ward::attest::dcap {

// Quote v5 body descriptor types.
inline constexpr std::uint16_t kBodyTypeSgx = 1;
inline constexpr std::uint16_t kBodyTypeTdx10 = 2;
inline constexpr std::uint16_t kBodyTypeTdx15 = 3;

// Intel's QE vendor ID, which the simulated QE reuses.
inline constexpr std::array<std::uint8_t, 16> kIntelQeVendorId = {
    0x93, 0x9a, 0x72, 0x33, 0xf7, 0x9c, 0x4c, 0xa9, 0x94, 0x0a, 0x0d, 0xb3, 0x95, 0x7f, 0x06, 0x07};

// Every field of a quote. Layout follows the header: version 3 writes the QE
// certification data inline with the PCK chain as type 5; versions 4 and 5
// nest it in type 6; version 5 adds the body descriptor. A TdReport body is
// 648 bytes when body_type is kBodyTypeTdx15 (absent TDX 1.5 fields are
// zeros) and 584 otherwise; an EnclaveReport body is 384. Nothing is checked
// for consistency, so tests can write quotes a verifier must refuse.
struct QuoteParts {
  QuoteHeader header;
  std::uint16_t body_type = kBodyTypeTdx10;  // written only in v5
  std::variant<EnclaveReport, TdReport> body;
  EnclaveReport qe_report;
  Bytes qe_auth_data;
  std::string pck_chain_pem;
  // Intel's QE counts a terminating NUL in the PCK chain's size; parse_quote
  // drops it.
  bool nul_terminate_pck_chain = true;
  // Filled in by sign_quote.
  std::array<std::uint8_t, 64> signature{};            // raw r||s over the signed region
  std::array<std::uint8_t, 64> attestation_key{};      // raw x||y
  std::array<std::uint8_t, 64> qe_report_signature{};  // raw r||s over the QE report
};

// Intel's defaults for a TDX 1.0 quote v4 (ECDSA P-256, Intel QE vendor ID,
// TD report body); the caller fills in the TD report, QE report and chain.
QuoteParts tdx_v4_parts();

Bytes serialize_header(const QuoteHeader& header);
Bytes serialize_enclave_report(const EnclaveReport& report);  // 384 bytes
Bytes serialize_td_report(const TdReport& report, bool tdx15);  // 584 or 648 bytes
// The body bytes alone, sized as QuoteParts describes.
Bytes serialize_body(const QuoteParts& parts);
// What the attestation key signs: header, the v5 descriptor, the body.
Bytes signed_region(const QuoteParts& parts);

// SHA-256(attestation key x||y || QE auth data) followed by 32 zero bytes:
// the QE report data that binds the attestation key to the QE.
std::array<std::uint8_t, 64> attestation_key_binding(const std::array<std::uint8_t, 64>& attestation_key,
                                                     ByteView qe_auth_data);

// Sets the attestation key, binds it in the QE report data, then has the PCK
// key sign the QE report and the attestation key sign the signed region.
// REQUIRES: both keys on P-256. Errors: "attest.quote" for another curve.
Result<void> sign_quote(QuoteParts& parts, const crypto::EcPrivateKey& attestation_key,
                        const crypto::EcPrivateKey& pck_key);

// The quote bytes, exactly as fielded in `parts` (signatures included as
// they stand). Errors: "attest.quote" when the QE auth data or the PCK chain
// exceeds what its length field can hold.
Result<Bytes> serialize_quote(const QuoteParts& parts);

// sign_quote on a copy of `parts`, then serialize_quote.
Result<Bytes> build_quote(const QuoteParts& parts, const crypto::EcPrivateKey& attestation_key,
                          const crypto::EcPrivateKey& pck_key);

}  // namespace ward::attest::dcap
