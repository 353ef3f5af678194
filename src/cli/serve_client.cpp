// ward serve verify and ward proxy, the client side of serving
// (docs/serving.md): check a service endpoint, down to the hardware and the
// order on the ledger, before sending it a byte; the proxy then serves it as
// plain HTTP locally, verifying every new connection after its handshake, so
// that any HTTP or OpenAI client works unchanged.
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/decimal.h"
#include "cli/cli.h"
#include "cli/evidence.h"
#include "cli/ledger_common.h"
#include "cli/serve.h"
#include "http/server.h"
#include "keys/party_key.h"
#include "ledger/server.h"
#include "serve/access.h"
#include "serve/client.h"
#include "serve/meter.h"
#include "serve/proxy.h"
#include "serve/relay.h"
#include "serve/verify.h"

namespace ward::cli {
namespace {

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

// --engine and --model, for serve verify and proxy alike.
Result<serve::EndpointPins> parse_pins(const std::string& engine, const std::vector<std::string>& models) {
  serve::EndpointPins pins;
  if (!engine.empty()) {
    std::string_view hex = engine;
    if (!hex.starts_with(kEnginePrefix))
      return fail(std::string(kUsage),
                  "--engine \"" + engine.substr(0, 80) + "\" is not sha256:<64 hex digits>");
    hex.remove_prefix(kEnginePrefix.size());
    auto digest = parse_id_arg("--engine", hex);
    if (!digest) return std::unexpected(digest.error());
    pins.engine = std::string(kEnginePrefix) + hex_encode(*digest);
  }
  for (const auto& model : models) {
    auto digest = parse_id_arg("--model", model);
    if (!digest) return std::unexpected(digest.error());
    pins.models.push_back(*digest);
  }
  return pins;
}

// The client for `url` with the options both commands share; a malformed
// URL is a usage error.
Result<std::unique_ptr<serve::VerifiedClient>> open_client(const std::string& url, const std::string& ledger,
                                                           const std::string& ca_cert_file,
                                                           const std::string& policy_file,
                                                           const std::string& engine,
                                                           const std::vector<std::string>& models) {
  if (auto endpoint = serve::parse_endpoint(url); !endpoint)
    return fail(std::string(kUsage), endpoint.error().message);
  auto pins = parse_pins(engine, models);
  if (!pins) return std::unexpected(pins.error());
  auto ca_cert = load_certificate_file(ca_cert_file);
  if (!ca_cert) return std::unexpected(ca_cert.error());
  auto policy = load_policy(policy_file, attest::Policy::strict());
  if (!policy) return std::unexpected(policy.error());
  return serve::VerifiedClient::open(url, serve::ClientOptions{*ca_cert, *policy, ledger, *pins});
}

Result<void> run_verify(const VerifyArgs& args) {
  auto client = open_client(args.url, args.ledger, args.ca_cert, args.policy, args.engine, args.models);
  if (!client) return std::unexpected(client.error());
  // The handshake only: nothing is sent before the verdict.
  auto checked = (*client)->verify_now();
  if (!checked) return std::unexpected(checked.error());
  const serve::EndpointVerification& verification = **checked;
  auto printed = args.json ? print_json(serve::endpoint_verification_json(verification))
                           : print_stdout(serve::endpoint_verification_text(verification));
  if (!printed) return printed;
  if (verification.accepted()) return {};
  const auto* failed = verification.appraisal.checks.first_failure();
  return fail("cli.rejected",
              args.url + " does not verify: " +
                  (failed ? failed->name + ": " + failed->detail : std::string("no check ran")));
}

struct SignArgs {
  std::string url;
  std::string target;
  std::string method = "GET";
  std::string data;
  std::string key;
  std::string ledger;
  std::string ca_cert;
  std::string policy;
};

// The endpoint is verified first: a signature is bound to the order and TLS
// key that verification established.
Result<void> run_sign(const SignArgs& args) {
  if (!args.target.starts_with('/')) return fail(std::string(kUsage), "the target must start with /");
  auto key = keys::PartyKey::load(args.key);
  if (!key) return std::unexpected(key.error());
  std::string body;
  if (!args.data.empty()) {
    auto read = read_file(args.data, std::size_t{1} << 20);
    if (!read) return std::unexpected(read.error());
    body.assign(as_chars(*read));
  }
  auto client = open_client(args.url, args.ledger, args.ca_cert, args.policy, {}, {});
  if (!client) return std::unexpected(client.error());
  auto checked = (*client)->verify_now();
  if (!checked) return std::unexpected(checked.error());
  if (!(*checked)->accepted() || !(*checked)->claims)
    return fail("serve.verify", args.url + ": " + serve::rejection_line(**checked));
  http::Request request;
  request.method = args.method;
  request.target = args.target;
  request.body = std::move(body);
  const serve::ServiceBinding binding{(*checked)->claims->order, (*checked)->tls_key};
  std::string out;
  for (const auto& h :
       serve::sign_request(request, binding, key->signing_key(), std::chrono::system_clock::now()))
    out += h.name + ": " + h.value + "\n";
  return print_stdout(out);
}

struct ProxyArgs {
  std::vector<std::string> to;
  std::string listen = "127.0.0.1:0";
  std::string ledger;
  std::string ca_cert;
  std::string policy;
  std::string engine;
  std::vector<std::string> models;
  std::uint64_t threads = 16;
  std::string key;
  std::string receipts;
};

Result<void> run_proxy(const ProxyArgs& args) {
  auto address = ledger::parse_listen_address(args.listen);
  if (!address) return fail(std::string(kUsage), address.error().message);
  auto stop_signals = StopSignals::block();
  if (!stop_signals) return std::unexpected(stop_signals.error());
  // Each replica verified once before the proxy listens, so that a bad
  // endpoint is a refusal at start rather than a 502 on the first request.
  std::vector<std::unique_ptr<serve::VerifiedClient>> replicas;
  std::vector<serve::EndpointVerification> verifications;
  for (const auto& to : args.to) {
    auto client = open_client(to, args.ledger, args.ca_cert, args.policy, args.engine, args.models);
    if (!client) return std::unexpected(client.error());
    auto verified = (*client)->verify_now();
    if (!verified) return fail(verified.error(), to);
    if (!(*verified)->accepted()) return fail("serve.verify", to + ": " + serve::rejection_line(**verified));
    verifications.push_back(**verified);
    replicas.push_back(std::move(*client));
  }

  serve::ProxyOptions options;
  options.threads = static_cast<std::size_t>(args.threads);
  options.receipts = args.receipts;
  options.warn = [](const std::string& message) { print_error(message); };
  if (!args.key.empty()) {
    auto loaded = keys::PartyKey::load(args.key);
    if (!loaded) return std::unexpected(loaded.error());
    options.key = loaded->signing_key();
  }
  auto proxy = serve::Proxy::create(std::move(replicas), std::move(options));
  if (!proxy) return std::unexpected(proxy.error());
  auto port = (*proxy)->bind(address->host, address->port);
  if (!port) return std::unexpected(port.error());
  std::string summary = url_of(*address, *port);
  for (std::size_t i = 0; i < args.to.size(); ++i) {
    const serve::EndpointVerification& v = verifications[i];
    summary += "\nverified " + args.to[i];
    if (v.claims) summary += ": order " + std::to_string(v.claims->order) + ", engine " + v.claims->engine;
    if (v.appraisal.simulated) summary += " (SIMULATED TEE, NOT SECURE)";
  }
  if (auto printed = print_stdout(summary + "\n"); !printed) return printed;
  auto& server = **proxy;
  return stop_signals->serve([&server] { return server.serve(); }, [&server] { server.stop(); });
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

  auto sign = std::make_shared<SignArgs>();
  CLI::App* sign_cmd = group->add_subcommand(
      "sign", "Print the Ward-* headers that sign one request to a service with your party key");
  sign_cmd->footer(
      "For clients other than `ward proxy` (curl, programs in other languages): verifies the endpoint like\n"
      "`ward serve verify`, then signs METHOD, TARGET and the body for that service's order and TLS key.\n"
      "Each signature is good once, within 60 s (the gateway refuses a replayed nonce).");
  sign_cmd->add_option("URL", sign->url, "The endpoint, https://HOST:PORT")->option_text(" ")->required();
  sign_cmd->add_option("TARGET", sign->target, "The request target, /path?query")
      ->option_text(" ")
      ->required();
  sign_cmd->add_option("--method", sign->method, "The request method (default GET)");
  sign_cmd->add_option("--data", sign->data, "The request body, from this file")->option_text("FILE");
  add_key_option(sign_cmd, sign->key);
  add_ledger_option(sign_cmd, sign->ledger);
  sign_cmd->add_option("--ca-cert", sign->ca_cert, "The certification center's certificate (PEM)")
      ->option_text("FILE")
      ->required();
  sign_cmd->add_option("--policy", sign->policy, "The attestation policy (JSON); default strict")
      ->option_text("FILE");
  sign_cmd->callback([&action, sign] { action = [sign] { return run_sign(*sign); }; });
}

void add_proxy_command(CLI::App& app, Action& action) {
  auto args = std::make_shared<ProxyArgs>();
  CLI::App* cmd =
      app.add_subcommand("proxy", "Verify a confidential service, then serve it as plain HTTP locally");
  cmd->footer(
      "Every new TLS connection to the service is verified before a byte is sent on it: the chain down to "
      "the\n"
      "hardware evidence and the policy, the order on the ledger (a started service, not canceled), the "
      "engine\n"
      "and model digests (and your pins), and the TLS key against the service's start report. A certificate\n"
      "already verified is trusted for 60 s; a changed one is verified again. Prints its URL, then serves "
      "until\n"
      "SIGINT or SIGTERM.");
  repeatable(
      cmd->add_option("--to", args->to,
                      "The service's endpoint, https://HOST:PORT (`ward orders get` shows it). Repeat it "
                      "for replicas (one service order each): requests go to them in turn, and a replica "
                      "that cannot be reached is skipped for 5 s"))
      ->required();
  cmd->add_option("--listen", args->listen,
                  "HOST:PORT to serve plain HTTP on (default 127.0.0.1:0: a free port)");
  add_ledger_option(cmd, args->ledger);
  cmd->add_option("--ca-cert", args->ca_cert, "The certification center's certificate (PEM)")->required();
  cmd->add_option("--policy", args->policy,
                  "The attestation policy (JSON, docs/attest.md); default strict: no simulation");
  cmd->add_option("--engine", args->engine, "Accept only this engine digest (sha256:...)");
  repeatable(
      cmd->add_option("--model", args->models, "Accept only a service whose inputs include this SHA-256"));
  decimal(cmd->add_option("--threads", args->threads, "Requests forwarded at once (default 16)"), 1, 1024);
  cmd->add_option("--key", args->key,
                  "Sign each request with this party key (a service for listed accounts requires it)")
      ->option_text("FILE");
  cmd->add_option(
         "--receipts", args->receipts,
         "Append each usage receipt (with --key) that names the verified key, order and account to this "
         "file; `ward services usage --verify` checks their signatures and compares them with the ledger")
      ->option_text("FILE");
  cmd->callback([args, &action] { action = [args] { return run_proxy(*args); }; });
}

}  // namespace ward::cli
