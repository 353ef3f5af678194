#include "age/rewrap.h"

namespace ward::age {

Result<RewrappedHeader> rewrap_header(ByteView file_prefix, std::span<const Identity* const> identities,
                                      std::span<const Recipient* const> recipients,
                                      std::span<const Stanza> extra) {
  auto header = parse_header(file_prefix);
  if (!header) {
    if (header.error().code == "age.incomplete") return fail("age.header", "the data ends inside the age header");
    return std::unexpected(header.error());
  }
  auto file_key = unwrap_file_key(*header, identities);
  if (!file_key) return std::unexpected(file_key.error());
  auto stanzas = wrap_file_key(*file_key, recipients);
  if (!stanzas) return std::unexpected(stanzas.error());
  stanzas->insert(stanzas->end(), extra.begin(), extra.end());
  return RewrappedHeader{encode_header(*stanzas, *file_key), header->size};
}

}  // namespace ward::age
