// ward demo: the three-party confidential order of DESIGN.md on one machine.
// Alice and Bob each hold half of a medical data set, Carol a training
// engine; a CVM of Ward's simulated TEE trains on both halves, only Carol
// gets the model, and anyone can verify the report. Everything runs here: the
// embedded ledger and the certification center (served on 127.0.0.1), a node
// with one CVM (a ward-loader process), a file store. Nothing keeps running
// afterwards.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "attest/sim.h"
#include "base/file.h"
#include "ca/center.h"
#include "ca/server.h"
#include "cli/cli.h"
#include "cli/demo_world.h"
#include "cli/serve.h"
#include "engine/image.h"
#include "engine/sandbox.h"
#include "files/grant.h"
#include "files/grantee.h"
#include "files/transfer.h"
#include "ledger/client.h"
#include "ledger/server.h"
#include "loader/verify.h"
#include "node/node.h"
#include "store/store.h"

namespace ward::cli {
namespace {

using demo::DemoArgs;
using demo::DemoWorld;
using demo::Party;
using demo::run_program;
using demo::say;
using demo::step;
using demo::train_locally;
using demo::wait_for_order;

namespace fs = std::filesystem;
using json = nlohmann::json;
using std::chrono::system_clock;

struct Metrics {
  double accuracy = 0;
  double auc = 0;
};

Result<Metrics> evaluate(const fs::path& trainer, const fs::path& model, const fs::path& data) {
  auto out = run_program(
      {trainer.string(), "evaluate", "--model", model.string(), "--data", data.string(), "--json"});
  if (!out) return std::unexpected(out.error());
  try {
    const json j = json::parse(*out);
    return Metrics{j.at("accuracy").get<double>(), j.at("roc_auc").get<double>()};
  } catch (const std::exception& e) {
    return fail("demo.metrics", std::string("cannot read the trainer's evaluation: ") + e.what());
  }
}

std::string percent(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%5.1f%%", 100 * x);
  return buf;
}

std::string fixed3(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", x);
  return buf;
}

Result<void> run_demo(const DemoArgs& args) {
  const auto started = std::chrono::steady_clock::now();
  auto world = DemoWorld::open(
      args, "Ward demo: a confidential order between three parties (SIMULATED TEE: no hardware protection)");
  if (!world) return std::unexpected(world.error());
  DemoWorld& w = **world;
  const fs::path& dir = w.dir;
  auto* store = &w.store;
  auto* ledger = &w.ledger;
  const std::optional<fs::path> trainer = w.trainer;
  std::error_code ec;

  step("1. Each party makes an identity and registers it on the ledger");
  auto alice = w.make_party("alice");
  auto bob = w.make_party("bob");
  auto carol = w.make_party("carol");
  for (const auto* p : {&alice, &bob, &carol}) {
    if (!*p) return std::unexpected(p->error());
    say((*p)->name + ": " + (*p)->key.recipient().to_string());
  }
  if (auto ok = w.fund(*carol, 1000); !ok) return ok;

  step("2. A provider starts a node; its CVM gets certified and listed on the ledger");
  if (auto ok = w.start_node({}, 0); !ok) return ok;
  const ledger::CvmId cvm_id = w.cvm_id;
  const auto* center = &*w.center;
  say("CVM " + hex_encode(cvm_id) + " listed; loader measurement (MRTD) " + hex_encode(w.mrtd).substr(0, 32) +
      "...");

  step("3. Carol packs her trainer as an OCI image, encrypts and uploads it");
  const fs::path engine_dir = dir / "data" / "engine";
  fs::create_directories(engine_dir, ec);
  fs::copy_file(*trainer, engine_dir / "cancer-trainer", ec);
  if (ec) return fail("demo.io", "cannot stage the trainer: " + ec.message());
  auto engine_digest = engine::pack_image(engine_dir, {{"/cancer-trainer"}, {}, {}, "/", {}},
                                          dir / "data" / "cancer-trainer.tar");
  if (!engine_digest) return std::unexpected(engine_digest.error());
  auto engine_res = files::upload(dir / "data" / "cancer-trainer.tar", carol->key, **store, {*engine_digest});
  if (!engine_res) return std::unexpected(engine_res.error());
  say("engine digest " + *engine_digest + " (the image config digest; Carol publishes it with the source)");

  step("4. Alice and Bob encrypt and upload their halves of the data set");
  auto split =
      run_program({trainer->string(), "split", "--data", w.data.string(), "--out", (dir / "data").string()});
  if (!split) return std::unexpected(split.error());
  auto alice_res = files::upload(dir / "data" / "alice.csv", alice->key, **store);
  if (!alice_res) return std::unexpected(alice_res.error());
  auto bob_res = files::upload(dir / "data" / "bob.csv", bob->key, **store);
  if (!bob_res) return std::unexpected(bob_res.error());
  say("alice.csv: " + std::to_string(alice_res->resource.plaintext_size) + " bytes, stored as ciphertext " +
      hex_encode(alice_res->resource.ciphertext_sha256).substr(0, 16));
  say("bob.csv:   " + std::to_string(bob_res->resource.plaintext_size) + " bytes, stored as ciphertext " +
      hex_encode(bob_res->resource.ciphertext_sha256).substr(0, 16));
  say("holdout.csv (" + std::to_string(fs::file_size(dir / "data" / "holdout.csv", ec)) +
      " bytes) is kept aside to score the models");

  step("5. Each owner verifies the CVM (certificate, evidence, loader measurement) and grants it access");
  const attest::Policy& policy = w.policy;
  auto grantee = files::verify_grantee(**ledger, cvm_id, center->certificate(), policy, system_clock::now());
  if (!grantee) return std::unexpected(grantee.error());
  const age::X25519Recipient recipient = grantee->recipient;
  say("CVM verified: chain to the CA, SIMULATED TDX quote, MRTD = ward-loader, keys bound by the report "
      "data");
  const auto expires = system_clock::now() + std::chrono::hours(1);
  const std::vector<std::string> outputs = {carol->key.recipient().to_string()};
  // Alice and Bob also limit their grants to orders Carol creates.
  const files::GrantLimits by_carol{carol->key.signing_public_key(), 0};
  auto grant_of = [&](const files::SignedResource& res, const Party& owner,
                      const std::string& engine) -> Result<std::string> {
    auto grant =
        files::make_grant(res, **store, owner.key, recipient, cvm_id, engine, outputs, expires, by_carol);
    if (!grant) return std::unexpected(grant.error());
    auto blob = (*store)->put_bytes(as_bytes(files::grant_text(*grant)));
    if (!blob) return std::unexpected(blob.error());
    return blob->uri;
  };
  auto alice_grant = grant_of(*alice_res, *alice, *engine_digest);
  auto bob_grant = grant_of(*bob_res, *bob, *engine_digest);
  auto carol_grant = grant_of(*engine_res, *carol, *engine_digest);
  for (const auto* g : {&alice_grant, &bob_grant, &carol_grant}) {
    if (!*g) return std::unexpected(g->error());
  }
  say("grants: a new age header for the CVM over the same ciphertext, signed policy {resource, engine " +
      engine_digest->substr(0, 19) +
      "..., CVM, output to Carol, expiry in 1 h, orders by Carol}; the header's MAC "
      "covers the policy's digest, so the key works under no other policy");

  step("6. Carol places the order: engine + grants + output recipient + deposit");
  auto order_receipt = ledger::submit_signed(**ledger, carol->key, "orders.create",
                                             {{"cvm", hex_encode(cvm_id)},
                                              {"engine", *engine_digest},
                                              {"inputs", {*carol_grant, *alice_grant, *bob_grant}},
                                              {"outputs", outputs},
                                              {"offers", json::array()},
                                              {"deposit", 100}});
  if (!order_receipt) return std::unexpected(order_receipt.error());
  const std::uint64_t order_id = order_receipt->index;
  say("order " + std::to_string(order_id) + " placed");

  step("7-10. The CVM fetches, verifies, decrypts in its tmpfs, trains in the sandbox, encrypts, reports");
  auto order = wait_for_order(**ledger, order_id, std::chrono::seconds(120));
  if (!order) return std::unexpected(order.error());
  if (order->status != ledger::OrderStatus::Done) {
    return fail("demo.order", "order " + std::to_string(order_id) + " failed: " + order->error);
  }
  say("order " + std::to_string(order_id) + " done; the report is on the ledger");

  step("11. Carol downloads and decrypts the model; nobody else can");
  auto report = (*ledger)->report(order_id);
  if (!report || !*report) return fail("demo.report", "the ledger has no report for the order");
  auto signed_report = loader::parse_report_text((*report)->report);
  if (!signed_report) return std::unexpected(signed_report.error());
  const fs::path result = dir / "carol-result";
  if (auto ok = files::download_sealed(signed_report->report.output.uri, carol->key.identity(), result);
      !ok) {
    return std::unexpected(ok.error());
  }
  if (auto ok =
          files::download_sealed(signed_report->report.output.uri, alice->key.identity(), dir / "alice-try");
      ok) {
    return fail("demo.leak", "Alice could decrypt Carol's output");
  }
  say("Carol: " + (result / "output" / "model.json").string() + " and metrics.json; Alice's key: refused");

  // The same engine on each half alone, by its owner, for comparison.
  auto alice_model = train_locally(dir / "data" / "cancer-trainer.tar", dir / "data" / "alice.csv",
                                   dir / "data" / "alice-alone");
  if (!alice_model) return std::unexpected(alice_model.error());
  auto bob_model = train_locally(dir / "data" / "cancer-trainer.tar", dir / "data" / "bob.csv",
                                 dir / "data" / "bob-alone");
  if (!bob_model) return std::unexpected(bob_model.error());
  const fs::path holdout = dir / "data" / "holdout.csv";
  auto m_alice = evaluate(*trainer, *alice_model, holdout);
  auto m_bob = evaluate(*trainer, *bob_model, holdout);
  auto m_both = evaluate(*trainer, result / "output" / "model.json", holdout);
  for (const auto* m : {&m_alice, &m_bob, &m_both}) {
    if (!*m) return std::unexpected(m->error());
  }
  say("");
  say("  model trained on              accuracy   ROC AUC   (same held-out rows)");
  say("  Alice's half alone             " + percent(m_alice->accuracy) + "     " + fixed3(m_alice->auc));
  say("  Bob's half alone               " + percent(m_bob->accuracy) + "     " + fixed3(m_bob->auc));
  say("  both, in the CVM               " + percent(m_both->accuracy) + "     " + fixed3(m_both->auc));

  step("12. A grant for another engine is refused before anything is decrypted");
  // Carol tries to run a different engine (her trainer with other
  // arguments) on Alice's and Bob's data, which they granted for the first.
  auto other_digest = engine::pack_image(engine_dir, {{"/cancer-trainer"}, {"train"}, {}, "/", {}},
                                         dir / "data" / "other-engine.tar");
  if (!other_digest) return std::unexpected(other_digest.error());
  auto other_res = files::upload(dir / "data" / "other-engine.tar", carol->key, **store, {*other_digest});
  if (!other_res) return std::unexpected(other_res.error());
  auto other_grant = grant_of(*other_res, *carol, *other_digest);
  if (!other_grant) return std::unexpected(other_grant.error());
  auto bad_receipt = ledger::submit_signed(**ledger, carol->key, "orders.create",
                                           {{"cvm", hex_encode(cvm_id)},
                                            {"engine", *other_digest},
                                            {"inputs", {*other_grant, *alice_grant, *bob_grant}},
                                            {"outputs", outputs},
                                            {"offers", json::array()},
                                            {"deposit", 100}});
  if (!bad_receipt) return std::unexpected(bad_receipt.error());
  auto bad_order = wait_for_order(**ledger, bad_receipt->index, std::chrono::seconds(60));
  if (!bad_order) return std::unexpected(bad_order.error());
  if (bad_order->status != ledger::OrderStatus::Error) {
    return fail("demo.refusal", "the order for another engine was not refused");
  }
  say("order " + std::to_string(bad_receipt->index) + " (engine " + other_digest->substr(0, 19) +
      "...): error: " + bad_order->error);

  step("Anyone verifies order " + std::to_string(order_id) + ": ward orders verify");
  loader::VerifyOptions verify_options{
      center->certificate(), policy, {*alice_res, *bob_res, *engine_res}, std::nullopt, "", true, ""};
  auto verification = loader::verify_order(**ledger, order_id, verify_options);
  std::cout << loader::verification_text(verification);
  if (!verification.accepted()) return fail("demo.verify", "the report did not verify");

  const auto seconds =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started)
          .count();
  say("\ndemo finished in " + std::to_string(seconds / 1000) + "." + std::to_string(seconds % 1000 / 100) +
      " s");
  return {};
}

}  // namespace

