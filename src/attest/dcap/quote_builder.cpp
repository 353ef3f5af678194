#include "attest/dcap/quote_builder.h"

#include <algorithm>
#include <limits>

#include "crypto/hash.h"

namespace ward::attest::dcap {
namespace {

class Writer {
 public:
  void u16(std::uint16_t v) {
    out_.push_back(static_cast<std::uint8_t>(v));
    out_.push_back(static_cast<std::uint8_t>(v >> 8));
  }
  void u32(std::uint32_t v) {
    for (int shift = 0; shift < 32; shift += 8) out_.push_back(static_cast<std::uint8_t>(v >> shift));
  }
  void bytes(ByteView b) { out_.insert(out_.end(), b.begin(), b.end()); }
  void zeros(std::size_t n) { out_.insert(out_.end(), n, 0); }
  Bytes take() { return std::move(out_); }

 private:
  Bytes out_;
};

bool is_p256(const crypto::EcPrivateKey& key) { return key.curve() == crypto::EcCurve::P256; }

std::array<std::uint8_t, 64> raw_public_key(const crypto::EcPrivateKey& key) {
  const Bytes sec1 = key.public_key().to_sec1();  // 0x04 || x || y
  std::array<std::uint8_t, 64> raw{};
  std::copy(sec1.begin() + 1, sec1.end(), raw.begin());
  return raw;
}

std::array<std::uint8_t, 64> sign_raw(const crypto::EcPrivateKey& key, ByteView message) {
  const Bytes sig = key.sign(crypto::HashAlg::Sha256, message, crypto::SigFormat::Raw);
  std::array<std::uint8_t, 64> raw{};
  std::copy(sig.begin(), sig.end(), raw.begin());
  return raw;
}

}  // namespace

QuoteParts tdx_v4_parts() {
  QuoteParts parts;
  parts.header.version = 4;
  parts.header.attestation_key_type = kAttestationKeyEcdsaP256;
  parts.header.tee_type = kTeeTypeTdx;
  parts.header.qe_vendor_id = kIntelQeVendorId;
  parts.body_type = kBodyTypeTdx10;
  parts.body = TdReport{};
  return parts;
}

Bytes serialize_header(const QuoteHeader& header) {
  Writer w;
  w.u16(header.version);
  w.u16(header.attestation_key_type);
  w.u32(header.tee_type);
  w.u16(header.qe_svn);
  w.u16(header.pce_svn);
  w.bytes(header.qe_vendor_id);
  w.bytes(header.user_data);
  return w.take();
}

Bytes serialize_enclave_report(const EnclaveReport& report) {
  Writer w;
  w.bytes(report.cpu_svn);
  w.u32(report.misc_select);
  w.zeros(28);  // reserved, ISV extended product ID
  w.bytes(report.attributes);
  w.bytes(report.mr_enclave);
  w.zeros(32);
  w.bytes(report.mr_signer);
  w.zeros(96);  // reserved, CONFIGID
  w.u16(report.isv_prod_id);
  w.u16(report.isv_svn);
  w.zeros(60);  // CONFIGSVN, reserved, ISV family ID
  w.bytes(report.report_data);
  return w.take();
}

Bytes serialize_td_report(const TdReport& report, bool tdx15) {
  Writer w;
  w.bytes(report.tee_tcb_svn);
  w.bytes(report.mr_seam);
  w.bytes(report.mr_signer_seam);
  w.bytes(report.seam_attributes);
  w.bytes(report.td_attributes);
  w.bytes(report.xfam);
  w.bytes(report.mr_td);
  w.bytes(report.mr_config_id);
  w.bytes(report.mr_owner);
  w.bytes(report.mr_owner_config);
  for (const auto& rtmr : report.rtmr) w.bytes(rtmr);
  w.bytes(report.report_data);
  if (tdx15) {
    w.bytes(report.tee_tcb_svn_2.value_or(std::array<std::uint8_t, 16>{}));
    w.bytes(report.mr_servicetd.value_or(std::array<std::uint8_t, 48>{}));
  }
  return w.take();
}

Bytes serialize_body(const QuoteParts& parts) {
  if (const auto* td = std::get_if<TdReport>(&parts.body)) {
    return serialize_td_report(*td, parts.body_type == kBodyTypeTdx15);
  }
  return serialize_enclave_report(std::get<EnclaveReport>(parts.body));
}

Bytes signed_region(const QuoteParts& parts) {
  Writer w;
  w.bytes(serialize_header(parts.header));
  const Bytes body = serialize_body(parts);
  if (parts.header.version >= 5) {
    w.u16(parts.body_type);
    w.u32(static_cast<std::uint32_t>(body.size()));
  }
  w.bytes(body);
  return w.take();
}

std::array<std::uint8_t, 64> attestation_key_binding(const std::array<std::uint8_t, 64>& attestation_key,
                                                     ByteView qe_auth_data) {
  crypto::Hasher hasher(crypto::HashAlg::Sha256);
  hasher.update(attestation_key).update(qe_auth_data);
  const Bytes digest = hasher.finish();
  std::array<std::uint8_t, 64> report_data{};
  std::copy(digest.begin(), digest.end(), report_data.begin());
  return report_data;
}

Result<void> sign_quote(QuoteParts& parts, const crypto::EcPrivateKey& attestation_key,
                        const crypto::EcPrivateKey& pck_key) {
  if (!is_p256(attestation_key) || !is_p256(pck_key)) {
    return fail("attest.quote", "DCAP quotes are signed with P-256 keys");
  }
  parts.attestation_key = raw_public_key(attestation_key);
  parts.qe_report.report_data = attestation_key_binding(parts.attestation_key, parts.qe_auth_data);
  parts.qe_report_signature = sign_raw(pck_key, serialize_enclave_report(parts.qe_report));
  parts.signature = sign_raw(attestation_key, signed_region(parts));
  return {};
}

Result<Bytes> serialize_quote(const QuoteParts& parts) {
  if (parts.qe_auth_data.size() > std::numeric_limits<std::uint16_t>::max()) {
    return fail("attest.quote", "QE authentication data exceeds 65535 bytes");
  }
  if (parts.pck_chain_pem.size() > kMaxQuoteSize) {
    return fail("attest.quote", "PCK chain exceeds " + std::to_string(kMaxQuoteSize) + " bytes");
  }
  // The QE certification data: identical in every version, only framed differently.
  Writer qe;
  qe.bytes(serialize_enclave_report(parts.qe_report));
  qe.bytes(parts.qe_report_signature);
  qe.u16(static_cast<std::uint16_t>(parts.qe_auth_data.size()));
  qe.bytes(parts.qe_auth_data);
  qe.u16(kCertTypePckChain);
  qe.u32(static_cast<std::uint32_t>(parts.pck_chain_pem.size() + (parts.nul_terminate_pck_chain ? 1 : 0)));
  qe.bytes(as_bytes(parts.pck_chain_pem));
  if (parts.nul_terminate_pck_chain) qe.zeros(1);
  const Bytes qe_certification = qe.take();

  Writer sig;
  sig.bytes(parts.signature);
  sig.bytes(parts.attestation_key);
  if (parts.header.version >= 4) {
    sig.u16(kCertTypeQeReport);
    sig.u32(static_cast<std::uint32_t>(qe_certification.size()));
  }
  sig.bytes(qe_certification);
  const Bytes signature_data = sig.take();

  Writer w;
  w.bytes(signed_region(parts));
  w.u32(static_cast<std::uint32_t>(signature_data.size()));
  w.bytes(signature_data);
  return w.take();
}

Result<Bytes> build_quote(const QuoteParts& parts, const crypto::EcPrivateKey& attestation_key,
                          const crypto::EcPrivateKey& pck_key) {
  QuoteParts signed_parts = parts;
  if (auto signed_ok = sign_quote(signed_parts, attestation_key, pck_key); !signed_ok) {
    return std::unexpected(signed_ok.error());
  }
  return serialize_quote(signed_parts);
}

}  // namespace ward::attest::dcap
