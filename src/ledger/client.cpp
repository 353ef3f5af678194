#include "ledger/client.h"

#include <algorithm>
#include <filesystem>
#include <mutex>
#include <utility>

#include "ledger/evm/client.h"
#include "ledger/http_client.h"
#include "ledger/replay.h"

namespace ward::ledger {
namespace {

using json = nlohmann::json;

class EmbeddedClient final : public LedgerClient {
 public:
  EmbeddedClient(std::unique_ptr<Ledger> owned, Ledger& ledger, std::string path)
      : owned_(std::move(owned)), ledger_(ledger), path_(std::move(path)) {}

  std::string target() const override { return path_; }

  Result<LedgerSummary> summary() override {
    return LedgerSummary{ledger_.info(), ledger_.origin(), ledger_.verifier_key(), ledger_.size()};
  }

  Result<Receipt> submit(std::string_view envelope) override { return ledger_.submit(envelope); }

  Result<std::optional<Account>> account(const AccountId& id) override { return ledger_.account(id); }
  Result<std::vector<Offer>> offers() override { return ledger_.offers(); }
  Result<std::optional<Offer>> offer(std::uint64_t id) override { return ledger_.offer(id); }
  Result<std::vector<Order>> orders(const OrderFilter& filter) override { return ledger_.orders(filter); }
  Result<std::optional<Order>> order(std::uint64_t id) override { return ledger_.order(id); }
  Result<std::vector<Cvm>> cvms() override { return ledger_.cvms(); }
  Result<std::optional<Cvm>> cvm(const CvmId& id) override { return ledger_.cvm(id); }
  Result<std::optional<Report>> report(std::uint64_t order) override { return ledger_.report(order); }
  Result<std::optional<Report>> start_report(std::uint64_t order) override {
    return ledger_.start_report(order);
  }
  Result<std::vector<Subscription>> subscriptions(std::uint64_t order) override {
    return ledger_.subscriptions(order);
  }
  Result<std::optional<Subscription>> subscription(std::uint64_t order, const AccountId& account) override {
    return ledger_.subscription(order, account);
  }
  Result<std::optional<Grant>> grant(const GrantId& id, const AccountId& owner) override {
    return ledger_.grant(id, owner);
  }

  Result<std::optional<RecordProof>> record(std::uint64_t index, std::optional<std::uint64_t> size) override {
    RecordProof out;
    out.checkpoint = ledger_.latest_checkpoint();
    auto key = parse_verifier_key(ledger_.verifier_key());
    if (!key) return std::unexpected(key.error());
    auto cp = open_checkpoint(out.checkpoint, *key);
    if (!cp) return std::unexpected(cp.error());
    if (index >= cp->size) return std::nullopt;
    out.size = size.value_or(cp->size);
    if (out.size <= index || out.size > cp->size) {
      return fail("ledger.proof", "size " + std::to_string(out.size) +
                                      " is not between the record's index + 1 (" + std::to_string(index + 1) +
                                      ") and the latest checkpoint's size (" + std::to_string(cp->size) +
                                      ")");
    }
    auto stored = ledger_.record(index);
    if (!stored) return std::unexpected(stored.error());
    if (!*stored) return fail("ledger.store", "record " + std::to_string(index) + " is missing");
    out.record = std::move(**stored);
    auto inclusion = ledger_.inclusion_proof(index, out.size);
    if (!inclusion) return std::unexpected(inclusion.error());
    out.inclusion = std::move(*inclusion);
    if (out.size < cp->size) {
      auto consistency = ledger_.consistency_proof(out.size, cp->size);
      if (!consistency) return std::unexpected(consistency.error());
      out.consistency = std::move(*consistency);
    }
    return out;
  }

  Result<std::string> checkpoint() override { return ledger_.latest_checkpoint(); }

  Result<std::vector<Hash>> consistency_proof(std::uint64_t old_size, std::uint64_t new_size) override {
    return ledger_.consistency_proof(old_size, new_size);
  }

  Result<FeedPage> records_after(std::uint64_t first, std::chrono::seconds wait) override {
    FeedPage page;
    page.size = ledger_.size();
    if (page.size <= first && wait.count() > 0) {
      page.size = ledger_.wait_for_records(first, std::min(wait, kMaxFeedWait));
    }
    if (page.size <= first) return page;
    auto records = ledger_.records_from(first, kMaxFeedRecords);
    if (!records) return std::unexpected(records.error());
    page.records = std::move(*records);
    return page;
  }

