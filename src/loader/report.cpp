#include "loader/report.h"

#include <algorithm>
#include <initializer_list>
#include <limits>
#include <utility>

#include "base/bytes.h"

namespace ward::loader {
namespace {

using json = nlohmann::json;

std::unexpected<Error> bad(const std::string& message) {
  return fail("report.parse", message);
}

Result<void> only_fields(const json& object, std::initializer_list<std::string_view> names,
                         std::string_view where) {
  if (!object.is_object()) return bad(std::string(where) + " is not a JSON object");
  for (const auto& [key, value] : object.items()) {
    if (std::find(names.begin(), names.end(), key) == names.end()) {
      return bad(std::string(where) + " has an unknown field \"" + key + "\"");
    }
  }
  for (std::string_view name : names) {
    if (!object.contains(name)) return bad(std::string(where) + " lacks \"" + std::string(name) + "\"");
  }
  return {};
}

Result<std::string> text_field(const json& object, const char* key) {
  const json& v = object.at(key);
  if (!v.is_string()) return bad(std::string("\"") + key + "\" must be a string");
  return v.get<std::string>();
}

Result<std::uint64_t> uint_field(const json& object, const char* key) {
  const json& v = object.at(key);
  const bool whole = v.is_number_unsigned() || (v.is_number_integer() && v.get<std::int64_t>() >= 0);
  if (!whole || v.get<std::uint64_t>() > ledger::kMaxAmount) {
    return bad(std::string("\"") + key + "\" must be a whole number");
  }
  return v.get<std::uint64_t>();
}

template <std::size_t N>
Result<std::array<std::uint8_t, N>> hex_field(const json& object, const char* key) {
  auto text = text_field(object, key);
  if (!text) return std::unexpected(text.error());
  auto bytes = hex_decode(*text);
  if (!bytes || bytes->size() != N || hex_encode(*bytes) != *text) {
    return bad(std::string("\"") + key + "\" must be " + std::to_string(2 * N) + " lower-case hex digits");
  }
  std::array<std::uint8_t, N> out{};
  std::copy(bytes->begin(), bytes->end(), out.begin());
  return out;
}

json input_json(const ReportInput& in) {
  return {{"resource", hex_encode(in.resource)},
          {"plaintext_sha256", hex_encode(in.plaintext_sha256)},
          {"owner", hex_encode(in.owner)},
          {"grant", hex_encode(in.grant)}};
}

Result<ReportInput> parse_input(const json& j) {
  if (auto ok = only_fields(j, {"resource", "plaintext_sha256", "owner", "grant"}, "an input"); !ok) {
    return std::unexpected(ok.error());
  }
  ReportInput in;
  auto resource = hex_field<32>(j, "resource");
  auto plaintext = hex_field<32>(j, "plaintext_sha256");
  auto owner = hex_field<32>(j, "owner");
  auto grant = hex_field<32>(j, "grant");
  for (const auto* r : {&resource, &plaintext, &owner, &grant}) {
    if (!*r) return std::unexpected(r->error());
  }
  in.resource = *resource;
  in.plaintext_sha256 = *plaintext;
  in.owner = *owner;
  in.grant = *grant;
  return in;
}

Result<std::vector<std::string>> string_list(const json& object, const char* key) {
  const json& v = object.at(key);
  if (!v.is_array()) return bad(std::string("\"") + key + "\" must be an array of strings");
  std::vector<std::string> out;
  for (const auto& item : v) {
    if (!item.is_string()) return bad(std::string("\"") + key + "\" must be an array of strings");
    out.push_back(item.get<std::string>());
  }
  return out;
}

std::string signed_bytes(const json& report) {
  return std::string(kReportDomain) + ledger::canonical_json(report);
}

Result<ReportService> parse_service(const json& s) {
  if (auto ok = only_fields(s, {"tls_key_sha256", "tls_certificate", "endpoint"}, "\"service\""); !ok) {
    return std::unexpected(ok.error());
  }
  ReportService out;
  auto key = hex_field<32>(s, "tls_key_sha256");
  if (!key) return std::unexpected(key.error());
  out.tls_key_sha256 = *key;
  auto cert = text_field(s, "tls_certificate");
  if (!cert) return std::unexpected(cert.error());
  out.tls_certificate = std::move(*cert);
  auto endpoint = text_field(s, "endpoint");
  if (!endpoint) return std::unexpected(endpoint.error());
  out.endpoint = std::move(*endpoint);
  return out;
}

Result<Report> parse_body(const json& r) {
  // A batch order's report has an output, a service's a service part: one of the two.
  const bool service = r.is_object() && r.contains("service");
  if (auto ok =
          service
              ? only_fields(r,
                            {"v", "ledger", "order", "cvm", "certificate", "engine", "engine_resource",
                             "inputs", "service", "started", "finished", "exit_code", "outcome", "stages_ms"},
                            "\"report\"")
              : only_fields(r,
                            {"v", "ledger", "order", "cvm", "certificate", "engine", "engine_resource",
                             "inputs", "output", "started", "finished", "exit_code", "outcome", "stages_ms"},
                            "\"report\"");
      !ok) {
    return std::unexpected(ok.error());
  }
  auto version = uint_field(r, "v");
  if (!version) return std::unexpected(version.error());
  if (*version != 1) return bad("unsupported report version " + std::to_string(*version));
  Report out;
#define WARD_SET(target, expr)                          \
  do {                                                  \
    auto value = (expr);                                \
    if (!value) return std::unexpected(value.error()); \
    target = std::move(*value);                         \
  } while (false)
  WARD_SET(out.ledger, hex_field<32>(r, "ledger"));
  WARD_SET(out.order, uint_field(r, "order"));
  WARD_SET(out.cvm, hex_field<32>(r, "cvm"));
  WARD_SET(out.certificate, text_field(r, "certificate"));
  WARD_SET(out.engine, text_field(r, "engine"));
  WARD_SET(out.engine_resource, parse_input(r.at("engine_resource")));
  if (!r.at("inputs").is_array()) return bad("\"inputs\" must be an array");
  for (const auto& item : r.at("inputs")) {
    ReportInput in;
    WARD_SET(in, parse_input(item));
    out.inputs.push_back(in);
  }
  if (service) {
    WARD_SET(out.service, parse_service(r.at("service")));
  } else {
    const json& o = r.at("output");
    if (auto ok = only_fields(o, {"uri", "sha256", "size", "recipients"}, "\"output\""); !ok) {
      return std::unexpected(ok.error());
    }
    WARD_SET(out.output.uri, text_field(o, "uri"));
    WARD_SET(out.output.sha256, hex_field<32>(o, "sha256"));
    WARD_SET(out.output.size, uint_field(o, "size"));
    WARD_SET(out.output.recipients, string_list(o, "recipients"));
  }
  WARD_SET(out.started, text_field(r, "started"));
  WARD_SET(out.finished, text_field(r, "finished"));
  const json& code = r.at("exit_code");
  if (!code.is_number_integer() || code.get<std::int64_t>() < std::numeric_limits<int>::min() ||
      code.get<std::int64_t>() > std::numeric_limits<int>::max()) {
    return bad("\"exit_code\" must be an integer");
  }
  out.exit_code = static_cast<int>(code.get<std::int64_t>());
  WARD_SET(out.outcome, text_field(r, "outcome"));
  const json& stages = r.at("stages_ms");
  if (!stages.is_object()) return bad("\"stages_ms\" must be an object");
  for (const auto& [name, value] : stages.items()) {
    std::uint64_t ms = 0;
    WARD_SET(ms, uint_field(stages, name.c_str()));
    out.stages_ms[name] = ms;
  }
#undef WARD_SET
  return out;
}

}  // namespace

json report_json(const Report& report) {
  json inputs = json::array();
  for (const auto& in : report.inputs) inputs.push_back(input_json(in));
  json stages = json::object();
  for (const auto& [name, ms] : report.stages_ms) stages[name] = ms;
  json out = {{"v", 1},
              {"ledger", hex_encode(report.ledger)},
              {"order", report.order},
              {"cvm", hex_encode(report.cvm)},
              {"certificate", report.certificate},
              {"engine", report.engine},
              {"engine_resource", input_json(report.engine_resource)},
              {"inputs", std::move(inputs)},
              {"started", report.started},
              {"finished", report.finished},
              {"exit_code", report.exit_code},
              {"outcome", report.outcome},
              {"stages_ms", std::move(stages)}};
  if (report.service) {
    out["service"] = {{"tls_key_sha256", hex_encode(report.service->tls_key_sha256)},
                      {"tls_certificate", report.service->tls_certificate},
                      {"endpoint", report.service->endpoint}};
  } else {
    out["output"] = {{"uri", report.output.uri},
                     {"sha256", hex_encode(report.output.sha256)},
                     {"size", report.output.size},
                     {"recipients", report.output.recipients}};
  }
  return out;
}

SignedReport sign_report(const Report& report, const crypto::Ed25519PrivateKey& key) {
  SignedReport out;
  out.report = report;
  json body = report_json(report);
  out.sig = key.sign(as_bytes(signed_bytes(body)));
  out.json = {{"report", std::move(body)}, {"sig", hex_encode(out.sig)}};
  return out;
}

Result<SignedReport> parse_report(const json& signed_report) {
  if (auto ok = only_fields(signed_report, {"report", "sig"}, "the report"); !ok) return std::unexpected(ok.error());
  auto body = parse_body(signed_report.at("report"));
  if (!body) return std::unexpected(body.error());
  auto sig = hex_field<64>(signed_report, "sig");
  if (!sig) return std::unexpected(sig.error());
  return SignedReport{std::move(*body), *sig, signed_report};
}

Result<SignedReport> parse_report_text(std::string_view text) {
  if (text.size() > kMaxReportSize) return fail("report.parse", "the report is larger than 60 KiB");
  auto doc = ledger::parse_strict_json(text);
  if (!doc) return fail("report.parse", doc.error().message);
  return parse_report(*doc);
}

bool report_signature_valid(const SignedReport& report, const crypto::Ed25519PublicKey& key) {
  return crypto::ed25519_verify(key, as_bytes(signed_bytes(report.json.at("report"))), report.sig);
}

}  // namespace ward::loader
