#include "ledger/ledger.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <semaphore>
#include <thread>

#include "crypto/random.h"
#include "ledger/checkpoint.h"
#include "ledger/contract.h"
#include "ledger/parallel.h"
#include "ledger/replay.h"

namespace ward::ledger {
namespace {

using json = nlohmann::json;

// A batch larger than this gains nothing from amortising the fsync and only
// delays its first callers.
constexpr std::size_t kMaxBatch = 4096;
// Records parsed per step of verify(), in parallel.
constexpr std::size_t kVerifyChunk = 4096;

std::uint64_t unix_now() {
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  return static_cast<std::uint64_t>(
      std::max<std::int64_t>(0, std::chrono::duration_cast<std::chrono::seconds>(now).count()));
}

std::string origin_for(const LedgerId& id) {
  return "ward-ledger/" + hex_encode(id).substr(0, 16);
}

}  // namespace

json to_json(const Receipt& r) {
  if (r.rejection)
    return {{"accepted", false}, {"reason", r.rejection->reason}, {"message", r.rejection->message}};
  return {{"accepted", true}, {"index", r.index}, {"leaf", hex_encode(r.leaf)}, {"checkpoint", r.checkpoint}};
}

json to_json(const VerifyReport& r) {
  return {{"ok", r.ok}, {"records", r.records}, {"checkpoints", r.checkpoints}, {"problem", r.problem}};
}

json to_json(const StoredRecord& r) {
  return {{"index", r.index},
          {"time", r.time},
          {"leaf", hex_encode(r.leaf)},
          {"record", json::parse(r.bytes, nullptr, false)}};
}

struct Ledger::Impl {
  // One caller's transactions: the writer wakes that caller alone once the
  // last of them is done, rather than every waiting thread on each commit.
  struct Waiter {
    explicit Waiter(std::size_t n) : remaining(n) {}
    std::atomic<std::size_t> remaining;
    std::binary_semaphore ready{0};
  };
  struct Pending {
    SignedTx stx;
    Result<Receipt> result;
    Waiter* waiter = nullptr;
  };

  std::filesystem::path path;
  LedgerInfo info;
  std::string origin;
  NoteSigner signer;

  // The writer thread's alone.
  Store writer_store;
  std::optional<MerkleLog> log;
  std::uint64_t last_time = 0;

  mutable std::mutex reader_mu;
  mutable Store reader_store;
  // The readers' view of the tree, reopened only when the committed size
  // has moved: opening rebuilds the right edge, which costs more than a proof.
  mutable std::optional<MerkleLog> reader_log;

  mutable std::mutex mu;
  std::condition_variable writer_cv;
  mutable std::condition_variable committed_cv;  // for wait_for_records
  std::deque<Pending*> queue;
  bool stopping = false;
  std::string latest_note;  // guarded by mu
  std::atomic<std::uint64_t> committed{0};
  std::thread writer;
  // Verification is CPU-bound: with more threads verifying than cores, the
  // scheduler starves the writer and batches stall, so callers take turns.
  std::counting_semaphore<> verify_slots{std::max(1u, std::thread::hardware_concurrency())};

  Impl(std::filesystem::path p, LedgerInfo i, NoteSigner s, Store w, Store r)
      : path(std::move(p)),
        info(i),
        origin(origin_for(i.id)),
        signer(std::move(s)),
        writer_store(std::move(w)),
        reader_store(std::move(r)) {}

  ~Impl() {
    {
      std::lock_guard lock(mu);
      stopping = true;
    }
    writer_cv.notify_all();
    if (writer.joinable()) writer.join();
  }

  Result<std::string> sign_checkpoint(std::uint64_t size, const Hash& root) const {
    return sign_note(encode_checkpoint(Checkpoint{origin, size, root, {}}), signer);
  }

  void start() {
    writer = std::thread([this] { run_writer(); });
  }

