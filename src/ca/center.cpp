#include "ca/center.h"

#include <algorithm>
#include <string>
#include <system_error>
#include <utility>

#include "base/file.h"
#include "ca/certificate.h"
#include "ca/extensions.h"
#include "ca/oids.h"
#include "crypto/secret.h"

namespace ward::ca {
namespace {

using std::chrono::floor;
using std::chrono::seconds;

constexpr std::size_t kMaxCaFileSize = std::size_t{64} << 10;
constexpr std::string_view kKeyFileComment =
    "# Ward certification center key: the P-384 private scalar. Keep it secret.\n";

// Anything at `path`, even a dangling link, counts: init never replaces it.
bool path_taken(const std::filesystem::path& path) {
  std::error_code ec;
  const auto type = std::filesystem::symlink_status(path, ec).type();
  return type != std::filesystem::file_type::not_found && type != std::filesystem::file_type::none;
}

Result<void> write_new_file(const std::filesystem::path& path, std::string_view text, unsigned mode) {
  auto file = AtomicFile::create(path, mode);
  if (!file) return std::unexpected(file.error());
  if (auto ok = file->write(as_bytes(text)); !ok) return fail(ok.error(), "writing " + path.string());
  if (auto ok = file->commit(AtomicFile::Replace::No); !ok) {
    if (ok.error().code == "io.exists")
      return fail("ca.exists", path.string() + " already exists; refusing to overwrite it");
    return ok;
  }
  return {};
}

// The scalar on the one line that is not a comment.
Result<crypto::EcPrivateKey> parse_key_file(std::string_view text, const std::string& path) {
  std::optional<std::string_view> scalar_hex;
  while (!text.empty()) {
    const auto end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    if (line.ends_with('\r')) line.remove_suffix(1);
    if (line.empty() || line.starts_with('#')) continue;
    if (scalar_hex) return fail("ca.open", path + " holds more than one key line");
    scalar_hex = line;
  }
  if (!scalar_hex) return fail("ca.open", path + " holds no key");
  auto scalar = hex_decode(*scalar_hex);
  if (!scalar) return fail("ca.open", path + " is not a hex P-384 scalar");
  auto key = crypto::EcPrivateKey::from_scalar(crypto::EcCurve::P384, *scalar);
  crypto::cleanse(scalar->data(), scalar->size());
  if (!key) return fail("ca.open", path + " is not a valid P-384 private key: " + key.error().message);
  return key;
}

}  // namespace

Result<CertificationCenter> CertificationCenter::init(const std::filesystem::path& dir,
                                                      std::chrono::system_clock::time_point now) {
  const auto key_path = dir / kCaKeyFile;
  const auto cert_path = dir / kCaCertFile;
  for (const auto& path : {key_path, cert_path}) {
    if (path_taken(path))
      return fail("ca.exists", path.string() + " already exists; refusing to overwrite it");
  }
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return fail("io.create", "cannot create " + dir.string() + ": " + ec.message());

  crypto::EcPrivateKey key = crypto::EcPrivateKey::generate(crypto::EcCurve::P384);
  const auto start = floor<seconds>(now);
  auto cert = crypto::CertificateBuilder()
                  .subject(kCaCommonName, "Ward")
                  .validity(start - kBackdate, start + kCaValidity)
                  .public_key(key.public_key())
                  .ca(true, 0)
                  .self_sign(key);
  if (!cert) return fail(cert.error(), "creating the CA certificate");

  // Reserved up front so no copy of the secret is left behind by a reallocation.
  std::string key_text;
  key_text.reserve(kKeyFileComment.size() + 2 * 48 + 1);
  key_text += kKeyFileComment;
  {
    const crypto::SecretBytes scalar = key.scalar();
    std::string scalar_hex = hex_encode(crypto::view(scalar));
    key_text += scalar_hex;
    key_text += '\n';
    crypto::cleanse(scalar_hex.data(), scalar_hex.size());
  }
  auto written = write_new_file(key_path, key_text, 0600);
  crypto::cleanse(key_text.data(), key_text.size());
  if (!written) return std::unexpected(written.error());
  if (auto ok = write_new_file(cert_path, cert->to_pem(), 0644); !ok) return std::unexpected(ok.error());
  return CertificationCenter(std::move(key), std::move(*cert));
}

Result<CertificationCenter> CertificationCenter::open(const std::filesystem::path& dir) {
  const auto key_path = dir / kCaKeyFile;
  const auto cert_path = dir / kCaCertFile;
  auto key_text = read_file(key_path, kMaxCaFileSize);
  if (!key_text) return fail("ca.open", key_text.error().message + " (run 'ward ca init' first?)");
  auto key = parse_key_file(as_chars(*key_text), key_path.string());
  crypto::cleanse(key_text->data(), key_text->size());
  if (!key) return std::unexpected(key.error());

  auto cert_text = read_file(cert_path, kMaxCaFileSize);
  if (!cert_text) return fail("ca.open", cert_text.error().message);
  auto cert = crypto::Certificate::from_pem(as_chars(*cert_text));
  if (!cert) return fail("ca.open", cert_path.string() + ": " + cert.error().message);
  auto cert_key = cert->ec_public_key();
  if (!cert_key || cert_key->to_sec1() != key->public_key().to_sec1() || !cert->is_ca()) {
    return fail("ca.open",
                cert_path.string() + " is not the CA certificate of the key in " + key_path.string());
  }
  return CertificationCenter(std::move(*key), std::move(*cert));
}

Result<Issuance> CertificationCenter::issue(const attest::EvidenceBundle& evidence,
                                            const crypto::Ed25519PublicKey& signing_key,
                                            const age::X25519Recipient& recipient,
                                            const attest::Policy& policy,
                                            std::chrono::system_clock::time_point now,
                                            std::chrono::seconds validity) const {
  Issuance out{attest::verify_evidence(evidence, policy, now, *collaterals_), std::nullopt};
  if (!out.appraisal.accepted()) return out;
  if (!check_binding(out.appraisal, signing_key, recipient)) return out;

  const auto start = floor<seconds>(now);
  const auto not_after = std::min(start + validity, certificate_.not_after());
  if (not_after <= start) return fail("ca.issue", "the CA certificate has expired; run 'ward ca init' anew");
  auto cert = crypto::CertificateBuilder()
                  .subject(cvm_common_name(signing_key), "Ward CVM")
                  .validity(start - kBackdate, not_after)
                  .public_key(signing_key)
                  .extension(kAgeRecipientExtensionOid, encode_recipient_extension(recipient))
                  .extension(kEvidenceExtensionOid, encode_evidence_extension(evidence))
                  .sign(certificate_, key_);
  if (!cert) return fail("ca.issue", "signing the certificate: " + cert.error().message);
  out.certificate = std::move(*cert);
  return out;
}

}  // namespace ward::ca
