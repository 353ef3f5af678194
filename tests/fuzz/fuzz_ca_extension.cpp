// CVM certificates as a verifier receives them from anyone: the input is
// tried as a whole certificate (DER) and as each extension's extnValue. Nothing
// may crash; a recipient extension that parses must be the one DER encoding
// of its value, and an evidence bundle that parses must survive a round trip.
#include <algorithm>
#include <cstdint>
#include <cstdlib>

#include "ca/certificate.h"
#include "ca/extensions.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const ward::ByteView input(data, size);
  if (auto recipient = ward::ca::parse_recipient_extension(input)) {
    const ward::Bytes again = ward::ca::encode_recipient_extension(*recipient);
    if (!std::equal(again.begin(), again.end(), input.begin(), input.end())) std::abort();
  }
  if (auto bundle = ward::ca::parse_evidence_extension(input)) {
    auto again = ward::ca::parse_evidence_extension(ward::ca::encode_evidence_extension(*bundle));
    if (!again || ward::attest::bundle_to_json(*again) != ward::attest::bundle_to_json(*bundle)) std::abort();
  }
  if (auto cert = ward::crypto::Certificate::from_der(input)) {
    if (auto contents = ward::ca::read_cvm_certificate(*cert)) {
      if (contents->identity.id != ward::ca::cvm_id(contents->identity.signing_key)) std::abort();
    }
  }
  return 0;
}
