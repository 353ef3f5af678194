#include "attest/fetch.h"

#include <httplib.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <ctime>
#include <initializer_list>
#include <map>
#include <system_error>
#include <utility>

#include <nlohmann/json.hpp>

#include "base/file.h"
#include "base/time.h"
#include "crypto/hash.h"

namespace ward::attest {
namespace {

using json = nlohmann::json;
using std::chrono::sys_seconds;

// A cache entry holds the body in base64 plus a few headers.
constexpr std::size_t kMaxCacheEntrySize = kMaxFetchResponseSize * 2;
constexpr std::size_t kSignatureSize = 64;  // ECDSA P-256 r||s
constexpr std::size_t kFmspcSize = 6;
constexpr std::size_t kChipIdSize = 64;
constexpr std::size_t kTurinHwidSize = 8;

constexpr std::string_view kPckCrlChainHeader = "SGX-PCK-CRL-Issuer-Chain";
// PCS v4 drops the "SGX-" prefix of v3's TCB Info header; PCCSs send either.
const std::initializer_list<std::string_view> kTcbInfoChainHeaders = {"TCB-Info-Issuer-Chain",
                                                                      "SGX-TCB-Info-Issuer-Chain"};
const std::initializer_list<std::string_view> kQeIdentityChainHeaders = {"SGX-Enclave-Identity-Issuer-Chain",
                                                                         "Enclave-Identity-Issuer-Chain"};

std::unexpected<Error> fetch_error(std::string message) {
  return fail("attest.fetch", std::move(message));
}

// A response as the cache keeps it: the body and the headers asked for.
struct Response {
  std::string body;
  std::map<std::string, std::string> headers;
};

// What a response says, and when the service promises something newer.
template <class T>
struct Fresh {
  T value;
  sys_seconds next_update;
};

// ---- HTTP ----

struct UrlParts {
  std::string origin;  // scheme://host[:port]
  std::string target;  // /path?query
};

Result<UrlParts> split_url(const std::string& url) {
  for (std::string_view scheme : {"https://", "http://"}) {
    if (!url.starts_with(scheme)) continue;
    const std::size_t slash = url.find('/', scheme.size());
    UrlParts parts{url.substr(0, slash), slash == std::string::npos ? "/" : url.substr(slash)};
    const std::string_view host = std::string_view(parts.origin).substr(scheme.size());
    if (host.empty() || host.find_first_of("@?# ") != std::string_view::npos) break;
    return parts;
  }
  return fetch_error("bad URL '" + url + "' (expected http:// or https:// and a host)");
}

std::string trim_slashes(std::string url) {
  while (url.ends_with('/')) url.pop_back();
  return url;
}

Result<Response> http_get(const std::string& url, std::initializer_list<std::string_view> header_names,
                          std::chrono::seconds timeout) {
  auto parts = split_url(url);
  if (!parts) return std::unexpected(parts.error());
  httplib::Client client(parts->origin);
  if (!client.is_valid()) return fetch_error("cannot make requests to " + parts->origin);
  client.set_connection_timeout(static_cast<time_t>(timeout.count()));
  client.set_read_timeout(static_cast<time_t>(timeout.count()));
  client.set_follow_location(true);

  Response response;
  bool too_large = false;
  auto result = client.Get(parts->target, [&](const char* data, std::size_t size) {
    if (size > kMaxFetchResponseSize - response.body.size()) {
      too_large = true;
      return false;
    }
    response.body.append(data, size);
    return true;
  });
  if (too_large)
    return fetch_error("GET " + url + ": the response is larger than " +
                       std::to_string(kMaxFetchResponseSize) + " bytes");
  if (!result) return fetch_error("GET " + url + ": " + httplib::to_string(result.error()));
  if (result->status != 200) {
    std::string message = "GET " + url + ": HTTP " + std::to_string(result->status);
    // Intel's services say why in a header.
    if (result->has_header("Error-Message"))
      message += " (" + result->get_header_value("Error-Message") + ")";
    return fetch_error(message);
  }
  for (std::string_view name : header_names) {
    const std::string key(name);
    if (result->has_header(key)) response.headers[key] = result->get_header_value(key);
  }
  return response;
}

// ---- Cache ----

// One file per URL, named by the URL's SHA-256: {"url","headers","body"}.
// Freshness is judged from the content itself each time it is read.
class Cache {
 public:
  explicit Cache(std::filesystem::path dir) : dir_(std::move(dir)) {}

