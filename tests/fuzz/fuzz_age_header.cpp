// The age header parser: any bytes in, a header or an error out; a header it
// accepts must re-encode to exactly the bytes it came from.
#include <cstdint>
#include <cstdlib>

#include "age/header.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ward::ByteView input(data, size);
  auto header = ward::age::parse_header(input);
  if (!header) return 0;
  if (header->size > size || header->mac_input.size() + 4 > header->size) std::abort();
  // Canonical encoding: everything before the MAC is reproduced exactly.
  ward::age::FileKey key(ward::age::kFileKeySize, 0);
  ward::Bytes again = ward::age::encode_header(header->stanzas, key);
  auto reparsed = ward::age::parse_header(again);
  if (!reparsed || reparsed->mac_input != header->mac_input) std::abort();
  return 0;
}
