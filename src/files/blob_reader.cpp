#include "files/blob_reader.h"

#include <algorithm>
#include <utility>

namespace ward::files::detail {
namespace {

// What may wait between the transfer and the decryption: enough to keep
// both busy, little enough to bound memory.
constexpr std::size_t kMaxQueued = std::size_t{8} << 20;
// Small network reads are gathered into chunks of about this size.
constexpr std::size_t kGather = std::size_t{1} << 20;

}  // namespace

BlobReader::BlobReader(store::Store& store, const crypto::Sha256Digest& digest, std::uint64_t size,
                       std::uint64_t skip)
    : size_(size), skip_(skip), to_deliver_(size > skip ? size - skip : 0) {
  thread_ = std::thread([this, &store, digest] { run(store, digest); });
}

BlobReader::~BlobReader() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

void BlobReader::run(store::Store& store, const crypto::Sha256Digest& digest) {
  // One byte over the expected size is enough to know the blob is too large.
  auto result = store.get_stream(digest, size_ + 1, [this](ByteView chunk) { return push(chunk); });
  {
    std::lock_guard lock(mutex_);
    outcome_ = std::move(result);
  }
  changed_.notify_all();
}

Result<void> BlobReader::push(ByteView chunk) {
  if (skip_ > 0) {
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(skip_, chunk.size()));
    skip_ -= n;
    chunk = chunk.subspan(n);
  }
  if (chunk.empty()) return {};
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [this] { return stopping_ || queued_ < kMaxQueued; });
  if (stopping_) return fail("files.stopped", "the reader stopped the transfer");
  if (!queue_.empty() && queue_.back().size() + chunk.size() <= kGather) {
    queue_.back().insert(queue_.back().end(), chunk.begin(), chunk.end());
  } else {
    queue_.emplace_back(chunk.begin(), chunk.end());
  }
  queued_ += chunk.size();
  lock.unlock();
  changed_.notify_all();
  return {};
}

// The blob's last byte is held back until the transfer has ended and the
// blob proved whole and genuine: age cannot authenticate the final chunk, so
// cannot succeed, on bytes that turn out to be another blob's.
Result<std::size_t> BlobReader::read(std::span<std::uint8_t> out) {
  std::size_t done = 0;
  std::unique_lock lock(mutex_);
  while (done < out.size()) {
    changed_.wait(lock,
                  [this] { return outcome_.has_value() || (queued_ > 0 && delivered_ + 1 < to_deliver_); });
    if (outcome_) {
      const auto& outcome = *outcome_;
      if (!outcome) {
        if (outcome.error().code == "store.too_large")
          return fail("files.ciphertext", "the stored ciphertext is larger than the " +
                                              std::to_string(size_) + " bytes its descriptor says");
        return std::unexpected(outcome.error());
      }
      if (outcome->size != size_)
        return fail("files.ciphertext", "the ciphertext is " + std::to_string(outcome->size) +
                                            " bytes, the descriptor says " + std::to_string(size_));
      if (queue_.empty()) break;
    }
    Bytes& front = queue_.front();
    std::size_t n = std::min(out.size() - done, front.size() - front_used_);
    if (!outcome_) n = static_cast<std::size_t>(std::min<std::uint64_t>(n, to_deliver_ - 1 - delivered_));
    std::copy_n(front.begin() + static_cast<std::ptrdiff_t>(front_used_), n,
                out.begin() + static_cast<std::ptrdiff_t>(done));
    done += n;
    delivered_ += n;
    front_used_ += n;
    queued_ -= n;
    if (front_used_ == front.size()) {
      queue_.pop_front();
      front_used_ = 0;
      changed_.notify_all();
    }
  }
  return done;
}

}  // namespace ward::files::detail
