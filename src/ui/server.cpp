#include "ui/server.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/bytes.h"
#include "base/decimal.h"
#include "crypto/random.h"
#include "files/grant.h"
#include "files/grantee.h"
#include "files/resource.h"
#include "files/transfer.h"
#include "http/router.h"
#include "http/server.h"
#include "loader/verify.h"
#include "serve/client.h"
#include "serve/proxy.h"
#include "serve/verify.h"
#include "store/store.h"
#include "ui/api.h"
#include "ui/assets.h"

namespace ward::ui {
namespace {

using json = nlohmann::json;
using std::chrono::system_clock;

constexpr std::string_view kServicesPrefix = "/api/services/";
constexpr std::string_view kOrdersPrefix = "/api/orders/";
// A service grant made by deploy lasts this long; the order can be renewed
// by deploying again.
constexpr auto kGrantValidity = std::chrono::hours(24 * 30);
// Deploys and uploads at once, each on a thread of its own.
constexpr long kMaxRunningJobs = 4;
constexpr std::string_view kSecurityPolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

http::Response refusal(const Error& error, int status = 400) {
  return http::error_response(status, error.code, error.message);
}

// Headers every answer carries: nothing is cached, framed, sniffed, or
// sent on as a referrer, and only this server's own files run.
void harden(http::Response& response) {
  response.set_header("Content-Security-Policy", std::string(kSecurityPolicy));
  response.set_header("X-Content-Type-Options", "nosniff");
  response.set_header("X-Frame-Options", "DENY");
  response.set_header("Referrer-Policy", "no-referrer");
  response.set_header("Cache-Control", "no-store");
}

std::string format_bytes(std::uint64_t n) {
  char text[32];
  if (n < 1024) return std::to_string(n) + " B";
  if (n < 1024 * 1024) {
    std::snprintf(text, sizeof text, "%.1f KiB", static_cast<double>(n) / 1024);
  } else {
    std::snprintf(text, sizeof text, "%.1f MiB", static_cast<double>(n) / (1024 * 1024));
  }
  return text;
}

std::string price_text(const ledger::Price& price) {
  switch (price.model) {
    case ledger::PriceModel::RevenueShare:
      return std::to_string(price.bps) + " bps revenue share";
    case ledger::PriceModel::PerHour:
      return std::to_string(price.amount) + " per hour";
    case ledger::PriceModel::Fixed:
      break;
  }
  return std::to_string(price.amount) + " fixed";
}

// One step of a deploy as the page shows it.
struct Step {
  std::string name;
  std::string state = "pending";  // pending, running, done, failed
  std::string detail;
  double fraction = -1;  // of a transfer, 0..1; negative when not one
};

struct Job {
  std::vector<Step> steps;
  bool done = false;
  std::string error;
  std::optional<std::uint64_t> order;
  std::optional<std::uint64_t> offer;  // made by an upload
  json service;                        // the connection made at the end: pins and verification
};

// A service the user connected to: the proxy that forwards chat to it,
// verifying each new connection, and the pins it was connected with.
struct Service {
  std::unique_ptr<serve::Proxy> proxy;
  json pins;
};

}  // namespace

struct Server::Impl {
  explicit Impl(Options o) : options(std::move(o)) {}

  Options options;
  Gate gate;
  std::string account;  // the key's account id, hex
  http::Router router;
  std::unique_ptr<http::Server> server;

  std::mutex mu;  // jobs, services, workers
  std::map<std::uint64_t, Job> jobs;
  std::uint64_t next_job = 1;
  std::map<std::uint64_t, std::shared_ptr<Service>> services;
  std::vector<std::thread> workers;
  std::atomic<bool> stopping{false};

  void add_routes();
  http::Response handle(const http::Request& request);

  http::Response session();
  http::Response offers();
  http::Response create_offer(const http::Request& request);
  http::Response start_deploy(const http::Request& request);
  http::Response start_upload(const http::Request& request);
  // A new job of these steps, run by `work` on a thread of its own; nullopt
  // when too many run already or the server is stopping.
  std::optional<std::uint64_t> start_job(std::initializer_list<const char*> steps,
                                         std::function<void(std::uint64_t)> work);
  void upload(std::uint64_t job, UploadRequest request);
  http::Response job(const std::string& id);
  http::Response orders();
  http::Response cancel(const http::Request& request);
  http::Response services_route(const http::Request& request);
  http::Response connect(std::uint64_t order, const http::Request& request);
  http::Response verification(std::uint64_t order);
  http::Response forward(std::uint64_t order, std::string_view target, const http::Request& request);

