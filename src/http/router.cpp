#include "http/router.h"

#include <optional>

namespace ward::http {

void Router::add(std::string method, std::string_view path, RouteHandler handler) {
  const bool has_param = path.ends_with("/{}");
  if (has_param) path.remove_suffix(3);
  routes_.push_back(Route{std::move(method), std::string(path), has_param, std::move(handler)});
}

Response Router::handle(const Request& request) const {
  const std::string_view method = request.method == "HEAD" ? std::string_view("GET") : request.method;
  std::string allowed;
  for (const Route& r : routes_) {
    std::optional<std::string> param;
    const std::string_view p = request.path;
    if (!r.has_param) {
      if (p == r.path) param.emplace();
    } else if (p.starts_with(r.path) && p.size() > r.path.size() + 1 && p[r.path.size()] == '/' &&
               p.find('/', r.path.size() + 1) == std::string_view::npos) {
      param.emplace(p.substr(r.path.size() + 1));
    }
    if (!param) continue;
    if (r.method == method) return r.handler(request, *param);
    if (allowed.find(r.method) == std::string::npos) allowed += (allowed.empty() ? "" : ", ") + r.method;
  }
  if (allowed.empty()) return error_response(404, "unknown_path", "no such endpoint: " + request.path);
  Response res =
      error_response(405, "method_not_allowed",
                     request.method + " is not allowed on " + request.path + " (use " + allowed + ")");
  res.set_header("Allow", allowed);
  return res;
}

}  // namespace ward::http
