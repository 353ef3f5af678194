#include "age/stream.h"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <mutex>
#include <sys/stat.h>
#include <thread>

#include "age/armor.h"
#include "base/file.h"
#include "crypto/aead.h"
#include "crypto/hash.h"
#include "crypto/random.h"

namespace ward::age {
namespace {

constexpr std::size_t kSealedChunkSize = kChunkSize + kTagSize;
constexpr std::size_t kMaxLeadingWhitespace = 1024;
// Positional workers use smaller batches than the streaming pipeline: a
// worker's input and output buffers then stay inside its core's L2 cache.
constexpr std::size_t kFileBatchChunks = 4;

using Nonce = std::array<std::uint8_t, crypto::kAeadNonceSize>;

// STREAM nonce: an 11-byte big-endian chunk counter, then 1 for the final chunk.
Nonce chunk_nonce(std::uint64_t counter, bool last) {
  Nonce n{};
  for (int i = 10; i >= 3; --i, counter >>= 8)
    n[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(counter);
  n[11] = last ? 1 : 0;
  return n;
}

unsigned default_threads() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1u, std::thread::hardware_concurrency());
}

// Runs one job over a range of chunk indices on a fixed set of threads, each
// with its own keyed AEAD context. start() returns at once so the caller can
// do I/O while the workers run; wait() returns the lowest failed index.
class ChunkPool {
 public:
  using Job = std::function<bool(crypto::Aead&, std::size_t)>;

  ChunkPool(unsigned threads, ByteView key) {
    for (unsigned i = 0; i < threads; ++i) {
      aeads_.push_back(crypto::Aead::create(crypto::AeadAlg::ChaCha20Poly1305, key).value());
    }
    for (unsigned i = 0; i < threads; ++i) workers_.emplace_back([this, i] { run(aeads_[i]); });
  }
  ChunkPool(const ChunkPool&) = delete;
  ChunkPool& operator=(const ChunkPool&) = delete;
  ~ChunkPool() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    wake_.notify_all();
    for (std::thread& t : workers_) t.join();
  }

  void start(Job job, std::size_t count) {
    std::lock_guard lock(mu_);
    job_ = std::move(job);
    count_ = count;
    next_.store(0);
    first_failure_.store(kNone);
    busy_ = static_cast<unsigned>(workers_.size());
    ++generation_;
    wake_.notify_all();
  }

  // Returns the index of the first chunk whose job failed, or kNone.
  std::size_t wait() {
    std::unique_lock lock(mu_);
    done_.wait(lock, [this] { return busy_ == 0; });
    return first_failure_.load();
  }

  static constexpr std::size_t kNone = static_cast<std::size_t>(-1);

 private:
  void run(crypto::Aead& aead) {
    std::uint64_t seen = 0;
    for (;;) {
      {
        std::unique_lock lock(mu_);
        wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
        if (stop_) return;
        seen = generation_;
      }
      for (std::size_t i = next_.fetch_add(1); i < count_; i = next_.fetch_add(1)) {
        if (job_(aead, i)) continue;
        std::size_t prev = first_failure_.load();
        while (i < prev && !first_failure_.compare_exchange_weak(prev, i)) {
        }
      }
      std::lock_guard lock(mu_);
      if (--busy_ == 0) done_.notify_one();
    }
  }

  std::vector<crypto::Aead> aeads_;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable wake_, done_;
  Job job_;
  std::size_t count_ = 0;
  std::atomic<std::size_t> next_{0};
  std::atomic<std::size_t> first_failure_{kNone};
  unsigned busy_ = 0;
  std::uint64_t generation_ = 0;
  bool stop_ = false;
};

// A batch of consecutive chunks: input read in one go, output written in one go.
struct Batch {
  crypto::SecretBytes in;
  crypto::SecretBytes out;
  std::uint64_t first_counter = 0;
  std::size_t chunks = 0;
  std::size_t last_size = 0;   // input size of the last chunk in this batch
  bool final = false;          // the input ends in this batch
  bool last_is_final = false;  // the last chunk carries the final-chunk flag
  std::size_t out_size = 0;
  // A malformed chunk at the end of the input: the chunks before it are still
  // processed and released, then this error is returned.
  std::optional<Error> tail_error;
};

