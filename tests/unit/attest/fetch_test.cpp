#include "attest/fetch.h"

#include <httplib.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include "base/file.h"
#include "base/time.h"
#include "crypto/hash.h"

namespace ward::attest {
namespace {

namespace fs = std::filesystem;
using std::chrono::system_clock;

const fs::path kIntel = "../shared/testdata/attestation/tdx-sgx/go-tdx-guest";
const fs::path kAmd = "../shared/testdata/attestation/snp/virtee-sev";

std::string load(const fs::path& path) {
  return std::string(as_chars(read_file(path, 1 << 20).value()));
}

system_clock::time_point at(std::string_view rfc3339) {
  return parse_rfc3339(rfc3339).value();
}

// Percent-encodes all but RFC 3986's unreserved characters, as Intel's PCS
// encodes its issuer-chain headers.
std::string url_encode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

// A PCS and KDS stand-in on 127.0.0.1: serves registered request targets
// (path and query, exactly) and counts the requests for each.
class FakeServices {
 public:
  struct Resource {
    std::string body;
    httplib::Headers headers;
  };

  FakeServices() {
    server_.Get(".*", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mutex_);
      ++requests_[req.target];
      const auto it = resources_.find(req.target);
      if (it == resources_.end()) {
        res.status = 404;
        res.set_header("Error-Message", "no such resource");
        return;
      }
      for (const auto& [name, value] : it->second.headers) res.set_header(name, value);
      res.set_content(it->second.body, "application/octet-stream");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::yield();
  }
  ~FakeServices() {
    server_.stop();
    thread_.join();
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  void serve(const std::string& target, Resource resource) {
    std::lock_guard lock(mutex_);
    resources_[target] = std::move(resource);
  }
  void remove(const std::string& target) {
    std::lock_guard lock(mutex_);
    resources_.erase(target);
  }
  int requests(const std::string& target) {
    std::lock_guard lock(mutex_);
    return requests_[target];
  }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mutex_;
  std::map<std::string, Resource> resources_;
  std::map<std::string, int> requests_;
};

constexpr const char* kPckCrl = "/sgx/certification/v4/pckcrl?ca=platform&encoding=der";
constexpr const char* kRootCrl = "/sgx/certification/v4/rootcacrl";
constexpr const char* kTdxTcb = "/tdx/certification/v4/tcb?fmspc=50806F000000";
constexpr const char* kTdxQe = "/tdx/certification/v4/qe/identity";

class FetchTest : public testing::Test {
 protected:
  void SetUp() override {
    cache_ = fs::temp_directory_path() / ("ward-fetch-test-" + std::to_string(::getpid()));
    fs::remove_all(cache_);
    options_.pcs_url = services_.url() + "/";
    options_.kds_url = services_.url();
    options_.root_ca_crl_url = services_.url() + kRootCrl;
    options_.cache_dir = cache_;
    options_.now = at("2023-06-20T00:00:00Z");
    options_.timeout = std::chrono::seconds{5};

    tcb_chain_ = load(kIntel / "tcb_info_issuer_chain.pem");
    tcb_body_ = load(kIntel / "sample_tcbInfo_response");
    qe_body_ = load(kIntel / "sample_qeIdentity_response");
    services_.serve(kPckCrl,
                    {load(kIntel / "pckcrl"),
                     {{"SGX-PCK-CRL-Issuer-Chain", url_encode(load(kIntel / "pck_crl_issuer_chain.pem"))}}});
    services_.serve(kRootCrl, {load(kIntel / "rootcrl.der"), {}});
    services_.serve(kTdxTcb, {tcb_body_, {{"TCB-Info-Issuer-Chain", url_encode(tcb_chain_)}}});
    services_.serve(kTdxQe, {qe_body_, {{"SGX-Enclave-Identity-Issuer-Chain", url_encode(tcb_chain_)}}});
  }
  void TearDown() override { fs::remove_all(cache_); }

