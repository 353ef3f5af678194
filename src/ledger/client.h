// Clients of a ledger: one interface over the embedded Ledger (a database
// file) and a `ward ledger serve` reached over HTTP. Both return the same
// values, so a command behaves the same whichever `--ledger` it is given.
//
// Proof checking (open_checkpoint, verify_record_proof) needs no client: only
// the record, its proof, a signed checkpoint and the ledger's verifier key.
//
// Error codes: "ledger.client" (a target that is neither a URL nor a ledger
// file), "ledger.http" (the server could not be reached, or answered with an
// error or with a body that is not what the API documents), "ledger.proof",
// "ledger.note", and the embedded Ledger's own codes.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "keys/party_key.h"
#include "ledger/checkpoint.h"
#include "ledger/ledger.h"

namespace ward::ledger {

// Records a feed returns at most per call.
inline constexpr std::size_t kMaxFeedRecords = 1000;
// The longest a feed call waits for a new record.
inline constexpr std::chrono::seconds kMaxFeedWait{60};

// What a client needs to build and check transactions for a ledger.
struct LedgerSummary {
  LedgerInfo info;
  std::string origin;        // the checkpoints' origin line and key name
  std::string verifier_key;  // C2SP note verifier key of the checkpoint signer
  std::uint64_t size = 0;    // committed records
};

// Record `record.index` with the proof that it is in the tree of `size`
// records, and the signed checkpoint the proof leads to: when `size` is the
// checkpoint's size `consistency` is empty, otherwise it proves that the
// tree of `size` records is a prefix of the checkpoint's tree.
struct RecordProof {
  StoredRecord record;
  std::uint64_t size = 0;
  std::vector<Hash> inclusion;
  std::vector<Hash> consistency;
  std::string checkpoint;
};

// A new page of the record feed: records from the index asked for on, and
// the ledger's size when the page was read.
struct FeedPage {
  std::vector<StoredRecord> records;
  std::uint64_t size = 0;
};

nlohmann::json to_json(const LedgerSummary& s);
nlohmann::json to_json(const RecordProof& p);
nlohmann::json to_json(const FeedPage& p);
nlohmann::json hashes_json(const std::vector<Hash>& hashes);

// The inverse of the to_json functions, for values received from outside.
// Errors: "ledger.http" naming the field that does not fit.
Result<StoredRecord> stored_record_from_json(const nlohmann::json& j);
Result<RecordProof> record_proof_from_json(const nlohmann::json& j);
Result<std::vector<Hash>> hashes_from_json(const nlohmann::json& j);

// Opens a checkpoint note signed by `verifier` whose origin is the
// verifier's key name (as every Ward checkpoint's is).
Result<Checkpoint> open_checkpoint(std::string_view note, const NoteVerifier& verifier);

// Checks `proof` with nothing but itself and `verifier`: the checkpoint's
// signature, the record's bytes (canonical, signed by its sender, at its
// index) and leaf hash, its inclusion in the tree of `proof.size` records,
// and that tree's consistency with the checkpoint's. Returns the checkpoint.
Result<Checkpoint> verify_record_proof(const RecordProof& proof, const NoteVerifier& verifier);

// A ledger, embedded or remote. One client serves one thread at a time.
// Queries return nullopt for an entity that does not exist.
class LedgerClient {
 public:
  virtual ~LedgerClient() = default;

  // The URL for a remote ledger, the file path for an embedded one.
  virtual std::string target() const = 0;
  virtual Result<LedgerSummary> summary() = 0;
  // A refused transaction is a Receipt with a rejection, not an Error.
  virtual Result<Receipt> submit(std::string_view envelope) = 0;
  // Sends {type, args} as `key`'s next transaction: an envelope signed with
  // its Ed25519 key, at its next nonce. A refused transaction is a Receipt
  // with a rejection, as for submit().
  virtual Result<Receipt> submit_as(const keys::PartyKey& key, std::string_view type, nlohmann::json args);

