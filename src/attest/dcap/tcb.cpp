#include "attest/dcap/tcb.h"

#include <algorithm>
#include <cctype>
#include <span>
#include <utility>

#include <nlohmann/json.hpp>

#include "attest/dcap/collateral.h"
#include "base/time.h"
#include "crypto/ecdsa.h"

namespace ward::attest::dcap {

namespace {

using json = nlohmann::json;

// Passes an error through from `expr`, else binds its value to `var`.
#define WARD_TRY(var, expr)                              \
  auto var##_r = (expr);                                 \
  if (!var##_r) return std::unexpected(var##_r.error()); \
  auto var = std::move(*var##_r)
#define WARD_CHECK(expr) \
  if (auto ok_ = (expr); !ok_) return std::unexpected(ok_.error())

std::unexpected<Error> bad(const std::string& path, const std::string& what) {
  return fail("attest.collateral", path + ": " + what);
}

// Statuses each list may hold (TCB Info v3 and Enclave Identity v2).
constexpr std::array kPlatformStatuses{
    TcbStatus::UpToDate,
    TcbStatus::SWHardeningNeeded,
    TcbStatus::ConfigurationNeeded,
    TcbStatus::ConfigurationAndSWHardeningNeeded,
    TcbStatus::OutOfDate,
    TcbStatus::OutOfDateConfigurationNeeded,
    TcbStatus::Revoked,
};
constexpr std::array kIsvStatuses{TcbStatus::UpToDate, TcbStatus::OutOfDate, TcbStatus::Revoked};

Result<sys_seconds> parse_date(std::string_view s, const std::string& path) {
  // Intel signs dates as "2024-03-13T00:00:00Z"; nothing else is accepted.
  constexpr std::string_view kShape = "dddd-dd-ddTdd:dd:ddZ";
  if (s.size() != kShape.size()) return bad(path, "is not a date of the form 2024-03-13T00:00:00Z");
  for (std::size_t i = 0; i < s.size(); ++i) {
    const bool ok =
        kShape[i] == 'd' ? std::isdigit(static_cast<unsigned char>(s[i])) != 0 : s[i] == kShape[i];
    if (!ok) return bad(path, "is not a date of the form 2024-03-13T00:00:00Z");
  }
  auto t = parse_rfc3339(s);
  if (!t)
    return bad(path, t.error().code == "time.range"
                         ? "is outside the times Ward can represent (" + format_rfc3339(kEarliestTime) +
                               " to " + format_rfc3339(kLatestTime) + ")"
                         : "is not a valid date");
  return *t;
}

// One JSON object of a signed body; errors name its members by path.
class Object {
 public:
  static Result<Object> of(const json& j, std::string path) {
    if (!j.is_object()) return bad(path, "is not an object");
    return Object(j, std::move(path));
  }

  std::string path(std::string_view key) const { return path_ + "." + std::string(key); }
  bool has(std::string_view key) const { return j_->contains(key); }

  Result<const json*> member(std::string_view key) const {
    const auto it = j_->find(key);
    if (it == j_->end()) return bad(path(key), "is missing");
    return &*it;
  }

  Result<std::string> string(std::string_view key) const {
    WARD_TRY(v, member(key));
    if (!v->is_string()) return bad(path(key), "is not a string");
    return v->get<std::string>();
  }

  Result<std::uint64_t> number(std::string_view key, std::uint64_t max) const {
    WARD_TRY(v, member(key));
    if (!v->is_number_unsigned()) return bad(path(key), "is not a non-negative integer");
    const auto n = v->get<std::uint64_t>();
    if (n > max) return bad(path(key), "is larger than " + std::to_string(max));
    return n;
  }

  template <std::size_t N>
  Result<std::array<std::uint8_t, N>> hex(std::string_view key) const {
    WARD_TRY(text, string(key));
    if (text.size() != 2 * N) return bad(path(key), "must be " + std::to_string(2 * N) + " hex digits");
    auto bytes = hex_decode(text);
    if (!bytes) return bad(path(key), "is not hex");
    std::array<std::uint8_t, N> out{};
    std::copy(bytes->begin(), bytes->end(), out.begin());
    return out;
  }

  Result<sys_seconds> date(std::string_view key) const {
    WARD_TRY(text, string(key));
    return parse_date(text, path(key));
  }

  // The date as signed, once it has been checked.
  Result<std::string> date_text(std::string_view key) const {
    WARD_TRY(text, string(key));
    WARD_CHECK(parse_date(text, path(key)));
    return text;
  }

  Result<TcbStatus> status(std::string_view key, std::span<const TcbStatus> allowed) const {
    WARD_TRY(text, string(key));
    const auto s = parse_tcb_status(text);
    if (!s || std::find(allowed.begin(), allowed.end(), *s) == allowed.end()) {
      return bad(path(key), "has unknown status \"" + text + "\"");
    }
    return *s;
  }

  // advisoryIDs: optional, an array of strings.
  Result<std::vector<std::string>> advisories() const {
    std::vector<std::string> out;
    if (!has("advisoryIDs")) return out;
    WARD_TRY(v, member("advisoryIDs"));
    if (!v->is_array()) return bad(path("advisoryIDs"), "is not an array");
    for (const auto& id : *v) {
      if (!id.is_string()) return bad(path("advisoryIDs"), "holds a non-string");
      out.push_back(id.get<std::string>());
    }
    return out;
  }

  Result<Object> object(std::string_view key) const {
    WARD_TRY(v, member(key));
    return of(*v, path(key));
  }

  // A non-empty array of `count` objects (any number when 0).
  Result<std::vector<Object>> objects(std::string_view key, std::size_t count = 0) const {
    WARD_TRY(v, member(key));
    if (!v->is_array() || v->empty()) return bad(path(key), "is not a non-empty array");
    if (count != 0 && v->size() != count) {
      return bad(path(key), "must have " + std::to_string(count) + " entries");
    }
    std::vector<Object> out;
    for (std::size_t i = 0; i < v->size(); ++i) {
      WARD_TRY(o, of((*v)[i], path(key) + "[" + std::to_string(i) + "]"));
      out.push_back(std::move(o));
    }
    return out;
  }

 private:
  Object(const json& j, std::string path) : j_(&j), path_(std::move(path)) {}
  const json* j_;
  std::string path_;
};

Result<json> parse_body(std::string_view text, const std::string& root) {
  if (text.size() > kMaxCollateralSize) return bad(root, "is too large");
  auto j = json::parse(text.begin(), text.end(), nullptr, false);
  if (j.is_discarded()) return bad(root, "is not valid JSON");
  return j;
}

// {"tcb":{"isvsvn":N},"tcbDate":...,"tcbStatus":...,"advisoryIDs":[...]}
Result<std::vector<IsvTcbLevel>> parse_isv_levels(const Object& parent) {
  WARD_TRY(levels, parent.objects("tcbLevels"));
  std::vector<IsvTcbLevel> out;
  for (const auto& level : levels) {
    WARD_TRY(tcb, level.object("tcb"));
    WARD_TRY(isv_svn, tcb.number("isvsvn", 0xFFFF));
    WARD_TRY(date, level.date_text("tcbDate"));
    WARD_TRY(status, level.status("tcbStatus", kIsvStatuses));
    WARD_TRY(advisories, level.advisories());
    out.push_back({static_cast<std::uint16_t>(isv_svn), std::move(date), status, std::move(advisories)});
  }
  return out;
}

Result<TdxModuleIdentity> parse_module(const Object& o, bool with_id) {
  TdxModuleIdentity m;
  if (with_id) {
    WARD_TRY(id, o.string("id"));
    m.id = std::move(id);
  }
  WARD_TRY(mrsigner, o.hex<48>("mrsigner"));
  WARD_TRY(attributes, o.hex<8>("attributes"));
  WARD_TRY(mask, o.hex<8>("attributesMask"));
  m.mrsigner = mrsigner;
  m.attributes = attributes;
  m.attributes_mask = mask;
  if (with_id) {
    WARD_TRY(levels, parse_isv_levels(o));
    m.tcb_levels = std::move(levels);
  }
  return m;
}

// v3: "sgxtcbcomponents" / "tdxtcbcomponents", 16 objects {"svn":N,...}.
Result<std::array<std::uint8_t, 16>> parse_components(const Object& tcb, std::string_view key) {
  WARD_TRY(components, tcb.objects(key, 16));
  std::array<std::uint8_t, 16> out{};
  for (std::size_t i = 0; i < 16; ++i) {
    WARD_TRY(svn, components[i].number("svn", 0xFF));
    out[i] = static_cast<std::uint8_t>(svn);
  }
  return out;
}

// v2: "sgxtcbcomp01svn" to "sgxtcbcomp16svn".
Result<std::array<std::uint8_t, 16>> parse_v2_components(const Object& tcb) {
  std::array<std::uint8_t, 16> out{};
  for (std::size_t i = 0; i < 16; ++i) {
    const std::string key = std::string("sgxtcbcomp") + (i < 9 ? "0" : "") + std::to_string(i + 1) + "svn";
    WARD_TRY(svn, tcb.number(key, 0xFF));
    out[i] = static_cast<std::uint8_t>(svn);
  }
  return out;
}

Result<TcbLevel> parse_platform_level(const Object& level, const TcbInfo& info) {
  TcbLevel out;
  WARD_TRY(tcb, level.object("tcb"));
  if (info.version == 2) {
    WARD_TRY(sgx, parse_v2_components(tcb));
    out.sgx_components = sgx;
  } else {
    WARD_TRY(sgx, parse_components(tcb, "sgxtcbcomponents"));
    out.sgx_components = sgx;
    if (info.id == TcbInfoId::Tdx) {
      WARD_TRY(tdx, parse_components(tcb, "tdxtcbcomponents"));
      out.tdx_components = tdx;
    }
  }
  WARD_TRY(pce_svn, tcb.number("pcesvn", 0xFFFF));
  out.pce_svn = static_cast<std::uint16_t>(pce_svn);
  WARD_TRY(date, level.date_text("tcbDate"));
  WARD_TRY(status, level.status("tcbStatus", kPlatformStatuses));
  WARD_TRY(advisories, level.advisories());
  out.tcb_date = std::move(date);
  out.status = status;
  out.advisory_ids = std::move(advisories);
  return out;
}

std::string upper(std::string s) {
  std::ranges::transform(s, s.begin(), [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return s;
}

std::string module_id(std::uint8_t major) {
  return upper("TDX_" + hex_encode(ByteView(&major, 1)));
}

// Intel compares identity ids without regard to case.
const TdxModuleIdentity* find_module(const TcbInfo& info, std::uint8_t major) {
  const std::string want = module_id(major);
  for (const auto& m : info.tdx_module_identities) {
    if (upper(m.id) == want) return &m;
  }
  return nullptr;
}

template <std::size_t N>
bool svns_at_least(const std::array<std::uint8_t, N>& have, const std::array<std::uint8_t, N>& need,
                   std::size_t from = 0) {
  for (std::size_t i = from; i < N; ++i) {
    if (have[i] < need[i]) return false;
  }
  return true;
}

const IsvTcbLevel* first_isv_level(const std::vector<IsvTcbLevel>& levels, std::uint16_t isv_svn) {
  for (const auto& level : levels) {
    if (isv_svn >= level.isv_svn) return &level;
  }
  return nullptr;
}

void union_into(std::vector<std::string>& into, const std::vector<std::string>& more) {
  for (const auto& id : more) {
    if (std::find(into.begin(), into.end(), id) == into.end()) into.push_back(id);
  }
}

// The dates share one fixed-width form, so text order is time order.
void earliest_date(std::string& into, const std::string& other) {
  if (into.empty() || (!other.empty() && other < into)) into = other;
}

bool configuration_needed(TcbStatus s) {
  return s == TcbStatus::ConfigurationNeeded || s == TcbStatus::ConfigurationAndSWHardeningNeeded ||
         s == TcbStatus::OutOfDateConfigurationNeeded || s == TcbStatus::TDRelaunchAdvisedConfigurationNeeded;
}

// A component (TDX module or QE) whose status is `component` pulls the
// platform's status down with it.
TcbStatus converge(TcbStatus platform, TcbStatus component) {
  if (component == TcbStatus::Revoked) return TcbStatus::Revoked;
  if (component == TcbStatus::OutOfDate) {
    if (platform == TcbStatus::UpToDate || platform == TcbStatus::SWHardeningNeeded)
      return TcbStatus::OutOfDate;
    if (platform == TcbStatus::ConfigurationNeeded ||
        platform == TcbStatus::ConfigurationAndSWHardeningNeeded) {
      return TcbStatus::OutOfDateConfigurationNeeded;
    }
  }
  return platform;
}

// Intel's TDRelaunchCheck for a TDX 1.5 TD: it was launched on an
// out-of-date module (the platform's SGX level is current but its TDX level
// is out of date because of the module), and TEE_TCB_SVN_2, the SVNs of the
// module loaded since by a TD-preserving update, reaches the newest level.
std::optional<TcbStatus> relaunch_advice(const TcbInfo& info, const std::array<std::uint8_t, 16>& svn2,
                                         TcbStatus sgx, TcbStatus tdx, TcbStatus module) {
  const bool sgx_current = sgx == TcbStatus::UpToDate || sgx == TcbStatus::SWHardeningNeeded ||
                           sgx == TcbStatus::ConfigurationNeeded ||
                           sgx == TcbStatus::ConfigurationAndSWHardeningNeeded;
  const bool tdx_behind = tdx == TcbStatus::OutOfDate || tdx == TcbStatus::OutOfDateConfigurationNeeded;
  if (!sgx_current || !tdx_behind || module != TcbStatus::OutOfDate) return std::nullopt;
  if (info.tcb_levels.empty()) return TcbStatus::NotSupported;
  const TcbLevel& latest = info.tcb_levels.front();
  bool module_current = false;
  if (svn2[1] == 0) {
    module_current = svn2[0] >= latest.tdx_components[0];
  } else {
    const TdxModuleIdentity* module2 = find_module(info, svn2[1]);
    if (module2 == nullptr || module2->tcb_levels.empty()) return TcbStatus::NotSupported;
    module_current = svn2[0] >= module2->tcb_levels.front().isv_svn;
  }
  if (!module_current || svn2[2] < latest.tdx_components[2]) return std::nullopt;
  return configuration_needed(sgx) || configuration_needed(tdx)
             ? TcbStatus::TDRelaunchAdvisedConfigurationNeeded
             : TcbStatus::TDRelaunchAdvised;
}

}  // namespace

Result<TcbInfo> parse_tcb_info(std::string_view signed_json_text) {
  WARD_TRY(doc, parse_body(signed_json_text, "tcbInfo"));
  WARD_TRY(root, Object::of(doc, "tcbInfo"));
  TcbInfo info;
  WARD_TRY(version, root.number("version", 0xFF));
  if (version != 2 && version != 3) return bad(root.path("version"), "must be 2 or 3");
  info.version = static_cast<int>(version);
  if (info.version == 3) {
    WARD_TRY(id, root.string("id"));
    if (id == "SGX") {
      info.id = TcbInfoId::Sgx;
    } else if (id == "TDX") {
      info.id = TcbInfoId::Tdx;
    } else {
      return bad(root.path("id"), "must be \"SGX\" or \"TDX\", not \"" + id + "\"");
    }
  }
  WARD_TRY(issue, root.date("issueDate"));
  WARD_TRY(next, root.date("nextUpdate"));
  WARD_TRY(fmspc, root.hex<6>("fmspc"));
  WARD_TRY(pce_id, root.hex<2>("pceId"));
  // Type 0 is the only one defined: CPUSVN read as the 16 component SVNs.
  WARD_TRY(tcb_type, root.number("tcbType", 0));
  WARD_TRY(evaluation, root.number("tcbEvaluationDataNumber", 0xFFFFFFFF));
  info.issue_date = issue;
  info.next_update = next;
  info.fmspc = fmspc;
  info.pce_id = pce_id;
  info.tcb_type = static_cast<int>(tcb_type);
  info.tcb_evaluation_data_number = static_cast<std::uint32_t>(evaluation);

  if (info.id == TcbInfoId::Tdx) {
    WARD_TRY(module, root.object("tdxModule"));
    WARD_TRY(parsed, parse_module(module, false));
    info.tdx_module = std::move(parsed);
    if (root.has("tdxModuleIdentities")) {
      WARD_TRY(identities, root.objects("tdxModuleIdentities"));
      for (const auto& identity : identities) {
        WARD_TRY(m, parse_module(identity, true));
        info.tdx_module_identities.push_back(std::move(m));
      }
    }
  }

  WARD_TRY(levels, root.objects("tcbLevels"));
  for (const auto& level : levels) {
    WARD_TRY(parsed, parse_platform_level(level, info));
    info.tcb_levels.push_back(std::move(parsed));
  }
  return info;
}

Result<QeIdentity> parse_qe_identity(std::string_view signed_json_text) {
  WARD_TRY(doc, parse_body(signed_json_text, "enclaveIdentity"));
  WARD_TRY(root, Object::of(doc, "enclaveIdentity"));
  QeIdentity qe;
  WARD_TRY(version, root.number("version", 0xFF));
  if (version != 2) return bad(root.path("version"), "must be 2");
  WARD_TRY(id, root.string("id"));
  if (id == "QE") {
    qe.id = EnclaveId::Qe;
  } else if (id == "TD_QE") {
    qe.id = EnclaveId::TdQe;
  } else if (id == "QVE") {
    qe.id = EnclaveId::Qve;
  } else {
    return bad(root.path("id"), "must be \"QE\", \"TD_QE\" or \"QVE\", not \"" + id + "\"");
  }
  WARD_TRY(issue, root.date("issueDate"));
  WARD_TRY(next, root.date("nextUpdate"));
  WARD_TRY(evaluation, root.number("tcbEvaluationDataNumber", 0xFFFFFFFF));
  WARD_TRY(miscselect, root.hex<4>("miscselect"));
  WARD_TRY(miscselect_mask, root.hex<4>("miscselectMask"));
  WARD_TRY(attributes, root.hex<16>("attributes"));
  WARD_TRY(attributes_mask, root.hex<16>("attributesMask"));
  WARD_TRY(mrsigner, root.hex<32>("mrsigner"));
  WARD_TRY(isv_prod_id, root.number("isvprodid", 0xFFFF));
  WARD_TRY(levels, parse_isv_levels(root));
  // The hex holds MISCSELECT's bytes as the report does: little-endian.
  auto le32 = [](const std::array<std::uint8_t, 4>& b) {
    return std::uint32_t{b[0]} | std::uint32_t{b[1]} << 8 | std::uint32_t{b[2]} << 16 |
           std::uint32_t{b[3]} << 24;
  };
  qe.issue_date = issue;
  qe.next_update = next;
  qe.tcb_evaluation_data_number = static_cast<std::uint32_t>(evaluation);
  qe.miscselect = le32(miscselect);
  qe.miscselect_mask = le32(miscselect_mask);
  qe.attributes = attributes;
  qe.attributes_mask = attributes_mask;
  qe.mrsigner = mrsigner;
  qe.isv_prod_id = static_cast<std::uint16_t>(isv_prod_id);
  qe.tcb_levels = std::move(levels);
  return qe;
}

Result<void> verify_signed_json(std::string_view text, ByteView signature_raw,
                                const crypto::Certificate& signer) {
  auto key = signer.ec_public_key();
  if (!key || key->curve() != crypto::EcCurve::P256) {
    return fail("attest.collateral",
                "the signer of the signed JSON (" + signer.subject() + ") has no P-256 key");
  }
  if (auto ok = crypto::ecdsa_verify(*key, crypto::HashAlg::Sha256, as_bytes(text), signature_raw,
                                     crypto::SigFormat::Raw);
      !ok) {
    return fail(ok.error(), "signature by " + signer.subject());
  }
  return {};
}

Result<void> check_tcb_info_applies(const TcbInfo& info, const PckExtensions& pck, bool tdx) {
  const bool info_tdx = info.version >= 3 && info.id == TcbInfoId::Tdx;
  if (info_tdx != tdx) {
    return fail("attest.tcb_info", std::string("the TCB Info is for ") + (info_tdx ? "TDX" : "SGX") +
                                       " but the quote is from " + (tdx ? "a TD" : "an SGX enclave"));
  }
  if (info.fmspc != pck.fmspc) {
    return fail("attest.tcb_info", "the TCB Info is for FMSPC " + hex_encode(info.fmspc) +
                                       " but the PCK certificate has " + hex_encode(pck.fmspc));
  }
  if (info.pce_id != pck.pce_id) {
    return fail("attest.tcb_info", "the TCB Info is for PCE-ID " + hex_encode(info.pce_id) +
                                       " but the PCK certificate has " + hex_encode(pck.pce_id));
  }
  return {};
}

Result<void> check_qe_identity_applies(const QeIdentity& id, bool tdx) {
  const EnclaveId want = tdx ? EnclaveId::TdQe : EnclaveId::Qe;
  if (id.id != want) {
    return fail("attest.qe_identity", std::string("the QE Identity is not the ") + (tdx ? "TD_QE" : "QE") +
                                          " identity this quote needs");
  }
  return {};
}

Result<void> check_tdx_module(const TcbInfo& info, const TdReport& td) {
  if (info.id != TcbInfoId::Tdx || !info.tdx_module) {
    return fail("attest.tdx_module", "the TCB Info describes no TDX module");
  }
  const std::uint8_t major = td.tee_tcb_svn[1];
  const TdxModuleIdentity* module = major == 0 ? &*info.tdx_module : find_module(info, major);
  const std::string name = major == 0 ? "tdxModule" : module_id(major);
  if (module == nullptr) {
    return fail("attest.tdx_module", "the TCB Info has no identity " + name + " for the TD's TDX module");
  }
  if (td.mr_signer_seam != module->mrsigner) {
    return fail("attest.tdx_module", "mr_signer_seam " + hex_encode(td.mr_signer_seam) + " is not " + name +
                                         "'s mrsigner " + hex_encode(module->mrsigner));
  }
  for (std::size_t i = 0; i < td.seam_attributes.size(); ++i) {
    if ((td.seam_attributes[i] & module->attributes_mask[i]) != module->attributes[i]) {
      return fail("attest.tdx_module", "seam_attributes " + hex_encode(td.seam_attributes) +
                                           " under the mask do not equal " + name + "'s attributes " +
                                           hex_encode(module->attributes));
    }
  }
  return {};
}

Result<TcbMatch> match_tcb_level(const TcbInfo& info, const PckExtensions& pck, const TdReport* td) {
  const bool info_tdx = info.version >= 3 && info.id == TcbInfoId::Tdx;
  if (info_tdx != (td != nullptr)) {
    return fail("attest.tcb_info", std::string("the TCB Info is for ") + (info_tdx ? "TDX" : "SGX") +
                                       " but the quote is from " + (td ? "a TD" : "an SGX enclave"));
  }
  const bool module_identity = td != nullptr && td->tee_tcb_svn[1] > 0;
  const std::size_t tdx_from = module_identity ? 2 : 0;

  const TcbLevel* sgx_level = nullptr;  // SGX components alone (for the relaunch rule)
  const TcbLevel* level = nullptr;
  for (const auto& l : info.tcb_levels) {
    if (!svns_at_least(pck.cpu_svn_components, l.sgx_components) || pck.pce_svn < l.pce_svn) continue;
    if (sgx_level == nullptr) sgx_level = &l;
    if (td == nullptr || svns_at_least(td->tee_tcb_svn, l.tdx_components, tdx_from)) {
      level = &l;
      break;
    }
  }
  TcbMatch match;
  if (level == nullptr) return match;
  match.status = level->status;
  match.advisories = level->advisory_ids;
  match.tcb_date = level->tcb_date;
  if (!module_identity) return match;

  const TdxModuleIdentity* module = find_module(info, td->tee_tcb_svn[1]);
  const IsvTcbLevel* module_level =
      module ? first_isv_level(module->tcb_levels, td->tee_tcb_svn[0]) : nullptr;
  if (module_level == nullptr) return TcbMatch{};
  match.status = converge(level->status, module_level->status);
  union_into(match.advisories, module_level->advisory_ids);
  earliest_date(match.tcb_date, module_level->tcb_date);
  if (td->tee_tcb_svn_2) {
    match.relaunch =
        relaunch_advice(info, *td->tee_tcb_svn_2, sgx_level->status, match.status, module_level->status);
  }
  return match;
}

Result<TcbMatch> match_qe_identity(const QeIdentity& id, const EnclaveReport& qe_report) {
  if ((qe_report.misc_select & id.miscselect_mask) != id.miscselect) {
    return fail("attest.qe_identity", "the QE's miscselect does not match the QE Identity's under its mask");
  }
  for (std::size_t i = 0; i < qe_report.attributes.size(); ++i) {
    if ((qe_report.attributes[i] & id.attributes_mask[i]) != id.attributes[i]) {
      return fail("attest.qe_identity", "the QE's attributes " + hex_encode(qe_report.attributes) +
                                            " do not match the QE Identity's under its mask");
    }
  }
  if (qe_report.mr_signer != id.mrsigner) {
    return fail("attest.qe_identity", "the QE's mrsigner " + hex_encode(qe_report.mr_signer) +
                                          " is not the QE Identity's " + hex_encode(id.mrsigner));
  }
  if (qe_report.isv_prod_id != id.isv_prod_id) {
    return fail("attest.qe_identity", "the QE's isvprodid " + std::to_string(qe_report.isv_prod_id) +
                                          " is not the QE Identity's " + std::to_string(id.isv_prod_id));
  }
  TcbMatch match;
  if (const IsvTcbLevel* level = first_isv_level(id.tcb_levels, qe_report.isv_svn)) {
    match.status = level->status;
    match.advisories = level->advisory_ids;
    match.tcb_date = level->tcb_date;
  }
  return match;
}

TcbMatch fold_status(const TcbMatch& platform, const TcbMatch& qe) {
  TcbMatch out;
  if (platform.status == TcbStatus::NotSupported || qe.status == TcbStatus::NotSupported) return out;
  out.advisories = platform.advisories;
  union_into(out.advisories, qe.advisories);
  out.tcb_date = platform.tcb_date;
  earliest_date(out.tcb_date, qe.tcb_date);
  if (qe.status == TcbStatus::UpToDate) {
    out.status = platform.relaunch.value_or(platform.status);
  } else {
    // Intel's EnclaveReportVerifier reports every QE status but UpToDate
    // and Revoked as out of date.
    const TcbStatus component = qe.status == TcbStatus::Revoked ? TcbStatus::Revoked : TcbStatus::OutOfDate;
    out.status = converge(platform.status, component);
  }
  if (out.status == TcbStatus::NotSupported) return TcbMatch{};
  return out;
}

#undef WARD_TRY
#undef WARD_CHECK

}  // namespace ward::attest::dcap
