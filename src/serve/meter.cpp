#include "serve/meter.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include <nlohmann/json.hpp>

#include "base/bytes.h"
#include "base/file.h"
#include "serve/certificate.h"

namespace ward::serve {
namespace {

using nlohmann::json;

constexpr std::size_t kMaxScanned = std::size_t{4} << 20;

Error bad_receipt(std::string message) {
  return Error{"serve.receipt", "the usage receipt " + std::move(message)};
}

json receipt_json(const Receipt& r) {
  return json{{"v", 1},
              {"ledger", hex_encode(r.ledger)},
              {"order", r.order},
              {"tls_key", hex_encode(r.tls_key)},
              {"account", hex_encode(r.account)},
              {"seq", r.seq},
              {"time", r.time},
              {"requests", r.usage.requests},
              {"tokens", r.usage.tokens},
              {"bytes", r.usage.bytes}};
}

Result<std::uint64_t> counter(const json& j, const char* name) {
  const auto it = j.find(name);
  if (it == j.end() || !it->is_number_unsigned())
    return std::unexpected(bad_receipt("has no counter \"" + std::string(name) + "\""));
  return it->get<std::uint64_t>();
}

Result<std::array<std::uint8_t, 32>> id(const json& j, const char* name) {
  const auto it = j.find(name);
  if (it == j.end() || !it->is_string())
    return std::unexpected(bad_receipt("has no \"" + std::string(name) + "\""));
  auto parsed = ledger::parse_id(it->get<std::string>());
  if (!parsed) return std::unexpected(bad_receipt("has a malformed \"" + std::string(name) + "\""));
  return *parsed;
}

// A "usage" object's total, if the value holds one.
std::optional<std::uint64_t> usage_total(const json& value) {
  if (!value.is_object()) return std::nullopt;
  const auto usage = value.find("usage");
  if (usage == value.end() || !usage->is_object()) return std::nullopt;
  const auto number = [&](const char* name) -> std::optional<std::uint64_t> {
    const auto it = usage->find(name);
    if (it == usage->end() || !it->is_number_unsigned()) return std::nullopt;
    return it->get<std::uint64_t>();
  };
  if (auto total = number("total_tokens")) return total;
  const auto prompt = number("prompt_tokens").value_or(0);
  const auto completion = number("completion_tokens").value_or(0);
  if (prompt > UINT64_MAX - completion) return std::nullopt;
  if (prompt + completion == 0) return std::nullopt;
  return prompt + completion;
}

std::optional<std::uint64_t> usage_in_text(std::string_view text) {
  const json value = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) return std::nullopt;
  return usage_total(value);
}

// Counters stop at the ledger's largest amount rather than wrap: a receipt
// never goes backwards.
std::uint64_t saturating_add(std::uint64_t a, std::uint64_t b) {
  return b > ledger::kMaxAmount - std::min(a, ledger::kMaxAmount) ? ledger::kMaxAmount : a + b;
}

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

}  // namespace

std::string receipt_body(const Receipt& receipt) {
  return ledger::canonical_json(receipt_json(receipt));
}

std::string sign_receipt(const Receipt& receipt, const crypto::EcPrivateKey& key) {
  const std::string body = receipt_body(receipt);
  const Bytes sig = key.sign(crypto::HashAlg::Sha256, as_bytes(std::string(kReceiptDomain) + body));
  return base64_encode(as_bytes(body)) + "." + base64_encode(sig);
}

Result<Receipt> parse_receipt(std::string_view value) {
  if (value.size() > kMaxReceiptSize)
    return std::unexpected(bad_receipt("is over " + std::to_string(kMaxReceiptSize) + " bytes"));
  const auto dot = value.find('.');
  if (dot == std::string_view::npos) return std::unexpected(bad_receipt("is not BODY.SIGNATURE"));
  auto body = base64_decode(value.substr(0, dot));
  if (!body) return std::unexpected(bad_receipt("body is not base64"));
  auto sig = base64_decode(value.substr(dot + 1));
  if (!sig || sig->size() != 64) return std::unexpected(bad_receipt("signature is not 64 bytes of base64"));
  const std::string text(as_chars(*body));
  auto j = ledger::parse_strict_json(text);
  if (!j || !j->is_object()) return std::unexpected(bad_receipt("body is not a JSON object"));
  if (j->size() != 10) return std::unexpected(bad_receipt("body has other fields than a receipt's"));
  const auto v = j->find("v");
  if (v == j->end() || *v != 1) return std::unexpected(bad_receipt("is not version 1"));
  Receipt r;
  const auto ledger_id = id(*j, "ledger");
  const auto tls_key = id(*j, "tls_key");
  const auto account = id(*j, "account");
  for (const auto* field : {&ledger_id, &tls_key, &account}) {
    if (!*field) return std::unexpected(field->error());
  }
  r.ledger = *ledger_id;
  r.tls_key = *tls_key;
  std::copy(account->begin(), account->end(), r.account.begin());
  std::uint64_t* const counters[] = {&r.order,          &r.seq,          &r.time,
                                     &r.usage.requests, &r.usage.tokens, &r.usage.bytes};
  const char* const names[] = {"order", "seq", "time", "requests", "tokens", "bytes"};
  for (std::size_t i = 0; i < std::size(names); ++i) {
    auto value = counter(*j, names[i]);
    if (!value) return std::unexpected(value.error());
    *counters[i] = *value;
  }
  // One spelling only, so that the bytes signed are the receipt read.
  if (receipt_body(r) != text) return std::unexpected(bad_receipt("body is not in canonical form"));
  return r;
}

