#include "store/store.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <sys/stat.h>
#include <system_error>
#include <vector>

#include "base/file.h"
#include "store/backends.h"

namespace ward::store {
namespace {

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

constexpr std::int64_t kRedrawMs = 100;

std::string human_bytes(double n) {
  static const char* const kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  std::size_t unit = 0;
  while (n >= 1024 && unit + 1 < std::size(kUnits)) {
    n /= 1024;
    ++unit;
  }
  char buf[32];
  if (unit == 0) {
    std::snprintf(buf, sizeof buf, "%.0f %s", n, kUnits[unit]);
  } else {
    std::snprintf(buf, sizeof buf, "%.1f %s", n, kUnits[unit]);
  }
  return buf;
}

bool is_lower_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

bool has_control(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
}

std::unexpected<Error> bad_uri(std::string_view uri, const std::string& why) {
  return fail("store.uri", "bad store URI '" + std::string(uri) + "': " + why);
}

// A directory path, made absolute and normal, without a trailing slash.
Result<std::filesystem::path> directory_path(std::string_view uri, std::string_view text) {
  if (text.empty()) return bad_uri(uri, "the directory path is empty");
  // '?', '#' and '%' would not survive the trip through a file:// URI.
  if (text.find_first_of("?#%") != std::string_view::npos)
    return bad_uri(uri, "directory paths with '?', '#' or '%' are not supported");
  std::error_code ec;
  std::filesystem::path p = std::filesystem::absolute(std::filesystem::path(text), ec);
  if (ec) return bad_uri(uri, "cannot make the path absolute: " + ec.message());
  std::string s = p.lexically_normal().string();
  while (s.size() > 1 && s.ends_with('/')) s.pop_back();
  return std::filesystem::path(s);
}

bool is_host_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
}

bool is_path_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("-._~!$&'()*+,;=:@").find(c) != std::string_view::npos;
}

Result<detail::StoreLocation> parse_http(std::string_view uri, bool https, std::string_view rest) {
  detail::StoreLocation loc;
  loc.kind = detail::StoreLocation::Kind::Http;
  loc.https = https;
  if (rest.find_first_of("?#") != std::string_view::npos)
    return bad_uri(uri, "a store URI has no query or fragment");
  const std::size_t slash = rest.find('/');
  const std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
  if (authority.find('@') != std::string_view::npos)
    return bad_uri(uri, "credentials do not belong in a store URI");
  if (authority.starts_with('[')) return bad_uri(uri, "IPv6 literal hosts are not supported");
  const std::size_t colon = authority.find(':');
  const std::string_view host = authority.substr(0, colon);
  if (host.empty() || !std::all_of(host.begin(), host.end(), is_host_char))
    return bad_uri(uri, "expected http[s]://HOST[:PORT][/PREFIX]");
  loc.host.assign(host);
  std::transform(loc.host.begin(), loc.host.end(), loc.host.begin(),
                 [](char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); });
  loc.port = https ? 443 : 80;
  if (colon != std::string_view::npos) {
    const std::string_view port = authority.substr(colon + 1);
    if (port.empty() || port.size() > 5 ||
        !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return bad_uri(uri, "bad port");
    loc.port = std::stoi(std::string(port));
    if (loc.port < 1 || loc.port > 65535) return bad_uri(uri, "bad port");
  }
  while (path.ends_with('/')) path.remove_suffix(1);
  // Each segment is plain (no empty, "." or ".." segments, percent-escapes
  // well formed), so the prefix means the same thing to every server.
  std::size_t i = 0;
  while (i < path.size()) {
    const std::size_t end = std::min(path.find('/', i + 1), path.size());
    const std::string_view seg = path.substr(i + 1, end - i - 1);
    if (seg.empty() || seg == "." || seg == "..") return bad_uri(uri, "bad path prefix");
    for (std::size_t k = 0; k < seg.size(); ++k) {
      if (seg[k] == '%' && k + 2 < seg.size() && std::isxdigit(static_cast<unsigned char>(seg[k + 1])) &&
          std::isxdigit(static_cast<unsigned char>(seg[k + 2]))) {
        k += 2;
        continue;
      }
      if (!is_path_char(seg[k])) return bad_uri(uri, "the path prefix has a character that needs escaping");
    }
    i = end;
  }
  loc.prefix.assign(path);
  return loc;
}

}  // namespace

