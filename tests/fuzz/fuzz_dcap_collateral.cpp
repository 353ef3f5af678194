// Intel DCAP collateral as a verifier receives it from a cache or a user:
// the dcap-qvl collateral JSON, the signed TCB Info and QE Identity bodies,
// and the SGX extension of a PCK certificate. Nothing may crash, and what
// parses must survive a write and a second parse unchanged.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "attest/dcap/collateral.h"
#include "attest/dcap/pck.h"
#include "attest/dcap/tcb.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace ward::attest::dcap;
  const ward::ByteView bytes(data, size);
  const std::string_view text = ward::as_chars(bytes);

  if (auto c = parse_collateral(text)) {
    auto again = parse_collateral(collateral_to_json(*c));
    if (!again || again->tcb_info != c->tcb_info || again->qe_identity != c->qe_identity ||
        again->pck_crl != c->pck_crl || again->root_ca_crl != c->root_ca_crl ||
        again->tcb_info_signature != c->tcb_info_signature ||
        again->qe_identity_signature != c->qe_identity_signature ||
        again->pck_crl_issuer_chain != c->pck_crl_issuer_chain) {
      std::abort();
    }
  }
  (void)parse_tcb_info(text);
  (void)parse_qe_identity(text);
  if (auto ext = parse_pck_extensions_der(bytes)) {
    auto again = parse_pck_extensions_der(encode_pck_extensions(*ext));
    if (!again || *again != *ext) std::abort();
  }
  return 0;
}