Result<Receipt> verify_receipt(std::string_view value, const crypto::Certificate& leaf) {
  auto receipt = parse_receipt(value);
  if (!receipt) return receipt;
  if (tls_key_digest(leaf) != receipt->tls_key)
    return std::unexpected(bad_receipt("names another TLS key than the service's certificate holds"));
  auto key = leaf.ec_public_key();
  if (!key) return std::unexpected(bad_receipt("comes from a certificate without a P-256 key"));
  const auto sig = base64_decode(value.substr(value.find('.') + 1));
  const std::string signed_bytes = std::string(kReceiptDomain) + receipt_body(*receipt);
  if (!crypto::ecdsa_verify(*key, crypto::HashAlg::Sha256, as_bytes(signed_bytes), *sig,
                            crypto::SigFormat::Raw))
    return std::unexpected(bad_receipt("signature does not verify with the service's TLS key"));
  return receipt;
}

TokenCounter::TokenCounter(std::string_view content_type) {
  const std::string type = lower(content_type.substr(0, content_type.find(';')));
  const auto trimmed = type.substr(0, type.find_last_not_of(" \t") + 1);
  if (trimmed == "application/json") kind_ = Kind::Json;
  if (trimmed == "text/event-stream") kind_ = Kind::EventStream;
}

void TokenCounter::feed(std::string_view data) {
  if (kind_ == Kind::None) return;
  if (kind_ == Kind::Json) {
    if (overflow_ || buffer_.size() + data.size() > kMaxScanned) {
      overflow_ = true;
      buffer_.clear();
      return;
    }
    buffer_ += data;
    return;
  }
  // Event stream: whole lines, each taken as it completes.
  while (!data.empty()) {
    const auto nl = data.find('\n');
    const std::string_view part = data.substr(0, nl);
    if (!overflow_) {
      if (buffer_.size() + part.size() > kMaxScanned) {
        overflow_ = true;
        buffer_.clear();
      } else {
        buffer_ += part;
      }
    }
    if (nl == std::string_view::npos) return;
    if (!overflow_) event_line(buffer_);
    buffer_.clear();
    overflow_ = false;
    data.remove_prefix(nl + 1);
  }
}

void TokenCounter::event_line(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (!line.starts_with("data:")) return;
  line.remove_prefix(5);
  if (!line.empty() && line.front() == ' ') line.remove_prefix(1);
  if (line == "[DONE]") return;
  if (line.find("usage") != std::string_view::npos) {
    if (auto total = usage_in_text(line)) {
      tokens_ = *total;
      usage_seen_ = true;
      return;
    }
  }
  events_ = saturating_add(events_, 1);
}

std::uint64_t TokenCounter::tokens() {
  if (kind_ == Kind::Json) {
    if (!overflow_) tokens_ = usage_in_text(buffer_).value_or(0);
    buffer_.clear();
    overflow_ = true;
  } else if (kind_ == Kind::EventStream && !overflow_ && !buffer_.empty()) {
    event_line(buffer_);
    buffer_.clear();
  }
  if (kind_ == Kind::EventStream && !usage_seen_) return events_;
  return tokens_;
}

void ask_for_usage(http::Request& request) {
  if (request.method != "POST") return;
  const std::string type = lower(request.header("Content-Type").value_or(""));
  if (!type.starts_with("application/json")) return;
  json body = json::parse(request.body, nullptr, /*allow_exceptions=*/false);
  if (!body.is_object()) return;
  const auto stream = body.find("stream");
  if (stream == body.end() || *stream != true) return;
  auto& options = body["stream_options"];
  if (!options.is_object()) options = json::object();
  options["include_usage"] = true;
  request.body = body.dump();
}

