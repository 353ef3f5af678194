// ASCII armor decoding: any bytes in; decoded output must re-armor to a text
// that decodes back to the same bytes.
#include <cstdint>
#include <cstdlib>

#include "age/armor.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto decoded = ward::age::dearmor(ward::ByteView(data, size));
  if (!decoded) return 0;
  ward::age::BytesWriter out;
  ward::age::ArmorWriter armor(out);
  if (!armor.write(*decoded) || !armor.finish()) std::abort();
  auto again = ward::age::dearmor(out.bytes());
  if (!again || *again != *decoded) std::abort();
  return 0;
}
