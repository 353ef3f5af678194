// ward ca init | serve | report-data | request | verify: the certification
// center, and getting and checking CVM certificates.
#include <algorithm>
#include <charconv>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "attest/evidence.h"
#include "attest/policy.h"
#include "base/time.h"
#include "ca/binding.h"
#include "ca/center.h"
#include "ca/certificate.h"
#include "ca/server.h"
#include "cli/cli.h"
#include "cli/evidence.h"
#include "cli/ledger_common.h"
#include "cli/serve.h"
#include "crypto/hash.h"
#include "keys/party_key.h"
#include "ledger/server.h"

namespace ward::cli {
namespace {

using json = nlohmann::json;
using std::chrono::system_clock;

struct InitArgs {
  std::string dir;
  bool json = false;
};

struct ServeArgs {
  std::string dir;
  std::string listen = "127.0.0.1:7460";
  std::string policy;
  std::string validity;
  std::size_t threads = 16;
  bool json = false;
};

struct ReportDataArgs {
  std::string key;
  bool json = false;
};

struct RequestArgs {
  std::string ca;
  std::string key;
  std::string evidence;
  std::string collateral;
  std::string certs;
  std::string platform;
  std::string output = "-";
  bool json = false;
};

struct VerifyArgs {
  std::string cert;
  std::string ca_cert;
  std::string policy;
  std::string at;
  bool json = false;
};



Result<void> run_init(const InitArgs& args) {
  auto center = ca::CertificationCenter::init(args.dir, system_clock::now());
  if (!center) return std::unexpected(center.error());
  const std::string cert_path = (std::filesystem::path(args.dir) / ca::kCaCertFile).string();
  const std::string fingerprint = hex_encode(crypto::sha256(center->certificate().to_der()));
  if (args.json) {
    return print_json(
        {{"certificate", cert_path}, {"subject", center->certificate().subject()}, {"sha256", fingerprint}});
  }
  return print_stdout("CA certificate: " + cert_path + "\nsubject: " + center->certificate().subject() +
                      "\nSHA-256: " + fingerprint + "\n");
}

Result<void> run_serve(const ServeArgs& args) {
  auto address = ledger::parse_listen_address(args.listen);
  if (!address) return fail(std::string(kUsage), address.error().message);
  ca::ServerOptions options{.threads = args.threads};
  if (!args.validity.empty()) {
    auto validity = parse_duration("--validity", args.validity, ca::kCaValidity);
    if (!validity) return std::unexpected(validity.error());
    options.validity = std::chrono::duration_cast<std::chrono::seconds>(*validity);
  }
  // A center issues only for evidence that meets the strict defaults unless
  // an operator's policy file says otherwise.
  auto policy = load_policy(args.policy, attest::Policy::strict());
  if (!policy) return std::unexpected(policy.error());
  auto center = ca::CertificationCenter::open(args.dir);
  if (!center) return std::unexpected(center.error());

  auto stop_signals = StopSignals::block();
  if (!stop_signals) return std::unexpected(stop_signals.error());

  ca::CaServer server(*center, *policy, options);
  auto port = server.bind(address->host, address->port);
  if (!port) return std::unexpected(port.error());
  const std::string url = url_of(*address, *port);
  auto printed = args.json
                     ? print_json({{"url", url},
                                   {"ca_sha256", hex_encode(crypto::sha256(center->certificate().to_der()))},
                                   {"allow_simulated", policy->allow_simulated}})
                     : print_stdout(url + "\n");
  if (!printed) return printed;

  return stop_signals->serve([&server] { return server.serve(); }, [&server] { server.stop(); });
}

Result<void> run_report_data(const ReportDataArgs& args) {
  auto key = keys::PartyKey::load(args.key);
  if (!key) return std::unexpected(key.error());
  const auto signing = key->signing_public_key();
  const std::string report_data = hex_encode(ca::cvm_report_data(signing, key->recipient().key()));
  if (!args.json) return print_stdout(report_data + "\n");
  return print_json({{"report_data", report_data},
                     {"signing_key", hex_encode(signing)},
                     {"age_recipient", key->recipient().to_string()},
                     {"cvm_id", hex_encode(ca::cvm_id(signing))}});
}

Result<void> run_request(const RequestArgs& args) {
  auto key = keys::PartyKey::load(args.key);
  if (!key) return std::unexpected(key.error());
  auto bundle = load_evidence({args.evidence, args.platform, args.collateral, args.certs});
  if (!bundle) return std::unexpected(bundle.error());
  auto output = Output::open(args.output, 0644);
  if (!output) return std::unexpected(output.error());
  auto cert = ca::request_certificate(args.ca, *bundle, key->signing_public_key(), key->recipient());
  if (!cert) return std::unexpected(cert.error());
  if (auto ok = write_all(output->fd(), as_bytes(cert->to_pem())); !ok) return ok;
  if (auto ok = output->commit(); !ok) return ok;
  if (!output->is_atomic_file()) return {};
  const std::string id = hex_encode(ca::cvm_id(key->signing_public_key()));
  const bool simulated = bundle->platform == attest::Platform::Sim;
  if (args.json) {
    return print_json({{"certificate", args.output},
                       {"cvm_id", id},
                       {"subject", cert->subject()},
                       {"simulated", simulated}});
  }
  return print_stdout("certificate for CVM " + id + " written to " + args.output +
                      (simulated ? " (SIMULATED evidence)\n" : "\n"));
}

json certificate_json(const crypto::Certificate& cert) {
  return {{"subject", cert.subject()},
          {"issuer", cert.issuer()},
          {"serial", cert.serial_hex()},
          {"not_before", format_rfc3339(cert.not_before())},
          {"not_after", format_rfc3339(cert.not_after())}};
}

Result<void> run_verify(const VerifyArgs& args) {
  system_clock::time_point at = system_clock::now();
  if (!args.at.empty()) {
    auto parsed = parse_rfc3339(args.at);
    if (!parsed) return fail(std::string(kUsage), "--at: " + parsed.error().message);
    at = *parsed;
  }
  auto policy = load_policy(args.policy, attest::Policy::report_only());
  if (!policy) return std::unexpected(policy.error());
  auto cert = load_certificate_file(args.cert);
  if (!cert) return std::unexpected(cert.error());
  auto ca_cert = load_certificate_file(args.ca_cert);
  if (!ca_cert) return std::unexpected(ca_cert.error());

  const ca::CvmCertificateVerification v = ca::verify_cvm_certificate(*cert, *ca_cert, *policy, at);
  const attest::CheckResult* failed = v.appraisal.checks.first_failure();
  Result<void> printed;
  if (args.json) {
    json out = attest::appraisal_to_json(v.appraisal);
    out["certificate"] = certificate_json(*cert);
    out["cvm_id"] = v.cvm ? json(v.cvm->id_hex()) : json(nullptr);
    out["age_recipient"] = v.cvm ? json(v.cvm->recipient.to_string()) : json(nullptr);
    out["signing_key"] = v.cvm ? json(hex_encode(v.cvm->signing_key)) : json(nullptr);
    printed = print_json(out);
  } else {
    const json c = certificate_json(*cert);
    std::string text = "certificate: " + cert->subject() + ", issued by " + cert->issuer() + ", valid " +
                       c["not_before"].get<std::string>() + " .. " + c["not_after"].get<std::string>() + "\n";
    if (v.cvm) {
      text += "cvm id: " + v.cvm->id_hex() + "\nsigning key: " + hex_encode(v.cvm->signing_key) +
              "\nage recipient: " + v.cvm->recipient.to_string() + "\n";
      text += attest::appraisal_to_text(v.appraisal);
    } else {
      // The evidence was never reached: no platform facts to show.
      for (const auto& r : v.appraisal.checks.results())
        text += std::string(r.ok ? "  ok    " : "  FAIL  ") + r.name +
                (r.detail.empty() ? "" : ": " + r.detail) + "\n";
      text += "verdict: reject (" + (failed ? failed->name : std::string("no checks")) + ")\n";
    }
    printed = print_stdout(text);
  }
  if (!printed) return printed;
  if (v.accepted()) return {};
  return fail("ca.verify", args.cert + " is rejected: " +
                               (failed ? failed->name + ": " + failed->detail : "no checks ran"));
}

}  // namespace

void add_ca_commands(CLI::App& app, Action& action) {
  CLI::App* group = app.add_subcommand("ca", "Run a certification center; get and check CVM certificates");
  group->require_subcommand(1);
  group->footer("Run 'ward ca COMMAND --help' for a command's options.");

  auto init = std::make_shared<InitArgs>();
  CLI::App* init_cmd =
      group->add_subcommand("init", "Create a certification center (CA key and certificate)");
  init_cmd->footer(
      "Writes DIR/ca.key (mode 0600, the P-384 CA key) and DIR/ca.pem (its self-signed certificate,\n"
      "'Ward certification center', valid 10 years). Refuses to overwrite either.");
  init_cmd->add_option("--dir", init->dir, "The directory to create them in")->option_text("DIR")->required();
  add_json_flag(init_cmd, init->json);
  init_cmd->callback([&action, init] { action = [init] { return run_init(*init); }; });

  auto serve = std::make_shared<ServeArgs>();
  CLI::App* serve_cmd = group->add_subcommand("serve", "Issue CVM certificates over HTTP");
  serve_cmd->footer(
      "Prints the URL it listens on (port 0 picks a free port), then serves POST /v1/certificates and\n"
      "GET /v1/ca (docs/ca.md) until SIGINT or SIGTERM. Without --policy the strict defaults apply:\n"
      "UpToDate TCB only, collateral required, no debug, no simulated TEE.");
  serve_cmd->add_option("--dir", serve->dir, "The directory 'ward ca init' created")
      ->option_text("DIR")
      ->required();
  serve_cmd
      ->add_option("--listen", serve->listen,
                   "Address to listen on (default 127.0.0.1:7460; port 0: any free port)")
      ->option_text("HOST:PORT");
  serve_cmd->add_option("--policy", serve->policy, "Appraisal policy (JSON, docs/attest.md)")
      ->option_text("FILE");
  serve_cmd->add_option("--validity", serve->validity, "Certificate lifetime (default 24h)")
      ->option_text("DURATION");
  decimal(serve_cmd->add_option("--threads", serve->threads,
                                "Requests handled at once (default 16; slow and idle connections hold none)"),
          2, 1024)
      ->option_text("N");
  add_json_flag(serve_cmd, serve->json);
  serve_cmd->callback([&action, serve] { action = [serve] { return run_serve(*serve); }; });

  auto report_data = std::make_shared<ReportDataArgs>();
  CLI::App* report_data_cmd =
      group->add_subcommand("report-data", "Print the report data that binds a CVM's keys into its evidence");
  report_data_cmd->footer(
      "Prints SHA-512(\"ward/cvm/v1\" || 0x00 || Ed25519 key || X25519 key) in hex: the 64 bytes the\n"
      "CVM's hardware evidence must carry for 'ward ca request' to succeed.");
  report_data_cmd->add_option("--key", report_data->key, "The CVM's party key file")
      ->option_text("FILE")
      ->required();
  add_json_flag(report_data_cmd, report_data->json);
  report_data_cmd->callback(
      [&action, report_data] { action = [report_data] { return run_report_data(*report_data); }; });

  auto request = std::make_shared<RequestArgs>();
  CLI::App* request_cmd =
      group->add_subcommand("request", "Ask a certification center for a CVM certificate");
  request_cmd->footer(
      "Sends the evidence and the key's public keys to the center and writes the certificate it\n"
      "returns, after checking it certifies these keys and carries this evidence. --evidence is a\n"
      "ward/evidence/v1 bundle, or native evidence as bytes or hex (platform detected unless --platform).");
  request_cmd->add_option("--ca", request->ca, "The center's URL")
      ->option_text("http://HOST:PORT")
      ->required();
  request_cmd->add_option("--key", request->key, "The CVM's party key file")->option_text("FILE")->required();
  request_cmd->add_option("--evidence", request->evidence, "The evidence (native bytes, their hex, or a bundle)")
      ->option_text("FILE")
      ->required();
  request_cmd->add_option("--collateral", request->collateral, "DCAP collateral (dcap-qvl JSON)")
      ->option_text("FILE");
  request_cmd
      ->add_option("--certs", request->certs, "Certificates for the evidence (PEM, or one DER): VCEK chain, GPU chain")
      ->option_text("FILE");
  request_cmd->add_option("--platform", request->platform, "tdx, sgx, snp, nvgpu or sim")->option_text("P");
  request_cmd
      ->add_option("-o,--output", request->output, "Where to write the certificate (PEM; default stdout)")
      ->option_text("FILE");
  add_json_flag(request_cmd, request->json);
  request_cmd->callback([&action, request] { action = [request] { return run_request(*request); }; });

  auto verify = std::make_shared<VerifyArgs>();
  CLI::App* verify_cmd = group->add_subcommand("verify", "Verify a CVM certificate down to the hardware");
  verify_cmd->footer(
      "Checks the certificate against the CA certificate, then verifies the evidence it carries\n"
      "against the policy (default: any TCB status but Revoked, no debug, no simulated TEE), then\n"
      "that the evidence binds the certified keys. Prints each check; exits 0 to accept, 1 to reject.");
  verify_cmd->add_option("certificate", verify->cert, "The CVM certificate (PEM)")
      ->option_text("CERT.pem")
      ->required();
  verify_cmd->add_option("--ca-cert", verify->ca_cert, "The CA certificate (PEM)")
      ->option_text("FILE")
      ->required();
  verify_cmd->add_option("--policy", verify->policy, "Appraisal policy (JSON)")->option_text("FILE");
  verify_cmd
      ->add_option("--at", verify->at,
                   "Verify as of this time (RFC 3339, e.g. 2025-07-01T00:00:00Z; default now)")
      ->option_text("TIME");
  add_json_flag(verify_cmd, verify->json);
  verify_cmd->callback([&action, verify] { action = [verify] { return run_verify(*verify); }; });
}

}  // namespace ward::cli