  std::optional<Response> load(const std::string& url) const {
    if (dir_.empty()) return std::nullopt;
    auto text = read_file(path_for(url), kMaxCacheEntrySize);
    if (!text) return std::nullopt;
    const json entry = json::parse(as_chars(*text), nullptr, false);
    if (!entry.is_object()) return std::nullopt;
    const auto stored_url = entry.find("url");
    const auto headers = entry.find("headers");
    const auto body = entry.find("body");
    if (stored_url == entry.end() || *stored_url != url || headers == entry.end() || !headers->is_object() ||
        body == entry.end() || !body->is_string()) {
      return std::nullopt;
    }
    auto bytes = base64_decode(body->get<std::string>());
    if (!bytes) return std::nullopt;
    Response response{std::string(as_chars(*bytes)), {}};
    for (const auto& [name, value] : headers->items()) {
      if (!value.is_string()) return std::nullopt;
      response.headers[name] = value.get<std::string>();
    }
    return response;
  }

  // Best effort: a cache that cannot be written only costs requests. The
  // entry appears whole or not at all.
  void store(const std::string& url, const Response& response) const {
    if (dir_.empty()) return;
    std::error_code ec;
    std::filesystem::create_directories(dir_, ec);
    if (ec) return;
    const json entry = {
        {"url", url}, {"headers", response.headers}, {"body", base64_encode(as_bytes(response.body))}};
    // Invalid UTF-8 in a header is replaced rather than thrown over; at worst
    // the entry then fails to parse when read back and is fetched again.
    const std::string text = entry.dump(-1, ' ', false, json::error_handler_t::replace);
    auto file = AtomicFile::create(path_for(url));
    if (!file || !file->write(as_bytes(text))) return;
    (void)file->commit();
  }

 private:
  std::filesystem::path path_for(const std::string& url) const {
    return dir_ / hex_encode(crypto::sha256(as_bytes(url)));
  }
  std::filesystem::path dir_;
};

// Serves `url` from the cache while its content is current, else downloads
// it, checks that it parses and caches it. `parse` fails on a malformed
// response, which is then never cached.
template <class T>
Result<T> fetch(const FetchOptions& options, const std::string& url,
                std::initializer_list<std::string_view> header_names,
                Result<Fresh<T>> (*parse)(const Response&)) {
  const auto now = options.now.value_or(std::chrono::system_clock::now());
  const Cache cache(options.cache_dir);
  if (auto cached = cache.load(url)) {
    // An entry that no longer parses is fetched again like a stale one.
    if (auto parsed = parse(*cached); parsed && now < parsed->next_update) return std::move(parsed->value);
  }
  auto response = http_get(url, header_names, options.timeout);
  if (!response) return std::unexpected(response.error());
  auto parsed = parse(*response);
  if (!parsed) return fail(parsed.error(), "GET " + url);
  cache.store(url, *response);
  return std::move(parsed->value);
}

// ---- Response contents ----

Result<std::string> percent_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    if (text.size() - i < 3) return fetch_error("bad percent-encoding");
    auto byte = hex_decode(text.substr(i + 1, 2));
    if (!byte) return fetch_error("bad percent-encoding");
    out += static_cast<char>((*byte)[0]);
    i += 2;
  }
  return out;
}

// The PEM chain in the first of `names` the response has, URL-decoded as
// Intel's services send it.
Result<std::string> issuer_chain(const Response& response, std::initializer_list<std::string_view> names) {
  for (std::string_view name : names) {
    const auto it = response.headers.find(std::string(name));
    if (it == response.headers.end()) continue;
    auto pem = percent_decode(it->second);
    if (!pem) return fetch_error("the " + it->first + " header: " + pem.error().message);
    if (auto certs = crypto::parse_pem_chain(*pem); !certs)
      return fetch_error("the " + it->first + " header holds no certificate chain: " + certs.error().message);
    return pem;
  }
  return fetch_error("the response has no " + std::string(*names.begin()) + " header");
}

