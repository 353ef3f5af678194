// The attested tunnels of a split order (serve/tunnel.h), attacked as a
// host would: a peer with no certificate, a self-signed one, a CVM of another
// center or code, a real CVM of the same code holding a tunnel certificate
// for another order, and a CVM the order does not list. Over real TLS on
// loopback sockets, with real CVM certificates from a real center.
#include "serve/tunnel.h"

#include <poll.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <atomic>
#include <netinet/in.h>
#include <sys/socket.h>
#include <thread>

#include "attest/sim.h"
#include "ca/certificate.h"
#include "crypto/random.h"
#include "fixture.h"

namespace ward::serve {
namespace {

using namespace std::chrono;
using ca::testing::kNow;
using testing::ServeTest;

// A TCP server on 127.0.0.1 that echoes what it reads, one connection at a
// time: the engine behind a worker's tunnel.
class EchoServer {
 public:
  EchoServer() {
    fd_ = UniqueFd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::listen(fd_.get(), 4), 0);
    socklen_t len = sizeof addr;
    ::getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] {
      while (!stop_) {
        pollfd p{fd_.get(), POLLIN, 0};
        if (::poll(&p, 1, 100) <= 0) continue;
        UniqueFd c(::accept(fd_.get(), nullptr, nullptr));
        char buf[4096];
        for (;;) {
          const ssize_t n = ::read(c.get(), buf, sizeof buf);
          if (n <= 0) break;
          if (::write(c.get(), buf, static_cast<std::size_t>(n)) != n) break;
        }
      }
    });
  }
  ~EchoServer() {
    stop_ = true;
    thread_.join();
  }
  Result<UniqueFd> dial() const {
    UniqueFd c(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port_));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(c.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
      return fail("test", "cannot reach the echo server");
    return c;
  }

 private:
  UniqueFd fd_;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

class TunnelTest : public ServeTest {
 protected:
  void SetUp() override {
    ServeTest::SetUp();
    head_cert_.emplace(cvm_cert());
    worker_cert_.emplace(issue_for(worker_key_));
    order_.ledger.fill(0x11);
    order_.order = 42;
    order_.engine = "sha256:" + std::string(64, 'a');
  }

  crypto::Certificate issue_for(const keys::PartyKey& key, ByteView measured = as_bytes("ward-loader")) {
    auto quote = attest::sim::make_quote(ca::cvm_report_data(key.signing_public_key(), key.recipient().key()),
                                         attest::sim::measure(measured), kNow);
    attest::EvidenceBundle b;
    b.platform = attest::Platform::Sim;
    b.evidence = quote->quote;
    b.collateral = attest::dcap::collateral_to_json(quote->collateral);
    auto issued =
        center().issue(b, key.signing_public_key(), key.recipient(), ca::testing::sim_policy(), kNow);
    EXPECT_TRUE(issued && issued->certificate);
    return *issued->certificate;
  }

  static ledger::CvmId id_of(const crypto::Certificate& cert) {
    return ca::read_cvm_certificate(cert)->identity.id;
  }

  // A tunnel identity for `order` held by the CVM with `key` and `cert`.
  TlsIdentity identity(const keys::PartyKey& key, const crypto::Certificate& cert, const TunnelOrder& order,
                       std::vector<crypto::Sha256Digest> inputs = {}) {
    const ServiceClaims claims{order.ledger, order.order, order.engine, std::move(inputs)};
    auto issued = issue_service_certificate(
        claims, key.signing_key(), cert, floor<seconds>(kNow) - minutes(5), floor<seconds>(kNow) + hours(1));
    EXPECT_TRUE(issued) << issued.error().message;
    return TlsIdentity{issued->key, {issued->certificate, cert}};
  }

  // What each end requires: the same code as the test CVMs, and the order.
  TunnelTrust trust(std::vector<ledger::CvmId> members) const {
    attest::Policy same;
    same.allow_simulated = true;
    const auto mrtd = attest::sim::measure(as_bytes("ward-loader"));
    same.allowed_measurements["mrtd"] = {Bytes(mrtd.begin(), mrtd.end())};
    TunnelTrust t{center().certificate(), {same}, order_, std::move(members)};
    t.clock = [] { return kNow; };
    return t;
  }

  static crypto::Certificate self_signed_leaf(const crypto::EcPrivateKey* key = nullptr) {
    const auto fresh = crypto::EcPrivateKey::generate(crypto::EcCurve::P256);
    return crypto::CertificateBuilder()
        .subject("order-42")
        .validity(floor<seconds>(kNow), floor<seconds>(kNow) + hours(1))
        .self_sign(key ? *key : fresh)
        .value();
  }