  void run_writer() {
    for (;;) {
      std::vector<Pending*> batch;
      {
        std::unique_lock lock(mu);
        writer_cv.wait(lock, [&] { return stopping || !queue.empty(); });
        if (queue.empty()) return;
        while (!queue.empty() && batch.size() < kMaxBatch) {
          batch.push_back(queue.front());
          queue.pop_front();
        }
      }
      std::string note;
      if (auto ok = commit_batch(batch, note); !ok) {
        for (Pending* p : batch) p->result = std::unexpected(ok.error());
        writer_store.rollback();
        // The log's in-memory edge may be ahead of the rolled-back tiles.
        auto reopened = MerkleLog::open(writer_store.tiles(), committed.load());
        if (reopened) log = std::move(*reopened);
      }
      {
        std::lock_guard lock(mu);
        if (!note.empty()) latest_note = note;
      }
      committed_cv.notify_all();
      // After its waiter is released a caller may free its items: touch none
      // of a group after the decrement that completes it.
      for (Pending* p : batch) {
        if (p->waiter->remaining.fetch_sub(1, std::memory_order_acq_rel) == 1) p->waiter->ready.release();
      }
    }
  }

  // Applies the batch and commits it durably; on success `note` is the new
  // checkpoint and every accepted receipt carries it.
  Result<void> commit_batch(const std::vector<Pending*>& batch, std::string& note) {
    const std::uint64_t time = std::max(last_time, unix_now());
    if (auto ok = writer_store.begin_write(); !ok) return ok;
    // Another process writing the same file would make the log's edge stale.
    auto meta = writer_store.meta();
    if (!meta) return std::unexpected(meta.error());
    if (meta->size != committed.load()) return fail("ledger.store", "another process is writing this ledger");
    std::uint64_t next = committed.load();
    std::vector<Hash> leaves;
    std::vector<Pending*> accepted;
    for (Pending* p : batch) {
      Record record{next, time, std::move(p->stx)};
      auto applied = apply(writer_store.state(), record);
      if (auto ok = writer_store.take_state_error(); !ok) return ok;
      if (!applied) {
        p->result = Receipt{std::move(applied.error()), 0, {}, {}};
        continue;
      }
      StoredRecord stored{next, time, {}, record_bytes(record)};
      stored.leaf = leaf_hash(as_bytes(stored.bytes));
      if (auto ok = writer_store.insert_record(stored); !ok) return ok;
      leaves.push_back(stored.leaf);
      p->result = Receipt{std::nullopt, next, stored.leaf, {}};
      accepted.push_back(p);
      ++next;
    }
    if (leaves.empty()) {
      writer_store.rollback();
      return {};
    }
    if (auto ok = log->append(leaves); !ok) return ok;
    auto root = log->root();
    if (!root) return std::unexpected(root.error());
    auto signed_note = sign_checkpoint(next, *root);
    if (!signed_note) return std::unexpected(signed_note.error());
    if (auto ok = writer_store.insert_checkpoint({next, *signed_note}); !ok) return ok;
    if (auto ok = writer_store.set_progress(next, time); !ok) return ok;
    if (auto ok = writer_store.end(); !ok) return ok;
    committed.store(next);
    last_time = time;
    note = *signed_note;
    for (Pending* p : accepted) p->result->checkpoint = note;
    return {};
  }

  void enqueue_and_wait(std::span<Pending> items) {
    if (items.empty()) return;
    Waiter waiter(items.size());
    {
      std::lock_guard lock(mu);
      for (auto& p : items) {
        p.waiter = &waiter;
        queue.push_back(&p);
      }
    }
    writer_cv.notify_one();
    waiter.ready.acquire();
  }

  // Runs f on the reader connection inside one read transaction, so the log
  // size and tiles it reads belong to the same committed state.
  template <class F>
  auto read(F f) const -> decltype(f(reader_store)) {
    std::lock_guard lock(reader_mu);
    if (auto ok = reader_store.begin_read(); !ok) return std::unexpected(ok.error());
    auto result = f(reader_store);
    reader_store.rollback();
    return result;
  }

  // Runs `f` on the readers' tree at the committed size, inside read().
  template <class F>
  auto with_log(Store& s, F f) const -> decltype(f(*reader_log)) {
    auto meta = s.meta();
    if (!meta) return std::unexpected(meta.error());
    if (!reader_log || reader_log->size() != meta->size) {
      auto opened = MerkleLog::open(s.tiles(), meta->size);
      if (!opened) return std::unexpected(opened.error());
      reader_log.emplace(std::move(*opened));
    }
    return f(*reader_log);
  }