// Fills `b.in` with up to `capacity` bytes plus one byte of lookahead, which
// tells whether more input follows. `carry` is the previous batch's lookahead.
Result<std::size_t> fill_batch(Reader& in, Batch& b, std::size_t capacity,
                               std::optional<std::uint8_t>& carry) {
  std::size_t have = 0;
  if (carry) b.in[have++] = *carry;
  auto got = in.read(std::span(b.in.data() + have, capacity + 1 - have));
  if (!got) return std::unexpected(got.error());
  std::size_t total = have + *got;
  b.final = total <= capacity;
  carry.reset();
  if (!b.final) {
    carry = b.in[capacity];
    total = capacity;
  }
  return total;
}

// Serves bytes already read (while sniffing the format or the header) before
// reading on from the underlying source.
class PrefixReader final : public Reader {
 public:
  PrefixReader(Bytes prefix, Reader& rest) : prefix_(std::move(prefix)), rest_(rest) {}
  Result<std::size_t> read(std::span<std::uint8_t> out) override {
    std::size_t n = std::min(out.size(), prefix_.size() - pos_);
    if (n > 0) std::memcpy(out.data(), prefix_.data() + pos_, n);
    pos_ += n;
    if (n == out.size()) return n;
    auto more = rest_.read(out.subspan(n));
    if (!more) return std::unexpected(more.error());
    return n + *more;
  }

 private:
  Bytes prefix_;
  std::size_t pos_ = 0;
  Reader& rest_;
};

crypto::SecretBytes payload_key(const FileKey& file_key, ByteView nonce) {
  return crypto::hkdf(crypto::HashAlg::Sha256, view(file_key), nonce, as_bytes("payload"), 32).value();
}

// Sizes both batches of a pipeline: `in_size` bytes of input plus the byte of
// lookahead, `out_size` of output.
void size_batches(Batch (&batches)[2], std::size_t in_size, std::size_t out_size) {
  for (Batch& b : batches) {
    b.in.resize(in_size + 1);
    b.out.resize(out_size);
  }
}

// Drives the two-batch pipeline: while the workers run `job` over the current
// batch, this thread writes the previous batch and reads the next. Output is
// written strictly in order; a batch whose job failed somewhere is handed to
// `on_failure` instead of being written. A batch's `tail_error`, or an error
// reading the batch after it, is returned once the batch itself is written.
template <class ReadNext, class Job, class OnFailure>
Result<void> run_pipeline(Batch (&batches)[2], ChunkPool& pool, Writer& out, ReadNext read_next, Job job,
                          OnFailure on_failure) {
  Batch* cur = &batches[0];
  Batch* prev = &batches[1];
  if (auto r = read_next(*cur); !r) return r;
  bool prev_pending = false;
  for (;;) {
    pool.start(job(*cur), cur->chunks);
    Result<void> io;
    if (prev_pending) io = out.write(ByteView(prev->out.data(), prev->out_size));
    std::optional<Error> read_error;
    if (io && !cur->final) {
      if (auto r = read_next(*prev); !r) read_error = r.error();
    }
    std::size_t failed = pool.wait();
    if (!io) return io;
    if (failed != ChunkPool::kNone) return std::unexpected(on_failure(*cur, failed));
    if (cur->final || read_error) {
      if (auto w = out.write(ByteView(cur->out.data(), cur->out_size)); !w) return w;
      if (cur->tail_error) return std::unexpected(*cur->tail_error);
      if (read_error) return std::unexpected(*read_error);
      return {};
    }
    std::swap(cur, prev);
    prev_pending = true;
  }
}

Result<void> encrypt_payload(Reader& in, Writer& out, ByteView key, unsigned threads) {
  ChunkPool pool(threads, key);
  const std::size_t capacity = kBatchChunks * kChunkSize;
  Batch batches[2];
  size_batches(batches, capacity, kBatchChunks * kSealedChunkSize);
  std::optional<std::uint8_t> carry;
  std::uint64_t counter = 0;

  auto read_next = [&](Batch& b) -> Result<void> {
    auto total = fill_batch(in, b, capacity, carry);
    if (!total) return std::unexpected(total.error());
    // An empty payload is one empty final chunk.
    b.chunks = std::max<std::size_t>(1, (*total + kChunkSize - 1) / kChunkSize);
    b.last_size = *total - (b.chunks - 1) * kChunkSize;
    b.last_is_final = b.final;
    b.first_counter = counter;
    b.out_size = *total + b.chunks * kTagSize;
    counter += b.chunks;
    return {};
  };
  auto seal_job = [](Batch& b) {
    return [&b](crypto::Aead& aead, std::size_t i) {
      bool last = b.last_is_final && i + 1 == b.chunks;
      std::size_t len = i + 1 == b.chunks ? b.last_size : kChunkSize;
      std::uint8_t* dst = b.out.data() + i * kSealedChunkSize;
      Nonce nonce = chunk_nonce(b.first_counter + i, last);
      return aead
          .seal(nonce, {}, ByteView(b.in.data() + i * kChunkSize, len), std::span(dst, len),
                std::span<std::uint8_t, kTagSize>(dst + len, kTagSize))
          .has_value();
    };
  };

  return run_pipeline(batches, pool, out, read_next, seal_job,
                      [](Batch&, std::size_t) { return Error("crypto.aead", "encrypting a chunk failed"); });
}

