// Checkpoints and signed notes, against the examples in the C2SP specs and Go's
// golang.org/x/mod/sumdb/note (the reference implementation).
#include "ledger/checkpoint.h"

#include <string>

#include <gtest/gtest.h>

#include "crypto/hash.h"

namespace ward::ledger {
namespace {

// From golang.org/x/mod/sumdb/note's documentation and tests.
constexpr std::string_view kPeterSeed = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";  // 0x01 || seed
constexpr std::string_view kPeterVkey = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
constexpr std::string_view kPeterText =
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n";
constexpr std::string_view kPeterNote =
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
    "\n"
    "\u2014 PeterNeumann "
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";

// From c2sp.org/tlog-checkpoint (its signing key is not published).
constexpr std::string_view kSofaBody =
    "example.com/behind-the-sofa\n"
    "20852163\n"
    "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
constexpr std::string_view kSofaSignature =
    "\u2014 example.com/behind-the-sofa "
    "Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n";

NoteSigner peter() {
  const Bytes typed = base64_decode(kPeterSeed).value();
  return {"PeterNeumann", crypto::Ed25519PrivateKey::from_seed(ByteView(typed).subspan(1)).value()};
}

std::vector<NoteVerifier> peter_verifiers() {
  return {parse_verifier_key(kPeterVkey).value()};
}

void expect_note_error(std::string_view note, const std::vector<NoteVerifier>& verifiers,
                       std::string_view message_part) {
  auto result = open_note(note, verifiers);
  ASSERT_FALSE(result) << "opened: " << note;
  EXPECT_EQ(result.error().code, "ledger.note");
  EXPECT_NE(result.error().message.find(message_part), std::string::npos) << result.error().message;
  EXPECT_EQ(result.error().message.find('\n'), std::string::npos);
}

std::string replace(std::string_view text, std::string_view from, std::string_view to) {
  std::string out(text);
  out.replace(out.find(from), from.size(), to);
  return out;
}

// ---- checkpoints ----

TEST(Checkpoint, ShouldParseTheSpecExample) {
  auto checkpoint = parse_checkpoint(kSofaBody);
  ASSERT_TRUE(checkpoint) << checkpoint.error().message;
  EXPECT_EQ(checkpoint->origin, "example.com/behind-the-sofa");
  EXPECT_EQ(checkpoint->size, 20852163u);
  EXPECT_EQ(base64_encode(checkpoint->root), "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=");
  EXPECT_TRUE(checkpoint->extensions.empty());
  EXPECT_EQ(encode_checkpoint(*checkpoint), kSofaBody);
}

TEST(Checkpoint, ShouldRoundTripWithExtensions) {
  Checkpoint checkpoint{"ward.example/log", 0, empty_root(), {"ext one", "— two"}};
  const std::string body = encode_checkpoint(checkpoint);
  EXPECT_EQ(body, "ward.example/log\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\next one\n— two\n");
  EXPECT_EQ(parse_checkpoint(body).value(), checkpoint);
}

TEST(Checkpoint, ShouldAcceptLargestSize) {
  const std::string body = replace(kSofaBody, "20852163", "18446744073709551615");
  EXPECT_EQ(parse_checkpoint(body).value().size, 18446744073709551615u);
}

TEST(Checkpoint, ShouldRejectMalformedBodies) {
  const std::string root = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"origin\n5\n" + root, "does not end in a newline"},
      {"origin\n5\n", "has 2 lines"},
      {"\n5\n" + root + "\n", "line 1 is empty"},
      {"origin\n5\n" + root + "\n\n", "line 4 is empty"},
      {"origin\n05\n" + root + "\n", "leading zeros"},
      {"origin\n00\n" + root + "\n", "leading zeros"},
      {"origin\n+5\n" + root + "\n", "decimal"},
      {"origin\n-5\n" + root + "\n", "decimal"},
      {"origin\n 5\n" + root + "\n", "decimal"},
      {"origin\n5x\n" + root + "\n", "decimal"},
      {"origin\n18446744073709551616\n" + root + "\n", "decimal"},
      {"origin\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I\n", "base64"},
      {"origin\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=x\n", "base64"},
      {"origin\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jx\n", "30 bytes, want 32"},
      {"origin\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2IA\n", "33 bytes, want 32"},
      {"origin\r\n5\n" + root + "\n", "control characters"},
      {"ori\xffgin\n5\n" + root + "\n", "control characters"},
  };
  for (const auto& [body, message] : cases) {
    auto result = parse_checkpoint(body);
    ASSERT_FALSE(result) << body;
    EXPECT_EQ(result.error().code, "ledger.checkpoint");
    EXPECT_NE(result.error().message.find(message), std::string::npos) << result.error().message;
  }
}

