// Whole-file decryption (armor sniffing, header, stanza unwrapping, STREAM)
// with a fixed identity: must never crash, and must release no plaintext
// unless the header authenticated.
#include <cstdint>
#include <cstdlib>

#include "age/stream.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const auto identity =
      ward::age::X25519Identity::parse("AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX")
          .value();
  const ward::age::Identity* ids[] = {&identity};
  ward::age::BytesReader in(ward::ByteView(data, size));
  ward::age::BytesWriter out;
  ward::age::DecryptOptions options;
  options.threads = 1;
  auto result = ward::age::decrypt(in, out, ids, options);
  if (!result && result.error().code != "age.payload" && !out.bytes().empty()) std::abort();
  return 0;
}