// Explains a chunk that failed to authenticate by trying the other value of
// the final-chunk flag, telling truncation and trailing data from tampering.
// A full-size chunk that authenticates that way is genuine (a final chunk
// followed by data, or a middle chunk with the rest cut off); as in age, its
// plaintext is released before the error: it is left in `plain` (room for a
// whole chunk) and counted in `released`.
struct ChunkFailure {
  Error error;
  std::size_t released = 0;
};

ChunkFailure chunk_failure(crypto::Aead& aead, std::uint64_t index, bool last, ByteView sealed,
                           std::span<std::uint8_t> plain) {
  const std::size_t size = sealed.size() - kTagSize;
  Nonce other = chunk_nonce(index, !last);
  bool other_ok =
      aead.open(other, {}, sealed.first(size), sealed.subspan(size), plain.first(size)).has_value();
  std::size_t released = other_ok && sealed.size() == kSealedChunkSize ? size : 0;
  if (other_ok && last)
    return {Error("age.payload", "the file is truncated: its final chunk is missing"), released};
  if (other_ok) return {Error("age.payload", "the file has data after its final chunk"), released};
  return {Error("age.payload", "chunk " + std::to_string(index) +
                                   " failed to authenticate: the file was modified, reordered or corrupted")};
}

// Checks the size of the stream's last chunk: it must hold a tag, and only a
// stream of one chunk may end with an empty one.
std::optional<Error> last_chunk_error(std::size_t sealed_size, std::uint64_t index) {
  if (sealed_size < kTagSize)
    return Error("age.payload", "the file is truncated: its last chunk is too short");
  if (sealed_size == kTagSize && index > 0)
    return Error("age.payload", "the final chunk is empty, which only an empty file may have");
  return std::nullopt;
}

Result<void> decrypt_payload(Reader& in, Writer& out, ByteView key, unsigned threads) {
  ChunkPool pool(threads, key);
  const std::size_t capacity = kBatchChunks * kSealedChunkSize;
  Batch batches[2];
  size_batches(batches, capacity, kBatchChunks * kChunkSize);
  std::optional<std::uint8_t> carry;
  std::uint64_t counter = 0;

  auto read_next = [&](Batch& b) -> Result<void> {
    auto total = fill_batch(in, b, capacity, carry);
    if (!total) return std::unexpected(total.error());
    if (*total == 0) return fail("age.payload", "the file is truncated: the payload has no chunks");
    b.chunks = (*total + kSealedChunkSize - 1) / kSealedChunkSize;
    b.last_size = *total - (b.chunks - 1) * kSealedChunkSize;
    b.last_is_final = b.final;
    b.tail_error.reset();
    // Only the input's last batch can hold a short or empty chunk.
    if (b.final) b.tail_error = last_chunk_error(b.last_size, counter + b.chunks - 1);
    if (b.tail_error) {
      // Drop the bad chunk; the ones before it are ordinary, non-final chunks.
      --b.chunks;
      b.last_size = kSealedChunkSize;
      b.last_is_final = false;
    }
    b.first_counter = counter;
    b.out_size = b.chunks * kChunkSize - (b.chunks > 0 ? kSealedChunkSize - b.last_size : 0);
    counter += b.chunks;
    return {};
  };
  auto open_job = [](Batch& b) {
    return [&b](crypto::Aead& aead, std::size_t i) {
      bool last = b.last_is_final && i + 1 == b.chunks;
      std::size_t sealed = i + 1 == b.chunks ? b.last_size : kSealedChunkSize;
      const std::uint8_t* src = b.in.data() + i * kSealedChunkSize;
      Nonce nonce = chunk_nonce(b.first_counter + i, last);
      return aead
          .open(nonce, {}, ByteView(src, sealed - kTagSize), ByteView(src + sealed - kTagSize, kTagSize),
                std::span(b.out.data() + i * kChunkSize, sealed - kTagSize))
          .has_value();
    };
  };

  // Release exactly the chunks that authenticated before the bad one, then
  // explain it.
  auto on_failure = [&](Batch& b, std::size_t failed) -> Error {
    auto aead = crypto::Aead::create(crypto::AeadAlg::ChaCha20Poly1305, key).value();
    bool last = b.last_is_final && failed + 1 == b.chunks;
    std::size_t sealed = failed + 1 == b.chunks ? b.last_size : kSealedChunkSize;
    ChunkFailure f = chunk_failure(aead, b.first_counter + failed, last,
                                   ByteView(b.in.data() + failed * kSealedChunkSize, sealed),
                                   std::span(b.out.data() + failed * kChunkSize, kChunkSize));
    if (auto w = out.write(ByteView(b.out.data(), failed * kChunkSize + f.released)); !w) return w.error();
    return f.error;
  };
  return run_pipeline(batches, pool, out, read_next, open_job, on_failure);
}