  static Result<std::unique_ptr<Impl>> make(const std::filesystem::path& path, Store writer) {
    auto meta = writer.meta();
    if (!meta) return std::unexpected(meta.error());
    auto key = crypto::Ed25519PrivateKey::from_seed(crypto::view(meta->seed));
    if (!key) return fail(key.error(), "the ledger's signing seed");
    auto reader = Store::open(path);
    if (!reader) return std::unexpected(reader.error());
    auto impl =
        std::make_unique<Impl>(path, meta->info, NoteSigner{origin_for(meta->info.id), std::move(*key)},
                               std::move(writer), std::move(*reader));
    auto log = MerkleLog::open(impl->writer_store.tiles(), meta->size);
    if (!log) return fail(log.error(), "opening the log of " + path.string());
    impl->log = std::move(*log);
    impl->committed = meta->size;
    impl->last_time = meta->last_time;
    return impl;
  }
};

Ledger::Ledger(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Ledger::Ledger(Ledger&&) noexcept = default;
Ledger& Ledger::operator=(Ledger&&) noexcept = default;
Ledger::~Ledger() = default;

Result<Ledger> Ledger::init(const std::filesystem::path& path, bool dev) {
  LedgerInfo info;
  info.dev = dev;
  crypto::random_fill(info.id);
  crypto::SecretBytes seed(32);
  crypto::random_fill(seed);
  auto store = Store::create(path, info, seed);
  if (!store) return std::unexpected(store.error());
  auto impl = Impl::make(path, std::move(*store));
  if (!impl) return std::unexpected(impl.error());
  Impl& l = **impl;
  // The empty log's checkpoint, so a ledger always has one to show.
  auto root = l.log->root();
  if (!root) return std::unexpected(root.error());
  auto note = l.sign_checkpoint(0, *root);
  if (!note) return std::unexpected(note.error());
  auto ok = l.writer_store.begin_write();
  if (ok) ok = l.writer_store.insert_checkpoint({0, *note});
  if (ok) ok = l.writer_store.end();
  if (!ok) return fail(ok.error(), "initialising " + path.string());
  l.latest_note = *note;
  l.start();
  return Ledger(std::move(*impl));
}

Result<Ledger> Ledger::open(const std::filesystem::path& path) {
  auto store = Store::open(path);
  if (!store) return std::unexpected(store.error());
  auto latest = store->latest_checkpoint();
  if (!latest) return std::unexpected(latest.error());
  if (!*latest) return fail("ledger.store", path.string() + " has no checkpoint");
  auto impl = Impl::make(path, std::move(*store));
  if (!impl) return std::unexpected(impl.error());
  (*impl)->latest_note = (*latest)->note;
  (*impl)->start();
  return Ledger(std::move(*impl));
}

const LedgerInfo& Ledger::info() const {
  return impl_->info;
}

Result<Receipt> Ledger::submit(std::string_view envelope) {
  impl_->verify_slots.acquire();
  auto stx = parse_and_verify(envelope);
  impl_->verify_slots.release();
  if (!stx) return Receipt{std::move(stx.error()), 0, {}, {}};
  Impl::Pending pending{std::move(*stx), Receipt{}, nullptr};
  impl_->enqueue_and_wait(std::span(&pending, 1));
  return std::move(pending.result);
}

Result<std::vector<Receipt>> Ledger::submit_many(std::span<const std::string> envelopes) {
  std::vector<std::expected<SignedTx, Rejection>> parsed(envelopes.size());
  detail::parallel_for(envelopes.size(), 64,
                       [&](std::size_t i) { parsed[i] = parse_and_verify(envelopes[i]); });
  std::vector<Impl::Pending> pending;
  pending.reserve(envelopes.size());
  for (auto& p : parsed) {
    if (p) pending.push_back(Impl::Pending{std::move(*p), Receipt{}, nullptr});
  }
  impl_->enqueue_and_wait(pending);
  std::vector<Receipt> out;
  out.reserve(envelopes.size());
  auto next = pending.begin();
  for (auto& p : parsed) {
    if (!p) {
      out.push_back(Receipt{std::move(p.error()), 0, {}, {}});
      continue;
    }
    if (!next->result) return std::unexpected(next->result.error());
    out.push_back(std::move(*next->result));
    ++next;
  }
  return out;
}

std::uint64_t Ledger::size() const {
  return impl_->committed.load();
}

std::uint64_t Ledger::wait_for_records(std::uint64_t size, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(impl_->mu);
  impl_->committed_cv.wait_for(lock, timeout,
                               [&] { return impl_->committed.load() > size || impl_->stopping; });
  return impl_->committed.load();
}

namespace {
template <class T>
Result<std::optional<T>> state_get(Store& store, std::optional<T> value) {
  if (auto ok = store.take_state_error(); !ok) return std::unexpected(ok.error());
  return value;
}
}  // namespace

Result<std::optional<Account>> Ledger::account(const AccountId& id) const {
  return impl_->read([&](Store& s) { return state_get(s, s.state().account(id)); });
}
Result<std::vector<Offer>> Ledger::offers() const {
  return impl_->read([](Store& s) { return s.offers(); });
}
Result<std::optional<Offer>> Ledger::offer(std::uint64_t id) const {
  return impl_->read([&](Store& s) { return state_get(s, s.state().offer(id)); });
}
Result<std::vector<Order>> Ledger::orders(const OrderFilter& filter) const {
  return impl_->read([&](Store& s) { return s.orders(filter); });
}
Result<std::optional<Order>> Ledger::order(std::uint64_t id) const {
  return impl_->read([&](Store& s) { return state_get(s, s.state().order(id)); });
}
Result<std::optional<Report>> Ledger::report(std::uint64_t order) const {
  return impl_->read([&](Store& s) { return state_get(s, s.state().report(order)); });
}
Result<std::optional<Report>> Ledger::start_report(std::uint64_t order) const {
  return impl_->read([&](Store& s) { return state_get(s, s.state().start_report(order)); });
}
Result<std::optional<Grant>> Ledger::grant(const GrantId& id, const AccountId& owner) const {
  return impl_->read([&](Store& s) { return state_get(s, s.state().grant(id, owner)); });
}
Result<std::optional<Subscription>> Ledger::subscription(std::uint64_t order,
                                                         const AccountId& account) const {
  return impl_->read([&](Store& s) { return state_get(s, s.state().subscription(order, account)); });
}
Result<std::vector<Subscription>> Ledger::subscriptions(std::uint64_t order) const {
  return impl_->read([&](Store& s) -> Result<std::vector<Subscription>> {
    auto list = s.state().subscriptions(order);
    if (auto ok = s.take_state_error(); !ok) return std::unexpected(ok.error());
    return list;
  });
}
Result<std::vector<Cvm>> Ledger::cvms() const {
  return impl_->read([](Store& s) { return s.cvms(); });
}
Result<std::optional<Cvm>> Ledger::cvm(const CvmId& id) const {
  return impl_->read([&](Store& s) { return state_get(s, s.state().cvm(id)); });
}
Result<Totals> Ledger::totals() const {
  return impl_->read([](Store& s) -> Result<Totals> {
    const Totals t = s.state().totals();
    if (auto ok = s.take_state_error(); !ok) return std::unexpected(ok.error());
    return t;
  });
}

Result<std::optional<StoredRecord>> Ledger::record(std::uint64_t index) const {
  return impl_->read([&](Store& s) { return s.record(index); });
}
Result<std::vector<StoredRecord>> Ledger::records_from(std::uint64_t first, std::size_t max) const {
  return impl_->read([&](Store& s) { return s.records(first, max); });
}

std::string Ledger::latest_checkpoint() const {
  std::lock_guard lock(impl_->mu);
  return impl_->latest_note;
}
std::string Ledger::verifier_key() const {
  return ledger::verifier_key(impl_->origin, impl_->signer.key.public_key());
}
std::string Ledger::origin() const {
  return impl_->origin;
}

Result<std::vector<Hash>> Ledger::inclusion_proof(std::uint64_t index, std::uint64_t size) const {
  return impl_->read([&](Store& s) {
    return impl_->with_log(s, [&](MerkleLog& log) { return log.inclusion_proof(index, size); });
  });
}

Result<std::vector<Hash>> Ledger::consistency_proof(std::uint64_t old_size, std::uint64_t new_size) const {
  return impl_->read([&](Store& s) {
    return impl_->with_log(s, [&](MerkleLog& log) { return log.consistency_proof(old_size, new_size); });
  });
}

namespace {

// The checks of verify(), over one read snapshot of the file: the records
// replayed (RecordReplay), then what only the file holds: the stored tree,
// every checkpoint and the stored state.
class Verifier {
 public:
  Verifier(Store& store, RecordReplay replay, const std::string& origin, NoteVerifier key)
      : store_(store), replay_(std::move(replay)), origin_(origin), key_(std::move(key)) {}

  // Returns the first problem, or nullopt when every check passes.
  Result<std::optional<std::string>> run(VerifyReport& report) {
    auto meta = store_.meta();
    if (!meta) return std::unexpected(meta.error());
    const std::uint64_t size = meta->size;
    for (std::uint64_t first = 0; first < size; first += kVerifyChunk) {
      auto chunk = store_.records(first, kVerifyChunk);
      if (!chunk) return std::unexpected(chunk.error());
      if (auto problem = replay_.add(*chunk); !problem || *problem) return problem;
      if (chunk->size() != std::min<std::uint64_t>(kVerifyChunk, size - first)) {
        return std::optional<std::string>("records after " + std::to_string(first + chunk->size()) +
                                          " are missing");
      }
    }
    report.records = size;
    if (auto problem = check_tree(size, report); !problem || *problem) return problem;
    return check_state();
  }

 private:
  Result<std::optional<std::string>> check_tree(std::uint64_t size, VerifyReport& report) {
    auto stored_log = MerkleLog::open(store_.tiles(), size);
    if (!stored_log) return std::optional<std::string>("stored tree: " + stored_log.error().message);
    auto stored_root = stored_log->root();
    auto rebuilt_root = replay_.root_at(size);
    if (!stored_root || !rebuilt_root)
      return std::unexpected(stored_root ? rebuilt_root.error() : stored_root.error());
    if (*stored_root != *rebuilt_root) {
      return std::optional<std::string>(
          "the stored tree's root differs from the root recomputed from the records");
    }
    auto checkpoints = store_.checkpoints();
    if (!checkpoints) return std::unexpected(checkpoints.error());
    report.checkpoints = checkpoints->size();
    if (checkpoints->empty() || checkpoints->back().size != size) {
      return std::optional<std::string>("no checkpoint covers the whole log of " + std::to_string(size) +
                                        " records");
    }
    std::optional<Checkpoint> previous;
    const std::vector<NoteVerifier> verifiers{key_};
    for (const auto& stored : *checkpoints) {
      const std::string at = "checkpoint at size " + std::to_string(stored.size) + ": ";
      auto body = open_note(stored.note, verifiers);
      if (!body) return std::optional<std::string>(at + body.error().message);
      auto cp = parse_checkpoint(*body);
      if (!cp) return std::optional<std::string>(at + cp.error().message);
      if (cp->origin != origin_ || cp->size != stored.size) {
        return std::optional<std::string>(at + "origin or size does not match");
      }
      if (auto problem = replay_.check_checkpoint(*cp); !problem || *problem) return problem;
      if (previous && previous->size > 0) {
        auto proof = stored_log->consistency_proof(previous->size, cp->size);
        if (!proof) return std::optional<std::string>(at + proof.error().message);
        if (auto ok = verify_consistency(previous->size, cp->size, previous->root, cp->root, *proof); !ok) {
          return std::optional<std::string>(
              at + "not consistent with the checkpoint before it: " + ok.error().message);
        }
      }
      previous = std::move(*cp);
    }
    return std::optional<std::string>();
  }

  Result<std::optional<std::string>> check_state() {
    auto stored = store_.snapshot();
    if (!stored) return std::unexpected(stored.error());
    if (auto d = first_difference(*stored, replay_.state()))
      return std::optional<std::string>("state: " + *d);
    return replay_.check_supply();
  }

  Store& store_;
  RecordReplay replay_;
  std::string origin_;
  NoteVerifier key_;
};

}  // namespace

Result<VerifyReport> Ledger::verify() const {
  // Its own connection: a long check must not hold up queries.
  auto store = Store::open(impl_->path);
  if (!store) return std::unexpected(store.error());
  auto key = parse_verifier_key(verifier_key());
  if (!key) return std::unexpected(key.error());
  if (auto ok = store->begin_read(); !ok) return std::unexpected(ok.error());
  auto replay = RecordReplay::start(impl_->info);
  if (!replay) return std::unexpected(replay.error());
  VerifyReport report;
  Verifier verifier(*store, std::move(*replay), impl_->origin, *key);
  auto problem = verifier.run(report);
  store->rollback();
  if (!problem) return std::unexpected(problem.error());
  report.ok = !*problem;
  if (*problem) report.problem = **problem;
  return report;
}

}  // namespace ward::ledger
