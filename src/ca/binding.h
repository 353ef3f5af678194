// How a CVM's keys are bound into its hardware evidence: the 64-byte report
// data is SHA-512 over a domain-separation label and both public keys, so the
// hardware vouches for exactly those keys (DESIGN.md, "CVM keys and binding").
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "crypto/keys.h"

namespace ward::ca {

inline constexpr std::string_view kCvmBindingLabel = "ward/cvm/v1";

using ReportData = std::array<std::uint8_t, 64>;

// SHA-512(label || 0x00 || Ed25519 signing key (32) || X25519 age key (32)).
// The zero byte ends the label, so no label is a prefix of another's input.
ReportData cvm_report_data(const crypto::Ed25519PublicKey& signing_key, const crypto::X25519PublicKey& age_key);

}  // namespace ward::ca
