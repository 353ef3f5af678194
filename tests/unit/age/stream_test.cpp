#include "age/stream.h"

#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <thread>

#include "age/armor.h"
#include "base/file.h"
#include "crypto/random.h"

namespace ward::age {
namespace {

struct Sealed {
  Bytes file;
  X25519Identity identity = X25519Identity::generate();
};

Sealed seal(ByteView plaintext, unsigned threads = 0, bool armor = false) {
  Sealed s;
  X25519Recipient r = s.identity.recipient();
  const Recipient* rs[] = {&r};
  BytesReader in(plaintext);
  BytesWriter out;
  EncryptOptions opts;
  opts.threads = threads;
  opts.armor = armor;
  EXPECT_TRUE(encrypt(in, out, rs, opts));
  s.file = std::move(out.bytes());
  return s;
}

Result<Bytes> open(const Sealed& s, ByteView file, unsigned threads = 0, Bytes* released = nullptr) {
  const Identity* ids[] = {&s.identity};
  BytesReader in(file);
  BytesWriter out;
  DecryptOptions opts;
  opts.threads = threads;
  auto r = decrypt(in, out, ids, opts);
  if (released) *released = out.bytes();
  if (!r) return std::unexpected(r.error());
  return std::move(out.bytes());
}

std::size_t payload_start(const Bytes& file) { return parse_header(file).value().size + kNonceSize; }

// Sizes around chunk and batch boundaries, with 1 to 3 workers.
TEST(Stream, RoundTripsSizesAroundChunkAndBatchBoundaries) {
  const std::size_t batch = kBatchChunks * kChunkSize;
  for (std::size_t n : {std::size_t{0}, std::size_t{1}, kChunkSize - 1, kChunkSize, kChunkSize + 1, batch - 1, batch,
                        batch + 1, 2 * batch + kChunkSize + 3}) {
    Bytes data = crypto::random_bytes(n);
    for (unsigned threads : {1u, 3u}) {
      Sealed s = seal(data, threads);
      std::size_t chunks = n == 0 ? 1 : (n + kChunkSize - 1) / kChunkSize;
      EXPECT_EQ(s.file.size(), payload_start(s.file) + n + chunks * kTagSize) << n;
      auto back = open(s, s.file, 2);
      ASSERT_TRUE(back) << n << ": " << back.error().message;
      EXPECT_EQ(*back, data) << n;
    }
  }
}

TEST(Stream, ArmoredRoundTrip) {
  Bytes data = crypto::random_bytes(3 * kChunkSize + 5);
  Sealed s = seal(data, 0, /*armor=*/true);
  EXPECT_TRUE(as_chars(s.file).starts_with(kArmorBegin));
  auto back = open(s, s.file);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(*back, data);
}

TEST(Stream, ShouldRejectFlippedBitAndReleaseOnlyEarlierChunks) {
  Bytes data = crypto::random_bytes((kBatchChunks + 6) * kChunkSize);
  Sealed s = seal(data);
  Bytes bad = s.file;
  std::size_t chunk = kBatchChunks + 2;
  bad[payload_start(bad) + chunk * (kChunkSize + kTagSize) + 100] ^= 1;
  Bytes released;
  auto back = open(s, bad, 2, &released);
  ASSERT_FALSE(back);
  EXPECT_EQ(back.error().code, "age.payload");
  EXPECT_NE(back.error().message.find("chunk " + std::to_string(chunk)), std::string::npos) << back.error().message;
  EXPECT_EQ(released, Bytes(data.begin(), data.begin() + chunk * kChunkSize));
}

TEST(Stream, ShouldRejectSwappedChunks) {
  Bytes data = crypto::random_bytes(4 * kChunkSize);
  Sealed s = seal(data);
  Bytes bad = s.file;
  std::size_t c1 = payload_start(bad) + kChunkSize + kTagSize;
  std::swap_ranges(bad.begin() + c1, bad.begin() + c1 + kChunkSize + kTagSize,
                   bad.begin() + c1 + kChunkSize + kTagSize);
  auto back = open(s, bad);
  ASSERT_FALSE(back);
  EXPECT_EQ(back.error().code, "age.payload");
}

TEST(Stream, ShouldReportTruncationAtChunkBoundary) {
  Bytes data = crypto::random_bytes(3 * kChunkSize + 10);
  Sealed s = seal(data);
  Bytes cut(s.file.begin(), s.file.begin() + payload_start(s.file) + 2 * (kChunkSize + kTagSize));
  auto back = open(s, cut);
  ASSERT_FALSE(back);
  EXPECT_NE(back.error().message.find("truncated"), std::string::npos) << back.error().message;
}

TEST(Stream, ShouldReportDataAfterFinalChunk) {
  Sealed s = seal(crypto::random_bytes(100));
  Bytes extended = s.file;
  Bytes tail(s.file.end() - 116, s.file.end());
  extended.insert(extended.end(), tail.begin(), tail.end());
  auto back = open(s, extended);
  ASSERT_FALSE(back);
  EXPECT_EQ(back.error().code, "age.payload");
}

TEST(Stream, ShouldRejectWrongIdentity) {
  Sealed s = seal(crypto::random_bytes(10));
  Sealed other;
  other.file = s.file;
  auto back = open(other, s.file);
  ASSERT_FALSE(back);
  EXPECT_EQ(back.error().code, "age.no_match");
}

TEST(Stream, ShouldRejectEmptyAndGarbageInput) {
  Sealed s = seal({});
  for (std::string_view input : {std::string_view(""), std::string_view("hello world, not age\n")}) {
    auto back = open(s, as_bytes(input));
    ASSERT_FALSE(back);
    EXPECT_EQ(back.error().code, "age.header");
  }
}

TEST(Stream, SeveralRecipientsEachDecrypt) {
  X25519Identity a = X25519Identity::generate(), b = X25519Identity::generate();
  X25519Recipient ra = a.recipient(), rb = b.recipient();
  const Recipient* rs[] = {&ra, &rb};
  Bytes data = crypto::random_bytes(1000);
  BytesReader in(data);
  BytesWriter out;
  ASSERT_TRUE(encrypt(in, out, rs));
  for (const X25519Identity* id : {&a, &b}) {
    const Identity* ids[] = {id};
    BytesReader cin(out.bytes());
    BytesWriter plain;
    ASSERT_TRUE(decrypt(cin, plain, ids));
    EXPECT_EQ(plain.bytes(), data);
  }
}

TEST(Stream, PassphraseIsAskedOnlyForScryptFiles) {
  ScryptRecipient r(crypto::to_secret(as_bytes("correct horse")), /*work_factor=*/10);
  const Recipient* rs[] = {&r};
  Bytes data = crypto::random_bytes(5000);
  BytesReader in(data);
  BytesWriter sealed;
  ASSERT_TRUE(encrypt(in, sealed, rs));

  int asked = 0;
  DecryptOptions opts;
  opts.ask_passphrase = [&]() -> Result<crypto::SecretBytes> {
    ++asked;
    return crypto::to_secret(as_bytes("correct horse"));
  };
  BytesReader cin(sealed.bytes());
  BytesWriter plain;
  ASSERT_TRUE(decrypt(cin, plain, {}, opts));
  EXPECT_EQ(plain.bytes(), data);
  EXPECT_EQ(asked, 1);

  Sealed x = seal(data);
  const Identity* ids[] = {&x.identity};
  BytesReader xin(x.file);
  BytesWriter xplain;
  ASSERT_TRUE(decrypt(xin, xplain, ids, opts));
  EXPECT_EQ(asked, 1);
}

TEST(Stream, ShouldRefuseScryptWithOtherRecipients) {
  ScryptRecipient r(crypto::to_secret(as_bytes("pw")), 10);
  X25519Recipient x = X25519Identity::generate().recipient();
  const Recipient* rs[] = {&r, &x};
  BytesReader in({});
  BytesWriter out;
  auto res = encrypt(in, out, rs);
  ASSERT_FALSE(res);
  EXPECT_EQ(res.error().code, "age.usage");
}

}  // namespace
}  // namespace ward::age

