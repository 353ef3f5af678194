// ward serve verify: checks a service endpoint, down to the hardware and the
// order on the ledger, before sending it a byte.
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/decimal.h"
#include "cli/cli.h"
#include "cli/evidence.h"
#include "cli/ledger_common.h"
#include "serve/tls.h"
#include "serve/verify.h"

namespace ward::cli {
namespace {

constexpr auto kConnectTimeout = std::chrono::seconds(10);
constexpr std::string_view kEnginePrefix = "sha256:";

struct VerifyArgs {
  std::string url;
  std::string ledger;
  std::string ca_cert;
  std::string policy;
  std::string engine;
  std::vector<std::string> models;
  bool json = false;
};

struct Endpoint {
  std::string host;
  int port = 0;
};

// "https://HOST:PORT", an IPv6 host in brackets, nothing after the port.
Result<Endpoint> parse_endpoint(std::string_view url) {
  const auto bad = [url](const std::string& why) {
    return fail(std::string(kUsage), "endpoint \"" + std::string(url.substr(0, 200)) + "\" " + why +
                                         " (expected https://HOST:PORT)");
  };
  constexpr std::string_view kScheme = "https://";
  if (!url.starts_with(kScheme)) return bad("is not an https URL");
  std::string_view rest = url.substr(kScheme.size());
  Endpoint out;
  std::string_view port;
  if (rest.starts_with('[')) {
    const auto close = rest.find(']');
    if (close == std::string_view::npos || rest.substr(close + 1, 1) != ":") return bad("has no port");
    out.host = std::string(rest.substr(1, close - 1));
    port = rest.substr(close + 2);
  } else {
    const auto colon = rest.rfind(':');
    if (colon == std::string_view::npos) return bad("has no port");
    out.host = std::string(rest.substr(0, colon));
    port = rest.substr(colon + 1);
  }
  // A bracketed host is an IPv6 address and may hold colons; no host has a path.
  const std::string_view not_in_host = rest.starts_with('[') ? "/[]" : "/[]:";
  if (out.host.empty() || out.host.find_first_of(not_in_host) != std::string::npos)
    return bad("has no valid host");
  auto number = parse_decimal(port, 65535);
  if (!number || *number < 1) return bad("has no valid port");
  out.port = static_cast<int>(*number);
  return out;
}

Result<serve::EndpointPins> parse_pins(const VerifyArgs& args) {
  serve::EndpointPins pins;
  if (!args.engine.empty()) {
    std::string_view hex = args.engine;
    if (!hex.starts_with(kEnginePrefix))
      return fail(std::string(kUsage),
                  "--engine \"" + args.engine.substr(0, 80) + "\" is not sha256:<64 hex digits>");
    hex.remove_prefix(kEnginePrefix.size());
    auto digest = parse_id_arg("--engine", hex);
    if (!digest) return std::unexpected(digest.error());
    pins.engine = std::string(kEnginePrefix) + hex_encode(*digest);
  }
  for (const auto& model : args.models) {
    auto digest = parse_id_arg("--model", model);
    if (!digest) return std::unexpected(digest.error());
    pins.models.push_back(*digest);
  }
  return pins;
}

Result<void> run_verify(const VerifyArgs& args) {
  auto endpoint = parse_endpoint(args.url);
  if (!endpoint) return std::unexpected(endpoint.error());
  auto pins = parse_pins(args);
  if (!pins) return std::unexpected(pins.error());
  auto ca_cert = load_certificate_file(args.ca_cert);
  if (!ca_cert) return std::unexpected(ca_cert.error());
  auto policy = load_policy(args.policy, attest::Policy::strict());
  if (!policy) return std::unexpected(policy.error());
  auto client = ledger::open_client(args.ledger);
  if (!client) return std::unexpected(client.error());
  // The handshake only: nothing is sent before the verdict.
  auto stream = serve::TlsStream::connect(endpoint->host, endpoint->port, kConnectTimeout);
  if (!stream) return std::unexpected(stream.error());
  const auto chain = (*stream)->peer_chain();
  const auto verification =
      serve::verify_endpoint(chain, *ca_cert, *policy, **client, *pins, std::chrono::system_clock::now());
  auto printed = args.json ? print_json(serve::endpoint_verification_json(verification))
                           : print_stdout(serve::endpoint_verification_text(verification));
  if (!printed) return printed;
  if (verification.accepted()) return {};
  const auto* failed = verification.appraisal.checks.first_failure();
  return fail("cli.rejected",
              args.url + " does not verify: " +
                  (failed ? failed->name + ": " + failed->detail : std::string("no check ran")));
}

}  // namespace

void add_serve_commands(CLI::App& app, Action& action) {
  CLI::App* group = app.add_subcommand("serve", "Check confidential services before using them");
  group->require_subcommand(1);
  auto verify = std::make_shared<VerifyArgs>();
  CLI::App* verify_cmd = group->add_subcommand(
      "verify", "Verify a service endpoint before sending it a byte, printing each check");
  verify_cmd->footer(
      "Checks: the TLS chain (a service certificate issued by the CVM certificate's key); the CVM\n"
      "certificate under the trusted certification center; its hardware evidence to the vendor root (or\n"
      "the simulated root, when the policy allows) and the policy's measurements; the key binding; the\n"
      "order on the ledger, active on this CVM; the engine and input digests and your pins; and that the\n"
      "TLS key is the one in the service's start report. Exit 0 verified, 1 rejected.");
  verify_cmd->add_option("URL", verify->url, "The endpoint, https://HOST:PORT")->option_text(" ")->required();
  add_ledger_option(verify_cmd, verify->ledger);
  verify_cmd->add_option("--ca-cert", verify->ca_cert, "The certification center's certificate (PEM)")
      ->option_text("FILE")
      ->required();
  verify_cmd
      ->add_option("--policy", verify->policy,
                   "The attestation policy (JSON, docs/attest.md); default strict: no simulation")
      ->option_text("FILE");
  verify_cmd->add_option("--engine", verify->engine, "Require this engine")->option_text("sha256:HEX");
  repeatable(
      verify_cmd->add_option("--model", verify->models,
                             "Require this input (plaintext SHA-256) among the service's. Can be repeated"))
      ->option_text("SHA256HEX");
  add_json_flag(verify_cmd, verify->json);
  verify_cmd->callback([&action, verify] { action = [verify] { return run_verify(*verify); }; });
}

}  // namespace ward::cli
