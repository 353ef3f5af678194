#include "crypto/secret.h"

#include <openssl/crypto.h>

namespace ward::crypto {

void cleanse(void* data, std::size_t size) {
  OPENSSL_cleanse(data, size);
}

bool ct_equal(ByteView a, ByteView b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace ward::crypto