  Result<std::unique_ptr<ledger::LedgerClient>> ledger() const { return ledger::open_client(options.ledger); }
  Result<files::SignedResource> offered_resource(const ledger::Offer& offer) const;
  Result<json> connect_service(std::uint64_t order, const ConnectRequest& pins);
  void deploy(std::uint64_t job, DeployRequest request);
  void set_step(std::uint64_t job, std::size_t step, std::string state, std::string detail = {});
  std::string receipts_path(std::uint64_t order) const {
    return (options.receipts_dir / ("receipts-" + std::to_string(order) + ".jsonl")).string();
  }
};

Result<std::unique_ptr<Server>> Server::create(Options options) {
  std::error_code ec;
  std::filesystem::create_directories(options.receipts_dir, ec);
  if (ec) return fail("ui.receipts", options.receipts_dir.string() + ": " + ec.message());
  auto impl = std::make_unique<Impl>(std::move(options));
  impl->gate.token = hex_encode(crypto::random_bytes(32));
  impl->account = hex_encode(impl->options.key.signing_public_key());
  impl->add_routes();
  http::ServerOptions server;
  server.threads = 8;
  server.max_connections = 64;
  server.limits.max_body_bytes = kMaxBodyBytes;
  // A streamed completion can pause between tokens longer than a request's
  // usual write budget.
  server.write_timeout = std::chrono::seconds(60);
  Impl* raw = impl.get();
  impl->server = std::make_unique<http::Server>([raw](const http::Request& r) { return raw->handle(r); },
                                                std::move(server));
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() {
  stop();
}

Result<int> Server::bind(std::string_view host, int port) {
  if (host != "127.0.0.1")
    return fail("ui.listen", "ward ui listens on 127.0.0.1 only, not " + std::string(host) +
                                 ": it holds your key and serves this machine alone");
  auto bound = impl_->server->bind(host, port);
  if (bound) impl_->gate.port = *bound;
  return bound;
}

std::string Server::url() const {
  return "http://127.0.0.1:" + std::to_string(impl_->gate.port) + "/#token=" + impl_->gate.token;
}

Result<void> Server::serve() {
  return impl_->server->serve();
}

void Server::stop() {
  impl_->stopping = true;
  impl_->server->stop();
  std::vector<std::thread> workers;
  {
    std::lock_guard lock(impl_->mu);
    workers.swap(impl_->workers);
  }
  for (auto& t : workers) t.join();
  std::lock_guard lock(impl_->mu);
  for (auto& [order, service] : impl_->services) service->proxy->stop();
}

http::Response Server::handle(const http::Request& request) {
  return impl_->handle(request);
}

void Server::Impl::add_routes() {
  router.add("GET", "/api/session", [this](const http::Request&, const std::string&) { return session(); });
  router.add("GET", "/api/offers", [this](const http::Request&, const std::string&) { return offers(); });
  router.add("POST", "/api/offers",
             [this](const http::Request& r, const std::string&) { return create_offer(r); });
  router.add("POST", "/api/deploy",
             [this](const http::Request& r, const std::string&) { return start_deploy(r); });
  router.add("POST", "/api/uploads",
             [this](const http::Request& r, const std::string&) { return start_upload(r); });
  router.add("GET", "/api/jobs/{}", [this](const http::Request&, const std::string& id) { return job(id); });
  router.add("GET", "/api/orders", [this](const http::Request&, const std::string&) { return orders(); });
  for (const Asset& asset : assets()) {
    const std::string_view path = asset.path == "/index.html" ? "/" : asset.path;
    router.add("GET", path, [&asset](const http::Request&, const std::string&) {
      http::Response r;
      r.set_content(std::string(asset.bytes), asset.content_type);
      return r;
    });
  }
}

http::Response Server::Impl::handle(const http::Request& request) {
  http::Response response;
  if (auto refused = refuse(request, gate)) {
    response = std::move(*refused);
  } else if (request.path.starts_with(kServicesPrefix)) {
    response = services_route(request);
  } else if (request.path.starts_with(kOrdersPrefix)) {
    response = cancel(request);
  } else {
    response = router.handle(request);
  }
  harden(response);
  return response;
}

http::Response Server::Impl::session() {
  auto client = ledger();
  if (!client) return refusal(client.error(), 502);
  auto id = (*client)->account(options.key.signing_public_key());
  if (!id) return refusal(id.error(), 502);
  json out = {{"account", account},
              {"recipient", options.key.recipient().to_string()},
              {"ledger", options.ledger},
              {"store", options.store},
              {"allow_simulated", options.policy.allow_simulated},
              {"registered", id->has_value()}};
  if (*id) {
    out["name"] = (*id)->name;
    out["balance"] = (*id)->balance;
  }
  return http::json_response(200, out);
}

Result<files::SignedResource> Server::Impl::offered_resource(const ledger::Offer& offer) const {
  // Only descriptors in the user's own store are fetched: an offer's
  // resource is anyone's text, and this process must not be made to fetch
  // arbitrary URLs for the page.
  auto ref = store::parse_blob_uri(offer.resource);
  if (!ref)
    return fail("ui.offer",
                "offer " + std::to_string(offer.id) + "'s resource is not a descriptor in a store");
  auto store = store::open_store(options.store);
  if (!store) return std::unexpected(store.error());
  if (ref->store_uri != (*store)->uri())
    return fail("ui.offer",
                "offer " + std::to_string(offer.id) + "'s descriptor is in another store: " + ref->store_uri);
  auto bytes = (*store)->get_bytes(ref->sha256, files::kMaxDescriptorSize);
  if (!bytes) return std::unexpected(bytes.error());
  auto resource = files::parse_resource(as_chars(*bytes));
  if (!resource) return fail(resource.error(), "offer " + std::to_string(offer.id) + "'s descriptor");
  if (resource->resource.owner != offer.owner)
    return fail("ui.offer", "offer " + std::to_string(offer.id) +
                                "'s descriptor is signed by another account than the offer's owner");
  return resource;
}

http::Response Server::Impl::offers() {
  auto client = ledger();
  if (!client) return refusal(client.error(), 502);
  auto offers = (*client)->offers();
  if (!offers) return refusal(offers.error(), 502);
  auto cvms = (*client)->cvms();
  if (!cvms) return refusal(cvms.error(), 502);
  std::map<ledger::AccountId, std::string> names;
  json list = json::array();
  for (const auto& offer : *offers) {
    json o = to_json(offer);
    o["price_text"] = price_text(offer.price);
    o["mine"] = hex_encode(offer.owner) == account;
    if (!names.contains(offer.owner)) {
      auto owner = (*client)->account(offer.owner);
      names[offer.owner] = owner && *owner ? (*owner)->name : "";
    }
    o["owner_name"] = names[offer.owner];
    if (offer.kind == ledger::OfferKind::Tee) {
      o["cvms"] = std::count_if(cvms->begin(), cvms->end(),
                                [&](const ledger::Cvm& c) { return c.offer == offer.id; });
    } else if (auto resource = offered_resource(offer)) {
      const files::Resource& r = resource->resource;
      o["descriptor"] = {
          {"name", r.name}, {"size", r.plaintext_size}, {"sha256", hex_encode(r.plaintext_sha256)}};
      if (r.engine) o["descriptor"]["engine"] = *r.engine;
    }
    list.push_back(std::move(o));
  }
  return http::json_response(200, {{"offers", std::move(list)}});
}

http::Response Server::Impl::create_offer(const http::Request& request) {
  auto body = parse_body(request.body);
  if (!body) return refusal(body.error());
  auto offer = parse_offer_request(*body);
  if (!offer) return refusal(offer.error());
  if (!offer->descriptor.empty()) {
    auto resource = files::parse_resource(offer->descriptor);
    if (!resource) return refusal(resource.error());
    if (resource->resource.owner != options.key.signing_public_key())
      return http::error_response(403, "ui.offer",
                                  "the descriptor is another account's; offer only what you own");
    if ((offer->kind == "engine") != resource->resource.engine.has_value())
      return http::error_response(400, "ui.offer",
                                  offer->kind == "engine" ? "the descriptor is not an engine image"
                                                          : "the descriptor is an engine image");
    auto store = store::open_store(options.store);
    if (!store) return refusal(store.error(), 502);
    auto blob = (*store)->put_bytes(as_bytes(files::resource_text(*resource)));
    if (!blob) return refusal(blob.error(), 502);
    offer->resource = blob->uri;
  }
  auto client = ledger();
  if (!client) return refusal(client.error(), 502);
  auto receipt = ledger::submit_signed(
      **client, options.key, "offers.create",
      {{"kind", offer->kind}, {"name", offer->name}, {"resource", offer->resource}, {"price", offer->price}});
  if (!receipt) return refusal(receipt.error(), 409);
  return http::json_response(200, {{"offer", receipt->index}, {"resource", offer->resource}});
}

std::optional<std::uint64_t> Server::Impl::start_job(std::initializer_list<const char*> steps,
                                                     std::function<void(std::uint64_t)> work) {
  std::lock_guard lock(mu);
  if (stopping) return std::nullopt;
  const auto running = std::count_if(jobs.begin(), jobs.end(), [](const auto& j) { return !j.second.done; });
  if (running >= kMaxRunningJobs) return std::nullopt;
  const std::uint64_t id = next_job++;
  Job& job = jobs[id];
  for (const char* name : steps) job.steps.push_back(Step{name, "pending", "", -1});
  workers.emplace_back([id, work = std::move(work)] { work(id); });
  return id;
}

http::Response Server::Impl::start_deploy(const http::Request& request) {
  auto body = parse_body(request.body);
  if (!body) return refusal(body.error());
  auto deploy_request = parse_deploy_request(*body);
  if (!deploy_request) return refusal(deploy_request.error());
  auto id = start_job({"Check the offers", "Verify the CVM", "Grant the engine", "Grant the model",
                       "Place the service order", "Wait for the service to start", "Verify the service"},
                      [this, r = *deploy_request](std::uint64_t job) { deploy(job, r); });
  if (!id) return http::error_response(503, "busy", "ward ui is stopping or runs too many jobs; try again");
  return http::json_response(202, {{"job", *id}});
}

http::Response Server::Impl::start_upload(const http::Request& request) {
  auto body = parse_body(request.body);
  if (!body) return refusal(body.error());
  auto upload_request = parse_upload_request(*body);
  if (!upload_request) return refusal(upload_request.error());
  auto id = start_job({"Encrypt and upload", "Create the offer"},
                      [this, r = *upload_request](std::uint64_t job) { upload(job, r); });
  if (!id) return http::error_response(503, "busy", "ward ui is stopping or runs too many jobs; try again");
  return http::json_response(202, {{"job", *id}});
}

// Encrypts the file to the user's own key as `ward files upload` does (the
// store sees ciphertext only), then offers it with its descriptor in the
// store, as an offer made with a descriptor is.
void Server::Impl::upload(std::uint64_t id, UploadRequest request) {
  set_step(id, 0, "running");
  auto store = store::open_store(options.store);
  if (!store) return set_step(id, 0, "failed", store.error().message);
  std::error_code ec;
  const auto size =
      std::filesystem::is_regular_file(request.path, ec) ? std::filesystem::file_size(request.path, ec) : 0;
  store::Progress progress("upload " + request.name, ec ? 0 : size);
  progress.observe([this, id](std::uint64_t done, std::uint64_t total) {
    std::lock_guard lock(mu);
    Step& step = jobs[id].steps[0];
    step.detail = format_bytes(done) + (total ? " of " + format_bytes(total) : "");
    if (total) step.fraction = std::min(1.0, static_cast<double>(done) / static_cast<double>(total));
  });
  auto resource = files::upload(request.path, options.key, **store, {}, &progress);
  if (!resource) return set_step(id, 0, "failed", resource.error().message);
  auto blob = (*store)->put_bytes(as_bytes(files::resource_text(*resource)));
  if (!blob) return set_step(id, 0, "failed", blob.error().message);
  set_step(id, 0, "done",
           format_bytes(resource->resource.plaintext_size) + ", sha256 " +
               hex_encode(resource->resource.plaintext_sha256).substr(0, 16) + "…, encrypted to your key");

  set_step(id, 1, "running");
  auto client = ledger();
  if (!client) return set_step(id, 1, "failed", client.error().message);
  auto receipt = ledger::submit_signed(
      **client, options.key, "offers.create",
      {{"kind", request.kind}, {"name", request.name}, {"resource", blob->uri}, {"price", request.price}});
  if (!receipt) return set_step(id, 1, "failed", receipt.error().message);
  set_step(id, 1, "done", "offer " + std::to_string(receipt->index));
  std::lock_guard lock(mu);
  jobs[id].done = true;
  jobs[id].offer = receipt->index;
}

http::Response Server::Impl::job(const std::string& id) {
  auto n = parse_decimal(id, ~std::uint64_t{0});
  std::lock_guard lock(mu);
  const auto it = n ? jobs.find(*n) : jobs.end();
  if (it == jobs.end()) return http::error_response(404, "not_found", "no job " + id);
  const Job& job = it->second;
  json steps = json::array();
  for (const Step& s : job.steps)
    steps.push_back({{"name", s.name}, {"state", s.state}, {"detail", s.detail}});
  json out = {{"job", it->first}, {"steps", std::move(steps)}, {"done", job.done}, {"error", job.error}};
  if (job.order) out["order"] = *job.order;
  if (job.offer) out["offer"] = *job.offer;
  if (!job.service.is_null()) out["service"] = job.service;
  return http::json_response(200, out);
}

void Server::Impl::set_step(std::uint64_t id, std::size_t step, std::string state, std::string detail) {
  std::lock_guard lock(mu);
  Job& job = jobs[id];
  job.steps[step].state = std::move(state);
  job.steps[step].detail = std::move(detail);
  if (job.steps[step].state == "failed") {
    job.error = job.steps[step].name + ": " + job.steps[step].detail;
    job.done = true;
  }
}

// The service order the page asked for, as `ward files grant --serve` and
// `ward orders create --serve` would place it, one step at a time. Each
// failure ends the job with that step red.
void Server::Impl::deploy(std::uint64_t id, DeployRequest request) {
  std::size_t step = 0;
  auto failed = [&](const Error& error) { set_step(id, step, "failed", error.message); };
  auto client = ledger();
  if (!client) return failed(client.error());

  set_step(id, step, "running");
  auto find_offer = [&](std::uint64_t n, ledger::OfferKind kind, const char* what) -> Result<ledger::Offer> {
    auto offer = (*client)->offer(n);
    if (!offer) return std::unexpected(offer.error());
    if (!*offer) return fail("ui.deploy", "no offer " + std::to_string(n) + " on the ledger");
    if ((*offer)->kind != kind) return fail("ui.deploy", "offer " + std::to_string(n) + " is not " + what);
    if (!(*offer)->enabled) return fail("ui.deploy", "offer " + std::to_string(n) + " is disabled");
    return **offer;
  };
  auto engine_offer = find_offer(request.engine_offer, ledger::OfferKind::Engine, "an engine");
  if (!engine_offer) return failed(engine_offer.error());
  auto model_offer = find_offer(request.model_offer, ledger::OfferKind::Model, "a model");
  if (!model_offer) return failed(model_offer.error());
  auto tee_offer = find_offer(request.tee_offer, ledger::OfferKind::Tee, "TEE capacity");
  if (!tee_offer) return failed(tee_offer.error());
  auto engine = offered_resource(*engine_offer);
  if (!engine) return failed(engine.error());
  if (!engine->resource.engine)
    return failed(Error{"ui.deploy", "the engine offer's descriptor is not an engine image"});
  auto model = offered_resource(*model_offer);
  if (!model) return failed(model.error());
  auto cvms = (*client)->cvms();
  if (!cvms) return failed(cvms.error());
  const ledger::Cvm* cvm = nullptr;
  for (const auto& c : *cvms) {
    if (c.offer == tee_offer->id && (!cvm || c.heartbeat_at > cvm->heartbeat_at)) cvm = &c;
  }
  if (!cvm)
    return failed(Error{"ui.deploy", "TEE offer " + std::to_string(tee_offer->id) + " has no CVM listed"});
  const std::string engine_digest = *engine->resource.engine;
  set_step(id, step++, "done",
           "CVM " + hex_encode(cvm->id).substr(0, 16) + "…, engine " + engine_digest.substr(0, 19) + "…");

  set_step(id, step, "running");
  auto grantee =
      files::verify_grantee(**client, cvm->id, options.ca_cert, options.policy, system_clock::now());
  if (!grantee) return failed(grantee.error());
  set_step(id, step++, "done",
           grantee->appraisal.simulated ? "certificate and evidence verified (SIMULATED TEE)"
                                        : "certificate and evidence verified");

  auto store = store::open_store(options.store);
  if (!store) return failed(store.error());
  const files::OrderTerms terms{cvm->id, engine_digest, {}, options.key.signing_public_key(), true};
  std::vector<std::string> inputs;
  for (const files::SignedResource* resource : {&*engine, &*model}) {
    set_step(id, step, "running");
    if (resource->resource.owner != options.key.signing_public_key()) {
      return failed(Error{"ui.deploy", resource->resource.name + " is " +
                                           hex_encode(resource->resource.owner).substr(0, 16) +
                                           "…'s: its owner grants it to the CVM (ward files grant --serve)"});
    }
    files::GrantLimits limits;
    limits.serve = true;
    auto grant = files::make_grant(*resource, **store, options.key, grantee->recipient, cvm->id,
                                   engine_digest, {}, system_clock::now() + kGrantValidity, limits);
    if (!grant) return failed(grant.error());
    if (auto ok = files::check_grant_for_order(*grant, terms, system_clock::now()); !ok)
      return failed(ok.error());
    auto blob = (*store)->put_bytes(as_bytes(files::grant_text(*grant)));
    if (!blob) return failed(blob.error());
    inputs.push_back(blob->uri);
    set_step(id, step++, "done", "grant " + hex_encode(grant->id).substr(0, 16) + "… to the CVM's key");
  }

  set_step(id, step, "running");
  json args = {
      {"cvm", hex_encode(cvm->id)},
      {"engine", engine_digest},
      {"inputs", inputs},
      {"outputs", json::array()},
      {"offers", {engine_offer->id, model_offer->id}},  // the CVM's tee offer is paid by the contract itself
      {"deposit", request.deposit},
      {"serve", {{"access", "accounts"}, {"accounts", {account}}}}};
  auto receipt = ledger::submit_signed(**client, options.key, "orders.create", std::move(args));
  if (!receipt) return failed(receipt.error());
  const std::uint64_t order_id = receipt->index;
  {
    std::lock_guard lock(mu);
    jobs[id].order = order_id;
  }
  set_step(id, step++, "done",
           "service order " + std::to_string(order_id) + " (record " + std::to_string(receipt->index) + ")");

  set_step(id, step, "running");
  const auto deadline = std::chrono::steady_clock::now() + options.deploy_timeout;
  for (;;) {
    auto order = (*client)->order(order_id);
    if (!order) return failed(order.error());
    if (*order && (*order)->serve && !(*order)->serve->endpoint.empty()) {
      set_step(id, step++, "done", (*order)->serve->endpoint);
      break;
    }
    if (*order && (*order)->status != ledger::OrderStatus::New &&
        (*order)->status != ledger::OrderStatus::Processing)
      return failed(Error{"ui.deploy", "the order ended " + std::string(ledger::to_string((*order)->status)) +
                                           ": " + (*order)->error});
    if (stopping) return failed(Error{"ui.deploy", "ward ui is stopping"});
    if (std::chrono::steady_clock::now() >= deadline)
      return failed(Error{"ui.deploy", "the service did not start within " +
                                           std::to_string(options.deploy_timeout.count()) + " s"});
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }

  set_step(id, step, "running");
  ConnectRequest pins{engine_digest, {model->resource.plaintext_sha256}};
  auto connected = connect_service(order_id, pins);
  if (!connected) return failed(connected.error());
  {
    std::lock_guard lock(mu);
    jobs[id].service = *connected;
  }
  if (!connected->value("accepted", false))
    return failed(
        Error{"ui.deploy", connected->value("rejection", std::string("the service does not verify"))});
  set_step(
      id, step, "done",
      connected->value("simulated", false) ? "every check passed (SIMULATED TEE)" : "every check passed");
  std::lock_guard lock(mu);
  jobs[id].done = true;
}

// Verifies service `order`'s endpoint under `pins` now; when it passes, chat
// goes through a proxy pinned the same way, and when it fails, any earlier
// connection to the service is dropped, so chat is refused.
Result<json> Server::Impl::connect_service(std::uint64_t order_id, const ConnectRequest& request) {
  auto client = ledger();
  if (!client) return std::unexpected(client.error());
  auto order = (*client)->order(order_id);
  if (!order) return std::unexpected(order.error());
  if (!*order || !(*order)->serve)
    return fail("ui.service", "no service order " + std::to_string(order_id) + " on the ledger");
  const std::string endpoint = (*order)->serve->endpoint;
  if (endpoint.empty()) return fail("ui.service", "service " + std::to_string(order_id) + " has not started");
  serve::EndpointPins pins{request.engine, request.models};
  json pins_json = {{"engine", request.engine ? json(*request.engine) : json(nullptr)},
                    {"models", json::array()}};
  for (const auto& m : request.models) pins_json["models"].push_back(hex_encode(m));
  {
    std::lock_guard lock(mu);
    services.erase(order_id);
  }
  auto verified_client = serve::VerifiedClient::open(
      endpoint, serve::ClientOptions{options.ca_cert, options.policy, options.ledger, pins});
  if (!verified_client) return std::unexpected(verified_client.error());
  auto checked = (*verified_client)->verify_now();
  if (!checked) return std::unexpected(checked.error());
  json out = serve::endpoint_verification_json(**checked);
  out["accepted"] = (*checked)->accepted();
  out["simulated"] = (*checked)->appraisal.simulated;
  out["endpoint"] = endpoint;
  out["order"] = order_id;
  out["pins"] = pins_json;
  if (!(*checked)->accepted()) {
    out["rejection"] = serve::rejection_line(**checked);
    return out;
  }
  serve::ProxyOptions proxy_options;
  proxy_options.key = options.key.signing_key();
  proxy_options.receipts = receipts_path(order_id);
  auto proxy = serve::Proxy::create(std::move(*verified_client), std::move(proxy_options));
  if (!proxy) return std::unexpected(proxy.error());
  auto service = std::make_shared<Service>(Service{std::move(*proxy), pins_json});
  std::lock_guard lock(mu);
  services[order_id] = std::move(service);
  return out;
}

http::Response Server::Impl::services_route(const http::Request& request) {
  std::string_view rest = std::string_view(request.path).substr(kServicesPrefix.size());
  const auto slash = rest.find('/');
  auto order = parse_decimal(rest.substr(0, slash), ~std::uint64_t{0});
  if (!order || slash == std::string_view::npos)
    return http::error_response(404, "unknown_path", "no such service path");
  const std::string_view action = rest.substr(slash);
  if (action == "/connect") {
    if (request.method != "POST") return http::error_response(405, "method_not_allowed", "POST only");
    return connect(*order, request);
  }
  if (action == "/verification") {
    if (request.method != "GET") return http::error_response(405, "method_not_allowed", "GET only");
    return verification(*order);
  }
  if (action.starts_with("/v1/")) {
    if (request.method != "POST" && request.method != "GET")
      return http::error_response(405, "method_not_allowed", "GET or POST only");
    return forward(*order, action, request);
  }
  return http::error_response(404, "unknown_path", "no such service path");
}

http::Response Server::Impl::connect(std::uint64_t order, const http::Request& request) {
  auto body = parse_body(request.body);
  if (!body) return refusal(body.error());
  auto pins = parse_connect_request(*body);
  if (!pins) return refusal(pins.error());
  auto connected = connect_service(order, *pins);
  if (!connected) return refusal(connected.error(), 502);
  return http::json_response(200, *connected);
}

http::Response Server::Impl::verification(std::uint64_t order) {
  std::shared_ptr<Service> service;
  {
    std::lock_guard lock(mu);
    if (auto it = services.find(order); it != services.end()) service = it->second;
  }
  if (!service)
    return http::error_response(409, "not_verified",
                                "service " + std::to_string(order) + " is not connected: verify it first");
  auto checked = service->proxy->client().verify_now();
  if (!checked) return refusal(checked.error(), 502);
  json out = serve::endpoint_verification_json(**checked);
  out["accepted"] = (*checked)->accepted();
  out["simulated"] = (*checked)->appraisal.simulated;
  out["order"] = order;
  out["pins"] = service->pins;
  if (!(*checked)->accepted()) {
    out["rejection"] = serve::rejection_line(**checked);
    std::lock_guard lock(mu);
    services.erase(order);
  }
  return http::json_response(200, out);
}

http::Response Server::Impl::forward(std::uint64_t order, std::string_view target,
                                     const http::Request& request) {
  std::shared_ptr<Service> service;
  {
    std::lock_guard lock(mu);
    if (auto it = services.find(order); it != services.end()) service = it->second;
  }
  if (!service) {
    return http::error_response(
        409, "not_verified",
        "service " + std::to_string(order) + " has not passed verification under your pins; chat is refused");
  }
  // Only what an OpenAI-style call needs goes on: never the session token,
  // cookies or the page's other headers.
  http::Request outgoing;
  outgoing.method = request.method;
  outgoing.target = std::string(target);
  outgoing.path = std::string(target);
  outgoing.body = request.body;
  outgoing.peer = request.peer;
  for (std::string_view name : {"Content-Type", "Accept"}) {
    if (auto value = request.header(name))
      outgoing.headers.push_back({std::string(name), std::string(*value)});
  }
  http::Response response = service->proxy->handle(outgoing);
  // Back to the page goes the body and its type, nothing else a service
  // chose (cookies, its own security headers); and only data types, so that
  // nothing a service sends can be read as a page of this origin.
  const std::string type(http::find_header(response.headers, "Content-Type").value_or(""));
  const bool data = type.starts_with("application/json") || type.starts_with("text/event-stream");
  response.headers.clear();
  response.set_header("Content-Type", data ? type : "text/plain; charset=utf-8");
  return response;
}

// POST /api/orders/ID/cancel: a new order is canceled, a running service
// asked to stop (its CVM ends it with a final report).
http::Response Server::Impl::cancel(const http::Request& request) {
  std::string_view rest = std::string_view(request.path).substr(kOrdersPrefix.size());
  const auto slash = rest.find('/');
  auto order = parse_decimal(rest.substr(0, slash), ~std::uint64_t{0});
  if (!order || slash == std::string_view::npos || rest.substr(slash) != "/cancel")
    return http::error_response(404, "unknown_path", "no such order path");
  if (request.method != "POST") return http::error_response(405, "method_not_allowed", "POST only");
  auto client = ledger();
  if (!client) return refusal(client.error(), 502);
  auto receipt = ledger::submit_signed(**client, options.key, "orders.cancel", {{"order", *order}});
  if (!receipt) return refusal(receipt.error(), 409);
  {
    std::lock_guard lock(mu);
    services.erase(*order);
  }
  return http::json_response(200, {{"order", *order}, {"record", receipt->index}});
}

http::Response Server::Impl::orders() {
  auto client = ledger();
  if (!client) return refusal(client.error(), 502);
  ledger::OrderFilter filter;
  filter.creator = options.key.signing_public_key();
  auto orders = (*client)->orders(filter);
  if (!orders) return refusal(orders.error(), 502);
  std::set<std::uint64_t> connected;
  {
    std::lock_guard lock(mu);
    for (const auto& [id, service] : services) connected.insert(id);
  }
  json list = json::array();
  for (const auto& order : *orders) {
    json o = to_json(order);
    o["connected"] = connected.contains(order.id);
    auto report = (*client)->report(order.id);
    if (report && *report) {
      loader::VerifyOptions verify{options.ca_cert, options.policy, {}, std::nullopt, "", !order.serve, ""};
      const auto v = loader::verify_order(**client, order.id, verify);
      o["verification"] = loader::verification_json(v);
      o["verification"].erase("report");
    }
    if (order.serve && options.usage) {
      std::error_code ec;
      const std::string receipts = receipts_path(order.id);
      auto usage = options.usage(**client, order.id, std::filesystem::exists(receipts, ec) ? receipts : "");
      o["usage"] = usage ? *usage : json{{"error", usage.error().message}};
    }
    list.push_back(std::move(o));
  }
  return http::json_response(200, {{"orders", std::move(list)}, {"account", account}});
}

}  // namespace ward::ui
