// The age v1 header (age-encryption.org/v1): recipient stanzas and the MAC.
// Parsing accepts exactly the canonical encoding the spec allows and nothing else.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "base/bytes.h"
#include "base/error.h"
#include "crypto/secret.h"

namespace ward::age {

inline constexpr std::size_t kFileKeySize = 16;
inline constexpr std::size_t kMacSize = 32;
// Headers larger than this are refused, so a hostile file cannot make a reader
// buffer without bound while it looks for the end of the header.
inline constexpr std::size_t kMaxHeaderSize = 1 << 20;

using FileKey = crypto::SecretBytes;  // kFileKeySize bytes

struct Stanza {
  std::string type;
  std::vector<std::string> args;
  Bytes body;
};

struct Header {
  std::vector<Stanza> stanzas;
  std::array<std::uint8_t, kMacSize> mac{};
  // The encoded header up to and including "---": the bytes the MAC covers.
  Bytes mac_input;
  // Length of the whole encoded header including the MAC line; the payload
  // (nonce, then STREAM chunks) starts at this offset.
  std::size_t size = 0;
};

// Parses a header at the start of `data`. Errors: "age.incomplete" when `data`
// ends before the header does (read more and retry), "age.header" for anything
// malformed, including a known stanza type whose arguments or body are invalid.
Result<Header> parse_header(ByteView data);

// Encodes stanzas and the MAC keyed from `file_key` into a complete header.
Bytes encode_header(const std::vector<Stanza>& stanzas, const FileKey& file_key);

// Checks the header MAC with `file_key`; "age.hmac" on mismatch.
Result<void> verify_header_mac(const Header& header, const FileKey& file_key);

FileKey generate_file_key();

}  // namespace ward::age
