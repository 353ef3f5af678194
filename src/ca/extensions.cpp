#include "ca/extensions.h"

#include <cstdint>
#include <string>

#include "crypto/der.h"

namespace ward::ca {
namespace {

using crypto::der::kTagOctetString;
using crypto::der::kTagUtf8String;

// The contents of one primitive TLV with tag `tag` spanning all of `der`.
Result<ByteView> decode_primitive(ByteView der, std::uint8_t tag, const char* what) {
  auto contents = crypto::der::read_whole(der, tag);
  if (!contents) {
    return fail("ca.extension",
                std::string("the ") + what + " extension is not valid DER: " + contents.error().message);
  }
  return contents;
}

}  // namespace

Bytes encode_evidence_extension(const attest::EvidenceBundle& bundle) {
  return crypto::der::encode(kTagOctetString, as_bytes(attest::bundle_to_json(bundle)));
}

Result<attest::EvidenceBundle> parse_evidence_extension(ByteView der) {
  auto contents = decode_primitive(der, kTagOctetString, "evidence");
  if (!contents) return std::unexpected(contents.error());
  return attest::parse_bundle(as_chars(*contents));
}

Bytes encode_recipient_extension(const age::X25519Recipient& recipient) {
  return crypto::der::encode(kTagUtf8String, as_bytes(recipient.to_string()));
}

Result<age::X25519Recipient> parse_recipient_extension(ByteView der) {
  auto contents = decode_primitive(der, kTagUtf8String, "age recipient");
  if (!contents) return std::unexpected(contents.error());
  auto recipient = age::X25519Recipient::parse(as_chars(*contents));
  if (!recipient) return fail("ca.extension", "the age recipient extension: " + recipient.error().message);
  return recipient;
}

}  // namespace ward::ca
