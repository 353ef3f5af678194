// Routes by method and path, so that a server is a list of endpoints:
// an unknown path is a JSON 404 "unknown_path", a known path with another
// method a 405 "method_not_allowed" with Allow, and HEAD is served as GET.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "http/message.h"

namespace ward::http {

class Router {
 public:
  // `param` is the path segment matched by "{}", empty for a fixed path.
  using RouteHandler = std::function<Response(const Request&, const std::string& param)>;

  // `path` is fixed ("/v1/info") or ends in "/{}", which matches exactly one
  // more non-empty segment ("/v1/orders/{}").
  void add(std::string method, std::string_view path, RouteHandler handler);

  Response handle(const Request& request) const;

 private:
  struct Route {
    std::string method;
    std::string path;
    bool has_param;
    RouteHandler handler;
  };
  std::vector<Route> routes_;
};

}  // namespace ward::http