// ---- keys ----

TEST(NoteKeys, ShouldMatchGoVerifierKey) {
  const NoteSigner signer = peter();
  EXPECT_EQ(verifier_key(signer.name, signer.key.public_key()), kPeterVkey);
  const NoteVerifier verifier = parse_verifier_key(kPeterVkey).value();
  EXPECT_EQ(verifier.name, "PeterNeumann");
  EXPECT_EQ(verifier.key_id, 0xc74f20a3u);
  EXPECT_EQ(verifier.key, signer.key.public_key());
  EXPECT_EQ(note_key_id("PeterNeumann", signer.key.public_key()), 0xc74f20a3u);
}

TEST(NoteKeys, ShouldRoundTripKeysWhoseBase64HoldsPlus) {
  // About half of all keys encode with a '+', the separator of the fields.
  int with_plus = 0;
  for (int i = 0; i < 64; ++i) {
    const auto key = crypto::Ed25519PrivateKey::generate().public_key();
    const std::string vkey = verifier_key("ward.example/log", key);
    const std::string_view base64_part = std::string_view(vkey).substr(vkey.find('+') + 10);
    with_plus += base64_part.find('+') != std::string_view::npos ? 1 : 0;
    auto parsed = parse_verifier_key(vkey);
    ASSERT_TRUE(parsed) << vkey << ": " << parsed.error().message;
    EXPECT_EQ(parsed->key, key);
  }
  EXPECT_GT(with_plus, 0);
}

TEST(NoteKeys, ShouldRejectMalformedVerifierKeys) {
  const std::vector<std::string> bad = {
      "",
      "PeterNeumann",
      "PeterNeumann+c74f20a3",
      "+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
      "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",   // wrong ID
      "PeterNeumann+c74f20+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",     // short ID
      "PeterNeumann+c74f20zz+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",   // not hex
      "PeterNeumann+c74f20a3+Apc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",    // not base64
      "PeterNeumann+c74f20a3+Ahpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",   // type 2
      "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW+",  // trailing +
      "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  // space in name
  };
  for (const std::string& vkey : bad) {
    auto result = parse_verifier_key(vkey);
    EXPECT_FALSE(result) << vkey;
    if (!result) {
      EXPECT_EQ(result.error().code, "ledger.note");
    }
  }
}

TEST(NoteKeys, ShouldValidateKeyNames) {
  EXPECT_TRUE(valid_key_name("example.com/log"));
  EXPECT_TRUE(valid_key_name("caf\u00e9"));
  EXPECT_FALSE(valid_key_name(""));
  EXPECT_FALSE(valid_key_name("a+b"));
  EXPECT_FALSE(valid_key_name("a b"));
  EXPECT_FALSE(valid_key_name("a\tb"));
  EXPECT_FALSE(valid_key_name("a\u00a0b"));
  EXPECT_FALSE(valid_key_name("a\u3000b"));
  EXPECT_FALSE(valid_key_name("a\xc0\x80"));
}

// ---- signing and opening ----

TEST(Note, ShouldSignExactlyLikeGo) {
  EXPECT_EQ(sign_note(kPeterText, peter()).value(), kPeterNote);
}

TEST(Note, ShouldOpenGoNote) {
  EXPECT_EQ(open_note(kPeterNote, peter_verifiers()).value(), kPeterText);
}

TEST(Note, ShouldRoundTripASignedCheckpoint) {
  const NoteSigner signer{"ward.example/log", crypto::Ed25519PrivateKey::generate()};
  const Checkpoint checkpoint{"ward.example/log", 42, leaf_hash(as_bytes("x")), {}};
  const std::string note = sign_note(encode_checkpoint(checkpoint), signer).value();
  const std::vector<NoteVerifier> verifiers{
      parse_verifier_key(verifier_key(signer.name, signer.key.public_key())).value()};
  EXPECT_EQ(parse_checkpoint(open_note(note, verifiers).value()).value(), checkpoint);
}

TEST(Note, ShouldKeepEmptyLinesInsideTheText) {
  const std::string text = "first\n\nthird\n";
  const std::string note = sign_note(text, peter()).value();
  EXPECT_EQ(open_note(note, peter_verifiers()).value(), text);
}

TEST(Note, ShouldRejectTamperedText) {
  expect_note_error(replace(kPeterNote, "cryptography", "cryptographY"), peter_verifiers(),
                    "does not verify");
}