  virtual Result<std::optional<Account>> account(const AccountId& id) = 0;
  virtual Result<std::vector<Offer>> offers() = 0;
  virtual Result<std::optional<Offer>> offer(std::uint64_t id) = 0;
  virtual Result<std::vector<Order>> orders(const OrderFilter& filter) = 0;
  virtual Result<std::optional<Order>> order(std::uint64_t id) = 0;
  virtual Result<std::vector<Cvm>> cvms() = 0;
  virtual Result<std::optional<Cvm>> cvm(const CvmId& id) = 0;
  virtual Result<std::optional<Report>> report(std::uint64_t order) = 0;
  // A service order's start report; its `report` is the canonical signed
  // report JSON, as the final report's is.
  virtual Result<std::optional<Report>> start_report(std::uint64_t order) = 0;
  // The subscriptions to a service order, in account order (none for an
  // order that does not exist), and one subscriber's.
  virtual Result<std::vector<Subscription>> subscriptions(std::uint64_t order) = 0;
  virtual Result<std::optional<Subscription>> subscription(std::uint64_t order, const AccountId& account) = 0;
  // Grant `id` as the contract counts it for `owner` (its uses under a
  // limit, its revocation); nullopt until it is used under a limit or revoked.
  virtual Result<std::optional<Grant>> grant(const GrantId& id, const AccountId& owner) = 0;

  // The proof that `report` (stored for order `order`, run by CVM `cvm`) is
  // in the ledger's history, for a backend that proves it otherwise than by
  // its Merkle log (an EVM chain: the transaction's receipt in its block);
  // nullopt where record() and the checkpoints prove it. The value is one
  // line saying what was checked, or the check that failed.
  virtual std::optional<Result<std::string>> prove_report(std::uint64_t order, const Report& report,
                                                          const CvmId& cvm) {
    (void)order, (void)report, (void)cvm;
    return std::nullopt;
  }

  // The offline proof of order `order`'s report, for a backend whose proofs
  // are blocks (ledger/evm/bundle.h); nullopt where the checkpoints prove it.
  virtual std::optional<Result<nlohmann::json>> report_bundle(std::uint64_t order) {
    (void)order;
    return std::nullopt;
  }

  // Record `index` with its proof to the latest checkpoint, or to the tree of
  // `size` records (index < size <= the checkpoint's size); nullopt when no
  // checkpoint covers the record yet.
  virtual Result<std::optional<RecordProof>> record(std::uint64_t index,
                                                    std::optional<std::uint64_t> size) = 0;
  // The newest signed checkpoint (C2SP signed note text).
  virtual Result<std::string> checkpoint() = 0;
  // Proof that the tree of `new_size` records extends that of `old_size`
  // (0 < old_size <= new_size <= the ledger's size).
  virtual Result<std::vector<Hash>> consistency_proof(std::uint64_t old_size, std::uint64_t new_size) = 0;
  // Records from index `first` on, at most kMaxFeedRecords; when there are
  // none yet, waits up to `wait` (capped at kMaxFeedWait) for one.
  virtual Result<FeedPage> records_after(std::uint64_t first, std::chrono::seconds wait) = 0;
};

// `http://host:port` (a `ward ledger serve`), `evm+http://host:port#0xCONTRACT`
// (the WardLedger contract on an EVM chain, ledger/evm/client.h) or the path
// of a ledger file.
Result<std::unique_ptr<LedgerClient>> open_client(std::string_view target);

// A client over a ledger the caller keeps open (the server's backend).
std::unique_ptr<LedgerClient> borrow_client(Ledger& ledger);

// Checks a ledger through its API alone, from its records and its latest
// checkpoint: the checkpoint's signature by `verifier` (and its origin), then
// every record it covers as Ledger::verify() checks them (RecordReplay:
// index, signature, leaf hash, accepted on replay), then its root against the
// tree rebuilt from those records, and conservation of tokens. It cannot see
// the server's stored tree, state or older checkpoints: Ledger::verify() on
// the file does. A failed check is a report with ok == false; Errors are
// failures to reach the ledger or answers that are not what the API documents.
Result<VerifyReport> verify_through_api(LedgerClient& client, const NoteVerifier& verifier);

// The nonce the account's next transaction needs: its last accepted nonce + 1,
// or 1 for a key that has no account yet.
Result<std::uint64_t> next_nonce(LedgerClient& client, const AccountId& account);

// Submits an envelope; a refusal becomes the Error "ledger.rejected" whose
// message is "rejected (<reason>): <message>".
Result<Receipt> submit_accepted(LedgerClient& client, std::string_view envelope);

// client.submit_as(key, type, args), with a refusal as the Error
// "ledger.rejected" of submit_accepted().
Result<Receipt> submit_signed(LedgerClient& client, const keys::PartyKey& key, std::string_view type,
                              nlohmann::json args);

}  // namespace ward::ledger
