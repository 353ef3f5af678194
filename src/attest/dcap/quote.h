// Intel DCAP quotes as the hardware emits them: version 3 (SGX), 4 (SGX or
// TDX 1.0) and 5 (body descriptor; SGX, TDX 1.0 or TDX 1.5). Parsing follows
// the length fields and ignores trailing bytes (real quotes are often padded
// with zeros). Layouts: Intel SGX ECDSA Quote Library API, appendix A, and the
// TDX DCAP Quoting Library API, section 2.3.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <variant>

#include "base/bytes.h"
#include "base/error.h"

namespace ward::attest::dcap {

inline constexpr std::uint32_t kTeeTypeSgx = 0x00000000;
inline constexpr std::uint32_t kTeeTypeTdx = 0x00000081;
inline constexpr std::uint16_t kAttestationKeyEcdsaP256 = 2;
inline constexpr std::size_t kHeaderSize = 48;
inline constexpr std::size_t kEnclaveReportSize = 384;
inline constexpr std::size_t kTdReport10Size = 584;
inline constexpr std::size_t kTdReport15Size = 648;
// Certification data types (QE3 API, table 9).
inline constexpr std::uint16_t kCertTypePckChain = 5;
inline constexpr std::uint16_t kCertTypeQeReport = 6;
// Upper bound on anything we accept as a quote; real ones are ~5 KiB.
inline constexpr std::size_t kMaxQuoteSize = 64 * 1024;

struct QuoteHeader {
  std::uint16_t version = 0;
  std::uint16_t attestation_key_type = 0;
  std::uint32_t tee_type = 0;
  std::uint16_t qe_svn = 0;   // v3: reserved
  std::uint16_t pce_svn = 0;  // v3: reserved
  std::array<std::uint8_t, 16> qe_vendor_id{};
  std::array<std::uint8_t, 20> user_data{};
};

// SGX REPORT body (384 bytes): the enclave's report in an SGX quote, and the
// QE's report in every quote.
struct EnclaveReport {
  std::array<std::uint8_t, 16> cpu_svn{};
  std::uint32_t misc_select = 0;
  std::array<std::uint8_t, 16> attributes{};
  std::array<std::uint8_t, 32> mr_enclave{};
  std::array<std::uint8_t, 32> mr_signer{};
  std::uint16_t isv_prod_id = 0;
  std::uint16_t isv_svn = 0;
  std::array<std::uint8_t, 64> report_data{};
  // The DEBUG bit of ATTRIBUTES.FLAGS.
  bool debug() const { return (attributes[0] & 0x02) != 0; }
};

// TD report body: 584 bytes (TDX 1.0) or 648 (TDX 1.5 adds the last two).
struct TdReport {
  std::array<std::uint8_t, 16> tee_tcb_svn{};
  std::array<std::uint8_t, 48> mr_seam{};
  std::array<std::uint8_t, 48> mr_signer_seam{};
  std::array<std::uint8_t, 8> seam_attributes{};
  std::array<std::uint8_t, 8> td_attributes{};
  std::array<std::uint8_t, 8> xfam{};
  std::array<std::uint8_t, 48> mr_td{};
  std::array<std::uint8_t, 48> mr_config_id{};
  std::array<std::uint8_t, 48> mr_owner{};
  std::array<std::uint8_t, 48> mr_owner_config{};
  std::array<std::array<std::uint8_t, 48>, 4> rtmr{};
  std::array<std::uint8_t, 64> report_data{};
  std::optional<std::array<std::uint8_t, 16>> tee_tcb_svn_2;  // TDX 1.5
  std::optional<std::array<std::uint8_t, 48>> mr_servicetd;   // TDX 1.5
  // TUD.DEBUG: bit 0 of TD_ATTRIBUTES.
  bool debug() const { return (td_attributes[0] & 0x01) != 0; }
};

// Everything after the quote signature and attestation key: the QE report,
// its signature by the PCK key, the QE authentication data and the PCK chain
// (certification data type 5, directly in v3, nested in type 6 in v4/v5).
struct QeCertification {
  Bytes qe_report_raw;  // the 384 signed bytes
  EnclaveReport qe_report;
  std::array<std::uint8_t, 64> qe_report_signature{};  // raw r||s, P-256
  Bytes qe_auth_data;
  std::uint16_t outer_cert_type = 0;  // 5 in v3, 6 in v4/v5
  std::string pck_chain_pem;          // type 5 data, PCK leaf first
};

struct Quote {
  QuoteHeader header;
  std::uint16_t body_type = 0;  // v5 descriptor: 1 SGX, 2 TDX 1.0, 3 TDX 1.5; inferred for v3/v4
  std::variant<EnclaveReport, TdReport> body;
  Bytes signed_region;                             // header (+ v5 descriptor) + body
  std::array<std::uint8_t, 64> signature{};        // raw r||s over signed_region
  std::array<std::uint8_t, 64> attestation_key{};  // raw x||y, P-256
  QeCertification certification;
  std::size_t length = 0;  // bytes consumed; the rest of the input is padding

  bool is_tdx() const { return header.tee_type == kTeeTypeTdx; }
  const TdReport* td_report() const { return std::get_if<TdReport>(&body); }
  const EnclaveReport* enclave_report() const { return std::get_if<EnclaveReport>(&body); }
};

// Parses by the length fields. Errors ("attest.quote") name the field that
// is truncated, oversized or unsupported.
Result<Quote> parse_quote(ByteView data);

EnclaveReport parse_enclave_report(ByteView raw384);

}  // namespace ward::attest::dcap
