// NVIDIA GPU attestation reports (SPDM GET_MEASUREMENTS request || response)
// as a verifier receives them from a guest it does not trust: parsing, and
// the whole verification with a real H100 device chain. Nothing may crash,
// a parsed report's signed part must be a prefix of the input, and an
// accepted report must parse and carry its request nonce as report data.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <vector>

#include "attest/nvgpu.h"

namespace {

// Fuzzers run from the repository root, as the unit tests do.
constexpr const char* kChain = "../shared/testdata/attestation/nvidia/trustee/hopper_cert_chain_case1.txt";

std::vector<ward::crypto::Certificate> load_chain() {
  std::ifstream in(kChain, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  auto chain = ward::crypto::parse_pem_chain(text.str());
  if (!chain) {
    std::fprintf(stderr, "fuzz_spdm: cannot read %s: run from the repository root\n", kChain);
    std::abort();
  }
  return *chain;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::vector<ward::crypto::Certificate> chain = load_chain();
  static const auto at =
      std::chrono::system_clock::time_point(std::chrono::sys_days{std::chrono::year{2025} / 1 / 1});
  const ward::ByteView input(data, size);
  auto report = ward::attest::nvgpu::parse_report(input);
  if (report) {
    const ward::ByteView signed_part = report->signed_part;
    if (signed_part.size() > size || !std::equal(signed_part.begin(), signed_part.end(), data)) std::abort();
  }
  ward::attest::Appraisal appraisal;
  ward::attest::nvgpu::verify(input, chain, at, appraisal);
  if (appraisal.accepted()) {
    if (!report || !std::ranges::equal(appraisal.report_data, report->request.nonce)) std::abort();
  }
  return 0;
}
