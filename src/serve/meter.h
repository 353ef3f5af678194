// Metering (docs/serving.md, "Metering and receipts"). The gateway counts,
// for each authenticated account, its requests, the bytes of its request
// and response bodies, and the tokens that OpenAI-style responses report in
// their "usage". Every response to such an account carries a receipt: the
// account's cumulative counters, signed by the service's TLS key, which the
// client has already verified. The loader submits to the ledger
// (services.usage) only counters that a receipt has shown the client, so
// the ledger never holds a charge the client has no receipt for.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "crypto/ecdsa.h"
#include "crypto/hash.h"
#include "crypto/x509.h"
#include "http/message.h"
#include "ledger/tx.h"

namespace ward::serve {

inline constexpr std::string_view kReceiptHeader = "Ward-Receipt";
inline constexpr std::string_view kReceiptDomain = "ward/receipt/v1\n";
// A receipt header value is well under this; a longer one is refused unread.
inline constexpr std::size_t kMaxReceiptSize = 2048;

// One account's counters, cumulative since it first used the service.
struct Usage {
  std::uint64_t requests = 0;
  std::uint64_t tokens = 0;  // the "usage" totals the engine's responses reported
  std::uint64_t bytes = 0;   // request bodies plus response bodies (de-chunked)

  bool operator==(const Usage&) const = default;
};

struct Receipt {
  ledger::LedgerId ledger{};
  std::uint64_t order = 0;
  crypto::Sha256Digest tls_key{};  // SHA-256 of the signing key's SubjectPublicKeyInfo (tls_key_digest)
  ledger::AccountId account{};
  std::uint64_t seq = 0;   // 1, 2, ... for each account under one TLS key
  std::uint64_t time = 0;  // Unix seconds, the gateway's clock
  Usage usage;

  bool operator==(const Receipt&) const = default;
};

// The canonical JSON a receipt's signature covers (after kReceiptDomain).
std::string receipt_body(const Receipt& receipt);

// The Ward-Receipt header value: base64(body) "." base64(signature), both
// padded; the signature is ECDSA P-256 with SHA-256 over kReceiptDomain and
// the body, raw r || s.
std::string sign_receipt(const Receipt& receipt, const crypto::EcPrivateKey& key);

// Reads a header value without checking its signature: exactly the fields of
// receipt_body, in its canonical spelling. Errors: "serve.receipt".
Result<Receipt> parse_receipt(std::string_view value);

// parse_receipt, then: `leaf` (the service certificate the client verified)
// holds the key the receipt names, and the signature is that key's.
// Errors: "serve.receipt".
Result<Receipt> verify_receipt(std::string_view value, const crypto::Certificate& leaf);

// The tokens an OpenAI-style response reports, read as its body passes:
// "usage": {"total_tokens": N} (or prompt_tokens + completion_tokens) in an
// application/json body, or in the last `data:` event of a
// text/event-stream that has one. A stream that reports no usage (one cut
// short before its last event, or an engine that was not asked) counts its
// `data:` events other than [DONE]: one per token, as llama.cpp and OpenAI
// stream them. Anything else, a body or event line past 4 MiB, or JSON that
// does not parse counts 0: the engine under-reports only against the
// service's own deployer.
class TokenCounter {
 public:
  explicit TokenCounter(std::string_view content_type);
  void feed(std::string_view data);
  // Call once the body has ended.
  std::uint64_t tokens();

 private:
  enum class Kind { None, Json, EventStream };
  void event_line(std::string_view line);

  Kind kind_ = Kind::None;
  std::string buffer_;
  bool overflow_ = false;
  bool usage_seen_ = false;
  std::uint64_t tokens_ = 0;
  std::uint64_t events_ = 0;  // data events of a stream, [DONE] not counted
};

// OpenAI-style engines report a stream's usage only when the request asks
// (`"stream_options": {"include_usage": true}`). For a POST whose JSON body
// has `"stream": true`, sets that, so that a metered client cannot stream
// tokens unreported by leaving it out or setting it false; anything else is
// left as it is. The client then gets one more event, the usage chunk with
// no choices that OpenAI's API defines.
void ask_for_usage(http::Request& request);

// The counters of every account using one service under one TLS key.
// Thread-safe: handler threads admit and add while the loader reads.
class Meter {
 public:
  // `tls_key` is tls_key_digest of the certificate that holds `key`.
  Meter(ledger::LedgerId ledger, std::uint64_t order, crypto::EcPrivateKey key, crypto::Sha256Digest tls_key);

  // Starts `account` at what the ledger recorded for it (a restarted loader
  // carries on from there, never below it).
  void restore(const ledger::AccountId& account, const Usage& recorded);

  // Counts one request with a body of `request_bytes` and returns the
  // receipt for its response (a Ward-Receipt header value).
  std::string admit(const ledger::AccountId& account, std::uint64_t request_bytes,
                    std::chrono::system_clock::time_point now);

  // Adds what a response brought once it has ended: its body bytes and tokens.
  // They show on the account's next receipt.
  void add(const ledger::AccountId& account, std::uint64_t response_bytes, std::uint64_t tokens);

  // What `account` has used so far (including responses not yet receipted).
  Usage current(const ledger::AccountId& account) const;

  // Every account's counters as its latest receipt stated them: what the
  // ledger may be told.
  std::map<ledger::AccountId, Usage> receipted() const;

 private:
  struct Account {
    Usage current;
    Usage receipted;
    std::uint64_t seq = 0;
  };

  ledger::LedgerId ledger_;
  std::uint64_t order_;
  crypto::EcPrivateKey key_;
  crypto::Sha256Digest tls_key_;
  mutable std::mutex mu_;
  std::map<ledger::AccountId, Account> accounts_;
};

// The receipts a client keeps (`ward proxy --receipts FILE`): one JSON line
// each, {"certificate": LEAF PEM, "receipt": VALUE}, appended as responses
// arrive. The certificate lets anyone check the receipt later: its key signed
// the receipt, and the order's CVM key (on the ledger) signed it.
class ReceiptLog {
 public:
  // Creates FILE (mode 0600) or appends to it. Errors: "io.write".
  static Result<std::unique_ptr<ReceiptLog>> open(const std::string& path);
  ~ReceiptLog();
  ReceiptLog(const ReceiptLog&) = delete;
  ReceiptLog& operator=(const ReceiptLog&) = delete;

  // Thread-safe; each line is written whole with one write.
  Result<void> append(std::string_view receipt, const crypto::Certificate& leaf);

 private:
  explicit ReceiptLog(int fd) : fd_(fd) {}
  std::mutex mu_;
  int fd_;
  // The last certificate's PEM, made again only when the certificate changes
  // (held, so that its address is not reused by another).
  std::optional<crypto::Certificate> last_leaf_;
  std::string last_pem_;
};

struct KeptReceipt {
  Receipt receipt;
  crypto::Certificate leaf;
};

// Every line of a receipt log, each checked by verify_receipt against its own
// certificate; at most 64 MiB. Errors: "serve.receipt" naming the line.
Result<std::vector<KeptReceipt>> read_receipt_log(const std::string& path);

}  // namespace ward::serve
