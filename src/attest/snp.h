// AMD SEV-SNP attestation reports and their verification.
//
// A report (SEV-SNP Firmware ABI Specification, 56860, table "ATTESTATION_REPORT
// Structure") is signed by a VCEK (a per-chip key derived from the reported
// TCB) or a VLEK (a per-cloud-provider key loaded by the host). The keys are
// endorsed by AMD's hierarchy, one per product: ARK (self-signed root) -> ASK
// (signs VCEKs) or ASVK (signs VLEKs) -> VCEK/VLEK, whose certificate carries
// the TCB and chip it was issued for (VCEK Certificate and KDS Interface
// Specification, 57230). Only the ARKs built into Ward are trust anchors.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "attest/appraisal.h"
#include "base/bytes.h"
#include "base/error.h"
#include "crypto/x509.h"

namespace ward::attest::snp {

inline constexpr std::size_t kReportSize = 0x4A0;  // 1184
// The signature covers bytes 0 .. 0x29F.
inline constexpr std::size_t kSignedSize = 0x2A0;
inline constexpr std::uint32_t kSignatureAlgoEcdsaP384Sha384 = 1;

enum class Product { Milan, Genoa, Turin };
std::string_view product_name(Product p);  // "Milan", "Genoa", "Turin"
// By the CPUID family and model in a version 3+ report; nullopt for a
// processor that is none of the three.
std::optional<Product> product_from_cpuid(std::uint8_t family, std::uint8_t model);

enum class SigningKey { Vcek, Vlek };
std::string_view signing_key_name(SigningKey k);  // "vcek", "vlek"

// GUEST_POLICY bits.
inline constexpr std::uint64_t kPolicySmt = std::uint64_t{1} << 16;
inline constexpr std::uint64_t kPolicyMigrateMa = std::uint64_t{1} << 18;
inline constexpr std::uint64_t kPolicyDebug = std::uint64_t{1} << 19;

struct FirmwareVersion {
  std::uint8_t major = 0;
  std::uint8_t minor = 0;
  std::uint8_t build = 0;
};

struct CpuId {
  std::uint8_t family = 0;  // extended family + family, e.g. 0x19
  std::uint8_t model = 0;   // extended model + model, e.g. 0x01
  std::uint8_t stepping = 0;
};

// One report, fields as the firmware wrote them. TCB_VERSION values stay raw
// (little-endian u64) because their layout depends on the product: see
// decode_tcb.
struct Report {
  std::uint32_t version = 0;
  std::uint32_t guest_svn = 0;
  std::uint64_t policy = 0;
  std::array<std::uint8_t, 16> family_id{};
  std::array<std::uint8_t, 16> image_id{};
  std::uint32_t vmpl = 0;
  std::uint32_t signature_algo = 0;
  std::uint64_t current_tcb = 0;
  std::uint64_t platform_info = 0;
  // Bit 0 AUTHOR_KEY_EN, bit 1 MASK_CHIP_KEY, bits 4:2 SIGNING_KEY.
  std::uint32_t key_info = 0;
  std::array<std::uint8_t, 64> report_data{};
  std::array<std::uint8_t, 48> measurement{};
  std::array<std::uint8_t, 32> host_data{};
  std::array<std::uint8_t, 48> id_key_digest{};
  std::array<std::uint8_t, 48> author_key_digest{};
  std::array<std::uint8_t, 32> report_id{};
  std::array<std::uint8_t, 32> report_id_ma{};
  std::uint64_t reported_tcb = 0;
  std::optional<CpuId> cpuid;  // version 3 and later
  // Zero when the platform masks it (SNP_CONFIG MaskChipId).
  std::array<std::uint8_t, 64> chip_id{};
  std::uint64_t committed_tcb = 0;
  FirmwareVersion current;
  FirmwareVersion committed;
  std::uint64_t launch_tcb = 0;
  std::optional<std::uint64_t> launch_mit_vector;   // version 5
  std::optional<std::uint64_t> current_mit_vector;  // version 5
  // Little-endian, zero-padded; see crypto::ecdsa_raw_from_little_endian.
  std::array<std::uint8_t, 72> signature_r{};
  std::array<std::uint8_t, 72> signature_s{};
  Bytes signed_region;  // bytes 0 .. kSignedSize

