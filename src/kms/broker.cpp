#include "kms/broker.h"

#include <fcntl.h>
#include <httplib.h>
#include <unistd.h>

#include <algorithm>
#include <mutex>
#include <utility>

#include "age/stream.h"
#include "base/file.h"
#include "base/time.h"
#include "crypto/aead.h"
#include "crypto/random.h"
#include "files/grant.h"
#include "http/router.h"
#include "http/server.h"
#include "ledger/client.h"
#include "ledger/fields.h"
#include "store/store.h"

namespace ward::kms {
namespace {

using json = nlohmann::json;
namespace fields = ledger::fields;
namespace fs = std::filesystem;
using std::chrono::system_clock;

constexpr std::uint64_t kMaxGrantSize = std::uint64_t{1} << 20;
constexpr std::size_t kMaxPemSize = std::size_t{128} << 10;
constexpr std::size_t kMaxLogSize = std::size_t{64} << 20;
constexpr std::string_view kSealedMagic = "ward-sim-sealed/v1\n";
// The simulated TEE's sealing key is derived from a public label and the
// measurement: it proves nothing, exactly as the simulated quotes do.
constexpr std::string_view kSimSealLabel = "ward/sim-tee/seal/v1";
constexpr std::string_view kSealedAad = "ward/kms/group-key/v1";

std::unexpected<Error> malformed(const std::string& m) {
  return fail("malformed", m);
}
std::unexpected<Error> refused(const std::string& m) {
  return fail("refused", m);
}

// Whether `cvm` is one of the worker CVMs of a split service order.
bool is_worker(const ledger::Order& order, const ledger::CvmId& cvm) {
  if (!order.serve) return false;
  return std::ranges::any_of(order.serve->workers, [&](const ledger::Worker& w) { return w.cvm == cvm; });
}

template <class T>
Result<T> read_field(fields::Read<T> value, std::string_view code) {
  if (!value) return fail(std::string(code), value.error());
  return std::move(*value);
}

std::string signed_text(std::string_view domain, const json& object) {
  return std::string(domain) + ledger::canonical_json(object);
}

Result<crypto::Ed25519Signature> read_sig(const json& doc, std::string_view code) {
  return read_field(fields::get_hex<64>(doc, "sig"), code);
}

// --- the CVM a document speaks for -----------------------------------------

Result<std::pair<crypto::Certificate, ca::CvmIdentity>> read_certificate(const json& doc,
                                                                         std::string_view code) {
  auto pem = read_field(fields::get_string(doc, "certificate", kMaxPemSize), code);
  if (!pem) return std::unexpected(pem.error());
  auto cert = crypto::Certificate::from_pem(*pem);
  if (!cert)
    return fail(std::string(code), "\"certificate\" is not a PEM certificate: " + cert.error().message);
  auto contents = ca::read_cvm_certificate(*cert);
  if (!contents)
    return fail(std::string(code), "\"certificate\" is not a CVM certificate: " + contents.error().message);
  return std::pair{std::move(*cert), contents->identity};
}

// --- sealing (simulated) -----------------------------------------------------

Result<crypto::SecretBytes> sim_seal_key(ByteView measurement) {
  const auto ikm = crypto::sha256(as_bytes(kSimSealLabel));
  return crypto::hkdf(crypto::HashAlg::Sha256, ikm, {}, measurement, crypto::kAeadKeySize);
}

Result<std::string> seal(std::string_view secret, ByteView measurement) {
  auto key = sim_seal_key(measurement);
  if (!key) return std::unexpected(key.error());
  auto aead = crypto::Aead::create(crypto::AeadAlg::ChaCha20Poly1305, *key);
  if (!aead) return std::unexpected(aead.error());
  Bytes out = crypto::random_bytes(crypto::kAeadNonceSize);
  const Bytes sealed = aead->seal(out, as_bytes(kSealedAad), as_bytes(secret));
  out.insert(out.end(), sealed.begin(), sealed.end());
  return std::string(kSealedMagic) + base64_encode(out) + "\n";
}

Result<crypto::SecretBytes> unseal(std::string_view text, ByteView measurement) {
  const auto bad = [](const std::string& why) { return fail("kms.seal", "the sealed group key " + why); };
  if (!text.starts_with(kSealedMagic) || !text.ends_with('\n')) return bad("is not ward-sim-sealed/v1");
  text.remove_prefix(kSealedMagic.size());
  text.remove_suffix(1);
  auto raw = base64_decode(text);
  if (!raw || raw->size() < crypto::kAeadNonceSize + crypto::kAeadTagSize)
    return bad("is not base64 of a sealed key");
  auto key = sim_seal_key(measurement);
  if (!key) return std::unexpected(key.error());
  auto aead = crypto::Aead::create(crypto::AeadAlg::ChaCha20Poly1305, *key);
  if (!aead) return std::unexpected(aead.error());
  const ByteView all(*raw);
  auto plain = aead->open(all.first(crypto::kAeadNonceSize), as_bytes(kSealedAad),
                          all.subspan(crypto::kAeadNonceSize));
  if (!plain) return bad("does not open: sealed by another measurement, or altered");
  return plain;
}

// --- HTTP client ---------------------------------------------------------------

std::unexpected<Error> client_error(std::string_view url, const std::string& why) {
  return fail("kms.client", "the key broker at " + std::string(url) + ": " + why);
}

Result<httplib::Client> open_http(std::string_view url) {
  const auto base = http::base_url(url);
  if (!base)
    return fail("kms.client", "bad key broker URL '" + std::string(url) + "' (expected http://HOST:PORT)");
  httplib::Client http(*base);
  http.set_connection_timeout(std::chrono::seconds(10));
  http.set_read_timeout(std::chrono::seconds(60));
  http.set_write_timeout(std::chrono::seconds(60));
  return http;
}

// The JSON answer of a 200, or the broker's refusal as "kms.refused".
Result<json> answer_of(std::string_view url, const httplib::Result& res) {
  if (!res) return client_error(url, "unreachable: " + httplib::to_string(res.error()));
  json body = json::parse(res->body, nullptr, false);
  if (res->status != 200) {
    std::string message = "HTTP " + std::to_string(res->status);
    if (body.is_object() && body.contains("error") && body["error"].is_object() &&
        body["error"].value("message", json()).is_string())
      message = body["error"]["message"].get<std::string>();
    return fail("kms.refused", "the key broker at " + std::string(url) + " refused: " + message);
  }
  if (!body.is_object()) return client_error(url, "the answer is not a JSON object");
  return body;
}

}  // namespace

// --- statement -----------------------------------------------------------------

json make_statement(const CvmCredentials& cvm, const keys::PartyKey& group) {
  const json broker = {{"cvm", hex_encode(ca::cvm_id(cvm.key.signing_public_key()))},
                       {"group_key", hex_encode(group.signing_public_key())},
                       {"recipient", group.recipient().to_string()}};
  const auto sig = cvm.key.signing_key().sign(as_bytes(signed_text(kStatementDomain, broker)));
  return {{"broker", broker}, {"certificate", cvm.certificate_pem}, {"sig", hex_encode(sig)}};
}

Result<VerifiedStatement> verify_statement(const json& doc, const crypto::Certificate& ca_cert,
                                           const attest::Policy& policy, system_clock::time_point at) {
  constexpr std::string_view code = "kms.statement";
  const auto bad = [&](const std::string& m) { return fail(std::string(code), "broker statement: " + m); };
  if (auto ok = fields::only_fields(doc, {"broker", "certificate", "sig"}, {"broker", "certificate", "sig"},
                                    "the broker statement");
      !ok)
    return bad(ok.error());
  const json& broker = doc.at("broker");
  if (auto ok = fields::only_fields(broker, {"cvm", "group_key", "recipient"},
                                    {"cvm", "group_key", "recipient"}, "\"broker\"");
      !ok)
    return bad(ok.error());
  Statement s;
  auto cvm = read_field(fields::get_hex<32>(broker, "cvm"), code);
  if (!cvm) return std::unexpected(cvm.error());
  auto group_key = read_field(fields::get_hex<32>(broker, "group_key"), code);
  if (!group_key) return std::unexpected(group_key.error());
  s.group_key = *group_key;
  auto recipient_text = read_field(fields::get_string(broker, "recipient", 200), code);
  if (!recipient_text) return std::unexpected(recipient_text.error());
  auto recipient = age::X25519Recipient::parse(*recipient_text);
  if (!recipient || recipient->to_string() != *recipient_text)
    return bad("\"recipient\" is not a canonical age recipient");
  s.recipient = *recipient_text;
  auto sig = read_sig(doc, code);
  if (!sig) return std::unexpected(sig.error());
  auto cert = read_certificate(doc, code);
  if (!cert) return std::unexpected(cert.error());

  if (!policy.pins_measurement())
    return bad("the policy pins no measurement: say which broker code may hold the key");
  auto v = ca::verify_cvm_certificate(cert->first, ca_cert, policy, at);
  if (!v.accepted()) return bad("the broker's CVM refused: " + v.appraisal.checks.first_failure_text());
  if (!v.cvm || v.cvm->id != *cvm) return bad("the certificate is for another CVM than the statement names");
  if (!crypto::ed25519_verify(v.cvm->signing_key, as_bytes(signed_text(kStatementDomain, broker)), *sig))
    return bad("the signature is not the broker CVM's");
  s.cvm = *v.cvm;
  s.certificate_pem = doc.at("certificate").get<std::string>();
  s.json = doc;
  return VerifiedStatement{std::move(s), std::move(v.appraisal)};
}

// --- requests --------------------------------------------------------------------

json make_request(const keys::PartyKey& cvm_key, std::string_view certificate_pem, std::uint64_t order,
                  std::uint64_t input, std::string_view broker, system_clock::time_point now) {
  const json request = {
      {"broker", broker}, {"input", input}, {"order", order}, {"time", format_rfc3339(now)}};
  const auto sig = cvm_key.signing_key().sign(as_bytes(signed_text(kRequestDomain, request)));
  return {{"request", request}, {"certificate", certificate_pem}, {"sig", hex_encode(sig)}};
}

Result<ReleaseRequest> parse_request(std::string_view body) {
  constexpr std::string_view code = "kms.request";
  if (body.size() > kMaxRequestSize) return fail(std::string(code), "the request is larger than 256 KiB");
  auto doc = ledger::parse_strict_json(body);
  if (!doc) return fail(std::string(code), doc.error().message);
  if (auto ok = fields::only_fields(*doc, {"request", "certificate", "sig"},
                                    {"request", "certificate", "sig"}, "the release request");
      !ok)
    return fail(std::string(code), ok.error());
  const json& r = doc->at("request");
  if (auto ok = fields::only_fields(r, {"broker", "input", "order", "time"},
                                    {"broker", "input", "order", "time"}, "\"request\"");
      !ok)
    return fail(std::string(code), ok.error());
  ReleaseRequest out;
  auto order = read_field(fields::get_uint(r, "order"), code);
  if (!order) return std::unexpected(order.error());
  out.order = *order;
  auto input = read_field(fields::get_uint(r, "input"), code);
  if (!input) return std::unexpected(input.error());
  out.input = *input;
  auto broker = read_field(fields::get_string(r, "broker", 200), code);
  if (!broker) return std::unexpected(broker.error());
  out.broker = *broker;
  auto time = read_field(fields::get_time(r, "time"), code);
  if (!time) return std::unexpected(time.error());
  out.time = *time;
  auto pem = read_field(fields::get_string(*doc, "certificate", kMaxPemSize), code);
  if (!pem) return std::unexpected(pem.error());
  out.certificate_pem = *pem;
  auto sig = read_sig(*doc, code);
  if (!sig) return std::unexpected(sig.error());
  out.sig = *sig;
  out.request = r;
  return out;
}

// --- the log -----------------------------------------------------------------------

namespace {

json entry_object(const LogEntry& e) {
  return {{"index", e.index},
          {"prev", hex_encode(e.prev)},
          {"time", e.time},
          {"broker", hex_encode(e.broker)},
          {"grant", hex_encode(e.grant)},
          {"owner", hex_encode(e.owner)},
          {"ledger", hex_encode(e.ledger)},
          {"order", e.order},
          {"cvm", hex_encode(e.cvm)},
          {"binding", hex_encode(e.binding)}};
}

std::string sign_entry(const json& entry, const keys::PartyKey& group) {
  const auto sig = group.signing_key().sign(as_bytes(signed_text(kEntryDomain, entry)));
  return ledger::canonical_json(json{{"entry", entry}, {"sig", hex_encode(sig)}});
}

}  // namespace

Result<LogEntry> parse_entry(std::string_view line, const crypto::Ed25519PublicKey& group_key) {
  constexpr std::string_view code = "kms.log";
  auto doc = ledger::parse_strict_json(line);
  if (!doc) return fail(std::string(code), doc.error().message);
  if (auto ok = fields::only_fields(*doc, {"entry", "sig"}, {"entry", "sig"}, "a log line"); !ok)
    return fail(std::string(code), ok.error());
  const json& e = doc->at("entry");
  if (auto ok = fields::only_fields(
          e, {"index", "prev", "time", "broker", "grant", "owner", "ledger", "order", "cvm", "binding"},
          {"index", "prev", "time", "broker", "grant", "owner", "ledger", "order", "cvm", "binding"},
          "\"entry\"");
      !ok)
    return fail(std::string(code), ok.error());
  LogEntry out;
  auto index = read_field(fields::get_uint(e, "index"), code);
  auto order = read_field(fields::get_uint(e, "order"), code);
  auto time = read_field(fields::get_time(e, "time"), code);
  if (!index || !order || !time)
    return fail(std::string(code), "a log entry's index, order or time does not read");
  out.index = *index;
  out.order = *order;
  out.time = *time;
  struct Hex {
    const char* name;
    std::array<std::uint8_t, 32>* into;
  };
  for (const Hex& h : {Hex{"prev", &out.prev}, Hex{"broker", &out.broker}, Hex{"grant", &out.grant},
                       Hex{"owner", &out.owner}, Hex{"ledger", &out.ledger}, Hex{"cvm", &out.cvm},
                       Hex{"binding", &out.binding}}) {
    auto value = read_field(fields::get_hex<32>(e, h.name), code);
    if (!value) return std::unexpected(value.error());
    *h.into = *value;
  }
  auto sig = read_sig(*doc, code);
  if (!sig) return std::unexpected(sig.error());
  if (!crypto::ed25519_verify(group_key, as_bytes(signed_text(kEntryDomain, e)), *sig))
    return fail(std::string(code),
                "entry " + std::to_string(out.index) + " is not signed by the broker's group key");
  if (files::release_binding(out.grant, out.ledger, out.order, out.cvm) != out.binding)
    return fail(std::string(code), "entry " + std::to_string(out.index) + "'s binding is not its release's");
  out.line = std::string(line);
  return out;
}

Result<std::vector<LogEntry>> verify_log(std::string_view text, const crypto::Ed25519PublicKey& group_key) {
  std::vector<LogEntry> out;
  crypto::Sha256Digest prev{};
  while (!text.empty()) {
    const auto end = text.find('\n');
    if (end == std::string_view::npos) return fail("kms.log", "the log's last line is not complete");
    const std::string_view line = text.substr(0, end);
    text.remove_prefix(end + 1);
    auto entry = parse_entry(line, group_key);
    if (!entry) return std::unexpected(entry.error());
    if (entry->index != out.size())
      return fail("kms.log",
                  "entry " + std::to_string(entry->index) + " is at position " + std::to_string(out.size()));
    if (entry->prev != prev)
      return fail("kms.log",
                  "entry " + std::to_string(entry->index) + " does not follow the entry before it");
    prev = crypto::sha256(as_bytes(line));
    out.push_back(std::move(*entry));
  }
  return out;
}

// --- the broker ------------------------------------------------------------------------

struct Broker::Impl {
  Impl(CvmCredentials c, BrokerOptions o) : cvm(std::move(c)), options(std::move(o)) {}

