// Object identifiers of the extensions in a CVM certificate and in a service
// certificate. They sit under a UUID arc (ITU-T X.667, "2.25.<UUID as an
// integer>"), which needs no registration and cannot collide with anyone
// else's.
#pragma once

#include <string_view>

namespace ward::ca {

inline constexpr std::string_view kWardArc = "2.25.20012103950266490252863831713239714041";

// extnValue: a DER OCTET STRING holding the ward/evidence/v1 JSON bundle
// (evidence, collateral and certificates), so a verifier needs nothing else.
inline constexpr std::string_view kEvidenceExtensionOid = "2.25.20012103950266490252863831713239714041.1";
// extnValue: a DER UTF8String holding the CVM's age recipient ("age1...").
inline constexpr std::string_view kAgeRecipientExtensionOid = "2.25.20012103950266490252863831713239714041.2";

// A service certificate's (serve/certificate.h), issued by a CVM's key for
// one service order's TLS key:
// extnValue: a DER INTEGER, the order id (0 to 2^64-1).
inline constexpr std::string_view kServiceOrderExtensionOid = "2.25.20012103950266490252863831713239714041.3";
// extnValue: a DER OCTET STRING of 32 bytes, the ledger id.
inline constexpr std::string_view kServiceLedgerExtensionOid = "2.25.20012103950266490252863831713239714041.4";
// extnValue: a DER UTF8String, the engine digest ("sha256:<64 lowercase hex>").
inline constexpr std::string_view kServiceEngineExtensionOid = "2.25.20012103950266490252863831713239714041.5";
// extnValue: a DER SEQUENCE OF OCTET STRING (32 bytes each), the plaintext
// SHA-256 of each input, in the order's input order.
inline constexpr std::string_view kServiceInputsExtensionOid = "2.25.20012103950266490252863831713239714041.6";

}  // namespace ward::ca