  std::string expect_refused(const TunnelPeer& peer, const std::string& check) {
    EXPECT_FALSE(peer.accepted());
    const auto* f = peer.appraisal.checks.first_failure();
    EXPECT_TRUE(f && f->name == check) << (f ? f->name + ": " + f->detail : "no failure");
    return f ? f->detail : "";
  }

  keys::PartyKey worker_key_ = keys::PartyKey::generate();
  std::optional<crypto::Certificate> head_cert_, worker_cert_;
  TunnelOrder order_;
};

TEST_F(TunnelTest, shouldAcceptTheOrdersOwnPeerAndRefuseEveryOtherChain) {
  const auto head = identity(cvm_, *head_cert_, order_);
  const auto worker_trust = trust({id_of(*head_cert_)});
  const auto ok = verify_tunnel_peer(head.chain, worker_trust, kNow);
  ASSERT_TRUE(ok.accepted()) << ok.appraisal.checks.first_failure_text();
  EXPECT_EQ(ok.cvm->id, id_of(*head_cert_));

  // The same CVM, for another order, another ledger, or the engine's
  // service certificate naming inputs.
  TunnelOrder other = order_;
  other.order = 43;
  EXPECT_NE(expect_refused(verify_tunnel_peer(identity(cvm_, *head_cert_, other).chain, worker_trust, kNow),
                           "tunnel.order")
                .find("order 43"),
            std::string::npos);
  other = order_;
  other.ledger.fill(0x22);
  expect_refused(verify_tunnel_peer(identity(cvm_, *head_cert_, other).chain, worker_trust, kNow),
                 "tunnel.order");
  other = order_;
  other.engine = "sha256:" + std::string(64, 'b');
  expect_refused(verify_tunnel_peer(identity(cvm_, *head_cert_, other).chain, worker_trust, kNow),
                 "tunnel.order");
  expect_refused(
      verify_tunnel_peer(identity(cvm_, *head_cert_, order_, {crypto::sha256(as_bytes("m"))}).chain,
                         worker_trust, kNow),
      "tunnel.order");
  // A real CVM of the same code, with a tunnel certificate for this very
  // order, that the order does not list at this end.
  expect_refused(verify_tunnel_peer(identity(worker_key_, *worker_cert_, order_).chain, worker_trust, kNow),
                 "tunnel.member");
  // A CVM of other code.
  auto other_code = keys::PartyKey::generate();
  const auto other_cert = issue_for(other_code, as_bytes("another loader"));
  expect_refused(
      verify_tunnel_peer(identity(other_code, other_cert, order_).chain, trust({id_of(other_cert)}), kNow),
      "policy.measurement.mrtd");
  // Simulated evidence under a policy that wants hardware.
  auto strict = trust({id_of(*head_cert_)});
  strict.policies.push_back(attest::Policy::strict());
  EXPECT_FALSE(verify_tunnel_peer(head.chain, strict, kNow).accepted());
  // A leaf the host made itself, presented with the head's real CVM certificate.
  auto forged = head;
  forged.chain[0] = self_signed_leaf();
  expect_refused(verify_tunnel_peer(forged.chain, worker_trust, kNow), "tls.chain");
  // No CVM certificate at all, or an expired tunnel certificate.
  expect_refused(verify_tunnel_peer(std::vector{head.chain[0]}, worker_trust, kNow), "tls.chain");
  expect_refused(verify_tunnel_peer(head.chain, worker_trust, kNow + hours(2)), "tls.chain");
  // No policy: nothing is accepted.
  auto none = worker_trust;
  none.policies.clear();
  expect_refused(verify_tunnel_peer(head.chain, none, kNow), "tunnel.policy");
}

