// NVIDIA Hopper (H100) GPU attestation: the SPDM 1.1 GET_MEASUREMENTS request
// and its signed MEASUREMENTS response, as the driver returns them together
// (the "attestation report"), verified against the device certificate chain
// that ends at the NVIDIA Device Identity CA. Layouts: DMTF DSP0274 1.1
// (GET_MEASUREMENTS, MEASUREMENTS, DMTF measurement blocks); the opaque data
// is NVIDIA's list of little-endian {type u16, size u16, value} fields.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "attest/appraisal.h"
#include "base/bytes.h"
#include "base/error.h"
#include "crypto/x509.h"

namespace ward::attest::nvgpu {

inline constexpr std::uint8_t kSpdmVersion11 = 0x11;
inline constexpr std::uint8_t kGetMeasurementsCode = 0xE0;
inline constexpr std::uint8_t kMeasurementsCode = 0x60;
inline constexpr std::size_t kRequestSize = 37;
inline constexpr std::size_t kNonceSize = 32;
// ECDSA P-384 r||s: the only algorithm Hopper negotiates.
inline constexpr std::size_t kSignatureSize = 96;
// DSP0274 1.1 caps OpaqueLength at 1024 bytes.
inline constexpr std::size_t kMaxOpaqueSize = 1024;

// NVIDIA's opaque data field types (nvtrust's OPAQUE_FIELD_ID_* numbering).
enum class OpaqueType : std::uint16_t {
  CertIssuerName = 1,
  CertAuthorityKeyIdentifier = 2,
  DriverVersion = 3,
  GpuInfo = 4,
  Sku = 5,
  VbiosVersion = 6,
  ManufacturerId = 7,
  TamperDetection = 8,
  Smc = 9,
  Vpr = 10,
  Nvdec0Status = 11,
  MeasurementCount = 12,
  CprInfo = 13,
  BoardId = 14,
  ChipSku = 15,
  ChipSkuMod = 16,
  Project = 17,
  ProjectSku = 18,
  ProjectSkuMod = 19,
  Fwid = 20,
  ProtectedPcieStatus = 21,
  SwitchPdi = 22,
  FloorsweptPorts = 23,
  PositionId = 24,
  LockSwitchStatus = 25,
  GpuLinkConn = 32,
  SysEnableStatus = 33,
  OpaqueDataVersion = 34,
  ChipInfo = 35,
  FeatureFlag = 36,
};

struct OpaqueField {
  std::uint16_t type = 0;  // an OpaqueType, or a number this code does not know
  Bytes value;
};

struct GetMeasurementsRequest {
  std::uint8_t version = 0;
  std::uint8_t param1 = 0;  // bit 0: signature requested
  std::uint8_t param2 = 0;  // measurement index; 0xFF for all
  std::array<std::uint8_t, kNonceSize> nonce{};
  std::uint8_t slot_id = 0;
};

// One DMTF measurement block (MeasurementSpecification bit 0).
struct MeasurementBlock {
  std::uint8_t index = 0;
  std::uint8_t spec = 0;
  std::uint8_t value_type = 0;  // bits 6:0 what was measured; bit 7 raw bit stream, else digest
  Bytes value;
};

struct MeasurementsResponse {
  std::uint8_t version = 0;
  std::uint8_t param1 = 0;
  std::uint8_t param2 = 0;  // bits 3:0 the slot that signed
  std::vector<MeasurementBlock> blocks;
  std::array<std::uint8_t, kNonceSize> nonce{};  // the responder's own nonce
  Bytes opaque_data;
  std::array<std::uint8_t, kSignatureSize> signature{};  // raw r||s, P-384, big-endian
  // Bytes after the signature: unsigned and ignored. Some drivers append
  // padding (trustee's hopper_coco_report1 ends with one zero byte).
  std::size_t trailing_bytes = 0;
};

struct SpdmReport {
  GetMeasurementsRequest request;
  MeasurementsResponse response;
  std::vector<OpaqueField> opaque_fields;
  Bytes signed_part;  // request || response up to the signature
};

// Each parser reads only what its length fields describe. Errors
// ("attest.spdm") name the field that is short, inconsistent or unsupported.
// Exactly kRequestSize bytes, request code 0xE0, signature requested.
Result<GetMeasurementsRequest> parse_request(ByteView data);
// A MEASUREMENTS response with a P-384 signature, then any trailing bytes.
// Blocks must be DMTF blocks with distinct indices.
Result<MeasurementsResponse> parse_response(ByteView data);
// The fields must tile `data` exactly and their types be distinct.
Result<std::vector<OpaqueField>> parse_opaque_data(ByteView data);
// All three, from request || response as the driver returns them.
Result<SpdmReport> parse_report(ByteView data);

// The value of `type` in `fields`, if present.
const OpaqueField* find_opaque(std::span<const OpaqueField> fields, OpaqueType type);

// The NVIDIA Device Identity CA (SHA-256 of DER 102bf659...7b48), built in.
const crypto::Certificate& nvidia_device_root();

// Verifies `evidence` (request || response) with `certs`, the device chain as
// the driver returns it: device leaf first, then intermediates; a root in it
// is dropped (only an anchor may end the chain). The chain must end at the
// built-in NVIDIA Device Identity CA.
// Fills `out`: platform NvGpu, report_data = the request nonce (what the
// verifier sent), measurements "measurement_<index>", claims from the opaque
// data ("driver_version", "vbios_version", "fwid", "chip_sku", ...) and the
// checks, in order, stopping at the first failure: spdm.request.parse,
// spdm.response.parse, spdm.version, gpu.chain, spdm.signature,
// spdm.opaque_data, gpu.fwid.
void verify(ByteView evidence, std::span<const crypto::Certificate> certs,
            std::chrono::system_clock::time_point at, Appraisal& out);
// As above with other trust anchors (tests build their own device chains).
void verify(ByteView evidence, std::span<const crypto::Certificate> certs,
            std::span<const crypto::Certificate> anchors, std::chrono::system_clock::time_point at,
            Appraisal& out);

}  // namespace ward::attest::nvgpu