  Result<dcap::Collateral> fetch_tdx() {
    return fetch_dcap_collateral(options_, Platform::Tdx, "50806f000000", PckCa::Platform);
  }

  std::vector<std::string> cache_files() const {
    std::vector<std::string> names;
    if (!fs::exists(cache_)) return names;
    for (const auto& entry : fs::directory_iterator(cache_))
      names.push_back(entry.path().filename().string());
    return names;
  }
  std::string cache_name(const std::string& url) const { return hex_encode(crypto::sha256(as_bytes(url))); }

  FakeServices services_;
  fs::path cache_;
  FetchOptions options_;
  std::string tcb_chain_;
  std::string tcb_body_;
  std::string qe_body_;
};

TEST_F(FetchTest, ShouldAssembleTheCollateralTheServicesServe) {
  auto c = fetch_tdx();
  ASSERT_TRUE(c) << c.error().message;
  // The same pieces, packed by hand from the same files.
  auto expected = dcap::parse_collateral(load(kIntel / "derived_collateral_v4_SPR_E4.json"));
  ASSERT_TRUE(expected) << expected.error().message;
  EXPECT_EQ(c->pck_crl_issuer_chain, expected->pck_crl_issuer_chain);
  EXPECT_EQ(c->root_ca_crl, expected->root_ca_crl);
  EXPECT_EQ(c->pck_crl, expected->pck_crl);
  EXPECT_EQ(c->tcb_info_issuer_chain, expected->tcb_info_issuer_chain);
  EXPECT_EQ(c->tcb_info, expected->tcb_info);
  EXPECT_EQ(c->tcb_info_signature, expected->tcb_info_signature);
  EXPECT_EQ(c->qe_identity_issuer_chain, expected->qe_identity_issuer_chain);
  EXPECT_EQ(c->qe_identity, expected->qe_identity);
  EXPECT_EQ(c->qe_identity_signature, expected->qe_identity_signature);
}

TEST_F(FetchTest, ShouldCutTheSignedTextOutOfTheResponseByteForByte) {
  const std::string signed_text = R"({ "id" : "TDX", "nextUpdate":"2023-07-18T08:42:58Z",
    "note": "braces } ] and \"quotes\" {", "tcbLevels" : [ {"x":[1, 2.5e3, true, null]} ] })";
  const std::string body =
      "{\n  \"signature\" : \"" + std::string(128, 'a') + "\",\n  \"tcbInfo\" :\t" + signed_text + "\n}\n";
  services_.serve(kTdxTcb, {body, {{"TCB-Info-Issuer-Chain", url_encode(tcb_chain_)}}});
  auto c = fetch_tdx();
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->tcb_info, signed_text);
  EXPECT_EQ(c->tcb_info_signature, Bytes(64, 0xaa));
}

TEST_F(FetchTest, ShouldServeASecondFetchWithinNextUpdateFromTheCache) {
  ASSERT_TRUE(fetch_tdx());
  auto again = fetch_tdx();
  ASSERT_TRUE(again) << again.error().message;
  for (const char* target : {kPckCrl, kRootCrl, kTdxTcb, kTdxQe})
    EXPECT_EQ(services_.requests(target), 1) << target;
  EXPECT_EQ(again->tcb_info, fetch_tdx()->tcb_info);
  EXPECT_EQ(cache_files().size(), 4u);
}

TEST_F(FetchTest, ShouldRefetchWhatIsPastItsNextUpdate) {
  ASSERT_TRUE(fetch_tdx());
  // The PCK CRL and QE Identity are due on 2023-07-08, TCB Info on 07-18,
  // the root CA CRL in 2024.
  options_.now = at("2023-07-10T00:00:00Z");
  ASSERT_TRUE(fetch_tdx());
  EXPECT_EQ(services_.requests(kPckCrl), 2);
  EXPECT_EQ(services_.requests(kTdxQe), 2);
  EXPECT_EQ(services_.requests(kTdxTcb), 1);
  EXPECT_EQ(services_.requests(kRootCrl), 1);
}