namespace ward::age {
namespace {

// encrypt_file / decrypt_file between regular files (decrypt_file when told
// the output is discarded on error) take the positional, parallel path; these
// check it gives byte-identical results to streaming and the same errors.
class FileStreamTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("ward-stream-test-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  int open_rw(const std::string& name) { return ::open((dir_ / name).c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600); }
  int open_ro(const std::string& name) { return ::open((dir_ / name).c_str(), O_RDONLY); }
  void put(const std::string& name, ByteView data) {
    int fd = open_rw(name);
    ASSERT_TRUE(write_all(fd, data));
    ::close(fd);
  }
  Bytes get(const std::string& name) { return read_file(dir_ / name, 1 << 30).value(); }

  Result<void> encrypt_files(const std::string& in, const std::string& out, const Recipient* r, unsigned threads) {
    int i = open_ro(in), o = open_rw(out);
    const Recipient* rs[] = {r};
    EncryptOptions opts;
    opts.threads = threads;
    auto res = encrypt_file(i, o, rs, opts);
    ::close(i);
    ::close(o);
    return res;
  }
  Result<void> decrypt_files(const std::string& in, const std::string& out, const Identity* id,
                             unsigned threads, bool discard_output_on_error = true) {
    int i = open_ro(in), o = open_rw(out);
    const Identity* ids[] = {id};
    DecryptOptions opts;
    opts.threads = threads;
    opts.discard_output_on_error = discard_output_on_error;
    auto res = decrypt_file(i, o, ids, opts);
    ::close(i);
    ::close(o);
    return res;
  }

  std::filesystem::path dir_;
  X25519Identity id_ = X25519Identity::generate();
  X25519Recipient r_ = id_.recipient();
};

TEST_F(FileStreamTest, RoundTripsSizesAroundChunkAndBatchBoundaries) {
  const std::size_t batch = kBatchChunks * kChunkSize;
  for (std::size_t n : {std::size_t{0}, std::size_t{1}, kChunkSize, kChunkSize + 1, batch, batch + 1,
                        3 * batch + kChunkSize - 7}) {
    Bytes data = crypto::random_bytes(n);
    put("plain", data);
    ASSERT_TRUE(encrypt_files("plain", "sealed", &r_, 2)) << n;
    Bytes sealed = get("sealed");
    std::size_t chunks = n == 0 ? 1 : (n + kChunkSize - 1) / kChunkSize;
    EXPECT_EQ(sealed.size(), payload_start(sealed) + n + chunks * kTagSize) << n;
    // The streaming decryptor reads what the positional encryptor wrote...
    const Identity* ids[] = {&id_};
    BytesReader in(sealed);
    BytesWriter out;
    ASSERT_TRUE(decrypt(in, out, ids));
    EXPECT_EQ(out.bytes(), data) << n;
    // ...and the positional decryptor too.
    ASSERT_TRUE(decrypt_files("sealed", "back", &id_, 3)) << n;
    EXPECT_EQ(get("back"), data) << n;
  }
}

TEST_F(FileStreamTest, ShouldRejectTamperedChunkWithTheSameError) {
  Bytes data = crypto::random_bytes(3 * kBatchChunks * kChunkSize);
  put("plain", data);
  ASSERT_TRUE(encrypt_files("plain", "sealed", &r_, 2));
  Bytes sealed = get("sealed");
  std::size_t chunk = 2 * kBatchChunks + 1;
  sealed[payload_start(sealed) + chunk * (kChunkSize + kTagSize) + 9] ^= 0x40;
  put("bad", sealed);
  auto res = decrypt_files("bad", "back", &id_, 2);
  ASSERT_FALSE(res);
  EXPECT_EQ(res.error().code, "age.payload");
  EXPECT_NE(res.error().message.find("chunk " + std::to_string(chunk)), std::string::npos) << res.error().message;
}

TEST_F(FileStreamTest, ShouldReportTruncationAndTrailingData) {
  Bytes data = crypto::random_bytes(2 * kChunkSize + 5);
  put("plain", data);
  ASSERT_TRUE(encrypt_files("plain", "sealed", &r_, 2));
  Bytes sealed = get("sealed");
  put("cut", ByteView(sealed).first(payload_start(sealed) + 2 * (kChunkSize + kTagSize)));
  auto cut = decrypt_files("cut", "back", &id_, 2);
  ASSERT_FALSE(cut);
  EXPECT_NE(cut.error().message.find("truncated"), std::string::npos) << cut.error().message;
  put("short", ByteView(sealed).first(payload_start(sealed) + 10));
  auto short_chunk = decrypt_files("short", "back", &id_, 2);
  ASSERT_FALSE(short_chunk);
  EXPECT_EQ(short_chunk.error().code, "age.payload");
  put("nonce", ByteView(sealed).first(payload_start(sealed) - 3));
  auto no_nonce = decrypt_files("nonce", "back", &id_, 2);
  ASSERT_FALSE(no_nonce);
  EXPECT_EQ(no_nonce.error().code, "age.header");
}

TEST_F(FileStreamTest, ArmoredInputFallsBackToStreaming) {
  Bytes data = crypto::random_bytes(70000);
  Sealed s = seal(data, 0, /*armor=*/true);
  put("armored", s.file);
  ASSERT_TRUE(decrypt_files("armored", "back", &s.identity, 2));
  EXPECT_EQ(get("back"), data);
}

// From a regular file to a pipe (or /dev/null, or a file that must be written
// in order), workers still read and process batches in parallel while the
// output is written strictly in order; decryption must release exactly what
// streaming decrypt() releases, error for error.
class OrderedFileStreamTest : public FileStreamTest {
 protected:
  // Runs `produce` with the write end of a pipe while a thread drains it;
  // returns everything written.
  static Bytes through_pipe(const std::function<void(int)>& produce) {
    int fds[2];
    EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    Bytes got;
    std::thread drain([&] {
      std::uint8_t buf[1 << 16];
      for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) got.insert(got.end(), buf, buf + n);
    });
    produce(fds[1]);
    ::close(fds[1]);
    drain.join();
    ::close(fds[0]);
    return got;
  }

