#include "cli/evidence.h"

#include "attest/dcap/collateral.h"
#include "base/file.h"
#include "ca/server.h"
#include "cli/cli.h"
#include "crypto/x509.h"

namespace ward::cli {
namespace {

constexpr std::size_t kMaxPolicySize = 1 << 20;
constexpr std::size_t kMaxCertsSize = 1 << 20;

std::unexpected<Error> unusable(const Error& e, const std::string& what) {
  return fail(std::string(kUsage), what + ": " + e.message);
}

bool is_space(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

// Evidence files hold the native bytes, or the same as hex text (as several
// tools print them).
Result<Bytes> decode_evidence_text(Bytes raw) {
  std::string text;
  for (auto b : raw) {
    if (!is_space(static_cast<char>(b))) text.push_back(static_cast<char>(b));
  }
  if (text.starts_with("0x")) text.erase(0, 2);
  if (!text.empty() && text.size() % 2 == 0 &&
      text.find_first_not_of("0123456789abcdefABCDEF") == std::string::npos) {
    return hex_decode(text);
  }
  return raw;
}

// PEM (any number of certificates) or one DER certificate.
Result<std::vector<crypto::Certificate>> load_certificates(ByteView data) {
  const std::string_view text = as_chars(data);
  if (text.find("-----BEGIN CERTIFICATE-----") != std::string_view::npos) return crypto::parse_pem_chain(text);
  auto cert = crypto::Certificate::from_der(data);
  if (!cert) return std::unexpected(cert.error());
  return std::vector<crypto::Certificate>{*cert};
}

}  // namespace

Result<attest::EvidenceBundle> load_evidence(const EvidenceFiles& files) {
  auto raw = read_file(files.evidence, attest::kMaxEvidenceBundleSize);
  if (!raw) return unusable(raw.error(), "reading " + files.evidence);
  const bool auto_platform = files.platform.empty() || files.platform == "auto";
  const std::string_view text = as_chars(*raw);
  const auto first = text.find_first_not_of(" \n\r\t");
  if (first != std::string_view::npos && text[first] == '{') {
    if (!files.collateral.empty() || !files.certs.empty() || !auto_platform) {
      return fail(std::string(kUsage), files.evidence +
                                           " is an evidence bundle: it already names its platform, collateral "
                                           "and certificates");
    }
    auto parsed = attest::parse_bundle(text);
    if (!parsed) return unusable(parsed.error(), files.evidence);
    return parsed;
  }
  attest::EvidenceBundle bundle;
  auto bytes = decode_evidence_text(std::move(*raw));
  if (!bytes) return unusable(bytes.error(), files.evidence);
  bundle.evidence = std::move(*bytes);
  if (auto_platform) {
    auto detected = attest::detect_platform(bundle.evidence);
    if (!detected) {
      return fail(std::string(kUsage), files.evidence +
                                           ": not a DCAP quote, SEV-SNP report or SPDM measurement report; "
                                           "give --platform");
    }
    bundle.platform = *detected;
  } else {
    auto p = attest::parse_platform(files.platform);
    if (!p) return fail(std::string(kUsage), "unknown platform " + files.platform + " (tdx, sgx, snp, nvgpu, sim)");
    bundle.platform = *p;
  }
  if (!files.collateral.empty()) {
    auto c = read_file(files.collateral, attest::dcap::kMaxCollateralSize);
    if (!c) return unusable(c.error(), "reading " + files.collateral);
    bundle.collateral = std::string(as_chars(*c));
  }
  if (!files.certs.empty()) {
    auto c = read_file(files.certs, kMaxCertsSize);
    if (!c) return unusable(c.error(), "reading " + files.certs);
    auto certs = load_certificates(*c);
    if (!certs) return unusable(certs.error(), files.certs);
    bundle.certs = std::move(*certs);
  }
  return bundle;
}

Result<crypto::Certificate> load_certificate_file(const std::string& path) {
  auto text = read_file(path, (std::size_t{1} << 20) + attest::kMaxEvidenceBundleSize * 2);
  if (!text) return std::unexpected(text.error());
  auto cert = crypto::Certificate::from_pem(as_chars(*text));
  if (!cert) return fail(cert.error(), path);
  return cert;
}

Result<crypto::Certificate> trusted_ca(const std::string& ca_cert_file, const std::string& ca_url) {
  if (ca_cert_file.empty() == ca_url.empty())
    return fail(std::string(kUsage), "give exactly one of --ca-cert FILE and --ca URL");
  if (!ca_cert_file.empty()) return load_certificate_file(ca_cert_file);
  auto cert = ca::fetch_ca_certificate(ca_url);
  if (!cert) return fail(cert.error(), "fetching the CA certificate from " + ca_url);
  return cert;
}

Result<attest::Policy> load_policy(const std::string& path, attest::Policy fallback) {
  if (path.empty()) return fallback;
  auto text = read_file(path, kMaxPolicySize);
  if (!text) return unusable(text.error(), "reading " + path);
  auto policy = attest::Policy::from_json(as_chars(*text));
  if (!policy) return unusable(policy.error(), path);
  return policy;
}

}  // namespace ward::cli
