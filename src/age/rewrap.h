// The primitive Ward's grants are made of: a new header for other recipients
// over the *same* payload. The payload is never re-encrypted; only the file
// key is re-wrapped, so a grant costs one header however large the file.
#pragma once

#include <cstddef>
#include <span>

#include "age/recipients.h"

namespace ward::age {

struct RewrappedHeader {
  Bytes header;                // a complete age header (binary) for the new recipients
  std::size_t payload_offset;  // where the nonce and STREAM begin in the original (binary) file
};

// `file_prefix` is the start of a binary age file, holding at least its whole
// header. The file key is unwrapped with `identities` (and the MAC checked)
// before anything is produced. New header ‖ original[payload_offset:] is a
// valid age file for `recipients`. `extra` stanzas follow the recipients'
// and are covered by the new header's MAC (Ward's grants bind their policy
// this way; age tools skip stanza types they do not know).
Result<RewrappedHeader> rewrap_header(ByteView file_prefix, std::span<const Identity* const> identities,
                                      std::span<const Recipient* const> recipients,
                                      std::span<const Stanza> extra = {});

}  // namespace ward::age