 private:
  std::unique_ptr<Ledger> owned_;  // null when borrowed
  Ledger& ledger_;
  std::string path_;
};

Result<Hash> hash_from_hex(std::string_view text) {
  auto bytes = hex_decode(text);
  if (!bytes) return std::unexpected(bytes.error());
  return hash_from_bytes(*bytes);
}

}  // namespace

json hashes_json(const std::vector<Hash>& hashes) {
  json out = json::array();
  for (const Hash& h : hashes) out.push_back(hex_encode(h));
  return out;
}

json to_json(const LedgerSummary& s) {
  return {{"id", hex_encode(s.info.id)},
          {"dev", s.info.dev},
          {"origin", s.origin},
          {"verifier_key", s.verifier_key},
          {"size", s.size}};
}

json to_json(const RecordProof& p) {
  return {{"record", to_json(p.record)},
          {"size", p.size},
          {"inclusion", hashes_json(p.inclusion)},
          {"consistency", hashes_json(p.consistency)},
          {"checkpoint", p.checkpoint}};
}

json to_json(const FeedPage& p) {
  json records = json::array();
  for (const auto& r : p.records) records.push_back(to_json(r));
  return {{"records", std::move(records)}, {"size", p.size}};
}

Result<std::vector<Hash>> hashes_from_json(const json& j) {
  if (!j.is_array()) return fail("ledger.http", "a proof is not an array of hashes");
  std::vector<Hash> out;
  for (const auto& h : j) {
    if (!h.is_string()) return fail("ledger.http", "a proof hash is not a string");
    auto hash = hash_from_hex(h.get_ref<const std::string&>());
    if (!hash) return fail(hash.error(), "a proof hash");
    out.push_back(*hash);
  }
  return out;
}

Result<StoredRecord> stored_record_from_json(const json& j) {
  if (!j.is_object() || !j.contains("record") || !j["record"].is_object() || !j.contains("leaf") ||
      !j["leaf"].is_string() || !j.contains("index") || !j["index"].is_number_unsigned() ||
      !j.contains("time") || !j["time"].is_number_unsigned()) {
    return fail("ledger.http", "a record needs index, time, leaf and record");
  }
  StoredRecord out;
  out.index = j["index"].get<std::uint64_t>();
  out.time = j["time"].get<std::uint64_t>();
  auto leaf = hash_from_hex(j["leaf"].get_ref<const std::string&>());
  if (!leaf) return fail(leaf.error(), "record leaf");
  out.leaf = *leaf;
  // Records are canonical JSON, so the text re-serialised canonically is the
  // leaf's bytes again (verify_record_proof checks it against the leaf).
  out.bytes = canonical_json(j["record"]);
  return out;
}

Result<RecordProof> record_proof_from_json(const json& j) {
  if (!j.is_object() || !j.contains("record") || !j.contains("size") || !j["size"].is_number_unsigned() ||
      !j.contains("inclusion") || !j.contains("consistency") || !j.contains("checkpoint") ||
      !j["checkpoint"].is_string()) {
    return fail("ledger.http", "a record proof needs record, size, inclusion, consistency and checkpoint");
  }
  RecordProof out;
  auto record = stored_record_from_json(j["record"]);
  if (!record) return std::unexpected(record.error());
  out.record = std::move(*record);
  out.size = j["size"].get<std::uint64_t>();
  auto inclusion = hashes_from_json(j["inclusion"]);
  if (!inclusion) return std::unexpected(inclusion.error());
  out.inclusion = std::move(*inclusion);
  auto consistency = hashes_from_json(j["consistency"]);
  if (!consistency) return std::unexpected(consistency.error());
  out.consistency = std::move(*consistency);
  out.checkpoint = j["checkpoint"].get<std::string>();
  return out;
}

Result<Checkpoint> open_checkpoint(std::string_view note, const NoteVerifier& verifier) {
  const std::vector<NoteVerifier> verifiers{verifier};
  auto body = open_note(note, verifiers);
  if (!body) return std::unexpected(body.error());
  auto cp = parse_checkpoint(*body);
  if (!cp) return std::unexpected(cp.error());
  if (cp->origin != verifier.name) {
    return fail("ledger.note", "the checkpoint's origin '" + cp->origin + "' is not its signer's name '" +
                                   verifier.name + "'");
  }
  return cp;
}

Result<Checkpoint> verify_record_proof(const RecordProof& proof, const NoteVerifier& verifier) {
  auto cp = open_checkpoint(proof.checkpoint, verifier);
  if (!cp) return std::unexpected(cp.error());
  const std::uint64_t index = proof.record.index;
  auto record = parse_record(proof.record.bytes);
  if (!record) return std::unexpected(record.error());
  if (record->index != index) return fail("ledger.proof", "the record's bytes hold another index");
  const Hash leaf = leaf_hash(as_bytes(proof.record.bytes));
  if (leaf != proof.record.leaf)
    return fail("ledger.proof", "the record's leaf hash does not match its bytes");
  if (proof.size > cp->size) return fail("ledger.proof", "the proof's tree is larger than the checkpoint's");
  if (proof.size == cp->size) {
    if (!proof.consistency.empty()) return fail("ledger.proof", "unexpected consistency proof");
    if (auto ok = verify_inclusion(index, proof.size, leaf, proof.inclusion, cp->root); !ok) {
      return std::unexpected(ok.error());
    }
    return cp;
  }
  auto root = root_from_inclusion(index, proof.size, leaf, proof.inclusion);
  if (!root) return std::unexpected(root.error());
  if (auto ok = verify_consistency(proof.size, cp->size, *root, cp->root, proof.consistency); !ok) {
    return std::unexpected(ok.error());
  }
  return cp;
}

Result<std::unique_ptr<LedgerClient>> open_client(std::string_view target) {
  if (target.starts_with("http://")) return open_http_client(target);
  if (target.starts_with(evm::kScheme)) return evm::open_evm_client(target);
  if (target.find("://") != std::string_view::npos) {
    return fail("ledger.client", "unsupported ledger URL " + std::string(target) +
                                     " (use http://HOST:PORT or evm+http://HOST:PORT#0xCONTRACT)");
  }
  const std::filesystem::path path(target);
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    return fail("ledger.client",
                "no ledger at " + path.string() +
                    " (create one with 'ward ledger init --db FILE', or pass --ledger http://HOST:PORT)");
  }
  auto ledger = Ledger::open(path);
  if (!ledger) return fail(ledger.error(), "opening the ledger " + path.string());
  auto owned = std::make_unique<Ledger>(std::move(*ledger));
  Ledger& ref = *owned;
  return std::make_unique<EmbeddedClient>(std::move(owned), ref, path.string());
}

