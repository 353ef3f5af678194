#include "age/bech32.h"

#include <gtest/gtest.h>

#include "age/recipients.h"

namespace ward::age {
namespace {

// The identity and recipient from age's own test suite (age-keygen format).
constexpr std::string_view kIdentity = "AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX";
constexpr std::string_view kRecipient = "age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj";

TEST(Bech32, RoundTripsAgeKeys) {
  auto id = X25519Identity::parse(kIdentity);
  ASSERT_TRUE(id) << id.error().message;
  EXPECT_EQ(id->to_string(), kIdentity);
  EXPECT_EQ(id->recipient().to_string(), kRecipient);
  auto r = X25519Recipient::parse(kRecipient);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->key(), id->recipient().key());
}

TEST(Bech32, EncodesTheBip173Example) {
  auto decoded = bech32_decode("a12uel5l");
  ASSERT_TRUE(decoded);
  EXPECT_EQ(decoded->hrp, "a");
  EXPECT_TRUE(decoded->data.empty());
  EXPECT_EQ(bech32_encode("a", {}), "a12uel5l");
}

TEST(Bech32, ShouldRejectMixedCase) {
  std::string mixed(kRecipient);
  mixed[5] = static_cast<char>(mixed[5] - 32);
  EXPECT_FALSE(bech32_decode(mixed));
}

TEST(Bech32, ShouldRejectBadChecksum) {
  std::string typo(kRecipient);
  typo[10] = typo[10] == 'q' ? 'p' : 'q';
  auto r = X25519Recipient::parse(typo);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("checksum"), std::string::npos);
}

TEST(Bech32, ShouldRejectTruncatedKey) { EXPECT_FALSE(X25519Recipient::parse(kRecipient.substr(0, 40))); }

TEST(Bech32, ShouldRejectIdentityAsRecipientAndViceVersa) {
  EXPECT_FALSE(X25519Recipient::parse(kIdentity));
  EXPECT_FALSE(X25519Identity::parse(kRecipient));
}

TEST(Bech32, ShouldRejectLowerCaseIdentity) {
  std::string lower(kIdentity);
  for (char& c : lower) c = static_cast<char>(std::tolower(c));
  EXPECT_FALSE(X25519Identity::parse(lower));
}

TEST(IdentityFile, ParsesCommentsAndBlankLines) {
  std::string text = "# created: 2021-01-01T00:00:00Z\n# public key: " + std::string(kRecipient) + "\n\n" +
                     std::string(kIdentity) + "\n";
  auto ids = parse_identity_file(text);
  ASSERT_TRUE(ids) << ids.error().message;
  ASSERT_EQ(ids->size(), 1u);
  EXPECT_EQ(ids->front().to_string(), kIdentity);
}

TEST(IdentityFile, ShouldRejectGarbageLineNamingIt) {
  auto ids = parse_identity_file("# comment\nnot a key\n");
  ASSERT_FALSE(ids);
  EXPECT_NE(ids.error().message.find("line 2"), std::string::npos) << ids.error().message;
}

TEST(IdentityFile, ShouldRejectEmptyFile) { EXPECT_FALSE(parse_identity_file("# only a comment\n")); }

TEST(RecipientsFile, ParsesSeveralRecipients) {
  auto other = X25519Identity::generate().recipient().to_string();
  auto rs = parse_recipients_file("# team\n" + std::string(kRecipient) + "\n" + other + "\n");
  ASSERT_TRUE(rs) << rs.error().message;
  EXPECT_EQ(rs->size(), 2u);
}

}  // namespace
}  // namespace ward::age
