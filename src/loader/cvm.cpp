#include "loader/cvm.h"

#include <chrono>
#include <system_error>

#include "attest/dcap/collateral.h"
#include "attest/evidence.h"
#include "attest/sim.h"
#include "attest/snp.h"
#include "attest/tsm.h"
#include "base/file.h"
#include "base/time.h"
#include "ca/binding.h"
#include "ca/certificate.h"
#include "ca/server.h"
#include "ledger/evm/client.h"

namespace ward::loader {
namespace {

constexpr std::size_t kMaxCertificateSize = std::size_t{1} << 20;

Result<keys::PartyKey> load_or_create_key(const std::filesystem::path& path) {
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) return keys::PartyKey::load(path);
  auto key = keys::PartyKey::generate();
  auto file = AtomicFile::create(path, 0600);
  if (!file) return std::unexpected(file.error());
  if (auto ok = file->write(as_bytes(key.identity_file_text(std::chrono::system_clock::now()))); !ok) {
    return std::unexpected(ok.error());
  }
  if (auto ok = file->commit(AtomicFile::Replace::No); !ok) return std::unexpected(ok.error());
  return key;
}

Result<attest::EvidenceBundle> make_evidence(const CvmOptions& options, const ca::ReportData& report_data) {
  attest::EvidenceBundle bundle;
  if (options.platform == "sim") {
    auto mrtd = attest::sim::measure_file(options.measured);
    if (!mrtd) return fail(mrtd.error(), "measuring " + options.measured.string());
    auto quote = attest::sim::make_quote(report_data, *mrtd, std::chrono::system_clock::now());
    if (!quote) return std::unexpected(quote.error());
    bundle.platform = attest::Platform::Sim;
    bundle.evidence = std::move(quote->quote);
    bundle.collateral = attest::dcap::collateral_to_json(quote->collateral);
    return bundle;
  }
  if (options.platform == "tsm") {
    attest::TsmOptions tsm;
    if (!options.tsm_root.empty()) tsm.root = options.tsm_root;
    auto report = attest::tsm_report(report_data, tsm, attest::system_tsm_fs());
    if (!report) return std::unexpected(report.error());
    auto platform = attest::detect_platform(report->outblob);
    if (!platform) return fail("loader.cvm", "the TEE returned evidence of an unknown format");
    bundle.platform = *platform;
    bundle.evidence = std::move(report->outblob);
    if (!report->auxblob.empty()) {
      auto certs = attest::snp::parse_cert_table(report->auxblob);
      if (!certs) return fail(certs.error(), "the SEV-SNP certificate table");
      bundle.certs = std::move(*certs);
    }
    return bundle;
  }
  return fail("loader.cvm", "unknown platform \"" + options.platform + "\" (sim or tsm)");
}

// Whether simulated evidence measured the binary this loader runs now (a
// rebuilt loader must not present its predecessor's measurement).
bool measures_this_binary(const attest::EvidenceBundle& evidence, const CvmOptions& options) {
  auto mrtd = attest::sim::measure_file(options.measured);
  if (!mrtd) return false;
  attest::Policy policy = attest::Policy::report_only();
  policy.allow_simulated = true;
  const auto appraisal = attest::verify_evidence(evidence, policy, std::chrono::system_clock::now());
  const auto* reported = appraisal.measurement("mrtd");
  return reported && reported->value == Bytes(mrtd->begin(), mrtd->end());
}

// The kept certificate, when it is for this key (and, simulated, this
// binary) and valid for another hour.
std::optional<crypto::Certificate> kept_certificate(const std::filesystem::path& path,
                                                    const keys::PartyKey& key, const CvmOptions& options) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return std::nullopt;
  auto pem = read_file(path, kMaxCertificateSize);
  if (!pem) return std::nullopt;
  auto cert = crypto::Certificate::from_pem(as_chars(*pem));
  if (!cert) return std::nullopt;
  auto contents = ca::read_cvm_certificate(*cert);
  if (!contents || contents->identity.signing_key != key.signing_public_key()) return std::nullopt;
  if (cert->not_after() < std::chrono::system_clock::now() + std::chrono::hours(1)) return std::nullopt;
  if (options.platform == "sim" && !measures_this_binary(contents->evidence, options)) return std::nullopt;
  return std::move(*cert);
}

// A new certificate for `key` from the certification center, over fresh
// evidence, kept in the CVM's directory (cvm.pem, replaced atomically).
Result<crypto::Certificate> certify(const CvmOptions& options, const keys::PartyKey& key) {
  const auto report_data = ca::cvm_report_data(key.signing_public_key(), key.recipient().key());
  auto evidence = make_evidence(options, report_data);
  if (!evidence) return std::unexpected(evidence.error());
  auto issued = ca::request_certificate(options.ca_url, *evidence, key.signing_public_key(), key.recipient());
  if (!issued) return std::unexpected(issued.error());
  auto file = AtomicFile::create(options.dir / "cvm.pem", 0644);
  if (!file) return std::unexpected(file.error());
  if (auto ok = file->write(as_bytes(issued->to_pem())); !ok) return std::unexpected(ok.error());
  if (auto ok = file->commit(); !ok) return std::unexpected(ok.error());
  return issued;
}

