// ward attest verify | quote: hardware evidence, verified offline against a
// policy, and evidence made by the simulated TEE or the Linux configfs-tsm.
#include <chrono>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "attest/dcap/pck.h"
#include "attest/dcap/quote.h"
#include "attest/evidence.h"
#include "attest/fetch.h"
#include "attest/policy.h"
#include "attest/sim.h"
#include "attest/snp.h"
#include "attest/tsm.h"
#include "attest/dcap/collateral.h"
#include "base/file.h"
#include "base/time.h"
#include "cli/cli.h"
#include "cli/evidence.h"

namespace ward::cli {
namespace {


struct VerifyArgs {
  std::string evidence;
  std::string platform = "auto";
  std::string collateral;
  std::string certs;
  std::string policy;
  std::string at;
  bool json = false;
  bool online = false;
  std::string pcs_url;
  std::string kds_url;
  std::string cache_dir;
};

struct QuoteArgs {
  std::string platform;
  std::string report_data;
  std::string output;
  std::string collateral_output;
  std::string measure;
  std::string tsm_root = attest::kDefaultTsmRoot;
  std::optional<unsigned> privlevel;
};

// --online: what the evidence needs and the user did not supply, from Intel
// PCS (or a PCCS) and AMD KDS, through the on-disk cache. Nothing else in
// `ward attest verify` touches the network.
Result<void> fetch_missing(attest::EvidenceBundle& b, const VerifyArgs& args) {
  attest::FetchOptions options;
  if (!args.pcs_url.empty()) {
    options.pcs_url = args.pcs_url;
    options.root_ca_crl_url = args.pcs_url + "/sgx/certification/v4/rootcacrl";
  }
  if (!args.kds_url.empty()) options.kds_url = args.kds_url;
  if (!args.cache_dir.empty()) options.cache_dir = args.cache_dir;
  if (b.platform == attest::Platform::Snp) {
    if (!b.certs.empty()) return {};
    auto report = attest::snp::parse_report(b.evidence);
    if (!report) return std::unexpected(report.error());
    if (report->signing_key() != 0) {  // SIGNING_KEY: 0 VCEK, 1 VLEK
      return fail(std::string(kUsage), "this SEV-SNP report is not signed by a VCEK (AMD KDS serves VLEKs only to "
                                       "cloud providers); give --certs");
    }
    std::optional<attest::snp::Product> product;
    if (report->cpuid) product = attest::snp::product_from_cpuid(report->cpuid->family, report->cpuid->model);
    if (!product) {
      return fail("attest.fetch", "this SEV-SNP report does not name its processor (version 2); give --certs");
    }
    auto certs = attest::fetch_vcek(options, attest::snp::product_name(*product), report->chip_id,
                                    attest::snp::decode_tcb(report->reported_tcb, *product));
    if (!certs) return std::unexpected(certs.error());
    b.certs = std::move(*certs);
    return {};
  }
  if (b.platform == attest::Platform::NvGpu || b.collateral) return {};
  auto quote = attest::dcap::parse_quote(b.evidence);
  if (!quote) return std::unexpected(quote.error());
  auto chain = crypto::parse_pem_chain(quote->certification.pck_chain_pem);
  if (!chain) return fail(chain.error(), "the quote's PCK chain");
  auto pck = attest::dcap::parse_pck_extensions(chain->front());
  if (!pck) return std::unexpected(pck.error());
  if (b.platform == attest::Platform::Sim || pck->fmspc == attest::sim::kFmspc) {
    return fail(std::string(kUsage), "a simulated quote's collateral comes with it (ward attest quote writes "
                                     "FILE.collateral.json); give --collateral");
  }
  const auto ca = chain->front().issuer().find("Processor") != std::string::npos ? attest::PckCa::Processor
                                                                                   : attest::PckCa::Platform;
  auto collateral = attest::fetch_dcap_collateral(
      options, quote->is_tdx() ? attest::Platform::Tdx : attest::Platform::Sgx, hex_encode(pck->fmspc), ca);
  if (!collateral) return std::unexpected(collateral.error());
  b.collateral = attest::dcap::collateral_to_json(*collateral);
  return {};
}

Result<void> run_verify(const VerifyArgs& args) {
  auto bundle = load_evidence({args.evidence, args.platform, args.collateral, args.certs});
  if (!bundle) return std::unexpected(bundle.error());
  auto policy = load_policy(args.policy, attest::Policy::report_only());
  if (!policy) return std::unexpected(policy.error());
  if (args.online) {
    if (auto r = fetch_missing(*bundle, args); !r) return r;
  }
  auto at = std::chrono::system_clock::now();
  if (!args.at.empty()) {
    auto t = parse_rfc3339(args.at);
    if (!t) return fail(std::string(kUsage), "--at: " + t.error().message);
    at = *t;
  }
  const attest::Appraisal appraisal = attest::verify_evidence(*bundle, *policy, at);
  auto printed = args.json ? print_stdout(attest::appraisal_to_json(appraisal).dump(2) + "\n")
                           : print_stdout(attest::appraisal_to_text(appraisal));
  if (!printed) return printed;
  if (appraisal.accepted()) return {};
  const attest::CheckResult* failed = appraisal.checks.first_failure();
  return fail("attest.reject", "evidence rejected: " + (failed ? failed->name + ": " + failed->detail
                                                              : std::string("no check ran")));
}

Result<void> write_file(const std::string& path, ByteView data) {
  auto out = Output::open(path, 0644);
  if (!out) return std::unexpected(out.error());
  if (auto r = out->writer().write(data); !r) return r;
  return out->commit();
}

Result<Bytes> report_data_arg(const std::string& hex) {
  auto bytes = hex_decode(hex);
  if (!bytes || bytes->size() > 64) {
    return fail(std::string(kUsage), "--report-data must be at most 64 bytes of hex");
  }
  bytes->resize(64, 0);
  return bytes;
}

Result<void> run_quote(const QuoteArgs& args) {
  auto report_data = report_data_arg(args.report_data);
  if (!report_data) return std::unexpected(report_data.error());
  if (is_std_stream(args.output)) return fail(std::string(kUsage), "give -o FILE for the evidence");
  if (args.platform == "sim") {
    const std::string measured = args.measure.empty() ? "/proc/self/exe" : args.measure;
    auto mrtd = attest::sim::measure_file(measured);
    if (!mrtd) return fail(mrtd.error(), "measuring " + measured);
    auto evidence = attest::sim::make_quote(*report_data, *mrtd, std::chrono::system_clock::now());
    if (!evidence) return std::unexpected(evidence.error());
    const std::string collateral_path =
        args.collateral_output.empty() ? args.output + ".collateral.json" : args.collateral_output;
    if (auto r = write_file(args.output, evidence->quote); !r) return r;
    if (auto r = write_file(collateral_path, as_bytes(attest::dcap::collateral_to_json(evidence->collateral))); !r) {
      return r;
    }
    return print_stdout("SIMULATED TDX quote (NOT SECURE) written to " + args.output + ", collateral to " +
                        collateral_path + "\n");
  }
  if (args.platform == "tsm") {
    attest::TsmOptions options;
    options.root = args.tsm_root;
    options.privlevel = args.privlevel;
    auto report = attest::tsm_report(*report_data, options, attest::system_tsm_fs());
    if (!report) return std::unexpected(report.error());
    if (auto r = write_file(args.output, report->outblob); !r) return r;
    std::string note = report->provider + " evidence written to " + args.output;
    if (!report->auxblob.empty()) {
      auto certs = attest::snp::parse_cert_table(report->auxblob);
      if (!certs) return fail(certs.error(), "the SEV-SNP certificate table");
      std::string pem;
      for (const auto& c : *certs) pem += c.to_pem();
      const std::string certs_path = args.output + ".certs.pem";
      if (auto r = write_file(certs_path, as_bytes(pem)); !r) return r;
      note += ", certificates to " + certs_path;
    }
    return print_stdout(note + "\n");
  }
  return fail(std::string(kUsage), "--platform must be sim or tsm");
}

}  // namespace

void add_attest_commands(CLI::App& app, Action& action) {
  CLI::App* attest = app.add_subcommand("attest", "Verify hardware evidence (TDX, SGX, SEV-SNP, H100) or make it");
  attest->require_subcommand(1);

  auto verify_args = std::make_shared<VerifyArgs>();
  CLI::App* verify = attest->add_subcommand(
      "verify", "Verify evidence offline: signatures, vendor chains, collateral, TCB level, then the policy");
  verify->add_option("EVIDENCE", verify_args->evidence,
                     "Quote, SEV-SNP report or SPDM report (binary or hex), or a ward/evidence/v1 bundle")
      ->required();
  verify->add_option("--platform", verify_args->platform, "auto, tdx, sgx, snp, nvgpu or sim")
      ->check(CLI::IsMember({"auto", "tdx", "sgx", "snp", "nvgpu", "sim"}))
      ->default_str("auto");
  verify->add_option("--collateral", verify_args->collateral, "DCAP collateral (dcap-qvl JSON schema)");
  verify->add_option("--certs", verify_args->certs,
                     "Certificates (PEM or DER): SEV-SNP VCEK/VLEK and chain, or the GPU device chain");
  verify->add_option("--policy", verify_args->policy,
                     "Appraisal policy (JSON); without it any TCB status but Revoked and NotSupported is "
                     "reported and accepted, debug and simulation refused");
  verify->add_option("--at", verify_args->at, "Verify as of this time (RFC 3339, e.g. 2025-07-01T00:00:00Z)");
  verify->add_flag("--json", verify_args->json, "Print one JSON object");
  verify->add_flag("--online", verify_args->online,
                   "Fetch missing collateral (Intel PCS or a PCCS) or VCEK chain (AMD KDS), through a cache; "
                   "without it nothing touches the network");
  verify->add_option("--pcs-url", verify_args->pcs_url,
                     "With --online: a PCCS instead of Intel PCS (https://api.trustedservices.intel.com)");
  verify->add_option("--kds-url", verify_args->kds_url, "With --online: instead of https://kdsintf.amd.com");
  verify->add_option("--cache", verify_args->cache_dir,
                     "With --online: the collateral cache (default $XDG_CACHE_HOME/ward/collateral, else "
                     "~/.cache/ward/collateral)");
  verify->footer(
      "Exit status: 0 accepted; 1 rejected, or --online could not fetch what was missing; 2 usage error or "
      "unreadable input.");
  verify->callback([&action, verify_args] { action = [verify_args] { return run_verify(*verify_args); }; });

  auto quote_args = std::make_shared<QuoteArgs>();
  CLI::App* quote = attest->add_subcommand("quote", "Make evidence binding REPORT-DATA: simulated, or from this TEE");
  quote->add_option("--platform", quote_args->platform,
                    "sim (a TDX quote under Ward's NOT SECURE test root, plus its collateral) or tsm (Linux "
                    "configfs-tsm: a real TDX quote or SEV-SNP report)")
      ->required()
      ->check(CLI::IsMember({"sim", "tsm"}));
  quote->add_option("--report-data", quote_args->report_data, "Up to 64 bytes of hex, zero-padded to 64")->required();
  quote->add_option("-o,--output", quote_args->output, "Where to write the evidence")->required();
  quote->add_option("--collateral-out", quote_args->collateral_output,
                    "sim: where to write the collateral (default OUTPUT.collateral.json)");
  quote->add_option("--measure", quote_args->measure,
                    "sim: the binary whose SHA-384 becomes MRTD (default: this ward binary)");
  quote->add_option("--tsm-root", quote_args->tsm_root, "tsm: the configfs-tsm report directory")
      ->default_str(attest::kDefaultTsmRoot);
  decimal(
      quote->add_option("--privlevel", quote_args->privlevel, "tsm, SEV-SNP: the VMPL to report for (0..3)"),
      0, 3);
  quote->callback([&action, quote_args] { action = [quote_args] { return run_quote(*quote_args); }; });
}

}  // namespace ward::cli