TEST_F(FetchTest, ShouldFetchEverythingEachTimeWithoutACache) {
  options_.cache_dir.clear();
  ASSERT_TRUE(fetch_tdx());
  ASSERT_TRUE(fetch_tdx());
  EXPECT_EQ(services_.requests(kTdxTcb), 2);
  EXPECT_FALSE(fs::exists(cache_));
}

TEST_F(FetchTest, ShouldRefetchACorruptCacheEntry) {
  ASSERT_TRUE(fetch_tdx());
  std::ofstream(cache_ / cache_name(services_.url() + kTdxTcb), std::ios::trunc) << "{\"url\":";
  auto c = fetch_tdx();
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(services_.requests(kTdxTcb), 2);
  EXPECT_EQ(services_.requests(kTdxQe), 1);
}

TEST_F(FetchTest, ShouldFailClearlyOnHttp404) {
  services_.remove(kTdxQe);
  auto c = fetch_tdx();
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, "attest.fetch");
  EXPECT_NE(c.error().message.find("GET " + services_.url() + kTdxQe + ": HTTP 404 (no such resource)"),
            std::string::npos)
      << c.error().message;
}

TEST_F(FetchTest, ShouldLeaveNothingPartialInTheCacheAfterAFailedFetch) {
  services_.remove(kTdxQe);
  ASSERT_FALSE(fetch_tdx());
  // The three complete responses are kept; nothing for the failed one, and
  // no temporary files.
  auto names = cache_files();
  std::ranges::sort(names);
  std::vector<std::string> expected = {cache_name(services_.url() + kPckCrl),
                                       cache_name(services_.url() + kRootCrl),
                                       cache_name(services_.url() + kTdxTcb)};
  std::ranges::sort(expected);
  EXPECT_EQ(names, expected);
}

TEST_F(FetchTest, ShouldNotCacheAMalformedResponse) {
  services_.serve(kTdxQe, {R"({"enclaveIdentity":{"nextUpdate":"2023-07-08T07:24:59Z"},"signature":"zz"})",
                           {{"SGX-Enclave-Identity-Issuer-Chain", url_encode(tcb_chain_)}}});
  auto c = fetch_tdx();
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("\"signature\" is not 64 bytes of hex"), std::string::npos)
      << c.error().message;
  EXPECT_NE(c.error().message.find(kTdxQe), std::string::npos);
  EXPECT_FALSE(fs::exists(cache_ / cache_name(services_.url() + kTdxQe)));
}

TEST_F(FetchTest, ShouldRejectMalformedSignedResponses) {
  const std::string signature = "\"signature\":\"" + std::string(128, '0') + "\"";
  const std::map<std::string, std::string> cases = {
      {"not JSON", "{\"tcbInfo\":"},
      {"no \"tcbInfo\"", "{" + signature + "}"},
      {"two \"tcbInfo\" members",
       R"({"tcbInfo":{"nextUpdate":"2023-07-18T08:42:58Z"},"tcbInfo":{},)" + signature + "}"},
      {"\"tcbInfo\" is not an object", "{\"tcbInfo\":[]," + signature + "}"},
      {"no nextUpdate", "{\"tcbInfo\":{}," + signature + "}"},
      {"no \"signature\"", R"({"tcbInfo":{"nextUpdate":"2023-07-18T08:42:58Z"}})"},
  };
  for (const auto& [why, body] : cases) {
    services_.serve(kTdxTcb, {body, {{"TCB-Info-Issuer-Chain", url_encode(tcb_chain_)}}});
    auto c = fetch_tdx();
    ASSERT_FALSE(c) << why;
    EXPECT_NE(c.error().message.find(why), std::string::npos) << c.error().message;
  }
}

TEST_F(FetchTest, ShouldRejectAResponseWithoutItsIssuerChain) {
  services_.serve(kTdxTcb, {tcb_body_, {}});
  auto c = fetch_tdx();
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("no TCB-Info-Issuer-Chain header"), std::string::npos)
      << c.error().message;
}

