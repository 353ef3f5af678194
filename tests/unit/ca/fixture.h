// What the certification center's tests share: a fresh center in a
// temporary directory, a CVM's keys, and simulated evidence that binds them.
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>

#include <gtest/gtest.h>

#include "attest/dcap/collateral.h"
#include "attest/evidence.h"
#include "attest/policy.h"
#include "attest/sim.h"
#include "base/file.h"
#include "ca/binding.h"
#include "ca/center.h"
#include "crypto/random.h"
#include "keys/party_key.h"

namespace ward::ca::testing {

using namespace std::chrono;

inline const system_clock::time_point kNow = sys_days{year{2026} / 3 / 1} + hours{12};

inline attest::Policy sim_policy() {
  attest::Policy p;
  p.allow_simulated = true;
  return p;
}

inline attest::EvidenceBundle sim_evidence(const ReportData& report_data) {
  auto e = attest::sim::make_quote(report_data, attest::sim::measure(as_bytes("ward-loader")), kNow);
  if (!e) ADD_FAILURE() << e.error().message;
  attest::EvidenceBundle b;
  b.platform = attest::Platform::Sim;
  b.evidence = e->quote;
  b.collateral = attest::dcap::collateral_to_json(e->collateral);
  return b;
}

inline attest::EvidenceBundle sim_evidence_for(const keys::PartyKey& key) {
  return sim_evidence(cvm_report_data(key.signing_public_key(), key.recipient().key()));
}

inline std::string first_failure(const attest::Appraisal& a) {
  const attest::CheckResult* f = a.checks.first_failure();
  return f ? f->name : "";
}

class CaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("ward-ca-test-" + hex_encode(crypto::random_bytes(8)));
    auto c = CertificationCenter::init(dir_, kNow);
    ASSERT_TRUE(c) << c.error().message;
    center_.emplace(std::move(*c));
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  const CertificationCenter& center() const { return *center_; }
  const std::filesystem::path& dir() const { return dir_; }

  // A certificate for cvm_, issued by the center over its own evidence.
  crypto::Certificate issue_for_cvm() {
    auto issued = center().issue(sim_evidence_for(cvm_), cvm_.signing_public_key(), cvm_.recipient(),
                                 sim_policy(), kNow);
    if (!issued || !issued->certificate) {
      ADD_FAILURE() << (issued ? first_failure(issued->appraisal) : issued.error().message);
      return center().certificate();
    }
    return *issued->certificate;
  }

  // The CA's private key, read back from its file, for tests that forge
  // certificates only the CA could sign.
  crypto::EcPrivateKey ca_key() const {
    auto text = read_file(dir_ / kCaKeyFile, 4096).value();
    std::string_view rest = as_chars(text);
    while (rest.starts_with('#')) rest.remove_prefix(rest.find('\n') + 1);
    rest = rest.substr(0, rest.find('\n'));
    return crypto::EcPrivateKey::from_scalar(crypto::EcCurve::P384, hex_decode(rest).value()).value();
  }

  keys::PartyKey cvm_ = keys::PartyKey::generate();

 private:
  std::filesystem::path dir_;
  std::optional<CertificationCenter> center_;
};

}  // namespace ward::ca::testing
