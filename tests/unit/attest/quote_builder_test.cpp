#include "attest/dcap/quote_builder.h"

#include <algorithm>
#include <fstream>
#include <numeric>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "attest/dcap/quote.h"
#include "crypto/hash.h"

namespace ward::attest::dcap {
namespace {

constexpr std::string_view kTestdata = "../shared/testdata/attestation/tdx-sgx/";

Bytes read_bytes(std::string_view relative) {
  std::ifstream in(std::string(kTestdata) + std::string(relative), std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return to_bytes(out.str());
}

// Distinct bytes in every field, so a field written to the wrong place or
// read from the wrong offset cannot round-trip by accident.
template <std::size_t N>
std::array<std::uint8_t, N> pattern(std::uint8_t start) {
  std::array<std::uint8_t, N> a{};
  std::iota(a.begin(), a.end(), start);
  return a;
}

EnclaveReport sample_enclave_report(std::uint8_t seed) {
  EnclaveReport r;
  r.cpu_svn = pattern<16>(seed);
  r.misc_select = 0x01020304u + seed;
  r.attributes = pattern<16>(seed + 20);
  r.mr_enclave = pattern<32>(seed + 40);
  r.mr_signer = pattern<32>(seed + 80);
  r.isv_prod_id = static_cast<std::uint16_t>(0x1100 + seed);
  r.isv_svn = static_cast<std::uint16_t>(0x2200 + seed);
  r.report_data = pattern<64>(seed + 120);
  return r;
}

TdReport sample_td_report() {
  TdReport r;
  r.tee_tcb_svn = pattern<16>(1);
  r.mr_seam = pattern<48>(2);
  r.mr_signer_seam = pattern<48>(3);
  r.seam_attributes = pattern<8>(4);
  r.td_attributes = pattern<8>(6);  // bit 0 clear: not debug
  r.xfam = pattern<8>(7);
  r.mr_td = pattern<48>(8);
  r.mr_config_id = pattern<48>(9);
  r.mr_owner = pattern<48>(10);
  r.mr_owner_config = pattern<48>(11);
  for (std::size_t i = 0; i < 4; ++i) r.rtmr[i] = pattern<48>(static_cast<std::uint8_t>(12 + i));
  r.report_data = pattern<64>(16);
  return r;
}

QuoteParts sample_parts() {
  QuoteParts p = tdx_v4_parts();
  p.header.qe_svn = 7;
  p.header.pce_svn = 13;
  p.header.user_data = pattern<20>(100);
  p.body = sample_td_report();
  p.qe_report = sample_enclave_report(30);
  p.qe_auth_data = Bytes(32);
  std::iota(p.qe_auth_data.begin(), p.qe_auth_data.end(), std::uint8_t{0});
  p.pck_chain_pem = "-----BEGIN CERTIFICATE-----\nnot parsed here\n-----END CERTIFICATE-----\n";
  return p;
}

QuoteParts sgx_parts(std::uint16_t version) {
  QuoteParts p = sample_parts();
  p.header.version = version;
  p.header.tee_type = kTeeTypeSgx;
  p.body_type = kBodyTypeSgx;
  p.body = sample_enclave_report(60);
  return p;
}

QuoteParts tdx15_parts() {
  QuoteParts p = sample_parts();
  p.header.version = 5;
  p.body_type = kBodyTypeTdx15;
  TdReport td = sample_td_report();
  td.tee_tcb_svn_2 = pattern<16>(200);
  td.mr_servicetd = pattern<48>(201);
  p.body = td;
  return p;
}

struct Keys {
  crypto::EcPrivateKey attestation = crypto::EcPrivateKey::generate(crypto::EcCurve::P256);
  crypto::EcPrivateKey pck = crypto::EcPrivateKey::generate(crypto::EcCurve::P256);
};

void expect_enclave_report_eq(const EnclaveReport& a, const EnclaveReport& b) {
  EXPECT_EQ(a.cpu_svn, b.cpu_svn);
  EXPECT_EQ(a.misc_select, b.misc_select);
  EXPECT_EQ(a.attributes, b.attributes);
  EXPECT_EQ(a.mr_enclave, b.mr_enclave);
  EXPECT_EQ(a.mr_signer, b.mr_signer);
  EXPECT_EQ(a.isv_prod_id, b.isv_prod_id);
  EXPECT_EQ(a.isv_svn, b.isv_svn);
  EXPECT_EQ(a.report_data, b.report_data);
}

void expect_td_report_eq(const TdReport& a, const TdReport& b) {
  EXPECT_EQ(a.tee_tcb_svn, b.tee_tcb_svn);
  EXPECT_EQ(a.mr_seam, b.mr_seam);
  EXPECT_EQ(a.mr_signer_seam, b.mr_signer_seam);
  EXPECT_EQ(a.seam_attributes, b.seam_attributes);
  EXPECT_EQ(a.td_attributes, b.td_attributes);
  EXPECT_EQ(a.xfam, b.xfam);
  EXPECT_EQ(a.mr_td, b.mr_td);
  EXPECT_EQ(a.mr_config_id, b.mr_config_id);
  EXPECT_EQ(a.mr_owner, b.mr_owner);
  EXPECT_EQ(a.mr_owner_config, b.mr_owner_config);
  EXPECT_EQ(a.rtmr, b.rtmr);
  EXPECT_EQ(a.report_data, b.report_data);
  EXPECT_EQ(a.tee_tcb_svn_2, b.tee_tcb_svn_2);
  EXPECT_EQ(a.mr_servicetd, b.mr_servicetd);
}

// Signs `parts`, serializes, parses, and compares every field parse_quote returns.
void expect_round_trip(QuoteParts parts) {
  const Keys keys;
  ASSERT_TRUE(sign_quote(parts, keys.attestation, keys.pck));
  auto bytes = serialize_quote(parts);
  ASSERT_TRUE(bytes) << bytes.error().message;
  auto q = parse_quote(*bytes);
  ASSERT_TRUE(q) << q.error().message;

  EXPECT_EQ(q->header.version, parts.header.version);
  EXPECT_EQ(q->header.attestation_key_type, parts.header.attestation_key_type);
  EXPECT_EQ(q->header.tee_type, parts.header.tee_type);
  EXPECT_EQ(q->header.qe_svn, parts.header.qe_svn);
  EXPECT_EQ(q->header.pce_svn, parts.header.pce_svn);
  EXPECT_EQ(q->header.qe_vendor_id, parts.header.qe_vendor_id);
  EXPECT_EQ(q->header.user_data, parts.header.user_data);
  EXPECT_EQ(q->body_type, parts.body_type);
  ASSERT_EQ(q->body.index(), parts.body.index());
  if (const auto* td = std::get_if<TdReport>(&parts.body)) {
    expect_td_report_eq(*q->td_report(), *td);
  } else {
    expect_enclave_report_eq(*q->enclave_report(), std::get<EnclaveReport>(parts.body));
  }
  EXPECT_EQ(q->signed_region, signed_region(parts));
  EXPECT_EQ(q->signature, parts.signature);
  EXPECT_EQ(q->attestation_key, parts.attestation_key);
  EXPECT_EQ(q->certification.qe_report_raw, serialize_enclave_report(parts.qe_report));
  expect_enclave_report_eq(q->certification.qe_report, parts.qe_report);
  EXPECT_EQ(q->certification.qe_report_signature, parts.qe_report_signature);
  EXPECT_EQ(q->certification.qe_auth_data, parts.qe_auth_data);
  EXPECT_EQ(q->certification.outer_cert_type, parts.header.version == 3 ? kCertTypePckChain : kCertTypeQeReport);
  EXPECT_EQ(q->certification.pck_chain_pem, parts.pck_chain_pem);
  EXPECT_EQ(q->length, bytes->size());
}

TEST(QuoteBuilder, ShouldRoundTripTdxV4ThroughParseQuote) { expect_round_trip(sample_parts()); }

TEST(QuoteBuilder, ShouldRoundTripSgxV3ThroughParseQuote) { expect_round_trip(sgx_parts(3)); }

TEST(QuoteBuilder, ShouldRoundTripSgxV4ThroughParseQuote) { expect_round_trip(sgx_parts(4)); }

TEST(QuoteBuilder, ShouldRoundTripTdx15V5ThroughParseQuote) { expect_round_trip(tdx15_parts()); }

TEST(QuoteBuilder, ShouldRoundTripTdx10V5ThroughParseQuote) {
  QuoteParts p = sample_parts();
  p.header.version = 5;
  expect_round_trip(p);
}

TEST(QuoteBuilder, ShouldRoundTripEmptyQeAuthData) {
  QuoteParts p = sample_parts();
  p.qe_auth_data.clear();
  expect_round_trip(p);
}

TEST(QuoteBuilder, ShouldRoundTripPckChainWithoutTerminatingNul) {
  QuoteParts p = sample_parts();
  p.nul_terminate_pck_chain = false;
  expect_round_trip(p);
}

// Byte exactness against the hardware: real quotes, taken apart by
// parse_quote and put back together, give the same bytes.
void expect_reproduces(std::string_view vector, bool nul_terminated_chain) {
  SCOPED_TRACE(vector);
  const Bytes real = read_bytes(vector);
  auto q = parse_quote(real);
  ASSERT_TRUE(q) << q.error().message;
  QuoteParts p;
  p.header = q->header;
  p.body_type = q->body_type;
  p.body = q->body;
  p.qe_report = q->certification.qe_report;
  p.qe_auth_data = q->certification.qe_auth_data;
  p.pck_chain_pem = q->certification.pck_chain_pem;
  p.nul_terminate_pck_chain = nul_terminated_chain;
  p.signature = q->signature;
  p.attestation_key = q->attestation_key;
  p.qe_report_signature = q->certification.qe_report_signature;
  auto rebuilt = serialize_quote(p);
  ASSERT_TRUE(rebuilt);
  EXPECT_EQ(*rebuilt, Bytes(real.begin(), real.begin() + static_cast<std::ptrdiff_t>(q->length)));
}

TEST(QuoteBuilder, ShouldReproduceRealTdxV4QuoteByteForByte) { expect_reproduces("dcap-qvl/tdx_quote", true); }

TEST(QuoteBuilder, ShouldReproduceRealTdxV5QuoteByteForByte) {
  expect_reproduces("go-tdx-guest/quote_v5_sample.dat", true);
}

TEST(QuoteBuilder, ShouldReproduceRealSgxV3QuotesByteForByte) {
  expect_reproduces("dcap-qvl/sgx_quote", true);
  expect_reproduces("trustee/occlum_quote.dat", false);
}

TEST(QuoteBuilder, ShouldWriteIntelLayoutForTdxV4) {
  const QuoteParts p = sample_parts();
  auto bytes = build_quote(p, Keys().attestation, Keys().pck);
  ASSERT_TRUE(bytes);
  const std::size_t cert_data =
      kEnclaveReportSize + 64 + 2 + p.qe_auth_data.size() + 2 + 4 + p.pck_chain_pem.size() + 1;  // + NUL
  ASSERT_EQ(bytes->size(), kHeaderSize + kTdReport10Size + 4 + 64 + 64 + 2 + 4 + cert_data);
  const Bytes& b = *bytes;
  EXPECT_EQ(b[0], 4);     // version, little-endian
  EXPECT_EQ(b[1], 0);
  EXPECT_EQ(b[4], 0x81);  // TEE type TDX
  // MRTD after TEE_TCB_SVN, MRSEAM, MRSIGNERSEAM and three 8-byte attribute fields.
  const auto mr_td = std::get<TdReport>(p.body).mr_td;
  EXPECT_TRUE(std::equal(mr_td.begin(), mr_td.end(), b.begin() + 48 + 16 + 48 + 48 + 24));
  // Signature data length, then certification data type 6 after signature and key.
  const std::size_t sig_len_at = kHeaderSize + kTdReport10Size;
  EXPECT_EQ(b[sig_len_at] | (b[sig_len_at + 1] << 8), 64 + 64 + 2 + 4 + static_cast<int>(cert_data));
  EXPECT_EQ(b[sig_len_at + 4 + 128], kCertTypeQeReport);
  EXPECT_EQ(b.back(), 0);  // the PCK chain's terminating NUL
}

TEST(QuoteBuilder, ShouldSizeBodiesByType) {
  EXPECT_EQ(serialize_header(QuoteHeader{}).size(), kHeaderSize);
  EXPECT_EQ(serialize_enclave_report(EnclaveReport{}).size(), kEnclaveReportSize);
  EXPECT_EQ(serialize_td_report(TdReport{}, false).size(), kTdReport10Size);
  EXPECT_EQ(serialize_td_report(TdReport{}, true).size(), kTdReport15Size);
  EXPECT_EQ(signed_region(tdx15_parts()).size(), kHeaderSize + 6 + kTdReport15Size);
}

TEST(QuoteBuilder, ShouldBindAttestationKeyInQeReportData) {
  QuoteParts p = sample_parts();
  const Keys keys;
  ASSERT_TRUE(sign_quote(p, keys.attestation, keys.pck));
  Bytes preimage(p.attestation_key.begin(), p.attestation_key.end());
  preimage.insert(preimage.end(), p.qe_auth_data.begin(), p.qe_auth_data.end());
  const auto digest = crypto::sha256(preimage);
  EXPECT_TRUE(std::equal(digest.begin(), digest.end(), p.qe_report.report_data.begin()));
  EXPECT_TRUE(std::all_of(p.qe_report.report_data.begin() + 32, p.qe_report.report_data.end(),
                          [](std::uint8_t b) { return b == 0; }));
  const Bytes sec1 = keys.attestation.public_key().to_sec1();
  EXPECT_TRUE(std::equal(p.attestation_key.begin(), p.attestation_key.end(), sec1.begin() + 1));
}

TEST(QuoteBuilder, ShouldSignQeReportWithPckKeyAndQuoteWithAttestationKey) {
  QuoteParts p = sample_parts();
  const Keys keys;
  ASSERT_TRUE(sign_quote(p, keys.attestation, keys.pck));
  EXPECT_TRUE(crypto::ecdsa_verify(keys.pck.public_key(), crypto::HashAlg::Sha256, serialize_enclave_report(p.qe_report),
                                   p.qe_report_signature, crypto::SigFormat::Raw));
  EXPECT_TRUE(crypto::ecdsa_verify(keys.attestation.public_key(), crypto::HashAlg::Sha256, signed_region(p),
                                   p.signature, crypto::SigFormat::Raw));
}

TEST(QuoteBuilder, ShouldKeepAFieldChangedAfterSigningSoTheSignatureBreaks) {
  QuoteParts p = sample_parts();
  const Keys keys;
  ASSERT_TRUE(sign_quote(p, keys.attestation, keys.pck));
  std::get<TdReport>(p.body).mr_td[0] ^= 1;
  auto q = parse_quote(*serialize_quote(p));
  ASSERT_TRUE(q);
  EXPECT_EQ(q->td_report()->mr_td[0], std::get<TdReport>(p.body).mr_td[0]);
  EXPECT_FALSE(crypto::ecdsa_verify(keys.attestation.public_key(), crypto::HashAlg::Sha256, q->signed_region,
                                    q->signature, crypto::SigFormat::Raw));
}

TEST(QuoteBuilder, ShouldRefuseQeAuthDataLongerThanItsLengthField) {
  QuoteParts p = sample_parts();
  p.qe_auth_data = Bytes(65536);
  auto bytes = build_quote(p, Keys().attestation, Keys().pck);
  ASSERT_FALSE(bytes);
  EXPECT_EQ(bytes.error().code, "attest.quote");
}

TEST(QuoteBuilder, ShouldRefuseKeysNotOnP256) {
  const auto p384 = crypto::EcPrivateKey::generate(crypto::EcCurve::P384);
  auto bytes = build_quote(sample_parts(), p384, Keys().pck);
  ASSERT_FALSE(bytes);
  EXPECT_EQ(bytes.error().code, "attest.quote");
  EXPECT_FALSE(build_quote(sample_parts(), Keys().attestation, p384));
}

}  // namespace
}  // namespace ward::attest::dcap
