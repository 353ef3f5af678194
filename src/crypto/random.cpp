#include "crypto/random.h"

#include <algorithm>
#include <climits>

#include <openssl/rand.h>

#include "crypto/openssl_util.h"

namespace ward::crypto {

void random_fill(std::span<std::uint8_t> out) {
  // RAND_bytes takes an int length.
  while (!out.empty()) {
    const std::size_t chunk = std::min<std::size_t>(out.size(), INT_MAX);
    if (RAND_bytes(out.data(), static_cast<int>(chunk)) != 1) detail::fatal("the random generator failed");
    out = out.subspan(chunk);
  }
}

Bytes random_bytes(std::size_t size) {
  Bytes out(size);
  random_fill(out);
  return out;
}

}  // namespace ward::crypto
