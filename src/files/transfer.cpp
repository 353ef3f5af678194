#include "files/transfer.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "age/header.h"
#include "age/stream.h"
#include "base/file.h"
#include "base/unique_fd.h"
#include "base/time.h"
#include "files/blob_reader.h"
#include "files/tar.h"
#include "base/work_dir.h"

namespace ward::files {
namespace {

namespace fs = std::filesystem;

std::string errno_text() { return std::strerror(errno); }


// Counts and hashes what passes through.
class HashingReader final : public age::Reader {
 public:
  explicit HashingReader(age::Reader& inner) : inner_(inner) {}
  Result<std::size_t> read(std::span<std::uint8_t> out) override {
    auto n = inner_.read(out);
    if (!n) return n;
    hasher_.update(out.first(*n));
    count_ += *n;
    return n;
  }
  crypto::Sha256Digest digest() { return to_digest(hasher_.finish()); }
  std::uint64_t count() const { return count_; }

  static crypto::Sha256Digest to_digest(const Bytes& bytes) {
    crypto::Sha256Digest d{};
    std::copy_n(bytes.begin(), d.size(), d.begin());
    return d;
  }

 private:
  age::Reader& inner_;
  crypto::Hasher hasher_{crypto::HashAlg::Sha256};
  std::uint64_t count_ = 0;
};

// Counts and hashes what passes through, and keeps its first `keep` bytes.
class HashingWriter final : public age::Writer {
 public:
  HashingWriter(age::Writer& inner, std::size_t keep = 0) : inner_(inner), keep_(keep) {}
  Result<void> write(ByteView data) override {
    if (prefix_.size() < keep_) {
      const std::size_t n = std::min(keep_ - prefix_.size(), data.size());
      prefix_.insert(prefix_.end(), data.begin(), data.begin() + static_cast<std::ptrdiff_t>(n));
    }
    hasher_.update(data);
    count_ += data.size();
    return inner_.write(data);
  }
  crypto::Sha256Digest digest() { return HashingReader::to_digest(hasher_.finish()); }
  std::uint64_t count() const { return count_; }
  const Bytes& prefix() const { return prefix_; }

 private:
  age::Writer& inner_;
  std::size_t keep_;
  Bytes prefix_;
  crypto::Hasher hasher_{crypto::HashAlg::Sha256};
  std::uint64_t count_ = 0;
};

// `first`, then everything `rest` yields: a grant's header, then the payload.
class ChainReader final : public age::Reader {
 public:
  ChainReader(ByteView first, age::Reader& rest) : first_(first), rest_(rest) {}
  Result<std::size_t> read(std::span<std::uint8_t> out) override {
    const std::size_t n = std::min(out.size(), first_.size());
    std::copy_n(first_.begin(), n, out.begin());
    first_ = first_.subspan(n);
    if (n == out.size()) return n;
    auto more = rest_.read(out.subspan(n));
    if (!more) return more;
    return n + *more;
  }

 private:
  ByteView first_;
  age::Reader& rest_;
};

// Tells `progress` (when set) of the bytes read.
class ProgressReader final : public age::Reader {
 public:
  ProgressReader(age::Reader& inner, store::Progress* progress) : inner_(inner), progress_(progress) {}
  Result<std::size_t> read(std::span<std::uint8_t> out) override {
    auto n = inner_.read(out);
    if (n && progress_) progress_->advance(*n);
    return n;
  }