TEST_F(FetchTest, ShouldRejectAnIssuerChainThatIsNotCertificates) {
  services_.serve(kTdxTcb, {tcb_body_, {{"TCB-Info-Issuer-Chain", "%ZZ"}}});
  auto c = fetch_tdx();
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("bad percent-encoding"), std::string::npos) << c.error().message;

  services_.serve(kTdxTcb, {tcb_body_, {{"TCB-Info-Issuer-Chain", "garbage"}}});
  c = fetch_tdx();
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("holds no certificate chain"), std::string::npos) << c.error().message;
}

TEST_F(FetchTest, ShouldCacheAResponseWhoseHeaderIsNotUtf8) {
  services_.serve(kTdxTcb, {tcb_body_, {{"TCB-Info-Issuer-Chain", url_encode(tcb_chain_) + "\xff"}}});
  ASSERT_TRUE(fetch_tdx());
  ASSERT_TRUE(fetch_tdx());
  EXPECT_EQ(services_.requests(kTdxTcb), 1);
}

TEST_F(FetchTest, ShouldAcceptTheV3TcbInfoHeaderName) {
  services_.serve(kTdxTcb, {tcb_body_, {{"SGX-TCB-Info-Issuer-Chain", url_encode(tcb_chain_)}}});
  auto c = fetch_tdx();
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->tcb_info_issuer_chain, tcb_chain_);
}

TEST_F(FetchTest, ShouldRejectACrlThatIsNotACrl) {
  services_.serve(kRootCrl, {"not a CRL", {}});
  auto c = fetch_tdx();
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("not a CRL"), std::string::npos) << c.error().message;
}

TEST_F(FetchTest, ShouldAcceptAHexCrlAsAPccsSendsIt) {
  services_.serve(kRootCrl, {hex_encode(as_bytes(load(kIntel / "rootcrl.der"))), {}});
  auto c = fetch_tdx();
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->root_ca_crl, to_bytes(load(kIntel / "rootcrl.der")));
}

TEST_F(FetchTest, ShouldAskTheSgxApiForSgxCollateralAndTheProcessorCrl) {
  const std::string pck = "/sgx/certification/v4/pckcrl?ca=processor&encoding=der";
  const std::string tcb = "/sgx/certification/v4/tcb?fmspc=00906ED50000";
  const std::string qe = "/sgx/certification/v4/qe/identity";
  services_.serve(pck,
                  {load(kIntel / "pckcrl"),
                   {{"SGX-PCK-CRL-Issuer-Chain", url_encode(load(kIntel / "pck_crl_issuer_chain.pem"))}}});
  services_.serve(tcb, {tcb_body_, {{"TCB-Info-Issuer-Chain", url_encode(tcb_chain_)}}});
  services_.serve(qe, {qe_body_, {{"SGX-Enclave-Identity-Issuer-Chain", url_encode(tcb_chain_)}}});
  auto c = fetch_dcap_collateral(options_, Platform::Sgx, "00906ed50000", PckCa::Processor);
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(services_.requests(pck), 1);
  EXPECT_EQ(services_.requests(tcb), 1);
  EXPECT_EQ(services_.requests(qe), 1);
}

// The root CA CRL comes from the root certificate's CRL distribution point
// by default. Intel's server is out of reach here, so its response is put in
// the cache first, in the cache's own format.
TEST_F(FetchTest, ShouldTakeTheRootCaCrlFromTheRootCertificate) {
  const std::string intel_url = "https://certificates.trustedservices.intel.com/IntelSGXRootCA.der";
  fs::create_directories(cache_);
  std::ofstream(cache_ / cache_name(intel_url))
      << R"({"url":")" << intel_url << R"(","headers":{},"body":")"
      << base64_encode(as_bytes(load(kIntel / "rootcrl.der"))) << "\"}";
  options_.root_ca_crl_url.clear();
  auto c = fetch_tdx();
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->root_ca_crl, to_bytes(load(kIntel / "rootcrl.der")));
  EXPECT_EQ(services_.requests(kRootCrl), 0);
}

