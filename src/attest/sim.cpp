#include "attest/sim.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <utility>

#include <nlohmann/json.hpp>

#include "attest/dcap/pck.h"
#include "base/file.h"
#include "crypto/hash.h"
#include "crypto/random.h"

namespace ward::attest::sim {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::ordered_json;

// Generated once from kRootKeyLabel with crypto::CertificateBuilder (serial
// 1, O=Ward, pathlen 1); ECDSA signatures are randomized, so rebuilding it
// would give a different certificate for the same key.
constexpr std::string_view kRootPem = R"(-----BEGIN CERTIFICATE-----
MIIBqDCCAU6gAwIBAgIBATAKBggqhkjOPQQDAjA5MQ0wCwYDVQQKDARXYXJkMSgw
JgYDVQQDDB9XYXJkIHNpbXVsYXRlZCBURUUgLSBOT1QgU0VDVVJFMCAXDTI1MDEw
MTAwMDAwMFoYDzIwNTAwMTAxMDAwMDAwWjA5MQ0wCwYDVQQKDARXYXJkMSgwJgYD
VQQDDB9XYXJkIHNpbXVsYXRlZCBURUUgLSBOT1QgU0VDVVJFMFkwEwYHKoZIzj0C
AQYIKoZIzj0DAQcDQgAEkJDsAIthIg7+nFEx4tXr8R+QKaiQz40cqdKz2zU6v7Zi
+K4/wK1I1NucuPMiyblguiWkD/7SomkaW3xBM/qoDqNFMEMwEgYDVR0TAQH/BAgw
BgEB/wIBATAOBgNVHQ8BAf8EBAMCAQYwHQYDVR0OBBYEFPJbPLudY6SC2yWP/qHm
mfEQBI2zMAoGCCqGSM49BAMCA0gAMEUCIHCBlHKiZNjkQtVFzzLmC492155AMTPD
WciD87x7/2BPAiEAqmwV//qmo1HNxhz5jDTJLlTszaXLyr7EwscadOttv7Q=
-----END CERTIFICATE-----
)";

constexpr std::string_view kOrganization = "Ward";
constexpr std::string_view kPckCaName = "Ward simulated PCK Platform CA";
constexpr std::string_view kPckName = "Ward simulated PCK Certificate";
constexpr std::string_view kTcbSigningName = "Ward simulated TCB Signing";

