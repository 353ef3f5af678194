// Recipients wrap a file key into stanzas; identities unwrap it. X25519
// (age1... / AGE-SECRET-KEY-1...) and scrypt passphrases, as in the age spec.
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "age/header.h"
#include "crypto/keys.h"

namespace ward::age {

class Recipient {
 public:
  virtual ~Recipient() = default;
  virtual Result<std::vector<Stanza>> wrap(const FileKey& file_key) const = 0;
  // scrypt stanzas must be the only stanza in a header.
  virtual bool must_be_alone() const { return false; }
};

class Identity {
 public:
  virtual ~Identity() = default;
  // Returns the file key when a stanza is addressed to this identity, nullopt
  // when none is, and an error when a stanza of this identity's type is
  // malformed (such a header is rejected, not skipped).
  virtual Result<std::optional<FileKey>> unwrap(std::span<const Stanza> stanzas) const = 0;
};

class X25519Recipient final : public Recipient {
 public:
  explicit X25519Recipient(const crypto::X25519PublicKey& key) : key_(key) {}
  // Parses "age1..." (lower-case Bech32).
  static Result<X25519Recipient> parse(std::string_view text);
  std::string to_string() const;
  const crypto::X25519PublicKey& key() const { return key_; }
  Result<std::vector<Stanza>> wrap(const FileKey& file_key) const override;

 private:
  crypto::X25519PublicKey key_;
};

class X25519Identity final : public Identity {
 public:
  static X25519Identity generate();
  // Parses "AGE-SECRET-KEY-1..." (upper-case Bech32).
  static Result<X25519Identity> parse(std::string_view text);
  static Result<X25519Identity> from_secret(ByteView scalar);
  std::string to_string() const;
  X25519Recipient recipient() const;
  const crypto::SecretBytes& secret() const { return key_.bytes(); }
  Result<std::optional<FileKey>> unwrap(std::span<const Stanza> stanzas) const override;

 private:
  explicit X25519Identity(crypto::X25519PrivateKey key) : key_(std::move(key)) {}
  crypto::X25519PrivateKey key_;
};

inline constexpr unsigned kDefaultScryptWorkFactor = 18;
inline constexpr unsigned kMaxScryptWorkFactor = 22;

class ScryptRecipient final : public Recipient {
 public:
  explicit ScryptRecipient(crypto::SecretBytes passphrase, unsigned work_factor = kDefaultScryptWorkFactor)
      : passphrase_(std::move(passphrase)), work_factor_(work_factor) {}
  Result<std::vector<Stanza>> wrap(const FileKey& file_key) const override;
  bool must_be_alone() const override { return true; }

 private:
  crypto::SecretBytes passphrase_;
  unsigned work_factor_;
};

class ScryptIdentity final : public Identity {
 public:
  explicit ScryptIdentity(crypto::SecretBytes passphrase, unsigned max_work_factor = kMaxScryptWorkFactor)
      : passphrase_(std::move(passphrase)), max_work_factor_(max_work_factor) {}
  Result<std::optional<FileKey>> unwrap(std::span<const Stanza> stanzas) const override;

 private:
  crypto::SecretBytes passphrase_;
  unsigned max_work_factor_;
};

// Identity files (age-keygen's format): one AGE-SECRET-KEY-1 per line, blank
// lines and lines starting with '#' ignored. At least one identity required.
Result<std::vector<X25519Identity>> parse_identity_file(std::string_view text);
// Recipients files (age -R): one age1 recipient per line, same comment rules.
Result<std::vector<X25519Recipient>> parse_recipients_file(std::string_view text);

// True when the header holds an scrypt stanza (so a passphrase is needed).
bool needs_passphrase(const Header& header);

// Wraps `file_key` to every recipient. Errors "age.usage" when there is no
// recipient, or an scrypt recipient is not alone.
Result<std::vector<Stanza>> wrap_file_key(const FileKey& file_key, std::span<const Recipient* const> recipients);

// Finds the file key for `header` with any of `identities` and checks the
// header MAC. Errors: "age.no_match", "age.hmac", or a malformed-stanza "age.header".
Result<FileKey> unwrap_file_key(const Header& header, std::span<const Identity* const> identities);

}  // namespace ward::age