  CvmCredentials cvm;
  BrokerOptions options;
  std::optional<keys::PartyKey> group;
  json statement;
  std::string recipient;
  attest::Policy same_code;  // a peer broker's evidence must meet it
  bool simulated = false;
  Bytes measurement;

  std::mutex log_mutex;
  fs::path log_path;
  std::uint64_t next_index = 0;
  crypto::Sha256Digest last_line{};

  std::mutex ledger_mutex;
  std::unique_ptr<ledger::LedgerClient> ledger;
  ledger::LedgerId ledger_id{};  // what releases bind

  Result<void> load_or_make_group();
  Result<void> take_from_peer();
  Result<void> store_group();
  Result<void> open_log();
  Result<json> release(std::string_view body);
  Result<json> replicate(std::string_view body);
};

Result<void> Broker::Impl::store_group() {
  if (!simulated) return {};  // no sealing key outside the sim: the key stays in memory (docs/kms.md)
  auto sealed = seal(group->identity_file_text(system_clock::now()), measurement);
  if (!sealed) return std::unexpected(sealed.error());
  auto out = AtomicFile::create(options.dir / "group.sealed", 0600);
  if (!out) return std::unexpected(out.error());
  if (auto ok = out->write(as_bytes(*sealed)); !ok) return ok;
  return out->commit();
}

Result<void> Broker::Impl::take_from_peer() {
  auto http = open_http(options.peer);
  if (!http) return std::unexpected(http.error());
  const json request = {{"time", format_rfc3339(system_clock::now())}};
  const auto sig = cvm.key.signing_key().sign(as_bytes(signed_text(kReplicateDomain, request)));
  const json body = {{"request", request}, {"certificate", cvm.certificate_pem}, {"sig", hex_encode(sig)}};
  auto answer = answer_of(options.peer, http->Post("/v1/replicate", body.dump(), "application/json"));
  if (!answer)
    return fail(answer.error().code == "kms.refused" ? "kms.peer" : answer.error().code,
                answer.error().message);
  if (auto ok = fields::only_fields(*answer, {"key", "statement"}, {"key", "statement"}, "the peer's answer");
      !ok)
    return fail("kms.peer", ok.error());
  // The peer must be a broker of this very code: otherwise it could hand
  // over a key it keeps, and owners would grant to it.
  auto peer =
      verify_statement(answer->at("statement"), options.ca_certificate, same_code, system_clock::now());
  if (!peer) return fail("kms.peer", "the peer at " + options.peer + ": " + peer.error().message);
  auto key_text = read_field(fields::get_string(*answer, "key", 4096), "kms.peer");
  if (!key_text) return std::unexpected(key_text.error());
  auto sealed = base64_decode(*key_text);
  if (!sealed) return fail("kms.peer", "the peer's \"key\" is not base64");
  age::BytesReader in(*sealed);
  age::BytesWriter out;
  const age::Identity* identities[] = {&cvm.key.identity()};
  if (auto ok = age::decrypt(in, out, identities); !ok)
    return fail("kms.peer", "the peer's key is not for this broker: " + ok.error().message);
  auto key = keys::PartyKey::parse(as_chars(out.bytes()));
  crypto::cleanse(out.bytes().data(), out.bytes().size());
  if (!key) return fail("kms.peer", "the peer's key does not parse: " + key.error().message);
  if (key->recipient().to_string() != peer->statement.recipient ||
      key->signing_public_key() != peer->statement.group_key)
    return fail("kms.peer", "the peer's key is not the group key its statement names");
  group = std::move(*key);
  return {};
}

Result<void> Broker::Impl::load_or_make_group() {
  const fs::path sealed_path = options.dir / "group.sealed";
  std::error_code ec;
  if (simulated && fs::exists(sealed_path, ec)) {
    auto text = read_file(sealed_path, 64 << 10);
    if (!text) return std::unexpected(text.error());
    auto plain = unseal(as_chars(*text), measurement);
    if (!plain) return std::unexpected(plain.error());
    auto key =
        keys::PartyKey::parse(std::string_view(reinterpret_cast<const char*>(plain->data()), plain->size()));
    if (!key) return fail("kms.seal", "the unsealed group key does not parse: " + key.error().message);
    group = std::move(*key);
    return {};
  }
  if (!options.peer.empty()) {
    if (auto ok = take_from_peer(); !ok) return ok;
  } else {
    group = keys::PartyKey::generate();
  }
  return store_group();
}

Result<void> Broker::Impl::open_log() {
  log_path = options.dir / "releases.log";
  std::error_code ec;
  if (!fs::exists(log_path, ec)) return {};
  auto text = read_file(log_path, kMaxLogSize);
  if (!text) return std::unexpected(text.error());
  auto entries = verify_log(as_chars(*text), group->signing_public_key());
  if (!entries) return fail(entries.error(), "the release log " + log_path.string());
  next_index = entries->size();
  if (!entries->empty()) last_line = crypto::sha256(as_bytes(entries->back().line));
  return {};
}

Result<std::unique_ptr<Broker>> Broker::open(CvmCredentials cvm, BrokerOptions options) {
  auto impl = std::make_unique<Impl>(std::move(cvm), std::move(options));
  // The broker's own evidence: its launch measurement seals the group key
  // and is what a peer broker must show.
  auto own = ca::own_code(impl->cvm.certificate, impl->options.ca_certificate, system_clock::now());
  if (!own) return fail("kms.broker", "the key broker: " + own.error().message);
  impl->simulated = own->simulated;
  impl->measurement = std::move(own->measurement);
  impl->same_code = std::move(own->same_code);
  if (!fs::is_directory(impl->options.dir))
    return fail("kms.broker", impl->options.dir.string() + " is not a directory");
  if (auto ok = impl->load_or_make_group(); !ok) return std::unexpected(ok.error());
  if (auto ok = impl->open_log(); !ok) return std::unexpected(ok.error());
  auto client = ledger::open_client(impl->options.ledger);
  if (!client) return std::unexpected(client.error());
  auto summary = (*client)->summary();
  if (!summary) return std::unexpected(summary.error());
  impl->ledger_id = summary->info.id;
  impl->ledger = std::move(*client);
  impl->recipient = impl->group->recipient().to_string();
  impl->statement = make_statement(impl->cvm, *impl->group);
  return std::unique_ptr<Broker>(new Broker(std::move(impl)));
}

Broker::Broker(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Broker::~Broker() = default;

const json& Broker::statement() const {
  return impl_->statement;
}
const std::string& Broker::recipient() const {
  return impl_->recipient;
}

Result<json> Broker::release(std::string_view body) {
  return impl_->release(body);
}
Result<json> Broker::replicate(std::string_view body) {
  return impl_->replicate(body);
}

Result<std::string> Broker::log_text() const {
  std::lock_guard lock(impl_->log_mutex);
  std::error_code ec;
  if (!fs::exists(impl_->log_path, ec)) return std::string();
  auto text = read_file(impl_->log_path, kMaxLogSize);
  if (!text) return std::unexpected(text.error());
  return std::string(as_chars(*text));
}

Result<json> Broker::Impl::release(std::string_view body) {
  auto request = parse_request(body);
  if (!request) return malformed(request.error().message);
  const auto now = system_clock::now();
  auto time = parse_rfc3339(request->time);
  if (!time || *time > now + kMaxClockSkew || *time + kMaxClockSkew < now)
    return refused("request.time: the request was made at " + request->time +
                   ", not within 5 minutes of now");
  if (request->broker != recipient)
    return refused("request.broker: the request is for broker " + request->broker.substr(0, 80) +
                   ", not this one");
  auto cert = crypto::Certificate::from_pem(request->certificate_pem);
  if (!cert) return malformed("\"certificate\" is not a PEM certificate");
  auto contents = ca::read_cvm_certificate(*cert);
  if (!contents) return malformed("\"certificate\" is not a CVM certificate: " + contents.error().message);
  const ca::CvmIdentity& cvm_id = contents->identity;
  if (!crypto::ed25519_verify(cvm_id.signing_key, as_bytes(signed_text(kRequestDomain, request->request)),
                              request->sig))
    return refused("request.sig: the request is not signed by the certificate's CVM");
  const std::string cvm_hex = hex_encode(cvm_id.id);
  const std::string order_name = "order " + std::to_string(request->order);

  // What the ledger says: the order, the CVM's listing, the grant's state.
  std::lock_guard ledger_lock(ledger_mutex);
  const auto ledger_error = [](const Error& e) { return fail("ledger", e.message); };
  auto order = ledger->order(request->order);
  if (!order) return ledger_error(order.error());
  if (!*order) return refused("order: " + order_name + " is not on the ledger");
  // The head (the order's CVM) may be released any of its grants; a worker
  // of a split service order only the engine's (order.worker, below): the
  // data reaches a worker from the head, over a tunnel the head verifies.
  const bool head = (*order)->cvm == cvm_id.id;
  const bool worker = !head && is_worker(**order, cvm_id.id);
  if (!head && !worker)
    return refused("order.cvm: " + order_name + " is for CVM " + hex_encode((*order)->cvm) +
                   ((*order)->serve && !(*order)->serve->workers.empty() ? " and its workers" : "") +
                   ", not CVM " + cvm_hex);
  if ((*order)->status != ledger::OrderStatus::Processing)
    return refused("order.status: " + order_name + " is " + std::string(ledger::to_string((*order)->status)) +
                   ", not processing");
  auto listed = ledger->cvm(cvm_id.id);
  if (!listed) return ledger_error(listed.error());
  if (!*listed) return refused("cvm.listed: CVM " + cvm_hex + " is not listed on the ledger");
  if ((*listed)->key != cvm_id.signing_key || (*listed)->recipient != cvm_id.recipient.to_string())
    return refused("cvm.listed: the ledger lists CVM " + cvm_hex + " with other keys than its certificate");
  if (request->input >= (*order)->inputs.size())
    return refused("order.input: " + order_name + " has " + std::to_string((*order)->inputs.size()) +
                   " inputs, not an input " + std::to_string(request->input));

  // The grant, as the order names it (its URI is its SHA-256).
  const std::string& uri = (*order)->inputs[request->input];
  auto ref = store::parse_blob_uri(uri);
  if (!ref)
    return refused("grant: " + order_name + "'s input " + std::to_string(request->input) +
                   " is not a blob URI");
  auto bytes = store::fetch_bytes(uri, kMaxGrantSize);
  if (!bytes) return fail("store", "fetching grant " + uri + ": " + bytes.error().message);
  if (crypto::sha256(*bytes) != ref->sha256)
    return fail("store", "grant " + uri + " does not hash to its name");
  auto grant = files::parse_grant(as_chars(*bytes));
  if (!grant) return refused(grant.error().message);
  if (worker && grant->descriptor.resource.engine != (*order)->engine)
    return refused("order.worker: CVM " + cvm_hex + " is a worker of " + order_name +
                   ", and a worker is released the engine only: input " + std::to_string(request->input) +
                   " is not the grant of the engine " + (*order)->engine);
  if (!grant->policy.broker || grant->policy.broker->recipient != recipient)
    return refused("grant.broker: " + order_name + "'s input " + std::to_string(request->input) +
                   " is not a grant to this broker");
  const files::OrderTerms terms{cvm_id.id, (*order)->engine, (*order)->outputs, (*order)->creator,
                                (*order)->serve.has_value()};
  if (auto ok = files::check_grant_for_order(*grant, terms, now); !ok) return refused(ok.error().message);
  const files::BrokerTerms& policy = *grant->policy.broker;
  auto v = ca::verify_cvm_certificate(*cert, options.ca_certificate, policy.attestation, now);
  if (!v.accepted())
    return refused("cvm.evidence: CVM " + cvm_hex + " refused: " + v.appraisal.checks.first_failure_text());
  if (!policy.providers.empty() &&
      !std::binary_search(policy.providers.begin(), policy.providers.end(), (*listed)->provider))
    return refused("grant.providers: CVM " + cvm_hex + " is listed by provider " +
                   hex_encode((*listed)->provider) + ", whom the grant does not name");
  auto state = ledger->grant(grant->id, grant->policy.owner);
  if (!state) return ledger_error(state.error());
  if (*state && (*state)->revoked)
    return refused("grant.revoked: the owner revoked grant " + hex_encode(grant->id));
  if (grant->policy.uses != 0) {
    const bool counted = *state && std::find((*state)->orders.begin(), (*state)->orders.end(),
                                             request->order) != (*state)->orders.end();
    if (!counted)
      return refused("grant.uses: the ledger has not counted " + order_name + " against the grant's " +
                     std::to_string(grant->policy.uses) +
                     " uses (used up, or the order's CVM did not send grants.use)");
  }

  // Re-wrap for the CVM, bound to this order, and log it before answering.
  const auto binding = files::release_binding(grant->id, ledger_id, request->order, cvm_id.id);
  auto header = files::rewrap_for_release(*grant, group->identity(), cvm_id.recipient, binding);
  if (!header) return refused(header.error().message);
  std::lock_guard log_lock(log_mutex);
  LogEntry e;
  e.index = next_index;
  e.prev = last_line;
  e.time = format_rfc3339(now);
  e.broker = ca::cvm_id(cvm.key.signing_public_key());
  e.grant = grant->id;
  e.owner = grant->policy.owner;
  e.ledger = ledger_id;
  e.order = request->order;
  e.cvm = cvm_id.id;
  e.binding = binding;
  const std::string line = sign_entry(entry_object(e), *group);
  const int fd = ::open(log_path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return fail("internal", "cannot open the release log");
  const std::string with_newline = line + "\n";
  auto written = write_all(fd, as_bytes(with_newline));
  const bool synced = written && ::fsync(fd) == 0;
  ::close(fd);
  if (!synced) return fail("internal", "cannot write the release log");
  ++next_index;
  last_line = crypto::sha256(as_bytes(line));
  return json{{"header", base64_encode(*header)}, {"entry", line}};
}

Result<json> Broker::Impl::replicate(std::string_view body) {
  if (body.size() > kMaxRequestSize) return malformed("the request is larger than 256 KiB");
  auto doc = ledger::parse_strict_json(body);
  if (!doc) return malformed(doc.error().message);
  if (auto ok = fields::only_fields(*doc, {"request", "certificate", "sig"},
                                    {"request", "certificate", "sig"}, "the replication request");
      !ok)
    return malformed(ok.error());
  const json& request = doc->at("request");
  if (auto ok = fields::only_fields(request, {"time"}, {"time"}, "\"request\""); !ok)
    return malformed(ok.error());
  auto time_text = read_field(fields::get_time(request, "time"), "malformed");
  if (!time_text) return std::unexpected(time_text.error());
  const auto now = system_clock::now();
  auto time = parse_rfc3339(*time_text);
  if (!time || *time > now + kMaxClockSkew || *time + kMaxClockSkew < now)
    return refused("request.time: the request was made at " + *time_text + ", not within 5 minutes of now");
  auto cert = read_certificate(*doc, "malformed");
  if (!cert) return std::unexpected(cert.error());
  auto sig = read_sig(*doc, "malformed");
  if (!sig) return std::unexpected(sig.error());
  if (!crypto::ed25519_verify(cert->second.signing_key, as_bytes(signed_text(kReplicateDomain, request)),
                              *sig))
    return refused("request.sig: the request is not signed by the certificate's CVM");
  // Only a broker running this very code gets the group key.
  auto v = ca::verify_cvm_certificate(cert->first, options.ca_certificate, same_code, now);
  if (!v.accepted())
    return refused("peer.evidence: the requesting CVM is not a broker of this measurement: " +
                   v.appraisal.checks.first_failure_text());
  const std::string secret = group->identity_file_text(now);
  age::BytesReader in(as_bytes(secret));
  age::BytesWriter out;
  const age::Recipient* recipients[] = {&cert->second.recipient};
  if (auto ok = age::encrypt(in, out, recipients); !ok) return fail("internal", ok.error().message);
  return json{{"key", base64_encode(out.bytes())}, {"statement", statement}};
}

// --- the server --------------------------------------------------------------------

struct Server::Impl {
  Broker& broker;
  http::Router router;
  http::Server http;

  static http::ServerOptions http_options(const ServeOptions& o) {
    http::ServerOptions h;
    h.threads = std::max<std::size_t>(o.threads, 2);
    h.limits.max_body_bytes = kMaxRequestSize;
    return h;
  }

  static http::Response answer(const Result<json>& r) {
    if (r) return http::json_response(200, *r);
    const std::string& code = r.error().code;
    const int status = code == "malformed" ? 400 : code == "refused" ? 403 : code == "internal" ? 500 : 502;
    return http::error_response(status, code, r.error().message);
  }

  Impl(Broker& b, const ServeOptions& o)
      : broker(b), http([this](const http::Request& req) { return router.handle(req); }, http_options(o)) {
    router.add("GET", "/v1/broker", [this](const http::Request&, const std::string&) {
      return http::json_response(200, broker.statement());
    });
    router.add("POST", "/v1/release", [this](const http::Request& req, const std::string&) {
      return answer(broker.release(req.body));
    });
    router.add("POST", "/v1/replicate", [this](const http::Request& req, const std::string&) {
      return answer(broker.replicate(req.body));
    });
    router.add("GET", "/v1/releases", [this](const http::Request&, const std::string&) {
      auto text = broker.log_text();
      if (!text) return http::error_response(500, "internal", text.error().message);
      http::Response res;
      res.set_content(*text, "application/jsonl");
      return res;
    });
  }
};

Server::Server(Broker& broker, ServeOptions options) : impl_(std::make_unique<Impl>(broker, options)) {}
Server::~Server() {
  stop();
}

Result<int> Server::bind(std::string_view host, int port) {
  auto bound = impl_->http.bind(host, port);
  if (!bound) return fail("kms.server", bound.error().message);
  return bound;
}

Result<void> Server::serve() {
  auto served = impl_->http.serve();
  if (!served) return fail("kms.server", served.error().message);
  return {};
}

void Server::stop() {
  impl_->http.stop();
}

// --- clients ------------------------------------------------------------------------

Result<VerifiedStatement> fetch_statement(std::string_view url, const crypto::Certificate& ca_cert,
                                          const attest::Policy& policy) {
  auto http = open_http(url);
  if (!http) return std::unexpected(http.error());
  auto answer = answer_of(url, http->Get("/v1/broker"));
  if (!answer) return std::unexpected(answer.error());
  return verify_statement(*answer, ca_cert, policy, system_clock::now());
}

Result<std::string> fetch_log(std::string_view url) {
  auto http = open_http(url);
  if (!http) return std::unexpected(http.error());
  auto res = http->Get("/v1/releases");
  if (!res) return client_error(url, "unreachable: " + httplib::to_string(res.error()));
  if (res->status != 200)
    return client_error(url, "answered /v1/releases with HTTP " + std::to_string(res->status));
  return res->body;
}

Result<Released> request_release(std::string_view url, const keys::PartyKey& cvm_key,
                                 std::string_view certificate_pem, std::uint64_t order, std::uint64_t input,
                                 std::string_view broker) {
  auto http = open_http(url);
  if (!http) return std::unexpected(http.error());
  const json body = make_request(cvm_key, certificate_pem, order, input, broker, system_clock::now());
  auto answer = answer_of(url, http->Post("/v1/release", body.dump(), "application/json"));
  if (!answer) return std::unexpected(answer.error());
  if (auto ok = fields::only_fields(*answer, {"header", "entry"}, {"header", "entry"}, "the broker's answer");
      !ok)
    return client_error(url, ok.error());
  auto header_text = read_field(fields::get_string(*answer, "header", std::size_t{1} << 20), "kms.client");
  if (!header_text) return std::unexpected(header_text.error());
  auto header = base64_decode(*header_text);
  if (!header) return client_error(url, "\"header\" is not base64");
  auto entry = read_field(fields::get_string(*answer, "entry", 8192), "kms.client");
  if (!entry) return std::unexpected(entry.error());
  return Released{std::move(*header), std::move(*entry)};
}

}  // namespace ward::kms
