#include "ca/server.h"

#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <exception>
#include <string>
#include <sys/socket.h>
#include <utility>

#include <nlohmann/json.hpp>

#include "ca/certificate.h"

namespace ward::ca {
namespace {

using json = nlohmann::json;
using httplib::Request;
using httplib::Response;

constexpr const char* kMalformed = "malformed";
constexpr const char* kTooLarge = "too_large";
constexpr const char* kInternal = "internal";
constexpr const char* kPemType = "application/x-pem-file";

constexpr std::chrono::seconds kConnectTimeout{10};
// Verifying evidence with its collateral takes milliseconds; this is for a
// loaded center and a slow network.
constexpr std::chrono::seconds kRequestTimeout{60};

void send_json(Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
}

void send_error(Response& res, int status, std::string_view reason, std::string_view message) {
  send_json(res, status, {{"error", {{"reason", reason}, {"message", message}}}});
}

std::pair<const char*, std::string> httplib_refusal(int status) {
  switch (status) {
    case 400:
      return {kMalformed, "the request is not valid HTTP"};
    case 404:
      return {"unknown_path", "no such endpoint"};
    case 408:
      return {"timeout", "the request did not arrive in time"};
    case 413:
      // httplib holds bodies sent as forms (curl's default type) to 8 KiB.
      return {kTooLarge, "the request body is too large: at most " + std::to_string(kMaxRequestSize) +
                             " bytes as application/json, 8192 as a form"};
    case 414:
    case 431:
      return {kTooLarge, "the request line or headers are too long"};
    default:
      if (status >= 500) return {kInternal, "the server failed"};
      return {"http_error", "HTTP status " + std::to_string(status)};
  }
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

// httplib listens with a backlog of 5; see ledger/server.cpp.
class HttpServer final : public httplib::Server {
 public:
  bool raise_backlog() { return ::listen(svr_sock_, SOMAXCONN) == 0; }
};

std::unexpected<Error> client_error(std::string_view url, const std::string& why) {
  return fail("ca.client", "the certification center at " + std::string(url) + ": " + why);
}

// "http://HOST:PORT" without a trailing slash, or nullopt.
std::optional<std::string> base_url(std::string_view url) {
  constexpr std::string_view kScheme = "http://";
  std::string base(url);
  while (base.ends_with('/')) base.pop_back();
  if (!base.starts_with(kScheme)) return std::nullopt;
  const std::string_view rest = std::string_view(base).substr(kScheme.size());
  if (rest.empty() || rest.find_first_of("/?#@ ") != std::string_view::npos) return std::nullopt;
  return base;
}

Result<httplib::Client> open_client(std::string_view url) {
  const auto base = base_url(url);
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
  HttpServer http;
  std::atomic<bool> stopping{false};
  bool bound = false;

  Impl(const CertificationCenter& c, const attest::Policy& p, ServerOptions o)
      : center(c), policy(p), options(o) {
    const std::size_t threads = std::max<std::size_t>(options.threads, 2);
    http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    http.set_payload_max_length(kMaxRequestSize);
    http.set_read_timeout(options.io_timeout);
    http.set_write_timeout(options.io_timeout);
    http.set_keep_alive_timeout(options.keep_alive.count());
    http.set_pre_routing_handler([](const Request& req, Response& res) {
      const std::string method = req.method == "HEAD" ? "GET" : req.method;
      const char* allowed = req.path == "/v1/certificates" ? "POST" : req.path == "/v1/ca" ? "GET" : nullptr;
      if (allowed == nullptr) {
        send_error(res, 404, "unknown_path", "no such endpoint: " + req.path);
        return httplib::Server::HandlerResponse::Handled;
      }
      if (method != allowed) {
        res.set_header("Allow", allowed);
        send_error(res, 405, "method_not_allowed",
                   req.method + " is not allowed on " + req.path + " (use " + allowed + ")");
        return httplib::Server::HandlerResponse::Handled;
      }
      return httplib::Server::HandlerResponse::Unhandled;
    });
    http.Post("/v1/certificates", [this](const Request& req, Response& res) { issue(req, res); });
    http.Get("/v1/ca", [this](const Request&, Response& res) {
      res.set_content(center.certificate().to_pem(), kPemType);
    });
    http.set_error_handler(httplib::Server::HandlerWithResponse([](const Request&, Response& res) {
      if (res.body.empty()) {
        const auto [why, message] = httplib_refusal(res.status);
        send_error(res, res.status, why, message);
      }
      return httplib::Server::HandlerResponse::Handled;
    }));
    http.set_exception_handler([](const Request&, Response& res, std::exception_ptr ep) {
      std::string what = "unexpected failure";
      try {
        if (ep) std::rethrow_exception(ep);
      } catch (const std::exception& e) {
        what = e.what();
      } catch (...) {
      }
      send_error(res, 500, kInternal, what);
    });
  }

  void issue(const Request& req, Response& res) {
    auto request = parse_request(req.body);
    if (!request) {
      const std::string& reason = request.error().code;
      return send_error(res, 400, reason, request.error().message);
    }
    auto issued = center.issue(request->evidence, request->signing_key, request->recipient, policy,
                               std::chrono::system_clock::now(), options.validity);
    if (!issued) return send_error(res, 500, kInternal, issued.error().message);
    if (!issued->certificate) {
      const attest::CheckResult* failed = issued->appraisal.checks.first_failure();
      json body = {{"error",
                    {{"reason", failed ? failed->name : "rejected"},
                     {"message", failed ? failed->detail : "the evidence was not accepted"}}},
                   {"appraisal", attest::appraisal_to_json(issued->appraisal)}};
      return send_json(res, 422, body);
    }
    send_json(res, 201,
              {{"certificate", issued->certificate->to_pem()},
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
  const std::string h(host);
  if (port == 0) {
    port = impl_->http.bind_to_any_port(h);
    if (port <= 0) return fail("ca.server", "cannot listen on " + h + " (any port)");
  } else if (!impl_->http.bind_to_port(h, port)) {
    return fail("ca.server", "cannot listen on " + h + ":" + std::to_string(port) +
                                 " (in use, or not an address of this machine)");
  }
  if (!impl_->http.raise_backlog()) return fail("ca.server", "cannot raise the listen backlog");
  impl_->bound = true;
  return port;
}

Result<void> CaServer::serve() {
  if (!impl_->bound) return fail("ca.server", "serve() before bind()");
  if (impl_->stopping) return {};
  if (!impl_->http.listen_after_bind() && !impl_->stopping) {
    return fail("ca.server", "the HTTP server stopped unexpectedly");
  }
  return {};
}

void CaServer::stop() {
  impl_->stopping = true;
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
