#include "files/grantee.h"

#include "base/bytes.h"
#include "ca/certificate.h"

namespace ward::files {

Result<VerifiedGrantee> verify_grantee(ledger::LedgerClient& ledger, const ledger::CvmId& cvm_id,
                                       const crypto::Certificate& ca_certificate, const attest::Policy& policy,
                                       std::chrono::system_clock::time_point at) {
  if (!policy.pins_measurement()) {
    return fail("files.grant",
                "the policy pins no measurement; a grant must say which loader may read the data "
                "(\"measurements\": {\"mrtd\": [\"<hex>\"]}, docs/attest.md)");
  }
  const std::string id = hex_encode(cvm_id);
  auto cvm = ledger.cvm(cvm_id);
  if (!cvm) return std::unexpected(cvm.error());
  if (!*cvm) return fail("files.grant", "CVM " + id + " is not on the ledger " + ledger.target());
  const auto refused = [&id](const std::string& why) { return fail("files.grant", "CVM " + id + " refused: " + why); };
  auto cert = crypto::Certificate::from_pem((*cvm)->certificate);
  if (!cert) return refused("its certificate on the ledger is not a PEM certificate: " + cert.error().message);
  auto v = ca::verify_cvm_certificate(*cert, ca_certificate, policy, at);
  if (!v.accepted()) return refused(v.appraisal.checks.first_failure_text());
  if (!v.cvm || v.cvm->id != cvm_id || v.cvm->signing_key != (*cvm)->key)
    return refused("its certificate is for another CVM");
  if (v.cvm->recipient.to_string() != (*cvm)->recipient)
    return refused("its certificate names another age recipient than the ledger's");
  return VerifiedGrantee{v.cvm->recipient, std::move(v.appraisal)};
}

}  // namespace ward::files
