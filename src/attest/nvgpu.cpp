#include "attest/nvgpu.h"

#include <algorithm>
#include <optional>
#include <set>
#include <string>
#include <utility>

#include "crypto/der.h"
#include "crypto/ecdsa.h"
#include "crypto/hash.h"

namespace ward::attest::nvgpu {
namespace {

constexpr std::size_t kResponseHeaderSize = 8;  // version, code, param1, param2, blocks, length[3]
constexpr std::uint8_t kDmtfSpec = 0x01;
constexpr std::uint8_t kSignatureRequested = 0x01;
constexpr std::size_t kFwidSize = 48;
// TCG DICE TcbInfo, where the device leaf states the firmware it certifies.
constexpr std::string_view kTcbInfoOid = "2.23.133.5.4.1";
constexpr std::uint8_t kSha384Oid[] = {0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02};

std::unexpected<Error> spdm_error(std::string message) {
  return fail("attest.spdm", std::move(message));
}

// Reads fixed-size fields from the front of a byte range. Every read checks
// the length first; a failed read leaves the range alone.
class Reader {
 public:
  explicit Reader(ByteView data) : data_(data) {}

  std::size_t remaining() const { return data_.size(); }
  ByteView rest() const { return data_; }

  std::optional<ByteView> bytes(std::size_t n) {
    if (data_.size() < n) return std::nullopt;
    ByteView out = data_.first(n);
    data_ = data_.subspan(n);
    return out;
  }
  std::optional<std::uint8_t> u8() {
    auto b = bytes(1);
    if (!b) return std::nullopt;
    return (*b)[0];
  }
  // Little-endian, as every SPDM multi-byte field.
  std::optional<std::uint32_t> uint_le(std::size_t n) {
    auto b = bytes(n);
    if (!b) return std::nullopt;
    std::uint32_t v = 0;
    for (std::size_t i = n; i > 0; --i) v = (v << 8) | (*b)[i - 1];
    return v;
  }
  template <std::size_t N>
  bool copy_to(std::array<std::uint8_t, N>& out) {
    auto b = bytes(N);
    if (!b) return false;
    std::copy(b->begin(), b->end(), out.begin());
    return true;
  }

