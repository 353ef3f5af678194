// New verified connections per second to a served endpoint (bench/serve_vs_direct.sh):
// `full` opens a TLS connection and runs every check of serve::verify_endpoint
// (the chain, the CVM certificate's evidence down to its root, the policy,
// the order and start report on the ledger); `cached` opens a TLS connection
// whose certificate is already verified (what `ward proxy` does for each new
// upstream connection within the cache's lifetime).
//
//   serve_connect_bench https://HOST:PORT LEDGER CA.pem POLICY.json SECONDS
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "attest/policy.h"
#include "base/file.h"
#include "crypto/x509.h"
#include "serve/client.h"

namespace {

using Clock = std::chrono::steady_clock;

int fail(const std::string& what) {
  std::fprintf(stderr, "serve_connect_bench: %s\n", what.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 6)
    return fail("usage: serve_connect_bench https://HOST:PORT LEDGER CA.pem POLICY.json SECONDS");
  auto ca_pem = ward::read_file(argv[3], 1 << 20);
  if (!ca_pem) return fail(ca_pem.error().message);
  auto ca = ward::crypto::Certificate::from_pem(ward::as_chars(*ca_pem));
  if (!ca) return fail(ca.error().message);
  auto policy_text = ward::read_file(argv[4], 1 << 20);
  if (!policy_text) return fail(policy_text.error().message);
  auto policy = ward::attest::Policy::from_json(ward::as_chars(*policy_text));
  if (!policy) return fail(policy.error().message);
  const auto seconds = std::chrono::seconds(std::atoi(argv[5]));
  auto client =
      ward::serve::VerifiedClient::open(argv[1], ward::serve::ClientOptions{*ca, *policy, argv[2], {}});
  if (!client) return fail(client.error().message);

  const auto run = [&](const char* name, auto&& once) -> bool {
    int n = 0;
    const auto start = Clock::now();
    while (Clock::now() - start < seconds) {
      if (!once()) return false;
      ++n;
    }
    const double s = std::chrono::duration<double>(Clock::now() - start).count();
    std::printf("%s: %d verified connections in %.2f s: %.1f/s, %.2f ms each\n", name, n, s, n / s,
                1000 * s / n);
    return true;
  };
  const bool full = run("full", [&] {
    auto v = (*client)->verify_now();
    if (!v || !(*v)->accepted()) {
      std::fprintf(stderr, "serve_connect_bench: %s\n",
                   v ? ward::serve::rejection_line(**v).c_str() : v.error().message.c_str());
      return false;
    }
    return true;
  });
  const bool cached = full && run("cached", [&] {
                        auto c = (*client)->connect();
                        if (!c) std::fprintf(stderr, "serve_connect_bench: %s\n", c.error().message.c_str());
                        return c.has_value();
                      });
  return full && cached ? 0 : 1;
}