// PCS v4 sends DER when asked; PCCSs and older APIs send hex or PEM.
Result<Fresh<Bytes>> parse_crl(const Response& response) {
  const std::string_view body = response.body;
  auto crl = crypto::Crl::from_der(as_bytes(body));
  if (!crl && body.find("-----BEGIN X509 CRL-----") != std::string_view::npos)
    crl = crypto::Crl::from_pem(body);
  if (!crl) {
    std::string_view hex = body;
    while (!hex.empty() && std::isspace(static_cast<unsigned char>(hex.back()))) hex.remove_suffix(1);
    if (auto der = hex_decode(hex)) crl = crypto::Crl::from_der(*der);
  }
  if (!crl) return fetch_error("the response is not a CRL (DER, PEM or hex)");
  const auto next_update = crl->next_update();
  if (!next_update) return fetch_error("the CRL has no nextUpdate");
  return Fresh<Bytes>{crl->to_der(), *next_update};
}

struct PckCrl {
  Bytes crl;
  std::string issuer_chain;
};

Result<Fresh<PckCrl>> parse_pck_crl(const Response& response) {
  auto crl = parse_crl(response);
  if (!crl) return std::unexpected(crl.error());
  auto chain = issuer_chain(response, {kPckCrlChainHeader});
  if (!chain) return std::unexpected(chain.error());
  return Fresh<PckCrl>{{std::move(crl->value), std::move(*chain)}, crl->next_update};
}

// Finds where values end in JSON text without decoding it, so a member's
// value can be cut out exactly as sent. The text has been checked to be JSON
// already; the scan still never reads past its end.
class RawJsonScanner {
 public:
  explicit RawJsonScanner(std::string_view text) : text_(text) {}

  // The text of `key`'s value in the top-level object.
  Result<std::string_view> member(std::string_view key) {
    std::optional<std::string_view> found;
    skip_space();
    if (!consume('{')) return fetch_error("the response is not a JSON object");
    skip_space();
    if (consume('}')) return missing(key);
    for (;;) {
      skip_space();
      const std::size_t name_start = pos_;
      if (!skip_string()) return malformed();
      const std::string_view name = text_.substr(name_start + 1, pos_ - name_start - 2);
      skip_space();
      if (!consume(':')) return malformed();
      skip_space();
      const std::size_t value_start = pos_;
      if (!skip_value()) return malformed();
      if (name == key) {
        // With two, which one a signature covers would be a guess.
        if (found) return fetch_error("the response has two \"" + std::string(key) + "\" members");
        found = text_.substr(value_start, pos_ - value_start);
      }
      skip_space();
      if (consume(',')) continue;
      if (consume('}')) break;
      return malformed();
    }
    if (!found) return missing(key);
    return *found;
  }

 private:
  static std::unexpected<Error> malformed() { return fetch_error("the response is not well-formed JSON"); }
  static std::unexpected<Error> missing(std::string_view key) {
    return fetch_error("the response has no \"" + std::string(key) + "\"");
  }

  bool consume(char c) {
    if (pos_ >= text_.size() || text_[pos_] != c) return false;
    ++pos_;
    return true;
  }