Result<VerifyReport> verify_through_api(LedgerClient& client, const NoteVerifier& verifier) {
  VerifyReport report;
  auto done = [&report](std::optional<std::string> problem) -> Result<VerifyReport> {
    report.ok = !problem;
    if (problem) report.problem = std::move(*problem);
    return report;
  };
  auto summary = client.summary();
  if (!summary) return std::unexpected(summary.error());
  auto note = client.checkpoint();
  if (!note) return std::unexpected(note.error());
  auto cp = open_checkpoint(*note, verifier);
  if (!cp) return done("the latest checkpoint: " + cp.error().message);
  report.checkpoints = 1;

  auto replay = RecordReplay::start(summary->info);
  if (!replay) return std::unexpected(replay.error());
  while (replay->size() < cp->size) {
    auto page = client.records_after(replay->size(), std::chrono::seconds(0));
    if (!page) return std::unexpected(page.error());
    if (page->records.empty()) {
      return done("the ledger sent " + std::to_string(replay->size()) + " records; its checkpoint covers " +
                  std::to_string(cp->size));
    }
    // Records past the checkpoint are not covered by it; the next run checks them.
    const std::size_t wanted =
        static_cast<std::size_t>(std::min<std::uint64_t>(page->records.size(), cp->size - replay->size()));
    auto problem = replay->add(std::span(page->records).first(wanted));
    if (!problem) return std::unexpected(problem.error());
    if (*problem) return done(std::move(*problem));
  }
  report.records = cp->size;
  auto problem = replay->check_checkpoint(*cp);
  if (!problem) return std::unexpected(problem.error());
  if (*problem) return done(std::move(*problem));
  return done(replay->check_supply());
}

std::unique_ptr<LedgerClient> borrow_client(Ledger& ledger) {
  return std::make_unique<EmbeddedClient>(nullptr, ledger, "");
}

Result<std::uint64_t> next_nonce(LedgerClient& client, const AccountId& account) {
  auto found = client.account(account);
  if (!found) return std::unexpected(found.error());
  if (!*found) return 1;
  if ((*found)->nonce >= kMaxAmount) return fail("ledger.client", "the account has used every nonce");
  return (*found)->nonce + 1;
}

namespace {

// A refusal as the Error "ledger.rejected".
Result<Receipt> refusal_as_error(Result<Receipt> receipt) {
  if (receipt && receipt->rejection) {
    return fail("ledger.rejected",
                "rejected (" + receipt->rejection->reason + "): " + receipt->rejection->message);
  }
  return receipt;
}

}  // namespace

Result<Receipt> submit_accepted(LedgerClient& client, std::string_view envelope) {
  return refusal_as_error(client.submit(envelope));
}

Result<Receipt> LedgerClient::submit_as(const keys::PartyKey& key, std::string_view type,
                                        nlohmann::json args) {
  auto summary = this->summary();
  if (!summary) return std::unexpected(summary.error());
  const auto sender = key.signing_public_key();
  auto nonce = next_nonce(*this, sender);
  if (!nonce) return std::unexpected(nonce.error());
  const nlohmann::json tx = {{"v", 1},
                             {"ledger", hex_encode(summary->info.id)},
                             {"sender", hex_encode(sender)},
                             {"nonce", *nonce},
                             {"type", type},
                             {"args", std::move(args)}};
  auto envelope = sign_transaction(tx, key.signing_key());
  if (!envelope) return std::unexpected(envelope.error());
  return submit(*envelope);
}

Result<Receipt> submit_signed(LedgerClient& client, const keys::PartyKey& key, std::string_view type,
                              nlohmann::json args) {
  // One process's submissions go one at a time: a key's next nonce is read
  // and then used, and two threads sending as one key (a loader's heartbeat
  // beside its order) must not both take the same one.
  static std::mutex submitting;
  std::lock_guard lock(submitting);
  return refusal_as_error(client.submit_as(key, type, std::move(args)));
}

}  // namespace ward::ledger
