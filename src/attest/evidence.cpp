#include "attest/evidence.h"

#include <memory>
#include <mutex>
#include <set>

#include <nlohmann/json.hpp>

#include "attest/dcap/collateral.h"
#include "attest/dcap/quote.h"
#include "attest/dcap/verify.h"
#include "attest/nvgpu.h"
#include "attest/sim.h"
#include "attest/snp.h"
#include "base/lru.h"
#include "crypto/hash.h"

namespace ward::attest {

namespace {

using nlohmann::json;
constexpr std::string_view kBundleFormat = "ward/evidence/v1";

std::uint32_t le32(ByteView b, std::size_t at) {
  return static_cast<std::uint32_t>(b[at]) | (static_cast<std::uint32_t>(b[at + 1]) << 8) |
         (static_cast<std::uint32_t>(b[at + 2]) << 16) | (static_cast<std::uint32_t>(b[at + 3]) << 24);
}

std::unexpected<Error> bad_bundle(const std::string& why) {
  return fail("attest.bundle", "evidence bundle: " + why);
}

}  // namespace

std::string bundle_to_json(const EvidenceBundle& b) {
  json j;
  j["format"] = kBundleFormat;
  j["platform"] = std::string(platform_name(b.platform));
  j["evidence"] = base64_encode(b.evidence);
  if (b.collateral) {
    json c = json::parse(*b.collateral, nullptr, false);
    // Collateral that is not a JSON object stays the string it was, so that
    // parse_bundle reads back exactly what it was given.
    j["collateral"] = c.is_object() ? c : json(*b.collateral);
  } else {
    j["collateral"] = nullptr;
  }
  std::string pem;
  for (const auto& cert : b.certs) pem += cert.to_pem();
  j["certs"] = pem;
  return j.dump();
}

Result<EvidenceBundle> parse_bundle(std::string_view text) {
  if (text.size() > kMaxEvidenceBundleSize) {
    return bad_bundle(std::to_string(text.size()) + " bytes, over the " + std::to_string(kMaxEvidenceBundleSize) +
                      "-byte limit");
  }
  const json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return bad_bundle("not a JSON object");
  static const std::set<std::string> known{"format", "platform", "evidence", "collateral", "certs"};
  for (const auto& [k, v] : j.items()) {
    if (!known.contains(k)) return bad_bundle("unknown field \"" + k + "\"");
  }
  if (!j.contains("format") || j["format"] != kBundleFormat) {
    return bad_bundle("\"format\" must be \"" + std::string(kBundleFormat) + "\"");
  }
  EvidenceBundle b;
  if (!j.contains("platform") || !j["platform"].is_string()) return bad_bundle("\"platform\" missing");
  auto platform = parse_platform(j["platform"].get<std::string>());
  if (!platform) return bad_bundle("unknown platform \"" + j["platform"].get<std::string>() + "\"");
  b.platform = *platform;
  if (!j.contains("evidence") || !j["evidence"].is_string()) return bad_bundle("\"evidence\" missing");
  auto evidence = base64_decode(j["evidence"].get<std::string>());
  if (!evidence || evidence->empty()) return bad_bundle("\"evidence\" is not base64");
  b.evidence = std::move(*evidence);
  if (j.contains("collateral") && !j["collateral"].is_null()) {
    if (j["collateral"].is_object()) {
      b.collateral = j["collateral"].dump();
    } else if (j["collateral"].is_string()) {
      b.collateral = j["collateral"].get<std::string>();
    } else {
      return bad_bundle("\"collateral\" must be an object");
    }
  }
  if (j.contains("certs")) {
    if (!j["certs"].is_string()) return bad_bundle("\"certs\" must be PEM text");
    const std::string pem = j["certs"].get<std::string>();
    if (!pem.empty()) {
      auto certs = crypto::parse_pem_chain(pem);
      if (!certs) return bad_bundle("\"certs\": " + certs.error().message);
      b.certs = std::move(*certs);
    }
  }
  return b;
}

std::optional<Platform> detect_platform(ByteView e) {
  if (e.size() >= dcap::kHeaderSize) {
    const unsigned version = e[0] | (e[1] << 8);
    const unsigned key_type = e[2] | (e[3] << 8);
    const std::uint32_t tee = le32(e, 4);
    if (version >= 3 && version <= 5 && key_type == dcap::kAttestationKeyEcdsaP256) {
      if (tee == dcap::kTeeTypeTdx) return Platform::Tdx;
      if (tee == dcap::kTeeTypeSgx) return Platform::Sgx;
    }
  }
  // SPDM GET_MEASUREMENTS request: version 1.x, request code 0xE0.
  if (e.size() >= 2 && (e[0] & 0xF0) == 0x10 && e[1] == 0xE0) return Platform::NvGpu;
  if (e.size() >= snp::kReportSize) {
    const std::uint32_t version = le32(e, 0);
    if (version >= 2 && version <= 5) return Platform::Snp;
  }
  return std::nullopt;
}

struct PreparedCollaterals::Impl {
  explicit Impl(std::size_t capacity) : prepared(capacity) {}
  mutable std::mutex mu;
  Lru<dcap::PreparedCollateral> prepared;  // by SHA-256 of the JSON text
};

PreparedCollaterals::PreparedCollaterals(std::size_t capacity) : impl_(std::make_unique<Impl>(capacity)) {}
PreparedCollaterals::~PreparedCollaterals() = default;

Result<dcap::PreparedCollateral> PreparedCollaterals::get(std::string_view json) {
  const auto digest = crypto::sha256(as_bytes(json));
  std::string key(digest.begin(), digest.end());
  {
    std::lock_guard lock(impl_->mu);
    if (const dcap::PreparedCollateral* p = impl_->prepared.find(key)) return *p;
  }
  auto collateral = dcap::parse_collateral(json);
  if (!collateral) return std::unexpected(collateral.error());
  auto prepared = dcap::PreparedCollateral::prepare(*collateral);
  if (!prepared) return prepared;
  std::lock_guard lock(impl_->mu);
  impl_->prepared.put(std::move(key), *prepared);
  return prepared;
}

std::size_t PreparedCollaterals::size() const {
  std::lock_guard lock(impl_->mu);
  return impl_->prepared.size();
}

namespace {

Appraisal verify(const EvidenceBundle& b, const Policy& policy, std::chrono::system_clock::time_point at,
                 PreparedCollaterals* prepared) {
  Appraisal out;
  out.platform = b.platform;
  switch (b.platform) {
    case Platform::Tdx:
    case Platform::Sgx:
    case Platform::Sim: {
      // The simulated root is always recognised so that simulated evidence
      // is named as such; the policy then refuses it unless allowed.
      const crypto::Certificate anchors[] = {dcap::intel_sgx_root(), sim::root()};
      if (b.collateral && prepared) {
        // Collateral that does not prepare takes the path below, which names
        // the check it fails.
        if (auto p = prepared->get(*b.collateral)) {
          dcap::verify_quote(b.evidence, *p, anchors, at, out);
          break;
        }
      }
      std::optional<dcap::Collateral> collateral;
      if (b.collateral) {
        auto parsed = dcap::parse_collateral(*b.collateral);
        if (!parsed) {
          out.checks.fail("collateral.parse", parsed.error().message);
          return out;
        }
        collateral = std::move(*parsed);
      }
      dcap::verify_quote(b.evidence, collateral ? &*collateral : nullptr, anchors, at, out);
      break;
    }
    case Platform::Snp:
      snp::verify(b.evidence, b.certs, at, out);
      break;
    case Platform::NvGpu:
      nvgpu::verify(b.evidence, b.certs, at, out);
      break;
  }
  policy.appraise(out);
  return out;
}

}  // namespace

Appraisal verify_evidence(const EvidenceBundle& b, const Policy& policy, std::chrono::system_clock::time_point at) {
  return verify(b, policy, at, nullptr);
}

Appraisal verify_evidence(const EvidenceBundle& b, const Policy& policy, std::chrono::system_clock::time_point at,
                          PreparedCollaterals& prepared) {
  return verify(b, policy, at, &prepared);
}

}  // namespace ward::attest
