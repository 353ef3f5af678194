#include "age/header.h"

#include <gtest/gtest.h>

#include "age/recipients.h"

namespace ward::age {
namespace {

Bytes sample_header(const FileKey& key) {
  std::vector<Stanza> stanzas = {{"X25519", {"TEiF0ypqr+bpvcqXNyCVJpL7OuwPdVwPL7KQEbFDOCc"}, Bytes(32, 7)},
                                 {"grease", {"a", "b"}, Bytes(48, 1)},
                                 {"empty", {}, {}}};
  return encode_header(stanzas, key);
}

TEST(Header, EncodeThenParseRoundTrips) {
  FileKey key = generate_file_key();
  Bytes h = sample_header(key);
  auto parsed = parse_header(h);
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->size, h.size());
  ASSERT_EQ(parsed->stanzas.size(), 3u);
  EXPECT_EQ(parsed->stanzas[1].args, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(parsed->stanzas[1].body, Bytes(48, 1));
  EXPECT_TRUE(parsed->stanzas[2].body.empty());
  EXPECT_TRUE(verify_header_mac(*parsed, key));
}

TEST(Header, BodyOfExactly48BytesEndsWithAnEmptyLine) {
  Bytes h = sample_header(generate_file_key());
  std::string text(as_chars(h));
  EXPECT_NE(text.find("-> grease a b\nAQEB"), std::string::npos);
  EXPECT_NE(text.find("AQEB\n\n-> empty\n\n---"), std::string::npos) << text;
}

TEST(Header, ShouldReportIncompleteWhenCutShort) {
  Bytes h = sample_header(generate_file_key());
  for (std::size_t n : {std::size_t{0}, std::size_t{5}, std::size_t{30}, h.size() - 1}) {
    auto parsed = parse_header(ByteView(h).first(n));
    ASSERT_FALSE(parsed);
    EXPECT_EQ(parsed.error().code, "age.incomplete") << n;
  }
}

TEST(Header, ShouldRejectNonAgeInputAtOnce) {
  auto parsed = parse_header(as_bytes("PK\x03\x04 zip"));
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().code, "age.header");
  EXPECT_NE(parsed.error().message.find("not an age file"), std::string::npos);
}

TEST(Header, ShouldRejectWrongMac) {
  FileKey key = generate_file_key();
  auto parsed = parse_header(sample_header(key));
  ASSERT_TRUE(parsed);
  auto other = verify_header_mac(*parsed, generate_file_key());
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code, "age.hmac");
}

TEST(Header, ShouldRejectHeaderWithoutStanzas) {
  FileKey key = generate_file_key();
  auto parsed = parse_header(encode_header({}, key));
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().code, "age.header");
}

TEST(Header, ShouldRejectOversizedHeader) {
  std::string text = "age-encryption.org/v1\n-> big\n" + std::string(kMaxHeaderSize + 10, 'A');
  auto parsed = parse_header(as_bytes(text));
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().code, "age.header");
}

TEST(Header, ShouldRejectScryptWithOtherStanzas) {
  std::vector<Stanza> stanzas = {{"scrypt", {"AAAAAAAAAAAAAAAAAAAAAA", "10"}, Bytes(32, 0)},
                                 {"X25519", {"TEiF0ypqr+bpvcqXNyCVJpL7OuwPdVwPL7KQEbFDOCc"}, Bytes(32, 7)}};
  auto parsed = parse_header(encode_header(stanzas, generate_file_key()));
  ASSERT_FALSE(parsed);
  EXPECT_NE(parsed.error().message.find("only stanza"), std::string::npos);
}

}  // namespace
}  // namespace ward::age
