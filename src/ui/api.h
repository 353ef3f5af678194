// What `ward ui` reads from the page, as pure functions (fuzzed by
// tests/fuzz/fuzz_ui_request.cpp): the gate every request passes before a
// route sees it, and the JSON bodies of the API's POSTs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "crypto/hash.h"
#include "http/message.h"

namespace ward::ui {

// An API body larger than this is refused (the largest, an offer with a
// descriptor, is a few KiB).
inline constexpr std::size_t kMaxBodyBytes = 64 * 1024;

// What binds a request to the one page the user opened: the session token
// printed in its URL, and the loopback address the server listens on.
struct Gate {
  std::string token;  // 64 hex digits
  int port = 0;
};

// The refusal for `request`, or nullopt when it may pass. Every request:
// its Host must be 127.0.0.1:PORT or localhost:PORT (403 "host": DNS
// rebinding), an Origin or Sec-Fetch-Site must be this server's own (403
// "origin": CSRF). A request under /api/ must also carry
// "Authorization: Bearer TOKEN", compared in constant time (401 "token"),
// and a POST there a JSON body (415 "content_type", 413 "body_too_large").
std::optional<http::Response> refuse(const http::Request& request, const Gate& gate);

// A body that is one JSON object, strictly parsed (no duplicate keys).
// Errors: "ui.request".
Result<nlohmann::json> parse_body(std::string_view body);

// POST /api/offers. `descriptor`, for an engine or model, is the signed
// descriptor (RES.json) whose store URI becomes the offer's resource.
struct OfferRequest {
  std::string kind;  // engine, dataset, model, tee
  std::string name;
  std::string resource;    // empty when `descriptor` is given
  std::string descriptor;  // RES.json text, or empty
  nlohmann::json price;    // the ledger's price object
};
Result<OfferRequest> parse_offer_request(const nlohmann::json& body);

// POST /api/uploads: a file or directory on this machine, encrypted to the
// user's own key and put in the store, then offered. Engines are packed and
// uploaded with `ward engine pack` and `ward files upload`.
struct UploadRequest {
  std::string path;  // absolute
  std::string kind;  // model or dataset
  std::string name;
  nlohmann::json price;
};
Result<UploadRequest> parse_upload_request(const nlohmann::json& body);

// POST /api/deploy: a service of an engine offer and a model offer on a CVM
// of a TEE offer, paid from `deposit`.
struct DeployRequest {
  std::uint64_t engine_offer = 0;
  std::uint64_t model_offer = 0;
  std::uint64_t tee_offer = 0;
  std::uint64_t deposit = 0;
};
Result<DeployRequest> parse_deploy_request(const nlohmann::json& body);

// POST /api/services/ID/connect: the pins the user expects of service ID.
struct ConnectRequest {
  std::optional<std::string> engine;         // "sha256:<hex>"
  std::vector<crypto::Sha256Digest> models;  // plaintext SHA-256 of each
};
Result<ConnectRequest> parse_connect_request(const nlohmann::json& body);

}  // namespace ward::ui
