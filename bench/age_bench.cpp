// In-memory throughput of age::encrypt / age::decrypt (no file I/O), by
// payload size and worker-thread count (0 = one per core).
#include <cstdint>

#include <benchmark/benchmark.h>

#include "age/recipients.h"
#include "age/stream.h"
#include "crypto/random.h"

namespace {

using ward::Bytes;
namespace age = ward::age;

struct Fixture {
  age::X25519Identity identity = age::X25519Identity::generate();
  age::X25519Recipient recipient = identity.recipient();
};

Fixture& fixture() {
  static Fixture f;
  return f;
}

std::size_t ciphertext_bound(std::size_t plaintext) {
  const std::size_t chunks = plaintext / age::kChunkSize + 1;
  return plaintext + chunks * age::kTagSize + age::kNonceSize + 4096;
}

void BM_Encrypt(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  const Bytes plaintext = ward::crypto::random_bytes(size);
  const age::Recipient* recipients[] = {&fixture().recipient};
  age::EncryptOptions options;
  options.threads = static_cast<unsigned>(state.range(1));
  for (auto _ : state) {
    age::BytesReader in(plaintext);
    age::BytesWriter out;
    out.bytes().reserve(ciphertext_bound(size));
    if (auto ok = age::encrypt(in, out, recipients, options); !ok)
      state.SkipWithError(ok.error().message.c_str());
    benchmark::DoNotOptimize(out.bytes().data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(size));
}

void BM_Decrypt(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  const Bytes plaintext = ward::crypto::random_bytes(size);
  const age::Recipient* recipients[] = {&fixture().recipient};
  age::BytesReader plain_in(plaintext);
  age::BytesWriter ciphertext;
  if (auto ok = age::encrypt(plain_in, ciphertext, recipients); !ok) {
    state.SkipWithError(ok.error().message.c_str());
    return;
  }
  const age::Identity* identities[] = {&fixture().identity};
  age::DecryptOptions options;
  options.threads = static_cast<unsigned>(state.range(1));
  for (auto _ : state) {
    age::BytesReader in(ciphertext.bytes());
    age::BytesWriter out;
    out.bytes().reserve(size);
    if (auto ok = age::decrypt(in, out, identities, options); !ok)
      state.SkipWithError(ok.error().message.c_str());
    benchmark::DoNotOptimize(out.bytes().data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(size));
}

// {payload bytes, threads}
void Sizes(benchmark::internal::Benchmark* b) {
  for (std::int64_t threads : {1, 0}) b->Args({64 << 20, threads});
  b->Args({64 << 10, 0});
  b->ArgNames({"bytes", "threads"})->Unit(benchmark::kMillisecond)->UseRealTime();
}

BENCHMARK(BM_Encrypt)->Apply(Sizes);
BENCHMARK(BM_Decrypt)->Apply(Sizes);

}  // namespace

BENCHMARK_MAIN();
