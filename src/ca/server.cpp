#include "ca/server.h"

#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "ca/certificate.h"
#include "http/router.h"

namespace ward::ca {
namespace {

using json = nlohmann::json;
using http::Request;
using http::Response;

constexpr const char* kMalformed = "malformed";
constexpr const char* kInternal = "internal";
constexpr const char* kPemType = "application/x-pem-file";

constexpr std::chrono::seconds kConnectTimeout{10};
// Verifying evidence with its collateral takes milliseconds; this is for a
// loaded center and a slow network.
constexpr std::chrono::seconds kRequestTimeout{60};

Response send_json(int status, const json& body) {
  return http::json_response(status, body);
}

struct CertificateRequest {
  attest::EvidenceBundle evidence;
  crypto::Ed25519PublicKey signing_key{};
  age::X25519Recipient recipient{crypto::X25519PublicKey{}};
};

// Errors carry the reason to answer with: "malformed", or the bundle's code.
Result<CertificateRequest> parse_request(std::string_view body) {
  const json j = json::parse(body, nullptr, false);
  if (j.is_discarded()) return fail(kMalformed, "the request body is not JSON");
  if (!j.is_object()) return fail(kMalformed, "the request body is not a JSON object");
  for (const auto& [name, value] : j.items()) {
    if (name != "evidence" && name != "signing_key" && name != "age_recipient")
      return fail(kMalformed, "unknown field \"" + name + "\"");
  }
  const auto evidence = j.find("evidence");
  const auto key = j.find("signing_key");
  const auto recipient = j.find("age_recipient");
  if (evidence == j.end() || !evidence->is_object())
    return fail(kMalformed, "\"evidence\" must be a ward/evidence/v1 object");
  if (key == j.end() || !key->is_string())
    return fail(kMalformed, "\"signing_key\" must be the Ed25519 public key in hex");
  if (recipient == j.end() || !recipient->is_string())
    return fail(kMalformed, "\"age_recipient\" must be an age1... recipient");

  CertificateRequest out;
  auto key_bytes = hex_decode(key->get_ref<const std::string&>());
  if (!key_bytes || key_bytes->size() != out.signing_key.size())
    return fail(kMalformed, "\"signing_key\" is not 32 bytes of hex");
  std::ranges::copy(*key_bytes, out.signing_key.begin());
  auto parsed_recipient = age::X25519Recipient::parse(recipient->get_ref<const std::string&>());
  if (!parsed_recipient) return fail(kMalformed, "\"age_recipient\": " + parsed_recipient.error().message);
  out.recipient = *parsed_recipient;
  auto bundle = attest::parse_bundle(evidence->dump(-1, ' ', false, json::error_handler_t::strict));
  if (!bundle) return std::unexpected(bundle.error());
  out.evidence = std::move(*bundle);
  return out;
}

std::unexpected<Error> client_error(std::string_view url, const std::string& why) {
  return fail("ca.client", "the certification center at " + std::string(url) + ": " + why);
}

Result<httplib::Client> open_client(std::string_view url) {
  const auto base = http::base_url(url);
  if (!base)
    return fail("ca.client",
                "bad certification center URL '" + std::string(url) + "' (expected http://HOST:PORT)");
  httplib::Client http(*base);
  http.set_connection_timeout(kConnectTimeout);
  http.set_read_timeout(kRequestTimeout);
  http.set_write_timeout(kRequestTimeout);
  return http;
}

}  // namespace

struct CaServer::Impl {
  const CertificationCenter& center;
  const attest::Policy& policy;
  ServerOptions options;
  http::Router router;
  bool bound = false;
  http::Server http;

  Impl(const CertificationCenter& c, const attest::Policy& p, ServerOptions o)
      : center(c),
        policy(p),
        options(o),
        http([this](const Request& req) { return router.handle(req); }, http_options(o)) {
    router.add("POST", "/v1/certificates",
               [this](const Request& req, const std::string&) { return issue(req); });
    router.add("GET", "/v1/ca", [this](const Request&, const std::string&) {
      Response res;
      res.set_content(center.certificate().to_pem(), kPemType);
      return res;
    });
  }

  static http::ServerOptions http_options(const ServerOptions& o) {
    http::ServerOptions h = o.http;
    h.threads = std::max<std::size_t>(o.threads, 2);
    h.limits.max_body_bytes = kMaxRequestSize;
    return h;
  }

