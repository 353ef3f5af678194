#include "attest/dcap/quote.h"

#include <algorithm>
#include <cstring>
#include <string>

namespace ward::attest::dcap {

namespace {

// A bounds-checked little-endian cursor: every read names the field, so a
// truncated quote says which part is missing.
class Cursor {
 public:
  explicit Cursor(ByteView data) : data_(data) {}

  std::size_t offset() const { return offset_; }
  std::size_t remaining() const { return data_.size() - offset_; }

  Result<ByteView> take(std::size_t n, std::string_view field) {
    if (n > remaining()) {
      return fail("attest.quote", "quote truncated in " + std::string(field) + ": needs " + std::to_string(n) +
                                      " bytes at offset " + std::to_string(offset_) + ", has " +
                                      std::to_string(remaining()));
    }
    ByteView out = data_.subspan(offset_, n);
    offset_ += n;
    return out;
  }

  template <class T>
  Result<T> le(std::string_view field) {
    auto bytes = take(sizeof(T), field);
    if (!bytes) return std::unexpected(bytes.error());
    T v = 0;
    for (std::size_t i = 0; i < sizeof(T); ++i) v |= static_cast<T>(static_cast<T>((*bytes)[i]) << (8 * i));
    return v;
  }

  template <std::size_t N>
  Result<std::array<std::uint8_t, N>> array(std::string_view field) {
    auto bytes = take(N, field);
    if (!bytes) return std::unexpected(bytes.error());
    std::array<std::uint8_t, N> out{};
    std::copy_n(bytes->begin(), N, out.begin());
    return out;
  }

