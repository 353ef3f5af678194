// ward demo llm: a confidential LLM (engines/llm, docs/serving.md). Carol
// owns a small model and lists it on the marketplace for a share of what its
// users pay; Dave deploys it as a paid service on a CVM of Ward's simulated
// TEE, with grants Carol limited to his orders; Alice verifies the endpoint,
// subscribes, and chats with it through the verifying proxy, tokens
// streaming in, each response carrying a signed receipt; the ledger's
// charges are checked against the receipts, and cancelling settles the
// order and pays Carol her share. With --keep it serves on, with `ward ui`
// for Alice (ui::Server, in this process), until interrupted.
#include <unistd.h>

#include <chrono>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/bytes.h"
#include "cli/cli.h"
#include "cli/demo_world.h"
#include "cli/serve.h"
#include "cli/services.h"
#include "engine/image.h"
#include "files/grant.h"
#include "files/grantee.h"
#include "files/transfer.h"
#include "serve/client.h"
#include "serve/proxy.h"
#include "ui/server.h"

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

struct DemoLlmArgs {
  DemoArgs common;
  std::string model;
  std::string llama_server;
  std::string prompt = "Once upon a time, there was a little robot who";
  std::uint64_t max_tokens = 64;
  bool serve_on = false;
};

// Prints the text of each streamed OpenAI event as it arrives.
class TokenPrinter {
 public:
  void feed(std::string_view data) {
    buffer_ += data;
    for (auto nl = buffer_.find('\n'); nl != std::string::npos; nl = buffer_.find('\n')) {
      std::string line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      if (!line.starts_with("data: ") || line == "data: [DONE]") continue;
      const json event = json::parse(line.substr(6), nullptr, false);
      if (!event.is_object()) continue;
      if (event.contains("usage") && event["usage"].is_object()) usage = event["usage"];
      if (!event.contains("choices") || !event["choices"].is_array() || event["choices"].empty()) continue;
      const json& choice = event["choices"][0];
      std::string piece;
      if (choice.contains("text") && choice["text"].is_string()) piece = choice["text"];
      if (choice.contains("delta") && choice["delta"].is_object() && choice["delta"].contains("content") &&
          choice["delta"]["content"].is_string())
        piece = choice["delta"]["content"];
      if (piece.empty()) continue;
      ++chunks;
      std::cout << piece << std::flush;
    }
  }
  int chunks = 0;
  json usage;

 private:
  std::string buffer_;
};