void add_demo_command(CLI::App& app, Action& action) {
  auto args = std::make_shared<DemoArgs>();
  CLI::App* cmd =
      app.add_subcommand("demo", "Run the three-party confidential order end to end, on this machine");
  cmd->footer(
      "Alice and Bob each hold half of the Breast Cancer Wisconsin data set, Carol a trainer; a CVM of\n"
      "Ward's simulated TEE (NOT SECURE) trains on both halves, only Carol can read the model, and the\n"
      "integrity report verifies. Runs the ledger, the certification center and a node here; stops them.");
  cmd->add_option("--dir", args->dir, "Work in this new directory (default: a temporary one)");
  cmd->add_flag("--keep", args->keep, "Keep the directory afterwards");
  cmd->add_option("--data", args->data, "breast_cancer.csv (default .deps/data/breast_cancer.csv)");
  cmd->add_option("--trainer", args->trainer, "The cancer-trainer binary (default: next to ward)");
  cmd->add_option("--loader", args->loader, "The ward-loader binary (default: next to ward)");
  demo::add_ledger_choice(cmd, args->ledger);
  // `ward demo serve` sets its own action; the demo's runs only without it.
  cmd->callback([&action, args, cmd] {
    if (cmd->get_subcommands().empty()) action = [args] { return run_demo(*args); };
  });
  add_demo_serve_command(*cmd, action);
  add_demo_llm_command(*cmd, action);
  add_demo_swarm_command(*cmd, action);
}

}  // namespace ward::cli
