// The HTTP backend: GET, HEAD and PUT <prefix>/<hex> on a plain web server
// with WebDAV PUT (nginx dav_methods PUT), over http or https.
#include <httplib.h>

#include <charconv>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <utility>
#include <vector>

#include <openssl/err.h>
#include <openssl/x509_vfy.h>

#include "base/file.h"
#include "store/backends.h"

namespace ward::store::detail {
namespace {

namespace fs = std::filesystem;

constexpr std::chrono::seconds kConnectTimeout{10};
// Per read or write on the socket, not per transfer: a large blob on a slow
// link takes as long as it takes, a stalled one fails.
constexpr std::chrono::seconds kIoTimeout{60};
constexpr const char* kCaFileEnv = "WARD_STORE_CA_FILE";

std::optional<std::uint64_t> content_length(const httplib::Response& res) {
  if (!res.has_header("Content-Length")) return std::nullopt;
  const std::string text = res.get_header_value("Content-Length");
  std::uint64_t n = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return n;
}

std::string describe(httplib::Error e) {
  switch (e) {
    case httplib::Error::Connection:
      return "cannot connect to the server";
    case httplib::Error::ConnectionTimeout:
      return "the connection timed out";
    case httplib::Error::Read:
      return "the connection broke or stalled while reading";
    case httplib::Error::Write:
      return "the connection broke or stalled while writing";
    case httplib::Error::SSLConnection:
      return "the TLS handshake failed";
    case httplib::Error::SSLLoadingCerts:
      return "cannot load the system's CA certificates";
    case httplib::Error::SSLServerVerification:
      return std::string(
                 "the server's TLS certificate is not trusted for this host (a private CA can be added "
                 "with ") +
             kCaFileEnv + ")";
    default:
      return httplib::to_string(e);
  }
}

class HttpStore final : public Store {
 public:
  HttpStore(StoreLocation location, std::unique_ptr<httplib::ClientImpl> http)
      : uri_(location.uri()), prefix_(std::move(location.prefix)), http_(std::move(http)) {
    http_->set_connection_timeout(kConnectTimeout);
    http_->set_read_timeout(kIoTimeout);
    http_->set_write_timeout(kIoTimeout);
    http_->set_keep_alive(true);
    // A redirect could lead anywhere; a store answers for itself.
    http_->set_follow_location(false);
    // Bytes are hashed exactly as the server holds them.
    http_->set_decompress(false);
  }

  std::string uri() const override { return uri_; }

  Result<BlobInfo> put_file(const fs::path& path, Progress* progress) override {
    auto source = SourceFile::open(path);
    if (!source) return std::unexpected(source.error());
    auto digest = source->hash(path);
    if (!digest) return std::unexpected(digest.error());
    // Hash what is sent, to catch a file that changes between the passes.
    crypto::Hasher hasher(crypto::HashAlg::Sha256);
    return send(*source, path, *digest, &hasher, progress);
  }

  Result<BlobInfo> put_hashed_file(const fs::path& path, const crypto::Sha256Digest& digest,
                                   Progress* progress) override {
    auto source = SourceFile::open(path);
    if (!source) return std::unexpected(source.error());
    return send(*source, path, digest, nullptr, progress);
  }

  Result<BlobInfo> put_bytes(ByteView bytes) override {
    if (bytes.size() > kMaxBlobSize) return fail("store.too_large", "blobs over 1 TiB are not stored");
    const crypto::Sha256Digest digest = crypto::sha256(bytes);
    const BlobInfo info{url(digest), digest, bytes.size()};
    auto existing = head(digest);
    if (!existing) return std::unexpected(existing.error());
    if (*existing == bytes.size()) return info;
    auto res = http_->Put(blob_path(digest), reinterpret_cast<const char*>(bytes.data()), bytes.size(),
                          "application/octet-stream");
    if (!res) return unreachable("PUT", info.uri, res.error());
    if (!put_succeeded(res->status)) return refused("PUT", info.uri, res->status);
    return info;
  }

  Result<std::optional<std::uint64_t>> head(const crypto::Sha256Digest& digest) override {
    const std::string u = url(digest);
    auto res = http_->Head(blob_path(digest));
    if (!res) return unreachable("HEAD", u, res.error());
    if (res->status == 404 || res->status == 410) return std::nullopt;
    if (res->status != 200) return refused("HEAD", u, res->status);
    const auto length = content_length(*res);
    if (!length) return fail("store.http", "HEAD " + u + ": the server sent no valid Content-Length");
    return std::optional<std::uint64_t>(*length);
  }