  Result<void> encrypt_to_pipe(const std::string& in, unsigned threads, Bytes& sealed) {
    Result<void> res;
    sealed = through_pipe([&](int fd) {
      int i = open_ro(in);
      const Recipient* rs[] = {&r_};
      EncryptOptions opts;
      opts.threads = threads;
      res = encrypt_file(i, fd, rs, opts);
      ::close(i);
    });
    return res;
  }

  Result<void> decrypt_to_pipe(const std::string& in, unsigned threads, Bytes& released) {
    Result<void> res;
    released = through_pipe([&](int fd) {
      int i = open_ro(in);
      const Identity* ids[] = {&id_};
      DecryptOptions opts;
      opts.threads = threads;
      opts.discard_output_on_error = true;  // ignored: a pipe cannot be written out of order
      res = decrypt_file(i, fd, ids, opts);
      ::close(i);
    });
    return res;
  }

  // What streaming decrypt() gives for `file`: its result and what it released.
  Result<void> decrypt_streaming(ByteView file, Bytes& released) {
    const Identity* ids[] = {&id_};
    BytesReader in(file);
    BytesWriter out;
    auto res = decrypt(in, out, ids);
    released = std::move(out.bytes());
    return res;
  }

  // Decrypts `file` to a pipe with 1, 2 and 5 workers and expects exactly the
  // error and the released plaintext of streaming decrypt().
  void expect_same_as_streaming(ByteView file, const std::string& what) {
    put("input", file);
    Bytes want;
    auto want_res = decrypt_streaming(file, want);
    for (unsigned threads : {1u, 2u, 5u}) {
      Bytes got;
      auto res = decrypt_to_pipe("input", threads, got);
      ASSERT_EQ(res.has_value(), want_res.has_value()) << what << ", " << threads << " threads";
      if (!res) {
        EXPECT_EQ(res.error().code, want_res.error().code) << what;
        EXPECT_EQ(res.error().message, want_res.error().message) << what;
      }
      EXPECT_EQ(got, want) << what << ", " << threads << " threads";
    }
  }

