#include "attest/snp.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "base/bytes.h"
#include "base/file.h"
#include "crypto/ecdsa.h"
#include "crypto/hash.h"
#include "crypto/x509.h"

namespace ward::attest::snp {
namespace {

using namespace std::chrono;
using crypto::Certificate;

const std::string kDir = "../shared/testdata/attestation/snp/";

// Inside every real VCEK's validity (the latest notBefore is the Genoa one
// of trustee's e2e evidence, 2025-05-27).
const system_clock::time_point kAt = sys_days{2025y / 6 / 1};

Bytes read(const std::string& relative) {
  auto data = read_file(kDir + relative, 1 << 20);
  EXPECT_TRUE(data.has_value()) << relative;
  return data.value_or(Bytes{});
}

Bytes read_hex(const std::string& relative) {
  std::string text = std::string(as_chars(read(relative)));
  std::erase_if(text, [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; });
  return hex_decode(text).value();
}

Certificate der_cert(const std::string& relative) {
  return Certificate::from_der(read(relative)).value();
}

std::vector<Certificate> pem_certs(const std::string& relative) {
  return crypto::parse_pem_chain(as_chars(read(relative))).value();
}

void put_tcb(Bytes& r, std::size_t off, const nlohmann::json& t) {
  r[off] = t.at("bootloader").get<std::uint8_t>();
  r[off + 1] = t.at("tee").get<std::uint8_t>();
  r[off + 6] = t.at("snp").get<std::uint8_t>();
  r[off + 7] = t.at("microcode").get<std::uint8_t>();
}

void put_le(Bytes& r, std::size_t off, std::uint64_t v, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) r[off + i] = static_cast<std::uint8_t>(v >> (8 * i));
}

void put_array(Bytes& r, std::size_t off, const nlohmann::json& a) {
  for (std::size_t i = 0; i < a.size(); ++i) r[off + i] = a[i].get<std::uint8_t>();
}

// trustee's e2e evidence is virtee/sev's JSON form of a version 3 Genoa
// report; the binary report is rebuilt field by field (reserved bytes zero).
struct E2eEvidence {
  Bytes report;
  Certificate vcek;
};

E2eEvidence e2e_evidence() {
  const auto j = nlohmann::json::parse(as_chars(read("trustee/e2e-evidence.json")), nullptr, false);
  EXPECT_FALSE(j.is_discarded());
  const auto& a = j.at("attestation_report");
  Bytes r(kReportSize, 0);
  put_le(r, 0x00, a.at("version").get<std::uint32_t>(), 4);
  put_le(r, 0x04, a.at("guest_svn").get<std::uint32_t>(), 4);
  put_le(r, 0x08, a.at("policy").get<std::uint64_t>(), 8);
  put_array(r, 0x10, a.at("family_id"));
  put_array(r, 0x20, a.at("image_id"));
  put_le(r, 0x30, a.at("vmpl").get<std::uint32_t>(), 4);
  put_le(r, 0x34, a.at("sig_algo").get<std::uint32_t>(), 4);
  put_tcb(r, 0x38, a.at("current_tcb"));
  put_le(r, 0x40, a.at("plat_info").get<std::uint64_t>(), 8);
  put_le(r, 0x48, a.at("key_info").get<std::uint32_t>(), 4);
  put_array(r, 0x50, a.at("report_data"));
  put_array(r, 0x90, a.at("measurement"));
  put_array(r, 0xC0, a.at("host_data"));
  put_array(r, 0xE0, a.at("id_key_digest"));
  put_array(r, 0x110, a.at("author_key_digest"));
  put_array(r, 0x140, a.at("report_id"));
  put_array(r, 0x160, a.at("report_id_ma"));
  put_tcb(r, 0x180, a.at("reported_tcb"));
  r[0x188] = a.at("cpuid_fam_id").get<std::uint8_t>();
  r[0x189] = a.at("cpuid_mod_id").get<std::uint8_t>();
  r[0x18A] = a.at("cpuid_step").get<std::uint8_t>();
  put_array(r, 0x1A0, a.at("chip_id"));
  put_tcb(r, 0x1E0, a.at("committed_tcb"));
  for (const auto& [field, off] : {std::pair{"current", 0x1E8}, std::pair{"committed", 0x1EC}}) {
    r[off] = a.at(field).at("build").get<std::uint8_t>();
    r[off + 1] = a.at(field).at("minor").get<std::uint8_t>();
    r[off + 2] = a.at(field).at("major").get<std::uint8_t>();
  }
  put_tcb(r, 0x1F0, a.at("launch_tcb"));
  put_array(r, 0x2A0, a.at("signature").at("r"));
  put_array(r, 0x2A0 + 72, a.at("signature").at("s"));
  const auto& entry = j.at("cert_chain").at(0);
  EXPECT_EQ(entry.at("cert_type"), "VCEK");
  return {r, Certificate::from_der(entry.at("data").get<Bytes>()).value()};
}

struct RealVector {
  std::string name;
  Bytes report;
  Certificate vcek;
};

std::vector<RealVector> real_vectors() {
  E2eEvidence e2e = e2e_evidence();
  return {
      {"trustee/test-report.bin", read("trustee/test-report.bin"), der_cert("trustee/test-vcek.der")},
      {"go-sev-guest/attestation.bin", read("go-sev-guest/attestation.bin"),
       der_cert("go-sev-guest/vcek.testcer")},
      {"virtee-sev/report_milan.hex", read_hex("virtee-sev/report_milan.hex"),
       der_cert("virtee-sev/vcek_milan.der")},
      {"trustee/e2e-evidence.json", e2e.report, e2e.vcek},
  };
}

Appraisal appraise(ByteView report, std::span<const Certificate> certs, system_clock::time_point at = kAt) {
  Appraisal out;
  verify(report, certs, at, out);
  return out;
}

Appraisal appraise(ByteView report, const Certificate& vcek, system_clock::time_point at = kAt) {
  return appraise(report, std::span(&vcek, 1), at);
}

std::string failed_check(const Appraisal& a) {
  const CheckResult* f = a.checks.first_failure();
  return f == nullptr ? "" : f->name;
}

std::string failed_detail(const Appraisal& a) {
  const CheckResult* f = a.checks.first_failure();
  return f == nullptr ? "" : f->detail;
}

// --- Built-in roots -------------------------------------------------------

TEST(SnpRoots, ShouldEmbedExactlyTheCertificatesInTestdata) {
  const auto roots = amd_roots();
  ASSERT_EQ(roots.size(), 3u);
  for (const ProductRoots& r : roots) {
    const std::string p(product_name(r.product));
    for (const auto& [cert, file] : {std::pair{&r.ark, "ARK-" + p}, std::pair{&r.ask, "SEV-" + p},
                                     std::pair{&r.asvk, "SEV-VLEK-" + p}}) {
      const auto published = pem_certs("amd-roots/" + file + ".pem");
      ASSERT_EQ(published.size(), 1u) << file;
      EXPECT_EQ(hex_encode(crypto::sha256(cert->to_der())), hex_encode(crypto::sha256(published[0].to_der())))
          << file;
    }
  }
}

TEST(SnpRoots, ShouldHaveSelfSignedArksThatSignTheirAskAndAsvk) {
  for (const ProductRoots& r : amd_roots()) {
    const std::string p(product_name(r.product));
    EXPECT_TRUE(r.ark.verify_signature(r.ark)) << p;
    EXPECT_TRUE(r.ask.verify_signature(r.ark)) << p;
    EXPECT_TRUE(r.asvk.verify_signature(r.ark)) << p;
    EXPECT_NE(r.ark.subject().find("CN=ARK-" + p), std::string::npos);
    EXPECT_TRUE(r.ask.is_ca());
    EXPECT_TRUE(r.asvk.is_ca());
  }
}

TEST(SnpRoots, ShouldAgreeWithTheBundlesOfTrusteeGoSevGuestAndVirtee) {
  const auto roots = amd_roots();
  auto known = [&](const Certificate& c) {
    return std::any_of(roots.begin(), roots.end(),
                       [&](const ProductRoots& r) { return c == r.ark || c == r.ask || c == r.asvk; });
  };
  for (const std::string file :
       {"amd-roots/trustee_milan_ask_ark_asvk.pem", "amd-roots/trustee_genoa_ask_ark_asvk.pem",
        "amd-roots/trustee_turin_ask_ark_asvk.pem", "go-sev-guest/milan.testcer",
        "go-sev-guest/milanvlek.testcer", "virtee-sev/cert_chain_milan", "virtee-sev/cert_chain_turin"}) {
    for (const Certificate& c : pem_certs(file)) EXPECT_TRUE(known(c)) << file << ": " << c.subject();
  }
}

// --- Report parsing -------------------------------------------------------

TEST(SnpReport, ShouldParseTheFieldsOfTrusteeTestReport) {
  auto r = parse_report(read("trustee/test-report.bin"));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->version, 2u);
  EXPECT_EQ(r->guest_svn, 4u);
  EXPECT_EQ(r->policy, 0x3001fu);
  EXPECT_EQ(r->vmpl, 0u);
  EXPECT_EQ(r->signature_algo, 1u);
  EXPECT_EQ(r->signing_key(), 0u);
  EXPECT_FALSE(r->cpuid);
  EXPECT_FALSE(r->launch_mit_vector);
  EXPECT_EQ(decode_tcb(r->reported_tcb, Product::Milan), (SnpTcb{3, 0, 8, 0x73, std::nullopt}));
  EXPECT_EQ(r->current.major, 1);
  EXPECT_EQ(r->current.minor, 52);
  EXPECT_EQ(r->current.build, 4);
  EXPECT_EQ(hex_encode(r->chip_id).substr(0, 8), "c38427a3");
  EXPECT_EQ(r->signed_region.size(), kSignedSize);
}

