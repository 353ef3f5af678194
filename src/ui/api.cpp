#include "ui/api.h"

#include <utility>

#include "base/bytes.h"
#include "crypto/secret.h"
#include "ledger/tx.h"

namespace ward::ui {
namespace {

using json = nlohmann::json;

constexpr std::string_view kApiPrefix = "/api/";
constexpr std::string_view kBearer = "Bearer ";
constexpr std::string_view kEnginePrefix = "sha256:";
constexpr std::size_t kMaxNameBytes = 200;
constexpr std::size_t kMaxResourceBytes = 4096;

bool own_authority(std::string_view authority, const Gate& gate) {
  const std::string port = ":" + std::to_string(gate.port);
  return authority == "127.0.0.1" + port || authority == "localhost" + port;
}

bool own_origin(std::string_view origin, const Gate& gate) {
  constexpr std::string_view kScheme = "http://";
  return origin.starts_with(kScheme) && own_authority(origin.substr(kScheme.size()), gate);
}

Result<std::string> string_field(const json& body, const char* name, std::size_t max, bool required) {
  const auto it = body.find(name);
  if (it == body.end() || it->is_null()) {
    if (required) return fail("ui.request", std::string(name) + " is missing");
    return std::string();
  }
  if (!it->is_string()) return fail("ui.request", std::string(name) + " is not a string");
  std::string value = it->get<std::string>();
  if (value.size() > max)
    return fail("ui.request", std::string(name) + " is longer than " + std::to_string(max) + " bytes");
  return value;
}

Result<std::uint64_t> amount_field(const json& body, const char* name, std::uint64_t max) {
  const auto it = body.find(name);
  if (it == body.end()) return fail("ui.request", std::string(name) + " is missing");
  // Parsed text gives unsigned numbers; JSON built in C++ may hold signed ones.
  if (!it->is_number_integer() || (!it->is_number_unsigned() && it->get<std::int64_t>() < 0))
    return fail("ui.request", std::string(name) + " is not a whole number");
  const std::uint64_t value = it->get<std::uint64_t>();
  if (value > max) return fail("ui.request", std::string(name) + " is over " + std::to_string(max));
  return value;
}

Result<void> only_fields(const json& body, std::initializer_list<std::string_view> names) {
  for (const auto& [key, value] : body.items()) {
    bool known = false;
    for (auto name : names) known = known || key == name;
    if (!known) return fail("ui.request", "unknown field " + json(key).dump());
  }
  return {};
}

Result<json> parse_price(const json& body) {
  const auto it = body.find("price");
  if (it == body.end() || !it->is_object()) return fail("ui.request", "price is not an object");
  auto model = string_field(*it, "model", 32, true);
  if (!model) return std::unexpected(model.error());
  if (*model == "revenue_share") {
    if (auto ok = only_fields(*it, {"model", "bps"}); !ok) return std::unexpected(ok.error());
    auto bps = amount_field(*it, "bps", 10000);
    if (!bps) return std::unexpected(bps.error());
    return json{{"model", *model}, {"bps", *bps}};
  }
  if (*model != "fixed" && *model != "per_hour")
    return fail("ui.request", "price.model is not fixed, per_hour or revenue_share");
  if (auto ok = only_fields(*it, {"model", "amount"}); !ok) return std::unexpected(ok.error());
  auto amount = amount_field(*it, "amount", ledger::kMaxAmount);
  if (!amount) return std::unexpected(amount.error());
  return json{{"model", *model}, {"amount", *amount}};
}

}  // namespace

std::optional<http::Response> refuse(const http::Request& request, const Gate& gate) {
  const auto host = request.header("Host");
  if (!host || !own_authority(*host, gate))
    return http::error_response(403, "host", "this server answers only to its own loopback address");
  if (const auto origin = request.header("Origin"); origin && !own_origin(*origin, gate))
    return http::error_response(403, "origin", "requests from another origin are refused");
  if (const auto site = request.header("Sec-Fetch-Site"); site && *site != "same-origin" && *site != "none")
    return http::error_response(403, "origin", "requests from another site are refused");
  if (!request.path.starts_with(kApiPrefix)) return std::nullopt;

  const auto authorization = request.header("Authorization");
  const std::string_view given =
      authorization && authorization->starts_with(kBearer) ? authorization->substr(kBearer.size()) : "";
  if (!crypto::ct_equal(as_bytes(given), as_bytes(gate.token)))
    return http::error_response(401, "token",
                                "the session token is missing or wrong; open the URL ward ui printed");
  if (request.method == "POST") {
    const auto type = request.header("Content-Type");
    if (!type || !(*type == "application/json" || type->starts_with("application/json;")))
      return http::error_response(415, "content_type", "the API takes application/json bodies only");
    if (request.body.size() > kMaxBodyBytes)
      return http::error_response(413, "body_too_large",
                                  "the body is over " + std::to_string(kMaxBodyBytes) + " bytes");
  }
  return std::nullopt;
}

Result<json> parse_body(std::string_view body) {
  if (body.size() > kMaxBodyBytes) return fail("ui.request", "the body is too large");
  auto parsed = ledger::parse_strict_json(body);
  if (!parsed) return fail("ui.request", "the body is not JSON: " + parsed.error().message);
  if (!parsed->is_object()) return fail("ui.request", "the body is not a JSON object");
  return parsed;
}

Result<OfferRequest> parse_offer_request(const json& body) {
  if (auto ok = only_fields(body, {"kind", "name", "resource", "descriptor", "price"}); !ok)
    return std::unexpected(ok.error());
  OfferRequest out;
  auto kind = string_field(body, "kind", 16, true);
  if (!kind) return std::unexpected(kind.error());
  if (*kind != "engine" && *kind != "dataset" && *kind != "model" && *kind != "tee")
    return fail("ui.request", "kind is not engine, dataset, model or tee");
  out.kind = std::move(*kind);
  auto name = string_field(body, "name", kMaxNameBytes, true);
  if (!name) return std::unexpected(name.error());
  if (name->empty()) return fail("ui.request", "name is empty");
  out.name = std::move(*name);
  auto resource = string_field(body, "resource", kMaxResourceBytes, false);
  if (!resource) return std::unexpected(resource.error());
  out.resource = std::move(*resource);
  auto descriptor = string_field(body, "descriptor", kMaxBodyBytes, false);
  if (!descriptor) return std::unexpected(descriptor.error());
  out.descriptor = std::move(*descriptor);
  if (out.resource.empty() == out.descriptor.empty())
    return fail("ui.request", "give exactly one of resource and descriptor");
  if (!out.descriptor.empty() && out.kind != "engine" && out.kind != "model" && out.kind != "dataset")
    return fail("ui.request", "a descriptor is for an engine, model or dataset offer");
  auto price = parse_price(body);
  if (!price) return std::unexpected(price.error());
  out.price = std::move(*price);
  return out;
}

Result<UploadRequest> parse_upload_request(const json& body) {
  if (auto ok = only_fields(body, {"path", "kind", "name", "price"}); !ok) return std::unexpected(ok.error());
  UploadRequest out;
  auto path = string_field(body, "path", kMaxResourceBytes, true);
  if (!path) return std::unexpected(path.error());
  if (!path->starts_with('/')) return fail("ui.request", "path is not an absolute path");
  out.path = std::move(*path);
  auto kind = string_field(body, "kind", 16, true);
  if (!kind) return std::unexpected(kind.error());
  if (*kind != "model" && *kind != "dataset") return fail("ui.request", "kind is not model or dataset");
  out.kind = std::move(*kind);
  auto name = string_field(body, "name", kMaxNameBytes, true);
  if (!name) return std::unexpected(name.error());
  if (name->empty()) return fail("ui.request", "name is empty");
  out.name = std::move(*name);
  auto price = parse_price(body);
  if (!price) return std::unexpected(price.error());
  out.price = std::move(*price);
  return out;
}

Result<DeployRequest> parse_deploy_request(const json& body) {
  if (auto ok = only_fields(body, {"engine_offer", "model_offer", "tee_offer", "deposit"}); !ok)
    return std::unexpected(ok.error());
  DeployRequest out;
  for (auto [name, field] :
       {std::pair{"engine_offer", &out.engine_offer}, std::pair{"model_offer", &out.model_offer},
        std::pair{"tee_offer", &out.tee_offer}, std::pair{"deposit", &out.deposit}}) {
    auto value = amount_field(body, name, ledger::kMaxAmount);
    if (!value) return std::unexpected(value.error());
    *field = *value;
  }
  return out;
}

Result<ConnectRequest> parse_connect_request(const json& body) {
  if (auto ok = only_fields(body, {"engine", "models"}); !ok) return std::unexpected(ok.error());
  ConnectRequest out;
  auto engine = string_field(body, "engine", 128, false);
  if (!engine) return std::unexpected(engine.error());
  if (!engine->empty()) {
    if (!engine->starts_with(kEnginePrefix) || !ledger::parse_id(engine->substr(kEnginePrefix.size())))
      return fail("ui.request", "engine is not sha256:<64 lower-case hex digits>");
    out.engine = std::move(*engine);
  }
  if (const auto models = body.find("models"); models != body.end()) {
    if (!models->is_array() || models->size() > 16)
      return fail("ui.request", "models is not a list of digests");
    for (const auto& model : *models) {
      if (!model.is_string()) return fail("ui.request", "models is not a list of digests");
      auto digest = ledger::parse_id(model.get<std::string>());
      if (!digest) return fail("ui.request", "a model is not 64 lower-case hex digits");
      out.models.push_back(*digest);
    }
  }
  return out;
}

}  // namespace ward::ui
