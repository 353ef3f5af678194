#include "http/parser.h"

#include <gtest/gtest.h>

namespace ward::http {
namespace {

Limits small_limits() {
  Limits l;
  l.max_head_bytes = 256;
  l.max_headers = 4;
  l.max_body_bytes = 100;
  return l;
}

RequestHead head_of(std::string_view bytes, const Limits& limits = {}) {
  auto parsed = parse_head(bytes, limits);
  EXPECT_TRUE(parsed) << parsed.error().message;
  EXPECT_TRUE(parsed && *parsed);
  return parsed && *parsed ? (*parsed)->head : RequestHead{};
}

int refusal_status(std::string_view bytes, const Limits& limits = {}) {
  auto parsed = parse_head(bytes, limits);
  return parsed ? 0 : parsed.error().status;
}

TEST(ParseHead, ShouldParseARequestLineHeadersAndQuery) {
  const std::string bytes = "GET /v1/a%20b?x=1&y=a+b%21&flag HTTP/1.1\r\nHost: h\r\nX-A:  v  \r\n\r\nrest";
  auto parsed = parse_head(bytes, {});
  ASSERT_TRUE(parsed && *parsed);
  const RequestHead& h = (*parsed)->head;
  EXPECT_EQ((*parsed)->size, bytes.size() - 4);
  EXPECT_EQ(h.method, "GET");
  EXPECT_EQ(h.path, "/v1/a b");
  ASSERT_EQ(h.query.size(), 3u);
  EXPECT_EQ(h.query[1], std::make_pair(std::string("y"), std::string("a b!")));
  EXPECT_EQ(h.query[2].first, "flag");
  EXPECT_EQ(find_header(h.headers, "x-a"), "v");
  EXPECT_TRUE(h.keep_alive);
  EXPECT_EQ(h.body, BodyKind::None);
}

TEST(ParseHead, ShouldWaitForMoreBytesUntilTheBlankLine) {
  auto parsed = parse_head("GET / HTTP/1.1\r\nHost: h\r\n", {});
  ASSERT_TRUE(parsed);
  EXPECT_FALSE(*parsed);
}

TEST(ParseHead, ShouldAcceptBareLfAndSkipLeadingEmptyLines) {
  const RequestHead h = head_of("\r\n\nPOST /x HTTP/1.0\nContent-Length: 3\n\n");
  EXPECT_EQ(h.method, "POST");
  EXPECT_EQ(h.body, BodyKind::Length);
  EXPECT_EQ(h.content_length, 3u);
  EXPECT_FALSE(h.keep_alive);
}

TEST(ParseHead, ShouldFollowConnectionHeadersPerVersion) {
  EXPECT_FALSE(head_of("GET / HTTP/1.1\r\nConnection: Close\r\n\r\n").keep_alive);
  EXPECT_TRUE(head_of("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keep_alive);
}

TEST(ParseHead, ShouldRefuseAmbiguousFramingWith400) {
  EXPECT_EQ(refusal_status("POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            400);
  EXPECT_EQ(refusal_status("POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"), 400);
  EXPECT_EQ(refusal_status("POST / HTTP/1.1\r\nContent-Length: +1\r\n\r\n"), 400);
  EXPECT_EQ(refusal_status("POST / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n"), 400);
  EXPECT_EQ(refusal_status("GET / HTTP/1.1\r\nX: a\r\n folded\r\n\r\n"), 400);
  EXPECT_EQ(refusal_status("GET / HTTP/1.1\r\nX: a\rb\r\n\r\n"), 400);
  EXPECT_EQ(refusal_status("GET / HTTP/1.1\r\nBad Name: a\r\n\r\n"), 400);
  EXPECT_EQ(refusal_status("GET http://h/ HTTP/1.1\r\n\r\n"), 400);
  EXPECT_EQ(refusal_status("GET /%zz HTTP/1.1\r\n\r\n"), 400);
  EXPECT_EQ(refusal_status("GET / FTP/1.1\r\n\r\n"), 400);
  EXPECT_EQ(refusal_status("GET  / HTTP/1.1\r\n\r\n"), 400);
}

TEST(ParseHead, ShouldRefuseOtherVersionsCodingsAndExpectations) {
  EXPECT_EQ(refusal_status("GET / HTTP/2.0\r\n\r\n"), 505);
  EXPECT_EQ(refusal_status("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"), 501);
  EXPECT_EQ(refusal_status("POST / HTTP/1.1\r\nExpect: magic\r\nContent-Length: 1\r\n\r\n"), 417);
}

TEST(ParseHead, ShouldRefuseAHeadOverItsLimitsWith431) {
  const Limits limits = small_limits();
  EXPECT_EQ(refusal_status("GET /" + std::string(300, 'a'), limits), 431);
  EXPECT_EQ(refusal_status("GET / HTTP/1.1\r\nX: " + std::string(300, 'a') + "\r\n\r\n", limits), 431);
  std::string many = "GET / HTTP/1.1\r\n";
  for (int i = 0; i < 5; ++i) many += "H" + std::to_string(i) + ": v\r\n";
  EXPECT_EQ(refusal_status(many + "\r\n", limits), 431);
}

TEST(ParseHead, ShouldRefuseADeclaredBodyOverTheLimitWith413NamingIt) {
  auto parsed = parse_head("POST / HTTP/1.1\r\nContent-Length: 101\r\n\r\n", small_limits());
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().status, 413);
  EXPECT_EQ(parsed.error().message, "the request body is larger than 100 bytes");
  EXPECT_EQ(refusal_status("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n"), 413);
}

TEST(ParseChunkedBody, ShouldDecodeChunksAndDropExtensionsAndTrailers) {
  const std::string bytes = "3;ext=1\r\nabc\r\n0A\r\n0123456789\r\n0\r\nTrailer: x\r\n\r\nNEXT";
  auto body = parse_chunked_body(bytes, {});
  ASSERT_TRUE(body && *body);
  EXPECT_EQ((*body)->body, "abc0123456789");
  EXPECT_EQ((*body)->size, bytes.size() - 4);
}

TEST(ParseChunkedBody, ShouldWaitForTheLastChunkAndTrailer) {
  for (std::string_view partial :
       {"3\r\nab", "3\r\nabc\r\n", "3\r\nabc\r\n0\r\n", "3\r\nabc\r\n0\r\nT: x\r\n"}) {
    auto body = parse_chunked_body(partial, {});
    ASSERT_TRUE(body) << partial;
    EXPECT_FALSE(*body) << partial;
  }
}

TEST(ParseChunkedBody, ShouldRefuseBadFramingAndOversizedBodies) {
  EXPECT_EQ(parse_chunked_body("x\r\n", {}).error().status, 400);
  EXPECT_EQ(parse_chunked_body("3\r\nabcd\r\n", {}).error().status, 400);
  EXPECT_EQ(parse_chunked_body("1000000000000000\r\n", {}).error().status, 400);
  EXPECT_EQ(parse_chunked_body("65\r\n", small_limits()).error().status, 413);
  EXPECT_EQ(parse_chunked_body("32\r\n" + std::string(50, 'a') + "\r\n33\r\n", small_limits()).error().status,
            413);
}

TEST(PercentDecode, ShouldRefuseTruncatedEscapes) {
  EXPECT_EQ(percent_decode("a%2", false), std::nullopt);
  EXPECT_EQ(percent_decode("a%", false), std::nullopt);
  EXPECT_EQ(percent_decode("a+b%2Fc", false), "a+b/c");
  EXPECT_EQ(percent_decode("a+b", true), "a b");
}

}  // namespace
}  // namespace ward::http