TEST(SnpReport, ShouldParseVersion3CpuidFromTrusteeE2eEvidence) {
  auto r = parse_report(e2e_evidence().report);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->version, 3u);
  ASSERT_TRUE(r->cpuid);
  EXPECT_EQ(r->cpuid->family, 0x19);
  EXPECT_EQ(r->cpuid->model, 0xA0);
  EXPECT_EQ(r->cpuid->stepping, 2);
  EXPECT_EQ(product_from_cpuid(r->cpuid->family, r->cpuid->model), Product::Genoa);
  EXPECT_EQ(r->current.minor, 55);
}

TEST(SnpReport, ShouldRejectAnyLengthButTheReportSize) {
  const Bytes report = read("trustee/test-report.bin");
  for (std::size_t n : {std::size_t{0}, std::size_t{3}, std::size_t{4}, kSignedSize, kReportSize - 1}) {
    auto r = parse_report(ByteView(report).first(n));
    ASSERT_FALSE(r) << n;
    EXPECT_EQ(r.error().code, "snp.report.parse");
  }
  Bytes longer = report;
  longer.push_back(0);
  EXPECT_FALSE(parse_report(longer));
}

TEST(SnpReport, ShouldRejectUnsupportedVersions) {
  Bytes report = read("trustee/test-report.bin");
  for (std::uint8_t v : {0, 1, 4, 6, 0xff}) {
    report[0] = v;
    auto r = parse_report(report);
    ASSERT_FALSE(r) << int{v};
    EXPECT_EQ(r.error().code, "snp.report.version");
  }
}