  Bytes sealed_file(ByteView data) {
    put("plain", data);
    EXPECT_TRUE(encrypt_files("plain", "sealed", &r_, 2));
    return get("sealed");
  }
};

TEST_F(OrderedFileStreamTest, ShouldRoundTripThroughPipesWhenSizesAreAroundChunkAndBatchBoundaries) {
  const std::size_t batch = kBatchChunks * kChunkSize;
  for (std::size_t n :
       {std::size_t{0}, std::size_t{1}, kChunkSize - 1, kChunkSize, kChunkSize + 1, 3 * kChunkSize,
        4 * kChunkSize, 5 * kChunkSize + 1, batch - 1, batch, batch + 1, 3 * batch + 2 * kChunkSize + 11}) {
    Bytes data = crypto::random_bytes(n);
    put("plain", data);
    for (unsigned threads : {1u, 2u, 3u}) {
      Bytes sealed;
      ASSERT_TRUE(encrypt_to_pipe("plain", threads, sealed)) << n;
      std::size_t chunks = n == 0 ? 1 : (n + kChunkSize - 1) / kChunkSize;
      EXPECT_EQ(sealed.size(), payload_start(sealed) + n + chunks * kTagSize) << n;
      Bytes back;
      ASSERT_TRUE(decrypt_streaming(sealed, back)) << n;
      EXPECT_EQ(back, data) << n << ", " << threads << " threads";
      put("sealed", sealed);
      Bytes piped;
      ASSERT_TRUE(decrypt_to_pipe("sealed", threads, piped)) << n;
      EXPECT_EQ(piped, data) << n << ", " << threads << " threads";
    }
  }
}

TEST_F(OrderedFileStreamTest, ShouldReleaseExactlyTheChunksBeforeATamperedOneWhenWritingToAPipe) {
  Bytes data = crypto::random_bytes((3 * kBatchChunks + 6) * kChunkSize + 100);
  Bytes bad = sealed_file(data);
  const std::size_t chunk = kBatchChunks + 6;  // inside a batch, with batches after it
  bad[payload_start(bad) + chunk * (kChunkSize + kTagSize) + 1000] ^= 0x01;
  put("bad", bad);
  for (unsigned threads : {1u, 2u, 3u, 8u}) {
    Bytes released;
    auto res = decrypt_to_pipe("bad", threads, released);
    ASSERT_FALSE(res) << threads;
    EXPECT_EQ(res.error().code, "age.payload");
    EXPECT_NE(res.error().message.find("chunk " + std::to_string(chunk)), std::string::npos)
        << res.error().message;
    EXPECT_EQ(released, Bytes(data.begin(), data.begin() + chunk * kChunkSize)) << threads << " threads";
  }
  expect_same_as_streaming(bad, "tampered chunk");
}

TEST_F(OrderedFileStreamTest, ShouldFailLikeStreamingWhenTheFileIsTruncatedOrExtended) {
  Bytes data = crypto::random_bytes(9 * kChunkSize + 500);
  Bytes sealed = sealed_file(data);
  const std::size_t start = payload_start(sealed), sealed_chunk = kChunkSize + kTagSize;
  expect_same_as_streaming(sealed, "intact");
  expect_same_as_streaming(ByteView(sealed).first(start + 6 * sealed_chunk), "cut at a chunk boundary");
  expect_same_as_streaming(ByteView(sealed).first(start + 5 * sealed_chunk + 777), "cut inside a chunk");
  expect_same_as_streaming(ByteView(sealed).first(start + 7 * sealed_chunk + 9), "cut to a short last chunk");
  expect_same_as_streaming(ByteView(sealed).first(start + 4), "cut inside the first chunk");
  expect_same_as_streaming(ByteView(sealed).first(start), "no chunks");
  Bytes extended = sealed;
  extended.insert(extended.end(), sealed.end() - 600, sealed.end());
  expect_same_as_streaming(extended, "data after the final chunk");
  Bytes empty_final(sealed.begin(), sealed.begin() + static_cast<std::ptrdiff_t>(start + 9 * sealed_chunk));
  empty_final.insert(empty_final.end(), kTagSize, 0);
  expect_same_as_streaming(empty_final, "an empty final chunk after full ones");

  Bytes got;
  put("cut", ByteView(sealed).first(start + 5 * sealed_chunk + 777));
  auto res = decrypt_to_pipe("cut", 2, got);
  ASSERT_FALSE(res);
  EXPECT_EQ(res.error().code, "age.payload");
  EXPECT_EQ(got, Bytes(data.begin(), data.begin() + 5 * kChunkSize));
}

TEST_F(OrderedFileStreamTest, ShouldWriteInOrderWhenTheOutputFileIsNotDiscardedOnError) {
  Bytes data = crypto::random_bytes(2 * kBatchChunks * kChunkSize);
  Bytes bad = sealed_file(data);
  const std::size_t chunk = kBatchChunks + 1;
  bad[payload_start(bad) + chunk * (kChunkSize + kTagSize) + 5] ^= 0x80;
  put("bad", bad);
  auto res = decrypt_files("bad", "back", &id_, 3, /*discard_output_on_error=*/false);
  ASSERT_FALSE(res);
  EXPECT_EQ(res.error().code, "age.payload");
  EXPECT_EQ(get("back"), Bytes(data.begin(), data.begin() + chunk * kChunkSize));
}

TEST_F(OrderedFileStreamTest, ShouldAppendWhenTheOutputIsOpenedForAppending) {
  Bytes data = crypto::random_bytes(6 * kChunkSize + 3);
  put("plain", data);
  put("out", as_bytes("kept"));
  int i = open_ro("plain");
  int o = ::open((dir_ / "out").c_str(), O_WRONLY | O_APPEND);
  const Recipient* rs[] = {&r_};
  EncryptOptions opts;
  opts.threads = 2;
  ASSERT_TRUE(encrypt_file(i, o, rs, opts));
  ::close(i);
  ::close(o);
  Bytes out = get("out");
  ASSERT_TRUE(as_chars(out).starts_with("kept"));
  Bytes back;
  ASSERT_TRUE(decrypt_streaming(ByteView(out).subspan(4), back));
  EXPECT_EQ(back, data);
}

TEST_F(OrderedFileStreamTest, ShouldGrowAnOutputPipeToOneMiB) {
  put("plain", as_bytes("small"));
  int size = 0;
  Bytes sealed = through_pipe([&](int fd) {
    int i = open_ro("plain");
    const Recipient* rs[] = {&r_};
    EXPECT_TRUE(encrypt_file(i, fd, rs));
    ::close(i);
    size = ::fcntl(fd, F_GETPIPE_SZ);
  });
  EXPECT_EQ(size, 1 << 20);
  Bytes back;
  ASSERT_TRUE(decrypt_streaming(sealed, back));
  EXPECT_EQ(as_chars(back), "small");
}

TEST_F(OrderedFileStreamTest, ShouldEncryptAndDecryptToDevNull) {
  Bytes data = crypto::random_bytes(3 * kBatchChunks * kChunkSize + 17);
  Bytes sealed = sealed_file(data);
  Bytes bad = sealed;
  bad[payload_start(bad) + 2 * (kChunkSize + kTagSize)] ^= 0x02;
  put("bad", bad);
  int i = open_ro("plain"), good = open_ro("sealed"), tampered = open_ro("bad");
  int null = ::open("/dev/null", O_WRONLY);
  const Recipient* rs[] = {&r_};
  const Identity* ids[] = {&id_};
  DecryptOptions opts;
  opts.threads = 2;
  opts.discard_output_on_error = true;
  EXPECT_TRUE(encrypt_file(i, null, rs));
  EXPECT_TRUE(decrypt_file(good, null, ids, opts));
  auto res = decrypt_file(tampered, null, ids, opts);
  ASSERT_FALSE(res);
  EXPECT_EQ(res.error().code, "age.payload");
  for (int fd : {i, good, tampered, null}) ::close(fd);
}

}  // namespace
}  // namespace ward::age