  Result<BlobInfo> get_stream(const crypto::Sha256Digest& digest, std::uint64_t max_size,
                              const Sink& sink) override {
    return get(digest, max_size, sink);
  }

  // A "Range: bytes=A-B" GET. A server that ignores Range answers 200 with
  // the whole blob: the transfer is then cut once the range has arrived.
  Result<Bytes> get_range(const crypto::Sha256Digest& digest, std::uint64_t offset, std::uint64_t length) override {
    if (length > kMaxRangeSize) return fail("store.too_large", "ranges over 16 MiB are read whole");
    if (length == 0) return Bytes{};
    const std::string u = url(digest);
    const std::string range = "bytes=" + std::to_string(offset) + "-" + std::to_string(offset + length - 1);
    Bytes out;
    int status = 0;
    std::uint64_t skip = 0;  // bytes before the range, when the whole blob comes
    auto on_response = [&](const httplib::Response& res) {
      status = res.status;
      if (status == 200) skip = offset;
      return status == 200 || status == 206;
    };
    auto on_data = [&](const char* data, std::size_t n) {
      const std::size_t dropped = static_cast<std::size_t>(std::min<std::uint64_t>(skip, n));
      skip -= dropped;
      const std::size_t take = std::min<std::size_t>(n - dropped, static_cast<std::size_t>(length - out.size()));
      out.insert(out.end(), data + dropped, data + dropped + take);
      return out.size() < length;
    };
    auto res = http_->Get(blob_path(digest), {{"Accept-Encoding", "identity"}, {"Range", range}}, on_response,
                          on_data);
    if (status == 416) return Bytes{};  // the range starts past the blob's end
    if (status == 404 || status == 410) return fail("store.not_found", "no blob " + u);
    if (status != 0 && status != 200 && status != 206) return refused("GET", u, status);
    if (!res && out.size() < length && res.error() != httplib::Error::Canceled)
      return unreachable("GET", u, res.error());
    return out;
  }

 private:
  std::string blob_path(const crypto::Sha256Digest& digest) const {
    return prefix_ + "/" + digest_hex(digest);
  }
  std::string url(const crypto::Sha256Digest& digest) const { return uri_ + "/" + digest_hex(digest); }

  // WebDAV servers answer 201 Created or 204 No Content; plain ones 200.
  static bool put_succeeded(int status) { return status == 200 || status == 201 || status == 204; }

  static std::unexpected<Error> unreachable(const char* method, const std::string& url, httplib::Error e) {
    return fail("store.http", std::string(method) + " " + url + " failed: " + describe(e));
  }

  static std::unexpected<Error> refused(const char* method, const std::string& url, int status) {
    return fail("store.http",
                std::string(method) + " " + url + ": the server answered HTTP " + std::to_string(status));
  }

  static std::unexpected<Error> too_large(const std::string& url, std::uint64_t max_size) {
    return fail("store.too_large", "blob " + url + " is larger than " + std::to_string(max_size) + " bytes");
  }

  // PUTs the file unless the store already has it, hashing what is sent with
  // `hasher` when given (it must then hash to `digest`).
  Result<BlobInfo> send(const SourceFile& source, const fs::path& path, const crypto::Sha256Digest& digest,
                        crypto::Hasher* hasher, Progress* progress) {
    const std::uint64_t size = source.size();
    const BlobInfo info{url(digest), digest, size};
    auto existing = head(digest);
    if (!existing) return std::unexpected(existing.error());
    if (*existing == size) {
      if (progress) progress->advance(size);
      return info;
    }
    std::uint64_t hashed = 0;
    std::optional<Error> read_error;
    std::vector<std::uint8_t> buf(kChunk);
    const int fd = source.fd();
    auto provider = [&](std::size_t offset, std::size_t length, httplib::DataSink& sink) {
      const std::size_t want = std::min(length, buf.size());
      auto n = pread_full(fd, std::span(buf.data(), want), static_cast<off_t>(offset));
      if (!n || *n == 0) {
        read_error = Error("store.io", "reading " + path.string() + ": " +
                                           (n ? std::string("the file shrank") : n.error().message));
        return false;
      }
      const ByteView chunk(buf.data(), *n);
      if (hasher && offset == hashed) {
        hasher->update(chunk);
        hashed += *n;
      }
      if (!sink.write(reinterpret_cast<const char*>(chunk.data()), chunk.size())) return false;
      if (progress) progress->advance(*n);
      return true;
    };
    auto res = http_->Put(blob_path(digest), {}, static_cast<std::size_t>(size), provider,
                          "application/octet-stream");
    if (read_error) return std::unexpected(*read_error);
    if (!res) return unreachable("PUT", info.uri, res.error());
    if (!put_succeeded(res->status)) return refused("PUT", info.uri, res->status);
    if (hasher && hashed == size && finish_sha256(*hasher) != digest) {
      return fail("store.io", path.string() + " changed while it was being uploaded to " + info.uri +
                                  " (readers will reject that blob)");
    }
    return info;
  }