TEST(SnpReport, ShouldReadMitigationVectorsOfVersion5) {
  Bytes report(kReportSize, 0);
  report[0] = 5;
  report[0x1F8] = 0x11;
  report[0x200] = 0x22;
  auto r = parse_report(report);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->launch_mit_vector, 0x11u);
  EXPECT_EQ(r->current_mit_vector, 0x22u);
  ASSERT_TRUE(r->cpuid);
}

TEST(SnpReport, ShouldDecodeTcbByProductLayout) {
  const std::uint64_t raw = 0x0807060504030201;
  EXPECT_EQ(decode_tcb(raw, Product::Milan), (SnpTcb{1, 2, 7, 8, std::nullopt}));
  EXPECT_EQ(decode_tcb(raw, Product::Genoa), (SnpTcb{1, 2, 7, 8, std::nullopt}));
  EXPECT_EQ(decode_tcb(raw, Product::Turin), (SnpTcb{2, 3, 4, 8, std::uint8_t{1}}));
}

TEST(SnpReport, ShouldMapCpuidToProducts) {
  EXPECT_EQ(product_from_cpuid(0x19, 0x01), Product::Milan);
  EXPECT_EQ(product_from_cpuid(0x19, 0x11), Product::Genoa);
  EXPECT_EQ(product_from_cpuid(0x19, 0xA0), Product::Genoa);
  EXPECT_EQ(product_from_cpuid(0x1A, 0x02), Product::Turin);
  EXPECT_EQ(product_from_cpuid(0x19, 0x21), std::nullopt);
  EXPECT_EQ(product_from_cpuid(0x17, 0x01), std::nullopt);
}

// --- Certificate table ----------------------------------------------------

Bytes guid(std::string_view text) {
  std::string digits(text);
  std::erase(digits, '-');
  return hex_decode(digits).value();
}

struct TableEntry {
  Bytes guid;
  Bytes data;
};

// Entries, the zero terminator, then the data in entry order.
Bytes build_table(const std::vector<TableEntry>& entries) {
  Bytes table;
  std::size_t offset = (entries.size() + 1) * 24;
  Bytes data;
  for (const TableEntry& e : entries) {
    table.insert(table.end(), e.guid.begin(), e.guid.end());
    for (std::uint32_t v : {static_cast<std::uint32_t>(offset), static_cast<std::uint32_t>(e.data.size())}) {
      for (int i = 0; i < 4; ++i) table.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
    }
    offset += e.data.size();
    data.insert(data.end(), e.data.begin(), e.data.end());
  }
  table.resize(table.size() + 24, 0);
  table.insert(table.end(), data.begin(), data.end());
  return table;
}

void set_entry_field(Bytes& table, std::size_t entry, std::size_t field_offset, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) table[entry * 24 + field_offset + i] = static_cast<std::uint8_t>(v >> (8 * i));
}

TEST(SnpCertTable, ShouldReturnKnownCertificatesInTableOrderAndSkipOthers) {
  const ProductRoots& milan = amd_roots()[0];
  const Certificate vcek = der_cert("trustee/test-vcek.der");
  const Bytes table = build_table({{guid(kGuidVcek), vcek.to_der()},
                                   {guid("9f4116cd-c503-4f5a-8f6f-fb68882f4ce2"), Bytes{1, 2, 3}},
                                   {guid(kGuidAsk), milan.ask.to_der()},
                                   {guid(kGuidArk), milan.ark.to_der()}});
  auto certs = parse_cert_table(table);
  ASSERT_TRUE(certs) << certs.error().message;
  ASSERT_EQ(certs->size(), 3u);
  EXPECT_EQ((*certs)[0], vcek);
  EXPECT_EQ((*certs)[1], milan.ask);
  EXPECT_EQ((*certs)[2], milan.ark);
  const Appraisal a = appraise(read("trustee/test-report.bin"), *certs);
  EXPECT_TRUE(a.accepted()) << failed_check(a) << ": " << failed_detail(a);
}

TEST(SnpCertTable, ShouldAcceptAVlekEntry) {
  const Bytes table = build_table({{guid(kGuidVlek), der_cert("virtee-sev/vcek_turin.der").to_der()}});
  auto certs = parse_cert_table(table);
  ASSERT_TRUE(certs);
  EXPECT_EQ(certs->size(), 1u);
}

TEST(SnpCertTable, ShouldAcceptATableWithOnlyTheTerminator) {
  auto certs = parse_cert_table(Bytes(24, 0));
  ASSERT_TRUE(certs);
  EXPECT_TRUE(certs->empty());
}

