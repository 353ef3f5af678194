// ward ledger init | deploy | serve | checkpoint | proof | verify | submit | records | anchor:
// creating, serving, checking and anchoring a ledger.
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "base/time.h"
#include "cli/cli.h"
#include "cli/ledger_common.h"
#include "cli/serve.h"
#include "keys/party_key.h"
#include "ledger/client.h"
#include "ledger/evm/anchor.h"
#include "ledger/evm/anchored.h"
#include "ledger/evm/client.h"
#include "ledger/evm/deploy.h"
#include "ledger/server.h"

namespace ward::cli {
namespace {

using json = nlohmann::json;

struct InitArgs {
  std::string db;
  bool dev = false;
  bool json = false;
};

struct DeployArgs {
  std::string evm;
  std::string key;
  bool dev = false;
  bool json = false;
};

struct ServeArgs {
  std::string db = kDefaultLedger;
  std::string listen = "127.0.0.1:7450";
  std::size_t threads = 64;
  bool json = false;
};

struct CheckpointArgs {
  std::string ledger;
  bool json = false;
};

struct ProofArgs {
  std::string ledger;
  std::optional<std::uint64_t> index;
  std::optional<std::uint64_t> size;
  std::optional<std::uint64_t> old_size;
  std::string old_checkpoint;
  std::string check;
  std::string verifier_key;
  bool json = false;
};

struct VerifyArgs {
  std::string ledger;
  std::string db;  // the older spelling of --ledger FILE
  std::string verifier_key;
  std::string anchors;  // evm+http://HOST:PORT#0xANCHOR: also check the ledger's anchors there
  bool json = false;
};

struct AnchorArgs {
  bool deploy = false;
  std::string evm;      // --deploy: the node
  std::string ledger;   // the ledger whose checkpoint is posted
  std::string anchors;  // evm+http://HOST:PORT#0xANCHOR
  std::string key;
  bool json = false;
};

struct SubmitArgs {
  std::string ledger;
  std::string input;
  bool json = false;
};

struct RecordsArgs {
  std::string ledger;
  std::uint64_t after = 0;
  std::uint64_t wait = 0;
  bool json = false;
};

// Checkpoint notes and proof files are small; anything larger is a mistake.
constexpr std::size_t kMaxProofFileSize = std::size_t{1} << 20;

Result<void> run_init(const InitArgs& args) {
  auto ledger = ledger::Ledger::init(args.db, args.dev);
  if (!ledger) return std::unexpected(ledger.error());
  const std::string id = hex_encode(ledger->info().id);
  if (args.json) {
    return print_json({{"id", id},
                       {"dev", args.dev},
                       {"origin", ledger->origin()},
                       {"verifier_key", ledger->verifier_key()}});
  }
  return print_stdout("ledger id: " + id + "\nverifier key: " + ledger->verifier_key() +
                      (args.dev ? "\ndev: yes (accounts fund mints tokens)\n" : "\n"));
}

Result<void> run_deploy(const DeployArgs& args) {
  auto key = keys::PartyKey::load(args.key);
  if (!key) return std::unexpected(key.error());
  auto deployed = ledger::evm::deploy_ledger(args.evm, *key, args.dev);
  if (!deployed) return std::unexpected(deployed.error());
  const std::string id = hex_encode(deployed->ledger_id);
  if (args.json) {
    return print_json({{"ledger", deployed->target},
                       {"contract", deployed->contract.to_checksum()},
                       {"chain_id", deployed->chain_id},
                       {"block", deployed->block},
                       {"transaction", "0x" + hex_encode(deployed->transaction)},
                       {"gas_used", deployed->gas_used},
                       {"id", id},
                       {"dev", args.dev}});
  }
  return print_stdout("ledger: " + deployed->target + "\nledger id: " + id + "\nchain id: " +
                      std::to_string(deployed->chain_id) + "\nblock: " + std::to_string(deployed->block) +
                      "\ngas used: " + std::to_string(deployed->gas_used) +
                      (args.dev ? "\ndev: yes (accounts fund mints tokens)\n" : "\n"));
}

Result<void> run_serve(const ServeArgs& args) {
  auto address = ledger::parse_listen_address(args.listen);
  if (!address) return fail(std::string(kUsage), address.error().message);
  auto stop_signals = StopSignals::block();
  if (!stop_signals) return std::unexpected(stop_signals.error());

  auto ledger = ledger::Ledger::open(args.db);
  if (!ledger) return fail(ledger.error(), "opening the ledger " + args.db);
  ledger::LedgerServer server(*ledger, ledger::ServerOptions{.threads = args.threads});
  auto port = server.bind(*address);
  if (!port) return std::unexpected(port.error());
  const std::string url = url_of(*address, *port);
  auto printed = args.json ? print_json({{"url", url},
                                         {"id", hex_encode(ledger->info().id)},
                                         {"verifier_key", ledger->verifier_key()}})
                           : print_stdout(url + "\n");
  if (!printed) return printed;

  return stop_signals->serve([&server] { return server.serve(); }, [&server] { server.stop(); });
}

Result<ledger::NoteVerifier> verifier_for(ledger::LedgerClient* client, const std::string& pinned) {
  std::string key = pinned;
  if (key.empty()) {
    auto summary = client->summary();
    if (!summary) return std::unexpected(summary.error());
    key = summary->verifier_key;
  }
  auto verifier = ledger::parse_verifier_key(key);
  if (!verifier) return fail(verifier.error(), "verifier key");
  return verifier;
}

Result<void> run_checkpoint(const CheckpointArgs& args) {
  auto client = ledger::open_client(args.ledger);
  if (!client) return std::unexpected(client.error());
  auto note = (*client)->checkpoint();
  if (!note) return std::unexpected(note.error());
  auto verifier = verifier_for(client->get(), "");
  if (!verifier) return std::unexpected(verifier.error());
  auto cp = ledger::open_checkpoint(*note, *verifier);
  if (!cp) return fail(cp.error(), "the ledger's checkpoint does not verify");
  if (!args.json) return print_stdout(*note);
  return print_json({{"checkpoint", *note},
                     {"origin", cp->origin},
                     {"size", cp->size},
                     {"root", hex_encode(cp->root)},
                     {"verifier_key", ledger::verifier_key(verifier->name, verifier->key)}});
}

Result<void> print_record_proof(const ledger::RecordProof& proof, const ledger::Checkpoint& cp,
                                const ledger::NoteVerifier& verifier, bool as_json) {
  const std::string key = ledger::verifier_key(verifier.name, verifier.key);
  if (as_json) {
    json out = to_json(proof);
    out["verified"] = true;
    out["verifier_key"] = key;
    return print_json(out);
  }
  std::string text = "record " + std::to_string(proof.record.index) + " (leaf " +
                     hex_encode(proof.record.leaf) + "):\n" + proof.record.bytes +
                     "\ninclusion proof in the tree of " + std::to_string(proof.size) + " records:\n";
  for (const auto& h : proof.inclusion) text += "  " + hex_encode(h) + "\n";
  if (proof.size != cp.size) {
    text += "consistency proof from " + std::to_string(proof.size) + " to " + std::to_string(cp.size) +
            " records:\n";
    for (const auto& h : proof.consistency) text += "  " + hex_encode(h) + "\n";
  }
  text += "checkpoint:\n" + proof.checkpoint + "verified: record " + std::to_string(proof.record.index) +
          " is in the log of " + std::to_string(cp.size) + " records signed by " + key + "\n";
  return print_stdout(text);
}

// A proof file (ward ledger proof --json, or GET /v1/records/N) checked with
// nothing but the file and the verifier key.
Result<void> run_check(const ProofArgs& args) {
  if (args.verifier_key.empty()) {
    return fail(std::string(kUsage),
                "--check needs --verifier-key: a proof is only as good as the key it is checked with");
  }
  auto verifier = ledger::parse_verifier_key(args.verifier_key);
  if (!verifier) return fail(verifier.error(), "verifier key");
  auto text = read_file(args.check, kMaxProofFileSize);
  if (!text) return std::unexpected(text.error());
  const json j = json::parse(as_chars(*text), nullptr, false);
  if (j.is_discarded()) return fail("cli.proof", args.check + " is not JSON");
  auto proof = ledger::record_proof_from_json(j);
  if (!proof) return fail(proof.error(), args.check);
  auto cp = ledger::verify_record_proof(*proof, *verifier);
  if (!cp) return fail(cp.error(), "the proof does not verify");
  return print_record_proof(*proof, *cp, *verifier, args.json);
}

Result<void> run_record_proof(const ProofArgs& args) {
  auto client = ledger::open_client(args.ledger);
  if (!client) return std::unexpected(client.error());
  auto verifier = verifier_for(client->get(), args.verifier_key);
  if (!verifier) return std::unexpected(verifier.error());
  auto proof = (*client)->record(*args.index, args.size);
  if (!proof) return std::unexpected(proof.error());
  if (!*proof)
    return fail("cli.proof", "record " + std::to_string(*args.index) + " is not in the latest checkpoint");
  auto cp = ledger::verify_record_proof(**proof, *verifier);
  if (!cp) return fail(cp.error(), "the proof does not verify");
  return print_record_proof(**proof, *cp, *verifier, args.json);
}

// Consistency of an older tree with the latest checkpoint. The old root comes
// from a checkpoint the user kept (--old-checkpoint), the one thing that makes
// the proof mean "the log only grew since I looked"; without one it is
// recomputed from the last record of the old tree and its inclusion proof.
Result<void> run_consistency(const ProofArgs& args) {
  auto client = ledger::open_client(args.ledger);
  if (!client) return std::unexpected(client.error());
  auto verifier = verifier_for(client->get(), args.verifier_key);
  if (!verifier) return std::unexpected(verifier.error());
  auto note = (*client)->checkpoint();
  if (!note) return std::unexpected(note.error());
  auto latest = ledger::open_checkpoint(*note, *verifier);
  if (!latest) return fail(latest.error(), "the latest checkpoint does not verify");

  std::uint64_t old_size = args.old_size.value_or(0);
  ledger::Hash old_root{};
  std::string root_from;
  if (!args.old_checkpoint.empty()) {
    auto text = read_file(args.old_checkpoint, kMaxProofFileSize);
    if (!text) return std::unexpected(text.error());
    auto old = ledger::open_checkpoint(as_chars(*text), *verifier);
    if (!old) return fail(old.error(), args.old_checkpoint);
    if (args.old_size && *args.old_size != old->size) {
      return fail(std::string(kUsage), "--old-size differs from the size of " + args.old_checkpoint);
    }
    old_size = old->size;
    old_root = old->root;
    root_from = "checkpoint";
  }
  if (old_size == 0)
    return fail(std::string(kUsage), "consistency with the empty log proves nothing; give --old-size M > 0");
  if (old_size > latest->size) {
    return fail("cli.proof", "the latest checkpoint has only " + std::to_string(latest->size) + " records");
  }
  if (root_from.empty()) {
    auto last = (*client)->record(old_size - 1, old_size);
    if (!last) return std::unexpected(last.error());
    if (!*last)
      return fail("cli.proof", "record " + std::to_string(old_size - 1) + " is not in the latest checkpoint");
    auto root = ledger::root_from_inclusion(old_size - 1, old_size, (*last)->record.leaf, (*last)->inclusion);
    if (!root) return std::unexpected(root.error());
    old_root = *root;
    root_from = "record " + std::to_string(old_size - 1);
  }
  std::vector<ledger::Hash> proof;
  if (old_size < latest->size) {
    auto got = (*client)->consistency_proof(old_size, latest->size);
    if (!got) return std::unexpected(got.error());
    proof = std::move(*got);
  }
  if (auto ok = ledger::verify_consistency(old_size, latest->size, old_root, latest->root, proof); !ok) {
    return fail(ok.error(), "the consistency proof does not verify");
  }
  if (args.json) {
    return print_json({{"old_size", old_size},
                       {"old_root", hex_encode(old_root)},
                       {"old_root_from", root_from},
                       {"new_size", latest->size},
                       {"proof", ledger::hashes_json(proof)},
                       {"checkpoint", *note},
                       {"verified", true}});
  }
  std::string text = "consistency proof from " + std::to_string(old_size) + " to " +
                     std::to_string(latest->size) + " records (old root " + hex_encode(old_root) + ", from " +
                     root_from + "):\n";
  for (const auto& h : proof) text += "  " + hex_encode(h) + "\n";
  text += "checkpoint:\n" + *note + "verified: the log of " + std::to_string(latest->size) +
          " records extends the log of " + std::to_string(old_size) + "\n";
  return print_stdout(text);
}

Result<void> run_proof(const ProofArgs& args) {
  const int modes = (args.index ? 1 : 0) + (args.old_size || !args.old_checkpoint.empty() ? 1 : 0) +
                    (args.check.empty() ? 0 : 1);
  if (modes != 1) {
    return fail(std::string(kUsage),
                "give one of --index N, --old-size M (or --old-checkpoint FILE), --check FILE");
  }
  if (args.size && !args.index) return fail(std::string(kUsage), "--size goes with --index");
  if (!args.check.empty()) return run_check(args);
  if (args.index) return run_record_proof(args);
  return run_consistency(args);
}

// A ledger file, checked whole.
Result<ledger::VerifyReport> verify_file(const std::string& path, const std::string& pinned_key) {
  auto ledger = ledger::Ledger::open(path);
  if (!ledger) return fail(ledger.error(), "opening the ledger " + path);
  if (!pinned_key.empty()) {
    auto pinned = ledger::parse_verifier_key(pinned_key);
    if (!pinned) return fail(pinned.error(), "verifier key");
    if (ledger::verifier_key(pinned->name, pinned->key) != ledger->verifier_key()) {
      return fail("ledger.verify", "the ledger " + path + " is signed by " + ledger->verifier_key() +
                                       ", not by the key given");
    }
  }
  return ledger->verify();
}

// A `ward ledger serve`, through its API: its records and latest checkpoint.
Result<ledger::VerifyReport> verify_server(const std::string& url, const std::string& pinned_key) {
  auto client = ledger::open_client(url);
  if (!client) return std::unexpected(client.error());
  auto verifier = verifier_for(client->get(), pinned_key);
  if (!verifier) return std::unexpected(verifier.error());
  return ledger::verify_through_api(**client, *verifier);
}

// The anchors of a ledger whose log verified, each checked against its
// latest checkpoint (ledger/evm/anchored.h).
Result<std::vector<ledger::evm::Anchor>> verify_anchors(const std::string& target,
                                                        const std::string& pinned_key,
                                                        const std::string& anchors_target) {
  auto client = ledger::open_client(target);
  if (!client) return std::unexpected(client.error());
  auto verifier = verifier_for(client->get(), pinned_key);
  if (!verifier) return std::unexpected(verifier.error());
  auto note = (*client)->checkpoint();
  if (!note) return std::unexpected(note.error());
  auto latest = ledger::open_checkpoint(*note, *verifier);
  if (!latest) return fail(latest.error(), "the latest checkpoint does not verify");
  return ledger::evm::verify_anchors(**client, *verifier, *latest, anchors_target);
}

Result<void> run_verify(const VerifyArgs& args) {
  const std::string target = args.db.empty() ? args.ledger : args.db;
  const bool whole = target.find("://") == std::string::npos;
  auto report = whole ? verify_file(target, args.verifier_key) : verify_server(target, args.verifier_key);
  if (!report) return std::unexpected(report.error());
  std::vector<ledger::evm::Anchor> anchors;
  if (report->ok && !args.anchors.empty()) {
    auto checked = verify_anchors(target, args.verifier_key, args.anchors);
    if (!checked) return std::unexpected(checked.error());
    anchors = std::move(*checked);
  }
  if (args.json) {
    json out = to_json(*report);
    if (!args.anchors.empty() && report->ok) {
      json list = json::array();
      for (const auto& a : anchors) {
        list.push_back({{"block", a.block},
                        {"time", a.time},
                        {"transaction", "0x" + hex_encode(a.transaction)},
                        {"size", a.size},
                        {"root", hex_encode(a.root)},
                        {"ok", true}});
      }
      out["anchors"] = list;
    }
    if (auto ok = print_json(out); !ok) return ok;
  } else {
    std::string text = "records: " + std::to_string(report->records) +
                       "\ncheckpoints: " + std::to_string(report->checkpoints) + "\n";
    if (report->ok && whole) {
      text +=
          "records parse and carry valid signatures: ok\n"
          "tree recomputed from the records matches the stored tree: ok\n"
          "every checkpoint signature verifies, each consistent with the next: ok\n"
          "state replayed from the records equals the stored state: ok\n";
    } else if (report->ok) {
      text +=
          "the latest checkpoint's signature verifies: ok\n"
          "records parse, carry valid signatures and replay: ok\n"
          "tree recomputed from the records matches the checkpoint: ok\n";
    } else {
      text += "FAILED: " + report->problem + "\n";
    }
    if (!args.anchors.empty() && report->ok) {
      text += "anchors: " + std::to_string(anchors.size()) + "\n";
      for (const auto& a : anchors) {
        text += "  size " + std::to_string(a.size) + ", block " + std::to_string(a.block) + " at " +
                unix_seconds_text(a.time) +
                ": signed by the ledger's key, root of its log at that size: ok\n";
      }
    }
    if (auto ok = print_stdout(text); !ok) return ok;
  }
  if (!report->ok) return fail("ledger.verify", "the ledger does not verify: " + report->problem);
  return {};
}

Result<void> run_anchor_deploy(const AnchorArgs& args, const keys::PartyKey& key) {
  auto deployed = ledger::evm::deploy_anchor(args.evm, key);
  if (!deployed) return std::unexpected(deployed.error());
  if (args.json) {
    return print_json({{"anchors", deployed->target},
                       {"contract", deployed->contract.to_checksum()},
                       {"chain_id", deployed->chain_id},
                       {"block", deployed->block},
                       {"transaction", "0x" + hex_encode(deployed->transaction)},
                       {"gas_used", deployed->gas_used}});
  }
  return print_stdout("anchors: " + deployed->target + "\nchain id: " + std::to_string(deployed->chain_id) +
                      "\nblock: " + std::to_string(deployed->block) +
                      "\ngas used: " + std::to_string(deployed->gas_used) + "\n");
}

// Posts the ledger's latest checkpoint, checked with its own key first (a
// note that does not open would only be an anchor every verifier rejects).
Result<void> run_anchor_post(const AnchorArgs& args, const keys::PartyKey& key) {
  auto where = ledger::evm::parse_target(args.anchors);
  if (!where) return fail(where.error(), "--anchors");
  auto client = ledger::open_client(args.ledger);
  if (!client) return std::unexpected(client.error());
  auto summary = (*client)->summary();
  if (!summary) return std::unexpected(summary.error());
  auto verifier = ledger::parse_verifier_key(summary->verifier_key);
  if (!verifier) return fail(verifier.error(), "the ledger's verifier key");
  auto note = (*client)->checkpoint();
  if (!note) return std::unexpected(note.error());
  auto cp = ledger::open_checkpoint(*note, *verifier);
  if (!cp) return fail(cp.error(), "the ledger's checkpoint does not verify");
  auto posted = ledger::evm::post_anchor(where->node_url, where->contract, key, summary->info.id, cp->size,
                                         cp->root, *note);
  if (!posted) return std::unexpected(posted.error());
  if (args.json) {
    return print_json({{"ledger_id", hex_encode(summary->info.id)},
                       {"size", cp->size},
                       {"root", hex_encode(cp->root)},
                       {"block", posted->block},
                       {"transaction", "0x" + hex_encode(posted->transaction)},
                       {"gas_used", posted->gas_used}});
  }
  return print_stdout("anchored: size " + std::to_string(cp->size) + ", root " + hex_encode(cp->root) +
                      "\ntransaction: 0x" + hex_encode(posted->transaction) +
                      "\nblock: " + std::to_string(posted->block) +
                      "\ngas used: " + std::to_string(posted->gas_used) + "\n");
}

Result<void> run_anchor(const AnchorArgs& args) {
  if (args.deploy ? (args.evm.empty() || !args.anchors.empty() || !args.ledger.empty())
                  : (!args.evm.empty() || args.anchors.empty() || args.ledger.empty())) {
    return fail(
        std::string(kUsage),
        "give --deploy --evm http://HOST:PORT, or --ledger FILE|URL --anchors evm+http://HOST:PORT#0xANCHOR");
  }
  auto key = keys::PartyKey::load(args.key);
  if (!key) return std::unexpected(key.error());
  return args.deploy ? run_anchor_deploy(args, *key) : run_anchor_post(args, *key);
}

Result<void> run_submit(const SubmitArgs& args) {
  auto input = Input::open(args.input);
  if (!input) return std::unexpected(input.error());
  // One byte past the limit, so an oversized envelope reaches the ledger and
  // is refused with its reason like any other.
  std::string envelope(ledger::kMaxEnvelopeSize + 1, '\0');
  auto n = input->reader().read(std::span(reinterpret_cast<std::uint8_t*>(envelope.data()), envelope.size()));
  if (!n) return std::unexpected(n.error());
  envelope.resize(*n);
  auto client = ledger::open_client(args.ledger);
  if (!client) return std::unexpected(client.error());
  auto receipt = submit_envelope(**client, envelope);
  if (!receipt) return std::unexpected(receipt.error());
  if (args.json) return print_json(to_json(*receipt));
  return print_stdout("accepted: record " + std::to_string(receipt->index) + "\n");
}

Result<void> run_records(const RecordsArgs& args) {
  auto client = ledger::open_client(args.ledger);
  if (!client) return std::unexpected(client.error());
  auto page = (*client)->records_after(args.after, std::chrono::seconds(args.wait));
  if (!page) return std::unexpected(page.error());
  if (args.json) return print_json(to_json(*page));
  std::string text;
  for (const auto& r : page->records) text += r.bytes + "\n";
  return print_stdout(text);
}

}  // namespace

void add_ledger_commands(CLI::App& app, Action& action) {
  CLI::App* group = app.add_subcommand("ledger", "Create, serve and check a ledger");
  group->require_subcommand(1);
  group->footer("Run 'ward ledger COMMAND --help' for a command's options.");

  auto init = std::make_shared<InitArgs>();
  CLI::App* init_cmd = group->add_subcommand("init", "Create a new ledger database");
  init_cmd->footer(
      "Creates FILE (mode 0600: it holds the checkpoint-signing key) with a fresh ledger id and key,\n"
      "and prints the id and the verifier key that checks its checkpoints. --dev enables the faucet\n"
      "('ward accounts fund'), for good: use it for tests and demos only.");
  init_cmd->add_option("--db", init->db, "The database file to create (must not exist)")
      ->option_text("FILE")
      ->required();
  init_cmd->add_flag("--dev", init->dev, "A development ledger, with the faucet");
  add_json_flag(init_cmd, init->json);
  init_cmd->callback([&action, init] { action = [init] { return run_init(*init); }; });

  auto deploy = std::make_shared<DeployArgs>();
  CLI::App* deploy_cmd = group->add_subcommand("deploy", "Deploy a new ledger contract to an EVM chain");
  deploy_cmd->footer(
      "Deploys the WardLedger contract (contracts/, compiled into ward) from the EVM address of\n"
      "--key (see 'ward keys show'; it pays the gas, about 8.0 M) and prints the --ledger value\n"
      "that reaches it: evm+URL#0xCONTRACT. --dev enables the faucet, for good. docs/evm.md.");
  deploy_cmd->add_option("--evm", deploy->evm, "The chain's JSON-RPC endpoint")
      ->option_text("http://HOST:PORT")
      ->required();
  add_key_option(deploy_cmd, deploy->key);
  deploy_cmd->add_flag("--dev", deploy->dev, "A development ledger, with the faucet");
  add_json_flag(deploy_cmd, deploy->json);
  deploy_cmd->callback([&action, deploy] { action = [deploy] { return run_deploy(*deploy); }; });

  auto serve = std::make_shared<ServeArgs>();
  CLI::App* serve_cmd = group->add_subcommand("serve", "Serve a ledger over HTTP");
  serve_cmd->footer(
      "Prints the URL it listens on (port 0 picks a free port), then serves the HTTP API of\n"
      "docs/ledger.md until SIGINT or SIGTERM. Other commands reach it with --ledger URL.");
  serve_cmd->add_option("--db", serve->db, "The ledger database file (default ./ward.db)")
      ->option_text("FILE");
  serve_cmd
      ->add_option("--listen", serve->listen,
                   "Address to listen on (default 127.0.0.1:7450; port 0: any free port)")
      ->option_text("HOST:PORT");
  decimal(serve_cmd->add_option("--threads", serve->threads,
                                "Requests handled at once (default 64; slow and idle connections hold none)"),
          2, 4096)
      ->option_text("N");
  add_json_flag(serve_cmd, serve->json);
  serve_cmd->callback([&action, serve] { action = [serve] { return run_serve(*serve); }; });

  auto checkpoint = std::make_shared<CheckpointArgs>();
  CLI::App* checkpoint_cmd = group->add_subcommand("checkpoint", "Print the latest signed checkpoint");
  checkpoint_cmd->footer(
      "Prints the C2SP signed note (checked against the ledger's verifier key first). Keep it:\n"
      "'ward ledger proof --old-checkpoint FILE' later proves the log only grew since.");
  add_ledger_option(checkpoint_cmd, checkpoint->ledger);
  add_json_flag(checkpoint_cmd, checkpoint->json);
  checkpoint_cmd->callback(
      [&action, checkpoint] { action = [checkpoint] { return run_checkpoint(*checkpoint); }; });

  auto proof = std::make_shared<ProofArgs>();
  CLI::App* proof_cmd = group->add_subcommand("proof", "Print and check an inclusion or consistency proof");
  proof_cmd->footer(
      "--index N: record N, its inclusion proof (to the latest checkpoint, or to the tree of S records\n"
      "with --size, plus a consistency proof from there) and the checkpoint, all checked here.\n"
      "--old-size M / --old-checkpoint FILE: a consistency proof from the tree of M records (or from\n"
      "a checkpoint kept earlier) to the latest checkpoint, checked here.\n"
      "--check FILE: checks a proof saved with --index --json, offline, with only --verifier-key.\n"
      "The verifier key is the ledger's own unless --verifier-key pins one (from 'ward ledger init').");
  add_ledger_option(proof_cmd, proof->ledger);
  decimal(proof_cmd->add_option("--index", proof->index, "The record to prove"))->option_text("N");
  decimal(proof_cmd->add_option("--size", proof->size, "Prove inclusion in the tree of S records"))
      ->option_text("S");
  decimal(proof_cmd->add_option("--old-size", proof->old_size,
                                "Prove the tree of M records is a prefix of the latest"))
      ->option_text("M");
  proof_cmd
      ->add_option("--old-checkpoint", proof->old_checkpoint, "Prove the log extends this saved checkpoint")
      ->option_text("FILE");
  proof_cmd->add_option("--check", proof->check, "Check a saved proof (JSON) offline")->option_text("FILE");
  proof_cmd->add_option("--verifier-key", proof->verifier_key, "Check checkpoints with this key")
      ->option_text("KEY");
  add_json_flag(proof_cmd, proof->json);
  proof_cmd->callback([&action, proof] { action = [proof] { return run_proof(*proof); }; });

  auto verify = std::make_shared<VerifyArgs>();
  CLI::App* verify_cmd = group->add_subcommand("verify", "Check a ledger from its records up");
  verify_cmd->footer(
      "A ledger file: re-checks every record's signature, recomputes the Merkle tree, checks every\n"
      "checkpoint's signature and its consistency with the next, and replays every record into a fresh\n"
      "state that must equal the stored one.\n"
      "A server (--ledger http://HOST:PORT): through its API alone, fetches the latest checkpoint and\n"
      "checks its signature, fetches every record it covers, re-checks each record's signature, replays\n"
      "them, and recomputes the tree, whose root must be the checkpoint's. The key is the server's own\n"
      "unless --verifier-key pins one (from 'ward ledger init'): pin it, or a server could sign a log\n"
      "of its own making.\n"
      "--anchors: then reads every checkpoint of this ledger anchored in that WardAnchor contract\n"
      "('ward ledger anchor'); each note must be signed by the ledger's key, carry the event's size\n"
      "and root, and that root must be the root of the ledger's log at that size.\n"
      "Prints each check; exits 1 if any fails.");
  add_ledger_option(verify_cmd, verify->ledger);
  verify_cmd->add_option("--db", verify->db, "The ledger database file (the same as --ledger FILE)")
      ->option_text("FILE")
      ->excludes(verify_cmd->get_option("--ledger"));
  verify_cmd->add_option("--verifier-key", verify->verifier_key, "Check checkpoints with this key")
      ->option_text("KEY");
  verify_cmd
      ->add_option("--anchors", verify->anchors,
                   "Also check the ledger's anchored checkpoints in this WardAnchor contract")
      ->option_text("evm+http://HOST:PORT#0xANCHOR");
  add_json_flag(verify_cmd, verify->json);
  verify_cmd->callback([&action, verify] { action = [verify] { return run_verify(*verify); }; });

  auto submit = std::make_shared<SubmitArgs>();
  CLI::App* submit_cmd = group->add_subcommand("submit", "Submit a transaction signed elsewhere");
  submit_cmd->footer(
      "Reads one envelope {\"tx\": {...}, \"sig\": \"...\"} (docs/ledger.md) from FILE or standard input,\n"
      "submits it and prints the record it became.");
  add_ledger_option(submit_cmd, submit->ledger);
  submit_cmd->add_option("FILE", submit->input, "The envelope (default: standard input)")->option_text(" ");
  add_json_flag(submit_cmd, submit->json);
  submit_cmd->callback([&action, submit] { action = [submit] { return run_submit(*submit); }; });

  auto anchor = std::make_shared<AnchorArgs>();
  CLI::App* anchor_cmd = group->add_subcommand(
      "anchor", "Post a ledger's signed checkpoint to an EVM chain, for a public timestamp");
  anchor_cmd->footer(
      "--deploy --evm URL: deploys the WardAnchor contract (contracts/, compiled into ward) and prints\n"
      "the --anchors value that reaches it: evm+URL#0xANCHOR.\n"
      "--ledger FILE|URL --anchors evm+URL#0xANCHOR: posts the ledger's latest signed checkpoint\n"
      "(checked with the ledger's key first); refused unless it is larger than the last one anchored.\n"
      "--key pays the gas from its EVM address. 'ward ledger verify --anchors' checks the anchors.\n"
      "docs/evm.md, \"Anchoring the embedded ledger\".");
  anchor_cmd->add_flag("--deploy", anchor->deploy, "Deploy a new anchor contract");
  anchor_cmd->add_option("--evm", anchor->evm, "--deploy: the chain's JSON-RPC endpoint")
      ->option_text("http://HOST:PORT");
  anchor_cmd
      ->add_option("--ledger", anchor->ledger,
                   "The ledger: a database file, or http://HOST:PORT of a 'ward ledger serve'")
      ->option_text("FILE|URL");
  anchor_cmd->add_option("--anchors", anchor->anchors, "The anchor contract")
      ->option_text("evm+http://HOST:PORT#0xANCHOR");
  add_key_option(anchor_cmd, anchor->key);
  add_json_flag(anchor_cmd, anchor->json);
  anchor_cmd->callback([&action, anchor] { action = [anchor] { return run_anchor(*anchor); }; });

  auto records = std::make_shared<RecordsArgs>();
  CLI::App* records_cmd = group->add_subcommand("records", "Print records, waiting for new ones");
  records_cmd->footer(
      "Prints up to 1000 records from index N on, one canonical JSON record per line. When there are\n"
      "none yet, waits up to --wait seconds (at most 60) for one to be committed.");
  add_ledger_option(records_cmd, records->ledger);
  decimal(records_cmd->add_option("--after", records->after, "Skip the first N records"))->option_text("N");
  decimal(records_cmd->add_option("--wait", records->wait, "Seconds to wait for a new record"), 0, 60)
      ->option_text("S");
  add_json_flag(records_cmd, records->json);
  records_cmd->callback([&action, records] { action = [records] { return run_records(*records); }; });
}

}  // namespace ward::cli
