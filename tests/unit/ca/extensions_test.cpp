#include "ca/extensions.h"

#include <gtest/gtest.h>

#include "fixture.h"

namespace ward::ca {
namespace {

using testing::sim_evidence_for;

const age::X25519Recipient kRecipient = keys::PartyKey::generate().recipient();

TEST(EvidenceExtension, ShouldRoundTripABundleWithCollateral) {
  const auto bundle = sim_evidence_for(keys::PartyKey::generate());
  const Bytes der = encode_evidence_extension(bundle);
  ASSERT_EQ(der[0], 0x04);
  auto parsed = parse_evidence_extension(der);
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(attest::bundle_to_json(*parsed), attest::bundle_to_json(bundle));
  // A real bundle is kilobytes: the long form with the fewest length octets.
  EXPECT_EQ(der[1], 0x82);
}

TEST(EvidenceExtension, ShouldRejectWhenTheContentsAreNotABundle) {
  const Bytes der = {0x04, 0x02, '{', '}'};
  auto parsed = parse_evidence_extension(der);
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().code, "attest.bundle");
}

TEST(RecipientExtension, ShouldRoundTripTheRecipient) {
  const Bytes der = encode_recipient_extension(kRecipient);
  EXPECT_EQ(der[0], 0x0c);
  EXPECT_EQ(der[1], 62);  // "age1" + 58 Bech32 characters
  auto parsed = parse_recipient_extension(der);
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed->key(), kRecipient.key());
}

TEST(RecipientExtension, ShouldRejectWhenTheTextIsNotARecipient) {
  Bytes der = encode_recipient_extension(kRecipient);
  der[5] ^= 0x01;
  auto parsed = parse_recipient_extension(der);
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().code, "ca.extension");
}

struct BadDer {
  const char* why;
  Bytes der;
};

class ExtensionDer : public ::testing::TestWithParam<BadDer> {};

TEST_P(ExtensionDer, ShouldRejectWhenTheEncodingIsNotDer) {
  auto parsed = parse_recipient_extension(GetParam().der);
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().code, "ca.extension");
}

Bytes with_header(Bytes header, std::size_t content_size) {
  header.resize(header.size() + content_size, 'a');
  return header;
}

INSTANTIATE_TEST_SUITE_P(
    Encodings, ExtensionDer,
    ::testing::Values(BadDer{"empty", {}}, BadDer{"tag only", {0x0c}},
                      BadDer{"wrong tag", with_header({0x04, 0x03}, 3)},
                      BadDer{"constructed tag", with_header({0x2c, 0x03}, 3)},
                      BadDer{"contents short", with_header({0x0c, 0x05}, 3)},
                      BadDer{"trailing byte", with_header({0x0c, 0x03}, 4)},
                      BadDer{"long form below 128", with_header({0x0c, 0x81, 0x03}, 3)},
                      BadDer{"length with a leading zero", with_header({0x0c, 0x82, 0x00, 0x90}, 0x90)},
                      BadDer{"indefinite length", with_header({0x0c, 0x80}, 3)},
                      BadDer{"five length octets", with_header({0x0c, 0x85, 0x01, 0, 0, 0, 0}, 0)},
                      BadDer{"length octets missing", {0x0c, 0x82, 0x01}},
                      BadDer{"huge length", {0x0c, 0x84, 0xff, 0xff, 0xff, 0xff, 'a'}}),
    [](const ::testing::TestParamInfo<BadDer>& info) {
      std::string name;
      for (const char* p = info.param.why; *p; ++p)
        name += std::isalnum(static_cast<unsigned char>(*p)) ? *p : '_';
      return name;
    });

}  // namespace
}  // namespace ward::ca