  // Streams the blob to `sink`, at most `max_size` bytes, and checks that
  // it hashes to its name. The caller must discard what `sink` got unless
  // this succeeds.
  Result<BlobInfo> get(const crypto::Sha256Digest& digest, std::uint64_t max_size,
                       const Sink& sink) {
    const std::string u = url(digest);
    max_size = std::min(max_size, kMaxBlobSize);
    crypto::Hasher hasher(crypto::HashAlg::Sha256);
    std::uint64_t total = 0;
    int status = 0;
    std::optional<Error> stopped;  // why a callback ended the transfer
    auto on_response = [&](const httplib::Response& res) {
      status = res.status;
      if (status != 200) return false;
      if (const auto length = content_length(res); length && *length > max_size) {
        stopped = too_large(u, max_size).error();
        return false;
      }
      return true;
    };
    auto on_data = [&](const char* data, std::size_t n) {
      total += n;
      if (total > max_size) {
        stopped = too_large(u, max_size).error();
        return false;
      }
      const ByteView chunk(reinterpret_cast<const std::uint8_t*>(data), n);
      hasher.update(chunk);
      if (auto s = sink(chunk); !s) {
        stopped = s.error();
        return false;
      }
      return true;
    };
    auto res = http_->Get(blob_path(digest), {{"Accept-Encoding", "identity"}}, on_response, on_data);
    if (stopped) return std::unexpected(*stopped);
    if (status == 404 || status == 410) return fail("store.not_found", "no blob " + u);
    if (status != 0 && status != 200) return refused("GET", u, status);
    if (!res) return unreachable("GET", u, res.error());
    const crypto::Sha256Digest got = finish_sha256(hasher);
    if (got != digest)
      return fail("store.digest",
                  "blob " + u + " is corrupt: its bytes hash to " + digest_hex(got) + " instead");
    return BlobInfo{u, digest, total};
  }

  std::string uri_;
  std::string prefix_;
  std::unique_ptr<httplib::ClientImpl> http_;
};

// The system's CA certificates plus those in WARD_STORE_CA_FILE (a test or
// private CA). httplib takes ownership of the store.
Result<X509_STORE*> ca_store_with(const std::string& ca_file) {
  X509_STORE* store = X509_STORE_new();
  if (store == nullptr || X509_STORE_set_default_paths(store) != 1 ||
      X509_STORE_load_file(store, ca_file.c_str()) != 1) {
    X509_STORE_free(store);
    ERR_clear_error();
    return fail("store.http",
                std::string("cannot load the CA certificates in ") + ca_file + " (" + kCaFileEnv + ")");
  }
  return store;
}

}  // namespace

Result<std::unique_ptr<Store>> open_http_store(const StoreLocation& location) {
  std::unique_ptr<httplib::ClientImpl> http;
  if (location.https) {
    auto tls = std::make_unique<httplib::SSLClient>(location.host, location.port);
    if (!tls->is_valid()) return fail("store.http", "cannot set up TLS for " + location.uri());
    tls->enable_server_certificate_verification(true);
    if (const char* ca_file = std::getenv(kCaFileEnv); ca_file != nullptr && *ca_file != '\0') {
      auto store = ca_store_with(ca_file);
      if (!store) return std::unexpected(store.error());
      tls->set_ca_cert_store(*store);
    }
    http = std::move(tls);
  } else {
    http = std::make_unique<httplib::ClientImpl>(location.host, location.port);
  }
  return std::unique_ptr<Store>(std::make_unique<HttpStore>(location, std::move(http)));
}

}  // namespace ward::store::detail
