#include "crypto/der.h"

namespace ward::crypto::der {

namespace {

// Four length octets cover anything Ward accepts (inputs are bounded far
// below 4 GiB) and keep the size_t arithmetic trivial.
constexpr std::size_t kMaxLengthOctets = 4;

}  // namespace

Result<Tlv> read(ByteView& in) {
  if (in.size() < 2) return fail("crypto.der", "truncated");
  const std::uint8_t tag = in[0];
  if ((tag & 0x1F) == 0x1F) return fail("crypto.der", "multi-byte tag");
  std::size_t length = in[1];
  std::size_t header = 2;
  if (length >= 0x80) {
    const std::size_t count = length & 0x7F;
    if (count == 0 || count > kMaxLengthOctets) return fail("crypto.der", "unsupported length encoding");
    if (in.size() < 2 + count) return fail("crypto.der", "truncated length");
    if (in[2] == 0) return fail("crypto.der", "non-minimal length");
    length = 0;
    for (std::size_t i = 0; i < count; ++i) length = (length << 8) | in[2 + i];
    if (length < 0x80) return fail("crypto.der", "non-minimal length");
    header += count;
  }
  if (in.size() - header < length) return fail("crypto.der", "truncated contents");
  const Tlv tlv{tag, in.subspan(header, length)};
  in = in.subspan(header + length);
  return tlv;
}

Result<ByteView> read_whole(ByteView der, std::uint8_t tag) {
  auto tlv = read(der);
  if (!tlv) return std::unexpected(tlv.error());
  if (tlv->tag != tag) return fail("crypto.der", "unexpected tag");
  if (!der.empty()) return fail("crypto.der", "trailing bytes");
  return tlv->contents;
}

void append(Bytes& out, std::uint8_t tag, ByteView contents) {
  out.push_back(tag);
  const std::size_t n = contents.size();
  if (n < 0x80) {
    out.push_back(static_cast<std::uint8_t>(n));
  } else {
    std::uint8_t octets[sizeof(std::size_t)];
    std::size_t count = 0;
    for (std::size_t v = n; v != 0; v >>= 8) octets[count++] = static_cast<std::uint8_t>(v & 0xFF);
    out.push_back(static_cast<std::uint8_t>(0x80 | count));
    while (count > 0) out.push_back(octets[--count]);
  }
  out.insert(out.end(), contents.begin(), contents.end());
}

Bytes encode(std::uint8_t tag, ByteView contents) {
  Bytes out;
  append(out, tag, contents);
  return out;
}

}  // namespace ward::crypto::der