// Reads the header from `in`, growing the buffer until it is complete.
// Returns the header and the bytes read past it.
Result<std::pair<Header, Bytes>> read_header(Reader& in) {
  Bytes buf;
  std::size_t step = 4096;
  for (;;) {
    std::size_t old = buf.size();
    buf.resize(old + step);
    auto got = in.read(std::span(buf.data() + old, step));
    if (!got) return std::unexpected(got.error());
    buf.resize(old + *got);
    auto header = parse_header(buf);
    if (header) {
      Bytes rest(buf.begin() + static_cast<std::ptrdiff_t>(header->size), buf.end());
      return std::make_pair(std::move(*header), std::move(rest));
    }
    if (header.error().code != "age.incomplete") return std::unexpected(header.error());
    if (*got < step) {
      if (buf.empty()) return fail("age.header", "the input is empty, not an age file");
      return fail("age.header", "the file is truncated inside the age header");
    }
    step = std::min<std::size_t>(step * 2, 1 << 18);
  }
}

bool is_space(std::uint8_t c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

}  // namespace

Result<std::size_t> FdReader::read(std::span<std::uint8_t> out) {
  return read_full(fd_, out);
}

Result<void> FdWriter::write(ByteView data) {
  return write_all(fd_, data);
}

Result<std::size_t> BytesReader::read(std::span<std::uint8_t> out) {
  std::size_t n = std::min(out.size(), data_.size());
  if (n > 0) std::memcpy(out.data(), data_.data(), n);
  data_ = data_.subspan(n);
  return n;
}

Result<void> BytesWriter::write(ByteView data) {
  bytes_.insert(bytes_.end(), data.begin(), data.end());
  return {};
}

Result<void> encrypt(Reader& in, Writer& out, std::span<const Recipient* const> recipients,
                     const EncryptOptions& options) {
  FileKey file_key = generate_file_key();
  auto stanzas = wrap_file_key(file_key, recipients);
  if (!stanzas) return std::unexpected(stanzas.error());
  std::optional<ArmorWriter> armor;
  Writer* sink = &out;
  if (options.armor) sink = &armor.emplace(out);

  Bytes prefix = encode_header(*stanzas, file_key);
  Bytes nonce = crypto::random_bytes(kNonceSize);
  prefix.insert(prefix.end(), nonce.begin(), nonce.end());
  if (auto w = sink->write(prefix); !w) return w;
  crypto::SecretBytes key = payload_key(file_key, nonce);
  if (auto r = encrypt_payload(in, *sink, view(key), options.threads ? options.threads : default_threads());
      !r)
    return r;
  if (armor) return armor->finish();
  return {};
}

