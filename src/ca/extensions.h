// The two extensions a CVM certificate carries (oids.h): their DER encoding
// and a strict parser for each, which reads nothing past its input and
// accepts only the one DER encoding of a value. Errors: "ca.extension".
#pragma once

#include "age/recipients.h"
#include "attest/evidence.h"
#include "base/bytes.h"
#include "base/error.h"

namespace ward::ca {

// OCTET STRING { bundle_to_json(bundle) }.
Bytes encode_evidence_extension(const attest::EvidenceBundle& bundle);
// The bundle inside, parsed with attest::parse_bundle (whose errors pass through).
Result<attest::EvidenceBundle> parse_evidence_extension(ByteView der);

// UTF8String { "age1..." }.
Bytes encode_recipient_extension(const age::X25519Recipient& recipient);
Result<age::X25519Recipient> parse_recipient_extension(ByteView der);

}  // namespace ward::ca