TEST(SnpCertTable, ShouldRejectATableWithoutTerminator) {
  const Bytes der = der_cert("trustee/test-vcek.der").to_der();
  Bytes table = build_table({{guid(kGuidVcek), der}});
  table.resize(24);  // the entry alone
  EXPECT_EQ(parse_cert_table(table).error().code, "snp.cert_table");
  EXPECT_FALSE(parse_cert_table(Bytes{}));
  EXPECT_FALSE(parse_cert_table(Bytes(23, 0)));
}

TEST(SnpCertTable, ShouldRejectEntriesOutsideTheData) {
  const Bytes der = der_cert("trustee/test-vcek.der").to_der();
  const Bytes good = build_table({{guid(kGuidVcek), der}});
  Bytes table = good;
  set_entry_field(table, 0, 20, static_cast<std::uint32_t>(der.size() + 1));  // one byte too long
  EXPECT_FALSE(parse_cert_table(table));
  table = good;
  set_entry_field(table, 0, 16, 0xFFFFFFF0u);  // offset past the end; offset + length wraps in 32 bits
  EXPECT_FALSE(parse_cert_table(table));
  table = good;
  set_entry_field(table, 0, 16, 0);  // points into the table itself
  EXPECT_FALSE(parse_cert_table(table));
  table = good;
  set_entry_field(table, 0, 20, 0);  // empty
  EXPECT_FALSE(parse_cert_table(table));
}

TEST(SnpCertTable, ShouldRejectADuplicateGuid) {
  const Bytes der = der_cert("trustee/test-vcek.der").to_der();
  EXPECT_FALSE(parse_cert_table(build_table({{guid(kGuidVcek), der}, {guid(kGuidVcek), der}})));
}

TEST(SnpCertTable, ShouldRejectACertificateWithTrailingBytes) {
  Bytes der = der_cert("trustee/test-vcek.der").to_der();
  der.push_back(0);
  auto certs = parse_cert_table(build_table({{guid(kGuidVcek), der}}));
  ASSERT_FALSE(certs);
  EXPECT_EQ(certs.error().code, "snp.cert_table");
}

// --- VCEK chains ----------------------------------------------------------

TEST(SnpChain, ShouldChainVirteeTurinVcekToTheTurinArk) {
  auto e = verify_vcek_chain(der_cert("virtee-sev/vcek_turin.der"), {}, kAt);
  ASSERT_TRUE(e) << e.error().message;
  EXPECT_EQ(e->product, Product::Turin);
  EXPECT_EQ(e->key, SigningKey::Vcek);
  EXPECT_EQ(e->extensions.product_name, "Turin");
  ASSERT_TRUE(e->extensions.hwid);
  EXPECT_EQ(hex_encode(*e->extensions.hwid), "1e550a8ee5cf9f4d");
  EXPECT_EQ(e->extensions.fmc, 0);
  EXPECT_EQ(e->extensions.bootloader, 0);
  EXPECT_EQ(e->extensions.microcode, 9);
}

TEST(SnpChain, ShouldAcceptTheAskSuppliedInVirteeTurinChain) {
  auto e =
      verify_vcek_chain(der_cert("virtee-sev/vcek_turin.der"), pem_certs("virtee-sev/cert_chain_turin"), kAt);
  ASSERT_TRUE(e) << e.error().message;
  EXPECT_EQ(e->product, Product::Turin);
}

TEST(SnpChain, ShouldReadBothHwidEncodings) {
  const auto legacy = parse_endorsement_extensions(der_cert("trustee/test-vcek-invalid-legacy.der"));
  const auto current = parse_endorsement_extensions(der_cert("trustee/test-vcek-invalid-new.der"));
  ASSERT_TRUE(legacy && current);
  ASSERT_TRUE(legacy->hwid && current->hwid);
  EXPECT_EQ(legacy->hwid->size(), 64u);
  EXPECT_EQ(*legacy->hwid, *current->hwid);
  EXPECT_EQ((*legacy->hwid)[63], 0x3f);
  EXPECT_EQ(legacy->microcode, 0xa9);  // encoded as 02 02 00 a9
}

TEST(SnpChain, ShouldRejectTrusteeInvalidVceks) {
  const Bytes report = read("trustee/test-report.bin");
  for (const std::string file :
       {"trustee/test-vcek-invalid-legacy.der", "trustee/test-vcek-invalid-new.der"}) {
    const Appraisal a = appraise(report, der_cert(file));
    EXPECT_FALSE(a.accepted()) << file;
    EXPECT_EQ(failed_check(a), "snp.chain") << file;
  }
}

TEST(SnpChain, ShouldRejectAVcekOutsideItsValidity) {
  const Certificate vcek = der_cert("trustee/test-vcek.der");  // 2023-01-24 .. 2030-01-24
  for (const auto at : {system_clock::time_point{sys_days{2023y / 1 / 1}},
                        system_clock::time_point{sys_days{2031y / 1 / 1}}}) {
    auto e = verify_vcek_chain(vcek, {}, at);
    ASSERT_FALSE(e);
    EXPECT_NE(e.error().message.find("SEV-VCEK' is valid from 2023-01-24T17:58:26Z"), std::string::npos)
        << e.error().message;
  }
}

// --- Verification of real reports (EXPECTED.md, "AMD SEV-SNP") -------------

TEST(SnpVerify, ShouldAcceptTrusteeTestReportWithMilanVcek) {
  const Appraisal a = appraise(read("trustee/test-report.bin"), der_cert("trustee/test-vcek.der"));
  ASSERT_TRUE(a.accepted()) << failed_check(a) << ": " << failed_detail(a);
  EXPECT_EQ(a.claims.at("snp_product"), "Milan");
  EXPECT_EQ(a.claims.at("signing_key"), "vcek");
  EXPECT_EQ(a.snp_reported_tcb, (SnpTcb{3, 0, 8, 0x73, std::nullopt}));
}

