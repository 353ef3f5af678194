#include "crypto/aead.h"

#include <algorithm>
#include <array>
#include <climits>
#include <string>
#include <utility>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "crypto/openssl_util.h"

namespace ward::crypto {
namespace {

using CipherCtxPtr = detail::Handle<EVP_CIPHER_CTX, EVP_CIPHER_CTX_free>;

const EVP_CIPHER* fetch_cipher(AeadAlg alg) {
  static EVP_CIPHER* const chacha = EVP_CIPHER_fetch(nullptr, "ChaCha20-Poly1305", nullptr);
  static EVP_CIPHER* const gcm = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
  const EVP_CIPHER* cipher = alg == AeadAlg::ChaCha20Poly1305 ? chacha : gcm;
  if (cipher == nullptr) detail::fatal("OpenSSL lacks ChaCha20-Poly1305 or AES-256-GCM");
  return cipher;
}

// EVP_CipherUpdate takes int lengths; a null `out` feeds AAD.
bool update(EVP_CIPHER_CTX* ctx, ByteView in, std::uint8_t* out) {
  constexpr std::size_t kMaxChunk = std::size_t{1} << 30;
  while (!in.empty()) {
    const std::size_t chunk = std::min(in.size(), kMaxChunk);
    int written = 0;
    if (EVP_CipherUpdate(ctx, out, &written, in.data(), static_cast<int>(chunk)) != 1) return false;
    // Both ciphers are streaming: every input byte comes out at once.
    if (out != nullptr && static_cast<std::size_t>(written) != chunk) return false;
    in = in.subspan(chunk);
    if (out != nullptr) out += chunk;
  }
  return true;
}

// Exact aliasing is supported; partial overlap would corrupt the stream.
bool partially_overlaps(ByteView in, std::span<const std::uint8_t> out) {
  if (in.empty() || in.data() == out.data()) return false;
  const auto a = reinterpret_cast<std::uintptr_t>(in.data());
  const auto b = reinterpret_cast<std::uintptr_t>(out.data());
  return a < b + out.size() && b < a + in.size();
}

Result<void> check_sizes(ByteView nonce, ByteView in, std::span<const std::uint8_t> out) {
  if (nonce.size() != kAeadNonceSize) {
    return fail("crypto.input", "AEAD nonce must be 12 bytes, got " + std::to_string(nonce.size()));
  }
  if (out.size() != in.size()) {
    return fail("crypto.input", "AEAD output buffer is " + std::to_string(out.size()) + " bytes for " +
                                    std::to_string(in.size()) + " bytes of input");
  }
  if (partially_overlaps(in, out)) {
    return fail("crypto.input", "AEAD output buffer partially overlaps the input");
  }
  return {};
}

}  // namespace

struct Aead::Impl {
  // Keyed once; each message then only sets its nonce. Two contexts because
  // a context's direction is fixed when it is keyed.
  CipherCtxPtr seal;
  CipherCtxPtr open;
};

Aead::Aead(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Aead::Aead(Aead&&) noexcept = default;
Aead& Aead::operator=(Aead&&) noexcept = default;
Aead::~Aead() = default;

Result<Aead> Aead::create(AeadAlg alg, ByteView key) {
  if (key.size() != kAeadKeySize) {
    return fail("crypto.input", "AEAD key must be 32 bytes, got " + std::to_string(key.size()));
  }
  const EVP_CIPHER* cipher = fetch_cipher(alg);
  auto impl =
      std::make_unique<Impl>(Impl{CipherCtxPtr(EVP_CIPHER_CTX_new()), CipherCtxPtr(EVP_CIPHER_CTX_new())});
  if (!impl->seal || !impl->open) detail::fatal("cannot allocate a cipher context");
  if (EVP_EncryptInit_ex2(impl->seal.get(), cipher, key.data(), nullptr, nullptr) != 1 ||
      EVP_DecryptInit_ex2(impl->open.get(), cipher, key.data(), nullptr, nullptr) != 1) {
    return fail("crypto.aead", "cannot key the AEAD cipher: " + detail::openssl_error());
  }
  return Aead(std::move(impl));
}

Result<void> Aead::seal(ByteView nonce, ByteView aad, ByteView in, std::span<std::uint8_t> out,
                        std::span<std::uint8_t, kAeadTagSize> tag) {
  if (auto ok = check_sizes(nonce, in, out); !ok) return ok;
  EVP_CIPHER_CTX* ctx = impl_->seal.get();
  std::array<std::uint8_t, 16> final_block{};
  int final_size = 0;
  std::array<OSSL_PARAM, 2> params = {
      OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag.data(), tag.size()),
      OSSL_PARAM_construct_end(),
  };
  if (EVP_EncryptInit_ex2(ctx, nullptr, nullptr, nonce.data(), nullptr) != 1 || !update(ctx, aad, nullptr) ||
      !update(ctx, in, out.data()) || EVP_EncryptFinal_ex(ctx, final_block.data(), &final_size) != 1 ||
      final_size != 0 || EVP_CIPHER_CTX_get_params(ctx, params.data()) != 1) {
    return fail("crypto.aead", "AEAD encryption failed: " + detail::openssl_error());
  }
  return {};
}

Result<void> Aead::open(ByteView nonce, ByteView aad, ByteView in, ByteView tag,
                        std::span<std::uint8_t> out) {
  auto wiped = [&out](Error e) {
    cleanse(out.data(), out.size());
    return std::unexpected(std::move(e));
  };
  if (auto ok = check_sizes(nonce, in, out); !ok) return wiped(ok.error());
  if (tag.size() != kAeadTagSize) {
    return wiped(Error("crypto.input", "AEAD tag must be 16 bytes, got " + std::to_string(tag.size())));
  }
  EVP_CIPHER_CTX* ctx = impl_->open.get();
  std::array<std::uint8_t, kAeadTagSize> expected{};
  std::copy(tag.begin(), tag.end(), expected.begin());
  std::array<OSSL_PARAM, 2> params = {
      OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, expected.data(), expected.size()),
      OSSL_PARAM_construct_end(),
  };
  if (EVP_DecryptInit_ex2(ctx, nullptr, nullptr, nonce.data(), nullptr) != 1 || !update(ctx, aad, nullptr) ||
      !update(ctx, in, out.data()) || EVP_CIPHER_CTX_set_params(ctx, params.data()) != 1) {
    return wiped(Error("crypto.aead", "AEAD decryption failed: " + detail::openssl_error()));
  }
  std::array<std::uint8_t, 16> final_block{};
  int final_size = 0;
  if (EVP_DecryptFinal_ex(ctx, final_block.data(), &final_size) != 1 || final_size != 0) {
    ERR_clear_error();
    return wiped(
        Error("crypto.auth",
              "decryption failed: the data was modified, or the key, nonce or associated data is wrong"));
  }
  return {};
}

Bytes Aead::seal(ByteView nonce, ByteView aad, ByteView plaintext) {
  Bytes out(plaintext.size() + kAeadTagSize);
  const std::span<std::uint8_t> body(out.data(), plaintext.size());
  const std::span<std::uint8_t, kAeadTagSize> tag(out.data() + plaintext.size(), kAeadTagSize);
  if (auto ok = seal(nonce, aad, plaintext, body, tag); !ok) detail::fatal(ok.error().message.c_str());
  return out;
}

Result<SecretBytes> Aead::open(ByteView nonce, ByteView aad, ByteView ciphertext_and_tag) {
  if (ciphertext_and_tag.size() < kAeadTagSize) {
    return fail("crypto.auth", "ciphertext is shorter than its 16-byte authentication tag");
  }
  const std::size_t body_size = ciphertext_and_tag.size() - kAeadTagSize;
  SecretBytes out(body_size);
  if (auto ok =
          open(nonce, aad, ciphertext_and_tag.first(body_size), ciphertext_and_tag.subspan(body_size), out);
      !ok) {
    return std::unexpected(std::move(ok.error()));
  }
  return out;
}

}  // namespace ward::crypto
