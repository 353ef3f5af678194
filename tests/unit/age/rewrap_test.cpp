#include "age/rewrap.h"

#include <gtest/gtest.h>

#include "age/stream.h"
#include "crypto/random.h"

namespace ward::age {
namespace {

TEST(Rewrap, NewHeaderOpensTheSamePayloadForNewRecipientsOnly) {
  X25519Identity owner = X25519Identity::generate(), reader = X25519Identity::generate();
  X25519Recipient owner_r = owner.recipient(), reader_r = reader.recipient();
  Bytes data = crypto::random_bytes(3 * kChunkSize + 17);
  const Recipient* to_owner[] = {&owner_r};
  BytesReader in(data);
  BytesWriter sealed;
  ASSERT_TRUE(encrypt(in, sealed, to_owner));
  const Bytes& file = sealed.bytes();

  const Identity* owner_ids[] = {&owner};
  const Recipient* to_reader[] = {&reader_r};
  auto grant = rewrap_header(ByteView(file).first(std::min<std::size_t>(file.size(), 4096)), owner_ids, to_reader);
  ASSERT_TRUE(grant) << grant.error().message;
  EXPECT_EQ(grant->payload_offset, parse_header(file).value().size);

  Bytes granted = grant->header;
  granted.insert(granted.end(), file.begin() + static_cast<std::ptrdiff_t>(grant->payload_offset), file.end());
  const Identity* reader_ids[] = {&reader};
  BytesReader gin(granted);
  BytesWriter plain;
  ASSERT_TRUE(decrypt(gin, plain, reader_ids));
  EXPECT_EQ(plain.bytes(), data);

  BytesReader gin2(granted);
  BytesWriter none;
  auto owner_try = decrypt(gin2, none, owner_ids);
  ASSERT_FALSE(owner_try);
  EXPECT_EQ(owner_try.error().code, "age.no_match");
}

TEST(Rewrap, ShouldRefuseWithoutAMatchingIdentity) {
  X25519Identity owner = X25519Identity::generate(), stranger = X25519Identity::generate();
  X25519Recipient owner_r = owner.recipient();
  const Recipient* to_owner[] = {&owner_r};
  BytesReader in(as_bytes("secret"));
  BytesWriter sealed;
  ASSERT_TRUE(encrypt(in, sealed, to_owner));
  const Identity* ids[] = {&stranger};
  auto grant = rewrap_header(sealed.bytes(), ids, to_owner);
  ASSERT_FALSE(grant);
  EXPECT_EQ(grant.error().code, "age.no_match");
}

TEST(Rewrap, ShouldRefuseTamperedHeader) {
  X25519Identity owner = X25519Identity::generate();
  X25519Recipient owner_r = owner.recipient();
  const Recipient* to_owner[] = {&owner_r};
  BytesReader in(as_bytes("secret"));
  BytesWriter sealed;
  ASSERT_TRUE(encrypt(in, sealed, to_owner));
  Bytes file = sealed.bytes();
  std::string text(as_chars(file));
  std::size_t mac = text.find("--- ") + 4;
  file[mac] = file[mac] == 'A' ? 'B' : 'A';
  const Identity* ids[] = {&owner};
  auto grant = rewrap_header(file, ids, to_owner);
  ASSERT_FALSE(grant);
}

}  // namespace
}  // namespace ward::age