 private:
  age::Reader& inner_;
  store::Progress* progress_;
};

// An absolute path with a file name ("dir/" and "dir/." become ".../dir").
fs::path named_path(const fs::path& path) {
  std::error_code ec;
  fs::path abs = fs::absolute(path, ec).lexically_normal();
  if (!abs.has_filename()) abs = abs.parent_path();
  return abs;
}

Result<void> check_plaintext(const Resource& r, std::uint64_t size, const crypto::Sha256Digest& digest) {
  if (size != r.plaintext_size)
    return fail("files.plaintext", "the plaintext is " + std::to_string(size) + " bytes, the descriptor says " +
                                       std::to_string(r.plaintext_size));
  if (digest != r.plaintext_sha256)
    return fail("files.plaintext", "the plaintext's SHA-256 is not the descriptor's plaintext_sha256");
  return {};
}

// Decrypts `in` into the file or new directory `target` (absolute, named),
// using `work` (a private directory in the target's directory) for the tar.
// With `expected`, the plaintext must match its size and digest.
Result<void> decrypt_into(age::Reader& in, const age::Identity& identity, std::string_view kind,
                          const Resource* expected, const std::string& what, const fs::path& target,
                          const fs::path& work) {
  const age::Identity* identities[] = {&identity};
  const auto check = [expected](HashingWriter& writer) -> Result<void> {
    if (!expected) return {};
    return check_plaintext(*expected, writer.count(), writer.digest());
  };
  if (kind == "file") {
    auto file = AtomicFile::create(target, 0644);
    if (!file) return std::unexpected(file.error());
    age::FdWriter fd_writer(file->fd());
    HashingWriter writer(fd_writer);
    if (auto ok = age::decrypt(in, writer, identities); !ok) return fail(ok.error(), "decrypting " + what);
    if (auto ok = check(writer); !ok) return ok;
    return file->commit();
  }
  // The tar is checked against the descriptor before libarchive parses it.
  const fs::path tar_path = work / "plain.tar";
  UniqueFd tar(::open(tar_path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (tar.get() < 0) return fail("io.open", "cannot create " + tar_path.string() + ": " + errno_text());
  age::FdWriter fd_writer(tar.get());
  HashingWriter writer(fd_writer);
  if (auto ok = age::decrypt(in, writer, identities); !ok) return fail(ok.error(), "decrypting " + what);
  if (auto ok = check(writer); !ok) return ok;
  if (::lseek(tar.get(), 0, SEEK_SET) != 0) return fail("io.read", "cannot rewind the tar: " + errno_text());
  const fs::path tree = work / "tree";
  if (::mkdir(tree.c_str(), 0755) != 0) return fail("io.open", "cannot create " + tree.string() + ": " + errno_text());
  if (auto ok = detail::extract_tar(tar.get(), tree); !ok) return ok;
  if (::renameat2(AT_FDCWD, tree.c_str(), AT_FDCWD, target.c_str(), RENAME_NOREPLACE) != 0) {
    if (errno == EEXIST) return fail("files.download", target.string() + " already exists");
    return fail("io.rename", "cannot move the directory into place at " + target.string() + ": " + errno_text());
  }
  return {};
}

Result<void> refuse_existing_dir(std::string_view kind, const fs::path& target) {
  std::error_code ec;
  if (kind == "dir" && fs::exists(fs::symlink_status(target, ec)))
    return fail("files.download", target.string() + " already exists (a directory resource needs a new path)");
  return {};
}

// The file, or the directory as a tar, at `path`, encrypted into `out_fd`.
struct Encrypted {
  SealedInfo info;
  std::uint64_t header_length = 0;
  crypto::Sha256Digest header_sha256{};
};

Result<Encrypted> encrypt_to(const fs::path& path, std::span<const age::Recipient* const> recipients, int out_fd) {
  std::error_code ec;
  const auto status = fs::status(path, ec);
  if (ec) return fail("files.upload", "cannot read " + path.string() + ": " + ec.message());
  const bool is_dir = fs::is_directory(status);
  if (!is_dir && !fs::is_regular_file(status))
    return fail("files.upload", path.string() + " is neither a regular file nor a directory");
  UniqueFd in_fd;
  std::unique_ptr<age::Reader> source;
  if (is_dir) {
    auto tar = detail::DirTarReader::open(path);
    if (!tar) return std::unexpected(tar.error());
    source = std::move(*tar);
  } else {
    in_fd = UniqueFd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (in_fd.get() < 0) return fail("io.open", "cannot open " + path.string() + ": " + errno_text());
    source = std::make_unique<age::FdReader>(in_fd.get());
  }
  HashingReader plaintext(*source);
  age::FdWriter fd_writer(out_fd);
  HashingWriter ciphertext(fd_writer, age::kMaxHeaderSize);
  if (auto ok = age::encrypt(plaintext, ciphertext, recipients); !ok)
    return fail(ok.error(), "encrypting " + path.string());
  auto header = age::parse_header(ciphertext.prefix());
  if (!header) return fail(header.error(), "reading back the header just written");
  Encrypted e;
  e.info.kind = is_dir ? "dir" : "file";
  e.info.ciphertext_sha256 = ciphertext.digest();
  e.info.ciphertext_size = ciphertext.count();
  e.info.plaintext_sha256 = plaintext.digest();
  e.info.plaintext_size = plaintext.count();
  e.header_length = header->size;
  e.header_sha256 = crypto::sha256(ByteView(ciphertext.prefix().data(), header->size));
  return e;
}

}  // namespace

Result<SignedResource> upload(const fs::path& path, const keys::PartyKey& owner, store::Store& store,
                              const UploadOptions& options, store::Progress* progress) {
  const std::string name = named_path(path).filename().string();
  if (name.empty() || name == "." || name == "..") return fail("files.upload", path.string() + " has no name");
  std::optional<std::string> engine;
  if (options.engine) {
    auto normal = normalize_engine(*options.engine);
    if (!normal) return std::unexpected(normal.error());
    engine = *normal;
  }
  // The ciphertext is written where the store can take it without a copy.
  std::error_code ec;
  auto work = WorkDir::create(store.staging_dir().value_or(fs::temp_directory_path(ec)), ".ward-upload-");
  if (!work) return std::unexpected(work.error());
  const fs::path ciphertext_path = work->path() / "ciphertext";
  UniqueFd out(::open(ciphertext_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (out.get() < 0) return fail("io.open", "cannot create " + ciphertext_path.string() + ": " + errno_text());
  const age::X25519Recipient recipient = owner.recipient();
  const age::Recipient* recipients[] = {&recipient};
  auto sealed = encrypt_to(path, recipients, out.get());
  if (!sealed) return std::unexpected(sealed.error());
  if (::close(out.release()) != 0) return fail("io.write", "cannot write the ciphertext: " + errno_text());

  // The ciphertext was hashed as it was written, into a private file.
  auto info = store.put_hashed_file(ciphertext_path, sealed->info.ciphertext_sha256, progress);
  if (!info) return std::unexpected(info.error());
  if (info->sha256 != sealed->info.ciphertext_sha256 || info->size != sealed->info.ciphertext_size)
    return fail("files.upload", "the store reports another digest or size than the ciphertext sent");

  Resource r;
  r.name = name;
  r.kind = sealed->info.kind;
  r.uri = info->uri;
  r.ciphertext_sha256 = sealed->info.ciphertext_sha256;
  r.ciphertext_size = sealed->info.ciphertext_size;
  r.header_length = sealed->header_length;
  r.header_sha256 = sealed->header_sha256;
  r.plaintext_sha256 = sealed->info.plaintext_sha256;
  r.plaintext_size = sealed->info.plaintext_size;
  r.engine = engine;
  r.owner = owner.signing_public_key();
  r.created = format_rfc3339(std::chrono::system_clock::now());
  return sign_resource(r, owner.signing_key());
}

Result<SealedInfo> encrypt_path(const fs::path& path, std::span<const age::X25519Recipient> recipients,
                                const fs::path& out) {
  if (recipients.empty()) return fail("files.usage", "encrypting " + path.string() + " needs a recipient");
  std::vector<const age::Recipient*> list;
  for (const auto& r : recipients) list.push_back(&r);
  auto file = AtomicFile::create(out, 0644);
  if (!file) return std::unexpected(file.error());
  auto sealed = encrypt_to(path, list, file->fd());
  if (!sealed) return std::unexpected(sealed.error());
  if (auto ok = file->commit(); !ok) return std::unexpected(ok.error());
  return sealed->info;
}

Result<void> download(const SignedResource& descriptor, const age::Identity& identity, const fs::path& out,
                      store::Progress* progress) {
  auto ref = store::parse_blob_uri(descriptor.resource.uri);
  if (!ref) return std::unexpected(ref.error());
  auto store = store::open_store(ref->store_uri);
  if (!store) return std::unexpected(store.error());
  return download(descriptor, **store, identity, out, progress);
}

Result<void> download(const SignedResource& descriptor, store::Store& store, const age::Identity& identity,
                      const fs::path& out, store::Progress* progress) {
  const Resource& r = descriptor.resource;
  const fs::path target = named_path(out);
  if (auto ok = refuse_existing_dir(r.kind, target); !ok) return ok;
  auto work = WorkDir::create(target.parent_path(), ".ward-download-");
  if (!work) return std::unexpected(work.error());
  detail::BlobReader blob(store, r.ciphertext_sha256, r.ciphertext_size, 0);
  ProgressReader reader(blob, progress);
  return decrypt_into(reader, identity, r.kind, &r, r.name, target, work->path());
}

Result<void> decrypt_granted(const Grant& grant, store::Store& store, const age::Identity& cvm_identity,
                             const fs::path& out) {
  const Resource& r = grant.descriptor.resource;
  const fs::path target = named_path(out);
  if (auto ok = refuse_existing_dir(r.kind, target); !ok) return ok;
  if (auto ok = authenticate_grant(grant, cvm_identity); !ok) return ok;
  auto work = WorkDir::create(target.parent_path(), ".ward-decrypt-");
  if (!work) return std::unexpected(work.error());
  // The stored header (the owner's) is hashed with the rest but replaced by
  // the grant's, which wraps the same file key to the CVM.
  detail::BlobReader payload(store, r.ciphertext_sha256, r.ciphertext_size, r.header_length);
  ChainReader reader(grant.header, payload);
  return decrypt_into(reader, cvm_identity, r.kind, &r, r.name, target, work->path());
}

Result<void> decrypt_granted(const Grant& grant, const age::Identity& cvm_identity, const fs::path& out) {
  const Resource& r = grant.descriptor.resource;
  auto ref = store::parse_blob_uri(r.uri);
  if (!ref) return std::unexpected(ref.error());
  if (ref->sha256 != r.ciphertext_sha256)
    return fail("files.ciphertext", "the resource's URI " + r.uri + " does not name its ciphertext digest");
  auto store = store::open_store(ref->store_uri);
  if (!store) return std::unexpected(store.error());
  return decrypt_granted(grant, **store, cvm_identity, out);
}

Result<void> download_sealed(std::string_view blob_uri, const age::Identity& identity, const fs::path& out,
                             store::Progress* progress) {
  auto ref = store::parse_blob_uri(blob_uri);
  if (!ref) return std::unexpected(ref.error());
  auto store = store::open_store(ref->store_uri);
  if (!store) return std::unexpected(store.error());
  const fs::path target = named_path(out);
  if (auto ok = refuse_existing_dir("dir", target); !ok) return ok;
  auto size = (*store)->head(ref->sha256);
  if (!size) return std::unexpected(size.error());
  if (!*size) return fail("store.not_found", "no blob " + std::string(blob_uri));
  auto work = WorkDir::create(target.parent_path(), ".ward-download-");
  if (!work) return std::unexpected(work.error());
  detail::BlobReader blob(**store, ref->sha256, **size, 0);
  ProgressReader reader(blob, progress);
  return decrypt_into(reader, identity, "dir", nullptr, std::string(blob_uri), target, work->path());
}

}  // namespace ward::files
