#include "ledger/checkpoint.h"

#include <charconv>
#include <optional>
#include <utility>

#include "base/bytes.h"
#include "crypto/hash.h"

namespace ward::ledger {
namespace {

constexpr std::uint8_t kEd25519Type = 0x01;
constexpr std::string_view kSignaturePrefix = "\u2014 ";  // em dash, space
// The spec asks verifiers to accept at least 16 signatures and to bound the
// work an attacker can demand; 100 is Go's sumdb/note limit.
constexpr std::size_t kMaxSignatures = 100;

std::unexpected<Error> note_error(const std::string& message) {
  return fail("ledger.note", message);
}
std::unexpected<Error> checkpoint_error(const std::string& message) {
  return fail("ledger.checkpoint", message);
}

// Decodes the UTF-8 sequence at text[pos], advancing pos; nullopt when it is
// malformed, overlong, a surrogate or beyond U+10FFFF.
std::optional<char32_t> next_code_point(std::string_view text, std::size_t& pos) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(pos);
  if (lead < 0x80) {
    ++pos;
    return lead;
  }
  std::size_t length = 0;
  char32_t cp = 0;
  char32_t minimum = 0;
  if ((lead & 0xe0) == 0xc0) {
    length = 2, cp = lead & 0x1f, minimum = 0x80;
  } else if ((lead & 0xf0) == 0xe0) {
    length = 3, cp = lead & 0x0f, minimum = 0x800;
  } else if ((lead & 0xf8) == 0xf0) {
    length = 4, cp = lead & 0x07, minimum = 0x10000;
  } else {
    return std::nullopt;
  }
  if (text.size() - pos < length) return std::nullopt;
  for (std::size_t i = 1; i < length; ++i) {
    if ((byte(pos + i) & 0xc0) != 0x80) return std::nullopt;
    cp = (cp << 6) | (byte(pos + i) & 0x3f);
  }
  if (cp < minimum || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return std::nullopt;
  pos += length;
  return cp;
}

// Unicode White_Space, as Go's unicode.IsSpace (the reference note code) sees it.
bool is_unicode_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0d) || c == 0x20 || c == 0x85 || c == 0xa0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f ||
         c == 0x3000;
}

// Valid UTF-8 with no control character but newline, as both formats demand.
bool clean_text(std::string_view text) {
  for (std::size_t pos = 0; pos < text.size();) {
    auto cp = next_code_point(text, pos);
    if (!cp || (*cp < 0x20 && *cp != '\n')) return false;
  }
  return true;
}

std::optional<std::uint64_t> parse_size(std::string_view text) {
  if (text.empty() || (text.size() > 1 && text[0] == '0')) return std::nullopt;
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// Splits off the line before the next newline. REQUIRES: text holds one.
std::string_view take_line(std::string_view& text) {
  const std::size_t newline = text.find('\n');
  std::string_view line = text.substr(0, newline);
  text.remove_prefix(newline + 1);
  return line;
}

Bytes key_id_bytes(std::uint32_t id) {
  return {static_cast<std::uint8_t>(id >> 24), static_cast<std::uint8_t>(id >> 16),
          static_cast<std::uint8_t>(id >> 8), static_cast<std::uint8_t>(id)};
}

std::uint32_t key_id_from(ByteView bytes) {
  return (std::uint32_t{bytes[0]} << 24) | (std::uint32_t{bytes[1]} << 16) | (std::uint32_t{bytes[2]} << 8) |
         std::uint32_t{bytes[3]};
}

}  // namespace

std::string encode_checkpoint(const Checkpoint& checkpoint) {
  std::string out = checkpoint.origin + "\n" + std::to_string(checkpoint.size) + "\n" +
                    base64_encode(checkpoint.root) + "\n";
  for (const std::string& line : checkpoint.extensions) out += line + "\n";
  return out;
}

Result<Checkpoint> parse_checkpoint(std::string_view body) {
  if (body.empty() || body.back() != '\n') return checkpoint_error("checkpoint does not end in a newline");
  if (!clean_text(body)) return checkpoint_error("checkpoint is not UTF-8 text without control characters");
  std::vector<std::string_view> lines;
  while (!body.empty()) lines.push_back(take_line(body));
  if (lines.size() < 3) {
    return checkpoint_error("checkpoint has " + std::to_string(lines.size()) +
                            " lines, want origin, size and root");
  }
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].empty()) return checkpoint_error("checkpoint line " + std::to_string(i + 1) + " is empty");
  }
  Checkpoint checkpoint;
  checkpoint.origin = lines[0];
  auto size = parse_size(lines[1]);
  if (!size) return checkpoint_error("checkpoint size is not a decimal number without leading zeros");
  checkpoint.size = *size;
  auto root = base64_decode(lines[2]);
  if (!root) return checkpoint_error("checkpoint root is not padded standard base64");
  if (root->size() != checkpoint.root.size()) {
    return checkpoint_error("checkpoint root is " + std::to_string(root->size()) + " bytes, want 32");
  }
  std::copy(root->begin(), root->end(), checkpoint.root.begin());
  checkpoint.extensions.assign(lines.begin() + 3, lines.end());
  return checkpoint;
}

