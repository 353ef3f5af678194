#include "loader/report.h"

#include <initializer_list>
#include <limits>
#include <utility>

#include "base/bytes.h"
#include "ledger/fields.h"

namespace ward::loader {
namespace {

using json = nlohmann::json;

namespace fields = ledger::fields;

// Bounds on the report's strings; a report sent as text is at most
// kMaxReportSize in all, which also bounds its certificates.
constexpr std::size_t kMaxShortText = 256;  // the engine digest (the ledger's bound)
constexpr std::size_t kMaxText = 4096;      // a URI, an endpoint, a recipient, the outcome

std::unexpected<Error> bad(const std::string& message) {
  return fail("report.parse", message);
}

// The shared readers' reason for a refused field, under "report.parse".
template <class T>
Result<T> field(fields::Read<T> value) {
  if (!value) return bad(value.error());
  return std::move(*value);
}

// Every field of a report's objects is required.
Result<void> exactly_fields(const json& object, std::initializer_list<std::string_view> names,
                            std::string_view what) {
  if (auto ok = fields::only_fields(object, names, names, what); !ok) return bad(ok.error());
  return {};
}

// A start report is made before the service finishes: its "finished" is "".
Result<std::string> finished_time(const json& report) {
  if (report.at("finished") == "") return std::string();
  return field(fields::get_time(report, "finished"));
}

json input_json(const ReportInput& in) {
  return {{"resource", hex_encode(in.resource)},
          {"plaintext_sha256", hex_encode(in.plaintext_sha256)},
          {"owner", hex_encode(in.owner)},
          {"grant", hex_encode(in.grant)}};
}

Result<ReportInput> parse_input(const json& j) {
  if (auto ok = exactly_fields(j, {"resource", "plaintext_sha256", "owner", "grant"}, "an input"); !ok) {
    return std::unexpected(ok.error());
  }
  ReportInput in;
  auto resource = field(fields::get_hex<32>(j, "resource"));
  auto plaintext = field(fields::get_hex<32>(j, "plaintext_sha256"));
  auto owner = field(fields::get_hex<32>(j, "owner"));
  auto grant = field(fields::get_hex<32>(j, "grant"));
  for (const auto* r : {&resource, &plaintext, &owner, &grant}) {
    if (!*r) return std::unexpected(r->error());
  }
  in.resource = *resource;
  in.plaintext_sha256 = *plaintext;
  in.owner = *owner;
  in.grant = *grant;
  return in;
}

std::string signed_bytes(const json& report) {
  return std::string(kReportDomain) + ledger::canonical_json(report);
}

Result<ReportWorker> parse_worker(const json& w) {
  if (auto ok = exactly_fields(w, {"cvm", "certificate", "endpoint"}, "a worker"); !ok)
    return std::unexpected(ok.error());
  auto cvm = field(fields::get_hex<32>(w, "cvm"));
  if (!cvm) return std::unexpected(cvm.error());
  auto certificate = field(fields::get_string(w, "certificate", kMaxReportSize));
  if (!certificate) return std::unexpected(certificate.error());
  auto endpoint = field(fields::get_string(w, "endpoint", kMaxText));
  if (!endpoint) return std::unexpected(endpoint.error());
  return ReportWorker{*cvm, std::move(*certificate), std::move(*endpoint)};
}

Result<ReportService> parse_service(const json& s) {
  if (auto ok = fields::only_fields(s, {"tls_key_sha256", "tls_certificate", "endpoint", "workers"},
                                    {"tls_key_sha256", "tls_certificate", "endpoint"}, "\"service\"");
      !ok) {
    return bad(ok.error());
  }
  ReportService out;
  auto key = field(fields::get_hex<32>(s, "tls_key_sha256"));
  if (!key) return std::unexpected(key.error());
  out.tls_key_sha256 = *key;
  auto cert = field(fields::get_string(s, "tls_certificate", kMaxReportSize));
  if (!cert) return std::unexpected(cert.error());
  out.tls_certificate = std::move(*cert);
  auto endpoint = field(fields::get_string(s, "endpoint", kMaxText));
  if (!endpoint) return std::unexpected(endpoint.error());
  out.endpoint = std::move(*endpoint);
  if (s.contains("workers")) {
    const json& workers = s.at("workers");
    if (!workers.is_array() || workers.empty() || workers.size() > ledger::kMaxServiceWorkers)
      return bad("\"service\".workers is not an array of 1 to " + std::to_string(ledger::kMaxServiceWorkers) +
                 " workers");
    for (const auto& w : workers) {
      auto worker = parse_worker(w);
      if (!worker) return std::unexpected(worker.error());
      out.workers.push_back(std::move(*worker));
    }
  }
  return out;
}

Result<Report> parse_body(const json& r) {
  // A batch order's report has an output, a service's a service part: one of the two.
  const bool service = r.is_object() && r.contains("service");
  if (auto ok = service ? exactly_fields(r,
                                         {"v", "ledger", "order", "cvm", "certificate", "engine",
                                          "engine_resource", "inputs", "service", "started", "finished",
                                          "exit_code", "outcome", "stages_ms"},
                                         "\"report\"")
                        : exactly_fields(r,
                                         {"v", "ledger", "order", "cvm", "certificate", "engine",
                                          "engine_resource", "inputs", "output", "started", "finished",
                                          "exit_code", "outcome", "stages_ms"},
                                         "\"report\"");
      !ok) {
    return std::unexpected(ok.error());
  }
  auto version = field(fields::get_uint(r, "v"));
  if (!version) return std::unexpected(version.error());
  if (*version != 1) return bad("unsupported report version " + std::to_string(*version));
  Report out;
#define WARD_SET(target, expr)                         \
  do {                                                 \
    auto value = (expr);                               \
    if (!value) return std::unexpected(value.error()); \
    target = std::move(*value);                        \
  } while (false)
  WARD_SET(out.ledger, field(fields::get_hex<32>(r, "ledger")));
  WARD_SET(out.order, field(fields::get_uint(r, "order")));
  WARD_SET(out.cvm, field(fields::get_hex<32>(r, "cvm")));
  WARD_SET(out.certificate, field(fields::get_string(r, "certificate", kMaxReportSize)));
  WARD_SET(out.engine, field(fields::get_string(r, "engine", kMaxShortText)));
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
    if (auto ok = exactly_fields(o, {"uri", "sha256", "size", "recipients"}, "\"output\""); !ok) {
      return std::unexpected(ok.error());
    }
    WARD_SET(out.output.uri, field(fields::get_string(o, "uri", kMaxText)));
    WARD_SET(out.output.sha256, field(fields::get_hex<32>(o, "sha256")));
    WARD_SET(out.output.size, field(fields::get_uint(o, "size")));
    WARD_SET(out.output.recipients, field(fields::get_strings(o, "recipients", kMaxText)));
  }
  WARD_SET(out.started, field(fields::get_time(r, "started")));
  WARD_SET(out.finished, finished_time(r));
  const json& code = r.at("exit_code");
  // An unsigned value read as int64_t would wrap: 2^64-1 is not -1.
  const bool whole =
      code.is_number_unsigned()
          ? code.get<std::uint64_t>() <= static_cast<std::uint64_t>(std::numeric_limits<int>::max())
          : code.is_number_integer() && code.get<std::int64_t>() >= std::numeric_limits<int>::min() &&
                code.get<std::int64_t>() <= std::numeric_limits<int>::max();
  if (!whole) return bad("\"exit_code\" must be an integer");
  out.exit_code = static_cast<int>(code.get<std::int64_t>());
  WARD_SET(out.outcome, field(fields::get_string(r, "outcome", kMaxText)));
  const json& stages = r.at("stages_ms");
  if (!stages.is_object()) return bad("\"stages_ms\" must be an object");
  for (const auto& [name, spent] : stages.items()) {
    WARD_SET(out.stages_ms[name], field(fields::uint_value(spent, name)));
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
    if (!report.service->workers.empty()) {
      json workers = json::array();
      for (const auto& w : report.service->workers)
        workers.push_back(
            {{"cvm", hex_encode(w.cvm)}, {"certificate", w.certificate}, {"endpoint", w.endpoint}});
      out["service"]["workers"] = std::move(workers);
    }
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
  if (auto ok = exactly_fields(signed_report, {"report", "sig"}, "the report"); !ok)
    return std::unexpected(ok.error());
  auto body = parse_body(signed_report.at("report"));
  if (!body) return std::unexpected(body.error());
  auto sig = field(fields::get_hex<64>(signed_report, "sig"));
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
