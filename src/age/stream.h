// Whole-file encryption and decryption: header, nonce, and the STREAM payload
// (64 KiB ChaCha20-Poly1305 chunks), processed in parallel across cores and
// written strictly in order with bounded memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>

#include "age/recipients.h"
#include "base/bytes.h"
#include "base/error.h"

namespace ward::age {

inline constexpr std::size_t kChunkSize = 64 * 1024;
inline constexpr std::size_t kTagSize = 16;
inline constexpr std::size_t kNonceSize = 16;
// Chunks per batch: enough that reads and writes are few and large, few
// enough that the buffers stay in cache and memory is bounded.
inline constexpr std::size_t kBatchChunks = 16;

// A byte source. read() fills `out` completely unless the input ends first;
// it returns the number of bytes read, 0 only at end of input.
class Reader {
 public:
  virtual ~Reader() = default;
  virtual Result<std::size_t> read(std::span<std::uint8_t> out) = 0;
};

class Writer {
 public:
  virtual ~Writer() = default;
  virtual Result<void> write(ByteView data) = 0;
};

class FdReader final : public Reader {
 public:
  explicit FdReader(int fd) : fd_(fd) {}
  Result<std::size_t> read(std::span<std::uint8_t> out) override;

 private:
  int fd_;
};

class FdWriter final : public Writer {
 public:
  explicit FdWriter(int fd) : fd_(fd) {}
  Result<void> write(ByteView data) override;

 private:
  int fd_;
};

class BytesReader final : public Reader {
 public:
  explicit BytesReader(ByteView data) : data_(data) {}
  Result<std::size_t> read(std::span<std::uint8_t> out) override;

 private:
  ByteView data_;
};

class BytesWriter final : public Writer {
 public:
  Result<void> write(ByteView data) override;
  Bytes& bytes() { return bytes_; }

 private:
  Bytes bytes_;
};

struct StreamOptions {
  // Worker threads for the payload; 0 means one per available core.
  unsigned threads = 0;
};

struct EncryptOptions : StreamOptions {
  bool armor = false;
};

// Encrypts all of `in` to `recipients`. REQUIRES: at least one recipient; an
// scrypt recipient must be the only one ("age.usage" otherwise).
Result<void> encrypt(Reader& in, Writer& out, std::span<const Recipient* const> recipients,
                     const EncryptOptions& options = {});

struct DecryptOptions : StreamOptions {
  // Asked for a passphrase only when the header holds an scrypt stanza, so a
  // user is prompted only for files that need one. Unset: such files fail
  // with "age.no_match".
  std::function<Result<crypto::SecretBytes>()> ask_passphrase;
  // decrypt_file only: the caller discards the output when decryption fails
  // (AtomicFile does), so a regular output file may be written out of order.
  bool discard_output_on_error = false;
};

// Decrypts `in` (binary or ASCII-armored, detected automatically). Plaintext is
// released to `out` in order and only once each chunk has authenticated; on an
// error, `out` has received exactly the chunks before the failing one.
// Error codes: "age.armor", "age.header", "age.no_match", "age.hmac",
// "age.payload", or an I/O code from `in`/`out`.
Result<void> decrypt(Reader& in, Writer& out, std::span<const Identity* const> identities,
                     const DecryptOptions& options = {});

// The same for file descriptors. When the input is a regular file (and not
// armored), worker threads read their own batches of it with pread() and
// seal or open them in parallel. Their output goes either
// - to its final offset with pwrite(), in any order: when the output is a
//   regular file (not opened for appending) and, for decrypt_file,
//   `discard_output_on_error` is set; an error then leaves the output's
//   content unspecified, so callers write to a temporary file and discard it
//   on error (AtomicFile), as `ward -o FILE` does;
// - or from the calling thread, strictly in order, with at most two batches
//   per worker in flight (pipes, /dev/null, sockets, other files): then
//   decrypt_file releases plaintext exactly as decrypt() does.
// Any other input is streamed as above. An output pipe's buffer is grown to
// 1 MiB where the kernel allows, so that writer and reader run side by side.
Result<void> encrypt_file(int in_fd, int out_fd, std::span<const Recipient* const> recipients,
                          const EncryptOptions& options = {});
Result<void> decrypt_file(int in_fd, int out_fd, std::span<const Identity* const> identities,
                          const DecryptOptions& options = {});

}  // namespace ward::age