Meter::Meter(ledger::LedgerId ledger, std::uint64_t order, crypto::EcPrivateKey key,
             crypto::Sha256Digest tls_key)
    : ledger_(ledger), order_(order), key_(std::move(key)), tls_key_(tls_key) {}

void Meter::restore(const ledger::AccountId& account, const Usage& recorded) {
  std::lock_guard lock(mu_);
  Account& a = accounts_[account];
  const auto raise = [](Usage& u, const Usage& floor) {
    u.requests = std::max(u.requests, floor.requests);
    u.tokens = std::max(u.tokens, floor.tokens);
    u.bytes = std::max(u.bytes, floor.bytes);
  };
  raise(a.current, recorded);
  raise(a.receipted, recorded);
}

std::string Meter::admit(const ledger::AccountId& account, std::uint64_t request_bytes,
                         std::chrono::system_clock::time_point now) {
  Receipt receipt;
  {
    std::lock_guard lock(mu_);
    Account& a = accounts_[account];
    a.current.requests = saturating_add(a.current.requests, 1);
    a.current.bytes = saturating_add(a.current.bytes, request_bytes);
    a.receipted = a.current;
    receipt = Receipt{ledger_,
                      order_,
                      tls_key_,
                      account,
                      ++a.seq,
                      static_cast<std::uint64_t>(
                          std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count()),
                      a.current};
  }
  return sign_receipt(receipt, key_);
}

void Meter::add(const ledger::AccountId& account, std::uint64_t response_bytes, std::uint64_t tokens) {
  std::lock_guard lock(mu_);
  Usage& u = accounts_[account].current;
  u.bytes = saturating_add(u.bytes, response_bytes);
  u.tokens = saturating_add(u.tokens, tokens);
}

Usage Meter::current(const ledger::AccountId& account) const {
  std::lock_guard lock(mu_);
  const auto it = accounts_.find(account);
  return it == accounts_.end() ? Usage{} : it->second.current;
}

std::map<ledger::AccountId, Usage> Meter::receipted() const {
  std::lock_guard lock(mu_);
  std::map<ledger::AccountId, Usage> out;
  for (const auto& [account, a] : accounts_) out.emplace(account, a.receipted);
  return out;
}

Result<std::unique_ptr<ReceiptLog>> ReceiptLog::open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return std::unexpected(Error{"io.write", "cannot open " + path + ": " + std::strerror(errno)});
  return std::unique_ptr<ReceiptLog>(new ReceiptLog(fd));
}

ReceiptLog::~ReceiptLog() {
  ::close(fd_);
}

Result<void> ReceiptLog::append(std::string_view receipt, const crypto::Certificate& leaf) {
  std::lock_guard lock(mu_);
  if (!last_leaf_ || last_leaf_->native() != leaf.native()) {
    last_leaf_ = leaf;
    last_pem_ = leaf.to_pem();
  }
  const std::string line = json{{"certificate", last_pem_}, {"receipt", receipt}}.dump() + "\n";
  const ssize_t n = ::write(fd_, line.data(), line.size());
  if (n != static_cast<ssize_t>(line.size()))
    return std::unexpected(
        Error{"io.write", std::string("cannot append a receipt: ") + std::strerror(errno)});
  return {};
}

Result<std::vector<KeptReceipt>> read_receipt_log(const std::string& path) {
  auto bytes = read_file(path, std::size_t{64} << 20);
  if (!bytes) return std::unexpected(bytes.error());
  std::vector<KeptReceipt> out;
  std::string_view text = as_chars(*bytes);
  for (std::size_t line = 1; !text.empty(); ++line) {
    const auto nl = text.find('\n');
    const std::string_view row = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    const auto where = [&](const std::string& what) {
      return std::unexpected(Error{"serve.receipt", path + " line " + std::to_string(line) + ": " + what});
    };
    const json j = json::parse(row, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object() || !j.contains("certificate") || !j.contains("receipt") ||
        !j["certificate"].is_string() || !j["receipt"].is_string()) {
      return where("not a {\"certificate\", \"receipt\"} line");
    }
    auto leaf = crypto::Certificate::from_pem(j["certificate"].get<std::string>());
    if (!leaf) return where("the certificate does not parse");
    auto receipt = verify_receipt(j["receipt"].get<std::string>(), *leaf);
    if (!receipt) return where(receipt.error().message);
    out.push_back(KeptReceipt{std::move(*receipt), std::move(*leaf)});
  }
  return out;
}

}  // namespace ward::serve