TEST(SnpVerify, ShouldAcceptGoSevGuestAttestationWithItsReportedTcb) {
  const Appraisal a = appraise(read("go-sev-guest/attestation.bin"), der_cert("go-sev-guest/vcek.testcer"));
  ASSERT_TRUE(a.accepted()) << failed_check(a) << ": " << failed_detail(a);
  EXPECT_EQ(a.snp_reported_tcb, (SnpTcb{2, 0, 5, 68, std::nullopt}));
}

TEST(SnpVerify, ShouldAcceptVirteeMilanHexReport) {
  const Appraisal a =
      appraise(read_hex("virtee-sev/report_milan.hex"), der_cert("virtee-sev/vcek_milan.der"));
  ASSERT_TRUE(a.accepted()) << failed_check(a) << ": " << failed_detail(a);
  EXPECT_EQ(a.claims.at("snp_product"), "Milan");
}

TEST(SnpVerify, ShouldAcceptTrusteeE2eEvidenceAsAGenoaVersion3Report) {
  const E2eEvidence e2e = e2e_evidence();
  const Appraisal a = appraise(e2e.report, e2e.vcek);
  ASSERT_TRUE(a.accepted()) << failed_check(a) << ": " << failed_detail(a);
  EXPECT_EQ(a.claims.at("snp_product"), "Genoa");
  EXPECT_EQ(a.claims.at("report_version"), "3");
  EXPECT_EQ(a.snp_reported_tcb, (SnpTcb{10, 0, 23, 25, std::nullopt}));
  EXPECT_EQ(hex_encode(a.report_data).substr(0, 8), "7e732088");
}

TEST(SnpVerify, ShouldFillTheAppraisalOfAnAcceptedReport) {
  const Bytes report = read("trustee/test-report.bin");
  const Appraisal a = appraise(report, der_cert("trustee/test-vcek.der"));
  ASSERT_TRUE(a.accepted());
  EXPECT_EQ(a.platform, Platform::Snp);
  EXPECT_EQ(a.report_data, Bytes(report.begin() + 0x50, report.begin() + 0x90));
  ASSERT_NE(a.measurement("measurement"), nullptr);
  EXPECT_EQ(a.measurement("measurement")->value, Bytes(report.begin() + 0x90, report.begin() + 0xC0));
  ASSERT_NE(a.measurement("host_data"), nullptr);
  ASSERT_NE(a.measurement("id_key_digest"), nullptr);  // this guest was launched with an ID block
  EXPECT_EQ(a.measurement("author_key_digest"), nullptr);
  EXPECT_FALSE(a.debug);
  EXPECT_EQ(a.snp_smt_allowed, true);  // policy 0x3001f
  EXPECT_EQ(a.snp_migration_agent_allowed, false);
  EXPECT_EQ(a.claims.at("policy"), "0x3001f");
  EXPECT_EQ(a.claims.at("vmpl"), "0");
  EXPECT_EQ(a.claims.at("guest_svn"), "4");
  EXPECT_EQ(a.claims.at("report_version"), "2");
  EXPECT_EQ(a.claims.at("chip_id").substr(0, 8), "c38427a3");
  EXPECT_FALSE(a.tcb_status);
  std::vector<std::string> names;
  for (const auto& c : a.checks.results()) names.push_back(c.name);
  EXPECT_EQ(names,
            (std::vector<std::string>{"snp.report.parse", "snp.report.version", "snp.report.reserved",
                                      "snp.signature_algorithm", "snp.chain", "snp.signing_key",
                                      "snp.product", "snp.tcb", "snp.chip_id", "snp.report.signature"}));
}

TEST(SnpVerify, ShouldFailSignatureWhenByte42IsFlipped) {
  for (RealVector v : real_vectors()) {
    v.report[42] ^= 0x01;
    const Appraisal a = appraise(v.report, v.vcek);
    EXPECT_FALSE(a.accepted()) << v.name;
    EXPECT_EQ(failed_check(a), "snp.report.signature") << v.name;
  }
}

TEST(SnpVerify, ShouldFailTcbWhenByte384IsFlipped) {
  for (RealVector v : real_vectors()) {
    v.report[384] ^= 0x01;
    const Appraisal a = appraise(v.report, v.vcek);
    EXPECT_FALSE(a.accepted()) << v.name;
    EXPECT_EQ(failed_check(a), "snp.tcb") << v.name;
  }
}

TEST(SnpVerify, ShouldRejectEveryFlippedByteOfTheSignedRegion) {
  const std::vector<std::string> named{"snp.report.version", "snp.report.reserved", "snp.signature_algorithm",
                                       "snp.signing_key",    "snp.product",         "snp.tcb",
                                       "snp.chip_id",        "snp.report.signature"};
  for (const RealVector& v : real_vectors()) {
    for (std::size_t i = 0; i < kSignedSize; ++i) {
      Bytes report = v.report;
      report[i] ^= 0x80;
      const Appraisal a = appraise(report, v.vcek);
      ASSERT_FALSE(a.accepted()) << v.name << " byte " << i;
      EXPECT_NE(std::find(named.begin(), named.end(), failed_check(a)), named.end())
          << v.name << " byte " << i << ": " << failed_check(a);
    }
  }
}

