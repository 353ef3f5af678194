#include "serve/tls.h"

#include <poll.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <gtest/gtest.h>

#include "base/unique_fd.h"
#include "fixture.h"

namespace ward::serve {
namespace {

using namespace testing;
using Clock = steady_clock;

class TlsTest : public ServeTest {
 protected:
  std::shared_ptr<TlsServerContext> context(const ServiceCredentials& credentials) {
    auto created = TlsServerContext::create(credentials.key, chain_of(credentials));
    EXPECT_TRUE(created) << created.error().message;
    return *created;
  }
};

UniqueFd tcp_connect(int port) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<std::uint16_t>(port));
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::connect(fd.get(), reinterpret_cast<sockaddr*>(&to), sizeof to), 0);
  return fd;
}

TEST_F(TlsTest, shouldServeHttpOverTls13AndShowTheChainLeafFirst) {
  const auto credentials = issue();
  TlsServer server(context(credentials));
  auto stream = TlsStream::connect("127.0.0.1", server.port(), 5s);
  ASSERT_TRUE(stream) << stream.error().message;
  const auto chain = (*stream)->peer_chain();
  ASSERT_EQ(chain.size(), 2u);
  EXPECT_EQ(chain[0], credentials.certificate);
  EXPECT_EQ(chain[1], cvm_cert());
  EXPECT_EQ(get(**stream, "/one"), "hello /one");
  EXPECT_EQ(get(**stream, "/two"), "hello /two");
}

TEST_F(TlsTest, shouldCloseAHandshakeThatNeverCompletesAtTheRequestDeadline) {
  TlsServer server(context(issue()), 400ms);
  // Taken before the connect: the server's deadline starts at its accept.
  const auto start = Clock::now();
  const auto fd = tcp_connect(server.port());
  // The start of a ClientHello record, and then nothing.
  const char partial[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01};
  ASSERT_EQ(::send(fd.get(), partial, sizeof partial, MSG_NOSIGNAL), static_cast<ssize_t>(sizeof partial));
  pollfd p{fd.get(), POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 5000), 1) << "still open after 5 s";
  char buf[64];
  EXPECT_LE(::recv(fd.get(), buf, sizeof buf, 0), 0);
  const auto waited = Clock::now() - start;
  EXPECT_GE(waited, 300ms);
  EXPECT_LT(waited, 3s);
}

TEST_F(TlsTest, shouldKeepOpenConnectionsOnTheirChainAndShowNewOnesTheRotatedOne) {
  const auto first = issue();
  const auto ctx = context(first);
  TlsServer server(ctx);
  auto old_stream = TlsStream::connect("127.0.0.1", server.port(), 5s);
  ASSERT_TRUE(old_stream) << old_stream.error().message;
  EXPECT_EQ(get(**old_stream, "/before"), "hello /before");

  const auto rotated = issue(sample_claims(), &first.key);
  ASSERT_TRUE(ctx->update(chain_of(rotated)));

  EXPECT_EQ(get(**old_stream, "/after"), "hello /after");
  EXPECT_EQ((*old_stream)->peer_chain()[0], first.certificate);
  auto new_stream = TlsStream::connect("127.0.0.1", server.port(), 5s);
  ASSERT_TRUE(new_stream) << new_stream.error().message;
  EXPECT_EQ((*new_stream)->peer_chain()[0], rotated.certificate);
  EXPECT_EQ(get(**new_stream, "/new"), "hello /new");
}

TEST_F(TlsTest, shouldRefuseARotationToAnotherKey) {
  const auto ctx = context(issue());
  auto other = ctx->update(chain_of(issue()));
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code, "serve.tls");
  EXPECT_FALSE(ctx->update({}));
}

TEST_F(TlsTest, shouldRefuseToCreateAContextWhoseLeafIsNotTheKeys) {
  const auto a = issue();
  const auto b = issue();
  auto created = TlsServerContext::create(a.key, chain_of(b));
  ASSERT_FALSE(created);
  EXPECT_EQ(created.error().code, "serve.tls");
}

TEST_F(TlsTest, shouldFailTheHandshakeAgainstAServerThatDoesNotSpeakTls) {
  http::Server plain([](const http::Request&) { return http::Response{}; });
  const int port = plain.bind("127.0.0.1", 0).value();
  std::thread thread([&plain] { (void)plain.serve(); });
  auto stream = TlsStream::connect("127.0.0.1", port, 2s);
  plain.stop();
  thread.join();
  ASSERT_FALSE(stream);
  EXPECT_EQ(stream.error().code, "serve.tls");
}

TEST_F(TlsTest, shouldTimeOutAHandshakeTheServerNeverAnswers) {
  UniqueFd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in at{};
  at.sin_family = AF_INET;
  at.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(listener.get(), reinterpret_cast<sockaddr*>(&at), sizeof at), 0);
  ASSERT_EQ(::listen(listener.get(), 4), 0);
  socklen_t len = sizeof at;
  ::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&at), &len);
  const auto start = Clock::now();
  auto stream = TlsStream::connect("127.0.0.1", ntohs(at.sin_port), 300ms);
  ASSERT_FALSE(stream);
  EXPECT_EQ(stream.error().code, "serve.tls");
  EXPECT_LT(Clock::now() - start, 3s);
}

}  // namespace
}  // namespace ward::serve
