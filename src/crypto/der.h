// Strict DER for the few X.509 extension values Ward reads and writes itself
// (Intel's SGX extension, NVIDIA's DICE TcbInfo, the CVM certificate's own).
#pragma once

#include <cstdint>

#include "base/bytes.h"
#include "base/error.h"

namespace ward::crypto::der {

inline constexpr std::uint8_t kTagOctetString = 0x04;
inline constexpr std::uint8_t kTagUtf8String = 0x0c;

struct Tlv {
  std::uint8_t tag;
  ByteView contents;
};

// Reads one element from the front of `in` and advances `in` past it.
// Refuses what BER allows and DER does not (indefinite or non-minimal
// lengths), multi-byte tags, lengths of more than four octets, and elements
// longer than the input. Errors: "crypto.der", saying which it was.
Result<Tlv> read(ByteView& in);

// The contents of the one element with tag `tag` that `der` holds, with
// nothing after it (an extension value). Errors: "crypto.der", read()'s
// reasons, "unexpected tag" or "trailing bytes".
Result<ByteView> read_whole(ByteView der, std::uint8_t tag);

// Appends one element, its length in the minimal encoding.
void append(Bytes& out, std::uint8_t tag, ByteView contents);
Bytes encode(std::uint8_t tag, ByteView contents);

}  // namespace ward::crypto::der