 private:
  ByteView data_;
};

Result<MeasurementBlock> parse_block(Reader& record) {
  auto index = record.u8();
  auto spec = record.u8();
  auto size = record.uint_le(2);
  if (!index || !spec || !size) return spdm_error("measurement record: truncated block header");
  const std::string where = "measurement block " + std::to_string(*index);
  auto body = record.bytes(*size);
  if (!body)
    return spdm_error(where + ": " + std::to_string(*size) + " bytes announced, " +
                      std::to_string(record.remaining()) + " left in the record");
  if ((*spec & kDmtfSpec) == 0) {
    return spdm_error(where + ": measurement specification " + std::to_string(*spec) + " is not DMTF");
  }
  Reader dmtf(*body);
  auto value_type = dmtf.u8();
  auto value_size = dmtf.uint_le(2);
  if (!value_type || !value_size) return spdm_error(where + ": shorter than a DMTF measurement header");
  if (dmtf.remaining() != *value_size) {
    return spdm_error(where + ": value size " + std::to_string(*value_size) + " disagrees with block size " +
                      std::to_string(*size));
  }
  return MeasurementBlock{*index, *spec, *value_type, Bytes(dmtf.rest().begin(), dmtf.rest().end())};
}

Result<std::vector<MeasurementBlock>> parse_record(ByteView data, std::size_t expected_blocks) {
  Reader record(data);
  std::vector<MeasurementBlock> blocks;
  std::set<std::uint8_t> indices;
  while (record.remaining() > 0) {
    auto block = parse_block(record);
    if (!block) return std::unexpected(block.error());
    if (!indices.insert(block->index).second) {
      return spdm_error("measurement block " + std::to_string(block->index) + " appears twice");
    }
    blocks.push_back(std::move(*block));
  }
  if (blocks.size() != expected_blocks) {
    return spdm_error("NumberOfBlocks is " + std::to_string(expected_blocks) + " but the record holds " +
                      std::to_string(blocks.size()));
  }
  return blocks;
}

// FWID ::= SEQUENCE { hashAlg OID, digest OCTET STRING } with SHA-384.
std::optional<ByteView> sha384_fwid(ByteView sequence) {
  auto oid = crypto::der::read(sequence);
  auto digest = crypto::der::read(sequence);
  if (!oid || !digest || !sequence.empty() || oid->tag != 0x06 || digest->tag != 0x04) return std::nullopt;
  if (!std::ranges::equal(oid->contents, ByteView(kSha384Oid)) || digest->contents.size() != kFwidSize) {
    return std::nullopt;
  }
  return digest->contents;
}

// Collects the SHA-384 FWIDs anywhere in a TcbInfo: NVIDIA's leaf holds them
// at the top level, the TCG layout inside fwids [6]; both are accepted.
bool collect_fwids(ByteView der, int depth, std::vector<ByteView>& out) {
  while (!der.empty()) {
    auto tlv = crypto::der::read(der);
    if (!tlv) return false;
    if ((tlv->tag & 0x20) == 0) continue;
    if (tlv->tag == 0x30) {
      if (auto fwid = sha384_fwid(tlv->contents)) {
        out.push_back(*fwid);
        continue;
      }
    }
    if (depth < 8 && !collect_fwids(tlv->contents, depth + 1, out)) return false;
  }
  return true;
}

// NUL-padded printable ASCII, as the driver writes its version strings.
std::optional<std::string> c_string(ByteView value) {
  const auto end = std::ranges::find(value, std::uint8_t{0});
  if (!std::all_of(end, value.end(), [](std::uint8_t b) { return b == 0; })) return std::nullopt;
  std::string text(value.begin(), end);
  if (!std::ranges::all_of(text, [](char c) { return c >= 0x20 && c <= 0x7e; })) return std::nullopt;
  return text;
}

std::string hex_byte(std::uint8_t b) {
  return hex_encode(ByteView(&b, 1));
}

// nvtrust's form: the low 32 bits of the little-endian value as four hex
// bytes, most significant first, then the fifth byte ("96.00.9f.00.01").
std::optional<std::string> vbios_version(ByteView value) {
  if (value.size() != 8) return std::nullopt;
  return hex_byte(value[3]) + "." + hex_byte(value[2]) + "." + hex_byte(value[1]) + "." + hex_byte(value[0]) +
         "." + hex_byte(value[4]);
}

enum class Format { Text, Hex };
struct ClaimField {
  OpaqueType type;
  std::string_view claim;
  Format format;
};
// The fields worth matching in a policy; driver and VBIOS versions and the
// FWID are required and handled apart.
constexpr ClaimField kClaimFields[] = {
    {OpaqueType::GpuInfo, "gpu_info", Format::Hex},
    {OpaqueType::BoardId, "board_id", Format::Hex},
    {OpaqueType::ChipSku, "chip_sku", Format::Text},
    {OpaqueType::ChipSkuMod, "chip_sku_mod", Format::Text},
    {OpaqueType::Project, "project", Format::Text},
    {OpaqueType::ProjectSku, "project_sku", Format::Text},
    {OpaqueType::ProjectSkuMod, "project_sku_mod", Format::Hex},
    {OpaqueType::CprInfo, "cpr_info", Format::Hex},
    {OpaqueType::Nvdec0Status, "nvdec0_status", Format::Hex},
    {OpaqueType::ProtectedPcieStatus, "protected_pcie_status", Format::Hex},
    {OpaqueType::SysEnableStatus, "sys_enable_status", Format::Hex},
    {OpaqueType::OpaqueDataVersion, "opaque_data_version", Format::Hex},
    {OpaqueType::ChipInfo, "chip_info", Format::Hex},
    {OpaqueType::FeatureFlag, "feature_flag", Format::Hex},
};

// The claims of the opaque data; fails when a required field is missing or
// malformed.
Result<void> opaque_claims(std::span<const OpaqueField> fields, Appraisal& out) {
  const OpaqueField* driver = find_opaque(fields, OpaqueType::DriverVersion);
  const OpaqueField* vbios = find_opaque(fields, OpaqueType::VbiosVersion);
  const OpaqueField* fwid = find_opaque(fields, OpaqueType::Fwid);
  if (!driver || !vbios || !fwid) return spdm_error("the driver version, VBIOS version or FWID is missing");
  auto driver_text = c_string(driver->value);
  if (!driver_text || driver_text->empty()) return spdm_error("the driver version is not a printable string");
  auto vbios_text = vbios_version(vbios->value);
  if (!vbios_text) return spdm_error("the VBIOS version is not 8 bytes");
  if (fwid->value.size() != kFwidSize) return spdm_error("the FWID is not a SHA-384 digest");
  out.claims["driver_version"] = *driver_text;
  out.claims["vbios_version"] = *vbios_text;
  out.claims["fwid"] = hex_encode(fwid->value);
  for (const ClaimField& f : kClaimFields) {
    const OpaqueField* field = find_opaque(fields, f.type);
    if (!field) continue;
    auto text = f.format == Format::Text ? c_string(field->value) : std::nullopt;
    out.claims[std::string(f.claim)] = text ? *text : hex_encode(field->value);
  }
  return {};
}

Result<void> verify_fwid(const crypto::Certificate& leaf, std::span<const OpaqueField> fields) {
  auto tcb_info = leaf.extension(kTcbInfoOid);
  if (!tcb_info) return spdm_error("the device certificate has no TCG DICE TcbInfo extension");
  std::vector<ByteView> fwids;
  if (!collect_fwids(*tcb_info, 0, fwids)) return spdm_error("the TcbInfo extension is malformed");
  if (fwids.size() != 1) {
    return spdm_error("the TcbInfo extension holds " + std::to_string(fwids.size()) +
                      " SHA-384 FWIDs, expected one");
  }
  const OpaqueField* reported = find_opaque(fields, OpaqueType::Fwid);
  if (!reported || !std::ranges::equal(reported->value, fwids.front())) {
    return spdm_error("the report's FWID differs from the device certificate's " + hex_encode(fwids.front()));
  }
  return {};
}

}  // namespace

Result<GetMeasurementsRequest> parse_request(ByteView data) {
  if (data.size() != kRequestSize) {
    return spdm_error("GET_MEASUREMENTS request is " + std::to_string(data.size()) + " bytes, expected " +
                      std::to_string(kRequestSize));
  }
  Reader r(data);
  GetMeasurementsRequest req;
  req.version = *r.u8();
  const std::uint8_t code = *r.u8();
  req.param1 = *r.u8();
  req.param2 = *r.u8();
  r.copy_to(req.nonce);
  req.slot_id = *r.u8();
  if (code != kGetMeasurementsCode)
    return spdm_error("request code is " + hex_byte(code) + ", not GET_MEASUREMENTS (e0)");
  if ((req.param1 & kSignatureRequested) == 0) return spdm_error("the request did not ask for a signature");
  return req;
}

Result<MeasurementsResponse> parse_response(ByteView data) {
  Reader r(data);
  MeasurementsResponse resp;
  auto version = r.u8();
  auto code = r.u8();
  auto param1 = r.u8();
  auto param2 = r.u8();
  auto block_count = r.u8();
  auto record_length = r.uint_le(3);
  // The reads run in order: the last one succeeding means all did.
  if (!record_length) {
    return spdm_error("MEASUREMENTS response is " + std::to_string(data.size()) +
                      " bytes, shorter than its " + std::to_string(kResponseHeaderSize) + "-byte header");
  }
  if (*code != kMeasurementsCode)
    return spdm_error("response code is " + hex_byte(*code) + ", not MEASUREMENTS (60)");
  resp.version = *version;
  resp.param1 = *param1;
  resp.param2 = *param2;
  auto record = r.bytes(*record_length);
  if (!record) {
    return spdm_error("measurement record of " + std::to_string(*record_length) +
                      " bytes runs past the response");
  }
  auto blocks = parse_record(*record, *block_count);
  if (!blocks) return std::unexpected(blocks.error());
  resp.blocks = std::move(*blocks);
  if (!r.copy_to(resp.nonce)) return spdm_error("response nonce is truncated");
  auto opaque_length = r.uint_le(2);
  if (!opaque_length) return spdm_error("OpaqueLength is truncated");
  if (*opaque_length > kMaxOpaqueSize) {
    return spdm_error("OpaqueLength " + std::to_string(*opaque_length) + " exceeds SPDM 1.1's 1024");
  }
  auto opaque = r.bytes(*opaque_length);
  if (!opaque)
    return spdm_error("opaque data of " + std::to_string(*opaque_length) + " bytes runs past the response");
  resp.opaque_data.assign(opaque->begin(), opaque->end());
  if (!r.copy_to(resp.signature)) {
    return spdm_error("signature is " + std::to_string(r.remaining()) + " bytes, expected " +
                      std::to_string(kSignatureSize) + " (P-384)");
  }
  resp.trailing_bytes = r.remaining();
  return resp;
}

Result<std::vector<OpaqueField>> parse_opaque_data(ByteView data) {
  Reader r(data);
  std::vector<OpaqueField> fields;
  std::set<std::uint16_t> types;
  while (r.remaining() > 0) {
    auto type = r.uint_le(2);
    auto size = r.uint_le(2);
    if (!type || !size) return spdm_error("opaque data: truncated field header");
    auto value = r.bytes(*size);
    if (!value) {
      return spdm_error("opaque field " + std::to_string(*type) + ": " + std::to_string(*size) +
                        " bytes announced, " + std::to_string(r.remaining()) + " left");
    }
    const auto t = static_cast<std::uint16_t>(*type);
    if (!types.insert(t).second) return spdm_error("opaque field " + std::to_string(t) + " appears twice");
    fields.push_back({t, Bytes(value->begin(), value->end())});
  }
  return fields;
}

Result<SpdmReport> parse_report(ByteView data) {
  if (data.size() < kRequestSize) return spdm_error("report is shorter than a GET_MEASUREMENTS request");
  SpdmReport report;
  auto request = parse_request(data.first(kRequestSize));
  if (!request) return std::unexpected(request.error());
  auto response = parse_response(data.subspan(kRequestSize));
  if (!response) return std::unexpected(response.error());
  auto fields = parse_opaque_data(response->opaque_data);
  if (!fields) return std::unexpected(fields.error());
  report.request = *request;
  report.response = std::move(*response);
  report.opaque_fields = std::move(*fields);
  const ByteView signed_part = data.first(data.size() - report.response.trailing_bytes - kSignatureSize);
  report.signed_part.assign(signed_part.begin(), signed_part.end());
  return report;
}

const OpaqueField* find_opaque(std::span<const OpaqueField> fields, OpaqueType type) {
  auto it = std::ranges::find(fields, static_cast<std::uint16_t>(type), &OpaqueField::type);
  return it == fields.end() ? nullptr : &*it;
}

void verify(ByteView evidence, std::span<const crypto::Certificate> certs,
            std::chrono::system_clock::time_point at, Appraisal& out) {
  verify(evidence, certs, std::span(&nvidia_device_root(), 1), at, out);
}

void verify(ByteView evidence, std::span<const crypto::Certificate> certs,
            std::span<const crypto::Certificate> anchors, std::chrono::system_clock::time_point at,
            Appraisal& out) {
  out.platform = Platform::NvGpu;
  Checks& checks = out.checks;

  auto request = parse_request(evidence.first(std::min(evidence.size(), kRequestSize)));
  if (!request) {
    checks.fail("spdm.request.parse", request.error().message);
    return;
  }
  checks.pass("spdm.request.parse", "nonce " + hex_encode(request->nonce));

  auto response = parse_response(evidence.subspan(kRequestSize));
  if (!response) {
    checks.fail("spdm.response.parse", response.error().message);
    return;
  }
  const std::size_t trailing = response->trailing_bytes;
  checks.pass("spdm.response.parse",
              std::to_string(response->blocks.size()) + " measurement blocks" +
                  (trailing ? ", " + std::to_string(trailing) + " unsigned trailing bytes ignored" : ""));

  // SPDM 1.2 and later sign a different message (a prefixed hash of the
  // transcript); only 1.1 is verified here.
  if (!checks.pass_if("spdm.version",
                      request->version == kSpdmVersion11 && response->version == kSpdmVersion11,
                      "request " + hex_byte(request->version) + ", response " + hex_byte(response->version) +
                          " (SPDM 1.1 is 11)")) {
    return;
  }

  if (certs.empty()) {
    checks.fail("gpu.chain", "no device certificate chain");
    return;
  }
  const crypto::Certificate& leaf = certs.front();
  if (leaf.is_ca()) {
    checks.fail("gpu.chain", "the first certificate (" + leaf.subject() +
                                 ") is a CA: the chain lacks the device's attestation certificate");
    return;
  }
  std::vector<crypto::Certificate> intermediates;
  for (const crypto::Certificate& cert : certs.subspan(1)) {
    if (cert.subject() != cert.issuer()) intermediates.push_back(cert);
  }
  if (!checks.record("gpu.chain", crypto::verify_chain(leaf, intermediates, anchors, {}, at),
                     leaf.subject())) {
    return;
  }

  auto key = leaf.ec_public_key();
  if (!key || key->curve() != crypto::EcCurve::P384) {
    checks.fail("spdm.signature", "the device key is not ECDSA P-384");
    return;
  }
  const ByteView signed_part = evidence.first(evidence.size() - trailing - kSignatureSize);
  if (!checks.record("spdm.signature",
                     crypto::ecdsa_verify(*key, crypto::HashAlg::Sha384, signed_part, response->signature,
                                          crypto::SigFormat::Raw),
                     "ECDSA P-384 SHA-384 over request || response")) {
    return;
  }

  out.report_data.assign(request->nonce.begin(), request->nonce.end());
  for (const MeasurementBlock& block : response->blocks) {
    out.measurements.push_back({"measurement_" + std::to_string(block.index), block.value});
  }

  auto fields = parse_opaque_data(response->opaque_data);
  Result<void> claims;
  if (fields) {
    claims = opaque_claims(*fields, out);
  } else {
    claims = std::unexpected(fields.error());
  }
  if (!checks.record("spdm.opaque_data", claims,
                     claims
                         ? "driver " + out.claims["driver_version"] + ", VBIOS " + out.claims["vbios_version"]
                         : std::string())) {
    return;
  }

  checks.record("gpu.fwid", verify_fwid(leaf, *fields), "matches the device certificate's TcbInfo");
}

}  // namespace ward::attest::nvgpu
