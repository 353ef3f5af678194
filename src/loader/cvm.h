// A CVM's identity as its loader holds it: the key pair generated inside the
// TEE, and the certificate the certification center issued over hardware
// evidence that binds those keys (DESIGN.md step 2).
//
// The CVM's directory stands in for its memory and sealed disk: the key is
// kept there (mode 0600) so that a loader restarted inside the same CVM keeps
// its identity and finishes the orders granted to it. A new CVM is a new
// directory, with fresh keys.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "base/error.h"
#include "crypto/x509.h"
#include "keys/party_key.h"
#include "ledger/client.h"
#include "ledger/tx.h"

namespace ward::loader {

struct CvmOptions {
  std::filesystem::path dir;  // the CVM's private directory
  std::string platform;       // "sim" or "tsm"
  std::string ca_url;         // the certification center
  // sim: the binary measured into MRTD (the running loader by default).
  std::filesystem::path measured = "/proc/self/exe";
  std::filesystem::path tsm_root;  // tsm: configfs-tsm report directory (empty: the default)
};

struct CvmState {
  keys::PartyKey key;
  crypto::Certificate certificate;
  std::string certificate_pem;
  ledger::CvmId id{};
  bool simulated = false;
};

// Loads or creates the CVM's key in options.dir, and returns it with a
// certificate: the one kept in the directory while it has more than an hour
// left, else a new one from the certification center over fresh evidence.
// Errors: "loader.cvm" (platform, directory), the evidence provider's, or the
// center's ("ca.client", "ca.refused").
Result<CvmState> provision_cvm(const CvmOptions& options);

// When a CVM's certificate is renewed (docs/serving.md, "Long-running CVMs:
// renewal").
struct RenewalOptions {
  // Renew once no more than this is left of the certificate; by default the
  // last third of its lifetime (notBefore to notAfter).
  std::optional<std::chrono::seconds> before;
  // How long a failed renewal, or a failed cvms.update, waits for its retry.
  std::chrono::seconds retry{30};
};

// The time from which a certificate valid from `not_before` to `not_after`
// is due for renewal: `before` ahead of its end, or with two thirds of its
// lifetime gone. Never before `not_before`.
std::chrono::sys_seconds renewal_time(std::chrono::sys_seconds not_before, std::chrono::sys_seconds not_after,
                                      std::optional<std::chrono::seconds> before);

// Keeps a running CVM's certificate current, here and on the ledger. Used by
// the loader's main loop and by a service's serving loop alike, from one
// thread.
class CertificateRenewal {
 public:
  CertificateRenewal(CvmOptions cvm, RenewalOptions options, std::function<void(std::string_view)> log)
      : cvm_(std::move(cvm)), options_(options), log_(std::move(log)) {}

  // Call often once the CVM is listed. When `cvm`'s certificate is due:
  // fresh evidence for the same keys, a new certificate from the center
  // (as provision_cvm gets one), kept in the CVM's directory (cvm.pem,
  // replaced atomically) and in `cvm`. Then, and on the first call, makes
  // the ledger's record of the CVM hold that certificate (cvms.update: a
  // loader restarted with a new certificate also catches the ledger up).
  // Failures are logged and retried after options.retry; they never end
  // anything. True when `cvm` now holds a new certificate.
  bool renew_if_due(CvmState& cvm, ledger::LedgerClient& ledger);

 private:
  Result<void> publish(const CvmState& cvm, ledger::LedgerClient& ledger);

  CvmOptions cvm_;
  RenewalOptions options_;
  std::function<void(std::string_view)> log_;
  bool published_ = false;  // the ledger holds the certificate `cvm` holds
  std::chrono::steady_clock::time_point retry_at_{};
};

}  // namespace ward::loader
