// HTTP/1.1 requests and responses as handlers see them, and the JSON shapes
// every Ward server answers with.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "base/error.h"

namespace ward::http {

struct Header {
  std::string name;
  std::string value;
};
using Headers = std::vector<Header>;

// Header names compare case-insensitively (RFC 9110 §5.1); the first match wins.
std::optional<std::string_view> find_header(const Headers& headers, std::string_view name);
bool iequals(std::string_view a, std::string_view b);

// A client's server URL "http://HOST:PORT" (trailing slashes dropped), or
// nullopt for anything else: another scheme, a path, query, fragment,
// userinfo or space.
std::optional<std::string> base_url(std::string_view url);

struct Request {
  std::string method;                                      // as sent: "GET", "HEAD", "POST", ...
  std::string target;                                      // the request target as sent
  std::string path;                                        // the target before '?', percent-decoded
  std::vector<std::pair<std::string, std::string>> query;  // decoded, in order
  Headers headers;
  std::string body;  // complete (de-chunked) and within the server's limit
  std::string peer;  // the client's address, without the port
  int version_minor = 1;

  std::optional<std::string_view> header(std::string_view name) const { return find_header(headers, name); }
  bool has_param(std::string_view name) const;
  // The first value of query parameter `name`; empty when absent.
  std::string get_param(std::string_view name) const;
};

// Where a streaming handler writes its body, one chunk at a time.
class ChunkSink {
 public:
  virtual ~ChunkSink() = default;
  // Queues `data` as one chunk (empty data sends nothing). Waits while the
  // client has more than the server's stream buffer unread, up to the write
  // timeout. Errors "http.stream" when the client is gone or too slow, or the
  // server is stopping: the handler should then return.
  virtual Result<void> write(std::string_view data) = 0;
};

struct Response {
  int status = 200;
  // The server writes Content-Length, Transfer-Encoding and Connection itself.
  Headers headers;
  std::string body;
  // When set, `body` is ignored: the server sends the head with
  // Transfer-Encoding: chunked, then runs this on the handler's thread, and
  // ends the body when it returns (SSE, long generations). If it throws, the
  // connection is closed without the last chunk: the client sees the body cut.
  std::function<void(ChunkSink&)> stream;

  void set_header(std::string name, std::string value);
  void set_content(std::string content, std::string_view content_type);
};

// A JSON answer; text that is not UTF-8 is replaced rather than refused, so
// a response always goes out.
Response json_response(int status, const nlohmann::json& body);
// Ward's refusal shape: {"error": {"reason": ..., "message": ...}}.
Response error_response(int status, std::string_view reason, std::string_view message);

// "OK", "Not Found", ...; "Unknown" for a code without a phrase here.
std::string_view reason_phrase(int status);

}  // namespace ward::http