TEST_F(TunnelTest, shouldRelayOnlyForTheOrdersHeadOverRealTls) {
  EchoServer engine;
  std::vector<std::string> logged;
  std::mutex log_mu;
  const auto log = [&](const std::string& line) {
    std::lock_guard lock(log_mu);
    logged.push_back(line);
  };
  TunnelServer server(
      identity(worker_key_, *worker_cert_, order_), trust({id_of(*head_cert_)}),
      [&engine] { return engine.dial(); }, log);
  auto port = server.start("127.0.0.1", 0);
  ASSERT_TRUE(port) << port.error().message;
  const std::string endpoint = "127.0.0.1:" + std::to_string(*port);

  // The head verifies the worker, and bytes go through both ways.
  TunnelClient head(identity(cvm_, *head_cert_, order_), trust({}), log);
  auto probed = head.probe(endpoint, id_of(*worker_cert_));
  ASSERT_TRUE(probed) << probed.error().message;
  EXPECT_EQ(probed->cvm->id, id_of(*worker_cert_));
  {
    const auto head_identity = identity(cvm_, *head_cert_, order_);
    auto stream = TlsStream::connect("127.0.0.1", *port, seconds(5), &head_identity);
    ASSERT_TRUE(stream) << stream.error().message;
    ASSERT_TRUE((*stream)->write_all("ping"));
    char buf[16];
    std::string got;
    while (got.size() < 4) {
      auto n = (*stream)->read(buf);
      ASSERT_TRUE(n && *n > 0);
      got.append(buf, *n);
    }
    EXPECT_EQ(got, "ping");
  }
  // The head expecting another CVM at that endpoint refuses it.
  auto wrong = head.probe(endpoint, id_of(*head_cert_));
  ASSERT_FALSE(wrong);
  EXPECT_NE(wrong.error().message.find("tunnel.member"), std::string::npos) << wrong.error().message;

  // Attackers: no client certificate, a self-signed one, and a real CVM of
  // the same code with a tunnel certificate for another order.
  const auto refused_before = server.refused();
  const auto attempt = [&](const TlsIdentity* id) {
    auto stream = TlsStream::connect("127.0.0.1", *port, seconds(5), id);
    if (!stream) return std::string("handshake refused");
    (void)(*stream)->write_all("ping");
    char buf[16];
    auto n = (*stream)->read(buf);
    return !n ? n.error().message : *n == 0 ? std::string("closed") : std::string(buf, *n);
  };
  const auto stranger = keys::PartyKey::generate();
  const auto stranger_cert = issue_for(stranger);
  const auto self = crypto::EcPrivateKey::generate(crypto::EcCurve::P256);
  const TlsIdentity host{self, {self_signed_leaf(&self)}};
  EXPECT_NE(attempt(nullptr), "ping");
  EXPECT_NE(attempt(&host), "ping");
  TunnelOrder other = order_;
  other.order = 7;
  const auto other_order = identity(cvm_, *head_cert_, other);
  EXPECT_NE(attempt(&other_order), "ping");
  const auto not_listed = identity(stranger, stranger_cert, order_);
  EXPECT_NE(attempt(&not_listed), "ping");
  for (int i = 0; i < 100 && server.refused() < refused_before + 4; ++i)
    std::this_thread::sleep_for(milliseconds(20));
  EXPECT_EQ(server.refused(), refused_before + 4);
  EXPECT_EQ(server.accepted(), 3u);  // the two probes (one the head refused) and the echo
  {
    std::lock_guard lock(log_mu);
    bool order_refusal = false, member_refusal = false;
    for (const auto& l : logged) {
      order_refusal |= l.find("tunnel.order") != std::string::npos;
      member_refusal |= l.find("tunnel.member") != std::string::npos;
    }
    EXPECT_TRUE(order_refusal && member_refusal);
  }
  server.stop();
}

TEST_F(TunnelTest, shouldLoseAWorkerThatGoesAway) {
  EchoServer engine;
  auto server = std::make_unique<TunnelServer>(
      identity(worker_key_, *worker_cert_, order_), trust({id_of(*head_cert_)}),
      [&engine] { return engine.dial(); }, [](const std::string&) {});
  auto port = server->start("127.0.0.1", 0);
  ASSERT_TRUE(port);
  const std::string endpoint = "127.0.0.1:" + std::to_string(*port);
  TunnelClient head(identity(cvm_, *head_cert_, order_), trust({}), [](const std::string&) {});

  // The head's engine connects to a local listener; its bytes reach the
  // worker's engine and come back.
  UniqueFd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(listener.get(), 4), 0);
  socklen_t len = sizeof addr;
  ::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&addr), &len);
  head.serve(std::move(listener), endpoint, id_of(*worker_cert_));
  UniqueFd local(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  ASSERT_EQ(::connect(local.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::write(local.get(), "hello", 5), 5);
  char buf[16];
  std::string got;
  while (got.size() < 5) {
    const ssize_t n = ::read(local.get(), buf, sizeof buf);
    ASSERT_GT(n, 0);
    got.append(buf, static_cast<std::size_t>(n));
  }
  EXPECT_EQ(got, "hello");
  EXPECT_FALSE(head.lost());

  // The worker goes away: the tunnel ends from its side, and the head says which.
  server.reset();
  for (int i = 0; i < 100 && !head.lost(); ++i) std::this_thread::sleep_for(milliseconds(20));
  ASSERT_TRUE(head.lost());
  EXPECT_NE(head.lost()->find(endpoint), std::string::npos) << *head.lost();
  head.stop();
}

}  // namespace
}  // namespace ward::serve
