// Secret bytes: a buffer that wipes itself (OPENSSL_cleanse) whenever its
// storage is released, including on reallocation. Use it for every key,
// shared secret and passphrase; copy out of it only into another SecretBytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "base/bytes.h"

namespace ward::crypto {

void cleanse(void* data, std::size_t size);

template <class T>
struct CleansingAllocator {
  using value_type = T;
  CleansingAllocator() = default;
  template <class U>
  CleansingAllocator(const CleansingAllocator<U>&) noexcept {}
  T* allocate(std::size_t n) { return std::allocator<T>().allocate(n); }
  void deallocate(T* p, std::size_t n) noexcept {
    cleanse(p, n * sizeof(T));
    std::allocator<T>().deallocate(p, n);
  }
  template <class U>
  bool operator==(const CleansingAllocator<U>&) const noexcept { return true; }
};

using SecretBytes = std::vector<std::uint8_t, CleansingAllocator<std::uint8_t>>;

inline SecretBytes to_secret(ByteView b) { return SecretBytes(b.begin(), b.end()); }
inline ByteView view(const SecretBytes& s) { return {s.data(), s.size()}; }

// Constant-time equality; false when sizes differ (sizes are not secret).
bool ct_equal(ByteView a, ByteView b);

}  // namespace ward::crypto
