// ward orders create | list | get | cancel | wait | result | report | verify:
// confidential work placed on a CVM, and what came of it.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/file.h"
#include "ca/server.h"
#include "cli/cli.h"
#include "cli/evidence.h"
#include "cli/ledger_common.h"
#include "files/grant.h"
#include "files/resource.h"
#include "files/transfer.h"
#include "kms/broker.h"
#include "ledger/evm/bundle.h"
#include "loader/report.h"
#include "loader/verify.h"
#include "store/store.h"

namespace ward::cli {
namespace {

using json = nlohmann::json;

struct CreateArgs {
  std::string ledger;
  std::string key;
  std::string cvm;
  std::uint64_t tee_offer = 0;
  std::uint64_t cores = 0, memory_mib = 0, gpus = 0;  // needs; all 0: none
  std::string engine;
  std::vector<std::string> inputs;
  std::vector<std::string> grants;
  std::string store;
  std::vector<std::string> outputs;
  std::vector<std::uint64_t> offers;
  std::uint64_t deposit = 0;
  bool serve = false;
  std::string access;
  std::uint64_t price_per_request = 0;
  std::uint64_t price_per_1k_tokens = 0;
  bool priced = false;               // either price option was given
  std::vector<std::string> workers;  // a split service's worker CVMs
  bool json = false;
};

struct ListArgs {
  std::string ledger;
  std::string creator;
  std::string cvm;
  std::string status;
  bool json = false;
};

struct GetArgs {
  std::string ledger;
  std::uint64_t id = 0;
  bool json = false;
};

struct WaitArgs {
  std::string ledger;
  std::uint64_t id = 0;
  std::uint64_t timeout = 600;
  bool json = false;
};

struct ResultArgs {
  std::string ledger;
  std::string key;
  std::uint64_t id = 0;
  std::string output;
};

struct ReportArgs {
  std::string ledger;
  std::uint64_t id = 0;
};

struct BundleArgs {
  std::string ledger;
  std::uint64_t id = 0;
  std::string output;
};

struct VerifyArgs {
  std::string ledger;
  std::uint64_t id = 0;
  std::string bundle;
  std::vector<std::string> block_hashes;
  std::string ca;
  std::string ca_cert;
  std::string policy;
  std::vector<std::string> resources;
  std::string report;
  std::string ledger_key;
  std::string anchors;
  std::vector<std::string> kms;
  std::string kms_policy;
  bool no_output_check = false;
  bool json = false;
};

struct CancelArgs {
  std::string ledger;
  std::string key;
  std::uint64_t id = 0;
  bool json = false;
};

// The engine digest: given as such, or read from the engine's descriptor.
Result<std::string> engine_digest(const std::string& engine) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(engine, ec)) {
    auto digest = files::normalize_engine(engine);
    if (!digest)
      return fail(std::string(kUsage), "--engine is neither a descriptor file nor a digest: " + engine);
    return digest;
  }
  auto descriptor = files::load_resource(engine);
  if (!descriptor) return fail(descriptor.error(), engine);
  if (!descriptor->resource.engine) return fail("cli.engine", engine + " does not describe an engine image");
  return *descriptor->resource.engine;
}

// Checks each grant against the order about to be placed, so that a grant the
// CVM would refuse is caught here, then puts it in the store: the order
// references grants by blob URI.
Result<std::vector<std::string>> upload_grants(const CreateArgs& args, const files::OrderTerms& order) {
  std::vector<std::string> refs;
  if (args.grants.empty()) return refs;
  auto store = store::open_store(args.store);
  if (!store) return std::unexpected(store.error());
  bool has_engine = false;
  for (const auto& path : args.grants) {
    auto grant = files::load_grant(path);
    if (!grant) return std::unexpected(grant.error());
    if (args.tee_offer != 0 && !grant->policy.broker) {
      return fail("files.grant",
                  path +
                      ": grant.cvm: it is for one CVM, and an order on a tee offer runs on "
                      "whichever CVM takes it: grant to a key broker (ward files grant --broker)");
    }
    if (auto ok = files::check_grant_for_order(*grant, order, std::chrono::system_clock::now()); !ok) {
      return fail(ok.error(), path);
    }
    has_engine = has_engine || grant->descriptor.resource.engine == order.engine;
    auto blob = (*store)->put_bytes(as_bytes(files::grant_text(*grant)));
    if (!blob) return fail(blob.error(), "uploading " + path);
    refs.push_back(blob->uri);
  }
  if (!has_engine) {
    return fail("cli.engine",
                "no --grant carries the engine " + order.engine + " (grant the engine image to the CVM too)");
  }
  return refs;
}