TEST(Note, ShouldRejectTamperedSignature) {
  expect_note_error(replace(kPeterNote, "x08go/ZJ", "x08go/ZK"), peter_verifiers(), "does not verify");
}

TEST(Note, ShouldRejectSignatureByWrongKeyOfSameName) {
  // Same name, another key: its ID differs, so Peter's signature is unknown.
  const NoteSigner other{"PeterNeumann", crypto::Ed25519PrivateKey::generate()};
  const std::vector<NoteVerifier> verifiers{
      parse_verifier_key(verifier_key(other.name, other.key.public_key())).value()};
  expect_note_error(kPeterNote, verifiers, "no valid signature by a known key");
}

TEST(Note, ShouldRejectKnownIdWithWrongKey) {
  // A verifier claiming Peter's name and ID with another key: the signature fails.
  NoteVerifier impostor = peter_verifiers()[0];
  impostor.key = crypto::Ed25519PrivateKey::generate().public_key();
  expect_note_error(kPeterNote, {impostor}, "does not verify");
}

TEST(Note, ShouldRejectNoteSignedOnlyByUnknownKeys) {
  const std::string note = std::string(kSofaBody) + "\n" + std::string(kSofaSignature);
  expect_note_error(note, peter_verifiers(), "no valid signature by a known key");
  expect_note_error(note, {}, "no valid signature by a known key");
}

TEST(Note, ShouldIgnoreUnknownSignersBesideAKnownOne) {
  const std::string note = std::string(kPeterNote) + std::string(kSofaSignature);
  EXPECT_EQ(open_note(note, peter_verifiers()).value(), kPeterText);
  const std::string before =
      replace(kPeterNote, "\u2014 Peter", std::string(kSofaSignature) + "\u2014 Peter");
  EXPECT_EQ(open_note(before, peter_verifiers()).value(), kPeterText);
}

TEST(Note, ShouldRejectABadSignatureByAKnownKeyBesideAGoodOne) {
  const std::string bad_line = replace(kPeterNote.substr(kPeterText.size() + 1), "x08go/ZJ", "x08go/ZK");
  expect_note_error(std::string(kPeterNote) + bad_line, peter_verifiers(), "line 2");
}

TEST(Note, ShouldRejectMalformedSignatureLines) {
  const std::string good_line(kPeterNote.substr(kPeterText.size() + 1));
  const std::string text(kPeterText);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {text + "\n" + replace(good_line, "\u2014 ", "-- "), "em dash"},
      {text + "\n" + replace(good_line, "\u2014 ", "\u2014"), "em dash"},
      {text + "\n" + replace(good_line, "Neumann ", "Neumann"), "no space"},
      {text + "\n" + replace(good_line, "Neumann ", "Neumann  "), "not base64"},
      {text + "\n" + replace(good_line, "x08go/", "x08go!"), "not base64"},
      {text + "\n" + replace(good_line, "AM=\n", "AM\n"), "not base64"},
      {text + "\n\u2014 PeterNeumann AAAAAA==\n", "not base64 of a key ID and a signature"},
      {text + "\n" + replace(good_line, "Peter", "Pe+ter"), "invalid key name"},
      {text + "\n" + good_line.substr(0, good_line.size() - 1), "do not end in a newline"},
      {text + "\n" + good_line + "\n", "do not end in a newline"},
      {text + good_line, "no blank line"},
      {text + "\n", "do not end in a newline"},
      {replace(kPeterNote, "problem,", "problem,\r"), "control characters"},
      {replace(kPeterNote, "problem,", "problem,\xe2\x80"), "control characters"},
  };
  for (const auto& [note, message] : cases) expect_note_error(note, peter_verifiers(), message);
}

TEST(Note, ShouldRejectTooManySignatures) {
  std::string note(kPeterNote);
  for (int i = 0; i < 100; ++i) note += kSofaSignature;
  expect_note_error(note, peter_verifiers(), "more than 100 signatures");
}

TEST(Note, ShouldRefuseToSignWhatCannotBeOpened) {
  EXPECT_FALSE(sign_note("no final newline", peter()));
  EXPECT_FALSE(sign_note("", peter()));
  EXPECT_FALSE(sign_note("tab\there\n", peter()));
  NoteSigner spaced = peter();
  spaced.name = "Peter Neumann";
  EXPECT_EQ(sign_note(kPeterText, spaced).error().code, "ledger.note");
}

}  // namespace
}  // namespace ward::ledger