bool valid_key_name(std::string_view name) {
  if (name.empty()) return false;
  for (std::size_t pos = 0; pos < name.size();) {
    auto cp = next_code_point(name, pos);
    if (!cp || *cp < 0x20 || *cp == '+' || is_unicode_space(*cp)) return false;
  }
  return true;
}

std::uint32_t note_key_id(std::string_view name, const crypto::Ed25519PublicKey& key) {
  crypto::Hasher hasher(crypto::HashAlg::Sha256);
  const std::uint8_t separator[] = {'\n', kEd25519Type};
  const Bytes digest = hasher.update(as_bytes(name)).update(separator).update(key).finish();
  return key_id_from(digest);
}

Result<std::string> sign_note(std::string_view body, const NoteSigner& signer) {
  if (!valid_key_name(signer.name)) return note_error("signer key name is empty or has a space or '+'");
  if (body.empty() || body.back() != '\n') return note_error("note text does not end in a newline");
  if (!clean_text(body)) return note_error("note text is not UTF-8 without control characters");
  Bytes signature = key_id_bytes(note_key_id(signer.name, signer.key.public_key()));
  const crypto::Ed25519Signature sig = signer.key.sign(as_bytes(body));
  signature.insert(signature.end(), sig.begin(), sig.end());
  return std::string(body) + "\n" + std::string(kSignaturePrefix) + signer.name + " " +
         base64_encode(signature) + "\n";
}

std::string verifier_key(std::string_view name, const crypto::Ed25519PublicKey& key) {
  Bytes typed{kEd25519Type};
  typed.insert(typed.end(), key.begin(), key.end());
  return std::string(name) + "+" + hex_encode(key_id_bytes(note_key_id(name, key))) + "+" +
         base64_encode(typed);
}

Result<NoteVerifier> parse_verifier_key(std::string_view vkey) {
  const std::size_t first = vkey.find('+');
  const std::size_t second = first == std::string_view::npos ? first : vkey.find('+', first + 1);
  // The name holds no '+', the key ID is hex; the base64 key may hold '+'.
  if (second == std::string_view::npos) return note_error("verifier key is not <name>+<key ID>+<key>");
  NoteVerifier verifier;
  verifier.name = vkey.substr(0, first);
  if (!valid_key_name(verifier.name)) return note_error("verifier key name is empty or has a space");
  const std::string_view id_hex = vkey.substr(first + 1, second - first - 1);
  auto id = hex_decode(id_hex);
  if (id_hex.size() != 8 || !id) return note_error("verifier key ID is not 8 hex digits");
  auto typed = base64_decode(vkey.substr(second + 1));
  if (!typed || typed->size() != 1 + verifier.key.size()) {
    return note_error("verifier key is not base64 of a type byte and a 32-byte key");
  }
  if ((*typed)[0] != kEd25519Type) {
    return note_error("verifier key type " + std::to_string((*typed)[0]) + " is not Ed25519 (1)");
  }
  std::copy(typed->begin() + 1, typed->end(), verifier.key.begin());
  verifier.key_id = key_id_from(*id);
  if (verifier.key_id != note_key_id(verifier.name, verifier.key)) {
    return note_error("verifier key ID " + std::string(id_hex) + " does not match its name and key");
  }
  return verifier;
}

Result<std::string> open_note(std::string_view note, std::span<const NoteVerifier> verifiers) {
  if (!clean_text(note)) return note_error("note is not UTF-8 text without control characters");
  // The text ends at the last blank line; signature lines follow it.
  const std::size_t split = note.rfind("\n\n");
  if (split == std::string_view::npos) return note_error("note has no blank line before its signatures");
  const std::string_view text = note.substr(0, split + 1);
  std::string_view signatures = note.substr(split + 2);
  if (signatures.empty() || signatures.back() != '\n') {
    return note_error("note signatures do not end in a newline");
  }
  std::size_t count = 0;
  bool verified = false;
  while (!signatures.empty()) {
    std::string_view line = take_line(signatures);
    if (++count > kMaxSignatures) {
      return note_error("note has more than " + std::to_string(kMaxSignatures) + " signatures");
    }
    const std::string where = "note signature line " + std::to_string(count);
    if (!line.starts_with(kSignaturePrefix))
      return note_error(where + " does not start with an em dash and space");
    line.remove_prefix(kSignaturePrefix.size());
    const std::size_t space = line.find(' ');
    if (space == std::string_view::npos)
      return note_error(where + " has no space between name and signature");
    const std::string_view name = line.substr(0, space);
    if (!valid_key_name(name)) return note_error(where + " has an invalid key name");
    auto signature = base64_decode(line.substr(space + 1));
    if (!signature || signature->size() < 5) {
      return note_error(where + " is not base64 of a key ID and a signature");
    }
    const std::uint32_t id = key_id_from(*signature);
    for (const NoteVerifier& verifier : verifiers) {
      if (verifier.name != name || verifier.key_id != id) continue;
      const ByteView sig = ByteView(*signature).subspan(4);
      if (!crypto::ed25519_verify(verifier.key, as_bytes(text), sig)) {
        return note_error(where + ": the signature by known key " + std::string(name) + " does not verify");
      }
      verified = true;
    }
  }
  if (!verified) return note_error("note has no valid signature by a known key");
  return std::string(text);
}

}  // namespace ward::ledger
