// The SGX extension of Intel PCK certificates (OID 1.2.840.113741.1.13.1):
// the platform's PPID, TCB (sixteen component SVNs, PCESVN, CPUSVN), PCE-ID,
// FMSPC and SGX type. Layout: Intel SGX PCK Certificate and Certificate
// Revocation List Profile Specification, section 3.5. Platform CA
// certificates add a PlatformInstanceID and a Configuration; they are
// checked for form and otherwise ignored.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "base/bytes.h"
#include "base/error.h"
#include "crypto/x509.h"

namespace ward::attest::dcap {

inline constexpr std::string_view kSgxExtensionOid = "1.2.840.113741.1.13.1";

struct PckExtensions {
  Bytes ppid;                                         // 16 bytes
  std::array<std::uint8_t, 16> cpu_svn_components{};  // TCB .2.1 to .2.16
  std::uint16_t pce_svn = 0;                          // TCB .2.17
  std::array<std::uint8_t, 16> cpu_svn{};             // TCB .2.18
  std::array<std::uint8_t, 2> pce_id{};
  std::array<std::uint8_t, 6> fmspc{};
  int sgx_type = 0;  // 0 standard, 1 scalable, 2 scalable with integrity

  friend bool operator==(const PckExtensions&, const PckExtensions&) = default;
};

// Errors: "attest.pck", naming the element that is missing or malformed.
Result<PckExtensions> parse_pck_extensions(const crypto::Certificate& pck);
// The DER of the extension's extnValue, as Certificate::extension returns it.
// Strict DER: definite minimal lengths, elements in the profile's order, no
// duplicates, no unknown elements, no trailing bytes.
Result<PckExtensions> parse_pck_extensions_der(ByteView extn_value);

// The extnValue for `ext` (the five elements a Processor CA certificate
// carries), for PCK certificates the simulated TEE issues.
// REQUIRES: ext.ppid.size() == 16 and 0 <= ext.sgx_type <= 255.
Bytes encode_pck_extensions(const PckExtensions& ext);

}  // namespace ward::attest::dcap
