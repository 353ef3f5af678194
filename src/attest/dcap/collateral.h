// DCAP collateral for offline verification, in dcap-qvl's JSON schema
// (Phala-Network/dcap-qvl QuoteCollateralV3): PEM issuer chains, hex DER CRLs,
// TCB Info and QE Identity as the exact signed JSON text with their hex r||s
// signatures. The signed texts are kept byte for byte: signatures cover them.
#pragma once

#include <string>
#include <string_view>

#include "base/bytes.h"
#include "base/error.h"

namespace ward::attest::dcap {

inline constexpr std::size_t kMaxCollateralSize = 1024 * 1024;

struct Collateral {
  std::string pck_crl_issuer_chain;  // PEM
  Bytes root_ca_crl;                 // DER
  Bytes pck_crl;                     // DER
  std::string tcb_info_issuer_chain;  // PEM
  std::string tcb_info;               // the exact signed JSON text ("tcbInfo" body)
  Bytes tcb_info_signature;           // raw r||s, P-256
  std::string qe_identity_issuer_chain;
  std::string qe_identity;  // the exact signed JSON text ("enclaveIdentity" body)
  Bytes qe_identity_signature;
};

// Errors: "attest.collateral", naming the field that is missing or malformed.
// Unknown fields are ignored (dcap-qvl adds some across versions).
Result<Collateral> parse_collateral(std::string_view json);
std::string collateral_to_json(const Collateral& c);

}  // namespace ward::attest::dcap
