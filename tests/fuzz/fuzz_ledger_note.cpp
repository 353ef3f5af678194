// Signed notes and checkpoints as a verifier receives them from a ledger it
// does not trust: note parsing with a known key, checkpoint bodies, and
// verifier key strings. Nothing may crash, and a body that opens must be a
// prefix of the note.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "ledger/checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const ward::ledger::NoteVerifier verifier = [] {
    auto key = ward::crypto::Ed25519PrivateKey::from_seed(ward::Bytes(32, 7)).value();
    return ward::ledger::parse_verifier_key(ward::ledger::verifier_key("fuzz.example/log", key.public_key()))
        .value();
  }();
  std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto body = ward::ledger::open_note(text, std::span(&verifier, 1))) {
    if (!text.starts_with(*body)) std::abort();
  }
  if (auto checkpoint = ward::ledger::parse_checkpoint(text)) {
    if (ward::ledger::encode_checkpoint(*checkpoint) != text) std::abort();
  }
  (void)ward::ledger::parse_verifier_key(text);
  return 0;
}