std::string expiry_text(const crypto::Certificate& cert) {
  return format_rfc3339(cert.not_after());
}

}  // namespace

Result<CvmState> provision_cvm(const CvmOptions& options) {
  std::error_code ec;
  std::filesystem::create_directories(options.dir, ec);
  if (ec) return fail("loader.cvm", "cannot create " + options.dir.string() + ": " + ec.message());
  std::filesystem::permissions(options.dir, std::filesystem::perms::owner_all, ec);
  auto key = load_or_create_key(options.dir / "cvm.key");
  if (!key) return std::unexpected(key.error());
  // The CVM's EVM identity, public, for a provider that lists it on an EVM
  // ledger (it pays from there and proves nothing by itself: the binding
  // signature ties the address to the key the certificate certifies).
  auto identity = ledger::evm::cvm_identity(*key);
  if (!identity) return std::unexpected(identity.error());
  auto identity_file = AtomicFile::create(options.dir / ledger::evm::kCvmIdentityFile, 0644);
  if (!identity_file) return std::unexpected(identity_file.error());
  if (auto ok = identity_file->write(as_bytes(identity->dump() + "\n")); !ok)
    return std::unexpected(ok.error());
  if (auto ok = identity_file->commit(); !ok) return std::unexpected(ok.error());

  std::optional<crypto::Certificate> cert = kept_certificate(options.dir / "cvm.pem", *key, options);
  if (!cert) {
    auto issued = certify(options, *key);
    if (!issued) return std::unexpected(issued.error());
    cert = std::move(*issued);
  }
  auto contents = ca::read_cvm_certificate(*cert);
  if (!contents) return std::unexpected(contents.error());
  CvmState state{std::move(*key), *cert, cert->to_pem(), contents->identity.id,
                 contents->evidence.platform == attest::Platform::Sim};
  return state;
}

std::chrono::sys_seconds renewal_time(std::chrono::sys_seconds not_before, std::chrono::sys_seconds not_after,
                                      std::optional<std::chrono::seconds> before) {
  if (not_after <= not_before) return not_before;
  const std::chrono::seconds margin = before.value_or((not_after - not_before) / 3);
  return not_after - not_before <= margin ? not_before : not_after - margin;
}

bool CertificateRenewal::renew_if_due(CvmState& cvm, ledger::LedgerClient& ledger) {
  using std::chrono::system_clock;
  const auto now = std::chrono::steady_clock::now();
  if (now < retry_at_) return false;
  const auto retry = [&](const std::string& what, const Error& e) {
    retry_at_ = now + options_.retry;
    log_(what + ": " + e.message + "; trying again in " + std::to_string(options_.retry.count()) + " s");
  };
  bool renewed = false;
  const auto due = renewal_time(cvm.certificate.not_before(), cvm.certificate.not_after(), options_.before);
  if (system_clock::now() >= due) {
    auto issued = certify(cvm_, cvm.key);
    if (!issued) {
      retry("cannot renew the CVM certificate (valid until " + expiry_text(cvm.certificate) + ")",
            issued.error());
      return false;
    }
    cvm.certificate = std::move(*issued);
    cvm.certificate_pem = cvm.certificate.to_pem();
    published_ = false;
    renewed = true;
    log_("renewed the CVM certificate: valid until " + expiry_text(cvm.certificate));
    // A lifetime shorter than the margin would have it renewed at every call.
    if (system_clock::now() >=
        renewal_time(cvm.certificate.not_before(), cvm.certificate.not_after(), options_.before)) {
      retry_at_ = now + options_.retry;
      log_(
          "the renewed certificate is due for renewal already (its lifetime is shorter than the renewal "
          "margin); renewing again in " +
          std::to_string(options_.retry.count()) + " s at the earliest");
    }
  }
  if (!published_) {
    if (auto ok = publish(cvm, ledger); !ok) {
      retry("the ledger does not hold the CVM certificate yet", ok.error());
    } else {
      published_ = true;
    }
  }
  return renewed;
}

Result<void> CertificateRenewal::publish(const CvmState& cvm, ledger::LedgerClient& ledger) {
  auto listed = ledger.cvm(cvm.id);
  if (!listed) return std::unexpected(listed.error());
  if (!*listed) return fail("loader.cvm", "the CVM is not listed on the ledger");
  auto recorded = crypto::Certificate::from_pem((*listed)->certificate);
  if (recorded && *recorded == cvm.certificate) return {};
  auto sent = ledger::submit_signed(ledger, cvm.key, "cvms.update", {{"certificate", cvm.certificate_pem}});
  if (!sent) return std::unexpected(sent.error());
  log_("the ledger lists the CVM with its certificate valid until " + expiry_text(cvm.certificate));
  return {};
}

}  // namespace ward::loader