  void skip_space() {
    while (pos_ < text_.size() &&
           (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' || text_[pos_] == '\r')) {
      ++pos_;
    }
  }

  // From an opening quote to just past the closing one.
  bool skip_string() {
    if (!consume('"')) return false;
    while (pos_ < text_.size()) {
      const char c = text_[pos_++];
      if (c == '"') return true;
      if (c == '\\') {
        if (pos_ >= text_.size()) return false;
        ++pos_;
      }
    }
    return false;
  }

  bool skip_value() {
    if (pos_ >= text_.size()) return false;
    const char first = text_[pos_];
    if (first == '"') return skip_string();
    if (first == '{' || first == '[') {
      std::size_t depth = 0;
      while (pos_ < text_.size()) {
        const char c = text_[pos_];
        if (c == '"') {
          if (!skip_string()) return false;
          continue;
        }
        ++pos_;
        if (c == '{' || c == '[') ++depth;
        if ((c == '}' || c == ']') && --depth == 0) return true;
      }
      return false;
    }
    const std::size_t start = pos_;
    while (pos_ < text_.size() && std::string_view(",}] \t\n\r").find(text_[pos_]) == std::string_view::npos)
      ++pos_;
    return pos_ > start;
  }

  std::string_view text_;
  std::size_t pos_ = 0;
};

struct SignedCollateral {
  std::string text;  // exactly as the service signed it
  Bytes signature;
  std::string issuer_chain;
};

// {"<key>":{...},"signature":"<hex r||s>"}, Intel's form for TCB Info and
// QE Identity.
Result<Fresh<SignedCollateral>> parse_signed(const Response& response, std::string_view key,
                                             std::initializer_list<std::string_view> chain_headers) {
  const json body = json::parse(response.body, nullptr, false);
  if (body.is_discarded()) return fetch_error("the response is not JSON");
  auto text = RawJsonScanner(response.body).member(key);
  if (!text) return std::unexpected(text.error());
  const json signed_part = json::parse(*text, nullptr, false);
  if (!signed_part.is_object()) return fetch_error("\"" + std::string(key) + "\" is not an object");
  const auto next_update = signed_part.find("nextUpdate");
  if (next_update == signed_part.end() || !next_update->is_string())
    return fetch_error("\"" + std::string(key) + "\" has no nextUpdate");
  auto next_update_time = parse_rfc3339(next_update->get<std::string>());
  if (!next_update_time)
    return fetch_error("\"" + std::string(key) + "\".nextUpdate: " + next_update_time.error().message);

  const auto signature_text = body.find("signature");
  if (signature_text == body.end() || !signature_text->is_string())
    return fetch_error("the response has no \"signature\"");
  auto signature = hex_decode(signature_text->get<std::string>());
  if (!signature || signature->size() != kSignatureSize)
    return fetch_error("\"signature\" is not " + std::to_string(kSignatureSize) + " bytes of hex");

  auto chain = issuer_chain(response, chain_headers);
  if (!chain) return std::unexpected(chain.error());
  return Fresh<SignedCollateral>{{std::string(*text), std::move(*signature), std::move(*chain)},
                                 *next_update_time};
}

Result<Fresh<SignedCollateral>> parse_tcb_info(const Response& response) {
  return parse_signed(response, "tcbInfo", kTcbInfoChainHeaders);
}

Result<Fresh<SignedCollateral>> parse_qe_identity(const Response& response) {
  return parse_signed(response, "enclaveIdentity", kQeIdentityChainHeaders);
}

// The first URI in the certificate's CRL distribution points.
Result<std::string> crl_distribution_point(const crypto::Certificate& cert) {
  auto url = cert.crl_distribution_point();
  if (!url) return fetch_error("the root certificate " + cert.subject() + " names no CRL distribution point");
  return *url;
}

Result<std::string> root_ca_crl_url(const FetchOptions& options, const std::string& pck_crl_issuer_chain) {
  if (!options.root_ca_crl_url.empty()) return options.root_ca_crl_url;
  auto chain = crypto::parse_pem_chain(pck_crl_issuer_chain);
  if (!chain) return fetch_error("the PCK CRL issuer chain: " + chain.error().message);
  return crl_distribution_point(chain->back());
}

// ---- AMD KDS ----

Result<Fresh<crypto::Certificate>> parse_vcek(const Response& response) {
  auto cert = crypto::Certificate::from_der(as_bytes(response.body));
  if (!cert) return fetch_error("the response is not a DER certificate: " + cert.error().message);
  return Fresh<crypto::Certificate>{*cert, cert->not_after()};
}

Result<Fresh<std::vector<crypto::Certificate>>> parse_cert_chain(const Response& response) {
  auto certs = crypto::parse_pem_chain(response.body);
  if (!certs) return fetch_error("the response is not a PEM certificate chain: " + certs.error().message);
  if (certs->size() != 2)
    return fetch_error("the chain has " + std::to_string(certs->size()) + " certificates, not 2 (ASK, ARK)");
  const sys_seconds expiry = std::min((*certs)[0].not_after(), (*certs)[1].not_after());
  return Fresh<std::vector<crypto::Certificate>>{std::move(*certs), expiry};
}

Result<std::string> kds_product(std::string_view product) {
  for (std::string_view known : {"Milan", "Genoa", "Turin"}) {
    if (std::ranges::equal(product, known, [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
        })) {
      return std::string(known);
    }
  }
  return fetch_error("unknown SEV-SNP product '" + std::string(product) +
                     "' (expected Milan, Genoa or Turin)");
}

// KDS takes SPLs in decimal, as AMD's examples write them: two digits at least.
std::string spl(std::uint8_t value) {
  return (value < 10 ? "0" : "") + std::to_string(value);
}

}  // namespace

std::filesystem::path default_collateral_cache_dir() {
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  if (xdg != nullptr && *xdg == '/') return std::filesystem::path(xdg) / "ward" / "collateral";
  const char* home = std::getenv("HOME");
  if (home != nullptr && *home != '\0') return std::filesystem::path(home) / ".cache" / "ward" / "collateral";
  return {};
}

