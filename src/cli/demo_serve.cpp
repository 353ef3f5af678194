// ward demo serve: Carol's cancer model served from a CVM of Ward's simulated
// TEE (docs/serving.md). Carol deploys it as a paid service; Alice, a
// clinic, verifies the endpoint down to the hardware and the ledger before
// sending a byte, sees a man in the middle refused, subscribes, and queries
// it through the proxy, keeping the receipts; the ledger's charges are
// checked against them, and cancelling settles everything. Everything runs
// here and stops at the end.
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/bytes.h"
#include "cli/cli.h"
#include "cli/demo_world.h"
#include "cli/services.h"
#include "crypto/ecdsa.h"
#include "crypto/x509.h"
#include "engine/image.h"
#include "files/grant.h"
#include "files/grantee.h"
#include "files/transfer.h"
#include "serve/client.h"
#include "serve/gateway.h"
#include "serve/proxy.h"
#include "serve/tls.h"

namespace ward::cli {
namespace {

namespace fs = std::filesystem;
using demo::Answer;
using demo::DemoArgs;
using demo::DemoWorld;
using demo::Running;
using demo::say;
using demo::step;
using json = nlohmann::json;
using std::chrono::system_clock;

struct DemoServeArgs {
  DemoArgs common;
  std::string model;
};

// The first `n` rows of the data set's features (30 numbers, no label).
Result<std::vector<std::string>> sample_rows(const fs::path& csv, std::size_t n) {
  std::ifstream in(csv);
  std::string line;
  std::vector<std::string> rows;
  std::getline(in, line);  // the header
  while (rows.size() < n && std::getline(in, line)) {
    std::size_t at = 0;
    for (int field = 0; field < 30 && at != std::string::npos; ++field) at = line.find(',', at + 1);
    if (at == std::string::npos)
      return fail("demo.data", csv.string() + " has a row with fewer than 31 fields");
    rows.push_back(line.substr(0, at));
  }
  if (rows.size() < n)
    return fail("demo.data", csv.string() + " has fewer than " + std::to_string(n) + " rows");
  return rows;
}

Result<void> run_demo_serve(const DemoServeArgs& args) {
  const auto started = std::chrono::steady_clock::now();
  if (::geteuid() != 0) {
    return fail(
        "demo.root",
        "ward demo serve needs root: the CVM's loader reaches the engine inside its sandbox's network "
        "namespace (run it as root, as in a CVM)");
  }
  auto world = DemoWorld::open(args.common,
                               "Ward demo serve: a model served from a CVM, verified and paid for by use "
                               "(SIMULATED TEE: no hardware protection)");
  if (!world) return std::unexpected(world.error());
  DemoWorld& w = **world;
  ledger::LedgerClient& ledger = *w.ledger;
  store::Store& store = *w.store;
  std::error_code ec;

  step(
      "1. Carol (who owns the model and deploys it) and Alice (a clinic, the client) register; a provider "
      "starts a node at 3600 an hour");
  auto carol = w.make_party("carol");
  auto alice = w.make_party("alice");
  for (const auto* p : {&carol, &alice}) {
    if (!*p) return std::unexpected(p->error());
    if (auto ok = w.fund(**p, 1000); !ok) return ok;
  }
  if (auto ok = w.start_node({"--usage-interval-ms", "500"}, 3600); !ok) return ok;
  say("carol and alice hold 1000 each; CVM " + hex_encode(w.cvm_id).substr(0, 16) + "... listed");

  step("2. Carol's model: the cancer classifier");
  const fs::path model_dir = w.dir / "data" / "model";
  const fs::path engine_dir = w.dir / "data" / "engine";
  fs::create_directories(engine_dir, ec);
  fs::copy_file(w.trainer, engine_dir / "cancer-trainer", ec);
  if (ec) return fail("demo.io", "cannot stage the trainer: " + ec.message());
  if (!args.model.empty()) {
    fs::create_directories(model_dir, ec);
    fs::copy_file(args.model, model_dir / "model.json", ec);
    if (ec) return fail("demo.io", "cannot read --model " + args.model + ": " + ec.message());
    say("the model from " + args.model);
  } else {
    auto trainer_digest = engine::pack_image(engine_dir, {{"/cancer-trainer"}, {}, {}, "/", {}},
                                             w.dir / "data" / "trainer.tar");
    if (!trainer_digest) return std::unexpected(trainer_digest.error());
    auto trained = demo::train_locally(w.dir / "data" / "trainer.tar", w.data, w.dir / "data" / "train");
    if (!trained) return std::unexpected(trained.error());
    fs::create_directories(model_dir, ec);
    fs::copy_file(*trained, model_dir / "model.json", ec);
    if (ec) return fail("demo.io", "cannot stage the model: " + ec.message());
    say("trained by Carol in the sandbox on the whole data set (`ward demo` trains it in a CVM on Alice's "
        "and "
        "Bob's halves; --model takes that model.json)");
  }

  step(
      "3. Carol packs the serving engine, encrypts engine and model, and grants both to the CVM for service "
      "orders only");
  auto engine_digest = engine::pack_image(
      engine_dir, {{"/cancer-trainer"}, {"serve"}, {}, "/", {{std::string(engine::kServePortLabel), "8080"}}},
      w.dir / "data" / "server.tar");
  if (!engine_digest) return std::unexpected(engine_digest.error());
  auto engine_res = files::upload(w.dir / "data" / "server.tar", carol->key, store, {*engine_digest});
  if (!engine_res) return std::unexpected(engine_res.error());
  auto model_res = files::upload(model_dir, carol->key, store);
  if (!model_res) return std::unexpected(model_res.error());
  auto grantee =
      files::verify_grantee(ledger, w.cvm_id, w.center->certificate(), w.policy, system_clock::now());
  if (!grantee) return std::unexpected(grantee.error());
  std::vector<std::string> grants;
  for (const auto* res : {&*engine_res, &*model_res}) {
    auto grant = files::make_grant(*res, store, carol->key, grantee->recipient, w.cvm_id, *engine_digest, {},
                                   system_clock::now() + std::chrono::hours(1),
                                   files::GrantLimits{std::nullopt, 0, true});
    if (!grant) return std::unexpected(grant.error());
    auto blob = store.put_bytes(as_bytes(files::grant_text(*grant)));
    if (!blob) return std::unexpected(blob.error());
    grants.push_back(blob->uri);
  }
  const std::string model_sha = hex_encode(model_res->resource.plaintext_sha256);
  say("engine " + engine_digest->substr(0, 19) +
      "... (cancer-trainer serve, label ward.serve.port=8080), model " + model_sha.substr(0, 16) +
      "...; grants say \"serve\": true and name no output, so the weights never leave");

  step(
      "4. Carol deploys it: a service for subscribers at 1 a request, with a deposit of 300 for the "
      "provider");
  auto created = ledger::submit_signed(
      ledger, carol->key, "orders.create",
      {{"cvm", hex_encode(w.cvm_id)},
       {"engine", *engine_digest},
       {"inputs", grants},
       {"outputs", json::array()},
       {"offers", json::array()},
       {"deposit", 300},
       {"serve", {{"access", "subscribers"}, {"price", {{"per_request", 1}, {"per_1k_tokens", 0}}}}}});
  if (!created) return std::unexpected(created.error());
  const std::uint64_t order_id = created->index;
  auto endpoint = demo::wait_for_endpoint(ledger, order_id, w.loader_log);
  if (!endpoint) return std::unexpected(endpoint.error());
  say("order " + std::to_string(order_id) + " serves at " + *endpoint +
      "; its TLS key was made in the CVM and its hash is in the start report on the ledger");

  step("5. Alice verifies the endpoint before she sends a byte (pinning the engine and the model)");
  serve::EndpointPins pins;
  pins.engine = *engine_digest;
  pins.models = {model_res->resource.plaintext_sha256};
  const serve::ClientOptions client_options{w.center->certificate(), w.policy, w.ledger_url, pins};
  auto client = demo::verify_and_show(*endpoint, client_options);
  if (!client) return std::unexpected(client.error());

  step("6. A man in the middle, a TLS relay with its own certificate, is refused before any request is sent");
  {
    const auto key = crypto::EcPrivateKey::generate(crypto::EcCurve::P256);
    const auto now = std::chrono::floor<std::chrono::seconds>(system_clock::now());
    auto cert = crypto::CertificateBuilder()
                    .subject("127.0.0.1", "Mallory")
                    .validity(now - std::chrono::minutes(5), now + std::chrono::hours(1))
                    .public_key(key.public_key())
                    .self_sign(key);
    if (!cert) return std::unexpected(cert.error());
    auto tls = serve::TlsServerContext::create(key, {*cert});
    if (!tls) return std::unexpected(tls.error());
    auto upstream = serve::parse_endpoint(*endpoint);
    if (!upstream) return std::unexpected(upstream.error());
    serve::Gateway mitm(
        *tls,
        [host = upstream->host, port = upstream->port]() -> Result<std::unique_ptr<serve::Stream>> {
          auto s = serve::TlsStream::connect(host, port, std::chrono::seconds(5));
          if (!s) return std::unexpected(s.error());
          return std::unique_ptr<serve::Stream>(std::move(*s));
        },
        {});
    auto mitm_port = mitm.start();
    if (!mitm_port) return std::unexpected(mitm_port.error());
    const std::string mitm_url = "https://127.0.0.1:" + std::to_string(*mitm_port);
    auto mitm_client = serve::VerifiedClient::open(mitm_url, client_options);
    if (!mitm_client) return std::unexpected(mitm_client.error());
    auto refused = (*mitm_client)->verify_now();
    if (!refused) return std::unexpected(refused.error());
    if ((*refused)->accepted()) return fail("demo.mitm", "the man in the middle was accepted");
    say(mitm_url + " (relaying to " + *endpoint + "): " + serve::rejection_line(**refused));
    say("nothing was sent on that connection; `ward proxy` refuses to start against it the same way");
    mitm.stop();
  }

  step("7. Alice runs the proxy (her key signs every request; receipts kept) and queries the model");
  const fs::path receipts = w.dir / "alice-receipts.jsonl";
  auto proxy = demo::open_proxy(std::move(*client), alice->key, receipts, 4);
  if (!proxy) return std::unexpected(proxy.error());
  Running proxy_running(*proxy->proxy);
  serve::Forwarder http(
      [port = proxy->port]() { return serve::connect_tcp("127.0.0.1", port, std::chrono::seconds(30)); });
  say("proxy http://127.0.0.1:" + std::to_string(proxy->port) + " (what `ward proxy --to " + *endpoint +
      " --key alice.key --receipts FILE` runs)");
  auto rows = sample_rows(w.data, 8);
  if (!rows) return std::unexpected(rows.error());
  const auto predict = [&](std::size_t i) {
    return demo::call(http, "POST", "/v1/predict", "{\"features\":[" + (*rows)[i] + "]}");
  };
  const Answer unpaid = predict(0);
  say("before subscribing: HTTP " + std::to_string(unpaid.status) + " " + demo::error_of(unpaid));
  if (unpaid.status != 402) return fail("demo.access", "an unsubscribed client was not refused");
  auto subscribed =
      ledger::submit_signed(ledger, alice->key, "services.subscribe", {{"order", order_id}, {"deposit", 5}});
  if (!subscribed) return std::unexpected(subscribed.error());
  say("Alice subscribes with a deposit of 5 (5 requests at 1 each), held in escrow");
  std::size_t answered = 0;
  for (std::size_t i = 0; i < rows->size(); ++i) {
    Answer a = predict(i);
    // The gateway sees a new subscription within its next poll of the ledger.
    for (int tries = 0; a.status == 402 && answered == 0 && tries < 40; ++tries) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      a = predict(i);
    }
    if (a.status == 200) {
      ++answered;
      auto receipt = serve::parse_receipt(a.receipt);
      say("row " + std::to_string(i + 1) + ": " + a.body +
          (receipt ? "  receipt #" + std::to_string(receipt->seq) + ": " +
                         std::to_string(receipt->usage.requests) + " requests, " +
                         std::to_string(receipt->usage.bytes) + " bytes"
                   : std::string("  (no receipt)")));
      continue;
    }
    say("row " + std::to_string(i + 1) + ": HTTP " + std::to_string(a.status) + " " + demo::error_of(a));
    if (a.status != 402) return fail("demo.query", "the service answered HTTP " + std::to_string(a.status));
    break;
  }
  if (answered != 5)
    return fail("demo.query", std::to_string(answered) + " answers, not the 5 the deposit covers");