  Response issue(const Request& req) const {
    auto request = parse_request(req.body);
    if (!request) {
      const std::string& reason = request.error().code;
      return http::error_response(400, reason, request.error().message);
    }
    auto issued = center.issue(request->evidence, request->signing_key, request->recipient, policy,
                               std::chrono::system_clock::now(), options.validity);
    if (!issued) return http::error_response(500, kInternal, issued.error().message);
    if (!issued->certificate) {
      const attest::CheckResult* failed = issued->appraisal.checks.first_failure();
      json body = {{"error",
                    {{"reason", failed ? failed->name : "rejected"},
                     {"message", failed ? failed->detail : "the evidence was not accepted"}}},
                   {"appraisal", attest::appraisal_to_json(issued->appraisal)}};
      return send_json(422, body);
    }
    return send_json(201, {{"certificate", issued->certificate->to_pem()},
                           {"cvm_id", hex_encode(cvm_id(request->signing_key))},
                           {"simulated", issued->appraisal.simulated}});
  }
};

CaServer::CaServer(const CertificationCenter& center, const attest::Policy& policy, ServerOptions options)
    : impl_(std::make_unique<Impl>(center, policy, options)) {}

CaServer::~CaServer() {
  stop();
}

Result<int> CaServer::bind(std::string_view host, int port) {
  auto bound = impl_->http.bind(host, port);
  if (!bound) return fail("ca.server", bound.error().message);
  impl_->bound = true;
  return bound;
}

Result<void> CaServer::serve() {
  if (!impl_->bound) return fail("ca.server", "serve() before bind()");
  auto served = impl_->http.serve();
  if (!served) return fail("ca.server", served.error().message);
  return {};
}

void CaServer::stop() {
  impl_->http.stop();
}

Result<crypto::Certificate> request_certificate(std::string_view url, const attest::EvidenceBundle& evidence,
                                                const crypto::Ed25519PublicKey& signing_key,
                                                const age::X25519Recipient& recipient) {
  auto http = open_client(url);
  if (!http) return std::unexpected(http.error());
  const std::string bundle_json = attest::bundle_to_json(evidence);
  json body = {{"evidence", json::parse(bundle_json, nullptr, false)},
               {"signing_key", hex_encode(signing_key)},
               {"age_recipient", recipient.to_string()}};
  auto res = http->Post("/v1/certificates", body.dump(), "application/json");
  if (!res) return client_error(url, "unreachable: " + httplib::to_string(res.error()));
  const json answer = json::parse(res->body, nullptr, false);
  if (res->status != 201) {
    std::string message = "refused the request with HTTP " + std::to_string(res->status);
    if (answer.is_object() && answer.contains("error") && answer["error"].is_object()) {
      const json& e = answer["error"];
      if (e.contains("reason") && e["reason"].is_string() && e.contains("message") &&
          e["message"].is_string())
        message += " (" + e["reason"].get<std::string>() + "): " + e["message"].get<std::string>();
    }
    return fail("ca.refused", "the certification center at " + std::string(url) + " " + message);
  }
  if (!answer.is_object() || !answer.contains("certificate") || !answer["certificate"].is_string())
    return client_error(url, "the answer holds no certificate");
  auto cert = crypto::Certificate::from_pem(answer["certificate"].get<std::string>());
  if (!cert) return client_error(url, "the certificate does not parse: " + cert.error().message);
  auto contents = read_cvm_certificate(*cert);
  if (!contents)
    return client_error(url, "the certificate is not a CVM certificate: " + contents.error().message);
  if (contents->identity.signing_key != signing_key ||
      contents->identity.recipient.key() != recipient.key() ||
      attest::bundle_to_json(contents->evidence) != bundle_json) {
    return client_error(url, "the certificate is for other keys or other evidence than those sent");
  }
  return cert;
}

Result<crypto::Certificate> fetch_ca_certificate(std::string_view url) {
  auto http = open_client(url);
  if (!http) return std::unexpected(http.error());
  auto res = http->Get("/v1/ca");
  if (!res) return client_error(url, "unreachable: " + httplib::to_string(res.error()));
  if (res->status != 200)
    return client_error(url, "answered /v1/ca with HTTP " + std::to_string(res->status));
  auto cert = crypto::Certificate::from_pem(res->body);
  if (!cert) return client_error(url, "the CA certificate does not parse: " + cert.error().message);
  return cert;
}

}  // namespace ward::ca
