// Bech32 (BIP 173) as age uses it for keys: the classic checksum, no length
// limit, and all-lower or all-upper case only.
#pragma once

#include <string>
#include <string_view>

#include "base/bytes.h"
#include "base/error.h"

namespace ward::age {

struct Bech32 {
  std::string hrp;  // lower case
  Bytes data;
};

// Encodes in lower case; callers upper-case the result for secret keys.
std::string bech32_encode(std::string_view hrp, ByteView data);
// Errors are "age.bech32".
Result<Bech32> bech32_decode(std::string_view text);

}  // namespace ward::age
