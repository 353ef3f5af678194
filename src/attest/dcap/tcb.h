// Intel's signed TCB evaluation data and the rules that turn it into a TCB
// status: TCB Info (v3 for SGX and TDX, v2 for SGX) and QE Identity (v2) as
// Intel PCS signs them, TCB level selection for the platform, the TDX module
// and the quoting enclave, and the convergence of the three statuses.
// Formats: Intel PCS API, "TCB Info V3/V2" and "Enclave Identity V2". Rules:
// Intel DCAP Quote Verification Library, TcbLevelCheck, TdxModuleCheck,
// TDRelaunchCheck and EnclaveReportVerifier.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "attest/appraisal.h"
#include "attest/dcap/pck.h"
#include "attest/dcap/quote.h"
#include "base/bytes.h"
#include "base/error.h"
#include "crypto/x509.h"

namespace ward::attest::dcap {

using std::chrono::sys_seconds;

// One level of the platform TCB, newest first in TcbInfo::tcb_levels.
struct TcbLevel {
  std::array<std::uint8_t, 16> sgx_components{};
  std::uint16_t pce_svn = 0;
  std::array<std::uint8_t, 16> tdx_components{};  // TDX TCB Info only
  std::string tcb_date;                           // RFC 3339, as signed
  TcbStatus status = TcbStatus::UpToDate;
  std::vector<std::string> advisory_ids;
};

// A level of an enclave's or TDX module's TCB, keyed by its ISVSVN.
struct IsvTcbLevel {
  std::uint16_t isv_svn = 0;
  std::string tcb_date;
  TcbStatus status = TcbStatus::UpToDate;
  std::vector<std::string> advisory_ids;
};

struct TdxModuleIdentity {
  std::string id;  // "TDX_" and the module's major version in hex ("TDX_01"); empty for tdxModule
  std::array<std::uint8_t, 48> mrsigner{};
  std::array<std::uint8_t, 8> attributes{};
  std::array<std::uint8_t, 8> attributes_mask{};
  std::vector<IsvTcbLevel> tcb_levels;  // empty for tdxModule
};

enum class TcbInfoId { Sgx, Tdx };

struct TcbInfo {
  TcbInfoId id = TcbInfoId::Sgx;
  int version = 3;  // 2 (SGX only) or 3
  sys_seconds issue_date{};
  sys_seconds next_update{};
  std::array<std::uint8_t, 6> fmspc{};
  std::array<std::uint8_t, 2> pce_id{};
  int tcb_type = 0;
  std::uint32_t tcb_evaluation_data_number = 0;
  std::optional<TdxModuleIdentity> tdx_module;           // TDX
  std::vector<TdxModuleIdentity> tdx_module_identities;  // TDX, may be empty
  std::vector<TcbLevel> tcb_levels;
};

enum class EnclaveId { Qe, TdQe, Qve };

struct QeIdentity {
  EnclaveId id = EnclaveId::Qe;
  sys_seconds issue_date{};
  sys_seconds next_update{};
  std::uint32_t tcb_evaluation_data_number = 0;
  std::uint32_t miscselect = 0;  // the hex text read big-endian
  std::uint32_t miscselect_mask = 0;
  std::array<std::uint8_t, 16> attributes{};
  std::array<std::uint8_t, 16> attributes_mask{};
  std::array<std::uint8_t, 32> mrsigner{};
  std::uint16_t isv_prod_id = 0;
  std::vector<IsvTcbLevel> tcb_levels;
};

// Parse the signed JSON body (the "tcbInfo" / "enclaveIdentity" object, as
// Collateral holds it). Strict: every required field present with its type,
// hex fields of exact length, statuses from the format's list, dates in the
// form "2024-03-13T00:00:00Z". Errors: "attest.collateral", naming the field
// by its path ("tcbInfo.tcbLevels[2].tcbStatus").
Result<TcbInfo> parse_tcb_info(std::string_view signed_json_text);
Result<QeIdentity> parse_qe_identity(std::string_view signed_json_text);

// The signature PCS puts beside the body: ECDSA P-256 with SHA-256 over the
// exact text, raw r||s, by `signer` (the leaf of the issuer chain). Errors:
// "crypto.verify" when it does not verify, "attest.collateral" when the
// signer's key is not P-256.
Result<void> verify_signed_json(std::string_view text, ByteView signature_raw,
                                const crypto::Certificate& signer);

// Whether the TCB Info is the one for this platform: its id matches the TEE
// (v3), its FMSPC and PCE-ID those of the PCK certificate. Errors: "attest.tcb_info".
Result<void> check_tcb_info_applies(const TcbInfo& info, const PckExtensions& pck, bool tdx);
// Whether the QE Identity is the one for this TEE: TD_QE for TDX, QE for SGX.
// Errors: "attest.qe_identity".
Result<void> check_qe_identity_applies(const QeIdentity& id, bool tdx);

// Whether the TD's SEAM module is the one the TCB Info describes: the TDX
// module identity "TDX_xx" for the module's major version xx =
// tee_tcb_svn[1] when it is not zero, else the tdxModule entry; MRSIGNERSEAM
// must equal its mrsigner and SEAMATTRIBUTES under its mask its attributes.
// Errors: "attest.tdx_module", naming the identity and the field.
Result<void> check_tdx_module(const TcbInfo& info, const TdReport& td);

struct TcbMatch {
  TcbStatus status = TcbStatus::NotSupported;
  std::vector<std::string> advisories;
  std::string tcb_date;  // empty when nothing matched
  // Set by match_tcb_level for a TDX 1.5 TD launched on an out-of-date
  // module when TEE_TCB_SVN_2 (the module loaded since, by a TD-preserving
  // update) reaches the newest level: TDRelaunchAdvised, or
  // TDRelaunchAdvisedConfigurationNeeded when the platform needs
  // configuration; NotSupported when the loaded module has no identity.
  // fold_status applies it only when the QE is up to date.
  std::optional<TcbStatus> relaunch;
};

// Selects the platform's TCB level. SGX (td null): the first level whose 16
// SGX component SVNs and PCESVN are each <= the PCK certificate's. TDX: the
// first such level whose TDX component SVNs are also <= TEE_TCB_SVN (from
// index 2 when tee_tcb_svn[1] > 0, the module's own SVNs being judged by its
// identity instead). For TDX with tee_tcb_svn[1] > 0 the module's status
// (the first level of identity "TDX_xx" whose isvsvn <= tee_tcb_svn[0])
// converges into the result: OutOfDate makes UpToDate and SWHardeningNeeded
// OutOfDate, and the two configuration statuses OutOfDateConfigurationNeeded;
// Revoked makes Revoked. No matching level, identity or module level gives
// NotSupported, which is a result, not an error. Advisories are unioned, the
// date is the earliest of the matched levels'. Errors only for a TcbInfo
// that is unusable for this TEE ("attest.tcb_info": SGX info for a TD).
Result<TcbMatch> match_tcb_level(const TcbInfo& info, const PckExtensions& pck, const TdReport* td);

// Matches the QE's report against its identity: MISCSELECT and ATTRIBUTES
// under their masks, MRSIGNER and ISVPRODID equal, else an
// "attest.qe_identity" error naming the field. The status is that of the
// first level whose isvsvn <= the QE's ISVSVN, NotSupported when none is.
Result<TcbMatch> match_qe_identity(const QeIdentity& id, const EnclaveReport& qe_report);

// The TCB status of the whole (Intel's convergeTcbStatusWithQeTcbStatus):
// the platform's status from match_tcb_level, with the TD relaunch advice
// when the QE is neither out of date nor revoked, then the QE's status: a QE
// status other than UpToDate and Revoked counts as OutOfDate and converges as
// the TDX module's does; Revoked gives Revoked; NotSupported on either side
// gives NotSupported. Advisories are unioned, the date is the earliest.
TcbMatch fold_status(const TcbMatch& platform, const TcbMatch& qe);

}  // namespace ward::attest::dcap
