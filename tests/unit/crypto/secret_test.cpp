#include "crypto/secret.h"

#include <algorithm>
#include <array>
#include <cstddef>
#include <new>
#include <vector>

#include <gtest/gtest.h>

#include "base/bytes.h"

namespace ward::crypto::test {

// A program-defined element type, so that its std::allocator can be
// specialized to watch the storage that CleansingAllocator gives back.
struct Probe {
  std::uint8_t value;
};

struct ReleaseLog {
  int blocks = 0;
  int wiped = 0;
};
inline ReleaseLog release_log;

}  // namespace ward::crypto::test

// CleansingAllocator<T> delegates to std::allocator<T>; this specialization
// inspects each block just before it returns to the heap, which is the last
// moment its bytes may be read.
template <>
struct std::allocator<ward::crypto::test::Probe> {
  using value_type = ward::crypto::test::Probe;
  using size_type = std::size_t;
  using difference_type = std::ptrdiff_t;
  using propagate_on_container_move_assignment = std::true_type;
  using is_always_equal = std::true_type;

  allocator() noexcept = default;
  template <class U>
  allocator(const allocator<U>&) noexcept {}

  value_type* allocate(std::size_t n) {
    return static_cast<value_type*>(::operator new(n * sizeof(value_type)));
  }
  void deallocate(value_type* p, std::size_t n) noexcept {
    const auto* bytes = reinterpret_cast<const unsigned char*>(p);
    auto& log = ward::crypto::test::release_log;
    ++log.blocks;
    if (std::all_of(bytes, bytes + n * sizeof(value_type), [](unsigned char b) { return b == 0; }))
      ++log.wiped;
    ::operator delete(p);
  }
  bool operator==(const allocator&) const noexcept { return true; }
};

namespace ward::crypto {
namespace {

using test::Probe;
using test::release_log;

TEST(SecretBytes, AllocatorWipesEveryBlockItReleases) {
  release_log = {};
  {
    std::vector<Probe, CleansingAllocator<Probe>> secret;
    // Growth reallocates, so old blocks are released while the vector lives.
    for (int i = 0; i < 100; ++i) secret.push_back(Probe{0xab});
  }
  EXPECT_GT(release_log.blocks, 1);
  EXPECT_EQ(release_log.wiped, release_log.blocks);
}

TEST(SecretBytes, ProbeDetectsUnwipedBlocks) {
  // The same probe behind a plain allocator sees the secret bytes, so the
  // previous test would notice a CleansingAllocator that forgot to wipe.
  release_log = {};
  {
    std::vector<Probe> plain;
    for (int i = 0; i < 100; ++i) plain.push_back(Probe{0xab});
  }
  EXPECT_GT(release_log.blocks, 1);
  EXPECT_EQ(release_log.wiped, 0);
}

TEST(SecretBytes, CopiesAndViews) {
  const Bytes raw = {1, 2, 3};
  const SecretBytes secret = to_secret(raw);
  EXPECT_TRUE(std::equal(secret.begin(), secret.end(), raw.begin(), raw.end()));
  EXPECT_EQ(view(secret).size(), 3u);
  EXPECT_EQ(view(secret).data(), secret.data());
}

TEST(Cleanse, ZeroesTheBuffer) {
  std::array<std::uint8_t, 37> buffer{};
  buffer.fill(0x5a);
  cleanse(buffer.data(), buffer.size());
  EXPECT_TRUE(std::all_of(buffer.begin(), buffer.end(), [](std::uint8_t b) { return b == 0; }));
  cleanse(nullptr, 0);
}

TEST(CtEqual, ComparesContentsAndSizes) {
  const Bytes a = {1, 2, 3, 4};
  EXPECT_TRUE(ct_equal(a, Bytes{1, 2, 3, 4}));
  EXPECT_FALSE(ct_equal(a, Bytes{1, 2, 3, 5}));
  EXPECT_FALSE(ct_equal(a, Bytes{0, 2, 3, 4}));
  EXPECT_FALSE(ct_equal(a, Bytes{1, 2, 3}));
  EXPECT_FALSE(ct_equal(a, Bytes{1, 2, 3, 4, 0}));
  EXPECT_TRUE(ct_equal({}, {}));
  EXPECT_FALSE(ct_equal({}, a));
}

}  // namespace
}  // namespace ward::crypto