namespace {

// Reads the first bytes of `in` to tell an armored file (the armor line, after
// optional whitespace) from a binary one; returns the bytes read.
Result<std::pair<bool, Bytes>> sniff_armor(Reader& in) {
  Bytes sniff(kMaxLeadingWhitespace + kArmorBegin.size());
  auto got = in.read(sniff);
  if (!got) return std::unexpected(got.error());
  sniff.resize(*got);
  std::size_t skip = 0;
  while (skip < sniff.size() && is_space(sniff[skip])) ++skip;
  bool armored = as_chars(sniff).substr(skip).starts_with("-----BEGIN");
  return std::make_pair(armored, std::move(sniff));
}

// Unwraps the file key of `header`, asking for a passphrase only when the
// header needs one.
Result<FileKey> file_key_for(const Header& header, std::span<const Identity* const> identities,
                             const DecryptOptions& options) {
  std::vector<const Identity*> all(identities.begin(), identities.end());
  std::optional<ScryptIdentity> scrypt;
  if (needs_passphrase(header) && options.ask_passphrase) {
    auto passphrase = options.ask_passphrase();
    if (!passphrase) return std::unexpected(passphrase.error());
    all.push_back(&scrypt.emplace(std::move(*passphrase)));
  }
  return unwrap_file_key(header, all);
}

Result<void> decrypt_stream(Reader& source, Writer& out, std::span<const Identity* const> identities,
                            const DecryptOptions& options) {
  auto header = read_header(source);
  if (!header) return std::unexpected(header.error());
  auto file_key = file_key_for(header->first, identities, options);
  if (!file_key) return std::unexpected(file_key.error());
  PrefixReader payload(std::move(header->second), source);
  std::uint8_t nonce[kNonceSize];
  auto n = payload.read(nonce);
  if (!n) return std::unexpected(n.error());
  if (*n != kNonceSize) return fail("age.header", "the file is truncated: the payload nonce is missing");
  crypto::SecretBytes key = payload_key(*file_key, nonce);
  return decrypt_payload(payload, out, view(key), options.threads ? options.threads : default_threads());
}

// Reads a file at increasing offsets with pread(), leaving its offset alone.
class PreadReader final : public Reader {
 public:
  PreadReader(int fd, off_t offset) : fd_(fd), offset_(offset) {}
  Result<std::size_t> read(std::span<std::uint8_t> out) override {
    auto n = pread_full(fd_, out, offset_);
    if (n) offset_ += static_cast<off_t>(*n);
    return n;
  }

