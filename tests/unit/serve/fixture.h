// What the serving tests share: a certification center, a CVM certificate
// over simulated evidence, and service certificates that CVM issues.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "../ca/fixture.h"
#include "http/server.h"
#include "serve/certificate.h"
#include "serve/tls.h"

namespace ward::serve::testing {

using ca::testing::kNow;
using namespace std::chrono;

inline ServiceClaims sample_claims() {
  ServiceClaims c;
  c.ledger.fill(0x11);
  c.order = 42;
  c.engine = "sha256:" + std::string(64, 'a');
  c.inputs = {crypto::sha256(as_bytes("model weights")), crypto::sha256(as_bytes("tokenizer"))};
  return c;
}

// An http::Server on 127.0.0.1 over `context`'s TLS, answering "hello <path>".
class TlsServer {
 public:
  TlsServer(const std::shared_ptr<TlsServerContext>& context, milliseconds request_timeout = seconds(10)) {
    http::ServerOptions options;
    options.threads = 2;
    options.request_timeout = request_timeout;
    options.transport = context->transport();
    server_ = std::make_unique<http::Server>(
        [](const http::Request& req) {
          http::Response r;
          r.set_content("hello " + req.path, "text/plain");
          return r;
        },
        options);
    auto bound = server_->bind("127.0.0.1", 0);
    if (!bound) ADD_FAILURE() << bound.error().message;
    port_ = bound.value_or(0);
    thread_ = std::thread([this] {
      auto served = server_->serve();
      if (!served) ADD_FAILURE() << served.error().message;
    });
  }
  ~TlsServer() {
    server_->stop();
    thread_.join();
  }
  TlsServer(const TlsServer&) = delete;
  TlsServer& operator=(const TlsServer&) = delete;

  int port() const { return port_; }

 private:
  std::unique_ptr<http::Server> server_;
  int port_ = 0;
  std::thread thread_;
};

// Sends GET `path` on `stream` (kept alive) and returns the body of the answer.
inline std::string get(Stream& stream, const std::string& path) {
  auto sent = stream.write_all("GET " + path + " HTTP/1.1\r\nHost: test\r\n\r\n");
  if (!sent) return "write failed: " + sent.error().message;
  std::string in;
  char buf[4096];
  for (;;) {
    const auto end = in.find("\r\n\r\n");
    if (end != std::string::npos) {
      const auto cl = in.find("Content-Length: ");
      if (cl == std::string::npos) return "no Content-Length";
      const std::size_t length = std::stoul(in.substr(cl + 16));
      if (in.size() >= end + 4 + length) return in.substr(end + 4, length);
    }
    auto n = stream.read(buf);
    if (!n) return "read failed: " + n.error().message;
    if (*n == 0) return "closed";
    in.append(buf, *n);
  }
}

class ServeTest : public ca::testing::CaTest {
 protected:
  void SetUp() override {
    CaTest::SetUp();
    cvm_cert_.emplace(issue_for_cvm());
  }

  const crypto::Certificate& cvm_cert() const { return *cvm_cert_; }

  // A service certificate for `claims`, valid an hour from kNow.
  ServiceCredentials issue(const ServiceClaims& claims = sample_claims(),
                           const crypto::EcPrivateKey* key = nullptr) {
    auto issued = issue_service_certificate(claims, cvm_.signing_key(), cvm_cert(), floor<seconds>(kNow),
                                            floor<seconds>(kNow) + hours(1), key);
    if (!issued) ADD_FAILURE() << issued.error().message;
    return std::move(*issued);
  }

  std::vector<crypto::Certificate> chain_of(const ServiceCredentials& credentials) const {
    return {credentials.certificate, cvm_cert()};
  }

 private:
  std::optional<crypto::Certificate> cvm_cert_;
};

}  // namespace ward::serve::testing
