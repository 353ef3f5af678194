// Online collateral: DCAP collateral from Intel's PCS (or a PCCS), VCEKs and
// their chain from AMD's KDS. Used only when the user asks for it; the
// verifiers themselves stay offline. Responses are kept in an on-disk cache
// and reused until the signed content says it is due for an update (TCB Info
// and QE Identity nextUpdate, CRL nextUpdate, certificate notAfter), so
// repeated verifications do not hit the services. Nothing is verified here:
// signatures and chains are the verifiers' business.
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "attest/appraisal.h"
#include "attest/dcap/collateral.h"
#include "base/bytes.h"
#include "base/error.h"
#include "crypto/x509.h"

namespace ward::attest {

inline constexpr std::string_view kIntelPcsUrl = "https://api.trustedservices.intel.com";
inline constexpr std::string_view kAmdKdsUrl = "https://kdsintf.amd.com";
inline constexpr std::size_t kMaxFetchResponseSize = 4 * 1024 * 1024;

// $XDG_CACHE_HOME/ward/collateral, else ~/.cache/ward/collateral; empty when
// neither variable is set.
std::filesystem::path default_collateral_cache_dir();

struct FetchOptions {
  // Intel PCS or a PCCS, without the API path: requests go to
  // <pcs_url>/{sgx,tdx}/certification/v4/...
  std::string pcs_url = std::string(kIntelPcsUrl);
  std::string kds_url = std::string(kAmdKdsUrl);
  // Where the Intel root CA CRL comes from; empty: the CRL distribution point
  // in the root certificate (Intel's own server). A PCCS serves it at
  // <pcs_url>/sgx/certification/v4/rootcacrl.
  std::string root_ca_crl_url;
  // Empty: no cache.
  std::filesystem::path cache_dir = default_collateral_cache_dir();
  // Judges whether a cached response is still current; unset: the system clock.
  std::optional<std::chrono::system_clock::time_point> now;
  std::chrono::seconds timeout{30};
};

// Which Intel CA issued the PCK certificate, hence which PCK CRL applies.
enum class PckCa { Platform, Processor };

// The collateral to verify a quote of `platform` (Tdx or Sgx) from a platform
// of the given FMSPC (6 bytes, hex). The TCB Info and QE Identity texts are
// the bytes the service signed, cut from its responses, never re-encoded.
// Errors: "attest.fetch" naming the URL (unreachable, HTTP status, a
// malformed response).
Result<dcap::Collateral> fetch_dcap_collateral(const FetchOptions& options, Platform platform,
                                               std::string_view fmspc_hex, PckCa ca);

// The VCEK of an SEV-SNP chip at a reported TCB, then its ASK and ARK:
// {vcek, ask, ark}. `product` is "Milan", "Genoa" or "Turin" (any case);
// `chip_id` is the report's 64-byte CHIP_ID (Turin's KDS takes its first 8);
// Turin needs `tcb.fmc`, the others refuse it. Errors: "attest.fetch".
Result<std::vector<crypto::Certificate>> fetch_vcek(const FetchOptions& options, std::string_view product,
                                                    ByteView chip_id, const SnpTcb& tcb);

}  // namespace ward::attest