  bool author_key_en() const { return (key_info & 0x1) != 0; }
  // The firmware was told not to sign with the chip key: no signature.
  bool mask_chip_key() const { return (key_info & 0x2) != 0; }
  // 0 VCEK, 1 VLEK, 7 none; others are reserved.
  unsigned signing_key() const { return (key_info >> 2) & 0x7; }
  bool debug() const { return (policy & kPolicyDebug) != 0; }
};

// Accepts exactly kReportSize bytes (the firmware always writes that many;
// the MSG_REPORT_RSP header is the caller's to strip) of report versions 2, 3
// or 5. Errors: "snp.report.parse" for the size, "snp.report.version" for an
// unsupported version. Reserved fields are not checked here: see verify.
Result<Report> parse_report(ByteView data);

// Milan and Genoa: boot loader byte 0, TEE byte 1, SNP byte 6, microcode
// byte 7. Turin: FMC byte 0, boot loader 1, TEE 2, SNP 3, microcode 7.
SnpTcb decode_tcb(std::uint64_t raw, Product product);

// The certificate table of an extended report (SNP_GET_EXT_REPORT, the GHCB
// spec's cert_table, configfs-tsm's auxblob): entries of GUID (16 bytes, in
// RFC 4122 byte order), offset and length (u32 little-endian, relative to the
// start of `table`), ended by an all-zero entry, then the DER certificates.
// Returns the VCEK, VLEK, ASK and ARK certificates in table order and skips
// entries with other GUIDs (CRLs, provider-specific blobs). Errors
// ("snp.cert_table"): no terminator, an entry outside the data area, a
// duplicate certificate GUID, or a certificate that is not exactly one DER
// certificate.
Result<std::vector<crypto::Certificate>> parse_cert_table(ByteView table);

inline constexpr std::string_view kGuidVcek = "63da758d-e664-4564-adc5-f4b93be8accd";
inline constexpr std::string_view kGuidVlek = "a8074bc2-a25a-483e-aae6-39c045a0b8a1";
inline constexpr std::string_view kGuidAsk = "4ab7b379-bbac-4fe4-a02f-05aef327c782";
inline constexpr std::string_view kGuidArk = "c0b406a4-a803-4952-9743-3fb6014cd0ae";

// AMD's extensions of VCEK and VLEK certificates (OIDs under
// 1.3.6.1.4.1.3704.1): productName .2, the security patch levels .3.x and
// hwID .4. Absent extensions stay empty.
struct EndorsementExtensions {
  std::optional<std::string> product_name;  // "Milan-B0", "Genoa", "Turin"
  std::optional<std::uint8_t> bootloader;   // blSPL .3.1
  std::optional<std::uint8_t> tee;          // teeSPL .3.2
  std::optional<std::uint8_t> snp;          // snpSPL .3.3
  std::optional<std::uint8_t> microcode;    // ucodeSPL .3.8
  std::optional<std::uint8_t> fmc;          // fmcSPL .3.9, Turin
  // 64 bytes (8 on Turin). Older certificates hold the bytes themselves,
  // newer ones a DER OCTET STRING of them; both are accepted.
  std::optional<Bytes> hwid;
};
// Errors ("snp.vcek"): an extension that is not of the expected DER type.
Result<EndorsementExtensions> parse_endorsement_extensions(const crypto::Certificate& cert);

// One product's key hierarchy.
struct ProductRoots {
  Product product;
  crypto::Certificate ark;
  crypto::Certificate ask;
  crypto::Certificate asvk;
};
// The built-in AMD certificates for Milan, Genoa and Turin.
std::span<const ProductRoots> amd_roots();

// What a verified VCEK/VLEK chain establishes.
struct Endorsement {
  Product product;
  SigningKey key;  // VCEK when the ASK issued it, VLEK when the ASVK did
  EndorsementExtensions extensions;
};

// Verifies that `leaf` (a VCEK or VLEK) was issued by the ASK or ASVK of one
// of `roots`, which the root's ARK signed, all valid at `at`. The ASK/ASVK may
// be the built-in one or one of `intermediates` that the ARK signed; ARKs in
// `intermediates` are never anchors. The leaf must hold a P-384 key and
// well-formed AMD extensions. Errors: "snp.chain".
Result<Endorsement> verify_vcek_chain(const crypto::Certificate& leaf,
                                      std::span<const crypto::Certificate> intermediates,
                                      std::chrono::system_clock::time_point at,
                                      std::span<const ProductRoots> roots = amd_roots());

// Verifies `report` as signed by the VCEK or VLEK among `certs` (any order;
// the leaf is the one certificate that is not a CA, the rest may add an ASK or
// ASVK) and fills `out`. Checks, in order, stopping at the first failure:
//   snp.report.parse       exactly kReportSize bytes
//   snp.report.version     version 2, 3 or 5
//   snp.report.reserved    reserved fields of that version are zero
//   snp.signature_algorithm  ECDSA P-384 with SHA-384
//   snp.chain              verify_vcek_chain
//   snp.signing_key        SIGNING_KEY names the key the chain endorses
//   snp.product            productName and (v3+) CPUID agree with the chain
//   snp.tcb                the certificate's SPLs equal REPORTED_TCB
//   snp.chip_id            a VCEK's hwID equals CHIP_ID (VLEKs are not per chip)
//   snp.report.signature   the key's signature over bytes 0 .. 0x29F
// The field checks run before the signature: a report failing either is
// rejected, and naming the field says more than "bad signature" when a
// genuine report meets the wrong certificate.
// `out.platform` is Snp from the start; only when all pass does `out`
// receive the report's facts: report_data, measurements "measurement" and
// "host_data" always, "id_key_digest" when not zero (an ID block was given at
// launch),
// "author_key_digest" when AUTHOR_KEY_EN is set; debug (policy bit 19),
// snp_reported_tcb, snp_smt_allowed (bit 16), snp_migration_agent_allowed
// (bit 18); claims snp_product, signing_key, chip_id (hex), vmpl, policy
// (0x-prefixed hex), guest_svn, report_version. No TCB status: that needs
// AMD's current TCB, which a report alone does not give.
void verify(ByteView report, std::span<const crypto::Certificate> certs,
            std::chrono::system_clock::time_point at, Appraisal& out);
// As above with other roots: for tests and for callers that pin a subset.
void verify(ByteView report, std::span<const crypto::Certificate> certs,
            std::chrono::system_clock::time_point at, std::span<const ProductRoots> roots, Appraisal& out);

}  // namespace ward::attest::snp
