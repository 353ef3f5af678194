// Test builders for the ledger: parties with keys, and signed transactions in
// one line, so each negative case is a one-line variation.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/bytes.h"
#include "ca/oids.h"
#include "crypto/der.h"
#include "crypto/hash.h"
#include "crypto/keys.h"
#include "crypto/x509.h"
#include "ledger/tx.h"

namespace ward::ledger::testing {

using nlohmann::json;

struct Party {
  crypto::Ed25519PrivateKey key = crypto::Ed25519PrivateKey::generate();
  std::uint64_t nonce = 0;  // last nonce this party had accepted

  AccountId id() const { return key.public_key(); }
  std::string hex() const { return hex_encode(id()); }
  std::string recipient() const { return "age1" + hex().substr(0, 58); }
};

inline json tx_json(const LedgerId& ledger, const Party& sender, std::uint64_t nonce, std::string_view type,
                    json args) {
  return {{"v", 1},       {"ledger", hex_encode(ledger)}, {"sender", sender.hex()}, {"nonce", nonce},
          {"type", type}, {"args", std::move(args)}};
}

// Signs whatever `tx` holds, valid or not, the way a client would.
inline std::string envelope(const json& tx, const crypto::Ed25519PrivateKey& key) {
  const auto sig = key.sign(as_bytes(canonical_bytes(tx)));
  return json{{"sig", base64_encode(sig)}, {"tx", tx}}.dump();
}

// The next transaction of `sender` (nonce = its last accepted + 1 unless given).
inline std::string signed_tx(const LedgerId& ledger, const Party& sender, std::string_view type, json args,
                             std::optional<std::uint64_t> nonce = std::nullopt) {
  return envelope(tx_json(ledger, sender, nonce.value_or(sender.nonce + 1), type, std::move(args)),
                  sender.key);
}

// The report object a CVM signs for an order: the fields the contract checks
// and a few of the loader's, which the ledger stores without reading.
inline json report_body(const LedgerId& ledger, std::uint64_t order, const Party& cvm,
                        std::string_view engine) {
  return {{"v", 1},
          {"ledger", hex_encode(ledger)},
          {"order", order},
          {"cvm", hex_encode(crypto::sha256(cvm.id()))},
          {"engine", engine},
          {"exit_code", 0},
          {"outcome", "exited with status 0"}};
}

// {"report": body, "sig": hex} with `body` signed by `signer` as a CVM signs
// its integrity report (src/loader/report.h).
inline json sign_report_body(const json& body, const Party& signer) {
  const auto sig = signer.key.sign(as_bytes(std::string(kReportDomain) + canonical_json(body)));
  return {{"report", body}, {"sig", hex_encode(sig)}};
}

// The consistent report `cvm` submits for `order`.
inline json signed_report(const LedgerId& ledger, std::uint64_t order, const Party& cvm,
                          std::string_view engine) {
  return sign_report_body(report_body(ledger, order, cvm, engine), cvm);
}

// The report body of a service's start or final report: the service part
// with the TLS key's hash, and inputs with their plaintext digests (the
// loader's report.h format; the ledger reads only these two of them).
inline json service_report_body(const LedgerId& ledger, std::uint64_t order, const Party& cvm,
                                std::string_view engine, std::string_view tls_key_sha256,
                                const std::vector<std::string>& input_digests) {
  json body = report_body(ledger, order, cvm, engine);
  body["service"] = {{"tls_key_sha256", tls_key_sha256},
                     {"tls_certificate", "-----BEGIN CERTIFICATE-----"},
                     {"endpoint", "https://127.0.0.1:8443"}};
  body["inputs"] = json::array();
  for (const auto& digest : input_digests) {
    body["inputs"].push_back({{"resource", std::string(64, '0')}, {"plaintext_sha256", digest}});
  }
  return body;
}

// A certificate in the form of a CVM certificate (docs/ca.md) for `key`'s
// public key, naming `recipient` in its age recipient extension and valid
// until `not_after`. Self-signed: the contract reads a CVM certificate, the
// attestation layer verifies it.
inline std::string cvm_certificate(const crypto::Ed25519PrivateKey& key, std::string_view recipient,
                                   std::chrono::sys_seconds not_after) {
  auto cert = crypto::CertificateBuilder()
                  .subject("cvm-test", "Ward CVM")
                  .validity(not_after - std::chrono::hours(24), not_after)
                  .extension(ca::kAgeRecipientExtensionOid,
                             crypto::der::encode(crypto::der::kTagUtf8String, as_bytes(recipient)))
                  .self_sign(key);
  return cert.value().to_pem();
}

}  // namespace ward::ledger::testing
