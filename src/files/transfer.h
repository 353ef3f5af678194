// Moving resources in and out of a blob store: upload encrypts a file or a
// directory (as a deterministic tar, files/tar.h) to its owner and stores the
// ciphertext; download and decrypt_granted turn ciphertext back into the
// file or directory, checking the plaintext against the signed descriptor.
// Plaintext is never written anywhere but the output (and, for a directory,
// its tar in a private directory next to the output while it is extracted).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "age/recipients.h"
#include "base/error.h"
#include "files/grant.h"
#include "files/resource.h"
#include "keys/party_key.h"
#include "store/store.h"

namespace ward::files {

struct UploadOptions {
  // The engine digest ("sha256:<hex>" or bare hex) when the file is an engine image.
  std::optional<std::string> engine;
};

// Encrypts the file or directory at `path` to the owner's own recipient,
// streaming (the ciphertext goes to a temporary file in the system's
// temporary directory), puts the ciphertext in `store`, and returns the
// descriptor signed by the owner. Errors: "files.upload" (neither a file nor
// a directory, no name), "files.dir" (a symlink or special file inside the
// directory, a file changing while read), the store's, age's and I/O codes.
Result<SignedResource> upload(const std::filesystem::path& path, const keys::PartyKey& owner, store::Store& store,
                              const UploadOptions& options = {}, store::Progress* progress = nullptr);

// Streams the ciphertext out of the store and decrypts it with `identity`
// in one pass: the store hashes the ciphertext as it arrives while age
// authenticates each chunk and the plaintext is hashed as it is written.
// The output is committed only when the ciphertext had its descriptor's
// size and hashed to its digest and the plaintext matches its size and
// SHA-256; it is written atomically (replacing a file there), or, for a
// "dir", extracted into the new directory `out` (which must not exist;
// regular files and directories only, no path outside). Nothing appears at
// `out` on any failure. This form fetches from the descriptor's URI.
// Errors: "files.download" (`out` exists for a directory),
// "files.ciphertext" (another size), "files.plaintext" (the plaintext does
// not match the descriptor), "files.tar", age's ("age.no_match",
// "age.payload", ...), the store's ("store.digest", ...).
Result<void> download(const SignedResource& descriptor, const age::Identity& identity,
                      const std::filesystem::path& out, store::Progress* progress = nullptr);
Result<void> download(const SignedResource& descriptor, store::Store& store, const age::Identity& identity,
                      const std::filesystem::path& out, store::Progress* progress = nullptr);

// Decrypts a granted resource as download() does, in the same single pass
// with the same checks and the same guarantee that nothing is left at `out`
// on failure: the grant is authenticated first (authenticate_grant), then
// its header followed by the stored blob's payload (the stored header is
// hashed but not used) is decrypted with `cvm_identity`. The first form
// fetches from the descriptor's URI, which must name its ciphertext digest.
// Errors as download's.
Result<void> decrypt_granted(const Grant& grant, const age::Identity& cvm_identity,
                             const std::filesystem::path& out);
Result<void> decrypt_granted(const Grant& grant, store::Store& store, const age::Identity& cvm_identity,
                             const std::filesystem::path& out);

// Order outputs ("sealed" files): encrypted to the order's output recipients,
// described by the integrity report rather than by a descriptor.
struct SealedInfo {
  std::string kind;  // "file" or "dir"
  crypto::Sha256Digest ciphertext_sha256{};
  std::uint64_t ciphertext_size = 0;
  crypto::Sha256Digest plaintext_sha256{};
  std::uint64_t plaintext_size = 0;
};

// Encrypts the file or directory (as the deterministic tar) at `path` to
// `recipients` into a new age file at `out`, written atomically.
// Errors: as upload's, and "files.usage" without recipients.
Result<SealedInfo> encrypt_path(const std::filesystem::path& path, std::span<const age::X25519Recipient> recipients,
                                const std::filesystem::path& out);

// Streams the sealed directory at `blob_uri` out of its store, decrypts it
// with `identity` and extracts it into the new directory `out`, in one pass
// as download() does; nothing is left at `out` on failure.
Result<void> download_sealed(std::string_view blob_uri, const age::Identity& identity,
                             const std::filesystem::path& out, store::Progress* progress = nullptr);

}  // namespace ward::files
