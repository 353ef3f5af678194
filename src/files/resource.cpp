#include "files/resource.h"

#include <limits>

#include "age/header.h"
#include "age/stream.h"
#include "base/bytes.h"
#include "base/file.h"
#include "ledger/fields.h"
#include "ledger/tx.h"

namespace ward::files {
namespace {

using json = nlohmann::json;
namespace fields = ledger::fields;

std::unexpected<Error> bad(const std::string& message) {
  return fail("files.resource", message);
}

// A name is shown to people and used as a default output name: one path
// component, printable, valid UTF-8 (checked when serialised).
Result<void> check_name(const std::string& name) {
  if (name.empty() || name.size() > kMaxNameSize) return bad("\"name\" must be 1 to 255 bytes");
  if (name == "." || name == "..") return bad("\"name\" may not be \".\" or \"..\"");
  for (const char c : name) {
    if (c == '/' || static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
      return bad("\"name\" may not hold '/' or control characters");
  }
  return {};
}

Result<void> check_consistency(const Resource& r) {
  if (r.kind != "file" && r.kind != "dir") return bad("\"kind\" must be \"file\" or \"dir\"");
  const std::string suffix = "/" + hex_encode(r.ciphertext_sha256);
  if (r.uri.size() <= suffix.size() || !r.uri.ends_with(suffix))
    return bad("\"uri\" does not name the ciphertext's digest (it must end in /<ciphertext_sha256>)");
  if (r.header_length == 0 || r.header_length > age::kMaxHeaderSize)
    return bad("\"header_length\" must be 1 to " + std::to_string(age::kMaxHeaderSize));
  constexpr std::uint64_t kMax = std::numeric_limits<std::int64_t>::max();
  if (r.plaintext_size > kMax || r.ciphertext_size > kMax) return bad("a size exceeds 2^63-1");
  const std::uint64_t payload = age_payload_size(r.plaintext_size);
  if (payload > kMax - r.header_length || r.ciphertext_size != r.header_length + payload)
    return bad("\"ciphertext_size\" is not header_length plus the age payload of plaintext_size bytes");
  if (r.engine) {
    auto engine = fields::parse_engine_digest(*r.engine, "\"engine\"");
    if (!engine || *engine != *r.engine) return bad("\"engine\" is not sha256:<64 lower-case hex digits>");
  }
  return {};
}

json resource_object(const Resource& r) {
  json o = {{"v", 1},
            {"name", r.name},
            {"kind", r.kind},
            {"uri", r.uri},
            {"ciphertext_sha256", hex_encode(r.ciphertext_sha256)},
            {"ciphertext_size", r.ciphertext_size},
            {"header_length", r.header_length},
            {"plaintext_sha256", hex_encode(r.plaintext_sha256)},
            {"plaintext_size", r.plaintext_size},
            {"owner", hex_encode(r.owner)},
            {"created", r.created}};
  if (r.engine) o["engine"] = *r.engine;
  if (r.header_sha256) o["header_sha256"] = hex_encode(*r.header_sha256);
  return o;
}

std::string signed_bytes(const json& resource) {
  return std::string(kResourceDomain) + ledger::canonical_json(resource);
}

// The shared readers' reason for a refused field, under this file's error code.
template <class T>
Result<T> field(fields::Read<T> value) {
  if (!value) return bad(value.error());
  return std::move(*value);
}

Result<Resource> read_resource(const json& o) {
  if (auto ok = fields::only_fields(
          o,
          {"v", "name", "kind", "uri", "ciphertext_sha256", "ciphertext_size", "header_length",
           "header_sha256", "plaintext_sha256", "plaintext_size", "engine", "owner", "created"},
          {"v", "name", "kind", "uri", "ciphertext_sha256", "ciphertext_size", "header_length",
           "plaintext_sha256", "plaintext_size", "owner", "created"},
          "resource");
      !ok)
    return bad(ok.error());
  auto v = field(fields::get_uint(o, "v"));
  if (!v) return std::unexpected(v.error());
  if (*v != 1) return bad("unsupported version " + std::to_string(*v) + " (this Ward reads version 1)");
  Resource r;
  auto name = field(fields::get_string(o, "name", kMaxNameSize));
  if (!name) return std::unexpected(name.error());
  r.name = *name;
  if (auto ok = check_name(r.name); !ok) return std::unexpected(ok.error());
  auto kind = field(fields::get_string(o, "kind", 8));
  if (!kind) return std::unexpected(kind.error());
  r.kind = *kind;
  auto uri = field(fields::get_string(o, "uri", kMaxUriSize));
  if (!uri) return std::unexpected(uri.error());
  r.uri = *uri;
  auto ct = field(fields::get_hex<32>(o, "ciphertext_sha256"));
  if (!ct) return std::unexpected(ct.error());
  r.ciphertext_sha256 = *ct;
  auto ct_size = field(fields::get_uint(o, "ciphertext_size"));
  if (!ct_size) return std::unexpected(ct_size.error());
  r.ciphertext_size = *ct_size;
  auto header_length = field(fields::get_uint(o, "header_length"));
  if (!header_length) return std::unexpected(header_length.error());
  r.header_length = *header_length;
  if (o.contains("header_sha256")) {
    auto header = field(fields::get_hex<32>(o, "header_sha256"));
    if (!header) return std::unexpected(header.error());
    r.header_sha256 = *header;
  }
  auto pt = field(fields::get_hex<32>(o, "plaintext_sha256"));
  if (!pt) return std::unexpected(pt.error());
  r.plaintext_sha256 = *pt;
  auto pt_size = field(fields::get_uint(o, "plaintext_size"));
  if (!pt_size) return std::unexpected(pt_size.error());
  r.plaintext_size = *pt_size;
  if (o.contains("engine")) {
    auto engine = field(fields::get_string(o, "engine", 71));
    if (!engine) return std::unexpected(engine.error());
    r.engine = *engine;
  }
  auto owner = field(fields::get_hex<32>(o, "owner"));
  if (!owner) return std::unexpected(owner.error());
  r.owner = *owner;
  auto created = field(fields::get_time(o, "created"));
  if (!created) return std::unexpected(created.error());
  r.created = *created;
  if (auto ok = check_consistency(r); !ok) return std::unexpected(ok.error());
  return r;
}

}  // namespace

std::uint64_t age_payload_size(std::uint64_t plaintext_size) {
  const std::uint64_t chunks = plaintext_size == 0 ? 1 : (plaintext_size - 1) / age::kChunkSize + 1;
  return age::kNonceSize + plaintext_size + chunks * age::kTagSize;
}

Result<SignedResource> sign_resource(const Resource& resource, const crypto::Ed25519PrivateKey& key) {
  if (key.public_key() != resource.owner) return bad("the signing key is not the resource's owner");
  if (auto ok = check_name(resource.name); !ok) return std::unexpected(ok.error());
  if (resource.uri.empty() || resource.uri.size() > kMaxUriSize)
    return bad("\"uri\" must be 1 to 4096 bytes");
  if (auto ok = check_consistency(resource); !ok) return std::unexpected(ok.error());
  if (auto t = fields::get_time(json{{"created", resource.created}}, "created"); !t) return bad(t.error());
  json object = resource_object(resource);
  std::string message;
  try {
    message = signed_bytes(object);
    (void)object.dump();
  } catch (const json::exception&) {
    return bad("\"name\" or \"uri\" is not valid UTF-8");
  }
  const auto sig = key.sign(as_bytes(message));
  return SignedResource{resource, json{{"resource", std::move(object)}, {"sig", hex_encode(sig)}}};
}

Result<SignedResource> parse_resource_json(const json& doc) {
  if (auto ok = fields::only_fields(doc, {"resource", "sig"}, {"resource", "sig"}, "descriptor"); !ok)
    return bad(ok.error());
  auto resource = read_resource(doc.at("resource"));
  if (!resource) return std::unexpected(resource.error());
  auto sig = field(fields::get_hex<64>(doc, "sig"));
  if (!sig) return std::unexpected(sig.error());
  if (!crypto::ed25519_verify(resource->owner, as_bytes(signed_bytes(doc.at("resource"))), *sig))
    return bad("the signature does not verify for the owner " + hex_encode(resource->owner));
  return SignedResource{std::move(*resource), doc};
}

Result<SignedResource> parse_resource(std::string_view text) {
  if (text.size() > kMaxDescriptorSize) return bad("larger than 1 MiB");
  auto doc = ledger::parse_strict_json(text);
  if (!doc) return bad(doc.error().message);
  return parse_resource_json(*doc);
}

Result<SignedResource> load_resource(const std::filesystem::path& path) {
  auto text = read_file(path, kMaxDescriptorSize);
  if (!text) return std::unexpected(text.error());
  auto resource = parse_resource(as_chars(*text));
  if (!resource) return fail(resource.error(), path.string());
  return resource;
}

std::string resource_text(const SignedResource& resource) {
  return resource.json.dump(2) + "\n";
}

}  // namespace ward::files
