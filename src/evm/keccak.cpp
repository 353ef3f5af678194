#include "evm/keccak.h"

namespace ward::evm {
namespace {

constexpr std::size_t kRate = 136;  // bytes: 1600 - 2 * 256 bits of capacity

constexpr std::array<std::uint64_t, 24> kRoundConstants = {
    0x0000000000000001, 0x0000000000008082, 0x800000000000808a, 0x8000000080008000, 0x000000000000808b,
    0x0000000080000001, 0x8000000080008081, 0x8000000000008009, 0x000000000000008a, 0x0000000000000088,
    0x0000000080008009, 0x000000008000000a, 0x000000008000808b, 0x800000000000008b, 0x8000000000008089,
    0x8000000000008003, 0x8000000000008002, 0x8000000000000080, 0x000000000000800a, 0x800000008000000a,
    0x8000000080008081, 0x8000000000008080, 0x0000000080000001, 0x8000000080008008};

// Rotation offsets and the lane order of the combined rho and pi steps,
// walking the lanes (x, y) -> (y, 2x + 3y) from lane 1.
constexpr std::array<int, 24> kRotations = {1,  3,  6,  10, 15, 21, 28, 36, 45, 55, 2,  14,
                                            27, 41, 56, 8,  25, 43, 62, 18, 39, 61, 20, 44};
constexpr std::array<int, 24> kPiLanes = {10, 7,  11, 17, 18, 3, 5,  16, 8,  21, 24, 4,
                                          15, 23, 19, 13, 12, 2, 20, 14, 22, 9,  6,  1};

constexpr std::uint64_t rotl(std::uint64_t v, int n) {
  return (v << n) | (v >> (64 - n));
}

void keccak_f1600(std::array<std::uint64_t, 25>& a) {
  for (std::uint64_t rc : kRoundConstants) {
    std::array<std::uint64_t, 5> c;
    for (int x = 0; x < 5; ++x) c[x] = a[x] ^ a[x + 5] ^ a[x + 10] ^ a[x + 15] ^ a[x + 20];
    for (int x = 0; x < 5; ++x) {
      std::uint64_t d = c[(x + 4) % 5] ^ rotl(c[(x + 1) % 5], 1);
      for (int y = 0; y < 25; y += 5) a[y + x] ^= d;
    }
    std::uint64_t carried = a[1];
    for (int i = 0; i < 24; ++i) {
      std::uint64_t next = a[kPiLanes[i]];
      a[kPiLanes[i]] = rotl(carried, kRotations[i]);
      carried = next;
    }
    for (int y = 0; y < 25; y += 5) {
      std::array<std::uint64_t, 5> row;
      for (int x = 0; x < 5; ++x) row[x] = a[y + x];
      for (int x = 0; x < 5; ++x) a[y + x] = row[x] ^ (~row[(x + 1) % 5] & row[(x + 2) % 5]);
    }
    a[0] ^= rc;
  }
}

// Lanes are little-endian whatever the host's byte order.
void xor_byte(std::array<std::uint64_t, 25>& state, std::size_t offset, std::uint8_t byte) {
  state[offset / 8] ^= std::uint64_t{byte} << (8 * (offset % 8));
}

}  // namespace

Keccak256& Keccak256::update(ByteView data) {
  for (std::uint8_t byte : data) {
    xor_byte(state_, offset_, byte);
    if (++offset_ == kRate) {
      keccak_f1600(state_);
      offset_ = 0;
    }
  }
  return *this;
}

Hash256 Keccak256::finish() {
  xor_byte(state_, offset_, 0x01);
  xor_byte(state_, kRate - 1, 0x80);
  keccak_f1600(state_);
  Hash256 out;
  for (std::size_t i = 0; i < out.size(); ++i)
    out[i] = static_cast<std::uint8_t>(state_[i / 8] >> (8 * (i % 8)));
  return out;
}

Hash256 keccak256(ByteView data) {
  return Keccak256().update(data).finish();
}

}  // namespace ward::evm
