#include "ca/extensions.h"

#include <cstdint>
#include <string>

namespace ward::ca {
namespace {

constexpr std::uint8_t kTagOctetString = 0x04;
constexpr std::uint8_t kTagUtf8String = 0x0c;

// The evidence limit already bounds the one extension that can be large;
// four length octets are then plenty and keep size_t arithmetic trivial.
constexpr std::size_t kMaxLengthOctets = 4;

Bytes encode_primitive(std::uint8_t tag, ByteView content) {
  Bytes out{tag};
  const std::size_t n = content.size();
  if (n < 0x80) {
    out.push_back(static_cast<std::uint8_t>(n));
  } else {
    std::uint8_t octets[sizeof(std::size_t)];
    std::size_t count = 0;
    for (std::size_t v = n; v != 0; v >>= 8) octets[count++] = static_cast<std::uint8_t>(v & 0xff);
    out.push_back(static_cast<std::uint8_t>(0x80 | count));
    while (count > 0) out.push_back(octets[--count]);
  }
  out.insert(out.end(), content.begin(), content.end());
  return out;
}

// The contents of one primitive TLV with tag `tag` spanning all of `der`.
// DER allows one length encoding only: the short form below 128, otherwise
// the fewest octets, so anything else is refused.
Result<ByteView> decode_primitive(ByteView der, std::uint8_t tag, const char* what) {
  const auto bad = [what](const std::string& why) {
    return fail("ca.extension", std::string("the ") + what + " extension is not valid DER: " + why);
  };
  if (der.size() < 2) return bad("truncated");
  if (der[0] != tag) return bad("unexpected tag");
  std::size_t length = 0;
  std::size_t header = 2;
  if (der[1] < 0x80) {
    length = der[1];
  } else {
    const std::size_t count = der[1] & 0x7f;
    if (count == 0 || count > kMaxLengthOctets) return bad("unsupported length encoding");
    if (der.size() < 2 + count) return bad("truncated length");
    if (der[2] == 0) return bad("length has a leading zero octet");
    for (std::size_t i = 0; i < count; ++i) length = (length << 8) | der[2 + i];
    if (length < 0x80) return bad("long-form length below 128");
    header += count;
  }
  if (der.size() - header != length)
    return bad(der.size() - header < length ? "truncated contents" : "trailing bytes");
  return der.subspan(header);
}

}  // namespace

Bytes encode_evidence_extension(const attest::EvidenceBundle& bundle) {
  return encode_primitive(kTagOctetString, as_bytes(attest::bundle_to_json(bundle)));
}

Result<attest::EvidenceBundle> parse_evidence_extension(ByteView der) {
  auto contents = decode_primitive(der, kTagOctetString, "evidence");
  if (!contents) return std::unexpected(contents.error());
  return attest::parse_bundle(as_chars(*contents));
}

Bytes encode_recipient_extension(const age::X25519Recipient& recipient) {
  return encode_primitive(kTagUtf8String, as_bytes(recipient.to_string()));
}

Result<age::X25519Recipient> parse_recipient_extension(ByteView der) {
  auto contents = decode_primitive(der, kTagUtf8String, "age recipient");
  if (!contents) return std::unexpected(contents.error());
  auto recipient = age::X25519Recipient::parse(as_chars(*contents));
  if (!recipient) return fail("ca.extension", "the age recipient extension: " + recipient.error().message);
  return recipient;
}

}  // namespace ward::ca
