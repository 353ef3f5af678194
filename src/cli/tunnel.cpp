// ward tunnel probe: opens one tunnel of a split order to a worker's endpoint
// as a CVM whose directory the caller holds (docs/serving.md, "Split
// inference"), and says whether each end accepted the other: what an operator
// checks before ordering, and what the tests attack a worker with.
#include "serve/tunnel.h"

#include <chrono>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "ca/certificate.h"
#include "cli/cli.h"
#include "cli/evidence.h"
#include "cli/ledger_common.h"
#include "keys/party_key.h"

namespace ward::cli {
namespace {

using json = nlohmann::json;
using std::chrono::system_clock;

// How long the far end has to close a tunnel it refuses: its checks take
// milliseconds; an accepted tunnel stays open, waiting for the engine's bytes.
constexpr std::chrono::seconds kVerdictWait{2};

struct ProbeArgs {
  std::string endpoint;
  std::string cvm_dir;
  std::string ledger = kDefaultLedger;
  std::uint64_t order = 0;
  std::string engine;
  std::string ca_cert;
  std::string policy;
  std::string expect;
  bool json = false;
};

Result<void> run_probe(const ProbeArgs& args) {
  auto expect = parse_id_arg("--expect", args.expect);
  if (!expect) return std::unexpected(expect.error());
  auto where = serve::split_endpoint(args.endpoint);
  if (!where) return fail(std::string(kUsage), where.error().message);
  auto ca_cert = load_certificate_file(args.ca_cert);
  if (!ca_cert) return std::unexpected(ca_cert.error());
  auto policy = load_policy(args.policy, attest::Policy::strict());
  if (!policy) return std::unexpected(policy.error());
  const std::filesystem::path dir(args.cvm_dir);
  auto key = keys::PartyKey::load(dir / "cvm.key");
  if (!key) return std::unexpected(key.error());
  auto cvm_cert = load_certificate_file((dir / "cvm.pem").string());
  if (!cvm_cert) return std::unexpected(cvm_cert.error());

  auto ledger = ledger::open_client(args.ledger);
  if (!ledger) return std::unexpected(ledger.error());
  auto summary = (*ledger)->summary();
  if (!summary) return std::unexpected(summary.error());
  std::string engine = args.engine;
  if (engine.empty()) {
    auto order = (*ledger)->order(args.order);
    if (!order) return std::unexpected(order.error());
    if (!*order)
      return fail(std::string(kUsage),
                  "no order " + std::to_string(args.order) + " on the ledger: give --engine");
    engine = (*order)->engine;
  }
  const serve::TunnelOrder order{summary->info.id, args.order, engine};
  auto identity = serve::tunnel_identity(order, key->signing_key(), *cvm_cert, std::chrono::hours(1));
  if (!identity) return std::unexpected(identity.error());

  auto stream = serve::TlsStream::connect(where->first, where->second, kVerdictWait, &*identity);
  if (!stream)
    return fail("tunnel.refused",
                "the TLS handshake with " + args.endpoint + " failed: " + stream.error().message);
  serve::TunnelTrust trust{*ca_cert, {*policy}, order, {*expect}};
  const serve::TunnelPeer peer =
      serve::verify_tunnel_peer((*stream)->peer_chain(), trust, system_clock::now());
  // The far end closes a tunnel it refuses; one it accepted waits for bytes.
  char byte = 0;
  auto read = (*stream)->read(std::span(&byte, 1));
  const bool they_accept = !read && read.error().code == "serve.timeout";
  const std::string far =
      they_accept ? "accepted this CVM" : "refused this CVM (closed the tunnel: see its log for why)";
  if (args.json) {
    auto printed = print_json({{"endpoint", args.endpoint},
                               {"peer_accepted", peer.accepted()},
                               {"peer", peer.appraisal.checks.first_failure_text()},
                               {"accepted_by_peer", they_accept}});
    if (!printed) return printed;
  } else {
    std::string out;
    for (const auto& c : peer.appraisal.checks.results())
      out += std::string(c.ok ? "  ok    " : "  FAIL  ") + c.name +
             (c.detail.empty() ? "" : ": " + c.detail) + "\n";
    out += "the peer at " + args.endpoint + " " + far + "\n";
    if (auto printed = print_stdout(out); !printed) return printed;
  }
  if (!peer.accepted())
    return fail("tunnel.refused",
                "the peer at " + args.endpoint + ": " + peer.appraisal.checks.first_failure_text());
  if (!they_accept) return fail("tunnel.refused", "the peer at " + args.endpoint + " " + far);
  return {};
}

}  // namespace

void add_tunnel_commands(CLI::App& app, Action& action) {
  CLI::App* group = app.add_subcommand("tunnel", "Check the attested tunnels of a split order");
  group->require_subcommand(1);
  auto probe = std::make_shared<ProbeArgs>();
  CLI::App* cmd =
      group->add_subcommand("probe", "Open one tunnel to a worker as a CVM, and see who accepts whom");
  cmd->footer(
      "Issues a tunnel certificate for --order with the key of the CVM in --cvm-dir (cvm.key,\n"
      "cvm.pem), connects to ENDPOINT, verifies the peer as the CVM --expect under --ca-cert and\n"
      "--policy, and waits 2 s for the peer to close a tunnel it refuses. Exits 0 only when both ends\n"
      "accepted. docs/serving.md, \"Split inference\", explains the checks.");
  cmd->add_option("ENDPOINT", probe->endpoint, "The worker's tunnel, HOST:PORT (the ledger's serve.workers)")
      ->required();
  cmd->add_option("--cvm-dir", probe->cvm_dir, "The directory of the CVM to probe as")
      ->option_text("DIR")
      ->required();
  add_ledger_option(cmd, probe->ledger);
  decimal(cmd->add_option("--order", probe->order, "The order the tunnel is for")->required());
  cmd->add_option("--engine", probe->engine, "The engine (default: the order's)")->option_text("sha256:HEX");
  cmd->add_option("--ca-cert", probe->ca_cert, "The certification center's certificate (PEM)")->required();
  cmd->add_option("--policy", probe->policy, "The attestation policy the peer must meet (default strict)");
  cmd->add_option("--expect", probe->expect, "The CVM the peer must be (64 hex digits)")->required();
  add_json_flag(cmd, probe->json);
  cmd->callback([&action, probe] { action = [probe] { return run_probe(*probe); }; });
}

}  // namespace ward::cli
