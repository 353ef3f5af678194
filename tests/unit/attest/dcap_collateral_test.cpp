#include <algorithm>
#include <chrono>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "attest/dcap/collateral.h"
#include "attest/dcap/pck.h"
#include "attest/dcap/quote.h"
#include "attest/dcap/tcb.h"
#include "crypto/x509.h"

namespace ward::attest::dcap {
namespace {

constexpr std::string_view kTestdata = "../shared/testdata/attestation/tdx-sgx/";

std::string read_text(std::string_view relative) {
  std::ifstream in(std::string(kTestdata) + std::string(relative), std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

Collateral load_collateral(std::string_view relative) {
  auto c = parse_collateral(read_text(relative));
  EXPECT_TRUE(c.has_value()) << (c ? "" : c.error().message);
  return c.value_or(Collateral{});
}

crypto::Certificate pck_leaf_of(std::string_view quote_file) {
  const std::string bytes = read_text(quote_file);
  const Quote quote = parse_quote(as_bytes(bytes)).value();
  return crypto::parse_pem_chain(quote.certification.pck_chain_pem).value().front();
}

nlohmann::json collateral_json(std::string_view relative) {
  return nlohmann::json::parse(read_text(relative));
}

std::string with(nlohmann::json j, std::string_view key, nlohmann::json value) {
  j[std::string(key)] = std::move(value);
  return j.dump();
}

std::string without(nlohmann::json j, std::string_view key) {
  j.erase(std::string(key));
  return j.dump();
}

// ---- collateral JSON ----

TEST(DcapCollateral, ShouldParseEveryDcapQvlFieldWhenReadingRealCollateral) {
  const Collateral c = load_collateral("dcap-qvl/tdx_quote_collateral.json");
  EXPECT_NE(c.pck_crl_issuer_chain.find("-----BEGIN CERTIFICATE-----"), std::string::npos);
  EXPECT_TRUE(crypto::Crl::from_der(c.root_ca_crl).has_value());
  EXPECT_TRUE(crypto::Crl::from_der(c.pck_crl).has_value());
  EXPECT_TRUE(c.tcb_info.starts_with("{\"id\":\"TDX\""));
  EXPECT_EQ(c.tcb_info_signature.size(), 64u);
  EXPECT_TRUE(c.qe_identity.starts_with("{\"id\":\"TD_QE\""));
  EXPECT_EQ(c.qe_identity_signature.size(), 64u);
}

TEST(DcapCollateral, ShouldRoundTripWhenWrittenAndReadAgain) {
  for (const char* file : {"dcap-qvl/tdx_quote_collateral.json", "dcap-qvl/sgx_quote_collateral.json",
                           "go-tdx-guest/derived_collateral_v4_SPR_E4.json"}) {
    SCOPED_TRACE(file);
    const Collateral c = load_collateral(file);
    const std::string written = collateral_to_json(c);
    auto again = parse_collateral(written);
    ASSERT_TRUE(again.has_value()) << again.error().message;
    EXPECT_EQ(again->pck_crl_issuer_chain, c.pck_crl_issuer_chain);
    EXPECT_EQ(again->root_ca_crl, c.root_ca_crl);
    EXPECT_EQ(again->pck_crl, c.pck_crl);
    EXPECT_EQ(again->tcb_info_issuer_chain, c.tcb_info_issuer_chain);
    EXPECT_EQ(again->tcb_info, c.tcb_info);
    EXPECT_EQ(again->tcb_info_signature, c.tcb_info_signature);
    EXPECT_EQ(again->qe_identity_issuer_chain, c.qe_identity_issuer_chain);
    EXPECT_EQ(again->qe_identity, c.qe_identity);
    EXPECT_EQ(again->qe_identity_signature, c.qe_identity_signature);
    // Same schema and values as dcap-qvl's own file.
    EXPECT_EQ(nlohmann::json::parse(written), collateral_json(file));
  }
}

TEST(DcapCollateral, ShouldIgnoreUnknownFieldsWhenParsing) {
  auto c = parse_collateral(with(collateral_json("dcap-qvl/sgx_quote_collateral.json"), "extra", 1));
  EXPECT_TRUE(c.has_value());
}

TEST(DcapCollateral, ShouldRejectWhenAFieldIsMissing) {
  const auto j = collateral_json("dcap-qvl/sgx_quote_collateral.json");
  for (const char* key :
       {"pck_crl_issuer_chain", "root_ca_crl", "pck_crl", "tcb_info_issuer_chain", "tcb_info",
        "tcb_info_signature", "qe_identity_issuer_chain", "qe_identity", "qe_identity_signature"}) {
    SCOPED_TRACE(key);
    auto c = parse_collateral(without(j, key));
    ASSERT_FALSE(c.has_value());
    EXPECT_EQ(c.error().code, "attest.collateral");
    EXPECT_NE(c.error().message.find(key), std::string::npos) << c.error().message;
  }
}

TEST(DcapCollateral, ShouldRejectWhenACrlIsNotHex) {
  auto c = parse_collateral(with(collateral_json("dcap-qvl/sgx_quote_collateral.json"), "pck_crl", "30zz"));
  ASSERT_FALSE(c.has_value());
  EXPECT_NE(c.error().message.find("pck_crl"), std::string::npos);
}

TEST(DcapCollateral, ShouldRejectWhenASignatureIsNot64Bytes) {
  auto c = parse_collateral(with(collateral_json("dcap-qvl/sgx_quote_collateral.json"), "tcb_info_signature",
                                 std::string(126, 'a')));
  ASSERT_FALSE(c.has_value());
  EXPECT_NE(c.error().message.find("tcb_info_signature"), std::string::npos);
}

TEST(DcapCollateral, ShouldRejectWhenAFieldIsNotAString) {
  auto c = parse_collateral(
      with(collateral_json("dcap-qvl/sgx_quote_collateral.json"), "tcb_info", nlohmann::json::object()));
  ASSERT_FALSE(c.has_value());
  EXPECT_NE(c.error().message.find("tcb_info"), std::string::npos);
}

TEST(DcapCollateral, ShouldRejectWhenNotAJsonObject) {
  EXPECT_FALSE(parse_collateral("").has_value());
  EXPECT_FALSE(parse_collateral("{\"tcb_info\":").has_value());
  EXPECT_FALSE(parse_collateral("[1,2]").has_value());
}

TEST(DcapCollateral, ShouldRejectWhenLargerThanTheLimit) {
  std::string big = read_text("dcap-qvl/sgx_quote_collateral.json");
  big.append(kMaxCollateralSize, ' ');
  auto c = parse_collateral(big);
  ASSERT_FALSE(c.has_value());
  EXPECT_EQ(c.error().code, "attest.collateral");
}

// ---- signed JSON ----

TEST(DcapSignedJson, ShouldVerifyWhenCheckingRealTcbInfoAndQeIdentity) {
  for (const char* file : {"dcap-qvl/tdx_quote_collateral.json", "dcap-qvl/sgx_quote_collateral.json",
                           "go-tdx-guest/derived_collateral_v4_SPR_E4.json"}) {
    SCOPED_TRACE(file);
    const Collateral c = load_collateral(file);
    auto tcb_signer = crypto::parse_pem_chain(c.tcb_info_issuer_chain);
    ASSERT_TRUE(tcb_signer.has_value());
    EXPECT_TRUE(verify_signed_json(c.tcb_info, c.tcb_info_signature, tcb_signer->front()).has_value());
    auto qe_signer = crypto::parse_pem_chain(c.qe_identity_issuer_chain);
    ASSERT_TRUE(qe_signer.has_value());
    EXPECT_TRUE(verify_signed_json(c.qe_identity, c.qe_identity_signature, qe_signer->front()).has_value());
  }
}

TEST(DcapSignedJson, ShouldRejectWhenOneByteOfTheTextChanges) {
  const Collateral c = load_collateral("dcap-qvl/tdx_quote_collateral.json");
  auto signer = crypto::parse_pem_chain(c.tcb_info_issuer_chain).value().front();
  std::string text = c.tcb_info;
  text[text.find("UpToDate")] = 'u';
  auto ok = verify_signed_json(text, c.tcb_info_signature, signer);
  ASSERT_FALSE(ok.has_value());
  EXPECT_EQ(ok.error().code, "crypto.verify");
  // Re-serialized JSON is the same data but not the signed text.
  const std::string reformatted = nlohmann::json::parse(c.tcb_info).dump();
  EXPECT_FALSE(verify_signed_json(reformatted, c.tcb_info_signature, signer).has_value());
}

TEST(DcapSignedJson, ShouldRejectWhenSignedByAnotherKey) {
  const Collateral c = load_collateral("dcap-qvl/tdx_quote_collateral.json");
  // The root signs the TCB signing certificate, not the TCB Info.
  auto chain = crypto::parse_pem_chain(c.tcb_info_issuer_chain).value();
  EXPECT_FALSE(verify_signed_json(c.tcb_info, c.tcb_info_signature, chain.back()).has_value());
}

TEST(DcapSignedJson, ShouldRejectWhenTheSignerKeyIsNotP256) {
  auto key = crypto::EcPrivateKey::generate(crypto::EcCurve::P384);
  auto cert = crypto::CertificateBuilder()
                  .subject("P-384 signer")
                  .validity(std::chrono::sys_days{std::chrono::year{2024} / 1 / 1},
                            std::chrono::sys_days{std::chrono::year{2030} / 1 / 1})
                  .self_sign(key)
                  .value();
  const std::string text = "{}";
  auto ok = verify_signed_json(text, key.sign(crypto::HashAlg::Sha256, as_bytes(text)), cert);
  ASSERT_FALSE(ok.has_value());
  EXPECT_EQ(ok.error().code, "attest.collateral");
}

// ---- PCK certificate SGX extension ----

TEST(DcapPck, ShouldReadTheTdxQuotesPckExtension) {
  auto ext = parse_pck_extensions(pck_leaf_of("dcap-qvl/tdx_quote"));
  ASSERT_TRUE(ext.has_value()) << ext.error().message;
  EXPECT_EQ(hex_encode(ext->fmspc), "b0c06f000000");
  EXPECT_EQ(hex_encode(ext->pce_id), "0000");
  EXPECT_EQ(ext->ppid.size(), 16u);
  EXPECT_EQ(ext->pce_svn, 11);
  EXPECT_EQ(hex_encode(ext->cpu_svn_components), "03030202040100050000000000000000");
  EXPECT_EQ(ext->cpu_svn, ext->cpu_svn_components);
  EXPECT_EQ(ext->sgx_type, 1);  // scalable: a Platform CA certificate with .6 and .7
}

TEST(DcapPck, ShouldReadTheSgxQuotesPckExtension) {
  auto ext = parse_pck_extensions(pck_leaf_of("dcap-qvl/sgx_quote"));
  ASSERT_TRUE(ext.has_value()) << ext.error().message;
  EXPECT_EQ(hex_encode(ext->fmspc), "00a067110000");
  EXPECT_EQ(ext->sgx_type, 0);
}

TEST(DcapPck, ShouldRejectWhenTheCertificateHasNoSgxExtension) {
  const Collateral c = load_collateral("dcap-qvl/tdx_quote_collateral.json");
  auto root = crypto::parse_pem_chain(c.tcb_info_issuer_chain).value().back();
  auto ext = parse_pck_extensions(root);
  ASSERT_FALSE(ext.has_value());
  EXPECT_EQ(ext.error().code, "attest.pck");
}

PckExtensions sample_extensions() {
  PckExtensions e;
  e.ppid = Bytes(16, 0xA5);
  for (std::size_t i = 0; i < 16; ++i) e.cpu_svn_components[i] = static_cast<std::uint8_t>(i * 17);
  e.cpu_svn = e.cpu_svn_components;
  e.pce_svn = 0x1234;
  e.pce_id = {0x00, 0x01};
  e.fmspc = {0x00, 0x90, 0x6E, 0xA1, 0x00, 0x00};
  e.sgx_type = 0;
  return e;
}

TEST(DcapPck, ShouldRoundTripWhenEncodedAndParsed) {
  const PckExtensions e = sample_extensions();
  auto parsed = parse_pck_extensions_der(encode_pck_extensions(e));
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
  EXPECT_EQ(*parsed, e);
}

TEST(DcapPck, ShouldReencodeARealProcessorCaExtensionByteForByte) {
  // The SGX quote's PCK comes from the Processor CA: exactly the five elements.
  const auto cert = pck_leaf_of("dcap-qvl/sgx_quote");
  const Bytes der = cert.extension(kSgxExtensionOid).value();
  EXPECT_EQ(encode_pck_extensions(parse_pck_extensions_der(der).value()), der);
}

TEST(DcapPck, ShouldParseWhenIssuedInACertificate) {
  auto key = crypto::EcPrivateKey::generate(crypto::EcCurve::P256);
  const PckExtensions e = sample_extensions();
  auto cert = crypto::CertificateBuilder()
                  .subject("Ward Sim PCK Certificate")
                  .validity(std::chrono::sys_days{std::chrono::year{2024} / 1 / 1},
                            std::chrono::sys_days{std::chrono::year{2030} / 1 / 1})
                  .extension(kSgxExtensionOid, encode_pck_extensions(e))
                  .self_sign(key)
                  .value();
  auto parsed = parse_pck_extensions(cert);
  ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
  EXPECT_EQ(*parsed, e);
}

// Replaces the first occurrence of `from` in `der`.
Bytes replace_once(Bytes der, const Bytes& from, const Bytes& to) {
  auto it = std::search(der.begin(), der.end(), from.begin(), from.end());
  EXPECT_NE(it, der.end());
  const auto at = it - der.begin();
  der.erase(der.begin() + at, der.begin() + at + static_cast<std::ptrdiff_t>(from.size()));
  der.insert(der.begin() + at, to.begin(), to.end());
  return der;
}

void expect_rejected(const Bytes& der, std::string_view fragment) {
  auto parsed = parse_pck_extensions_der(der);
  ASSERT_FALSE(parsed.has_value());
  EXPECT_EQ(parsed.error().code, "attest.pck");
  EXPECT_NE(parsed.error().message.find(fragment), std::string::npos) << parsed.error().message;
}

TEST(DcapPck, ShouldRejectWhenTruncated) {
  const Bytes der = encode_pck_extensions(sample_extensions());
  for (std::size_t n = 0; n < der.size(); ++n) {
    EXPECT_FALSE(parse_pck_extensions_der(ByteView(der).first(n)).has_value()) << n;
  }
}

TEST(DcapPck, ShouldRejectWhenBytesTrail) {
  Bytes der = encode_pck_extensions(sample_extensions());
  der.push_back(0);
  expect_rejected(der, "trailing");
}

TEST(DcapPck, ShouldRejectWhenALengthIsNotMinimal) {
  expect_rejected({0x30, 0x81, 0x00}, "non-minimal length");
  expect_rejected({0x30, 0x82, 0x00, 0x80}, "non-minimal length");
}

TEST(DcapPck, ShouldRejectWhenALengthIsIndefinite) {
  expect_rejected({0x30, 0x80, 0x00, 0x00}, "unsupported length encoding");
}

TEST(DcapPck, ShouldRejectWhenPpidHasTheWrongLength) {
  PckExtensions e = sample_extensions();
  e.ppid = Bytes(15, 1);
  expect_rejected(encode_pck_extensions(e), "PPID must be 16 bytes");
}

TEST(DcapPck, ShouldRejectWhenAComponentSvnIsNegative) {
  const Bytes der = encode_pck_extensions(sample_extensions());
  // Component .2 holds 17 (02 01 11); 0xFF alone is the INTEGER -1.
  const Bytes svn2{0x0D, 0x01, 0x02, 0x02, 0x02, 0x01, 0x11};
  expect_rejected(replace_once(der, svn2, {0x0D, 0x01, 0x02, 0x02, 0x02, 0x01, 0xFF}), "negative");
}

TEST(DcapPck, ShouldRejectWhenAnElementIsMissing) {
  // Rebuild without the SGX Type element by trimming the last entry.
  const Bytes der = encode_pck_extensions(sample_extensions());
  // The SGX Type entry is SEQUENCE(OID .5, ENUMERATED 0): 30 0F 06 0A <9> 05 0A 01 00, 17 bytes at the end.
  Bytes body(der.begin() + 4, der.end() - 17);
  Bytes trimmed{0x30, 0x82, static_cast<std::uint8_t>(body.size() >> 8),
                static_cast<std::uint8_t>(body.size())};
  trimmed.insert(trimmed.end(), body.begin(), body.end());
  expect_rejected(trimmed, "SGX Type is missing");
}

TEST(DcapPck, ShouldRejectWhenElementsRepeat) {
  const Bytes der = encode_pck_extensions(sample_extensions());
  // The PCE-ID element (.3) claims to be a second TCB (.2).
  const Bytes pce_oid{0x0D, 0x01, 0x03, 0x04, 0x02};
  expect_rejected(replace_once(der, pce_oid, {0x0D, 0x01, 0x02, 0x04, 0x02}),
                  "element .2 is out of order or repeated");
}

TEST(DcapPck, ShouldRejectWhenAnElementHasTheWrongType) {
  const Bytes der = encode_pck_extensions(sample_extensions());
  // FMSPC as a BIT STRING (03) instead of an OCTET STRING.
  const Bytes fmspc{0x0D, 0x01, 0x04, 0x04, 0x06};
  expect_rejected(replace_once(der, fmspc, {0x0D, 0x01, 0x04, 0x03, 0x06}), "FMSPC has the wrong type");
}

TEST(DcapPck, ShouldRejectWhenAnIntegerIsNotMinimal) {
  const Bytes der = encode_pck_extensions(sample_extensions());
  // PCESVN 0x1234 is 02 02 12 34; 00 34 is 0x34 with a needless leading zero.
  Bytes changed = replace_once(der, {0x02, 0x02, 0x12, 0x34}, {0x02, 0x02, 0x00, 0x34});
  expect_rejected(changed, "not minimally encoded");
}

TEST(DcapPck, ShouldRejectWhenTheOidIsUnknown) {
  const Bytes der = encode_pck_extensions(sample_extensions());
  const Bytes ppid_oid{0x06, 0x0A, 0x2A, 0x86, 0x48, 0x86, 0xF8, 0x4D, 0x01, 0x0D, 0x01, 0x01};
  expect_rejected(
      replace_once(der, ppid_oid, {0x06, 0x0A, 0x2A, 0x86, 0x48, 0x86, 0xF8, 0x4D, 0x01, 0x0D, 0x02, 0x01}),
      "unknown OID");
}

}  // namespace
}  // namespace ward::attest::dcap
