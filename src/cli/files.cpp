// ward files upload | download | grant | show: encrypted resources in a blob
// store, and grants that let one attested CVM read one of them.
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "attest/policy.h"
#include "base/file.h"
#include "base/time.h"
#include "ca/certificate.h"
#include "ca/server.h"
#include "cli/cli.h"
#include "cli/evidence.h"
#include "cli/ledger_common.h"
#include "engine/image.h"
#include "files/grant.h"
#include "files/grantee.h"
#include "files/resource.h"
#include "files/transfer.h"
#include "keys/party_key.h"
#include "kms/broker.h"
#include "ledger/client.h"
#include "ledger/tx.h"
#include "store/store.h"

namespace ward::cli {
namespace {

using json = nlohmann::json;
using std::chrono::system_clock;

constexpr const char* kDefaultStore = "./ward-store";
// The longest a grant may be valid; a longer one would outlive any CVM certificate.
constexpr std::chrono::seconds kMaxGrantValidity{std::chrono::hours(24 * 366)};

struct UploadArgs {
  std::string path;
  std::string key;
  std::string store;
  std::string engine;
  std::string output;
  bool json = false;
};

struct DownloadArgs {
  std::string descriptor;
  std::string key;
  std::string store;
  std::string output;
  bool json = false;
};

struct GrantArgs {
  std::string descriptor;
  std::string key;
  std::string ledger;
  std::string cvm;
  std::string engine;
  std::vector<std::string> outputs;
  std::string expires = "24h";
  std::string ca_cert;
  std::string ca;
  std::string policy;
  std::string output;
  std::string order_by;
  std::uint64_t uses = 0;
  bool serve = false;
  bool json = false;
  // A grant to a key broker instead of one CVM.
  std::string broker;
  std::string cvm_policy;
  std::vector<std::string> providers;
};

struct RevokeArgs {
  std::string grant;
  std::string key;
  std::string ledger;
  bool json = false;
};

struct ShowArgs {
  std::string path;
  bool json = false;
};

std::string store_uri(const std::string& option) {
  if (!option.empty()) return option;
  const char* env = std::getenv("WARD_STORE");
  return env && *env ? env : kDefaultStore;
}


json resource_summary(const files::Resource& r) {
  json out = {{"name", r.name},
              {"kind", r.kind},
              {"uri", r.uri},
              {"ciphertext_sha256", hex_encode(r.ciphertext_sha256)},
              {"ciphertext_size", r.ciphertext_size},
              {"plaintext_sha256", hex_encode(r.plaintext_sha256)},
              {"plaintext_size", r.plaintext_size},
              {"owner", hex_encode(r.owner)},
              {"created", r.created}};
  if (r.engine) out["engine"] = *r.engine;
  return out;
}

Result<void> run_upload(const UploadArgs& args) {
  auto key = keys::PartyKey::load(args.key);
  if (!key) return std::unexpected(key.error());
  files::UploadOptions options;
  if (!args.engine.empty()) {
    auto engine = files::normalize_engine(args.engine);
    if (!engine) return fail(std::string(kUsage), "--engine: " + engine.error().message);
    options.engine = *engine;
  }
  // An engine image (OCI layout or docker save tar) is recorded as one, by
  // its config digest, so orders can name it.
  std::error_code image_ec;
  if (std::filesystem::is_regular_file(args.path, image_ec)) {
    if (auto image = engine::inspect_image(args.path)) {
      if (options.engine && *options.engine != image->digest) {
        return fail("files.upload", "--engine " + *options.engine + " but the image's config digest is " +
                                        image->digest);
      }
      options.engine = image->digest;
    }
  }
  // Opened first, so a bad -o fails before any work; nothing appears there
  // unless the whole upload succeeds.
  auto out = AtomicFile::create(args.output, 0644);
  if (!out) return std::unexpected(out.error());
  auto store = store::open_store(store_uri(args.store));
  if (!store) return std::unexpected(store.error());
  std::error_code ec;
  const auto size = std::filesystem::is_regular_file(args.path, ec) ? std::filesystem::file_size(args.path, ec) : 0;
  const std::string name = std::filesystem::path(args.path).filename().string();
  store::Progress progress("upload " + (name.empty() ? args.path : name), ec ? 0 : size);
  auto res = files::upload(args.path, *key, **store, options, &progress);
  if (!res) return fail(res.error(), "uploading " + args.path);
  if (auto ok = out->write(as_bytes(files::resource_text(*res))); !ok) return ok;
  if (auto ok = out->commit(); !ok) return ok;
  if (args.json) {
    json summary = resource_summary(res->resource);
    summary["descriptor"] = args.output;
    return print_json(summary);
  }
  return print_stdout(res->resource.kind + " " + res->resource.name + " uploaded to " + res->resource.uri +
                      "\ndescriptor written to " + args.output + "\n");
}

Result<void> run_download(const DownloadArgs& args) {
  auto res = files::load_resource(args.descriptor);
  if (!res) return std::unexpected(res.error());
  auto key = keys::PartyKey::load(args.key);
  if (!key) return std::unexpected(key.error());
  const files::Resource& r = res->resource;
  store::Progress progress("download " + r.name, r.ciphertext_size);
  Result<void> ok;
  if (args.store.empty()) {
    ok = files::download(*res, key->identity(), args.output, &progress);
  } else {
    auto store = store::open_store(args.store);
    if (!store) return std::unexpected(store.error());
    ok = files::download(*res, **store, key->identity(), args.output, &progress);
  }
  if (!ok) return fail(ok.error(), "downloading " + r.name);
  if (args.json) {
    json summary = resource_summary(r);
    summary["output"] = args.output;
    return print_json(summary);
  }
  return print_stdout(r.kind + " " + r.name + " (" + std::to_string(r.plaintext_size) +
                      " bytes, SHA-256 checked) written to " + args.output + "\n");
}

Result<void> run_grant(const GrantArgs& args) {
  if (args.ca.empty() == args.ca_cert.empty())
    return fail(std::string(kUsage), "give exactly one of --ca-cert FILE and --ca URL");
  auto validity = parse_duration("--expires", args.expires, kMaxGrantValidity);
  if (!validity) return std::unexpected(validity.error());
  if (args.cvm.empty() == args.broker.empty())
    return fail(std::string(kUsage), "give exactly one of --cvm ID and --broker URL");
  if (args.broker.empty() && (!args.cvm_policy.empty() || !args.providers.empty()))
    return fail(std::string(kUsage), "--cvm-policy and --provider go with --broker");
  if (!args.broker.empty() && args.cvm_policy.empty())
    return fail(std::string(kUsage),
                "a grant to a broker needs --cvm-policy: what a CVM's evidence must meet");
  ledger::CvmId cvm_id{};
  if (!args.cvm.empty()) {
    auto id = parse_id_arg("--cvm", args.cvm);
    if (!id) return std::unexpected(id.error());
    cvm_id = *id;
  }
  auto engine = files::normalize_engine(args.engine);
  if (!engine) return fail(std::string(kUsage), "--engine: " + engine.error().message);
  for (const auto& output : args.outputs) {
    if (!age::X25519Recipient::parse(output))
      return fail(std::string(kUsage), "--output-to '" + output + "' is not an age recipient (age1...)");
  }
  files::GrantLimits limits;
  if (!args.order_by.empty()) {
    auto order_by = parse_id_arg("--order-by", args.order_by);
    if (!order_by) return std::unexpected(order_by.error());
    limits.order_by = *order_by;
  }
  limits.uses = args.uses;
  limits.serve = args.serve;
  if (!args.serve && args.outputs.empty()) {
    return fail(std::string(kUsage), "give --output-to (a batch order's output recipient), or --serve");
  }
  auto policy = load_policy(args.policy, attest::Policy::strict());
  if (!policy) return std::unexpected(policy.error());
  auto res = files::load_resource(args.descriptor);
  if (!res) return std::unexpected(res.error());
  auto key = keys::PartyKey::load(args.key);
  if (!key) return std::unexpected(key.error());
  if (key->signing_public_key() != res->resource.owner)
    return fail("files.grant", args.key + " is not the owner of " + args.descriptor + " (owner " +
                                   hex_encode(res->resource.owner) + ")");
  auto out = AtomicFile::create(args.output, 0644);
  if (!out) return std::unexpected(out.error());
  auto ca_cert = trusted_ca(args.ca_cert, args.ca);
  if (!ca_cert) return std::unexpected(ca_cert.error());

  // The reader: a CVM as the ledger lists it, or a key broker as its
  // statement says, its certificate verified from the CA down to the
  // hardware under the owner's policy.
  std::optional<files::VerifiedGrantee> grantee;
  std::string reader;
  if (!args.broker.empty()) {
    auto cvm_policy = load_policy(args.cvm_policy, attest::Policy::strict());
    if (!cvm_policy) return std::unexpected(cvm_policy.error());
    files::BrokerTerms terms;
    terms.attestation = std::move(*cvm_policy);
    for (const auto& provider : args.providers) {
      auto id = parse_id_arg("--provider", provider);
      if (!id) return std::unexpected(id.error());
      terms.providers.push_back(*id);
    }
    auto statement = kms::fetch_statement(args.broker, *ca_cert, *policy);
    if (!statement) return std::unexpected(statement.error());
    terms.recipient = statement->statement.recipient;
    auto recipient = age::X25519Recipient::parse(terms.recipient);
    if (!recipient) return std::unexpected(recipient.error());
    grantee = files::VerifiedGrantee{*recipient, std::move(statement->appraisal)};
    limits.broker = std::move(terms);
    reader = "key broker " + args.broker + " (" + statement->statement.recipient + ")";
  } else {
    auto client = ledger::open_client(args.ledger);
    if (!client) return std::unexpected(client.error());
    auto verified = files::verify_grantee(**client, cvm_id, *ca_cert, *policy, system_clock::now());
    if (!verified) return std::unexpected(verified.error());
    grantee = std::move(*verified);
    reader = "CVM " + hex_encode(cvm_id);
  }

  auto grant = files::make_grant(*res, *key, grantee->recipient, cvm_id, *engine, args.outputs,
                                 system_clock::now() + *validity, limits);
  if (!grant) return std::unexpected(grant.error());
  if (auto ok = out->write(as_bytes(files::grant_text(*grant))); !ok) return ok;
  if (auto ok = out->commit(); !ok) return ok;
  const bool simulated = grantee->appraisal.simulated;
  if (args.json) {
    return print_json({{"grant", args.output},
                       {"id", hex_encode(grant->id)},
                       {"resource", hex_encode(grant->policy.resource)},
                       {"name", res->resource.name},
                       {args.broker.empty() ? "cvm" : "broker",
                        args.broker.empty() ? hex_encode(cvm_id) : grant->policy.broker->recipient},
                       {"engine", grant->policy.engine},
                       {"outputs", grant->policy.outputs},
                       {"expires", grant->policy.expires},
                       {"simulated", simulated}});
  }
  return print_stdout("grant of " + res->resource.name + " to " + reader + " for engine " +
                      grant->policy.engine + ", until " + grant->policy.expires + ", written to " +
                      args.output + (simulated ? " (SIMULATED evidence)\n" : "\n"));
}

Result<void> run_show(const ShowArgs& args) {
  auto text = read_file(args.path, files::kMaxGrantSize);
  if (!text) return std::unexpected(text.error());
  // A grant file has a "grant" member; anything else is read as a descriptor.
  const bool is_grant = as_chars(*text).find("\"grant\"") != std::string_view::npos;
  if (!is_grant) {
    auto res = files::parse_resource(as_chars(*text));
    if (!res) return fail(res.error(), args.path);
    json summary = resource_summary(res->resource);
    if (args.json) {
      summary["type"] = "resource";
      summary["header_length"] = res->resource.header_length;
      summary["signature"] = "verified";
      return print_json(summary);
    }
    if (auto ok = print_stdout("resource descriptor, signature verified\n"); !ok) return ok;
    return print_fields(summary);
  }
  auto grant = files::parse_grant(as_chars(*text));
  if (!grant) return fail(grant.error(), args.path);
  const files::GrantPolicy& p = grant->policy;
  json summary = {{"resource", hex_encode(p.resource)},
                  {"name", grant->descriptor.resource.name},
                  {"kind", grant->descriptor.resource.kind},
                  {"uri", grant->descriptor.resource.uri},
                  {"engine", p.engine},
                  {"outputs", p.outputs},
                  {"expires", p.expires},
                  {"expired", system_clock::now() >= *parse_rfc3339(p.expires)},
                  {"id", hex_encode(grant->id)},
                  {"owner", hex_encode(p.owner)},
                  {"created", p.created}};
  if (p.broker) {
    summary["broker"] = p.broker->recipient;
    summary["cvm_policy"] = json::parse(p.broker->attestation.to_json());
    if (!p.broker->providers.empty()) {
      json providers = json::array();
      for (const auto& provider : p.broker->providers) providers.push_back(hex_encode(provider));
      summary["providers"] = std::move(providers);
    }
  } else {
    summary["cvm"] = hex_encode(p.cvm);
  }
  if (p.order_by) summary["order_by"] = hex_encode(*p.order_by);
  if (p.uses != 0) summary["uses"] = p.uses;
  if (p.serve) summary["serve"] = true;
  if (args.json) {
    summary["type"] = "grant";
    summary["signature"] = "verified";
    return print_json(summary);
  }
  if (auto ok =
          print_stdout("grant, signatures verified, header bound to this policy (its MAC is the CVM's to "
                       "check)\n");
      !ok)
    return ok;
  return print_fields(summary);
}

// Revocation is a ledger transaction by the grant's owner; the CVM's
// grants.use is refused for a revoked grant before anything is decrypted.
Result<void> run_revoke(const RevokeArgs& args) {
  auto grant = files::load_grant(args.grant);
  if (!grant) return std::unexpected(grant.error());
  auto key = keys::PartyKey::load(args.key);
  if (!key) return std::unexpected(key.error());
  if (key->signing_public_key() != grant->policy.owner)
    return fail("files.grant", args.key + " is not the owner of the grant (owner " +
                                   hex_encode(grant->policy.owner) + "); only the owner's revocation counts");
  auto client = ledger::open_client(args.ledger);
  if (!client) return std::unexpected(client.error());
  auto receipt = submit_transaction(**client, *key, "grants.revoke", {{"grant", hex_encode(grant->id)}});
  if (!receipt) return std::unexpected(receipt.error());
  if (args.json) {
    json out = to_json(*receipt);
    out["grant"] = hex_encode(grant->id);
    return print_json(out);
  }
  return print_stdout("grant " + hex_encode(grant->id) + " revoked (record " +
                      std::to_string(receipt->index) + "); the CVM refuses every later use\n");
}

}  // namespace

void add_files_commands(CLI::App& app, Action& action) {
  CLI::App* group = app.add_subcommand("files", "Upload and download encrypted files; grant CVMs access");
  group->require_subcommand(1);
  group->footer("Run 'ward files COMMAND --help' for a command's options. Formats: docs/files.md.");

  auto upload = std::make_shared<UploadArgs>();
  CLI::App* upload_cmd = group->add_subcommand("upload", "Encrypt a file or directory to yourself and store it");
  upload_cmd->footer(
      "Encrypts FILE, or DIR as a deterministic tar, to the key's own age recipient, puts the\n"
      "ciphertext in the store and writes the descriptor signed by the key (RES.json: the blob URI,\n"
      "digests and sizes, never a key). The store only ever sees ciphertext. Store: --store, else\n"
      "$WARD_STORE, else the directory ./ward-store.");
  upload_cmd->add_option("path", upload->path, "The file or directory")->option_text("FILE|DIR")->required();
  add_key_option(upload_cmd, upload->key);
  upload_cmd->add_option("--store", upload->store, "A directory, file:///DIR or http(s)://HOST/PREFIX")
      ->option_text("URI");
  upload_cmd->add_option("--engine", upload->engine, "The file is an engine image with this digest")
      ->option_text("DIGEST");
  upload_cmd->add_option("-o,--output", upload->output, "Where to write the descriptor")
      ->option_text("RES.json")
      ->required();
  add_json_flag(upload_cmd, upload->json);
  upload_cmd->callback([&action, upload] { action = [upload] { return run_upload(*upload); }; });

  auto download = std::make_shared<DownloadArgs>();
  CLI::App* download_cmd = group->add_subcommand("download", "Fetch and decrypt a stored file or directory");
  download_cmd->footer(
      "Fetches the ciphertext the descriptor names (its digest checked), decrypts it with the key and\n"
      "checks the plaintext's size and SHA-256 against the descriptor. A file is written atomically; a\n"
      "directory is extracted into PATH, which must not exist. Nothing is left at PATH on failure.");
  download_cmd->add_option("descriptor", download->descriptor, "The descriptor")
      ->option_text("RES.json")
      ->required();
  add_key_option(download_cmd, download->key);
  download_cmd->add_option("--store", download->store, "Fetch from this store instead of the descriptor's")
      ->option_text("URI");
  download_cmd->add_option("-o,--output", download->output, "The file or new directory to write")
      ->option_text("PATH")
      ->required();
  add_json_flag(download_cmd, download->json);
  download_cmd->callback([&action, download] { action = [download] { return run_download(*download); }; });

  auto grant = std::make_shared<GrantArgs>();
  CLI::App* grant_cmd = group->add_subcommand("grant", "Let one attested CVM read a resource for one engine");
  grant_cmd->footer(
      "Checks that the key owns the resource, that the CVM is on the ledger, and that its certificate\n"
      "verifies under the CA down to the hardware with the policy, which must pin the loader's\n"
      "measurement; then re-wraps the file key to the CVM's age recipient and signs the policy\n"
      "{resource, engine, CVM, output recipients, expiry[, order-by account, uses]}. The new header\n"
      "carries the policy's digest under its MAC, so the key works only under this policy. The\n"
      "payload is not re-encrypted.");
  grant_cmd->add_option("descriptor", grant->descriptor, "The resource's descriptor")
      ->option_text("RES.json")
      ->required();
  add_key_option(grant_cmd, grant->key);
  add_ledger_option(grant_cmd, grant->ledger);
  grant_cmd->add_option("--cvm", grant->cvm, "The CVM's id (64 hex digits)")->option_text("ID");
  grant_cmd
      ->add_option(
          "--broker", grant->broker,
          "Or a key broker (`ward kms serve` URL) that re-wraps the key for any CVM meeting --cvm-policy")
      ->option_text("URL");
  grant_cmd
      ->add_option(
          "--cvm-policy", grant->cvm_policy,
          "With --broker: the attestation policy a CVM must meet, pinning the loader measurement (JSON)")
      ->option_text("FILE");
  repeatable(
      grant_cmd->add_option("--provider", grant->providers,
                            "With --broker: only CVMs listed by this provider account. Can be repeated"))
      ->option_text("ACCOUNT");
  grant_cmd->add_option("--engine", grant->engine, "The engine allowed to read it (sha256:<hex>)")
      ->option_text("DIGEST")
      ->required();
  auto* output_to =
      repeatable(grant_cmd->add_option("--output-to", grant->outputs,
                                       "An age recipient a batch order's output may go to. Can be repeated"))
          ->option_text("RECIPIENT");
  grant_cmd
      ->add_flag("--serve", grant->serve,
                 "For service orders only (no output; the engine answers clients): docs/serving.md")
      ->excludes(output_to);
  grant_cmd->add_option("--expires", grant->expires, "How long the grant is valid (30m, 24h, 7d; default 24h)")
      ->option_text("DURATION");
  grant_cmd->add_option("--ca-cert", grant->ca_cert, "The CA certificate (PEM)")->option_text("FILE");
  grant_cmd->add_option("--ca", grant->ca, "Or the certification center to fetch it from")
      ->option_text("http://HOST:PORT");
  grant_cmd
      ->add_option("--policy", grant->policy,
                   "Appraisal policy pinning the loader measurement, or with --broker the broker's (JSON)")
      ->option_text("FILE")
      ->required();
  grant_cmd->add_option("-o,--output", grant->output, "Where to write the grant")
      ->option_text("GRANT.json")
      ->required();
  grant_cmd
      ->add_option("--order-by", grant->order_by, "Only orders created by this account may use the grant")
      ->option_text("ACCOUNT");
  decimal(
      grant_cmd->add_option("--uses", grant->uses, "At most this many orders may use it (the ledger counts)"),
      1, files::kMaxGrantUses)
      ->option_text("N");
  add_json_flag(grant_cmd, grant->json);
  grant_cmd->callback([&action, grant] { action = [grant] { return run_grant(*grant); }; });

  auto revoke = std::make_shared<RevokeArgs>();
  CLI::App* revoke_cmd = group->add_subcommand("revoke", "Revoke a grant on the ledger");
  revoke_cmd->footer(
      "Submits grants.revoke for the grant's id, signed by its owner. The CVM asks the ledger before\n"
      "it decrypts anything (grants.use), so no order can use the grant after this; an engine already\n"
      "running on the decrypted file is not stopped.");
  revoke_cmd->add_option("grant", revoke->grant, "The grant")->option_text("GRANT.json")->required();
  add_key_option(revoke_cmd, revoke->key);
  add_ledger_option(revoke_cmd, revoke->ledger);
  add_json_flag(revoke_cmd, revoke->json);
  revoke_cmd->callback([&action, revoke] { action = [revoke] { return run_revoke(*revoke); }; });

  auto show = std::make_shared<ShowArgs>();
  CLI::App* show_cmd = group->add_subcommand("show", "Verify and print a descriptor or a grant");
  show_cmd->add_option("file", show->path, "The descriptor or grant")
      ->option_text("RES.json|GRANT.json")
      ->required();
  add_json_flag(show_cmd, show->json);
  show_cmd->callback([&action, show] { action = [show] { return run_show(*show); }; });
}

}  // namespace ward::cli
