// Service certificates as `ward proxy` and `ward serve verify` receive them
// from any server: the input is tried as a whole certificate (DER) and as the
// extnValue of each of the four service extensions in an otherwise valid
// certificate. Nothing may crash, and claims that parse must be issued again
// into a certificate that reads back the same.
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "ca/oids.h"
#include "crypto/ecdsa.h"
#include "crypto/keys.h"
#include "crypto/x509.h"
#include "serve/certificate.h"

namespace {

using namespace ward;
using std::chrono::sys_seconds;

crypto::Certificate make_issuer(const crypto::Ed25519PrivateKey& key) {
  auto cert = crypto::CertificateBuilder()
                  .subject("cvm-fuzz")
                  .validity(sys_seconds{}, sys_seconds{} + std::chrono::hours(24))
                  .public_key(key.public_key())
                  .ca(true)
                  .self_sign(key);
  if (!cert) {
    std::fprintf(stderr, "fuzz_service_certificate: %s\n", cert.error().message.c_str());
    std::abort();
  }
  return *cert;
}

struct Fixture {
  crypto::Ed25519PrivateKey issuer_key = crypto::Ed25519PrivateKey::generate();
  crypto::EcPrivateKey leaf_key = crypto::EcPrivateKey::generate(crypto::EcCurve::P256);
  crypto::Certificate issuer = make_issuer(issuer_key);
  std::array<std::string_view, 4> oids = {ca::kServiceOrderExtensionOid, ca::kServiceLedgerExtensionOid,
                                          ca::kServiceEngineExtensionOid, ca::kServiceInputsExtensionOid};
  std::array<Bytes, 4> valid{};

  Fixture() {
    const serve::ServiceClaims claims{{}, 7, "sha256:" + std::string(64, 'e'), {crypto::Sha256Digest{}}};
    auto issued = serve::issue_service_certificate(claims, issuer_key, issuer, sys_seconds{},
                                                   sys_seconds{} + std::chrono::hours(1), &leaf_key);
    if (!issued) {
      std::fprintf(stderr, "fuzz_service_certificate: %s\n", issued.error().message.c_str());
      std::abort();
    }
    for (std::size_t i = 0; i < oids.size(); ++i) valid[i] = issued->certificate.extension(oids[i]).value();
  }
};

void check_round_trip(const Fixture& f, const serve::ServiceClaims& claims) {
  auto again = serve::issue_service_certificate(claims, f.issuer_key, f.issuer, sys_seconds{},
                                                sys_seconds{} + std::chrono::hours(1), &f.leaf_key);
  if (!again) return;  // claims no certificate can carry (an engine that is not sha256:<hex>)
  auto read = serve::read_service_certificate(again->certificate);
  if (!read || !(*read == claims)) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const Fixture f;
  const ByteView input(data, size);
  if (auto cert = crypto::Certificate::from_der(input)) {
    if (auto claims = serve::read_service_certificate(*cert)) check_round_trip(f, *claims);
  }
  for (std::size_t i = 0; i < f.oids.size(); ++i) {
    crypto::CertificateBuilder builder;
    builder.subject("order-7")
        .public_key(f.leaf_key.public_key())
        .validity(sys_seconds{}, sys_seconds{} + std::chrono::hours(1));
    for (std::size_t j = 0; j < f.oids.size(); ++j)
      builder.extension(f.oids[j], j == i ? input : ByteView(f.valid[j]));
    auto cert = builder.sign(f.issuer, f.issuer_key);
    if (!cert) continue;
    if (auto claims = serve::read_service_certificate(*cert)) check_round_trip(f, *claims);
  }
  return 0;
}
