#include "ca/binding.h"

#include <algorithm>

#include "crypto/hash.h"

namespace ward::ca {

ReportData cvm_report_data(const crypto::Ed25519PublicKey& signing_key, const crypto::X25519PublicKey& age_key) {
  crypto::Hasher h(crypto::HashAlg::Sha512);
  h.update(as_bytes(kCvmBindingLabel));
  const std::uint8_t zero = 0;
  h.update(ByteView(&zero, 1));
  h.update(signing_key);
  h.update(age_key);
  ReportData out{};
  const Bytes digest = h.finish();
  std::copy_n(digest.begin(), out.size(), out.begin());
  return out;
}

}  // namespace ward::ca