Result<void> run_demo_llm(const DemoLlmArgs& args) {
  const auto started = std::chrono::steady_clock::now();
  if (::geteuid() != 0) {
    return fail("demo.root",
                "ward demo llm needs root: the CVM's loader reaches the engine inside its sandbox's network "
                "namespace (run it as root, as in a CVM)");
  }
  // With --keep, SIGINT and SIGTERM are taken only by the serving loop at the
  // end (blocked before any thread starts), so they end it cleanly.
  std::optional<StopSignals> stop_signals;
  if (args.serve_on) {
    auto blocked = StopSignals::block();
    if (!blocked) return std::unexpected(blocked.error());
    stop_signals = *blocked;
  }
  const fs::path here = demo::self_dir();
  auto model = demo::first_existing(
      {args.model, here / "../../../../shared/models/stories260K.gguf", "../shared/models/stories260K.gguf"});
  if (!model)
    return fail("demo.model", "no model: give --model FILE.gguf (../shared/models/stories260K.gguf)");
  const auto llama = demo::llama_binary("llama-server", args.llama_server);
  if (!llama)
    return fail("demo.llama", "no llama-server: run scripts/build-llama.sh, or give --llama-server FILE");
  auto launcher = demo::first_existing({here / "ward-llm"});
  if (!launcher) return fail("demo.llama", "no ward-llm next to ward (build the target ward-llm)");

  auto world =
      DemoWorld::open(args.common,
                      "Ward demo llm: a confidential LLM, listed, deployed, verified, chatted with and "
                      "paid for by use (SIMULATED TEE: no hardware protection)");
  if (!world) return std::unexpected(world.error());
  DemoWorld& w = **world;
  ledger::LedgerClient& ledger = *w.ledger;
  store::Store& store = *w.store;
  std::error_code ec;

  step("1. Carol owns a model, Dave deploys services, Alice chats; a provider starts a node at 360 an hour");
  auto carol = w.make_party("carol");
  auto dave = w.make_party("dave");
  auto alice = w.make_party("alice");
  for (const auto* p : {&carol, &dave, &alice}) {
    if (!*p) return std::unexpected(p->error());
    if (auto ok = w.fund(**p, 1000); !ok) return ok;
  }
  if (auto ok = w.start_node({"--usage-interval-ms", "500"}, 360); !ok) return ok;
  say("each holds 1000; CVM " + hex_encode(w.cvm_id).substr(0, 16) + "... listed");

  step("2. Carol packs the LLM engine (llama.cpp's llama-server) and encrypts it and her model");
  const fs::path engine_dir = w.dir / "data" / "engine";
  fs::create_directories(engine_dir, ec);
  fs::copy_file(*launcher, engine_dir / "ward-llm", ec);
  if (!ec) fs::copy_file(*llama, engine_dir / "llama-server", ec);
  if (ec) return fail("demo.io", "cannot stage the engine: " + ec.message());
  auto engine_digest = engine::pack_image(
      engine_dir,
      {{"/ward-llm"},
       {"--ctx-size", "2048", "--parallel", "4"},
       {},
       "/",
       {{std::string(engine::kServePortLabel), "8080"}, {"org.opencontainers.image.title", "ward-llm"}}},
      w.dir / "data" / "llm.tar");
  if (!engine_digest) return std::unexpected(engine_digest.error());
  auto engine_res = files::upload(w.dir / "data" / "llm.tar", carol->key, store, {*engine_digest});
  if (!engine_res) return std::unexpected(engine_res.error());
  auto model_res = files::upload(*model, carol->key, store);
  if (!model_res) return std::unexpected(model_res.error());
  const std::string model_sha = hex_encode(model_res->resource.plaintext_sha256);
  say("engine " + *engine_digest + " (ward-llm + llama-server, --ctx-size 2048 --parallel 4)");
  say("model " + model->filename().string() + ", plaintext SHA-256 " + model_sha.substr(0, 16) +
      "... (stories260K is a real but toy model: 260K parameters that continue children's stories)");

  step("3. Carol lists the engine (5 a deployment) and the model (30% of what its users pay)");
  // An offer names its resource by the store URI of the signed descriptor,
  // which `ward ui` reads to pin what the offer sells.
  const auto list = [&](const files::SignedResource& res, const char* kind, const std::string& name,
                        const json& price) -> Result<std::uint64_t> {
    auto descriptor = store.put_bytes(as_bytes(files::resource_text(res)));
    if (!descriptor) return std::unexpected(descriptor.error());
    auto listed = ledger::submit_signed(
        ledger, carol->key, "offers.create",
        {{"kind", kind}, {"name", name}, {"resource", descriptor->uri}, {"price", price}});
    if (!listed) return std::unexpected(listed.error());
    return listed->index;
  };
  auto engine_offer =
      list(*engine_res, "engine", "llama-server (llama.cpp)", {{"model", "fixed"}, {"amount", 5}});
  if (!engine_offer) return std::unexpected(engine_offer.error());
  auto model_offer_id = list(*model_res, "model", model->stem().string() + " (toy LLM)",
                             {{"model", "revenue_share"}, {"bps", 3000}});
  if (!model_offer_id) return std::unexpected(model_offer_id.error());
  const std::uint64_t model_offer = *model_offer_id;
  say("offer " + std::to_string(*engine_offer) + ": engine, fixed 5; offer " + std::to_string(model_offer) +
      ": model, revenue share 3000 bps");

  step("4. Carol grants the engine and the model to the CVM, for service orders placed by Dave only");
  auto grantee =
      files::verify_grantee(ledger, w.cvm_id, w.center->certificate(), w.policy, system_clock::now());
  if (!grantee) return std::unexpected(grantee.error());
  std::vector<std::string> grants;
  for (const auto* res : {&*engine_res, &*model_res}) {
    auto grant = files::make_grant(*res, store, carol->key, grantee->recipient, w.cvm_id, *engine_digest, {},
                                   system_clock::now() + std::chrono::hours(24),
                                   files::GrantLimits{dave->key.signing_public_key(), 0, true});
    if (!grant) return std::unexpected(grant.error());
    auto blob = store.put_bytes(as_bytes(files::grant_text(*grant)));
    if (!blob) return std::unexpected(blob.error());
    grants.push_back(blob->uri);
  }
  say("the grants say \"serve\": true, name no output (the weights never leave) and order_by Dave");

  step("5. Dave deploys it for subscribers at 1 a request and 20 per 1000 tokens, paying Carol's offers");
  auto created = ledger::submit_signed(
      ledger, dave->key, "orders.create",
      {{"cvm", hex_encode(w.cvm_id)},
       {"engine", *engine_digest},
       {"inputs", grants},
       {"outputs", json::array()},
       {"offers", {*engine_offer, model_offer}},
       {"deposit", 300},
       {"serve", {{"access", "subscribers"}, {"price", {{"per_request", 1}, {"per_1k_tokens", 20}}}}}});
  if (!created) return std::unexpected(created.error());
  const std::uint64_t order_id = created->index;
  auto endpoint = demo::wait_for_endpoint(ledger, order_id, w.loader_log);
  if (!endpoint) return std::unexpected(endpoint.error());
  say("order " + std::to_string(order_id) + " serves at " + *endpoint +
      "; the model was decrypted only into the CVM's tmpfs");

  step("6. Alice verifies the endpoint before she sends a byte (pinning the engine and the model)");
  serve::EndpointPins pins;
  pins.engine = *engine_digest;
  pins.models = {model_res->resource.plaintext_sha256};
  const serve::ClientOptions client_options{w.center->certificate(), w.policy, w.ledger_url, pins};
  auto client = demo::verify_and_show(*endpoint, client_options);
  if (!client) return std::unexpected(client.error());

  step("7. Alice subscribes and chats through the proxy (her key signs each request; receipts kept)");
  auto subscribed = ledger::submit_signed(ledger, alice->key, "services.subscribe",
                                          {{"order", order_id}, {"deposit", 100}});
  if (!subscribed) return std::unexpected(subscribed.error());
  const fs::path receipts = w.dir / "alice-receipts.jsonl";
  auto proxy = demo::open_proxy(std::move(*client), alice->key, receipts, 8);
  if (!proxy) return std::unexpected(proxy.error());
  Running proxy_running(*proxy->proxy);
  const std::string proxy_url = proxy->url();
  serve::Forwarder http(
      [port = proxy->port]() { return serve::connect_tcp("127.0.0.1", port, std::chrono::seconds(30)); });
  say("proxy " + proxy_url + " (what `ward proxy --to " + *endpoint +
      " --key alice.key --receipts FILE` runs); any OpenAI client works against " + proxy_url + "/v1");
  // The gateway sees the subscription at its next poll of the ledger, and
  // llama-server answers 503 until its model is loaded.
  Answer models;
  for (int i = 0; i < 40; ++i) {
    models = demo::call(http, "GET", "/v1/models", "");
    if (models.status == 200) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  if (models.status != 200)
    return fail("demo.query",
                "GET /v1/models: HTTP " + std::to_string(models.status) + " " + demo::error_of(models));
  const json model_list = json::parse(models.body, nullptr, false);
  const std::string model_id = model_list.is_object() && model_list.contains("data") &&
                                       model_list["data"].is_array() && !model_list["data"].empty()
                                   ? model_list["data"][0].value("id", "")
                                   : "";
  say("GET /v1/models: " + model_id);

  const auto stream = [&](const std::string& path, const json& body) -> Result<TokenPrinter> {
    TokenPrinter printer;
    std::cout << "  " << std::flush;
    const Answer a =
        demo::call(http, "POST", path, body.dump(), [&](std::string_view d) { printer.feed(d); });
    std::cout << std::endl;
    if (a.status != 200)
      return fail("demo.query", path + ": HTTP " + std::to_string(a.status) + " " + demo::error_of(a));
    auto receipt = serve::parse_receipt(a.receipt);
    say("  (" + std::to_string(printer.chunks) + " tokens streamed; usage " + printer.usage.dump() +
        (receipt ? "; receipt #" + std::to_string(receipt->seq) + " shows " +
                       std::to_string(receipt->usage.requests) + " requests and " +
                       std::to_string(receipt->usage.tokens) + " tokens before this one)"
                 : std::string("; no receipt)")));
    return printer;
  };
  say("POST /v1/completions, streamed, greedy: \"" + args.prompt + "\"");
  auto completion = stream("/v1/completions", {{"model", model_id},
                                               {"prompt", args.prompt},
                                               {"max_tokens", args.max_tokens},
                                               {"temperature", 0},
                                               {"stream", true}});
  if (!completion) return std::unexpected(completion.error());
  say("POST /v1/chat/completions, streamed: \"Tell me a story about a cat.\"");
  auto chat =
      stream("/v1/chat/completions",
             {{"model", model_id},
              {"messages", json::array({{{"role", "user"}, {"content", "Tell me a story about a cat."}}})},
              {"max_tokens", args.max_tokens},
              {"stream", true}});
  if (!chat) return std::unexpected(chat.error());
  // One more request, so that a receipt counts the tokens of both streams.
  const Answer last = demo::call(http, "GET", "/v1/models", "");
  if (auto r = serve::parse_receipt(last.receipt))
    say("the latest receipt: " + std::to_string(r->usage.requests) + " requests, " +
        std::to_string(r->usage.tokens) + " tokens, signed by the service's TLS key");

  step("8. The ledger's charges, checked against Alice's receipts (ward services usage --verify)");
  const auto receipted = serve::parse_receipt(last.receipt);
  for (int i = 0; i < 100; ++i) {
    auto s = ledger.subscription(order_id, alice->key.signing_public_key());
    if (s && *s && receipted && (*s)->requests >= receipted->usage.requests) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  auto usage = check_usage(ledger, order_id, receipts.string());
  if (!usage) return std::unexpected(usage.error());
  std::cout << usage->text;
  if (!usage->overcharged.empty())
    return fail("demo.usage", "the ledger overcharged: " + usage->overcharged.front());

  if (args.serve_on) {
    step("Serving on for a browser and any OpenAI client: press Ctrl-C to stop, settle and clean up");
    ui::Options ui_options{
        w.ledger_url,          alice->key,      store.uri(), w.center->certificate(), w.policy,
        w.dir / "ui-receipts", check_usage_json};
    auto ui_server = ui::Server::create(std::move(ui_options));
    if (!ui_server) return std::unexpected(ui_server.error());
    auto ui_port = (*ui_server)->bind("127.0.0.1", 0);
    if (!ui_port) return std::unexpected(ui_port.error());
    say("ward ui, as Alice (her key stays in this process): " + (*ui_server)->url());
    say("  Chat: service order " + std::to_string(order_id) + ", engine " + *engine_digest + ", model " +
        model_sha + " (the offers' pins); Marketplace: Carol's offers and the provider's TEE offer");
    say("OpenAI-compatible API through Alice's proxy: " + proxy_url + "/v1, e.g.");
    say("  curl -N " + proxy_url +
        "/v1/completions -H 'content-type: application/json' -d '{\"prompt\":\"Once upon a time\","
        "\"max_tokens\":64,\"stream\":true}'");
    auto& server = **ui_server;
    auto served = stop_signals->serve([&server] { return server.serve(); }, [&server] { server.stop(); });
    if (!served) return served;
    std::cout << std::endl;
  }

  step("9. Dave stops the service; the ledger settles it");
  auto canceled = ledger::submit_signed(ledger, dave->key, "orders.cancel", {{"order", order_id}});
  if (!canceled) return std::unexpected(canceled.error());
  auto ended = demo::wait_for_order(ledger, order_id, std::chrono::seconds(60));
  if (!ended) return std::unexpected(ended.error());
  auto final_sub = ledger.subscription(order_id, alice->key.signing_public_key());
  if (!final_sub || !*final_sub) return fail("demo.settle", "the ledger has no subscription for Alice");
  say("order " + std::string(ledger::to_string(ended->status)) + "; Alice was charged " +
      std::to_string((*final_sub)->charged) + " and got " + std::to_string((*final_sub)->refund) + " back");
  for (const auto& p : ended->payments)
    say("  paid offer " + std::to_string(p.offer) +
        (p.offer == model_offer     ? " (Carol's model)"
         : p.offer == *engine_offer ? " (Carol's engine)"
                                    : " (the provider)") +
        ": " + std::to_string(p.amount));
  for (const auto& [name, party] : {std::pair{"carol", &*carol}, {"dave", &*dave}, {"alice", &*alice}}) {
    if (auto b = demo::balance(ledger, party->key))
      say("  " + std::string(name) + " now holds " + std::to_string(*b));
  }
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started)
          .count();
  say("\ndemo finished in " + std::to_string(ms / 1000) + "." + std::to_string(ms % 1000 / 100) + " s");
  return {};
}

}  // namespace

