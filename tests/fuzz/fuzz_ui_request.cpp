// What `ward ui` reads from a browser: header fields through the gate, and
// JSON bodies through the API's parsers. Nothing may crash; the gate may
// pass an API request only with the exact token, its own Host, and no
// foreign Origin.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "ui/api.h"

namespace {

const ward::ui::Gate kGate{std::string(64, '7'), 8080};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  // Header lines up to a blank line, then the body.
  const auto split = text.find("\n\n");
  std::string_view head = text.substr(0, split);
  const std::string_view body = split == std::string_view::npos ? "" : text.substr(split + 2);

  ward::http::Request request;
  request.method = "POST";
  request.path = request.target = "/api/offers";
  request.body = std::string(body);
  while (!head.empty()) {
    const auto end = head.find('\n');
    const std::string_view line = head.substr(0, end);
    head = end == std::string_view::npos ? "" : head.substr(end + 1);
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    request.headers.push_back({std::string(line.substr(0, colon)), std::string(line.substr(colon + 1))});
  }
  if (!ward::ui::refuse(request, kGate)) {
    const auto auth = request.header("Authorization");
    const auto host = request.header("Host");
    if (!auth || *auth != "Bearer " + kGate.token) std::abort();
    if (!host || (*host != "127.0.0.1:8080" && *host != "localhost:8080")) std::abort();
  }

  auto parsed = ward::ui::parse_body(body);
  if (parsed) {
    (void)ward::ui::parse_offer_request(*parsed);
    (void)ward::ui::parse_upload_request(*parsed);
    (void)ward::ui::parse_deploy_request(*parsed);
    (void)ward::ui::parse_connect_request(*parsed);
  }
  return 0;
}