TEST(SnpVerify, ShouldRejectTruncatedReports) {
  const Bytes report = read("go-sev-guest/attestation.bin");
  const Certificate vcek = der_cert("go-sev-guest/vcek.testcer");
  for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{4}, std::size_t{0x188}, kSignedSize,
                        kSignedSize + 72, kReportSize - 1}) {
    const Appraisal a = appraise(ByteView(report).first(n), vcek);
    EXPECT_EQ(failed_check(a), "snp.report.parse") << n;
  }
}

TEST(SnpVerify, ShouldFailVersionForAVersion4Report) {
  Bytes report = read("trustee/test-report.bin");
  report[0] = 4;
  const Appraisal a = appraise(report, der_cert("trustee/test-vcek.der"));
  EXPECT_EQ(failed_check(a), "snp.report.version");
}

TEST(SnpVerify, ShouldFailReservedWhenAReservedByteIsSet) {
  for (std::size_t offset : {0x4C, 0x188, 0x1EB, 0x1F8, 0x29F}) {
    Bytes report = read("trustee/test-report.bin");
    report[offset] = 1;
    const Appraisal a = appraise(report, der_cert("trustee/test-vcek.der"));
    EXPECT_EQ(failed_check(a), "snp.report.reserved") << offset;
  }
}

TEST(SnpVerify, ShouldFailSignatureAlgorithmWhenNotEcdsaP384) {
  Bytes report = read("trustee/test-report.bin");
  report[0x34] = 2;
  EXPECT_EQ(failed_check(appraise(report, der_cert("trustee/test-vcek.der"))), "snp.signature_algorithm");
}

TEST(SnpVerify, ShouldFailChainWithoutALeafCertificate) {
  const Appraisal a = appraise(read("trustee/test-report.bin"), std::span<const Certificate>{});
  EXPECT_EQ(failed_check(a), "snp.chain");
  const auto ask = std::vector<Certificate>{amd_roots()[0].ask};
  EXPECT_EQ(failed_check(appraise(read("trustee/test-report.bin"), ask)), "snp.chain");
}

TEST(SnpVerify, ShouldFailChainWithTwoLeafCertificates) {
  const std::vector<Certificate> certs{der_cert("trustee/test-vcek.der"),
                                       der_cert("virtee-sev/vcek_milan.der")};
  EXPECT_EQ(failed_check(appraise(read("trustee/test-report.bin"), certs)), "snp.chain");
}

TEST(SnpVerify, ShouldFailChainForTheWrongProductsAsk) {
  // A Milan VCEK offered with only the Genoa hierarchy as roots.
  const std::vector<ProductRoots> genoa{amd_roots()[1]};
  Appraisal a;
  verify(read("trustee/test-report.bin"), std::vector<Certificate>{der_cert("trustee/test-vcek.der")}, kAt,
         genoa, a);
  EXPECT_EQ(failed_check(a), "snp.chain");
}

TEST(SnpVerify, ShouldFailSigningKeyWhenTheReportNamesAnotherKey) {
  for (std::uint8_t key_info : {0x04 /* VLEK */, 0x1C /* none */, 0x02 /* MASK_CHIP_KEY */}) {
    Bytes report = read("trustee/test-report.bin");
    report[0x48] = key_info;
    EXPECT_EQ(failed_check(appraise(report, der_cert("trustee/test-vcek.der"))), "snp.signing_key")
        << int{key_info};
  }
}

TEST(SnpVerify, ShouldFailProductWhenCpuidIsAnotherProcessor) {
  E2eEvidence e2e = e2e_evidence();
  e2e.report[0x188] = 0x1A;  // Turin's family, under a Genoa chain
  const Appraisal a = appraise(e2e.report, e2e.vcek);
  EXPECT_EQ(failed_check(a), "snp.product");
}

TEST(SnpVerify, ShouldFailTcbWhenTheVcekIsForAnotherTcb) {
  // virtee's Milan report with go-sev-guest's VCEK: same product, other TCB.
  const Appraisal a =
      appraise(read_hex("virtee-sev/report_milan.hex"), der_cert("go-sev-guest/vcek.testcer"));
  EXPECT_EQ(failed_check(a), "snp.tcb");
}

TEST(SnpVerify, ShouldFailChipIdWhenTheVcekIsForAnotherChip) {
  // trustee's and virtee's Milan VCEKs certify the same TCB for two chips.
  const Appraisal a = appraise(read("trustee/test-report.bin"), der_cert("virtee-sev/vcek_milan.der"));
  EXPECT_EQ(failed_check(a), "snp.chip_id");
  EXPECT_NE(failed_detail(a).find("is not the VCEK's hwID"), std::string::npos);
}

TEST(SnpVerify, ShouldFailChipIdWhenThePlatformMasksIt) {
  Bytes report = read("trustee/test-report.bin");
  std::fill(report.begin() + 0x1A0, report.begin() + 0x1E0, 0);
  const Appraisal a = appraise(report, der_cert("trustee/test-vcek.der"));
  EXPECT_EQ(failed_check(a), "snp.chip_id");
  EXPECT_NE(failed_detail(a).find("masks"), std::string::npos);
}

TEST(SnpVerify, ShouldFailSignatureWhenRIsOutOfRange) {
  Bytes report = read("trustee/test-report.bin");
  report[0x2A0 + 60] = 1;  // a nonzero byte past the 48 of a P-384 scalar
  EXPECT_EQ(failed_check(appraise(report, der_cert("trustee/test-vcek.der"))), "snp.report.signature");
}