// The TCB the sim runs at, listed as UpToDate. Components are nonzero so
// that a verifier's comparisons have something to compare.
constexpr std::array<std::uint8_t, 16> kCpuSvn = {3, 3, 2, 2, 3, 1, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0};
constexpr std::uint16_t kPceSvn = 13;
// TEE_TCB_SVN: TDX module SVN 3, major version 1 (module identity "TDX_01"),
// late microcode 2.
constexpr std::array<std::uint8_t, 16> kTeeTcbSvn = {3, 1, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
constexpr std::string_view kTdxModuleId = "TDX_01";
constexpr std::string_view kTcbDate = "2025-01-01T00:00:00Z";
// Below the UpToDate level every TCB is listed as OutOfDate, so that tests
// can lower one SVN and see Intel's status for it rather than NotSupported.
constexpr std::string_view kOutOfDateTcbDate = "2024-01-01T00:00:00Z";
constexpr int kTcbEvaluationDataNumber = 1;
// XFAM of a typical TD: x87, SSE, AVX, AVX-512, PKRU, CET and AMX state.
constexpr std::array<std::uint8_t, 8> kXfam = {0xe7, 0x1a, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00};

// The simulated TD quoting enclave, mirroring Intel's TD_QE identity.
constexpr std::uint16_t kQeProdId = 2;
constexpr std::uint16_t kQeSvn = 4;
constexpr std::array<std::uint8_t, 16> kQeAttributes = {0x11};
constexpr std::string_view kQeAttributesMask = "FBFFFFFFFFFFFFFF0000000000000000";

constexpr auto kValidBefore = 1h;
constexpr auto kCollateralLifetime = std::chrono::days{30};
constexpr auto kCertificateLifetime = std::chrono::days{365};

// Fixed identities of the simulated TDX module and QE: labels, not secrets.
std::array<std::uint8_t, 48> mr_seam() { return crypto::sha384(as_bytes("ward/sim-tee/tdx-module")); }
std::array<std::uint8_t, 32> qe_mr_enclave() { return crypto::sha256(as_bytes("ward/sim-tee/qe")); }
std::array<std::uint8_t, 32> qe_mr_signer() { return crypto::sha256(as_bytes("ward/sim-tee/qe-signer")); }

std::string upper_hex(ByteView data) {
  std::string text = hex_encode(data);
  for (char& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return text;
}

std::string iso8601(std::chrono::sys_seconds t) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(t);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

std::chrono::sys_seconds to_seconds(std::chrono::system_clock::time_point t) {
  return std::chrono::floor<std::chrono::seconds>(t);
}

Json svn_components(const std::array<std::uint8_t, 16>& svns) {
  Json components = Json::array();
  for (std::uint8_t svn : svns) components.push_back({{"svn", svn}});
  return components;
}

Json up_to_date_level(Json tcb) {
  return {{"tcb", std::move(tcb)}, {"tcbDate", kTcbDate}, {"tcbStatus", "UpToDate"}};
}

Json out_of_date_level(Json tcb) {
  return {{"tcb", std::move(tcb)}, {"tcbDate", kOutOfDateTcbDate}, {"tcbStatus", "OutOfDate"}};
}

}  // namespace

const crypto::Certificate& root() {
  static const crypto::Certificate cert = [] {
    auto parsed = crypto::Certificate::from_pem(kRootPem);
    if (!parsed) std::abort();  // a fixed constant, checked by the unit tests
    return *std::move(parsed);
  }();
  return cert;
}

crypto::EcPrivateKey root_key() {
  auto key = crypto::EcPrivateKey::from_scalar(crypto::EcCurve::P256, crypto::sha256(as_bytes(kRootKeyLabel)));
  if (!key) std::abort();  // SHA-256 of a fixed label, checked by the unit tests
  return *std::move(key);
}

std::array<std::uint8_t, 48> measure(ByteView binary) { return crypto::sha384(binary); }

Result<std::array<std::uint8_t, 48>> measure_file(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail("io.open", "cannot open " + path.string() + ": " + std::strerror(errno));
  crypto::Hasher hasher(crypto::HashAlg::Sha384);
  Bytes chunk(1 << 20);
  Result<std::size_t> n;
  while ((n = read_full(fd, chunk)) && *n > 0) hasher.update(ByteView(chunk).first(*n));
  ::close(fd);
  if (!n) return fail(n.error(), "measuring " + path.string());
  const Bytes digest = hasher.finish();
  std::array<std::uint8_t, 48> mrtd{};
  std::copy(digest.begin(), digest.end(), mrtd.begin());
  return mrtd;
}

Result<Pki> make_pki(std::chrono::system_clock::time_point now) {
  const std::chrono::sys_seconds not_before = to_seconds(now) - kValidBefore;
  const std::chrono::sys_seconds not_after = to_seconds(now) + kCertificateLifetime;
  const crypto::EcPrivateKey root_private = root_key();

  crypto::EcPrivateKey pck_ca_key = crypto::EcPrivateKey::generate(crypto::EcCurve::P256);
  auto pck_ca = crypto::CertificateBuilder()
                    .subject(kPckCaName, kOrganization)
                    .validity(not_before, not_after)
                    .public_key(pck_ca_key.public_key())
                    .ca(true, 0)
                    .sign(root(), root_private);
  if (!pck_ca) return fail(pck_ca.error(), "issuing the simulated PCK Platform CA");

  dcap::PckExtensions sgx;
  sgx.ppid = crypto::random_bytes(16);
  sgx.cpu_svn_components = kCpuSvn;
  sgx.pce_svn = kPceSvn;
  sgx.cpu_svn = kCpuSvn;
  sgx.pce_id = kPceId;
  sgx.fmspc = kFmspc;
  sgx.sgx_type = 0;  // Standard
  crypto::EcPrivateKey pck_key = crypto::EcPrivateKey::generate(crypto::EcCurve::P256);
  auto pck = crypto::CertificateBuilder()
                 .subject(kPckName, kOrganization)
                 .validity(not_before, not_after)
                 .public_key(pck_key.public_key())
                 .extension(dcap::kSgxExtensionOid, dcap::encode_pck_extensions(sgx))
                 .sign(*pck_ca, pck_ca_key);
  if (!pck) return fail(pck.error(), "issuing the simulated PCK certificate");

  crypto::EcPrivateKey tcb_signing_key = crypto::EcPrivateKey::generate(crypto::EcCurve::P256);
  auto tcb_signing = crypto::CertificateBuilder()
                         .subject(kTcbSigningName, kOrganization)
                         .validity(not_before, not_after)
                         .public_key(tcb_signing_key.public_key())
                         .sign(root(), root_private);
  if (!tcb_signing) return fail(tcb_signing.error(), "issuing the simulated TCB Signing certificate");

  return Pki{std::move(pck_ca_key), *std::move(pck_ca),     std::move(pck_key),
             *std::move(pck),       std::move(tcb_signing_key), *std::move(tcb_signing)};
}

dcap::QuoteParts quote_parts(const std::array<std::uint8_t, 64>& report_data,
                             const std::array<std::uint8_t, 48>& mrtd, const Pki& pki) {
  dcap::QuoteParts parts = dcap::tdx_v4_parts();
  parts.header.qe_svn = kQeSvn;
  parts.header.pce_svn = kPceSvn;

  dcap::TdReport td;
  td.tee_tcb_svn = kTeeTcbSvn;
  td.mr_seam = mr_seam();
  td.xfam = kXfam;
  td.mr_td = mrtd;
  td.report_data = report_data;
  parts.body = td;

  parts.qe_report.cpu_svn = kCpuSvn;
  parts.qe_report.attributes = kQeAttributes;
  parts.qe_report.mr_enclave = qe_mr_enclave();
  parts.qe_report.mr_signer = qe_mr_signer();
  parts.qe_report.isv_prod_id = kQeProdId;
  parts.qe_report.isv_svn = kQeSvn;
  parts.pck_chain_pem = pki.pck.to_pem() + pki.pck_ca.to_pem() + root().to_pem();
  return parts;
}

std::string tcb_info_json(std::chrono::system_clock::time_point now) {
  const std::string zeros_mrsigner(96, '0');
  const auto platform_tcb = [](const std::array<std::uint8_t, 16>& cpu_svn, std::uint16_t pce_svn,
                                const std::array<std::uint8_t, 16>& tee_tcb_svn) {
    return Json{{"sgxtcbcomponents", svn_components(cpu_svn)},
                {"pcesvn", pce_svn},
                {"tdxtcbcomponents", svn_components(tee_tcb_svn)}};
  };
  const std::array<std::uint8_t, 16> lowest{};
  const Json info = {
      {"id", "TDX"},
      {"version", 3},
      {"issueDate", iso8601(to_seconds(now) - kValidBefore)},
      {"nextUpdate", iso8601(to_seconds(now) + kCollateralLifetime)},
      {"fmspc", upper_hex(kFmspc)},
      {"pceId", upper_hex(kPceId)},
      {"tcbType", 0},
      {"tcbEvaluationDataNumber", kTcbEvaluationDataNumber},
      {"tdxModule",
       {{"mrsigner", zeros_mrsigner}, {"attributes", "0000000000000000"}, {"attributesMask", "FFFFFFFFFFFFFFFF"}}},
      {"tdxModuleIdentities", Json::array({{{"id", kTdxModuleId},
                                            {"mrsigner", zeros_mrsigner},
                                            {"attributes", "0000000000000000"},
                                            {"attributesMask", "FFFFFFFFFFFFFFFF"},
                                            {"tcbLevels", Json::array({
                                                              up_to_date_level({{"isvsvn", kTeeTcbSvn[0]}}),
                                                              out_of_date_level({{"isvsvn", 0}}),
                                                          })}}})},
      {"tcbLevels", Json::array({
                        up_to_date_level(platform_tcb(kCpuSvn, kPceSvn, kTeeTcbSvn)),
                        out_of_date_level(platform_tcb(lowest, 0, lowest)),
                    })},
  };
  return info.dump();
}

std::string qe_identity_json(std::chrono::system_clock::time_point now) {
  const Json identity = {
      {"id", "TD_QE"},
      {"version", 2},
      {"issueDate", iso8601(to_seconds(now) - kValidBefore)},
      {"nextUpdate", iso8601(to_seconds(now) + kCollateralLifetime)},
      {"tcbEvaluationDataNumber", kTcbEvaluationDataNumber},
      {"miscselect", "00000000"},
      {"miscselectMask", "FFFFFFFF"},
      {"attributes", upper_hex(kQeAttributes)},
      {"attributesMask", kQeAttributesMask},
      {"mrsigner", upper_hex(qe_mr_signer())},
      {"isvprodid", kQeProdId},
      {"tcbLevels", Json::array({up_to_date_level({{"isvsvn", kQeSvn}}), out_of_date_level({{"isvsvn", 0}})})},
  };
  return identity.dump();
}

Result<dcap::Collateral> make_collateral(const Pki& pki, std::chrono::system_clock::time_point now) {
  const std::chrono::sys_seconds this_update = to_seconds(now) - kValidBefore;
  const std::chrono::sys_seconds next_update = to_seconds(now) + kCollateralLifetime;
  auto root_crl = crypto::CrlBuilder().validity(this_update, next_update).sign(root(), root_key());
  if (!root_crl) return fail(root_crl.error(), "signing the simulated root CA CRL");
  auto pck_crl = crypto::CrlBuilder().validity(this_update, next_update).sign(pki.pck_ca, pki.pck_ca_key);
  if (!pck_crl) return fail(pck_crl.error(), "signing the simulated PCK CRL");

  dcap::Collateral c;
  c.pck_crl_issuer_chain = pki.pck_ca.to_pem() + root().to_pem();
  c.root_ca_crl = root_crl->to_der();
  c.pck_crl = pck_crl->to_der();
  c.tcb_info_issuer_chain = pki.tcb_signing.to_pem() + root().to_pem();
  c.qe_identity_issuer_chain = c.tcb_info_issuer_chain;
  c.tcb_info = tcb_info_json(now);
  c.tcb_info_signature = pki.tcb_signing_key.sign(crypto::HashAlg::Sha256, as_bytes(c.tcb_info));
  c.qe_identity = qe_identity_json(now);
  c.qe_identity_signature = pki.tcb_signing_key.sign(crypto::HashAlg::Sha256, as_bytes(c.qe_identity));
  return c;
}

Result<SimEvidence> make_quote(ByteView report_data, const std::array<std::uint8_t, 48>& mrtd,
                               std::chrono::system_clock::time_point now) {
  if (report_data.size() != 64) {
    return fail("attest.sim", "report data must be 64 bytes, got " + std::to_string(report_data.size()));
  }
  auto pki = make_pki(now);
  if (!pki) return std::unexpected(pki.error());
  std::array<std::uint8_t, 64> data{};
  std::copy(report_data.begin(), report_data.end(), data.begin());
  const crypto::EcPrivateKey attestation_key = crypto::EcPrivateKey::generate(crypto::EcCurve::P256);
  auto quote = dcap::build_quote(quote_parts(data, mrtd, *pki), attestation_key, pki->pck_key);
  if (!quote) return std::unexpected(quote.error());
  auto collateral = make_collateral(*pki, now);
  if (!collateral) return std::unexpected(collateral.error());
  return SimEvidence{*std::move(quote), *std::move(collateral)};
}

}  // namespace ward::attest::sim
