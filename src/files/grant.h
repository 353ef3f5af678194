// Grants (docs/files.md, "Grant"): an owner's permission for one CVM to read
// one resource for one engine, sending output only to named recipients,
// until a time. A grant carries a new age header addressed to the CVM over
// the stored payload (age/rewrap.h), the owner's signed descriptor, and the
// owner's signature over the policy. The header also carries the policy's
// digest in a "ward-grant" stanza, covered by the header MAC that only a
// holder of the file key can compute: the key it releases is usable only
// under that policy (docs/files.md, "What binds what").
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "age/recipients.h"
#include "attest/policy.h"
#include "base/bytes.h"
#include "base/error.h"
#include "crypto/hash.h"
#include "crypto/keys.h"
#include "files/resource.h"
#include "keys/party_key.h"
#include "ledger/tx.h"
#include "store/store.h"

namespace ward::files {

inline constexpr std::string_view kGrantDomain = "ward/grant/v2\n";
// The header stanza that binds the policy: "-> ward-grant <base64 of the
// 32-byte grant id>" with an empty body. age tools skip stanzas they do not know.
inline constexpr std::string_view kGrantStanza = "ward-grant";
// Grant files larger than this are refused (one holds a header and a descriptor).
inline constexpr std::size_t kMaxGrantSize = std::size_t{2} << 20;
inline constexpr std::size_t kMaxGrantOutputs = 256;
// The most orders one grant may be limited to (the ledger's kMaxGrantUses).
inline constexpr std::uint64_t kMaxGrantUses = ledger::kMaxGrantUses;

// A grant whose reader is a key broker (docs/kms.md): the broker re-wraps the
// file key for a CVM only when the CVM's certificate and evidence meet
// `attestation`, the CVM is listed on the ledger (by one of `providers`, when
// any are named), and an order on the ledger names that CVM and the grant.
struct BrokerTerms {
  std::string recipient;                     // the broker's age1... recipient, which the header is for
  attest::Policy attestation;                // pins at least one measurement; no report_data
  std::vector<ledger::AccountId> providers;  // sorted, unique; empty: any provider
};

struct GrantPolicy {
  crypto::Sha256Digest resource{};  // the descriptor's ciphertext_sha256
  std::string engine;               // "sha256:<hex>"
  ledger::CvmId cvm{};              // the CVM the header is for; all zero for a broker's grant
  std::optional<BrokerTerms> broker;  // set: the header is for this broker, which re-wraps it
  std::vector<std::string> outputs;  // age1... recipients, sorted, unique; at least one, none for a service
  std::string expires;               // RFC 3339 UTC
  crypto::Ed25519PublicKey owner{};
  std::string created;  // RFC 3339 UTC
  // Optional tightening by the owner: only orders created by this account;
  // at most this many orders (0: no limit), counted by the ledger.
  std::optional<ledger::AccountId> order_by;
  std::uint64_t uses = 0;
  // For service orders only ("serve": true), which have no output; without
  // it, for batch orders only. A service answers its clients with what its
  // engine reads, so an owner says so explicitly.
  bool serve = false;
};

// What the owner may add when granting (ward files grant --order-by, --uses,
// --serve).
struct GrantLimits {
  std::optional<ledger::AccountId> order_by;
  std::uint64_t uses = 0;
  bool serve = false;
  // Grant to a key broker instead of one CVM: `cvm_recipient` is then the
  // broker's recipient (which must be broker->recipient) and `cvm` is unused.
  std::optional<BrokerTerms> broker = std::nullopt;
};

struct Grant {
  GrantPolicy policy;
  // SHA-256 of kGrantDomain + the canonical policy: the grant's id, the
  // digest its header's ward-grant stanza carries, and what the ledger counts
  // uses and revocations by.
  crypto::Sha256Digest id{};
  Bytes header;  // the binary age header for the CVM's recipient
  SignedResource descriptor;
  nlohmann::json json;  // {"grant", "header", "descriptor", "sig"}, as signed
};

// Makes a grant of `descriptor` (owned by `owner`) to CVM `cvm`: fetches the
// ciphertext from the descriptor's URI (the whole blob, since only the whole
// blob can be checked against its digest), unwraps the file key from its
// header with the owner's identity, and wraps it to `cvm_recipient` in a new
// header. `engine` is "sha256:<hex>" or bare hex; `outputs` are age1...
// recipients (sorted and de-duplicated here). Errors: "files.grant" (not the
// owner, bad engine or outputs, already expired, a header that is not
// header_length bytes), the store's and age's codes.
Result<Grant> make_grant(const SignedResource& descriptor, const keys::PartyKey& owner,
                         const age::X25519Recipient& cvm_recipient, const ledger::CvmId& cvm,
                         std::string_view engine, std::vector<std::string> outputs,
                         std::chrono::system_clock::time_point expires, const GrantLimits& limits = {});
// The same, fetching from `store` (which must hold the blob) instead.
Result<Grant> make_grant(const SignedResource& descriptor, store::Store& store, const keys::PartyKey& owner,
                         const age::X25519Recipient& cvm_recipient, const ledger::CvmId& cvm,
                         std::string_view engine, std::vector<std::string> outputs,
                         std::chrono::system_clock::time_point expires, const GrantLimits& limits = {});

// Strict parse (no unknown or duplicate fields; types, spellings, ranges),
// then, in order, each failure named in the message: "grant.descriptor" (the
// descriptor parses and its owner's signature verifies), "grant.sig" (by
// policy.owner), "grant.owner" (policy.owner is the descriptor's owner),
// "grant.resource" (policy.resource is the descriptor's ciphertext_sha256),
// "grant.header" (it is exactly one well-formed age header), "grant.binding"
// (its one ward-grant stanza carries this policy's id). Only a reader holding
// the grantee's identity can check that the stanza is authentic: see
// authenticate_grant. Errors: "files.grant".
Result<Grant> parse_grant(std::string_view text);
Result<Grant> load_grant(const std::filesystem::path& path);

// Unwraps the file key from the grant's header with the grantee's identity,
// checks the header MAC with it ("grant.mac": the header was not made by a
// holder of the file key) and that the authenticated header binds exactly
// this grant's policy ("grant.binding"). Every reader of a grant calls it
// before any payload byte is decrypted. Errors: "files.grant", and age's
// "age.no_match" when the identity is not the grantee.
Result<void> authenticate_grant(const Grant& grant, const age::Identity& grantee);

// Pretty JSON and a newline: the text of a GRANT.json file.
std::string grant_text(const Grant& grant);

// The stanza a key broker adds when it re-wraps a grant for one order's CVM:
// "-> ward-release <base64 of release_binding(...)>", covered by the new
// header's MAC with the ward-grant stanza it keeps.
inline constexpr std::string_view kReleaseStanza = "ward-release";
inline constexpr std::string_view kReleaseDomain = "ward/kms/release/v1\n";
// SHA-256(kReleaseDomain || grant id || ledger id || uint64 BE order || CVM id).
crypto::Sha256Digest release_binding(const crypto::Sha256Digest& grant, const ledger::LedgerId& ledger,
                                     std::uint64_t order, const ledger::CvmId& cvm);

// The broker's side: `header` (the grant's, for the broker) is authenticated
// with the broker's identity (authenticate_grant's checks), then re-wrapped to
// `cvm_recipient` with the grant's ward-grant stanza and a ward-release
// stanza carrying `binding`. Errors: "files.grant", age's.
Result<Bytes> rewrap_for_release(const Grant& grant, const age::Identity& broker,
                                 const age::X25519Recipient& cvm_recipient,
                                 const crypto::Sha256Digest& binding);

// The CVM's side: `header` (what the broker sent) is authenticated with the
// CVM's identity: its MAC, its ward-grant stanza binds `grant`'s policy, and
// exactly one ward-release stanza carries `binding` ("grant.release": the
// broker released the key for another order, CVM or ledger). On success the
// grant's header becomes `header`, so decrypt_granted reads with it.
// Errors: "files.grant", age's.
Result<void> accept_release(Grant& grant, Bytes header, const age::Identity& cvm,
                            const crypto::Sha256Digest& binding);

// The order a grant is checked against.
struct OrderTerms {
  ledger::CvmId cvm{};
  std::string engine;
  std::vector<std::string> outputs;
  ledger::AccountId creator{};
  bool serve = false;  // a service order
};

// The loader's check of a grant against the order it is asked to run. Each
// failure's message starts with its check: "grant.serve" (a service grant
// for a batch order or the reverse), "grant.cvm" (granted to another
// CVM; a broker's grant names no CVM: the broker checks the CVM), "grant.engine" (for another engine),
// "grant.outputs" (an order output the grant does not allow), "grant.order_by" (the order's creator is not
// the account the grant is limited to), "grant.expired" (at `now`). Uses and revocation are the ledger's to
// check (grants.use). Errors: "files.grant".
Result<void> check_grant_for_order(const Grant& grant, const OrderTerms& order,
                                   std::chrono::system_clock::time_point now);

// The entry of a grants.use transaction for this grant: {id, owner, uses}.
nlohmann::json grant_use_entry(const Grant& grant);

// "sha256:<hex>" for an engine digest given that way or as bare hex.
// Errors: "files.engine".
Result<std::string> normalize_engine(std::string_view engine);

}  // namespace ward::files