TEST_F(FetchTest, ShouldRefuseABadFmspcOrPlatform) {
  for (std::string_view fmspc : {"50806f", "50806f00000g", "50806f0000000000"}) {
    auto c = fetch_dcap_collateral(options_, Platform::Tdx, fmspc, PckCa::Platform);
    ASSERT_FALSE(c) << fmspc;
    EXPECT_NE(c.error().message.find("FMSPC"), std::string::npos);
  }
  auto c = fetch_dcap_collateral(options_, Platform::Snp, "50806f000000", PckCa::Platform);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, "attest.fetch");
}

TEST_F(FetchTest, ShouldRefuseAResponseLargerThanTheLimit) {
  services_.serve(kRootCrl, {std::string(kMaxFetchResponseSize + 1, 'x'), {}});
  auto c = fetch_tdx();
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("larger than"), std::string::npos) << c.error().message;
  EXPECT_FALSE(fs::exists(cache_ / cache_name(services_.url() + kRootCrl)));
}

TEST_F(FetchTest, ShouldFailClearlyWhenTheServiceIsUnreachable) {
  std::string url;
  {
    FakeServices gone;
    url = gone.url();
  }
  options_.pcs_url = url;
  auto c = fetch_tdx();
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, "attest.fetch");
  EXPECT_NE(c.error().message.find("GET " + url + "/sgx/certification/v4/pckcrl"), std::string::npos)
      << c.error().message;
}

// The test's own self-signed certificate is in no system trust store.
TEST_F(FetchTest, ShouldRefuseAnHttpsServerItCannotVerify) {
  using namespace std::chrono_literals;
  const auto key = crypto::EcPrivateKey::generate(crypto::EcCurve::P256);
  const auto now = std::chrono::floor<std::chrono::seconds>(system_clock::now());
  auto cert = crypto::CertificateBuilder()
                  .subject("127.0.0.1")
                  .validity(now - 1h, now + 1h)
                  .public_key(key.public_key())
                  .self_sign(key);
  ASSERT_TRUE(cert);
  httplib::SSLServer server(cert->native(), key.evp());
  server.Get(".*", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(load(kIntel / "pckcrl"), "application/octet-stream");
  });
  const int port = server.bind_to_any_port("127.0.0.1");
  std::thread thread([&] { server.listen_after_bind(); });
  while (!server.is_running()) std::this_thread::yield();
  options_.pcs_url = "https://127.0.0.1:" + std::to_string(port);
  auto c = fetch_tdx();
  server.stop();
  thread.join();
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, "attest.fetch");
  EXPECT_NE(c.error().message.find("SSLServerVerification"), std::string::npos) << c.error().message;
}

TEST_F(FetchTest, ShouldRefuseABadServiceUrl) {
  for (const char* url :
       {"ftp://example.com", "https://", "http://user@host", "api.trustedservices.intel.com"}) {
    options_.pcs_url = url;
    auto c = fetch_tdx();
    ASSERT_FALSE(c) << url;
    EXPECT_NE(c.error().message.find("bad URL"), std::string::npos) << c.error().message;
  }
}

// ---- AMD KDS ----

class KdsTest : public FetchTest {
 protected:
  void SetUp() override {
    FetchTest::SetUp();
    services_.serve("/vcek/v1/Milan/cert_chain", {load(kAmd / "cert_chain_milan"), {}});
    services_.serve(milan_vcek_, {load(kAmd / "vcek_milan.der"), {}});
  }

  static Bytes counting(std::size_t size) {
    Bytes out(size);
    for (std::size_t i = 0; i < size; ++i) out[i] = static_cast<std::uint8_t>(i);
    return out;
  }

  const Bytes chip_id_ = counting(64);
  const SnpTcb tcb_{.bootloader = 3, .tee = 0, .snp = 8, .microcode = 115, .fmc = std::nullopt};
  const std::string milan_vcek_ =
      "/vcek/v1/Milan/" + hex_encode(chip_id_) + "?blSPL=03&teeSPL=00&snpSPL=08&ucodeSPL=115";
};

