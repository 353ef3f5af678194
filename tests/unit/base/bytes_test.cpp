#include "base/bytes.h"

#include <gtest/gtest.h>

namespace ward {
namespace {

TEST(Hex, RoundTripsAndAcceptsUpperCase) {
  Bytes b = {0x00, 0x7f, 0xab, 0xff};
  EXPECT_EQ(hex_encode(b), "007fabff");
  EXPECT_EQ(hex_decode("007FABFF").value(), b);
}

TEST(Hex, ShouldRejectOddLengthAndNonHex) {
  EXPECT_FALSE(hex_decode("abc"));
  EXPECT_FALSE(hex_decode("zz"));
}

// RFC 4648 section 10 test vectors.
TEST(Base64, MatchesRfc4648Vectors) {
  const char* plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
  const char* padded[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
  const char* unpadded[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
  for (int i = 0; i < 7; ++i) {
    EXPECT_EQ(base64_encode(as_bytes(plain[i])), padded[i]);
    EXPECT_EQ(base64_encode(as_bytes(plain[i]), false), unpadded[i]);
    EXPECT_EQ(base64_decode(padded[i]).value(), to_bytes(plain[i]));
    EXPECT_EQ(base64_decode(unpadded[i], false).value(), to_bytes(plain[i]));
  }
}

TEST(Base64, ShouldRejectNonCanonicalTrailingBits) {
  EXPECT_FALSE(base64_decode("Zh==", true));
  EXPECT_FALSE(base64_decode("Zm9", false));
}

TEST(Base64, ShouldRejectPaddingWhenUnpaddedAndViceVersa) {
  EXPECT_FALSE(base64_decode("Zg==", false));
  EXPECT_FALSE(base64_decode("Zg", true));
  EXPECT_FALSE(base64_decode("Zg=", true));
}

TEST(Base64, ShouldRejectCharactersOutsideTheAlphabet) {
  EXPECT_FALSE(base64_decode("Zm9v\n", false));
  EXPECT_FALSE(base64_decode("Zm-v", false));
  EXPECT_FALSE(base64_decode("Z", false));
}

}  // namespace
}  // namespace ward