namespace detail {

std::string StoreLocation::uri() const {
  if (kind == Kind::File) return "file://" + dir.string();
  std::string out = https ? "https://" : "http://";
  out += host;
  if (port != (https ? 443 : 80)) out += ":" + std::to_string(port);
  return out + prefix;
}

Result<StoreLocation> parse_store_uri(std::string_view uri) {
  if (uri.empty()) return bad_uri(uri, "it is empty");
  if (has_control(uri)) return bad_uri(uri, "it contains control characters");
  const std::size_t sep = uri.find("://");
  if (sep == std::string_view::npos) {
    auto dir = directory_path(uri, uri);
    if (!dir) return std::unexpected(dir.error());
    return StoreLocation{StoreLocation::Kind::File, std::move(*dir), false, {}, 0, {}};
  }
  std::string scheme(uri.substr(0, sep));
  std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                 [](char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); });
  std::string_view rest = uri.substr(sep + 3);
  if (scheme == "http" || scheme == "https") return parse_http(uri, scheme == "https", rest);
  if (scheme != "file") return bad_uri(uri, "unsupported scheme '" + scheme + "' (file, http or https)");
  if (rest.starts_with("localhost/")) rest.remove_prefix(std::string_view("localhost").size());
  if (!rest.starts_with('/')) return bad_uri(uri, "a file URI needs an absolute path (file:///dir)");
  auto dir = directory_path(uri, rest);
  if (!dir) return std::unexpected(dir.error());
  return StoreLocation{StoreLocation::Kind::File, std::move(*dir), false, {}, 0, {}};
}

std::string digest_hex(const crypto::Sha256Digest& digest) {
  return hex_encode(digest);
}

crypto::Sha256Digest finish_sha256(crypto::Hasher& hasher) {
  const Bytes d = hasher.finish();
  crypto::Sha256Digest out{};
  std::copy_n(d.begin(), std::min(d.size(), out.size()), out.begin());
  return out;
}

Result<SourceFile> SourceFile::open(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail("store.io", "cannot open " + path.string() + ": " + std::strerror(errno));
  SourceFile file(fd, 0);
  struct stat st;
  if (::fstat(fd, &st) != 0)
    return fail("store.io", "cannot stat " + path.string() + ": " + std::strerror(errno));
  // It is read twice (to name it, then to send it), so it must be a file.
  if (!S_ISREG(st.st_mode)) return fail("store.io", path.string() + " is not a regular file");
  file.size_ = static_cast<std::uint64_t>(st.st_size);
  if (file.size_ > kMaxBlobSize)
    return fail("store.too_large", path.string() + " is larger than the 1 TiB a store holds");
  return file;
}

SourceFile::~SourceFile() {
  if (fd_ >= 0) ::close(fd_);
}

Result<crypto::Sha256Digest> SourceFile::hash(const std::filesystem::path& path) const {
  crypto::Hasher hasher(crypto::HashAlg::Sha256);
  std::vector<std::uint8_t> buf(kChunk);
  off_t offset = 0;
  for (;;) {
    auto n = pread_full(fd_, buf, offset);
    if (!n) return fail("store.io", "reading " + path.string() + ": " + n.error().message);
    if (*n == 0) break;
    hasher.update(ByteView(buf.data(), *n));
    offset += static_cast<off_t>(*n);
  }
  return finish_sha256(hasher);
}

}  // namespace detail

Progress::Progress(std::string label, std::uint64_t total)
    : label_(std::move(label)), total_(total), enabled_(::isatty(STDERR_FILENO) == 1), start_ms_(now_ms()) {}

Progress::~Progress() {
  if (!drawn_) return;
  draw(now_ms());
  std::fputs("\n", stderr);
  std::fflush(stderr);
}

void Progress::advance(std::uint64_t bytes) {
  done_ += bytes;
  if (observer_) observer_(done_, total_);
  if (!enabled_) return;
  const std::int64_t now = now_ms();
  if (drawn_ && now - last_draw_ms_ < kRedrawMs) return;
  draw(now);
}

