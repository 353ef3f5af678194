#include "files/grant.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>

#include "age/header.h"
#include "age/rewrap.h"
#include "base/file.h"
#include "base/time.h"
#include "base/work_dir.h"
#include "ledger/fields.h"

namespace ward::files {
namespace {

using json = nlohmann::json;
namespace fields = ledger::fields;
using std::chrono::system_clock;

std::unexpected<Error> bad(const std::string& message) {
  return fail("files.grant", message);
}

// An output names an age recipient; the ledger bounds an order's outputs the same way.
constexpr std::size_t kMaxRecipientSize = 4096;

// The shared readers' reason for a refused field, under this file's error code.
template <class T>
Result<T> field(fields::Read<T> value) {
  if (!value) return bad(value.error());
  return std::move(*value);
}

// Each output as its canonical age1 spelling; sorted and unique when
// `require_sorted` is false, required to be already when it is true. A
// grant for a service allows none: a service has no output.
Result<std::vector<std::string>> check_outputs(std::vector<std::string> outputs, bool require_sorted,
                                               bool serve) {
  if (serve) {
    if (!outputs.empty())
      return bad("a grant for a service allows no output recipient (a service has no output)");
    return outputs;
  }
  if (outputs.empty()) return bad("a grant allows at least one output recipient");
  if (outputs.size() > kMaxGrantOutputs)
    return bad("a grant allows at most " + std::to_string(kMaxGrantOutputs) + " output recipients");
  for (auto& output : outputs) {
    auto recipient = age::X25519Recipient::parse(output);
    if (!recipient) return bad("output \"" + output.substr(0, 100) + "\" is not an age recipient (age1...)");
    if (require_sorted && recipient->to_string() != output)
      return bad("output \"" + output.substr(0, 100) + "\" is not in its canonical spelling");
    output = recipient->to_string();
  }
  if (require_sorted) {
    if (std::adjacent_find(outputs.begin(), outputs.end(), std::greater_equal<>()) != outputs.end())
      return bad("\"outputs\" are not sorted and unique");
  } else {
    std::sort(outputs.begin(), outputs.end());
    outputs.erase(std::unique(outputs.begin(), outputs.end()), outputs.end());
  }
  return outputs;
}

json broker_object(const BrokerTerms& b) {
  json o = {{"recipient", b.recipient}, {"attestation", json::parse(b.attestation.to_json())}};
  if (!b.providers.empty()) {
    json list = json::array();
    for (const auto& p : b.providers) list.push_back(hex_encode(p));
    o["providers"] = std::move(list);
  }
  return o;
}

// A broker's terms as an owner gives them: the recipient in its canonical
// spelling, a policy that pins a measurement and no report data (which is
// one CVM's), providers sorted and unique.
Result<BrokerTerms> check_broker(BrokerTerms b) {
  auto recipient = age::X25519Recipient::parse(b.recipient);
  if (!recipient) return bad("broker: \"recipient\" is not an age recipient (age1...)");
  b.recipient = recipient->to_string();
  if (!b.attestation.pins_measurement())
    return bad(
        "broker: the attestation policy pins no measurement; a broker's grant must say which loader may "
        "read the data");
  if (b.attestation.expected_report_data)
    return bad("broker: the attestation policy names report_data, which is one CVM's");
  std::sort(b.providers.begin(), b.providers.end());
  b.providers.erase(std::unique(b.providers.begin(), b.providers.end()), b.providers.end());
  return b;
}

Result<BrokerTerms> read_broker(const json& o) {
  if (auto ok = fields::only_fields(o, {"recipient", "attestation", "providers"},
                                    {"recipient", "attestation"}, "\"broker\"");
      !ok)
    return bad(ok.error());
  BrokerTerms b;
  auto recipient = field(fields::get_string(o, "recipient", kMaxRecipientSize));
  if (!recipient) return std::unexpected(recipient.error());
  b.recipient = *recipient;
  const json& attestation = o.at("attestation");
  if (!attestation.is_object()) return bad("broker: \"attestation\" is not an object");
  auto policy = attest::Policy::from_json(attestation.dump());
  if (!policy) return bad("broker: \"attestation\": " + policy.error().message);
  // Every field spelled out, as the owner's Ward wrote them: readers that
  // default differently cannot read another policy into the signed bytes.
  if (json::parse(policy->to_json()) != attestation)
    return bad("broker: \"attestation\" is not in its complete canonical form");
  b.attestation = std::move(*policy);
  if (o.contains("providers")) {
    auto list = field(fields::get_strings(o, "providers", 64));
    if (!list) return std::unexpected(list.error());
    for (const auto& text : *list) {
      auto id = ledger::parse_id(text);
      if (!id || hex_encode(*id) != text) return bad("broker: a provider is not 64 lower-case hex digits");
      b.providers.push_back(*id);
    }
    if (b.providers.empty()) return bad("broker: \"providers\" is empty (omit it for any provider)");
    if (std::adjacent_find(b.providers.begin(), b.providers.end(), std::greater_equal<>()) !=
        b.providers.end())
      return bad("broker: \"providers\" are not sorted and unique");
  }
  auto checked = check_broker(b);
  if (!checked) return std::unexpected(checked.error());
  if (checked->recipient != b.recipient) return bad("broker: \"recipient\" is not in its canonical spelling");
  return b;
}

json policy_object(const GrantPolicy& p) {
  json o = {{"v", 2},
            {"resource", hex_encode(p.resource)},
            {"engine", p.engine},
            {"outputs", p.outputs},
            {"expires", p.expires},
            {"owner", hex_encode(p.owner)},
            {"created", p.created}};
  if (p.broker) {
    o["broker"] = broker_object(*p.broker);
  } else {
    o["cvm"] = hex_encode(p.cvm);
  }
  if (p.order_by) o["order_by"] = hex_encode(*p.order_by);
  if (p.uses != 0) o["uses"] = p.uses;
  if (p.serve) o["serve"] = true;
  return o;
}

std::string signed_bytes(const json& grant) {
  return std::string(kGrantDomain) + ledger::canonical_json(grant);
}

// The stanza that binds a header to the policy whose id it carries.
age::Stanza binding_stanza(const crypto::Sha256Digest& id) {
  return age::Stanza{std::string(kGrantStanza), {base64_encode(id, false)}, {}};
}

// The header binds the policy `id` names: exactly one ward-grant stanza, and
// it carries `id`. A header without one predates binding or was made by
// someone without the file key; two could let readers disagree on which binds.
Result<void> check_binding(const age::Header& header, const crypto::Sha256Digest& id) {
  std::vector<const age::Stanza*> found;
  for (const auto& stanza : header.stanzas) {
    if (stanza.type == kGrantStanza) found.push_back(&stanza);
  }
  if (found.empty())
    return bad("grant.binding: the header carries no ward-grant stanza, so its key is bound to no policy");
  if (found.size() > 1)
    return bad("grant.binding: the header carries " + std::to_string(found.size()) + " ward-grant stanzas");
  const age::Stanza& stanza = *found.front();
  const std::string expected = base64_encode(id, false);
  if (stanza.args.size() != 1 || !stanza.body.empty())
    return bad("grant.binding: the ward-grant stanza is not one argument and an empty body");
  if (stanza.args.front() != expected)
    return bad("grant.binding: the header binds policy " + stanza.args.front().substr(0, 64) +
               ", not this grant's policy " + expected);
  return {};
}

Result<GrantPolicy> read_policy(const json& o) {
  if (o.is_object() && o.contains("v") && o.at("v") == 1)
    return bad(
        "grant.version: a version 1 grant does not bind its key to its policy; ask the owner to grant "
        "again");
  if (auto ok =
          fields::only_fields(o,
                              {"v", "resource", "engine", "cvm", "broker", "outputs", "expires", "owner",
                               "created", "order_by", "uses", "serve"},
                              {"v", "resource", "engine", "outputs", "expires", "owner", "created"}, "grant");
      !ok)
    return bad(ok.error());
  auto v = field(fields::get_uint(o, "v"));
  if (!v) return std::unexpected(v.error());
  if (*v != 2) return bad("unsupported version " + std::to_string(*v) + " (this Ward reads version 2)");
  GrantPolicy p;
  auto resource = field(fields::get_hex<32>(o, "resource"));
  if (!resource) return std::unexpected(resource.error());
  p.resource = *resource;
  auto engine = field(fields::get_string(o, "engine", 71));
  if (!engine) return std::unexpected(engine.error());
  auto normal = fields::parse_engine_digest(*engine, "\"engine\"");
  if (!normal || *normal != *engine) return bad("\"engine\" is not sha256:<64 lower-case hex digits>");
  p.engine = *engine;
  if (o.contains("cvm") == o.contains("broker"))
    return bad("a grant names exactly one reader: \"cvm\" or \"broker\"");
  if (o.contains("cvm")) {
    auto cvm = field(fields::get_hex<32>(o, "cvm"));
    if (!cvm) return std::unexpected(cvm.error());
    p.cvm = *cvm;
  } else {
    auto broker = read_broker(o.at("broker"));
    if (!broker) return std::unexpected(broker.error());
    p.broker = std::move(*broker);
  }
  auto list = field(fields::get_strings(o, "outputs", kMaxRecipientSize));
  if (!list) return std::unexpected(list.error());
  if (o.contains("serve")) {
    if (o.at("serve") != true) return bad("\"serve\" must be true (omit it for a batch order's grant)");
    p.serve = true;
  }
  auto checked = check_outputs(std::move(*list), true, p.serve);
  if (!checked) return std::unexpected(checked.error());
  p.outputs = std::move(*checked);
  auto expires = field(fields::get_time(o, "expires"));
  if (!expires) return std::unexpected(expires.error());
  p.expires = *expires;
  auto owner = field(fields::get_hex<32>(o, "owner"));
  if (!owner) return std::unexpected(owner.error());
  p.owner = *owner;
  auto created = field(fields::get_time(o, "created"));
  if (!created) return std::unexpected(created.error());
  p.created = *created;
  if (o.contains("order_by")) {
    auto order_by = field(fields::get_hex<32>(o, "order_by"));
    if (!order_by) return std::unexpected(order_by.error());
    p.order_by = *order_by;
  }
  if (o.contains("uses")) {
    auto uses = field(fields::get_uint(o, "uses"));
    if (!uses) return std::unexpected(uses.error());
    if (*uses == 0 || *uses > kMaxGrantUses)
      return bad("\"uses\" must be from 1 to " + std::to_string(kMaxGrantUses) + " (omit it for no limit)");
    p.uses = *uses;
  }
  return p;
}

Result<Grant> parse_grant_json(const json& doc) {
  if (auto ok = fields::only_fields(doc, {"grant", "header", "descriptor", "sig"},
                                    {"grant", "header", "descriptor", "sig"}, "the grant file");
      !ok)
    return bad(ok.error());
  auto policy = read_policy(doc.at("grant"));
  if (!policy) return std::unexpected(policy.error());
  if (!doc.at("header").is_string()) return bad("\"header\" is not a string");
  const std::string& header_text = doc.at("header").get_ref<const std::string&>();
  if (header_text.size() > (age::kMaxHeaderSize / 3 + 1) * 4) return bad("\"header\" is larger than 1 MiB");
  auto header = base64_decode(header_text);
  if (!header || header->empty()) return bad("\"header\" is not standard padded base64");
  auto sig = field(fields::get_hex<64>(doc, "sig"));
  if (!sig) return std::unexpected(sig.error());

  auto descriptor = parse_resource_json(doc.at("descriptor"));
  if (!descriptor) return bad("grant.descriptor: " + descriptor.error().message);
  if (!crypto::ed25519_verify(policy->owner, as_bytes(signed_bytes(doc.at("grant"))), *sig))
    return bad("grant.sig: the signature does not verify for the grant's owner " + hex_encode(policy->owner));
  if (policy->owner != descriptor->resource.owner)
    return bad("grant.owner: the grant is signed by " + hex_encode(policy->owner) +
               ", not by the resource's owner " + hex_encode(descriptor->resource.owner));
  if (policy->resource != descriptor->resource.ciphertext_sha256)
    return bad("grant.resource: the grant is for resource " + hex_encode(policy->resource) +
               ", not the descriptor's " + hex_encode(descriptor->resource.ciphertext_sha256));
  auto parsed = age::parse_header(*header);
  if (!parsed || parsed->size != header->size())
    return bad("grant.header: the header is not exactly one age header" +
               (parsed ? std::string() : ": " + parsed.error().message));
  const auto id = crypto::sha256(as_bytes(signed_bytes(doc.at("grant"))));
  if (auto ok = check_binding(*parsed, id); !ok) return std::unexpected(ok.error());
  return Grant{std::move(*policy), id, std::move(*header), std::move(*descriptor), doc};
}

// The stored ciphertext's age header. With the descriptor's header_sha256
// only the header is read (a ranged read, whatever the file's size) and
// checked against it; a descriptor without one has the whole blob streamed
// and checked against ciphertext_sha256. Either way the header re-wrapped
// is the one the owner signed for.
Result<Bytes> read_header(store::Store& store, const Resource& r) {
  if (r.header_sha256) {
    auto size = store.head(r.ciphertext_sha256);
    if (!size) return std::unexpected(size.error());
    if (!*size) return fail("store.not_found", "no blob " + r.uri);
    if (**size != r.ciphertext_size)
      return bad("the stored ciphertext is " + std::to_string(**size) + " bytes, the descriptor says " +
                 std::to_string(r.ciphertext_size));
    auto header = store.get_range(r.ciphertext_sha256, 0, r.header_length);
    if (!header) return std::unexpected(header.error());
    if (header->size() != r.header_length) return bad("the stored ciphertext is shorter than its header");
    if (crypto::sha256(*header) != *r.header_sha256)
      return bad("the stored header is not the one the descriptor's header_sha256 names");
    return header;
  }
  Bytes prefix;
  auto info = store.get_stream(r.ciphertext_sha256, r.ciphertext_size, [&](ByteView chunk) -> Result<void> {
    const auto n = std::min<std::uint64_t>(chunk.size(), r.header_length - prefix.size());
    prefix.insert(prefix.end(), chunk.begin(), chunk.begin() + static_cast<std::ptrdiff_t>(n));
    return {};
  });
  if (!info) return std::unexpected(info.error());
  if (info->size != r.ciphertext_size)
    return bad("the stored ciphertext is " + std::to_string(info->size) + " bytes, the descriptor says " +
               std::to_string(r.ciphertext_size));
  if (prefix.size() != r.header_length) return bad("the stored ciphertext is shorter than its header");
  return prefix;
}

}  // namespace

Result<std::string> normalize_engine(std::string_view engine) {
  auto normal = fields::parse_engine_digest(engine, "engine");
  if (!normal) return fail("files.engine", normal.error());
  return std::move(*normal);
}

Result<Grant> make_grant(const SignedResource& descriptor, const keys::PartyKey& owner,
                         const age::X25519Recipient& cvm_recipient, const ledger::CvmId& cvm,
                         std::string_view engine, std::vector<std::string> outputs,
                         system_clock::time_point expires, const GrantLimits& limits) {
  auto ref = store::parse_blob_uri(descriptor.resource.uri);
  if (!ref) return std::unexpected(ref.error());
  auto store = store::open_store(ref->store_uri);
  if (!store) return std::unexpected(store.error());
  return make_grant(descriptor, **store, owner, cvm_recipient, cvm, engine, std::move(outputs), expires,
                    limits);
}

Result<Grant> make_grant(const SignedResource& descriptor, store::Store& store, const keys::PartyKey& owner,
                         const age::X25519Recipient& cvm_recipient, const ledger::CvmId& cvm,
                         std::string_view engine, std::vector<std::string> outputs,
                         system_clock::time_point expires, const GrantLimits& limits) {
  const Resource& r = descriptor.resource;
  if (owner.signing_public_key() != r.owner)
    return bad("the key is not the owner of " + r.name + " (owner " + hex_encode(r.owner) + ")");
  auto engine_digest = normalize_engine(engine);
  if (!engine_digest) return bad(engine_digest.error().message);
  auto checked = check_outputs(std::move(outputs), false, limits.serve);
  if (!checked) return std::unexpected(checked.error());
  const auto now = system_clock::now();
  if (expires <= now) return bad("the grant would expire before it is made");
  if (limits.uses > kMaxGrantUses)
    return bad("a grant allows at most " + std::to_string(kMaxGrantUses) + " uses");

  std::optional<BrokerTerms> broker;
  if (limits.broker) {
    auto checked_broker = check_broker(*limits.broker);
    if (!checked_broker) return std::unexpected(checked_broker.error());
    if (checked_broker->recipient != cvm_recipient.to_string())
      return bad("the header would be for " + cvm_recipient.to_string() + ", not the broker's recipient " +
                 checked_broker->recipient);
    broker = std::move(*checked_broker);
  }

  auto prefix = read_header(store, r);
  if (!prefix) return std::unexpected(prefix.error());

  GrantPolicy policy;
  policy.resource = r.ciphertext_sha256;
  policy.engine = *engine_digest;
  if (broker) {
    policy.broker = std::move(broker);
  } else {
    policy.cvm = cvm;
  }
  policy.outputs = std::move(*checked);
  policy.expires = format_rfc3339(expires);
  policy.owner = r.owner;
  policy.created = format_rfc3339(now);
  policy.order_by = limits.order_by;
  policy.uses = limits.uses;
  policy.serve = limits.serve;
  json object = policy_object(policy);
  const std::string message = signed_bytes(object);
  const age::Stanza binding[] = {binding_stanza(crypto::sha256(as_bytes(message)))};

  // The file key is unwrapped with the owner's identity (so only a holder of
  // the key can make the header) and re-wrapped to the CVM, and the header
  // MAC, keyed by it, covers the binding stanza.
  const age::Identity* identities[] = {&owner.identity()};
  const age::Recipient* recipients[] = {&cvm_recipient};
  auto rewrapped = age::rewrap_header(*prefix, identities, recipients, binding);
  if (!rewrapped) return fail(rewrapped.error(), "re-wrapping the header of " + r.name);
  if (rewrapped->payload_offset != r.header_length)
    return bad("the stored ciphertext's header is not header_length bytes");

  const auto sig = owner.signing_key().sign(as_bytes(message));
  const json doc = {{"grant", std::move(object)},
                    {"header", base64_encode(rewrapped->header)},
                    {"descriptor", descriptor.json},
                    {"sig", hex_encode(sig)}};
  // Read back what was written, so a grant that parse_grant would refuse is
  // never handed out.
  return parse_grant_json(doc);
}

Result<Grant> parse_grant(std::string_view text) {
  if (text.size() > kMaxGrantSize) return bad("larger than 2 MiB");
  auto doc = ledger::parse_strict_json(text);
  if (!doc) return bad(doc.error().message);
  return parse_grant_json(*doc);
}

Result<Grant> load_grant(const std::filesystem::path& path) {
  auto text = read_file(path, kMaxGrantSize);
  if (!text) return std::unexpected(text.error());
  auto grant = parse_grant(as_chars(*text));
  if (!grant) return fail(grant.error(), path.string());
  return grant;
}

std::string grant_text(const Grant& grant) {
  return grant.json.dump(2) + "\n";
}

Result<void> authenticate_grant(const Grant& grant, const age::Identity& grantee) {
  auto header = age::parse_header(grant.header);
  if (!header) return bad("grant.header: " + header.error().message);
  const age::Identity* identities[] = {&grantee};
  auto file_key = age::unwrap_file_key(*header, identities);
  if (!file_key) {
    if (file_key.error().code == "age.hmac")
      return bad(
          "grant.mac: the header's MAC does not verify with the file key it wraps, so no holder of the "
          "file key made this header");
    return std::unexpected(file_key.error());
  }
  return check_binding(*header, grant.id);
}

Result<void> check_grant_for_order(const Grant& grant, const OrderTerms& order,
                                   system_clock::time_point now) {
  const GrantPolicy& p = grant.policy;
  if (p.serve != order.serve)
    return bad(p.serve
                   ? "grant.serve: granted for a service order only, and this order is a batch order"
                   : "grant.serve: granted for batch orders only, and this order is a service (its engine "
                     "would answer clients with what it reads)");
  if (!p.broker && p.cvm != order.cvm)
    return bad("grant.cvm: granted to CVM " + hex_encode(p.cvm) + ", not to CVM " + hex_encode(order.cvm));
  auto order_engine = fields::parse_engine_digest(order.engine, "the order's engine");
  if (!order_engine || *order_engine != p.engine)
    return bad("grant.engine: granted for engine " + p.engine + ", the order runs " +
               order.engine.substr(0, 80));
  for (const auto& output : order.outputs) {
    auto recipient = age::X25519Recipient::parse(output);
    const std::string canonical = recipient ? recipient->to_string() : output;
    if (!std::binary_search(p.outputs.begin(), p.outputs.end(), canonical))
      return bad("grant.outputs: the order sends output to " + output.substr(0, 100) +
                 ", which the grant does not allow");
  }
  if (p.order_by && *p.order_by != order.creator)
    return bad("grant.order_by: only orders created by " + hex_encode(*p.order_by) +
               " may use the grant, not " + hex_encode(order.creator));
  auto expires = parse_rfc3339(p.expires);
  if (!expires || now >= *expires) return bad("grant.expired: the grant expired at " + p.expires);
  return {};
}

crypto::Sha256Digest release_binding(const crypto::Sha256Digest& grant, const ledger::LedgerId& ledger,
                                     std::uint64_t order, const ledger::CvmId& cvm) {
  Bytes message(kReleaseDomain.begin(), kReleaseDomain.end());
  message.insert(message.end(), grant.begin(), grant.end());
  message.insert(message.end(), ledger.begin(), ledger.end());
  for (int shift = 56; shift >= 0; shift -= 8) message.push_back(static_cast<std::uint8_t>(order >> shift));
  message.insert(message.end(), cvm.begin(), cvm.end());
  return crypto::sha256(message);
}

Result<Bytes> rewrap_for_release(const Grant& grant, const age::Identity& broker,
                                 const age::X25519Recipient& cvm_recipient,
                                 const crypto::Sha256Digest& binding) {
  if (!grant.policy.broker) return bad("grant.broker: the grant is for one CVM, not for a broker");
  if (auto ok = authenticate_grant(grant, broker); !ok) return std::unexpected(ok.error());
  const age::Stanza stanzas[] = {
      binding_stanza(grant.id),
      age::Stanza{std::string(kReleaseStanza), {base64_encode(binding, false)}, {}}};
  const age::Identity* identities[] = {&broker};
  const age::Recipient* recipients[] = {&cvm_recipient};
  auto rewrapped = age::rewrap_header(grant.header, identities, recipients, stanzas);
  if (!rewrapped) return fail(rewrapped.error(), "re-wrapping the grant's header");
  if (rewrapped->payload_offset != grant.header.size())
    return bad("grant.header: the header is not exactly one age header");
  return std::move(rewrapped->header);
}

Result<void> accept_release(Grant& grant, Bytes header, const age::Identity& cvm,
                            const crypto::Sha256Digest& binding) {
  if (!grant.policy.broker) return bad("grant.broker: the grant is for one CVM, not for a broker");
  Grant released = grant;
  released.header = std::move(header);
  if (auto ok = authenticate_grant(released, cvm); !ok) return std::unexpected(ok.error());
  auto parsed = age::parse_header(released.header);
  if (!parsed || parsed->size != released.header.size())
    return bad("grant.header: the released header is not exactly one age header");
  std::vector<const age::Stanza*> found;
  for (const auto& stanza : parsed->stanzas) {
    if (stanza.type == kReleaseStanza) found.push_back(&stanza);
  }
  if (found.size() != 1)
    return bad("grant.release: the released header carries " + std::to_string(found.size()) +
               " ward-release stanzas, not one");
  const age::Stanza& stanza = *found.front();
  if (stanza.args.size() != 1 || !stanza.body.empty() || stanza.args.front() != base64_encode(binding, false))
    return bad("grant.release: the broker released the key for another order, CVM or ledger than this one");
  grant.header = std::move(released.header);
  return {};
}

json grant_use_entry(const Grant& grant) {
  return {
      {"id", hex_encode(grant.id)}, {"owner", hex_encode(grant.policy.owner)}, {"uses", grant.policy.uses}};
}

}  // namespace ward::files
