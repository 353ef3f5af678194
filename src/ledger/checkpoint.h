// Checkpoints of the transparency log (C2SP tlog-checkpoint) and the signed
// notes that carry them (C2SP signed-note, Ed25519 signature type 0x01).
//
// Error codes: "ledger.checkpoint" (a checkpoint body that breaks the format),
// "ledger.note" (a malformed note, verifier key or key name, or a note no
// known key signed validly).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "crypto/keys.h"
#include "ledger/merkle.h"

namespace ward::ledger {

struct Checkpoint {
  std::string origin;
  std::uint64_t size = 0;
  Hash root{};
  // Opaque extension lines after the root, each non-empty, without newlines.
  std::vector<std::string> extensions;

  bool operator==(const Checkpoint&) const = default;
};

// "origin\nsize\nbase64(root)\n" followed by any extension lines.
// REQUIRES: a non-empty origin and extensions, none holding a newline.
std::string encode_checkpoint(const Checkpoint& checkpoint);
// Strict: at least three non-empty lines, a decimal size without leading
// zeros, a root of exactly 32 bytes in padded base64, a final newline.
Result<Checkpoint> parse_checkpoint(std::string_view body);

// A key name must be non-empty and hold no Unicode space and no '+'.
bool valid_key_name(std::string_view name);
// SHA-256(name || "\n" || 0x01 || public key), first four bytes big-endian.
std::uint32_t note_key_id(std::string_view name, const crypto::Ed25519PublicKey& key);

struct NoteSigner {
  std::string name;
  crypto::Ed25519PrivateKey key;
};

struct NoteVerifier {
  std::string name;
  std::uint32_t key_id = 0;
  crypto::Ed25519PublicKey key{};
};

// Signs `body` (non-empty, newline-terminated UTF-8 without other control
// characters) into "body\n— name base64(key ID || signature)\n". Fails on a
// body or key name the format cannot carry.
Result<std::string> sign_note(std::string_view body, const NoteSigner& signer);

// "<name>+<hex key ID>+<base64(0x01 || public key)>"
std::string verifier_key(std::string_view name, const crypto::Ed25519PublicKey& key);
// Parses a verifier key string, checking that its key ID matches its key.
Result<NoteVerifier> parse_verifier_key(std::string_view vkey);

// Returns the note's body (its text, final newline included) when at least
// one signature by a key in `verifiers` verifies. Signatures by other keys are
// ignored; a known key's signature that fails rejects the whole note.
Result<std::string> open_note(std::string_view note, std::span<const NoteVerifier> verifiers);

}  // namespace ward::ledger
