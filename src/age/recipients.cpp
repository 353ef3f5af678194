#include "age/recipients.h"

#include <algorithm>
#include <iterator>

#include "age/bech32.h"
#include "crypto/aead.h"
#include "crypto/hash.h"
#include "crypto/random.h"

namespace ward::age {
namespace {

constexpr std::string_view kX25519Label = "age-encryption.org/v1/X25519";
constexpr std::string_view kScryptLabel = "age-encryption.org/v1/scrypt";
constexpr std::string_view kRecipientHrp = "age";
constexpr std::string_view kIdentityHrp = "age-secret-key-";
constexpr std::uint8_t kZeroNonce[crypto::kAeadNonceSize] = {};

Bytes wrap_with(const crypto::SecretBytes& wrap_key, const FileKey& file_key) {
  auto aead = crypto::Aead::create(crypto::AeadAlg::ChaCha20Poly1305, view(wrap_key)).value();
  return aead.seal(kZeroNonce, {}, view(file_key));
}

// An authentication failure means "not for this key", not a broken file.
std::optional<FileKey> unwrap_with(const crypto::SecretBytes& wrap_key, ByteView body) {
  auto aead = crypto::Aead::create(crypto::AeadAlg::ChaCha20Poly1305, view(wrap_key)).value();
  auto key = aead.open(kZeroNonce, {}, body);
  if (!key) return std::nullopt;
  return FileKey(key->begin(), key->end());
}

crypto::SecretBytes x25519_wrap_key(const crypto::SecretBytes& shared, ByteView share,
                                    const crypto::X25519PublicKey& recipient) {
  Bytes salt(share.begin(), share.end());
  salt.insert(salt.end(), recipient.begin(), recipient.end());
  return crypto::hkdf(crypto::HashAlg::Sha256, view(shared), salt, as_bytes(kX25519Label), 32).value();
}

template <class T, class Parse>
Result<std::vector<T>> parse_key_lines(std::string_view text, Parse parse, const char* what) {
  std::vector<T> out;
  std::size_t line_no = 0;
  while (!text.empty()) {
    ++line_no;
    std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    if (line.ends_with('\r')) line.remove_suffix(1);
    if (line.empty() || line.starts_with('#')) continue;
    auto key = parse(line);
    if (!key) return fail(key.error(), "line " + std::to_string(line_no));
    out.push_back(std::move(*key));
  }
  if (out.empty()) return fail("age.key", std::string("no ") + what + " found");
  return out;
}

}  // namespace

Result<X25519Recipient> X25519Recipient::parse(std::string_view text) {
  auto decoded = bech32_decode(text);
  if (!decoded) return fail("age.key", "invalid recipient \"" + std::string(text) + "\": " + decoded.error().message);
  if (decoded->hrp != kRecipientHrp || text.starts_with("AGE"))
    return fail("age.key", "invalid recipient \"" + std::string(text) + "\": not an age1 X25519 recipient");
  if (decoded->data.size() != 32)
    return fail("age.key", "invalid recipient \"" + std::string(text) + "\": wrong key length");
  crypto::X25519PublicKey key;
  std::copy(decoded->data.begin(), decoded->data.end(), key.begin());
  return X25519Recipient(key);
}

std::string X25519Recipient::to_string() const { return bech32_encode(kRecipientHrp, key_); }

Result<std::vector<Stanza>> X25519Recipient::wrap(const FileKey& file_key) const {
  auto ephemeral = crypto::X25519PrivateKey::generate();
  crypto::X25519PublicKey share = ephemeral.public_key();
  auto shared = ephemeral.agree(key_);
  if (!shared) return fail("age.key", "recipient " + to_string() + " is a low-order point and cannot be used");
  Stanza s{"X25519", {base64_encode(share, /*pad=*/false)}, wrap_with(x25519_wrap_key(*shared, share, key_), file_key)};
  return std::vector<Stanza>{std::move(s)};
}

X25519Identity X25519Identity::generate() { return X25519Identity(crypto::X25519PrivateKey::generate()); }

Result<X25519Identity> X25519Identity::parse(std::string_view text) {
  auto decoded = bech32_decode(text);
  if (!decoded) return fail("age.key", "invalid identity: " + decoded.error().message);
  crypto::SecretBytes scalar(decoded->data.begin(), decoded->data.end());
  crypto::cleanse(decoded->data.data(), decoded->data.size());
  if (decoded->hrp != kIdentityHrp || !text.starts_with("AGE-SECRET-KEY-1"))
    return fail("age.key", "invalid identity: not an AGE-SECRET-KEY-1 X25519 identity");
  return from_secret(view(scalar));
}

Result<X25519Identity> X25519Identity::from_secret(ByteView scalar) {
  if (scalar.size() != 32) return fail("age.key", "invalid identity: wrong key length");
  auto key = crypto::X25519PrivateKey::from_bytes(scalar);
  if (!key) return std::unexpected(key.error());
  return X25519Identity(std::move(*key));
}

std::string X25519Identity::to_string() const {
  std::string s = bech32_encode(kIdentityHrp, view(key_.bytes()));
  std::transform(s.begin(), s.end(), s.begin(), [](char c) { return c >= 'a' && c <= 'z' ? c - 32 : c; });
  return s;
}

X25519Recipient X25519Identity::recipient() const { return X25519Recipient(key_.public_key()); }

Result<std::optional<FileKey>> X25519Identity::unwrap(std::span<const Stanza> stanzas) const {
  const crypto::X25519PublicKey self = key_.public_key();
  for (const Stanza& s : stanzas) {
    if (s.type != "X25519") continue;
    // parse_header() has checked the share and body sizes.
    Bytes share = base64_decode(s.args[0], /*pad=*/false).value();
    crypto::X25519PublicKey peer;
    std::copy(share.begin(), share.end(), peer.begin());
    auto shared = key_.agree(peer);
    if (!shared) return fail("age.header", "invalid age header: X25519 share is a low-order point");
    if (auto key = unwrap_with(x25519_wrap_key(*shared, share, self), s.body)) return key;
  }
  return std::optional<FileKey>();
}

Result<std::vector<Stanza>> ScryptRecipient::wrap(const FileKey& file_key) const {
  Bytes salt = crypto::random_bytes(16);
  Bytes full_salt = to_bytes(kScryptLabel);
  full_salt.insert(full_salt.end(), salt.begin(), salt.end());
  auto key = crypto::scrypt(view(passphrase_), full_salt, work_factor_, 8, 1, 32);
  if (!key) return std::unexpected(key.error());
  Stanza s{"scrypt", {base64_encode(salt, /*pad=*/false), std::to_string(work_factor_)}, wrap_with(*key, file_key)};
  return std::vector<Stanza>{std::move(s)};
}

Result<std::optional<FileKey>> ScryptIdentity::unwrap(std::span<const Stanza> stanzas) const {
  for (const Stanza& s : stanzas) {
    if (s.type != "scrypt") continue;
    // parse_header() has checked the salt, the work factor's form and the body size.
    unsigned work_factor = static_cast<unsigned>(std::stoul(s.args[1]));
    if (work_factor > max_work_factor_)
      return fail("age.header", "invalid age header: scrypt work factor " + s.args[1] + " is above the limit of " +
                                    std::to_string(max_work_factor_));
    Bytes full_salt = to_bytes(kScryptLabel);
    Bytes salt = base64_decode(s.args[0], /*pad=*/false).value();
    full_salt.insert(full_salt.end(), salt.begin(), salt.end());
    auto key = crypto::scrypt(view(passphrase_), full_salt, work_factor, 8, 1, 32);
    if (!key) return std::unexpected(key.error());
    if (auto file_key = unwrap_with(*key, s.body)) return file_key;
  }
  return std::optional<FileKey>();
}

Result<std::vector<X25519Identity>> parse_identity_file(std::string_view text) {
  return parse_key_lines<X25519Identity>(text, X25519Identity::parse, "identities");
}

Result<std::vector<X25519Recipient>> parse_recipients_file(std::string_view text) {
  return parse_key_lines<X25519Recipient>(text, X25519Recipient::parse, "recipients");
}

bool needs_passphrase(const Header& header) {
  return std::any_of(header.stanzas.begin(), header.stanzas.end(), [](const Stanza& s) { return s.type == "scrypt"; });
}

Result<std::vector<Stanza>> wrap_file_key(const FileKey& file_key, std::span<const Recipient* const> recipients) {
  if (recipients.empty()) return fail("age.usage", "no recipients given");
  std::vector<Stanza> stanzas;
  for (const Recipient* r : recipients) {
    if (r->must_be_alone() && recipients.size() > 1)
      return fail("age.usage", "a passphrase cannot be combined with other recipients");
    auto wrapped = r->wrap(file_key);
    if (!wrapped) return std::unexpected(wrapped.error());
    std::move(wrapped->begin(), wrapped->end(), std::back_inserter(stanzas));
  }
  return stanzas;
}

Result<FileKey> unwrap_file_key(const Header& header, std::span<const Identity* const> identities) {
  for (const Identity* identity : identities) {
    auto key = identity->unwrap(header.stanzas);
    if (!key) return std::unexpected(key.error());
    if (!*key) continue;
    if (auto ok = verify_header_mac(header, **key); !ok) return std::unexpected(ok.error());
    return std::move(**key);
  }
  if (needs_passphrase(header)) return fail("age.no_match", "wrong passphrase: the file could not be decrypted");
  return fail("age.no_match", "no identity matched any of the file's recipients (wrong key?)");
}

}  // namespace ward::age
