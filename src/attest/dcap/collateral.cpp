#include "attest/dcap/collateral.h"

#include <string>
#include <utility>

#include <nlohmann/json.hpp>

namespace ward::attest::dcap {

namespace {

std::unexpected<Error> bad(std::string_view field, const std::string& what) {
  return fail("attest.collateral", "collateral field \"" + std::string(field) + "\" " + what);
}

Result<std::string> text_field(const nlohmann::json& j, std::string_view field) {
  const auto it = j.find(field);
  if (it == j.end()) return bad(field, "is missing");
  if (!it->is_string()) return bad(field, "is not a string");
  return it->get<std::string>();
}

Result<Bytes> hex_field(const nlohmann::json& j, std::string_view field) {
  auto text = text_field(j, field);
  if (!text) return std::unexpected(text.error());
  if (text->empty()) return bad(field, "is empty");
  auto bytes = hex_decode(*text);
  if (!bytes) return bad(field, "is not hex");
  return bytes;
}

Result<Bytes> signature_field(const nlohmann::json& j, std::string_view field) {
  auto sig = hex_field(j, field);
  if (!sig) return std::unexpected(sig.error());
  if (sig->size() != 64) return bad(field, "must be 64 bytes (r||s), not " + std::to_string(sig->size()));
  return sig;
}

}  // namespace

Result<Collateral> parse_collateral(std::string_view json) {
  if (json.size() > kMaxCollateralSize) {
    return fail("attest.collateral",
                "collateral is larger than " + std::to_string(kMaxCollateralSize) + " bytes");
  }
  const auto j = nlohmann::json::parse(json.begin(), json.end(), nullptr, false);
  if (j.is_discarded()) return fail("attest.collateral", "collateral is not valid JSON");
  if (!j.is_object()) return fail("attest.collateral", "collateral is not a JSON object");

  Collateral c;
  auto text = [&](std::string_view field, std::string& out) -> Result<void> {
    auto v = text_field(j, field);
    if (!v) return std::unexpected(v.error());
    if (v->empty()) return bad(field, "is empty");
    out = std::move(*v);
    return {};
  };
  auto binary = [&](std::string_view field, Bytes& out, bool signature) -> Result<void> {
    auto v = signature ? signature_field(j, field) : hex_field(j, field);
    if (!v) return std::unexpected(v.error());
    out = std::move(*v);
    return {};
  };
  // Every field is read; the first failure in schema order is reported.
  for (const auto& step :
       {text("pck_crl_issuer_chain", c.pck_crl_issuer_chain), binary("root_ca_crl", c.root_ca_crl, false),
        binary("pck_crl", c.pck_crl, false), text("tcb_info_issuer_chain", c.tcb_info_issuer_chain),
        text("tcb_info", c.tcb_info), binary("tcb_info_signature", c.tcb_info_signature, true),
        text("qe_identity_issuer_chain", c.qe_identity_issuer_chain), text("qe_identity", c.qe_identity),
        binary("qe_identity_signature", c.qe_identity_signature, true)}) {
    if (!step) return std::unexpected(step.error());
  }
  return c;
}

std::string collateral_to_json(const Collateral& c) {
  // dcap-qvl's field order, so that our output diffs cleanly against its files.
  nlohmann::ordered_json j;
  j["pck_crl_issuer_chain"] = c.pck_crl_issuer_chain;
  j["root_ca_crl"] = hex_encode(c.root_ca_crl);
  j["pck_crl"] = hex_encode(c.pck_crl);
  j["tcb_info_issuer_chain"] = c.tcb_info_issuer_chain;
  j["tcb_info"] = c.tcb_info;
  j["tcb_info_signature"] = hex_encode(c.tcb_info_signature);
  j["qe_identity_issuer_chain"] = c.qe_identity_issuer_chain;
  j["qe_identity"] = c.qe_identity;
  j["qe_identity_signature"] = hex_encode(c.qe_identity_signature);
  // Strings from parse_collateral are valid UTF-8; replacing anything else
  // (rather than throwing) leaves a text whose signature will not verify.
  return j.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
}

}  // namespace ward::attest::dcap