  step("8. The ledger's charges, checked against Alice's receipts (ward services usage --verify)");
  std::optional<ledger::Subscription> charged;
  for (int i = 0; i < 100; ++i) {
    auto s = ledger.subscription(order_id, alice->key.signing_public_key());
    if (s && *s && (*s)->requests == answered) {
      charged = **s;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (!charged) return fail("demo.usage", "the CVM did not report Alice's usage within 10 s");
  auto usage = check_usage(ledger, order_id, receipts.string());
  if (!usage) return std::unexpected(usage.error());
  std::cout << usage->text;
  if (!usage->overcharged.empty())
    return fail("demo.usage", "the ledger overcharged: " + usage->overcharged.front());

  step("9. Carol stops the service; the ledger settles it");
  auto canceled = ledger::submit_signed(ledger, carol->key, "orders.cancel", {{"order", order_id}});
  if (!canceled) return std::unexpected(canceled.error());
  auto ended = demo::wait_for_order(ledger, order_id, std::chrono::seconds(60));
  if (!ended) return std::unexpected(ended.error());
  auto final_report = ledger.report(order_id);
  auto final_sub = ledger.subscription(order_id, alice->key.signing_public_key());
  if (!final_report || !*final_report || !final_sub || !*final_sub)
    return fail("demo.settle", "the ledger has no final report or subscription");
  const json report = json::parse((*final_report)->report, nullptr, false);
  say("final report: " + (report.is_object() ? report["report"].value("outcome", "?") : std::string("?")) +
      "; order " + std::string(ledger::to_string(ended->status)));
  for (const auto& p : ended->payments)
    say("  paid offer " + std::to_string(p.offer) +
        " (the provider's per hour): " + std::to_string(p.amount));
  say("  Carol got Alice's charge of " + std::to_string((*final_sub)->charged) + " and " +
      std::to_string(ended->refund) + " of her deposit back");
  say("  Alice's subscription: closed, " + std::to_string((*final_sub)->refund) + " refunded");
  auto carol_balance = demo::balance(ledger, carol->key);
  auto alice_balance = demo::balance(ledger, alice->key);
  if (carol_balance && alice_balance)
    say("  balances: carol " + std::to_string(*carol_balance) + ", alice " + std::to_string(*alice_balance));

  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started)
          .count();
  say("\ndemo finished in " + std::to_string(ms / 1000) + "." + std::to_string(ms % 1000 / 100) + " s");
  return {};
}

}  // namespace

void add_demo_serve_command(CLI::App& demo, Action& action) {
  auto args = std::make_shared<DemoServeArgs>();
  CLI::App* cmd = demo.add_subcommand(
      "serve", "Serve the cancer model from a CVM: verify, pay by use, check the charges");
  cmd->footer(
      "Carol deploys her model as a service in a CVM of Ward's simulated TEE (NOT SECURE); Alice verifies "
      "the\n"
      "endpoint down to the hardware and the ledger, sees a man in the middle refused, subscribes, queries\n"
      "through the proxy and checks the ledger's charges against her receipts. Needs root (the loader "
      "enters\n"
      "the engine's network namespace). Runs everything here and stops it.");
  cmd->add_option("--dir", args->common.dir, "Work in this new directory (default: a temporary one)");
  cmd->add_flag("--keep", args->common.keep, "Keep the directory afterwards");
  cmd->add_option("--data", args->common.data, "breast_cancer.csv (default .deps/data/breast_cancer.csv)");
  cmd->add_option("--model", args->model,
                  "Serve this model.json (from `ward demo --keep`) instead of training one");
  cmd->add_option("--trainer", args->common.trainer, "The cancer-trainer binary (default: next to ward)");
  cmd->add_option("--loader", args->common.loader, "The ward-loader binary (default: next to ward)");
  demo::add_ledger_choice(cmd, args->common.ledger);
  cmd->callback([&action, args] { action = [args] { return run_demo_serve(*args); }; });
}

}  // namespace ward::cli