 private:
  int fd_;
  off_t offset_;
};

bool is_regular(int fd) {
  struct stat st;
  return ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
}

// Whether batches may be written at their offsets with pwrite(): a regular
// file not opened for appending (where pwrite() would append).
bool writes_at_offsets(int fd) {
  const int flags = ::fcntl(fd, F_GETFL);
  return is_regular(fd) && flags >= 0 && (flags & O_APPEND) == 0;
}

// A pipe's default 64 KiB buffer makes its writer and reader take turns
// every 64 KiB; with 1 MiB (the limit an unprivileged process may set by
// default), a batch goes in with one write while the reader drains the last.
// Best effort: the pipe keeps its size when the kernel refuses.
void widen_pipe(int fd) {
  constexpr int kPipeSize = 1 << 20;
  const int size = ::fcntl(fd, F_GETPIPE_SZ);
  if (size >= 0 && size < kPipeSize) ::fcntl(fd, F_SETPIPE_SZ, kPipeSize);
}

// What one batch of a file produced: `size` bytes at the start of its output
// buffer, which belong `offset` bytes into the output's payload; then, when
// `error` is set, the batch failed there.
struct BatchOutput {
  std::size_t size = 0;
  std::uint64_t offset = 0;
  std::optional<Error> error;
};
// Reads batch `batch` of the input into `in` and seals or opens it into `out`.
using BatchWork = std::function<BatchOutput(crypto::Aead&, std::span<std::uint8_t> in,
                                            std::span<std::uint8_t> out, std::uint64_t batch)>;

// Runs `work` for every batch on `threads` threads, each with its own AEAD
// context and buffers, and writes each batch at its offset from `base` with
// one pwrite(), so batches land in any order. Returns the error of the lowest
// failing batch (batches are taken in order, so every lower one has run by
// then). (Sealing straight into a shared mapping of the output was tried and
// was slower here: mapping and unmapping each window costs more than the copy
// it saves.)
Result<void> write_batches_at_offsets(int out_fd, off_t base, std::uint64_t batches, unsigned threads,
                                      ByteView key, std::size_t in_size, std::size_t out_size,
                                      const BatchWork& work) {
  std::atomic<std::uint64_t> next{0};
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::optional<std::pair<std::uint64_t, Error>> first_error;
  auto run = [&] {
    auto aead = crypto::Aead::create(crypto::AeadAlg::ChaCha20Poly1305, key).value();
    crypto::SecretBytes in(in_size), out(out_size);
    for (std::uint64_t b = next.fetch_add(1); b < batches && !stop.load(); b = next.fetch_add(1)) {
      BatchOutput result = work(aead, in, out, b);
      if (!result.error) {
        auto w =
            pwrite_all(out_fd, ByteView(out.data(), result.size), base + static_cast<off_t>(result.offset));
        if (!w) result.error = w.error();
      }
      if (result.error) {
        std::lock_guard lock(mu);
        if (!first_error || b < first_error->first) first_error.emplace(b, std::move(*result.error));
        stop.store(true);
      }
    }
  };
  std::vector<std::thread> pool;
  for (unsigned i = 1; i < threads; ++i) pool.emplace_back(run);
  run();
  for (std::thread& t : pool) t.join();
  if (first_error) return std::unexpected(std::move(first_error->second));
  return {};
}

// Runs `work` for every batch on `threads` worker threads while the calling
// thread writes their outputs to `out` strictly in order, stopping at the
// first failing batch after writing what it produced. At most two batches
// per worker are in flight, each with its own output buffer, so memory is
// bounded however far the writer falls behind.
Result<void> write_batches_in_order(Writer& out, std::uint64_t batches, unsigned threads, ByteView key,
                                    std::size_t in_size, std::size_t out_size, const BatchWork& work) {
  struct Slot {
    crypto::SecretBytes out;
    std::optional<BatchOutput> result;  // set once its batch is done
  };
  const std::uint64_t window = 2 * threads;
  std::vector<Slot> slots(window);
  for (Slot& slot : slots) slot.out.resize(out_size);
  std::mutex mu;
  std::condition_variable done, freed;
  std::uint64_t next = 0, written = 0;
  bool stop = false;
  auto run = [&] {
    auto aead = crypto::Aead::create(crypto::AeadAlg::ChaCha20Poly1305, key).value();
    crypto::SecretBytes in(in_size);
    for (;;) {
      std::uint64_t b;
      {
        std::unique_lock lock(mu);
        freed.wait(lock, [&] { return stop || next == batches || next < written + window; });
        if (stop || next == batches) return;
        b = next++;
      }
      Slot& slot = slots[b % window];
      BatchOutput result = work(aead, in, slot.out, b);
      {
        std::lock_guard lock(mu);
        slot.result = std::move(result);
      }
      done.notify_one();
    }
  };
  std::vector<std::thread> pool;
  for (unsigned i = 0; i < threads; ++i) pool.emplace_back(run);

  Result<void> status;
  for (std::uint64_t b = 0; b < batches && status; ++b) {
    Slot& slot = slots[b % window];
    BatchOutput result;
    {
      std::unique_lock lock(mu);
      done.wait(lock, [&] { return slot.result.has_value(); });
      result = std::move(*slot.result);
      slot.result.reset();
    }
    status = out.write(ByteView(slot.out.data(), result.size));
    if (status && result.error) status = std::unexpected(std::move(*result.error));
    {
      std::lock_guard lock(mu);
      ++written;
      stop = !status;
    }
    freed.notify_all();
  }
  for (std::thread& t : pool) t.join();
  return status;
}

}  // namespace

Result<void> decrypt(Reader& in, Writer& out, std::span<const Identity* const> identities,
                     const DecryptOptions& options) {
  auto sniffed = sniff_armor(in);
  if (!sniffed) return std::unexpected(sniffed.error());
  PrefixReader source(std::move(sniffed->second), in);
  if (!sniffed->first) return decrypt_stream(source, out, identities, options);
  ArmorReader armor(source);
  return decrypt_stream(armor, out, identities, options);
}

