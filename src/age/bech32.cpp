#include "age/bech32.h"

#include <array>
#include <cstdint>

namespace ward::age {
namespace {

constexpr std::string_view kCharset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

std::uint32_t polymod(const std::vector<std::uint8_t>& values) {
  constexpr std::array<std::uint32_t, 5> kGen = {0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3};
  std::uint32_t chk = 1;
  for (std::uint8_t v : values) {
    std::uint32_t top = chk >> 25;
    chk = (chk & 0x1ffffff) << 5 ^ v;
    for (int i = 0; i < 5; ++i) {
      if (top >> i & 1) chk ^= kGen[i];
    }
  }
  return chk;
}

std::vector<std::uint8_t> hrp_expand(std::string_view hrp) {
  std::vector<std::uint8_t> out;
  for (char c : hrp) out.push_back(static_cast<std::uint8_t>(c) >> 5);
  out.push_back(0);
  for (char c : hrp) out.push_back(static_cast<std::uint8_t>(c) & 31);
  return out;
}

// Regroups bits; with `pad` false, leftover bits must be fewer than `from` and zero.
bool convert_bits(ByteView in, int from, int to, bool pad, std::vector<std::uint8_t>& out) {
  std::uint32_t acc = 0;
  int bits = 0;
  const std::uint32_t max = (1u << to) - 1;
  for (std::uint8_t v : in) {
    if (v >> from) return false;
    acc = acc << from | v;
    bits += from;
    while (bits >= to) {
      bits -= to;
      out.push_back(static_cast<std::uint8_t>(acc >> bits & max));
    }
  }
  if (pad) {
    if (bits > 0) out.push_back(static_cast<std::uint8_t>(acc << (to - bits) & max));
  } else if (bits >= from || (acc << (to - bits) & max) != 0) {
    return false;
  }
  return true;
}

}  // namespace

std::string bech32_encode(std::string_view hrp, ByteView data) {
  std::vector<std::uint8_t> values;
  convert_bits(data, 8, 5, true, values);
  std::vector<std::uint8_t> check = hrp_expand(hrp);
  check.insert(check.end(), values.begin(), values.end());
  check.resize(check.size() + 6, 0);
  std::uint32_t mod = polymod(check) ^ 1;
  std::string out(hrp);
  out.push_back('1');
  for (std::uint8_t v : values) out.push_back(kCharset[v]);
  for (int i = 0; i < 6; ++i) out.push_back(kCharset[mod >> 5 * (5 - i) & 31]);
  return out;
}

Result<Bech32> bech32_decode(std::string_view text) {
  bool lower = false, upper = false;
  for (char c : text) {
    if (c < 33 || c > 126) return fail("age.bech32", "invalid character in key");
    lower |= c >= 'a' && c <= 'z';
    upper |= c >= 'A' && c <= 'Z';
  }
  if (lower && upper) return fail("age.bech32", "key mixes upper and lower case");
  std::size_t sep = text.rfind('1');
  if (sep == std::string_view::npos || sep == 0 || sep + 7 > text.size())
    return fail("age.bech32", "key is not valid Bech32 (separator or checksum missing)");
  std::string hrp;
  for (char c : text.substr(0, sep)) hrp.push_back(static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c));
  std::vector<std::uint8_t> values;
  for (char c : text.substr(sep + 1)) {
    char lc = static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
    std::size_t v = kCharset.find(lc);
    if (v == std::string_view::npos) return fail("age.bech32", "invalid Bech32 character in key");
    values.push_back(static_cast<std::uint8_t>(v));
  }
  std::vector<std::uint8_t> check = hrp_expand(hrp);
  check.insert(check.end(), values.begin(), values.end());
  if (polymod(check) != 1) return fail("age.bech32", "key checksum is wrong (mistyped or truncated key?)");
  values.resize(values.size() - 6);
  Bech32 out{std::move(hrp), {}};
  if (!convert_bits(values, 5, 8, false, out.data)) return fail("age.bech32", "key has invalid padding");
  return out;
}

}  // namespace ward::age
