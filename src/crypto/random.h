// The CSPRNG (OpenSSL's RAND_bytes, seeded from the OS). Aborts the process if
// the generator fails: continuing without randomness would be worse.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "base/bytes.h"

namespace ward::crypto {

void random_fill(std::span<std::uint8_t> out);
Bytes random_bytes(std::size_t size);

}  // namespace ward::crypto
