#include "keys/party_key.h"

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "base/bytes.h"

namespace ward::keys {
namespace {

// An age-keygen identity; the expected values were computed independently with
// Python's `cryptography` and cross-checked with `openssl kdf` / `openssl pkey`.
constexpr std::string_view kSecret =
    "AGE-SECRET-KEY-1SLTVCTJ4F39F9VA0GGZFW9CFY7QPTC9L8WM88WT3L9VSX7JH4WAS8Y7A60";
constexpr std::string_view kRecipient = "age1z3g3pewpzdmj9kwv8cltf76rmcduhllfanajg765y9g09ez4fa7sydhq5v";
constexpr std::string_view kScalarHex = "87d6cc2e554c4a92b3af4204971709278015e0bf3bb673b971f959037a57abbb";
constexpr std::string_view kSeedHex = "17ccb18abf7217fb0cf0bbbfd295e033341b674cbbfec24467e75e9e879ea4ae";
constexpr std::string_view kSigningPublicHex =
    "52b626c9945cf04dce19d0d72e7b27baa515c64f6406a65b6b1c6dcc8d02415d";

std::string age_keygen_file() {
  return "# created: 2026-11-25T19:47:27Z\n# public key: " + std::string(kRecipient) + "\n" +
         std::string(kSecret) + "\n";
}

TEST(PartyKey, shouldDeriveTheKnownSigningKeyFromAnAgeKeygenFile) {
  auto key = PartyKey::parse(age_keygen_file());
  ASSERT_TRUE(key) << key.error().message;
  EXPECT_EQ(key->recipient().to_string(), kRecipient);
  EXPECT_EQ(hex_encode(key->identity().secret()), kScalarHex);
  EXPECT_EQ(hex_encode(key->signing_key().seed()), kSeedHex);
  EXPECT_EQ(hex_encode(key->signing_public_key()), kSigningPublicHex);
}

TEST(PartyKey, shouldDeriveTheSameSigningKeyThroughDeriveSigningKey) {
  auto scalar = hex_decode(kScalarHex).value();
  auto signing = derive_signing_key(crypto::to_secret(scalar));
  ASSERT_TRUE(signing);
  EXPECT_EQ(hex_encode(signing->public_key()), kSigningPublicHex);
}

// Seed by Python's hmac/hashlib (RFC 5869 by hand); address from the seed by
// npm elliptic 6.6.1 (secp256k1) and js-sha3 0.8.0 (Keccak-256), independent of libsecp256k1.
constexpr std::string_view kEvmSeedHex = "8ffb3e47e54e261fa13f1a239312058d71ad3bdc7715a20fe60d6caf13921042";
constexpr std::string_view kEvmAddress = "0xad761c25a1053e061b8a6447697ac1bfe9a96f1f";

TEST(PartyKey, shouldDeriveTheKnownEvmKey) {
  auto key = PartyKey::parse(age_keygen_file());
  ASSERT_TRUE(key) << key.error().message;
  auto evm_key = key->evm_key();
  ASSERT_TRUE(evm_key) << evm_key.error().message;
  EXPECT_EQ(hex_encode(crypto::view(evm_key->secret())), kEvmSeedHex);
  EXPECT_EQ(evm_key->address(), evm::Address::parse(kEvmAddress).value());
  auto direct = derive_evm_key(crypto::to_secret(hex_decode(kScalarHex).value()));
  ASSERT_TRUE(direct);
  EXPECT_EQ(direct->address(), evm_key->address());
}

TEST(PartyKey, shouldDeriveDifferentEvmKeysForDifferentParties) {
  EXPECT_NE(PartyKey::generate().evm_key()->address(), PartyKey::generate().evm_key()->address());
}

TEST(PartyKey, shouldRenderTheIdentityFileLikeAgeKeygenPlusTheSigningKey) {
  auto key = PartyKey::parse(age_keygen_file()).value();
  const auto created = std::chrono::sys_days{std::chrono::year{2024} / 1 / 2} + std::chrono::hours{3} +
                       std::chrono::minutes{4} + std::chrono::seconds{5} + std::chrono::milliseconds{678};
  EXPECT_EQ(key.identity_file_text(created),
            "# created: 2024-01-02T03:04:05Z\n"
            "# public key: " +
                std::string(kRecipient) +
                "\n"
                "# ward signing key: " +
                std::string(kSigningPublicHex) + "\n" + std::string(kSecret) + "\n");
}

TEST(PartyKey, shouldRoundTripAGeneratedKeyThroughItsIdentityFile) {
  const PartyKey key = PartyKey::generate();
  auto parsed = PartyKey::parse(key.identity_file_text(std::chrono::system_clock::now()));
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->recipient().to_string(), key.recipient().to_string());
  EXPECT_EQ(parsed->signing_public_key(), key.signing_public_key());
}

TEST(PartyKey, shouldGenerateDistinctKeys) {
  const PartyKey a = PartyKey::generate();
  const PartyKey b = PartyKey::generate();
  EXPECT_NE(a.recipient().to_string(), b.recipient().to_string());
  EXPECT_NE(a.signing_public_key(), b.signing_public_key());
}

TEST(PartyKey, shouldSignWithTheDerivedKey) {
  const PartyKey key = PartyKey::generate();
  const auto signature = key.signing_key().sign(as_bytes("order 42"));
  EXPECT_TRUE(crypto::ed25519_verify(key.signing_public_key(), as_bytes("order 42"), signature));
}

TEST(PartyKey, shouldIgnoreCommentsBlankLinesAndCrlf) {
  const std::string text =
      "\r\n# a comment\r\n\r\n# ward signing key: 00\r\n" + std::string(kSecret) + "\r\n";
  auto key = PartyKey::parse(text);
  ASSERT_TRUE(key) << key.error().message;
  EXPECT_EQ(hex_encode(key->signing_public_key()), kSigningPublicHex);
}

TEST(PartyKey, shouldRejectAFileWithoutASecretKey) {
  auto key = PartyKey::parse("# public key: " + std::string(kRecipient) + "\n");
  ASSERT_FALSE(key);
  EXPECT_EQ(key.error().code, "keys.identity");
}

TEST(PartyKey, shouldRejectAFileWithTwoSecretKeys) {
  const PartyKey other = PartyKey::generate();
  auto key = PartyKey::parse(age_keygen_file() + other.identity().to_string() + "\n");
  ASSERT_FALSE(key);
  EXPECT_EQ(key.error().code, "keys.identity");
  EXPECT_NE(key.error().message.find("exactly one"), std::string::npos) << key.error().message;
}

TEST(PartyKey, shouldRejectAMalformedSecretKey) {
  std::string bad(kSecret);
  bad.back() = bad.back() == 'Q' ? 'P' : 'Q';  // breaks the Bech32 checksum
  auto key = PartyKey::parse(bad + "\n");
  ASSERT_FALSE(key);
  EXPECT_EQ(key.error().code, "keys.identity");
}

TEST(PartyKey, shouldLoadAnIdentityFileFromDisk) {
  const auto path =
      std::filesystem::temp_directory_path() / ("ward_party_key_test_" + std::to_string(::getpid()));
  std::ofstream(path) << age_keygen_file();
  auto key = PartyKey::load(path);
  std::filesystem::remove(path);
  ASSERT_TRUE(key) << key.error().message;
  EXPECT_EQ(hex_encode(key->signing_public_key()), kSigningPublicHex);
}

TEST(PartyKey, shouldNameThePathWhenLoadingFails) {
  auto key = PartyKey::load("/nonexistent/ward/key.txt");
  ASSERT_FALSE(key);
  EXPECT_NE(key.error().message.find("/nonexistent/ward/key.txt"), std::string::npos) << key.error().message;
}

}  // namespace
}  // namespace ward::keys