 private:
  ByteView data_;
  std::size_t offset_ = 0;
};

template <std::size_t N>
std::array<std::uint8_t, N> copy_at(ByteView raw, std::size_t offset) {
  std::array<std::uint8_t, N> out{};
  std::copy_n(raw.begin() + static_cast<std::ptrdiff_t>(offset), N, out.begin());
  return out;
}

std::uint16_t u16_at(ByteView raw, std::size_t offset) {
  return static_cast<std::uint16_t>(raw[offset] | (raw[offset + 1] << 8));
}

TdReport parse_td_report(ByteView raw) {
  TdReport r;
  r.tee_tcb_svn = copy_at<16>(raw, 0);
  r.mr_seam = copy_at<48>(raw, 16);
  r.mr_signer_seam = copy_at<48>(raw, 64);
  r.seam_attributes = copy_at<8>(raw, 112);
  r.td_attributes = copy_at<8>(raw, 120);
  r.xfam = copy_at<8>(raw, 128);
  r.mr_td = copy_at<48>(raw, 136);
  r.mr_config_id = copy_at<48>(raw, 184);
  r.mr_owner = copy_at<48>(raw, 232);
  r.mr_owner_config = copy_at<48>(raw, 280);
  for (std::size_t i = 0; i < 4; ++i) r.rtmr[i] = copy_at<48>(raw, 328 + 48 * i);
  r.report_data = copy_at<64>(raw, 520);
  if (raw.size() == kTdReport15Size) {
    r.tee_tcb_svn_2 = copy_at<16>(raw, 584);
    r.mr_servicetd = copy_at<48>(raw, 600);
  }
  return r;
}

Result<void> parse_pck_chain(Cursor& c, QeCertification& out) {
  auto type = c.le<std::uint16_t>("PCK certification data type");
  if (!type) return std::unexpected(type.error());
  auto size = c.le<std::uint32_t>("PCK certification data size");
  if (!size) return std::unexpected(size.error());
  if (*type != kCertTypePckChain) {
    return fail("attest.quote", "unsupported certification data type " + std::to_string(*type) +
                                    " (only 5, a PEM PCK chain, carries what offline verification needs)");
  }
  auto data = c.take(*size, "PCK certificate chain");
  if (!data) return std::unexpected(data.error());
  // Some quote generators count a terminating NUL in the size.
  std::string pem(as_chars(*data));
  while (!pem.empty() && pem.back() == '\0') pem.pop_back();
  out.pck_chain_pem = std::move(pem);
  return {};
}

Result<void> parse_qe_report_section(Cursor& c, QeCertification& out) {
  auto report = c.take(kEnclaveReportSize, "QE report");
  if (!report) return std::unexpected(report.error());
  out.qe_report_raw.assign(report->begin(), report->end());
  out.qe_report = parse_enclave_report(*report);
  auto sig = c.array<64>("QE report signature");
  if (!sig) return std::unexpected(sig.error());
  out.qe_report_signature = *sig;
  auto auth_size = c.le<std::uint16_t>("QE authentication data size");
  if (!auth_size) return std::unexpected(auth_size.error());
  auto auth = c.take(*auth_size, "QE authentication data");
  if (!auth) return std::unexpected(auth.error());
  out.qe_auth_data.assign(auth->begin(), auth->end());
  return {};
}

}  // namespace

EnclaveReport parse_enclave_report(ByteView raw) {
  EnclaveReport r;
  r.cpu_svn = copy_at<16>(raw, 0);
  r.misc_select = static_cast<std::uint32_t>(raw[16] | (raw[17] << 8) | (raw[18] << 16)) |
                  (static_cast<std::uint32_t>(raw[19]) << 24);
  r.attributes = copy_at<16>(raw, 48);
  r.mr_enclave = copy_at<32>(raw, 64);
  r.mr_signer = copy_at<32>(raw, 128);
  r.isv_prod_id = u16_at(raw, 256);
  r.isv_svn = u16_at(raw, 258);
  r.report_data = copy_at<64>(raw, 320);
  return r;
}

Result<Quote> parse_quote(ByteView data) {
  if (data.size() > kMaxQuoteSize) {
    return fail("attest.quote", "quote is " + std::to_string(data.size()) + " bytes, over the " +
                                    std::to_string(kMaxQuoteSize) + "-byte limit");
  }
  if (data.size() < kHeaderSize) {
    return fail("attest.quote", "quote truncated: " + std::to_string(data.size()) + " bytes, shorter than its " +
                                    std::to_string(kHeaderSize) + "-byte header");
  }
  Quote q;
  Cursor c(data);
  auto version = c.le<std::uint16_t>("header version");
  auto key_type = c.le<std::uint16_t>("header attestation key type");
  auto tee_type = c.le<std::uint32_t>("header TEE type");
  auto qe_svn = c.le<std::uint16_t>("header QE SVN");
  auto pce_svn = c.le<std::uint16_t>("header PCE SVN");
  auto vendor = c.array<16>("header QE vendor ID");
  auto user = c.array<20>("header user data");
  q.header = {*version, *key_type, *tee_type, *qe_svn, *pce_svn, *vendor, *user};

  if (q.header.version < 3 || q.header.version > 5) {
    return fail("attest.quote", "unsupported quote version " + std::to_string(q.header.version) + " (3, 4 and 5 are)");
  }
  if (q.header.attestation_key_type != kAttestationKeyEcdsaP256) {
    return fail("attest.quote", "unsupported attestation key type " + std::to_string(q.header.attestation_key_type) +
                                    " (only 2, ECDSA P-256, is defined for these quotes)");
  }
  if (q.header.tee_type != kTeeTypeSgx && q.header.tee_type != kTeeTypeTdx) {
    return fail("attest.quote", "unknown TEE type " + std::to_string(q.header.tee_type) + " (0 is SGX, 129 TDX)");
  }
  if (q.header.version == 3 && q.header.tee_type != kTeeTypeSgx) {
    return fail("attest.quote", "a version 3 quote must be SGX");
  }

  std::size_t body_size = 0;
  if (q.header.version == 5) {
    auto type = c.le<std::uint16_t>("body type");
    auto size = c.le<std::uint32_t>("body size");
    if (!size) return std::unexpected(size.error());
    q.body_type = *type;
    const bool tdx = q.header.tee_type == kTeeTypeTdx;
    if (q.body_type == 1 && !tdx) {
      body_size = kEnclaveReportSize;
    } else if (q.body_type == 2 && tdx) {
      body_size = kTdReport10Size;
    } else if (q.body_type == 3 && tdx) {
      body_size = kTdReport15Size;
    } else {
      return fail("attest.quote", "body type " + std::to_string(q.body_type) + " does not fit TEE type");
    }
    if (*size != body_size) {
      return fail("attest.quote", "body size " + std::to_string(*size) + " does not match body type " +
                                      std::to_string(q.body_type) + " (" + std::to_string(body_size) + ")");
    }
  } else if (q.header.tee_type == kTeeTypeTdx) {
    q.body_type = 2;
    body_size = kTdReport10Size;
  } else {
    q.body_type = 1;
    body_size = kEnclaveReportSize;
  }
  auto body = c.take(body_size, "report body");
  if (!body) return std::unexpected(body.error());
  if (q.body_type == 1) {
    q.body = parse_enclave_report(*body);
  } else {
    q.body = parse_td_report(*body);
  }
  q.signed_region.assign(data.begin(), data.begin() + static_cast<std::ptrdiff_t>(c.offset()));

  auto sig_size = c.le<std::uint32_t>("signature data size");
  if (!sig_size) return std::unexpected(sig_size.error());
  auto sig_data = c.take(*sig_size, "signature data");
  if (!sig_data) return std::unexpected(sig_data.error());
  q.length = c.offset();

  Cursor s(*sig_data);
  auto signature = s.array<64>("quote signature");
  auto key = s.array<64>("attestation key");
  if (!key) return std::unexpected(key.error());
  q.signature = *signature;
  q.attestation_key = *key;

  if (q.header.version == 3) {
    if (auto r = parse_qe_report_section(s, q.certification); !r) return std::unexpected(r.error());
    q.certification.outer_cert_type = kCertTypePckChain;
    if (auto r = parse_pck_chain(s, q.certification); !r) return std::unexpected(r.error());
  } else {
    auto type = s.le<std::uint16_t>("certification data type");
    auto size = s.le<std::uint32_t>("certification data size");
    if (!size) return std::unexpected(size.error());
    if (*type != kCertTypeQeReport) {
      return fail("attest.quote", "certification data type " + std::to_string(*type) +
                                      " in a v4/v5 quote (type 6, QE report certification data, is expected)");
    }
    q.certification.outer_cert_type = *type;
    auto inner = s.take(*size, "QE report certification data");
    if (!inner) return std::unexpected(inner.error());
    Cursor ic(*inner);
    if (auto r = parse_qe_report_section(ic, q.certification); !r) return std::unexpected(r.error());
    if (auto r = parse_pck_chain(ic, q.certification); !r) return std::unexpected(r.error());
    if (ic.remaining() != 0) return fail("attest.quote", "trailing bytes inside the QE report certification data");
  }
  if (s.remaining() != 0) return fail("attest.quote", "trailing bytes inside the signature data");
  return q;
}

}  // namespace ward::attest::dcap