Result<void> encrypt_file(int in_fd, int out_fd, std::span<const Recipient* const> recipients,
                          const EncryptOptions& options) {
  widen_pipe(out_fd);
  if (options.armor || !is_regular(in_fd)) {
    FdReader in(in_fd);
    FdWriter out(out_fd);
    return encrypt(in, out, recipients, options);
  }
  const bool at_offsets = writes_at_offsets(out_fd);
  const off_t in_base = ::lseek(in_fd, 0, SEEK_CUR);
  const off_t out_base = at_offsets ? ::lseek(out_fd, 0, SEEK_CUR) : 0;
  struct stat st;
  if (in_base < 0 || out_base < 0 || ::fstat(in_fd, &st) != 0)
    return fail("io.read", "cannot inspect the input file");
  const std::uint64_t size = static_cast<std::uint64_t>(std::max<off_t>(0, st.st_size - in_base));

  FileKey file_key = generate_file_key();
  auto stanzas = wrap_file_key(file_key, recipients);
  if (!stanzas) return std::unexpected(stanzas.error());
  Bytes prefix = encode_header(*stanzas, file_key);
  Bytes nonce = crypto::random_bytes(kNonceSize);
  prefix.insert(prefix.end(), nonce.begin(), nonce.end());
  if (auto w = at_offsets ? pwrite_all(out_fd, prefix, out_base) : write_all(out_fd, prefix); !w) return w;
  crypto::SecretBytes key = payload_key(file_key, nonce);

  const std::uint64_t chunks = std::max<std::uint64_t>(1, (size + kChunkSize - 1) / kChunkSize);
  const std::uint64_t batches = (chunks + kFileBatchChunks - 1) / kFileBatchChunks;
  auto work = [&](crypto::Aead& aead, std::span<std::uint8_t> in, std::span<std::uint8_t> out,
                  std::uint64_t b) -> BatchOutput {
    const std::uint64_t first = b * kFileBatchChunks;
    const std::uint64_t count = std::min<std::uint64_t>(kFileBatchChunks, chunks - first);
    const std::uint64_t offset = first * kChunkSize;
    const std::size_t len =
        static_cast<std::size_t>(std::min<std::uint64_t>(count * kChunkSize, size - offset));
    auto got = pread_full(in_fd, in.first(len), in_base + static_cast<off_t>(offset));
    if (!got) return {.error = got.error()};
    if (*got != len) return {.error = Error("io.read", "the input file shrank while it was being encrypted")};
    for (std::uint64_t i = 0; i < count; ++i) {
      const std::size_t n = std::min<std::size_t>(kChunkSize, len - i * kChunkSize);
      std::uint8_t* dst = out.data() + i * kSealedChunkSize;
      Nonce nonce_i = chunk_nonce(first + i, first + i + 1 == chunks);
      if (!aead.seal(nonce_i, {}, ByteView(in.data() + i * kChunkSize, n), std::span(dst, n),
                     std::span<std::uint8_t, kTagSize>(dst + n, kTagSize)))
        return {.error = Error("crypto.aead", "encrypting a chunk failed")};
    }
    return {.size = len + count * kTagSize, .offset = first * kSealedChunkSize, .error = std::nullopt};
  };
  const unsigned threads = options.threads ? options.threads : default_threads();
  const std::size_t in_size = kFileBatchChunks * kChunkSize, out_size = kFileBatchChunks * kSealedChunkSize;
  const off_t payload_base = out_base + static_cast<off_t>(prefix.size());
  FdWriter writer(out_fd);
  if (auto r = at_offsets
                   ? write_batches_at_offsets(out_fd, payload_base, batches, threads, view(key), in_size,
                                              out_size, work)
                   : write_batches_in_order(writer, batches, threads, view(key), in_size, out_size, work);
      !r)
    return r;
  if (::fstat(in_fd, &st) != 0 || static_cast<std::uint64_t>(st.st_size - in_base) != size)
    return fail("io.read", "the input file changed size while it was being encrypted");
  const off_t end = payload_base + static_cast<off_t>(size + chunks * kTagSize);
  if (at_offsets && ::lseek(out_fd, end, SEEK_SET) != end)
    return fail("io.write", "cannot seek the output file");
  return {};
}

