#include "ca/certificate.h"

#include <algorithm>
#include <utility>

#include "ca/binding.h"
#include "ca/extensions.h"
#include "ca/oids.h"
#include "crypto/hash.h"

namespace ward::ca {

CvmId cvm_id(const crypto::Ed25519PublicKey& signing_key) {
  return crypto::sha256(signing_key);
}

std::string cvm_common_name(const crypto::Ed25519PublicKey& signing_key) {
  return "cvm-" + hex_encode(cvm_id(signing_key)).substr(0, 16);
}

Result<CvmCertificateContents> read_cvm_certificate(const crypto::Certificate& cert) {
  auto key = cert.ed25519_public_key();
  if (!key) return fail("ca.extension", "the certified key is not an Ed25519 key");
  const auto recipient_der = cert.extension(kAgeRecipientExtensionOid);
  if (!recipient_der) return fail("ca.extension", "the certificate has no age recipient extension");
  auto recipient = parse_recipient_extension(*recipient_der);
  if (!recipient) return std::unexpected(recipient.error());
  const auto evidence_der = cert.extension(kEvidenceExtensionOid);
  if (!evidence_der) return fail("ca.extension", "the certificate has no evidence extension");
  auto evidence = parse_evidence_extension(*evidence_der);
  if (!evidence) return std::unexpected(evidence.error());
  return CvmCertificateContents{CvmIdentity{cvm_id(*key), *key, std::move(*recipient)}, std::move(*evidence)};
}

bool check_binding(attest::Appraisal& appraisal, const crypto::Ed25519PublicKey& signing_key,
                   const age::X25519Recipient& recipient) {
  const ReportData expected = cvm_report_data(signing_key, recipient.key());
  if (std::ranges::equal(appraisal.report_data, expected)) {
    return appraisal.checks.pass("ca.binding", "report data binds signing key " + hex_encode(signing_key) +
                                                   " and " + recipient.to_string());
  }
  return appraisal.checks.fail("ca.binding", "report data " + hex_encode(appraisal.report_data) +
                                                 " does not bind signing key " + hex_encode(signing_key) +
                                                 " and " + recipient.to_string() + " (expected " +
                                                 hex_encode(expected) + ")");
}

CvmCertificateVerification verify_cvm_certificate(const crypto::Certificate& cert,
                                                  const crypto::Certificate& ca_cert,
                                                  const attest::Policy& policy,
                                                  std::chrono::system_clock::time_point at) {
  CvmCertificateVerification out;
  attest::Checks& checks = out.appraisal.checks;
  const auto chain = crypto::verify_chain(cert, {}, std::span(&ca_cert, 1), {}, at);
  if (!checks.record("cert.chain", chain, "issued by " + ca_cert.subject() + ", valid at the time of use"))
    return out;

  auto contents = read_cvm_certificate(cert);
  if (!contents) {
    checks.fail("cert.extensions", contents.error().message);
    return out;
  }
  checks.pass("cert.extensions",
              "CVM " + contents->identity.id_hex() + ", " + contents->identity.recipient.to_string() + ", " +
                  std::string(attest::platform_name(contents->evidence.platform)) + " evidence");
  out.cvm = contents->identity;

  out.appraisal.continue_with(attest::verify_evidence(contents->evidence, policy, at));
  if (!out.appraisal.accepted()) return out;
  check_binding(out.appraisal, contents->identity.signing_key, contents->identity.recipient);
  return out;
}

Result<OwnCode> own_code(const crypto::Certificate& cert, const crypto::Certificate& ca_cert,
                         std::chrono::system_clock::time_point at) {
  attest::Policy self = attest::Policy::report_only();
  self.allow_simulated = true;
  auto own = verify_cvm_certificate(cert, ca_cert, self, at);
  if (!own.accepted())
    return fail("ca.own", "this CVM's own certificate: " + own.appraisal.checks.first_failure_text());
  OwnCode out;
  out.simulated = own.appraisal.simulated;
  for (const char* name : {"mrtd", "measurement", "mrenclave"}) {
    if (const auto* m = own.appraisal.measurement(name)) {
      out.name = name;
      out.measurement = m->value;
      out.same_code.allowed_measurements[name] = {m->value};
      out.same_code.allow_simulated = out.simulated;
      return out;
    }
  }
  return fail("ca.own", "this CVM's evidence has no launch measurement (mrtd, measurement, mrenclave)");
}

}  // namespace ward::ca