TEST_F(KdsTest, ShouldFetchTheVcekAndItsAskAndArk) {
  auto certs = fetch_vcek(options_, "milan", chip_id_, tcb_);
  ASSERT_TRUE(certs) << certs.error().message;
  ASSERT_EQ(certs->size(), 3u);
  EXPECT_EQ((*certs)[0].to_der(), to_bytes(load(kAmd / "vcek_milan.der")));
  auto chain = crypto::parse_pem_chain(load(kAmd / "cert_chain_milan")).value();
  EXPECT_EQ((*certs)[1], chain[0]);
  EXPECT_EQ((*certs)[2], chain[1]);
  EXPECT_TRUE((*certs)[0].verify_signature((*certs)[1]));
}

TEST_F(KdsTest, ShouldServeTheVcekFromTheCacheUntilItExpires) {
  ASSERT_TRUE(fetch_vcek(options_, "Milan", chip_id_, tcb_));
  ASSERT_TRUE(fetch_vcek(options_, "Milan", chip_id_, tcb_));
  EXPECT_EQ(services_.requests(milan_vcek_), 1);
  EXPECT_EQ(services_.requests("/vcek/v1/Milan/cert_chain"), 1);
  options_.now = at("2030-05-01T00:00:00Z");  // past the VCEK's notAfter
  ASSERT_TRUE(fetch_vcek(options_, "Milan", chip_id_, tcb_));
  EXPECT_EQ(services_.requests(milan_vcek_), 2);
}

TEST_F(KdsTest, ShouldAskForATurinVcekByItsShortHwidAndFmcSpl) {
  const std::string target =
      "/vcek/v1/Turin/0001020304050607?fmcSPL=01&blSPL=03&teeSPL=00&snpSPL=08&ucodeSPL=115";
  services_.serve(target, {load(kAmd / "vcek_turin.der"), {}});
  services_.serve("/vcek/v1/Turin/cert_chain", {load(kAmd / "cert_chain_turin"), {}});
  SnpTcb turin = tcb_;
  turin.fmc = 1;
  auto certs = fetch_vcek(options_, "Turin", chip_id_, turin);
  ASSERT_TRUE(certs) << certs.error().message;
  EXPECT_EQ(services_.requests(target), 1);
  EXPECT_TRUE((*certs)[0].verify_signature((*certs)[1]));
}

TEST_F(KdsTest, ShouldRefuseInconsistentRequests) {
  SnpTcb with_fmc = tcb_;
  with_fmc.fmc = 1;
  EXPECT_FALSE(fetch_vcek(options_, "Milan", chip_id_, with_fmc));
  EXPECT_FALSE(fetch_vcek(options_, "Turin", chip_id_, tcb_));
  EXPECT_FALSE(fetch_vcek(options_, "Rome", chip_id_, tcb_));
  EXPECT_FALSE(fetch_vcek(options_, "Milan", Bytes(8), tcb_));
  EXPECT_EQ(services_.requests(milan_vcek_), 0);
}

TEST_F(KdsTest, ShouldRejectAChainThatIsNotAskAndArk) {
  services_.serve("/vcek/v1/Milan/cert_chain", {load(kAmd / "../amd-roots/ARK-Milan.pem"), {}});
  auto certs = fetch_vcek(options_, "Milan", chip_id_, tcb_);
  ASSERT_FALSE(certs);
  EXPECT_NE(certs.error().message.find("not 2 (ASK, ARK)"), std::string::npos) << certs.error().message;
}

TEST_F(KdsTest, ShouldRejectAVcekThatIsNotACertificate) {
  services_.serve(milan_vcek_, {"<html>busy</html>", {}});
  auto certs = fetch_vcek(options_, "Milan", chip_id_, tcb_);
  ASSERT_FALSE(certs);
  EXPECT_NE(certs.error().message.find("not a DER certificate"), std::string::npos) << certs.error().message;
}

}  // namespace
}  // namespace ward::attest
