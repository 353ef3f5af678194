// Internal to src/crypto: owning handles for OpenSSL objects and the error
// helpers every wrapper shares. Not part of the module's API; other modules
// must not include it.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "crypto/hash.h"

namespace ward::crypto::detail {

template <auto Free>
struct Deleter {
  template <class T>
  void operator()(T* p) const noexcept {
    Free(p);
  }
};
template <class T, auto Free>
using Handle = std::unique_ptr<T, Deleter<Free>>;

using BignumPtr = Handle<BIGNUM, BN_free>;
using BioPtr = Handle<BIO, BIO_free>;
using MdCtxPtr = Handle<EVP_MD_CTX, EVP_MD_CTX_free>;
using PkeyCtxPtr = Handle<EVP_PKEY_CTX, EVP_PKEY_CTX_free>;
using PkeyPtr = Handle<EVP_PKEY, EVP_PKEY_free>;

// Drains OpenSSL's thread-local error queue and returns the reason of the
// first (root-cause) entry. Draining matters: a stale entry would otherwise be
// reported by a later, unrelated failure.
inline std::string openssl_error() {
  const unsigned long first = ERR_get_error();
  ERR_clear_error();
  if (first == 0) return "no detail from OpenSSL";
  const char* reason = ERR_reason_error_string(first);
  return reason != nullptr ? reason : "unknown OpenSSL error";
}

// For failures only memory exhaustion or a broken OpenSSL install can cause,
// in calls whose contract has no error channel.
[[noreturn]] inline void fatal(const char* what) {
  ERR_print_errors_fp(stderr);
  std::fprintf(stderr, "ward: fatal: %s\n", what);
  std::abort();
}

// OpenSSL's name for the digest ("SHA256"), and the digest fetched once per
// process so that hot paths skip the provider lookup.
const char* md_name(HashAlg alg);
const EVP_MD* md(HashAlg alg);

}  // namespace ward::crypto::detail
