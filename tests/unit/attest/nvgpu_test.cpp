#include "attest/nvgpu.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <initializer_list>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "base/bytes.h"
#include "crypto/ecdsa.h"
#include "crypto/hash.h"
#include "crypto/x509.h"

namespace ward::attest::nvgpu {
namespace {

using namespace std::chrono;
using crypto::Certificate;
using crypto::CertificateBuilder;
using crypto::EcCurve;
using crypto::EcPrivateKey;

constexpr std::string_view kNvidia = "../shared/testdata/attestation/nvidia/";

std::string read_text(std::string_view relative) {
  std::ifstream in(std::string(kNvidia) + std::string(relative), std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// trustee stores reports as hex text, with or without a final newline.
Bytes read_report(std::string_view relative) {
  std::string text = read_text(relative);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return hex_decode(text).value();
}

std::vector<Certificate> read_chain(std::string_view relative) {
  return crypto::parse_pem_chain(read_text(relative)).value();
}

// Inside every certificate's validity: the GH100 Provisioner ICA starts in March 2022.
const system_clock::time_point kAt = sys_days{year{2025} / 1 / 1};

Appraisal run(ByteView evidence, std::span<const Certificate> certs, system_clock::time_point at = kAt) {
  Appraisal a;
  verify(evidence, certs, at, a);
  return a;
}

std::string failed_check(const Appraisal& a) {
  const CheckResult* f = a.checks.first_failure();
  return f ? f->name : std::string();
}

std::vector<std::string> check_names(const Appraisal& a) {
  std::vector<std::string> names;
  for (const CheckResult& r : a.checks.results()) names.push_back(r.name);
  return names;
}

const std::vector<std::string> kAllChecks = {
    "spdm.request.parse", "spdm.response.parse", "spdm.version", "gpu.chain",
    "spdm.signature",     "spdm.opaque_data",    "gpu.fwid"};

struct RealVector {
  Bytes report = read_report("trustee/hopperAttestationReport.txt");
  std::vector<Certificate> chain = read_chain("trustee/hopper_cert_chain_case1.txt");
};

// Real reports

TEST(NvGpuRoot, ShouldMatchNvtrustDeviceRootFile) {
  const Certificate file = Certificate::from_pem(read_text("nvtrust/verifier_device_root.pem")).value();
  const auto embedded = crypto::sha256(nvidia_device_root().to_der());
  EXPECT_EQ(embedded, crypto::sha256(file.to_der()));
  EXPECT_EQ(hex_encode(embedded), "102bf659d5419614c9d8e6aecebc80454eb26b1df6a769ac720b9a690b167b48");
  EXPECT_EQ(nvidia_device_root().subject(), "O=NVIDIA,CN=NVIDIA Device Identity CA");
}

TEST(NvGpuVerify, ShouldAcceptHopperReportWithFullChain) {
  const RealVector v;
  const Appraisal a = run(v.report, v.chain);
  ASSERT_TRUE(a.accepted()) << failed_check(a) << ": " << a.checks.first_failure()->detail;
  EXPECT_EQ(check_names(a), kAllChecks);
  EXPECT_EQ(a.platform, Platform::NvGpu);
  ASSERT_EQ(a.report_data.size(), 32u);
  EXPECT_TRUE(hex_encode(a.report_data).starts_with("931d8dd0"));
  EXPECT_EQ(a.measurements.size(), 64u);
  EXPECT_EQ(a.claims.at("driver_version"), "550.90.07");
  EXPECT_EQ(a.claims.at("vbios_version"), "96.00.9f.00.01");
}

TEST(NvGpuVerify, ShouldAcceptCocoReportWithOneTrailingByte) {
  const Bytes report = read_report("trustee/hopper_coco_report1.txt");
  const Appraisal a = run(report, read_chain("trustee/hopper_coco_certs1.txt"));
  ASSERT_TRUE(a.accepted()) << failed_check(a) << ": " << a.checks.first_failure()->detail;
  EXPECT_TRUE(hex_encode(a.report_data).starts_with("87d8e24a"));
  EXPECT_EQ(a.claims.at("driver_version"), "580.95.05");
  EXPECT_EQ(a.claims.at("vbios_version"), "96.00.74.00.1a");
  EXPECT_EQ(a.claims.at("opaque_data_version"), "0100");
  EXPECT_EQ(a.claims.at("feature_flag"), "0000");

  const SpdmReport parsed = parse_report(report).value();
  EXPECT_EQ(parsed.response.trailing_bytes, 1u);
  EXPECT_EQ(parsed.signed_part.size(), report.size() - 1 - kSignatureSize);
}

TEST(NvGpuVerify, ShouldMatchTrusteeParsedClaims) {
  const RealVector v;
  const Appraisal a = run(v.report, v.chain);
  ASSERT_TRUE(a.accepted());
  const auto expected =
      nlohmann::json::parse(read_text("trustee/hopperAttestationReport-claims.txt"), nullptr, false);
  ASSERT_FALSE(expected.is_discarded());
  const auto& config = expected["config"];
  for (const char* name : {"driver_version", "vbios_version", "fwid", "board_id", "chip_sku", "chip_sku_mod",
                           "project", "project_sku", "project_sku_mod", "gpu_info", "cpr_info"}) {
    EXPECT_EQ(a.claims.at(name), config[name].get<std::string>()) << name;
  }
  const auto& measurements = expected["measurements"];
  ASSERT_EQ(measurements.size(), a.measurements.size());
  for (const auto& [index, value] : measurements.items()) {
    const Measurement* m = a.measurement("measurement_" + index);
    ASSERT_NE(m, nullptr) << index;
    EXPECT_EQ(hex_encode(m->value), value.get<std::string>()) << index;
  }
}

TEST(NvGpuParse, ShouldExposeRequestResponseAndOpaqueFields) {
  const RealVector v;
  const SpdmReport r = parse_report(v.report).value();
  EXPECT_EQ(r.request.version, kSpdmVersion11);
  EXPECT_EQ(r.request.param1, 0x01);
  EXPECT_EQ(r.request.param2, 0xff);
  EXPECT_EQ(r.request.slot_id, 0);
  EXPECT_EQ(r.response.version, kSpdmVersion11);
  ASSERT_EQ(r.response.blocks.size(), 64u);
  EXPECT_EQ(r.response.blocks[0].index, 1);
  EXPECT_EQ(r.response.blocks[0].spec, 0x01);
  EXPECT_EQ(r.response.blocks[0].value_type, 0x01);
  EXPECT_EQ(r.response.blocks[0].value.size(), 48u);
  EXPECT_TRUE(hex_encode(r.response.nonce).starts_with("b4b8a06a"));
  EXPECT_EQ(r.response.opaque_data.size(), 422u);
  EXPECT_EQ(r.response.trailing_bytes, 0u);
  EXPECT_EQ(r.signed_part.size(), v.report.size() - kSignatureSize);
  const OpaqueField* driver = find_opaque(r.opaque_fields, OpaqueType::DriverVersion);
  ASSERT_NE(driver, nullptr);
  EXPECT_EQ(as_chars(driver->value), std::string_view("550.90.07\0", 10));
  EXPECT_EQ(find_opaque(r.opaque_fields, OpaqueType::SwitchPdi), nullptr);
}

// Certificate chains

TEST(NvGpuChain, ShouldRejectChainWithOnlyTheRoot) {
  const RealVector v;
  const Appraisal a = run(v.report, read_chain("trustee/hopper_cert_chain_case2.txt"));
  EXPECT_EQ(failed_check(a), "gpu.chain");
}

TEST(NvGpuChain, ShouldRejectChainMissingAnIntermediate) {
  const RealVector v;
  const Appraisal a = run(v.report, read_chain("trustee/hopper_cert_chain_case3.txt"));
  EXPECT_EQ(failed_check(a), "gpu.chain");
}

TEST(NvGpuChain, ShouldRejectChainMissingTheDeviceLeaf) {
  const RealVector v;
  const Appraisal a = run(v.report, read_chain("trustee/hopper_cert_chain_case4.txt"));
  EXPECT_EQ(failed_check(a), "gpu.chain");
}

TEST(NvGpuChain, ShouldRejectWithoutCertificates) {
  const RealVector v;
  EXPECT_EQ(failed_check(run(v.report, {})), "gpu.chain");
}

TEST(NvGpuChain, ShouldRejectBeforeTheIntermediatesAreValid) {
  const RealVector v;
  EXPECT_EQ(failed_check(run(v.report, v.chain, sys_days{year{2021} / 6 / 1})), "gpu.chain");
}

TEST(NvGpuChain, ShouldRejectChainOfAnotherAnchor) {
  const RealVector v;
  const Certificate rim_root = Certificate::from_pem(read_text("nvtrust/verifier_RIM_root.pem")).value();
  Appraisal a;
  verify(v.report, v.chain, std::span(&rim_root, 1), kAt, a);
  EXPECT_EQ(failed_check(a), "gpu.chain");
}

TEST(NvGpuChain, ShouldAcceptChainWithoutTheRoot) {
  const RealVector v;
  const std::vector<Certificate> without_root(v.chain.begin(), v.chain.end() - 1);
  EXPECT_TRUE(run(v.report, without_root).accepted());
}

// Tampering and truncation

// Flips `positions` of `evidence` one at a time; each must be rejected by
// one of `allowed`. Returns how many each check rejected.
template <class Verify>
std::map<std::string, int> flip_each(const Bytes& evidence, const std::vector<std::size_t>& positions,
                                     Verify verify_one) {
  const std::set<std::string> allowed = {"spdm.request.parse", "spdm.response.parse", "spdm.version",
                                         "spdm.signature"};
  std::map<std::string, int> rejected_by;
  for (std::size_t i : positions) {
    Bytes tampered = evidence;
    tampered[i] ^= 0x01;
    const Appraisal a = verify_one(tampered);
    EXPECT_FALSE(a.accepted()) << "byte " << i;
    EXPECT_TRUE(allowed.contains(failed_check(a))) << "byte " << i << ": " << failed_check(a);
    ++rejected_by[failed_check(a)];
  }
  return rejected_by;
}

// Every structural byte of the real report (headers, lengths, block and
// opaque field headers) and the first and last byte of every value: a
// flip of every byte would cost five P-384 verifications each, 4,000 times.
std::vector<std::size_t> structural_positions(const SpdmReport& r) {
  std::vector<std::size_t> out;
  auto all = [&](std::size_t from, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) out.push_back(from + i);
  };
  auto ends = [&](std::size_t from, std::size_t n) {
    out.push_back(from);
    out.push_back(from + n - 1);
  };
  all(0, kRequestSize + 8);
  std::size_t at = kRequestSize + 8;
  for (const MeasurementBlock& b : r.response.blocks) {
    all(at, 7);
    ends(at + 7, b.value.size());
    at += 7 + b.value.size();
  }
  ends(at, kNonceSize);
  at += kNonceSize;
  all(at, 2);
  at += 2;
  for (const OpaqueField& f : r.opaque_fields) {
    all(at, 4);
    if (!f.value.empty()) ends(at + 4, f.value.size());
    at += 4 + f.value.size();
  }
  EXPECT_EQ(at, r.signed_part.size());
  return out;
}

TEST(NvGpuTamper, ShouldRejectByteFlipsThroughoutTheRealReport) {
  const RealVector v;
  const SpdmReport parsed = parse_report(v.report).value();
  auto rejected_by = flip_each(v.report, structural_positions(parsed),
                               [&](const Bytes& evidence) { return run(evidence, v.chain); });
  EXPECT_GT(rejected_by["spdm.signature"], 300);
  EXPECT_GT(rejected_by["spdm.request.parse"], 0);
  EXPECT_GT(rejected_by["spdm.response.parse"], 0);
  EXPECT_EQ(rejected_by["spdm.version"], 2);  // 0x11 -> 0x10 in the request and the response
}

TEST(NvGpuTamper, ShouldRejectAFlippedSignatureByte) {
  const RealVector v;
  for (std::size_t i : {v.report.size() - kSignatureSize, v.report.size() - 49, v.report.size() - 1}) {
    Bytes tampered = v.report;
    tampered[i] ^= 0x80;
    EXPECT_EQ(failed_check(run(tampered, v.chain)), "spdm.signature") << i;
  }
}

TEST(NvGpuTamper, ShouldRejectEveryTruncationWithAParseError) {
  const RealVector v;
  for (std::size_t n = 0; n < v.report.size(); ++n) {
    const ByteView prefix = ByteView(v.report).first(n);
    ASSERT_FALSE(parse_report(prefix)) << n;
    const std::string check = failed_check(run(prefix, v.chain));
    ASSERT_EQ(check, n < kRequestSize ? "spdm.request.parse" : "spdm.response.parse") << n;
  }
}

TEST(NvGpuTamper, ShouldIgnoreAppendedBytes) {
  RealVector v;
  v.report.insert(v.report.end(), {0, 0, 0});
  EXPECT_TRUE(run(v.report, v.chain).accepted());
  EXPECT_EQ(parse_report(v.report).value().response.trailing_bytes, 3u);
}

TEST(NvGpuVerify, ShouldRejectSpdmVersionOtherThan11) {
  for (std::size_t offset : {std::size_t{0}, kRequestSize}) {
    RealVector v;
    v.report[offset] = 0x12;
    const Appraisal a = run(v.report, v.chain);
    EXPECT_EQ(failed_check(a), "spdm.version") << offset;
  }
}

// Parsing, field by field

struct Response {
  std::uint8_t version = kSpdmVersion11;
  std::uint8_t code = kMeasurementsCode;
  std::optional<std::uint8_t> block_count;
  std::vector<Bytes> blocks;  // encoded blocks
  Bytes opaque;
  std::size_t signature_size = kSignatureSize;

  Bytes encode() const {
    Bytes record;
    for (const Bytes& b : blocks) record.insert(record.end(), b.begin(), b.end());
    Bytes out = {version,
                 code,
                 0,
                 0,
                 block_count.value_or(static_cast<std::uint8_t>(blocks.size())),
                 static_cast<std::uint8_t>(record.size()),
                 static_cast<std::uint8_t>(record.size() >> 8),
                 static_cast<std::uint8_t>(record.size() >> 16)};
    out.insert(out.end(), record.begin(), record.end());
    out.insert(out.end(), kNonceSize, 0x5a);
    out.push_back(static_cast<std::uint8_t>(opaque.size()));
    out.push_back(static_cast<std::uint8_t>(opaque.size() >> 8));
    out.insert(out.end(), opaque.begin(), opaque.end());
    out.insert(out.end(), signature_size, 0x11);
    return out;
  }
};

Bytes dmtf_block(std::uint8_t index, Bytes value, std::uint8_t spec = 0x01) {
  const auto n = value.size();
  Bytes b = {index,
             spec,
             static_cast<std::uint8_t>(n + 3),
             static_cast<std::uint8_t>((n + 3) >> 8),
             0x01,
             static_cast<std::uint8_t>(n),
             static_cast<std::uint8_t>(n >> 8)};
  b.insert(b.end(), value.begin(), value.end());
  return b;
}

Bytes opaque_field(OpaqueType type, Bytes value) {
  const auto t = static_cast<std::uint16_t>(type);
  Bytes b = {static_cast<std::uint8_t>(t), static_cast<std::uint8_t>(t >> 8),
             static_cast<std::uint8_t>(value.size()), static_cast<std::uint8_t>(value.size() >> 8)};
  b.insert(b.end(), value.begin(), value.end());
  return b;
}

Bytes concat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const Bytes& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

Bytes request(std::uint8_t param1 = 0x01, std::uint8_t code = kGetMeasurementsCode) {
  Bytes r = {kSpdmVersion11, code, param1, 0xff};
  r.insert(r.end(), kNonceSize, 0xa5);
  r.push_back(0);
  return r;
}

TEST(NvGpuParse, ShouldRejectMalformedRequests) {
  EXPECT_TRUE(parse_request(request()));
  EXPECT_FALSE(parse_request(request(0x00)));        // no signature requested
  EXPECT_FALSE(parse_request(request(0x01, 0x81)));  // GET_CERTIFICATE, not GET_MEASUREMENTS
  EXPECT_FALSE(parse_request(ByteView(request()).first(36)));
  Bytes longer = request();
  longer.push_back(0);
  EXPECT_FALSE(parse_request(longer));
  EXPECT_EQ(parse_request(request(0x00)).error().code, "attest.spdm");
}

TEST(NvGpuParse, ShouldParseAWellFormedSyntheticResponse) {
  Response r;
  r.blocks = {dmtf_block(1, Bytes(48, 1)), dmtf_block(7, Bytes(32, 7))};
  r.opaque = opaque_field(OpaqueType::DriverVersion, to_bytes("1.2.3"));
  auto parsed = parse_response(r.encode());
  ASSERT_TRUE(parsed) << parsed.error().message;
  ASSERT_EQ(parsed->blocks.size(), 2u);
  EXPECT_EQ(parsed->blocks[1].index, 7);
  EXPECT_EQ(parsed->blocks[1].value, Bytes(32, 7));
}

TEST(NvGpuParse, ShouldRejectMalformedResponses) {
  const Bytes good_block = dmtf_block(1, Bytes(48, 1));
  auto rejects = [](const Response& r) { return !parse_response(r.encode()).has_value(); };

  Response wrong_code;
  wrong_code.code = 0x7f;  // ERROR
  EXPECT_TRUE(rejects(wrong_code));

  Response count_mismatch;
  count_mismatch.blocks = {good_block};
  count_mismatch.block_count = 2;
  EXPECT_TRUE(rejects(count_mismatch));

  Response duplicate;
  duplicate.blocks = {good_block, good_block};
  EXPECT_TRUE(rejects(duplicate));

  Response not_dmtf;
  not_dmtf.blocks = {dmtf_block(1, Bytes(48, 1), 0x02)};
  EXPECT_TRUE(rejects(not_dmtf));

  Response inner_size;
  Bytes bad = good_block;
  bad[5] = 47;  // value size one short of the block
  inner_size.blocks = {bad};
  EXPECT_TRUE(rejects(inner_size));

  Response short_block;
  short_block.blocks = {Bytes{1, 1, 2, 0, 1, 0}};  // block of 2 bytes: no room for a DMTF header
  EXPECT_TRUE(rejects(short_block));

  Response big_opaque;
  big_opaque.opaque = Bytes(kMaxOpaqueSize + 1, 0);
  EXPECT_TRUE(rejects(big_opaque));

  Response short_signature;
  short_signature.signature_size = 64;  // a P-256 signature
  EXPECT_TRUE(rejects(short_signature));
}

TEST(NvGpuParse, ShouldRejectMalformedOpaqueData) {
  const Bytes driver = opaque_field(OpaqueType::DriverVersion, to_bytes("1.2.3"));
  EXPECT_TRUE(parse_opaque_data(driver));
  EXPECT_TRUE(parse_opaque_data({}));
  EXPECT_FALSE(parse_opaque_data(concat({driver, driver})));                   // duplicate type
  EXPECT_FALSE(parse_opaque_data(ByteView(driver).first(driver.size() - 1)));  // value truncated
  EXPECT_FALSE(parse_opaque_data(concat({driver, Bytes{3, 0, 1}})));           // header truncated
}

// Synthetic device chains: checks that real reports cannot make fail.

sys_seconds date(int y, unsigned m, unsigned d) {
  return sys_days{year{y} / m / d};
}

// NVIDIA's layout: TcbInfo { ..., FWID { sha384, digest } }.
Bytes tcb_info_with_fwid(ByteView fwid) {
  constexpr std::uint8_t kHeader[] = {0x30, 0x3f, 0x30, 0x3d, 0x06, 0x09, 0x60, 0x86, 0x48,
                                      0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x04, 0x30};
  Bytes der(std::size(kHeader) + fwid.size());
  std::ranges::copy(kHeader, der.begin());
  std::ranges::copy(fwid, der.begin() + std::size(kHeader));
  return der;
}

struct Device {
  EcPrivateKey root_key = EcPrivateKey::generate(EcCurve::P384);
  EcPrivateKey leaf_key;
  Certificate root;
  Certificate leaf;

  explicit Device(std::optional<Bytes> tcb_info, EcCurve curve = EcCurve::P384)
      : leaf_key(EcPrivateKey::generate(curve)),
        root(CertificateBuilder()
                 .subject("Test Device Identity CA", "Ward Tests")
                 .validity(date(2024, 1, 1), date(2034, 1, 1))
                 .ca(true)
                 .self_sign(root_key)
                 .value()),
        leaf([&] {
          CertificateBuilder b;
          b.subject("Test GPU", "Ward Tests")
              .validity(date(2024, 1, 1), date(2034, 1, 1))
              .public_key(leaf_key.public_key());
          if (tcb_info) b.extension("2.23.133.5.4.1", *tcb_info);
          return b.sign(root, root_key).value();
        }()) {}

  // request || response signed by the leaf key.
  Bytes evidence(const Bytes& opaque) const { return evidence(opaque, leaf_key); }
  Bytes evidence(const Bytes& opaque, const EcPrivateKey& signer) const {
    Response r;
    r.blocks = {dmtf_block(1, Bytes(48, 1))};
    r.opaque = opaque;
    r.signature_size = 0;
    Bytes message = concat({request(), r.encode()});
    const Bytes signature = signer.sign(crypto::HashAlg::Sha384, message);
    message.insert(message.end(), signature.begin(), signature.end());
    return message;
  }

  Appraisal verify_evidence(const Bytes& evidence) const {
    Appraisal a;
    verify(evidence, std::span(&leaf, 1), std::span(&root, 1), kAt, a);
    return a;
  }
};

const Bytes kFwid(48, 0xf1);

Bytes good_opaque(ByteView fwid = kFwid) {
  return concat({opaque_field(OpaqueType::DriverVersion, to_bytes(std::string("570.1.2\0", 8))),
                 opaque_field(OpaqueType::VbiosVersion, {0x00, 0x74, 0x00, 0x96, 0x1a, 0, 0, 0}),
                 opaque_field(OpaqueType::Fwid, Bytes(fwid.begin(), fwid.end())),
                 opaque_field(OpaqueType::ChipSku, to_bytes(std::string("882\0", 4))),
                 opaque_field(static_cast<OpaqueType>(999), {1, 2, 3})});
}

TEST(NvGpuSynthetic, ShouldAcceptAWellFormedReport) {
  const Device d(tcb_info_with_fwid(kFwid));
  const Appraisal a = d.verify_evidence(d.evidence(good_opaque()));
  ASSERT_TRUE(a.accepted()) << failed_check(a) << ": " << a.checks.first_failure()->detail;
  EXPECT_EQ(a.claims.at("driver_version"), "570.1.2");
  EXPECT_EQ(a.claims.at("vbios_version"), "96.00.74.00.1a");
  EXPECT_EQ(a.claims.at("chip_sku"), "882");
  EXPECT_EQ(a.report_data, Bytes(kNonceSize, 0xa5));
  ASSERT_NE(a.measurement("measurement_1"), nullptr);
}

TEST(NvGpuSynthetic, ShouldAcceptFwidInTcgFwidList) {
  Bytes tcg = {0x30, 0x41, 0xa6, 0x3f};  // TcbInfo { fwids [6] { FWID } }
  const Bytes fwid = tcb_info_with_fwid(kFwid);
  tcg.insert(tcg.end(), fwid.begin() + 2, fwid.end());
  const Device d(tcg);
  EXPECT_TRUE(d.verify_evidence(d.evidence(good_opaque())).accepted());
}

TEST(NvGpuSynthetic, ShouldRejectSignatureByAnotherKey) {
  const Device d(tcb_info_with_fwid(kFwid));
  const Device other(tcb_info_with_fwid(kFwid));
  Appraisal a;
  verify(other.evidence(good_opaque()), std::span(&d.leaf, 1), std::span(&d.root, 1), kAt, a);
  EXPECT_EQ(failed_check(a), "spdm.signature");
}

TEST(NvGpuSynthetic, ShouldRejectDeviceKeyNotOnP384) {
  const Device d(tcb_info_with_fwid(kFwid), EcCurve::P256);
  const Bytes evidence = d.evidence(good_opaque(), EcPrivateKey::generate(EcCurve::P384));
  EXPECT_EQ(failed_check(d.verify_evidence(evidence)), "spdm.signature");
}

TEST(NvGpuSynthetic, ShouldRejectSignedButMalformedOpaqueData) {
  const Device d(tcb_info_with_fwid(kFwid));
  const Bytes opaque = good_opaque();
  EXPECT_EQ(failed_check(d.verify_evidence(d.evidence(concat({opaque, Bytes{3}})))), "spdm.opaque_data");
}

TEST(NvGpuSynthetic, ShouldRejectOpaqueDataWithoutDriverVersion) {
  const Device d(tcb_info_with_fwid(kFwid));
  const Bytes opaque =
      concat({opaque_field(OpaqueType::VbiosVersion, Bytes(8, 0)), opaque_field(OpaqueType::Fwid, kFwid)});
  EXPECT_EQ(failed_check(d.verify_evidence(d.evidence(opaque))), "spdm.opaque_data");
}

TEST(NvGpuSynthetic, ShouldRejectUnprintableDriverVersion) {
  const Device d(tcb_info_with_fwid(kFwid));
  const Bytes opaque =
      concat({opaque_field(OpaqueType::DriverVersion, {'5', '\n', 0}),
              opaque_field(OpaqueType::VbiosVersion, Bytes(8, 0)), opaque_field(OpaqueType::Fwid, kFwid)});
  EXPECT_EQ(failed_check(d.verify_evidence(d.evidence(opaque))), "spdm.opaque_data");
}

TEST(NvGpuSynthetic, ShouldRejectShortVbiosVersion) {
  const Device d(tcb_info_with_fwid(kFwid));
  const Bytes opaque =
      concat({opaque_field(OpaqueType::DriverVersion, to_bytes("1")),
              opaque_field(OpaqueType::VbiosVersion, Bytes(5, 0)), opaque_field(OpaqueType::Fwid, kFwid)});
  EXPECT_EQ(failed_check(d.verify_evidence(d.evidence(opaque))), "spdm.opaque_data");
}

TEST(NvGpuSynthetic, ShouldRejectFwidOtherThanTheCertificates) {
  const Device d(tcb_info_with_fwid(kFwid));
  const Appraisal a = d.verify_evidence(d.evidence(good_opaque(Bytes(48, 0xf2))));
  EXPECT_EQ(failed_check(a), "gpu.fwid");
}

TEST(NvGpuSynthetic, ShouldRejectLeafWithoutTcbInfo) {
  const Device d(std::nullopt);
  EXPECT_EQ(failed_check(d.verify_evidence(d.evidence(good_opaque()))), "gpu.fwid");
}

TEST(NvGpuSynthetic, ShouldRejectMalformedTcbInfo) {
  Bytes truncated = tcb_info_with_fwid(kFwid);
  truncated[1] = 0x40;  // outer length one past the end
  const Device d(truncated);
  EXPECT_EQ(failed_check(d.verify_evidence(d.evidence(good_opaque()))), "gpu.fwid");
}

TEST(NvGpuSynthetic, ShouldNotTrustARootFromTheEvidence) {
  const Device d(tcb_info_with_fwid(kFwid));
  const std::vector<Certificate> chain = {d.leaf, d.root};
  const Appraisal a = run(d.evidence(good_opaque()), chain);
  EXPECT_EQ(failed_check(a), "gpu.chain");
}

TEST(NvGpuSynthetic, ShouldRejectEverySingleByteFlipOfTheSignedPart) {
  const Device d(tcb_info_with_fwid(kFwid));
  const Bytes evidence = d.evidence(good_opaque());
  ASSERT_TRUE(d.verify_evidence(evidence).accepted());
  std::vector<std::size_t> every(evidence.size() - kSignatureSize);
  for (std::size_t i = 0; i < every.size(); ++i) every[i] = i;
  auto rejected_by = flip_each(evidence, every, [&](const Bytes& e) { return d.verify_evidence(e); });
  EXPECT_GT(rejected_by["spdm.signature"], 100);
}

}  // namespace
}  // namespace ward::attest::nvgpu