// --- Synthetic hierarchy: VLEKs, Turin reports, malformed extensions ----------

Bytes der_integer(std::uint8_t v) {
  return v < 0x80 ? Bytes{0x02, 0x01, v} : Bytes{0x02, 0x02, 0x00, v};
}

Bytes der_tagged(std::uint8_t tag, ByteView content) {
  Bytes out(2 + content.size());
  out[0] = tag;
  out[1] = static_cast<std::uint8_t>(content.size());
  std::copy(content.begin(), content.end(), out.begin() + 2);
  return out;
}

const Bytes kTurinChipId = hex_decode("0102030405060708").value();
const SnpTcb kTurinTcb{3, 1, 4, 9, std::uint8_t{2}};

struct FakeAmd {
  crypto::EcPrivateKey ark_key = crypto::EcPrivateKey::generate(crypto::EcCurve::P384);
  crypto::EcPrivateKey ask_key = crypto::EcPrivateKey::generate(crypto::EcCurve::P384);
  crypto::EcPrivateKey asvk_key = crypto::EcPrivateKey::generate(crypto::EcCurve::P384);
  crypto::EcPrivateKey leaf_key = crypto::EcPrivateKey::generate(crypto::EcCurve::P384);
  std::vector<ProductRoots> roots;

  FakeAmd() {
    auto ca = [&](std::string_view cn, const crypto::EcPrivateKey& key, const Certificate* issuer) {
      crypto::CertificateBuilder b;
      b.subject(cn, "Fake AMD")
          .validity(sys_days{2020y / 1 / 1}, sys_days{2040y / 1 / 1})
          .public_key(key.public_key());
      b.ca(true);
      return issuer == nullptr ? b.self_sign(key).value() : b.sign(*issuer, ark_key).value();
    };
    const Certificate ark = ca("ARK-Turin", ark_key, nullptr);
    roots.push_back(
        {Product::Turin, ark, ca("SEV-Turin", ask_key, &ark), ca("SEV-VLEK-Turin", asvk_key, &ark)});
  }

  // A leaf with Turin's extensions; `drop` leaves one out, `replace` swaps
  // one extension's value.
  Certificate leaf(SigningKey key, std::string_view drop = {}, std::string_view replace_oid = {},
                   const Bytes& replacement = {}) const {
    crypto::CertificateBuilder b;
    b.subject(key == SigningKey::Vcek ? "SEV-VCEK" : "SEV-VLEK", "Fake AMD")
        .validity(sys_days{2024y / 1 / 1}, sys_days{2031y / 1 / 1})
        .public_key(leaf_key.public_key());
    const std::vector<std::pair<std::string, Bytes>> extensions{
        {"1.3.6.1.4.1.3704.1.2", der_tagged(0x16, as_bytes("Turin"))},
        {"1.3.6.1.4.1.3704.1.3.9", der_integer(*kTurinTcb.fmc)},
        {"1.3.6.1.4.1.3704.1.3.1", der_integer(kTurinTcb.bootloader)},
        {"1.3.6.1.4.1.3704.1.3.2", der_integer(kTurinTcb.tee)},
        {"1.3.6.1.4.1.3704.1.3.3", der_integer(kTurinTcb.snp)},
        {"1.3.6.1.4.1.3704.1.3.8", der_integer(kTurinTcb.microcode)},
        {"1.3.6.1.4.1.3704.1.4", der_tagged(0x04, kTurinChipId)},
    };
    for (const auto& [oid, der] : extensions) {
      if (oid == drop || (key == SigningKey::Vlek && oid == "1.3.6.1.4.1.3704.1.4")) continue;
      b.extension(oid, oid == replace_oid ? replacement : der);
    }
    const ProductRoots& r = roots[0];
    return key == SigningKey::Vcek ? b.sign(r.ask, ask_key).value() : b.sign(r.asvk, asvk_key).value();
  }

  // A version 5 Turin report, signed by the leaf key.
  Bytes report(SigningKey key) const {
    Bytes r(kReportSize, 0);
    r[0] = 5;
    put_le(r, 0x08, 0x30000, 8);
    r[0x34] = 1;
    r[0x48] = key == SigningKey::Vcek ? 0x00 : 0x04;
    const std::uint8_t tcb[8] = {
        *kTurinTcb.fmc, kTurinTcb.bootloader, kTurinTcb.tee, kTurinTcb.snp, 0, 0, 0, kTurinTcb.microcode};
    std::copy(std::begin(tcb), std::end(tcb), r.begin() + 0x180);
    r[0x188] = 0x1A;
    r[0x189] = 0x02;
    if (key == SigningKey::Vcek) std::copy(kTurinChipId.begin(), kTurinChipId.end(), r.begin() + 0x1A0);
    r[0x1F8] = 0x07;  // LAUNCH_MIT_VECTOR
    sign(r);
    return r;
  }

  void sign(Bytes& r) const {
    const Bytes raw = leaf_key.sign(crypto::HashAlg::Sha384, ByteView(r).first(kSignedSize));
    for (std::size_t i = 0; i < 48; ++i) {
      r[0x2A0 + i] = raw[47 - i];
      r[0x2A0 + 72 + i] = raw[95 - i];
    }
  }

  Appraisal appraise(ByteView report, const Certificate& leaf) const {
    Appraisal out;
    verify(report, std::span(&leaf, 1), kAt, roots, out);
    return out;
  }
};