void add_demo_llm_command(CLI::App& demo, Action& action) {
  auto args = std::make_shared<DemoLlmArgs>();
  CLI::App* cmd = demo.add_subcommand("llm", "A confidential LLM: list, deploy, verify, chat, pay by use");
  cmd->footer(
      "Carol lists a small model (stories260K, a toy); Dave deploys llama.cpp's llama-server with it as a "
      "paid\n"
      "service in a CVM of Ward's simulated TEE (NOT SECURE); Alice verifies the endpoint, subscribes and "
      "chats\n"
      "with it through the verifying proxy, tokens streaming; the charges are checked against her receipts "
      "and\n"
      "the order settles. Needs root (the loader enters the engine's network namespace) and llama-server\n"
      "(scripts/build-llama.sh). --keep serves on until Ctrl-C. Runs everything here and stops it.");
  cmd->add_option("--dir", args->common.dir, "Work in this new directory (default: a temporary one)");
  cmd->add_flag("--keep", args->serve_on, "Keep serving, for a browser or an OpenAI client, until Ctrl-C");
  cmd->add_option("--model", args->model, "The GGUF model (default ../shared/models/stories260K.gguf)");
  cmd->add_option("--llama-server", args->llama_server,
                  "The llama-server binary (default: next to ward, or scripts/build-llama.sh's)");
  cmd->add_option("--prompt", args->prompt, "The completion's prompt");
  decimal(cmd->add_option("--max-tokens", args->max_tokens, "Tokens per answer (default 64)"), 1, 4096);
  cmd->add_option("--trainer", args->common.trainer, "The cancer-trainer binary (default: next to ward)");
  cmd->add_option("--loader", args->common.loader, "The ward-loader binary (default: next to ward)");
  demo::add_ledger_choice(cmd, args->common.ledger);
  cmd->callback([&action, args] { action = [args] { return run_demo_llm(*args); }; });
}

}  // namespace ward::cli
