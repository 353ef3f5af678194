// A blob streamed out of a store as an age::Reader: the store's transfer runs
// on its own thread, hashing the ciphertext as it arrives, while the reader's
// caller decrypts (and hashes the plaintext) on its own: fetching, checking
// and decrypting are one pass over the bytes, with no copy of the ciphertext
// on disk. Internal to src/files.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>

#include "age/stream.h"
#include "base/bytes.h"
#include "base/error.h"
#include "store/store.h"

namespace ward::files::detail {

class BlobReader final : public age::Reader {
 public:
  // Streams blob `digest` of `store`, which must be `size` bytes, leaving out
  // its first `skip` bytes (they are hashed all the same). The end of input
  // is reported only once the whole blob arrived, was `size` bytes and
  // hashed to `digest`; otherwise the last read fails with the store's error
  // ("store.digest", "store.http", ...) or "files.ciphertext" (another size).
  // REQUIRES: `store` outlives the reader.
  BlobReader(store::Store& store, const crypto::Sha256Digest& digest, std::uint64_t size, std::uint64_t skip);
  ~BlobReader() override;  // stops the transfer if it is still running
  BlobReader(const BlobReader&) = delete;
  BlobReader& operator=(const BlobReader&) = delete;

  Result<std::size_t> read(std::span<std::uint8_t> out) override;

 private:
  Result<void> push(ByteView chunk);
  void run(store::Store& store, const crypto::Sha256Digest& digest);

  const std::uint64_t size_;
  std::uint64_t skip_;
  const std::uint64_t to_deliver_;  // size_ less the bytes skipped
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Bytes> queue_;
  std::size_t queued_ = 0;                          // bytes in queue_
  std::size_t front_used_ = 0;                      // bytes of queue_.front() already read
  std::uint64_t delivered_ = 0;                     // bytes read() has returned
  bool stopping_ = false;                           // the reader is gone: the transfer must end
  std::optional<Result<store::BlobInfo>> outcome_;  // set when the transfer ended
  std::thread thread_;
};

}  // namespace ward::files::detail