Result<dcap::Collateral> fetch_dcap_collateral(const FetchOptions& options, Platform platform,
                                               std::string_view fmspc_hex, PckCa ca) {
  if (platform != Platform::Tdx && platform != Platform::Sgx)
    return fetch_error("Intel collateral is for TDX and SGX, not " + std::string(platform_name(platform)));
  auto fmspc = hex_decode(fmspc_hex);
  if (!fmspc || fmspc->size() != kFmspcSize)
    return fetch_error("FMSPC must be " + std::to_string(kFmspcSize) + " bytes of hex, not '" +
                       std::string(fmspc_hex) + "'");
  std::string fmspc_upper = hex_encode(*fmspc);
  std::ranges::transform(fmspc_upper, fmspc_upper.begin(),
                         [](char c) { return static_cast<char>(std::toupper(c)); });

  const std::string base = trim_slashes(options.pcs_url);
  const std::string sgx_api = base + "/sgx/certification/v4";
  const std::string tee_api = base + (platform == Platform::Tdx ? "/tdx" : "/sgx") + "/certification/v4";

  auto pck_crl = fetch(
      options, sgx_api + "/pckcrl?ca=" + (ca == PckCa::Platform ? "platform" : "processor") + "&encoding=der",
      {kPckCrlChainHeader}, parse_pck_crl);
  if (!pck_crl) return std::unexpected(pck_crl.error());
  auto root_url = root_ca_crl_url(options, pck_crl->issuer_chain);
  if (!root_url) return std::unexpected(root_url.error());
  auto root_crl = fetch(options, *root_url, {}, parse_crl);
  if (!root_crl) return std::unexpected(root_crl.error());
  auto tcb_info = fetch(options, tee_api + "/tcb?fmspc=" + fmspc_upper, kTcbInfoChainHeaders, parse_tcb_info);
  if (!tcb_info) return std::unexpected(tcb_info.error());
  auto qe_identity = fetch(options, tee_api + "/qe/identity", kQeIdentityChainHeaders, parse_qe_identity);
  if (!qe_identity) return std::unexpected(qe_identity.error());

  dcap::Collateral c;
  c.pck_crl_issuer_chain = std::move(pck_crl->issuer_chain);
  c.root_ca_crl = std::move(*root_crl);
  c.pck_crl = std::move(pck_crl->crl);
  c.tcb_info_issuer_chain = std::move(tcb_info->issuer_chain);
  c.tcb_info = std::move(tcb_info->text);
  c.tcb_info_signature = std::move(tcb_info->signature);
  c.qe_identity_issuer_chain = std::move(qe_identity->issuer_chain);
  c.qe_identity = std::move(qe_identity->text);
  c.qe_identity_signature = std::move(qe_identity->signature);
  return c;
}

Result<std::vector<crypto::Certificate>> fetch_vcek(const FetchOptions& options, std::string_view product,
                                                    ByteView chip_id, const SnpTcb& tcb) {
  auto name = kds_product(product);
  if (!name) return std::unexpected(name.error());
  const bool turin = *name == "Turin";
  if (chip_id.size() != kChipIdSize)
    return fetch_error("CHIP_ID must be " + std::to_string(kChipIdSize) + " bytes, not " +
                       std::to_string(chip_id.size()));
  if (turin != tcb.fmc.has_value())
    return fetch_error(turin ? "a Turin TCB needs an FMC SPL" : "only Turin TCBs have an FMC SPL");

  const std::string api = trim_slashes(options.kds_url) + "/vcek/v1/" + *name;
  const std::string hwid = hex_encode(turin ? chip_id.first(kTurinHwidSize) : chip_id);
  std::string query = "?";
  if (turin) query += "fmcSPL=" + spl(*tcb.fmc) + "&";
  query += "blSPL=" + spl(tcb.bootloader) + "&teeSPL=" + spl(tcb.tee) + "&snpSPL=" + spl(tcb.snp) +
           "&ucodeSPL=" + spl(tcb.microcode);

  auto vcek = fetch(options, api + "/" + hwid + query, {}, parse_vcek);
  if (!vcek) return std::unexpected(vcek.error());
  auto chain = fetch(options, api + "/cert_chain", {}, parse_cert_chain);
  if (!chain) return std::unexpected(chain.error());
  std::vector<crypto::Certificate> certs{std::move(*vcek)};
  certs.insert(certs.end(), chain->begin(), chain->end());
  return certs;
}

}  // namespace ward::attest