// The orders.create "serve" object: --access public, subscribers (with its
// price), or a comma-separated list of account ids; by default only the
// creator's own account.
Result<json> serve_args(const CreateArgs& args, const keys::PartyKey& key) {
  if (args.access == "public") return json{{"access", "public"}};
  if (args.access == "subscribers") {
    return json{
        {"access", "subscribers"},
        {"price", {{"per_request", args.price_per_request}, {"per_1k_tokens", args.price_per_1k_tokens}}}};
  }
  json accounts = json::array();
  if (args.access.empty()) {
    accounts.push_back(hex_encode(key.signing_public_key()));
  } else {
    std::string_view rest = args.access;
    for (;;) {
      const auto comma = rest.find(',');
      auto id = parse_id_arg("--access", rest.substr(0, comma));
      if (!id) return std::unexpected(id.error());
      accounts.push_back(hex_encode(*id));
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
  return json{{"access", "accounts"}, {"accounts", std::move(accounts)}};
}

Result<void> check_create_usage(const CreateArgs& args) {
  if (args.serve && !args.outputs.empty()) {
    return fail(std::string(kUsage),
                "--output-to is refused with --serve: a service has no downloadable output");
  }
  if (!args.serve && args.outputs.empty()) {
    return fail(std::string(kUsage), "--output-to is required (at least one recipient), unless --serve");
  }
  if (!args.serve && !args.access.empty()) return fail(std::string(kUsage), "--access needs --serve");
  if (args.cvm.empty() == (args.tee_offer == 0))
    return fail(std::string(kUsage), "give exactly one of --cvm ID and --tee-offer ID");
  if (args.tee_offer == 0 && args.cores + args.memory_mib + args.gpus != 0)
    return fail(std::string(kUsage), "--need-cores, --need-memory-mib and --need-gpus go with --tee-offer");
  if (args.serve && args.tee_offer != 0)
    return fail(std::string(kUsage),
                "a service order names its CVM (--cvm); only batch orders go on a tee offer");
  if (args.priced && args.access != "subscribers") {
    return fail(std::string(kUsage),
                "--price-per-request and --price-per-1k-tokens need --serve --access subscribers");
  }
  if (!args.workers.empty() && (!args.serve || args.cvm.empty()))
    return fail(std::string(kUsage),
                "--worker needs --serve --cvm: a service split over CVMs, headed by --cvm");
  if (args.workers.size() > ledger::kMaxServiceWorkers) {
    return fail(std::string(kUsage),
                "at most " + std::to_string(ledger::kMaxServiceWorkers) + " --worker CVMs serve one head");
  }
  return {};
}

Result<void> run_create(const CreateArgs& args) {
  if (auto ok = check_create_usage(args); !ok) return ok;
  ledger::CvmId cvm{};
  if (!args.cvm.empty()) {
    auto id = parse_id_arg("--cvm", args.cvm);
    if (!id) return std::unexpected(id.error());
    cvm = *id;
  }
  auto engine = engine_digest(args.engine);
  if (!engine) return std::unexpected(engine.error());
  auto key = keys::PartyKey::load(args.key);
  if (!key) return std::unexpected(key.error());
  auto inputs = upload_grants(
      args, files::OrderTerms{cvm, *engine, args.outputs, key->signing_public_key(), args.serve});
  if (!inputs) return std::unexpected(inputs.error());
  inputs->insert(inputs->end(), args.inputs.begin(), args.inputs.end());
  json tx_args = {{"engine", *engine},
                  {"inputs", *inputs},
                  {"outputs", json(args.outputs)},
                  {"offers", args.offers},
                  {"deposit", args.deposit}};
  if (args.tee_offer != 0) {
    tx_args["offer"] = args.tee_offer;
    if (args.cores + args.memory_mib + args.gpus != 0)
      tx_args["needs"] = {{"cores", args.cores}, {"memory_mib", args.memory_mib}, {"gpus", args.gpus}};
  } else {
    tx_args["cvm"] = hex_encode(cvm);
  }
  if (args.serve) {
    auto serve = serve_args(args, *key);
    if (!serve) return std::unexpected(serve.error());
    tx_args["serve"] = std::move(*serve);
  }
  if (!args.workers.empty()) {
    json workers = json::array();
    for (const auto& worker : args.workers) {
      auto id = parse_id_arg("--worker", worker);
      if (!id) return std::unexpected(id.error());
      workers.push_back(hex_encode(*id));
    }
    tx_args["workers"] = std::move(workers);
  }
  auto client = ledger::open_client(args.ledger);
  if (!client) return std::unexpected(client.error());
  auto receipt = submit_transaction(**client, *key, "orders.create", std::move(tx_args));
  if (!receipt) return std::unexpected(receipt.error());
  if (args.json) {
    json out = to_json(*receipt);
    out["order"] = receipt->index;
    return print_json(out);
  }
  return print_stdout((args.serve ? "service order " : "order ") + std::to_string(receipt->index) +
                      " created\n");
}

Result<void> run_list(const ListArgs& args) {
  ledger::OrderFilter filter;
  if (!args.creator.empty()) {
    auto id = parse_id_arg("--creator", args.creator);
    if (!id) return std::unexpected(id.error());
    filter.creator = *id;
  }
  if (!args.cvm.empty()) {
    auto id = parse_id_arg("--cvm", args.cvm);
    if (!id) return std::unexpected(id.error());
    filter.cvm = *id;
  }
  if (!args.status.empty()) filter.status = ledger::parse_order_status(args.status);
  auto client = ledger::open_client(args.ledger);
  if (!client) return std::unexpected(client.error());
  auto orders = (*client)->orders(filter);
  if (!orders) return std::unexpected(orders.error());
  json list = json::array();
  for (const auto& o : *orders) list.push_back(to_json(o));
  if (args.json) return print_json({{"orders", std::move(list)}});
  std::string text;
  for (const auto& o : list) {
    text += std::to_string(o["id"].get<std::uint64_t>()) + "  " + o["status"].get<std::string>() +
            "  deposit " + std::to_string(o["deposit"].get<std::uint64_t>()) + "  cvm " +
            o["cvm"].get<std::string>().substr(0, 16) + "  engine " + o["engine"].get<std::string>() + "\n";
  }
  return print_stdout(text);
}

// serve.workers as one line: each worker CVM, with where its tunnel listens
// once it joined.
std::string workers_text(const json& workers) {
  std::string out;
  for (const auto& w : workers) {
    if (!out.empty()) out += ", ";
    out += w["cvm"].get<std::string>();
    out += w["endpoint"].is_null()
               ? " (not joined)"
               : " at " + w["endpoint"].get<std::string>() + " (joined at " + w["joined_at"].dump() + ")";
  }
  return out;
}

Result<void> run_get(const GetArgs& args) {
  auto client = ledger::open_client(args.ledger);
  if (!client) return std::unexpected(client.error());
  auto order = (*client)->order(args.id);
  if (!order) return std::unexpected(order.error());
  if (!*order) return fail("cli.not_found", "no order " + std::to_string(args.id) + " on the ledger");
  if (args.json) return print_json(to_json(**order));
  // A service's terms print as serve.FIELD lines rather than one JSON value.
  json fields = to_json(**order);
  if (const auto serve = fields.find("serve"); serve != fields.end()) {
    const json terms = std::move(*serve);
    fields.erase("serve");
    for (const auto& [key, value] : terms.items()) {
      if (key == "workers") {
        fields["serve.workers"] = workers_text(value);
      } else {
        fields["serve." + key] = value.is_null() ? json("-") : value;
      }
    }
  }
  return print_fields(fields);
}

Result<void> run_reassign(const CancelArgs& args) {
  auto key = keys::PartyKey::load(args.key);
  if (!key) return std::unexpected(key.error());
  auto client = ledger::open_client(args.ledger);
  if (!client) return std::unexpected(client.error());
  auto receipt = submit_transaction(**client, *key, "orders.reassign", {{"order", args.id}});
  if (!receipt) return std::unexpected(receipt.error());
  if (args.json) return print_json(to_json(*receipt));
  return print_stdout("order " + std::to_string(args.id) +
                      " is new again, for another CVM of its offer (record " +
                      std::to_string(receipt->index) + ")\n");
}

Result<void> run_cancel(const CancelArgs& args) {
  auto key = keys::PartyKey::load(args.key);
  if (!key) return std::unexpected(key.error());
  auto client = ledger::open_client(args.ledger);
  if (!client) return std::unexpected(client.error());
  auto receipt = submit_transaction(**client, *key, "orders.cancel", {{"order", args.id}});
  if (!receipt) return std::unexpected(receipt.error());
  if (args.json) return print_json(to_json(*receipt));
  auto order = (*client)->order(args.id);
  if (!order) return std::unexpected(order.error());
  const std::string record = " (record " + std::to_string(receipt->index) + ")\n";
  if (*order && (*order)->status == ledger::OrderStatus::Processing) {
    return print_stdout("service order " + std::to_string(args.id) +
                        " asked to stop; its CVM ends it with a final report and settles it" + record);
  }
  return print_stdout("order " + std::to_string(args.id) + " canceled, deposit refunded" + record);
}

Result<ledger::Order> find_order(ledger::LedgerClient& client, std::uint64_t id) {
  auto order = client.order(id);
  if (!order) return std::unexpected(order.error());
  if (!*order) return fail("cli.not_found", "no order " + std::to_string(id) + " on the ledger");
  return **order;
}

Result<void> run_wait(const WaitArgs& args) {
  auto client = ledger::open_client(args.ledger);
  if (!client) return std::unexpected(client.error());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(args.timeout);
  for (;;) {
    auto order = find_order(**client, args.id);
    if (!order) return std::unexpected(order.error());
    const auto status = order->status;
    if (status == ledger::OrderStatus::Done || status == ledger::OrderStatus::Error ||
        status == ledger::OrderStatus::Canceled) {
      if (args.json) {
        if (auto ok = print_json(to_json(*order)); !ok) return ok;
      } else {
        std::string line = "order " + std::to_string(args.id) + " " + std::string(ledger::to_string(status));
        if (!order->error.empty()) line += ": " + order->error;
        if (auto ok = print_stdout(line + "\n"); !ok) return ok;
      }
      if (status == ledger::OrderStatus::Done) return {};
      return fail("cli.order", "order " + std::to_string(args.id) + " ended " +
                                   std::string(ledger::to_string(status)) +
                                   (order->error.empty() ? "" : ": " + order->error));
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return fail("cli.timeout", "order " + std::to_string(args.id) + " is still " +
                                     std::string(ledger::to_string(status)) + " after " +
                                     std::to_string(args.timeout) + " s");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

Result<loader::SignedReport> ledger_report(ledger::LedgerClient& client, std::uint64_t id) {
  auto report = client.report(id);
  if (!report) return std::unexpected(report.error());
  if (!*report) return fail("cli.not_found", "order " + std::to_string(id) + " has no report (not done)");
  return loader::parse_report_text((*report)->report);
}

Result<void> run_result(const ResultArgs& args) {
  auto key = keys::PartyKey::load(args.key);
  if (!key) return std::unexpected(key.error());
  auto client = ledger::open_client(args.ledger);
  if (!client) return std::unexpected(client.error());
  auto report = ledger_report(**client, args.id);
  if (!report) return std::unexpected(report.error());
  const auto& output = report->report.output;
  if (auto ok = files::download_sealed(output.uri, key->identity(), args.output); !ok) {
    return fail(ok.error(), "order " + std::to_string(args.id) + "'s output");
  }
  return print_stdout("order " + std::to_string(args.id) + ": output decrypted into " + args.output +
                      " (output/ and engine.log)\n");
}

Result<void> run_report(const ReportArgs& args) {
  auto client = ledger::open_client(args.ledger);
  if (!client) return std::unexpected(client.error());
  auto report = ledger_report(**client, args.id);
  if (!report) return std::unexpected(report.error());
  return print_json(report->json);
}

Result<void> run_bundle(const BundleArgs& args) {
  auto client = ledger::open_client(args.ledger);
  if (!client) return std::unexpected(client.error());
  auto bundle = (*client)->report_bundle(args.id);
  if (!bundle) {
    return fail("ledger.evm", "an offline bundle is made from an EVM ledger's blocks; " + args.ledger +
                                  " proves its reports by its signed checkpoints ('ward ledger proof')");
  }
  if (!*bundle) return std::unexpected(bundle->error());
  // Checked as its reader will check it, so a bundle that is written verifies.
  auto checked = ledger::evm::check_report_bundle(**bundle);
  if (!checked) return std::unexpected(checked.error());
  auto out = Output::open(args.output, 0644);
  if (!out) return std::unexpected(out.error());
  const std::string text = (*bundle)->dump(1) + "\n";
  if (auto w = write_all(out->fd(), as_bytes(text)); !w) return w;
  if (auto c = out->commit(); !c) return c;
  const auto& at = checked->report_block();
  const std::string note = "order " + std::to_string(args.id) + ": its report is in block " +
                           std::to_string(at.number) + " " + evm::data_text(at.hash) + " of chain " +
                           std::to_string(checked->chain_id) +
                           "; a verifier pins that hash (orders verify --bundle FILE --block-hash HASH)\n";
  std::fputs(note.c_str(), stderr);
  return {};
}

Result<void> run_verify(const VerifyArgs& args) {
  auto ca_cert = trusted_ca(args.ca_cert, args.ca);
  if (!ca_cert) return std::unexpected(ca_cert.error());
  auto policy = load_policy(args.policy, attest::Policy::strict());
  if (!policy) return std::unexpected(policy.error());
  loader::VerifyOptions options{
      *ca_cert, *policy, {}, std::nullopt, args.ledger_key, !args.no_output_check, args.anchors};
  for (const auto& path : args.resources) {
    auto resource = files::load_resource(path);
    if (!resource) return fail(resource.error(), path);
    options.resources.push_back(std::move(*resource));
  }
  if (!args.kms.empty() && args.kms_policy.empty())
    return fail(std::string(kUsage), "--kms needs --kms-policy: the measurement a broker must prove");
  if (!args.kms.empty()) {
    auto kms_policy = load_policy(args.kms_policy, attest::Policy::strict());
    if (!kms_policy) return std::unexpected(kms_policy.error());
    for (const auto& url : args.kms) {
      auto statement = kms::fetch_statement(url, *ca_cert, *kms_policy);
      if (!statement) return std::unexpected(statement.error());
      auto log = kms::fetch_log(url);
      if (!log) return std::unexpected(log.error());
      auto entries = kms::verify_log(*log, statement->statement.group_key);
      if (!entries) return fail(entries.error(), "the release log of " + url);
      options.brokers.push_back({url, statement->statement.recipient, std::move(*entries)});
    }
  }
  if (!args.report.empty()) {
    auto text = read_file(args.report, loader::kMaxReportSize);
    if (!text) return std::unexpected(text.error());
    auto doc = ledger::parse_strict_json(as_chars(*text));
    if (!doc) return fail("report.parse", args.report + ": " + doc.error().message);
    options.report = std::move(*doc);
  }
  loader::OrderVerification verification;
  if (!args.bundle.empty()) {
    std::vector<evm::Hash256> pins;
    for (const auto& text : args.block_hashes) {
      auto bytes = text.starts_with("0x") ? hex_decode(std::string_view(text).substr(2))
                                          : Result<Bytes>(fail(std::string(kUsage), ""));
      if (!bytes || bytes->size() != 32)
        return fail(std::string(kUsage), "--block-hash " + text + ": not a 0x-prefixed 32-byte hash");
      pins.push_back({});
      std::copy(bytes->begin(), bytes->end(), pins.back().begin());
    }
    auto file = read_file(args.bundle, ledger::evm::kMaxBundleSize);
    if (!file) return std::unexpected(file.error());
    auto doc = ledger::parse_strict_json(as_chars(*file));
    if (!doc) return fail("ledger.bundle", args.bundle + ": not a bundle: its JSON does not parse");
    verification = loader::verify_bundle(*doc, args.id, pins, options);
  } else {
    auto client = ledger::open_client(args.ledger);
    if (!client) return std::unexpected(client.error());
    verification = loader::verify_order(**client, args.id, options);
  }
  auto printed = args.json ? print_json(loader::verification_json(verification))
                           : print_stdout(loader::verification_text(verification));
  if (!printed) return printed;
  if (verification.accepted()) return {};
  const auto* failed = verification.checks.first_failure();
  return fail("cli.rejected",
              "order " + std::to_string(args.id) + " does not verify: " +
                  (failed ? failed->name + ": " + failed->detail : std::string("no check ran")));
}

}  // namespace

void add_orders_commands(CLI::App& app, Action& action) {
  CLI::App* group = app.add_subcommand("orders", "Place orders; wait for, fetch and verify their results");
  group->require_subcommand(1);
  group->footer("Run 'ward orders COMMAND --help' for a command's options.");

  auto create = std::make_shared<CreateArgs>();
  CLI::App* create_cmd = group->add_subcommand("create", "Place an order on a CVM");
  create_cmd->footer(
      "The deposit moves from your balance into escrow; when the order ends it pays the provider and\n"
      "each --offer by its price, and the rest comes back. The order id is the index of its record.\n"
      "With --serve the order is a service: the CVM serves the engine over TLS until the order ends\n"
      "(ward orders cancel, a fatal engine error, the deposit running out), and it has no output, so\n"
      "no --output-to. A service pays its fixed offers when it first starts and its per-hour ones as\n"
      "it runs. With --access subscribers, clients subscribe ('ward services subscribe') and are\n"
      "charged for what they use at the --price-per-* prices; that revenue goes to the revenue-share\n"
      "offers (their basis points, at most 10000 in all) and the rest to you. With --worker the service\n"
      "is split: --cvm is its head, and each worker CVM serves it part of the engine (llama.cpp\n"
      "rpc-server) over an attested tunnel.");
  add_ledger_option(create_cmd, create->ledger);
  add_key_option(create_cmd, create->key);
  create_cmd->add_option("--cvm", create->cvm, "The CVM to run on (its id, 64 hex digits)")
      ->option_text("ID");
  decimal(create_cmd->add_option(
              "--tee-offer", create->tee_offer,
              "Or a tee offer: any of its CVMs takes the order, and another one if that CVM fails (a batch "
              "order whose grants are to a key broker: docs/kms.md)"))
      ->option_text("ID");
  decimal(create_cmd->add_option("--need-cores", create->cores, "With --tee-offer: cores a CVM must declare"),
          0, ledger::kMaxCores);
  decimal(create_cmd->add_option("--need-memory-mib", create->memory_mib,
                                 "With --tee-offer: memory a CVM must declare, MiB"),
          0, ledger::kMaxMemoryMib);
  decimal(create_cmd->add_option("--need-gpus", create->gpus, "With --tee-offer: GPUs a CVM must declare"), 0,
          ledger::kMaxGpus);
  create_cmd
      ->add_option("--engine", create->engine,
                   "The engine: its descriptor (RES.json from ward files upload) or its image digest")
      ->option_text("RES.json|DIGEST")
      ->required();
  repeatable(create_cmd->add_option("--grant", create->grants,
                                    "A grant to the CVM (ward files grant), the engine's included. Checked "
                                    "against the order, then put in the store. Can be repeated"))
      ->option_text("GRANT.json");
  create_cmd
      ->add_option("--store", create->store,
                   "Where the grants are put (default $WARD_STORE, else ./ward-store)")
      ->option_text("URI");
  repeatable(create_cmd->add_option("--input", create->inputs,
                                    "A grant already in a store, by blob URI. Can be repeated"))
      ->option_text("URI");
  repeatable(create_cmd->add_option("--output-to", create->outputs,
                                    "An age recipient (age1...) the output is encrypted to. Can be repeated; "
                                    "required unless --serve"))
      ->option_text("RECIPIENT");
  create_cmd->add_flag("--serve", create->serve,
                       "Place a service order: serve the engine over TLS until it ends");
  create_cmd
      ->add_option("--access", create->access,
                   "Who may use the service: public, subscribers (who pay for what they use), or account "
                   "ids (64 hex) separated by commas (default: your own account only)")
      ->option_text("public|subscribers|ACCOUNT[,ACCOUNT...]");
  add_amount_option(create_cmd, "--price-per-request", create->price_per_request,
                    "With --access subscribers: tokens a subscriber pays per request (default 0)");
  add_amount_option(create_cmd, "--price-per-1k-tokens", create->price_per_1k_tokens,
                    "With --access subscribers: tokens a subscriber pays per 1000 tokens the engine "
                    "counts, rounded up (default 0)");
  repeatable(
      create_cmd->add_option("--worker", create->workers,
                             "With --serve --cvm: a worker CVM (its id, 64 hex digits) of the service, "
                             "headed by --cvm. Can be repeated, up to 7 times"))
      ->option_text("ID");
  decimal(repeatable(create_cmd->add_option("--offer", create->offers,
                                            "An offer id the order pays. Can be repeated")))
      ->option_text("ID");
  add_amount_option(create_cmd, "--deposit", create->deposit, "Tokens put in escrow")->required();
  add_json_flag(create_cmd, create->json);
  create_cmd->callback([&action, create, create_cmd] {
    create->priced =
        create_cmd->count("--price-per-request") + create_cmd->count("--price-per-1k-tokens") > 0;
    action = [create] { return run_create(*create); };
  });

  auto list = std::make_shared<ListArgs>();
  CLI::App* list_cmd = group->add_subcommand("list", "List orders (the first 1000 that match)");
  add_ledger_option(list_cmd, list->ledger);
  list_cmd->add_option("--creator", list->creator, "Only orders placed by this account")->option_text("ID");
  list_cmd->add_option("--cvm", list->cvm, "Only orders on this CVM")->option_text("ID");
  list_cmd->add_option("--status", list->status, "Only orders in this status")
      ->option_text("new|processing|done|error|canceled")
      ->check(CLI::IsMember({"new", "processing", "done", "error", "canceled"}));
  add_json_flag(list_cmd, list->json);
  list_cmd->callback([&action, list] { action = [list] { return run_list(*list); }; });

  auto get = std::make_shared<GetArgs>();
  CLI::App* get_cmd = group->add_subcommand("get", "Print one order, with its settlement");
  add_ledger_option(get_cmd, get->ledger);
  decimal(get_cmd->add_option("ID", get->id, "The order id"))->option_text(" ")->required();
  add_json_flag(get_cmd, get->json);
  get_cmd->callback([&action, get] { action = [get] { return run_get(*get); }; });

  auto wait = std::make_shared<WaitArgs>();
  CLI::App* wait_cmd = group->add_subcommand("wait", "Wait until an order ends; exit 0 only if it is done");
  add_ledger_option(wait_cmd, wait->ledger);
  decimal(wait_cmd->add_option("ID", wait->id, "The order id"))->option_text(" ")->required();
  // At most a year, so the deadline (now + timeout on a nanosecond clock) cannot overflow.
  decimal(wait_cmd->add_option("--timeout", wait->timeout, "Seconds to wait (default 600)"), 0, 366 * 86400);
  add_json_flag(wait_cmd, wait->json);
  wait_cmd->callback([&action, wait] { action = [wait] { return run_wait(*wait); }; });

  auto result = std::make_shared<ResultArgs>();
  CLI::App* result_cmd = group->add_subcommand("result", "Download and decrypt an order's output");
  result_cmd->footer("Writes DIR/output/ (what the engine wrote) and DIR/engine.log. DIR must not exist.");
  add_ledger_option(result_cmd, result->ledger);
  add_key_option(result_cmd, result->key);
  decimal(result_cmd->add_option("ID", result->id, "The order id"))->option_text(" ")->required();
  result_cmd->add_option("-o,--output", result->output, "A new directory for the output")
      ->option_text("DIR")
      ->required();
  result_cmd->callback([&action, result] { action = [result] { return run_result(*result); }; });

  auto report = std::make_shared<ReportArgs>();
  CLI::App* report_cmd = group->add_subcommand("report", "Print an order's signed integrity report (JSON)");
  add_ledger_option(report_cmd, report->ledger);
  decimal(report_cmd->add_option("ID", report->id, "The order id"))->option_text(" ")->required();
  report_cmd->callback([&action, report] { action = [report] { return run_report(*report); }; });

  auto verify = std::make_shared<VerifyArgs>();
  CLI::App* verify_cmd =
      group->add_subcommand("verify", "Verify an order's integrity report, printing each check");
  verify_cmd->footer(
      "Checks: the report's signature by the CVM certificate's key; the certificate under the trusted\n"
      "certification center; its hardware evidence to the vendor root (or the simulated root, when the\n"
      "policy allows) and the policy's measurements; that the report is for this order, CVM and engine,\n"
      "used exactly the order's grants and encrypted to its recipients; your descriptors (--resources);\n"
      "that the store holds the output; and the ledger's inclusion proof. Exit 0 verified, 1 rejected.\n"
      "With --bundle, no ledger is asked: the order, the report and their blocks come from the bundle\n"
      "('ward orders bundle'), each block's hash and roots are recomputed, and the report's block hash\n"
      "must be one you pinned with --block-hash, read from a node or explorer you trust.\n"
      "With --anchors (an embedded ledger), the report's record must also be in a checkpoint anchored\n"
      "on that chain ('ward ledger anchor'), every anchor checked against the ledger: a public timestamp.\n"
      "With --kms (and --kms-policy), every input granted to a key broker must have its release for this\n"
      "order, ledger and CVM in the broker's signed, hash-chained release log ('kms.release').");
  add_ledger_option(verify_cmd, verify->ledger);
  decimal(verify_cmd->add_option("ID", verify->id, "The order id"))->option_text(" ")->required();
  verify_cmd->add_option("--ca-cert", verify->ca_cert, "The certification center's certificate (PEM)")
      ->option_text("FILE");
  verify_cmd->add_option("--ca", verify->ca, "Or fetch it from the center (trust on first use)")
      ->option_text("URL");
  verify_cmd
      ->add_option("--policy", verify->policy,
                   "The attestation policy (JSON, docs/attest.md); default strict: no simulation")
      ->option_text("FILE");
  repeatable(verify_cmd->add_option("--resources", verify->resources,
                                    "A descriptor you hold that the order must have used. Can be repeated"))
      ->option_text("RES.json");
  verify_cmd->add_option("--report", verify->report, "Check this report file instead of the ledger's copy")
      ->option_text("FILE");
  verify_cmd->add_option("--ledger-key", verify->ledger_key, "Pin the ledger's checkpoint verifier key")
      ->option_text("VKEY");
  verify_cmd->add_flag("--no-output-check", verify->no_output_check, "Do not ask the store for the output");
  verify_cmd
      ->add_option("--anchors", verify->anchors,
                   "Also check that the report's record is in a checkpoint anchored at this WardAnchor")
      ->option_text("evm+http://HOST:PORT#0xANCHOR");
  repeatable(verify_cmd->add_option("--kms", verify->kms,
                                    "A key broker whose release log must hold the release of every input "
                                    "granted to it. Can be repeated (replicas)"))
      ->option_text("URL");
  verify_cmd
      ->add_option("--kms-policy", verify->kms_policy, "With --kms: the broker's attestation policy (JSON)")
      ->option_text("FILE");
  verify_cmd
      ->add_option("--bundle", verify->bundle, "Verify from this offline bundle of an EVM ledger's blocks")
      ->option_text("FILE");
  repeatable(verify_cmd->add_option(
                 "--block-hash", verify->block_hashes,
                 "A block hash you trust; the bundle's report block must be one. Can be repeated"))
      ->option_text("0xHASH");
  add_json_flag(verify_cmd, verify->json);
  verify_cmd->callback([&action, verify] { action = [verify] { return run_verify(*verify); }; });

  auto bundle = std::make_shared<BundleArgs>();
  CLI::App* bundle_cmd = group->add_subcommand(
      "bundle",
      "Write the offline proof of an order's report on an EVM ledger: its blocks' headers, receipts and "
      "transactions");
  bundle_cmd->footer(
      "The bundle holds, for the CVM's listing, the order's creation, its take by that CVM (an order\n"
      "placed on a tee offer), a service's start and the report, the block's header and all its receipts\n"
      "and transactions. 'ward orders verify ID --bundle FILE --block-hash HASH' checks it without a node\n"
      "(docs/evm.md).");
  add_ledger_option(bundle_cmd, bundle->ledger);
  decimal(bundle_cmd->add_option("ID", bundle->id, "The order id"))->option_text(" ")->required();
  bundle_cmd->add_option("-o,--output", bundle->output, "The bundle file (JSON)")
      ->option_text("FILE")
      ->required();
  bundle_cmd->callback([&action, bundle] { action = [bundle] { return run_bundle(*bundle); }; });

  auto cancel = std::make_shared<CancelArgs>();
  CLI::App* cancel_cmd =
      group->add_subcommand("cancel", "Cancel a new order (deposit back), or ask a running service to stop");
  cancel_cmd->footer(
      "Only the order's creator may cancel it. A new order is canceled and its deposit refunded. A running\n"
      "service order is asked to stop: its CVM stops serving and ends it with a final report, which settles\n"
      "it ('ward orders wait ID'); asking twice is refused. A running batch order cannot be canceled.");
  add_ledger_option(cancel_cmd, cancel->ledger);
  add_key_option(cancel_cmd, cancel->key);
  decimal(cancel_cmd->add_option("ID", cancel->id, "The order id"))->option_text(" ")->required();
  add_json_flag(cancel_cmd, cancel->json);
  cancel_cmd->callback([&action, cancel] { action = [cancel] { return run_cancel(*cancel); }; });

  auto reassign = std::make_shared<CancelArgs>();
  CLI::App* reassign_cmd = group->add_subcommand(
      "reassign", "Move an order placed on a tee offer off a CVM that stopped sending heartbeats");
  reassign_cmd->footer(
      "Anyone may send it once the order's CVM has sent no heartbeat for longer than its tee offer's\n"
      "timeout (docs/ledger.md, \"Orders on a tee offer\"): the order is new again and another CVM of the\n"
      "offer takes it, through the key broker its grants name. Its per-hour billing counted up to the\n"
      "failed CVM's last heartbeat. Idle CVMs of the offer send it themselves.");
  add_ledger_option(reassign_cmd, reassign->ledger);
  add_key_option(reassign_cmd, reassign->key);
  decimal(reassign_cmd->add_option("ID", reassign->id, "The order id"))->option_text(" ")->required();
  add_json_flag(reassign_cmd, reassign->json);
  reassign_cmd->callback([&action, reassign] { action = [reassign] { return run_reassign(*reassign); }; });
}

}  // namespace ward::cli