Result<void> decrypt_file(int in_fd, int out_fd, std::span<const Identity* const> identities,
                          const DecryptOptions& options) {
  widen_pipe(out_fd);
  if (!is_regular(in_fd)) {
    FdReader in(in_fd);
    FdWriter out(out_fd);
    return decrypt(in, out, identities, options);
  }
  const bool at_offsets = options.discard_output_on_error && writes_at_offsets(out_fd);
  const off_t in_base = ::lseek(in_fd, 0, SEEK_CUR);
  const off_t out_base = at_offsets ? ::lseek(out_fd, 0, SEEK_CUR) : 0;
  struct stat st;
  if (in_base < 0 || out_base < 0 || ::fstat(in_fd, &st) != 0)
    return fail("io.read", "cannot inspect the input file");
  PreadReader reader(in_fd, in_base);
  auto sniffed = sniff_armor(reader);
  if (!sniffed) return std::unexpected(sniffed.error());
  if (sniffed->first) {
    PreadReader again(in_fd, in_base);
    ArmorReader armor(again);
    FdWriter out(out_fd);
    return decrypt_stream(armor, out, identities, options);
  }
  PreadReader from_start(in_fd, in_base);
  auto header = read_header(from_start);
  if (!header) return std::unexpected(header.error());
  auto file_key = file_key_for(header->first, identities, options);
  if (!file_key) return std::unexpected(file_key.error());
  std::uint8_t nonce[kNonceSize];
  const off_t nonce_at = in_base + static_cast<off_t>(header->first.size);
  auto n = pread_full(in_fd, nonce, nonce_at);
  if (!n) return std::unexpected(n.error());
  if (*n != kNonceSize) return fail("age.header", "the file is truncated: the payload nonce is missing");
  crypto::SecretBytes key = payload_key(*file_key, nonce);

  const off_t payload_at = nonce_at + static_cast<off_t>(kNonceSize);
  std::uint64_t sealed_size = static_cast<std::uint64_t>(std::max<off_t>(0, st.st_size - payload_at));
  if (sealed_size == 0) return fail("age.payload", "the file is truncated: the payload has no chunks");
  std::uint64_t chunks = (sealed_size + kSealedChunkSize - 1) / kSealedChunkSize;
  // As when streaming, a malformed last chunk is reported after the chunks
  // before it, which are then ordinary, non-final chunks.
  const std::uint64_t last_size = sealed_size - (chunks - 1) * kSealedChunkSize;
  const std::optional<Error> tail_error = last_chunk_error(last_size, chunks - 1);
  if (tail_error) {
    --chunks;
    sealed_size -= last_size;
  }
  const std::uint64_t final_chunk = tail_error ? chunks : chunks - 1;
  const std::uint64_t batches = (chunks + kFileBatchChunks - 1) / kFileBatchChunks;
  auto work = [&](crypto::Aead& aead, std::span<std::uint8_t> in, std::span<std::uint8_t> out,
                  std::uint64_t b) -> BatchOutput {
    const std::uint64_t first = b * kFileBatchChunks;
    const std::uint64_t count = std::min<std::uint64_t>(kFileBatchChunks, chunks - first);
    const std::uint64_t offset = first * kSealedChunkSize;
    const std::size_t len =
        static_cast<std::size_t>(std::min<std::uint64_t>(count * kSealedChunkSize, sealed_size - offset));
    auto got = pread_full(in_fd, in.first(len), payload_at + static_cast<off_t>(offset));
    if (!got) return {.error = got.error()};
    if (*got != len) return {.error = Error("io.read", "the input file shrank while it was being decrypted")};
    for (std::uint64_t i = 0; i < count; ++i) {
      const std::size_t sealed = std::min<std::size_t>(kSealedChunkSize, len - i * kSealedChunkSize);
      const bool last = first + i == final_chunk;
      ByteView chunk(in.data() + i * kSealedChunkSize, sealed);
      std::span<std::uint8_t> plain = out.subspan(i * kChunkSize, kChunkSize);
      if (!aead.open(chunk_nonce(first + i, last), {}, chunk.first(sealed - kTagSize),
                     chunk.subspan(sealed - kTagSize), plain.first(sealed - kTagSize))) {
        ChunkFailure f = chunk_failure(aead, first + i, last, chunk, plain);
        return {
            .size = i * kChunkSize + f.released, .offset = first * kChunkSize, .error = std::move(f.error)};
      }
    }
    return {.size = len - count * kTagSize, .offset = first * kChunkSize, .error = std::nullopt};
  };
  const unsigned threads = options.threads ? options.threads : default_threads();
  const std::size_t in_size = kFileBatchChunks * kSealedChunkSize, out_size = kFileBatchChunks * kChunkSize;
  FdWriter writer(out_fd);
  if (auto r = at_offsets
                   ? write_batches_at_offsets(out_fd, out_base, batches, threads, view(key), in_size,
                                              out_size, work)
                   : write_batches_in_order(writer, batches, threads, view(key), in_size, out_size, work);
      !r)
    return r;
  if (tail_error) return std::unexpected(*tail_error);
  const off_t end = out_base + static_cast<off_t>(sealed_size - chunks * kTagSize);
  if (at_offsets && ::lseek(out_fd, end, SEEK_SET) != end)
    return fail("io.write", "cannot seek the output file");
  return {};
}

}  // namespace ward::age