const FakeAmd& fake_amd() {
  static const FakeAmd amd;
  return amd;
}

TEST(SnpSynthetic, ShouldAcceptATurinVersion5ReportComparingEightByteChipIdAndFmc) {
  const FakeAmd& amd = fake_amd();
  const Appraisal a = amd.appraise(amd.report(SigningKey::Vcek), amd.leaf(SigningKey::Vcek));
  ASSERT_TRUE(a.accepted()) << failed_check(a) << ": " << failed_detail(a);
  EXPECT_EQ(a.claims.at("snp_product"), "Turin");
  EXPECT_EQ(a.claims.at("report_version"), "5");
  EXPECT_EQ(a.snp_reported_tcb, kTurinTcb);
}

TEST(SnpSynthetic, ShouldAcceptAVlekSignedReportWithoutChipId) {
  const FakeAmd& amd = fake_amd();
  const Appraisal a = amd.appraise(amd.report(SigningKey::Vlek), amd.leaf(SigningKey::Vlek));
  ASSERT_TRUE(a.accepted()) << failed_check(a) << ": " << failed_detail(a);
  EXPECT_EQ(a.claims.at("signing_key"), "vlek");
}

TEST(SnpSynthetic, ShouldFailSigningKeyWhenAVcekReportComesWithAVlek) {
  const FakeAmd& amd = fake_amd();
  const Appraisal a = amd.appraise(amd.report(SigningKey::Vcek), amd.leaf(SigningKey::Vlek));
  EXPECT_EQ(failed_check(a), "snp.signing_key");
}

TEST(SnpSynthetic, ShouldFailTcbWhenAVcekLacksTheFmcSpl) {
  const FakeAmd& amd = fake_amd();
  const Appraisal a =
      amd.appraise(amd.report(SigningKey::Vcek), amd.leaf(SigningKey::Vcek, "1.3.6.1.4.1.3704.1.3.9"));
  EXPECT_EQ(failed_check(a), "snp.tcb");
}

TEST(SnpSynthetic, ShouldFailTcbWhenFmcDiffers) {
  const FakeAmd& amd = fake_amd();
  Bytes report = amd.report(SigningKey::Vcek);
  report[0x180] = 5;
  amd.sign(report);
  EXPECT_EQ(failed_check(amd.appraise(report, amd.leaf(SigningKey::Vcek))), "snp.tcb");
}

TEST(SnpSynthetic, ShouldFailChipIdWhenAVcekLacksHwid) {
  const FakeAmd& amd = fake_amd();
  const Appraisal a =
      amd.appraise(amd.report(SigningKey::Vcek), amd.leaf(SigningKey::Vcek, "1.3.6.1.4.1.3704.1.4"));
  EXPECT_EQ(failed_check(a), "snp.chip_id");
}

TEST(SnpSynthetic, ShouldFailProductWhenProductNameDisagrees) {
  const FakeAmd& amd = fake_amd();
  const Appraisal a = amd.appraise(
      amd.report(SigningKey::Vcek),
      amd.leaf(SigningKey::Vcek, {}, "1.3.6.1.4.1.3704.1.2", der_tagged(0x16, as_bytes("Milan-B0"))));
  EXPECT_EQ(failed_check(a), "snp.product");
}

TEST(SnpSynthetic, ShouldFailChainWhenAnSplIsNotAnInteger) {
  const FakeAmd& amd = fake_amd();
  for (const Bytes& bad : {Bytes{0x04, 0x01, 0x01}, Bytes{0x02, 0x02, 0x01, 0x00}, Bytes{0x02, 0x01, 0x80},
                           Bytes{0x02, 0x02, 0x00}}) {
    const Appraisal a = amd.appraise(amd.report(SigningKey::Vcek),
                                     amd.leaf(SigningKey::Vcek, {}, "1.3.6.1.4.1.3704.1.3.1", bad));
    EXPECT_EQ(failed_check(a), "snp.chain") << hex_encode(bad);
  }
}

TEST(SnpSynthetic, ShouldFailChainWhenTheLeafIsSignedByAnotherKey) {
  const FakeAmd& amd = fake_amd();
  const Certificate impostor = crypto::CertificateBuilder()
                                   .subject("SEV-VCEK", "Fake AMD")
                                   .validity(sys_days{2024y / 1 / 1}, sys_days{2031y / 1 / 1})
                                   .public_key(amd.leaf_key.public_key())
                                   .sign(amd.roots[0].ask, amd.leaf_key)
                                   .value();
  const Appraisal a = amd.appraise(amd.report(SigningKey::Vcek), impostor);
  EXPECT_EQ(failed_check(a), "snp.chain");
  EXPECT_NE(failed_detail(a).find("is not signed by 'SEV-Turin'"), std::string::npos) << failed_detail(a);
}

TEST(SnpSynthetic, ShouldNeverTrustAnArkThatComesWithTheReport) {
  // The fake hierarchy, offered in full, against the built-in AMD roots.
  const FakeAmd& amd = fake_amd();
  const std::vector<Certificate> certs{amd.leaf(SigningKey::Vcek), amd.roots[0].ask, amd.roots[0].ark};
  const Appraisal a = appraise(amd.report(SigningKey::Vcek), certs);
  EXPECT_EQ(failed_check(a), "snp.chain");
}

}  // namespace
}  // namespace ward::attest::snp
