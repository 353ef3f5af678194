// Resource descriptors (docs/files.md, "Resource descriptor"): what a stored
// encrypted file is — where its ciphertext lives, the digests and sizes of
// ciphertext and plaintext, the age header's length — signed by its owner.
// A descriptor never holds a key; whoever has it still needs an identity the
// age header is addressed to.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "crypto/hash.h"
#include "crypto/keys.h"

namespace ward::files {

inline constexpr std::string_view kResourceDomain = "ward/resource/v1\n";
// Descriptor files larger than this are refused (a real one is under 1 KiB).
inline constexpr std::size_t kMaxDescriptorSize = std::size_t{1} << 20;
inline constexpr std::size_t kMaxNameSize = 255;
inline constexpr std::size_t kMaxUriSize = 4096;

struct Resource {
  std::string name;  // the file or directory's name, no '/'
  std::string kind;  // "file" or "dir" (a deterministic tar of the directory)
  std::string uri;   // the ciphertext's blob URI: <store URI>/<ciphertext_sha256 hex>
  crypto::Sha256Digest ciphertext_sha256{};
  std::uint64_t ciphertext_size = 0;
  std::uint64_t header_length = 0;  // the age header's length; the payload follows it
  // The SHA-256 of the age header alone, so that a grant can read the header
  // by itself and still check it (descriptors made before it have none).
  std::optional<crypto::Sha256Digest> header_sha256;
  crypto::Sha256Digest plaintext_sha256{};
  std::uint64_t plaintext_size = 0;
  std::optional<std::string> engine;  // "sha256:<hex>" when the file is an engine image
  crypto::Ed25519PublicKey owner{};
  std::string created;  // RFC 3339 UTC

  bool operator==(const Resource&) const = default;
};

struct SignedResource {
  Resource resource;
  nlohmann::json json;  // {"resource": {...}, "sig": "<hex>"}, as signed
};

// Checks `resource` as parse_resource would, then signs it. Errors:
// "files.resource" naming the field, or when `key` is not resource.owner's.
Result<SignedResource> sign_resource(const Resource& resource, const crypto::Ed25519PrivateKey& key);

// Strict: no unknown or duplicate fields, every field's type, range and
// spelling checked (hex lower-case, sizes consistent with age's format, the
// URI naming the ciphertext digest), then the signature by resource.owner.
// Errors: "files.resource" naming what is wrong.
Result<SignedResource> parse_resource(std::string_view text);
// The same for a descriptor already parsed as JSON (a grant embeds one).
Result<SignedResource> parse_resource_json(const nlohmann::json& object);
// parse_resource of a file of at most kMaxDescriptorSize bytes.
Result<SignedResource> load_resource(const std::filesystem::path& path);

// Pretty JSON and a newline: the text of a RES.json file.
std::string resource_text(const SignedResource& resource);

// The payload size age produces for `plaintext_size` bytes: the 16-byte nonce
// and each 64 KiB chunk plus its 16-byte tag (one chunk at least).
std::uint64_t age_payload_size(std::uint64_t plaintext_size);

}  // namespace ward::files
