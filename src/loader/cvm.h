// A CVM's identity as its loader holds it: the key pair generated inside the
// TEE, and the certificate the certification center issued over hardware
// evidence that binds those keys (DESIGN.md step 2).
//
// The CVM's directory stands in for its memory and sealed disk: the key is
// kept there (mode 0600) so that a loader restarted inside the same CVM keeps
// its identity and finishes the orders granted to it. A new CVM is a new
// directory, with fresh keys.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "base/error.h"
#include "crypto/x509.h"
#include "keys/party_key.h"
#include "ledger/tx.h"

namespace ward::loader {

struct CvmOptions {
  std::filesystem::path dir;      // the CVM's private directory
  std::string platform;           // "sim" or "tsm"
  std::string ca_url;             // the certification center
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

}  // namespace ward::loader