void Progress::draw(std::int64_t now) {
  last_draw_ms_ = now;
  drawn_ = true;
  std::string line = "\r" + label_ + " ";
  if (total_ > 0) {
    constexpr int kWidth = 24;
    const double fraction = std::min(1.0, static_cast<double>(done_) / static_cast<double>(total_));
    const int filled = static_cast<int>(fraction * kWidth);
    line += "[" + std::string(static_cast<std::size_t>(filled), '#') +
            std::string(static_cast<std::size_t>(kWidth - filled), '.') + "] ";
    char pct[8];
    std::snprintf(pct, sizeof pct, "%3d%%", static_cast<int>(fraction * 100));
    line += pct;
    line += "  " + human_bytes(static_cast<double>(done_)) + " / " + human_bytes(static_cast<double>(total_));
  } else {
    line += human_bytes(static_cast<double>(done_));
  }
  const double seconds = static_cast<double>(now - start_ms_) / 1000.0;
  if (seconds > 0) line += "  " + human_bytes(static_cast<double>(done_) / seconds) + "/s";
  line += "\x1b[K";  // erase what a longer earlier line left
  std::fputs(line.c_str(), stderr);
  std::fflush(stderr);
}

Result<BlobInfo> Store::get_file(const crypto::Sha256Digest& digest, const std::filesystem::path& dest,
                                 Progress* progress) {
  auto out = AtomicFile::create(dest);
  if (!out) return fail("store.io", out.error().message);
  auto info = get_stream(digest, kMaxBlobSize, [&](ByteView chunk) -> Result<void> {
    if (auto w = out->write(chunk); !w) return fail("store.io", "writing " + dest.string() + ": " + w.error().message);
    if (progress) progress->advance(chunk.size());
    return {};
  });
  if (!info) return std::unexpected(info.error());
  if (auto c = out->commit(); !c) return fail("store.io", c.error().message);
  return info;
}

Result<Bytes> Store::get_bytes(const crypto::Sha256Digest& digest, std::uint64_t max_size) {
  Bytes out;
  auto info = get_stream(digest, max_size, [&](ByteView chunk) -> Result<void> {
    out.insert(out.end(), chunk.begin(), chunk.end());
    return {};
  });
  if (!info) return std::unexpected(info.error());
  return out;
}

Result<std::unique_ptr<Store>> open_store(std::string_view uri) {
  auto loc = detail::parse_store_uri(uri);
  if (!loc) return std::unexpected(loc.error());
  if (loc->kind == detail::StoreLocation::Kind::File) return detail::open_file_store(loc->dir, true);
  return detail::open_http_store(*loc);
}

Result<BlobRef> parse_blob_uri(std::string_view blob_uri) {
  const std::size_t slash = blob_uri.rfind('/');
  if (slash == std::string_view::npos)
    return fail("store.uri", "bad blob URI '" + std::string(blob_uri) + "': expected STORE/<sha256 hex>");
  const std::string_view name = blob_uri.substr(slash + 1);
  if (name.size() != 64 || !std::all_of(name.begin(), name.end(), is_lower_hex)) {
    return fail("store.uri", "bad blob URI '" + std::string(blob_uri) +
                                 "': its last segment is not 64 lower-case hex digits");
  }
  // "file:///<hex>" names a blob in the root directory.
  std::string store(blob_uri.substr(0, slash));
  if (store.empty() || store.ends_with("://")) store += "/";
  auto loc = detail::parse_store_uri(store);
  if (!loc) return std::unexpected(loc.error());
  BlobRef ref;
  ref.store_uri = loc->uri();
  const Bytes digest = *hex_decode(name);
  std::copy(digest.begin(), digest.end(), ref.sha256.begin());
  return ref;
}

namespace {

// Fetching creates no directory: a missing one just holds no blobs.
Result<std::unique_ptr<Store>> open_existing(const BlobRef& ref) {
  auto loc = detail::parse_store_uri(ref.store_uri);
  if (!loc) return std::unexpected(loc.error());
  if (loc->kind == detail::StoreLocation::Kind::File) return detail::open_file_store(loc->dir, false);
  return detail::open_http_store(*loc);
}

}  // namespace

Result<BlobInfo> fetch_file(std::string_view blob_uri, const std::filesystem::path& dest,
                            Progress* progress) {
  auto ref = parse_blob_uri(blob_uri);
  if (!ref) return std::unexpected(ref.error());
  auto store = open_existing(*ref);
  if (!store) return std::unexpected(store.error());
  return (*store)->get_file(ref->sha256, dest, progress);
}

Result<Bytes> fetch_bytes(std::string_view blob_uri, std::uint64_t max_size) {
  auto ref = parse_blob_uri(blob_uri);
  if (!ref) return std::unexpected(ref.error());
  auto store = open_existing(*ref);
  if (!store) return std::unexpected(store.error());
  return (*store)->get_bytes(ref->sha256, max_size);
}

}  // namespace ward::store
