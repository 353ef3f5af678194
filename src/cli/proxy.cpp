// ward proxy: the client side of serving (docs/serving.md). Verifies the
// endpoint before anything is sent, then serves plain HTTP on loopback and
// forwards each request over a connection whose chain was verified during
// its handshake, so that any HTTP or OpenAI client works unchanged.
#include <memory>
#include <string>
#include <vector>

#include "base/bytes.h"
#include "cli/cli.h"
#include "cli/evidence.h"
#include "cli/ledger_common.h"
#include "cli/serve.h"
#include "http/server.h"
#include "ledger/server.h"
#include "serve/client.h"
#include "serve/relay.h"

namespace ward::cli {
namespace {

struct ProxyArgs {
  std::string to;
  std::string listen = "127.0.0.1:0";
  std::string ledger;
  std::string ca_cert;
  std::string policy;
  std::string engine;
  std::vector<std::string> models;
  std::uint64_t threads = 16;
};

Result<serve::EndpointPins> pins_of(const std::string& engine, const std::vector<std::string>& models) {
  serve::EndpointPins pins;
  if (!engine.empty()) pins.engine = engine;
  for (const auto& m : models) {
    auto bytes = hex_decode(m);
    if (!bytes || bytes->size() != 32 || hex_encode(*bytes) != m) {
      return fail(std::string(kUsage), "--model must be a SHA-256 in 64 lower-case hex digits");
    }
    crypto::Sha256Digest d{};
    std::copy(bytes->begin(), bytes->end(), d.begin());
    pins.models.push_back(d);
  }
  return pins;
}

Result<void> run_proxy(const ProxyArgs& args) {
  auto address = ledger::parse_listen_address(args.listen);
  if (!address) return fail(std::string(kUsage), address.error().message);
  auto ca_cert = load_certificate_file(args.ca_cert);
  if (!ca_cert) return std::unexpected(ca_cert.error());
  auto policy = load_policy(args.policy, attest::Policy::strict());
  if (!policy) return std::unexpected(policy.error());
  auto pins = pins_of(args.engine, args.models);
  if (!pins) return std::unexpected(pins.error());

  auto stop_signals = StopSignals::block();
  if (!stop_signals) return std::unexpected(stop_signals.error());
  auto client = serve::VerifiedClient::open(args.to, serve::ClientOptions{*ca_cert, *policy, args.ledger, *pins});
  if (!client) return std::unexpected(client.error());
  // Verified once before the proxy listens, so that a bad endpoint is a
  // refusal at start rather than a 502 on the first request.
  auto verified = (*client)->verify_now();
  if (!verified) return fail(verified.error(), args.to);
  if (!(*verified)->accepted()) return fail("serve.verify", args.to + ": " + serve::rejection_line(**verified));

  serve::Forwarder forwarder((*client)->dialer());
  http::ServerOptions options;
  options.threads = static_cast<std::size_t>(args.threads);
  http::Server server([&forwarder](const http::Request& request) { return forwarder.forward(request); }, options);
  auto port = server.bind(address->host, address->port);
  if (!port) return std::unexpected(port.error());
  const auto& v = **verified;
  std::string summary = url_of(*address, *port) + "\nverified " + args.to;
  if (v.claims) summary += ": order " + std::to_string(v.claims->order) + ", engine " + v.claims->engine;
  if (v.appraisal.simulated) summary += " (SIMULATED TEE, NOT SECURE)";
  if (auto printed = print_stdout(summary + "\n"); !printed) return printed;
  return stop_signals->serve([&server] { return server.serve(); }, [&server] { server.stop(); });
}

}  // namespace

void add_proxy_command(CLI::App& app, Action& action) {
  auto args = std::make_shared<ProxyArgs>();
  CLI::App* cmd = app.add_subcommand("proxy", "Verify a confidential service, then serve it as plain HTTP locally");
  cmd->footer(
      "Every new TLS connection to the service is verified before a byte is sent on it: the chain down to the\n"
      "hardware evidence and the policy, the order on the ledger (a started service, not canceled), the engine\n"
      "and model digests (and your pins), and the TLS key against the service's start report. A certificate\n"
      "already verified is trusted for 60 s; a changed one is verified again. Prints its URL, then serves until\n"
      "SIGINT or SIGTERM.");
  cmd->add_option("--to", args->to, "The service's endpoint, https://HOST:PORT (`ward orders get` shows it)")
      ->required();
  cmd->add_option("--listen", args->listen, "HOST:PORT to serve plain HTTP on (default 127.0.0.1:0: a free port)");
  add_ledger_option(cmd, args->ledger);
  cmd->add_option("--ca-cert", args->ca_cert, "The certification center's certificate (PEM)")->required();
  cmd->add_option("--policy", args->policy,
                  "The attestation policy (JSON, docs/attest.md); default strict: no simulation");
  cmd->add_option("--engine", args->engine, "Accept only this engine digest (sha256:...)");
  repeatable(cmd->add_option("--model", args->models, "Accept only a service whose inputs include this SHA-256"));
  decimal(cmd->add_option("--threads", args->threads, "Requests forwarded at once (default 16)"), 1, 1024);
  cmd->callback([args, &action] { action = [args] { return run_proxy(*args); }; });
}

}  // namespace ward::cli
