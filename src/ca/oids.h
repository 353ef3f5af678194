// Object identifiers of the extensions in a CVM certificate. They sit under a
// UUID arc (ITU-T X.667, "2.25.<UUID as an integer>"), which needs no
// registration and cannot collide with anyone else's.
#pragma once

#include <string_view>

namespace ward::ca {

inline constexpr std::string_view kWardArc = "2.25.20012103950266490252863831713239714041";

// extnValue: a DER OCTET STRING holding the ward/evidence/v1 JSON bundle
// (evidence, collateral and certificates), so a verifier needs nothing else.
inline constexpr std::string_view kEvidenceExtensionOid = "2.25.20012103950266490252863831713239714041.1";
// extnValue: a DER UTF8String holding the CVM's age recipient ("age1...").
inline constexpr std::string_view kAgeRecipientExtensionOid = "2.25.20012103950266490252863831713239714041.2";

}  // namespace ward::ca
