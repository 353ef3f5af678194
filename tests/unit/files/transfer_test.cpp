#include "files/transfer.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "crypto/hash.h"
#include "files/tar.h"
#include "fixture.h"

namespace ward::files {
namespace {

using testing::flip_byte;
using testing::FilesTest;
using testing::LyingStore;
using testing::read_text;
using testing::write_text;
namespace fs = std::filesystem;

using TransferTest = FilesTest;

std::string big_text() {
  std::string text;
  for (int i = 0; text.size() < 200000; ++i) text += "row " + std::to_string(i) + ",1,2,3\n";
  return text;
}

void make_tree(const fs::path& root) {
  write_text(root / "b.txt", "bee\n");
  write_text(root / "a" / "nested" / "deep.csv", big_text());
  write_text(root / "a" / "x", "");
  fs::create_directories(root / "empty");
  write_text(root / "run.sh", "#!/bin/sh\n");
  fs::permissions(root / "run.sh", fs::perms::owner_exec, fs::perm_options::add);
}

// Regular files and directories under `root`, with contents and the executable bit.
std::map<std::string, std::string> tree_of(const fs::path& root) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    const std::string rel = fs::relative(e.path(), root).string();
    if (e.is_directory()) {
      out[rel] = "<dir>";
    } else {
      const bool exec = (fs::status(e.path()).permissions() & fs::perms::owner_exec) != fs::perms::none;
      out[rel] = read_text(e.path()) + (exec ? "<exec>" : "");
    }
  }
  return out;
}

TEST_F(TransferTest, ShouldUploadAndDownloadAFile) {
  const std::string text = big_text();
  auto res = upload_text("alice.csv", text);
  const Resource& r = res.resource;
  EXPECT_EQ(r.name, "alice.csv");
  EXPECT_EQ(r.kind, "file");
  EXPECT_EQ(r.plaintext_size, text.size());
  EXPECT_EQ(r.plaintext_sha256, crypto::sha256(as_bytes(text)));
  EXPECT_EQ(r.owner, owner_.signing_public_key());
  EXPECT_EQ(r.uri, store().uri() + "/" + hex_encode(r.ciphertext_sha256));
  auto head = store().head(r.ciphertext_sha256);
  ASSERT_TRUE(head && *head);
  EXPECT_EQ(**head, r.ciphertext_size);
  // The ciphertext was staged in the store's directory and linked into place:
  // the blob is all that is left there.
  ASSERT_TRUE(store().staging_dir());
  std::vector<std::string> entries;
  for (const auto& e : fs::directory_iterator(*store().staging_dir())) entries.push_back(e.path().filename());
  EXPECT_EQ(entries, std::vector<std::string>{hex_encode(r.ciphertext_sha256)});
  // The descriptor survives its own text, and the store never saw the plaintext.
  ASSERT_TRUE(parse_resource(resource_text(res)));
  auto blob = store().get_bytes(r.ciphertext_sha256, 1 << 30);
  ASSERT_TRUE(blob);
  EXPECT_EQ(as_chars(*blob).find("row 1,"), std::string_view::npos);

  auto ok = download(res, store(), owner_.identity(), out("alice.csv"));
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(read_text(out("alice.csv")), text);
  EXPECT_TRUE(out_dir_holds_only({"alice.csv"}));
  // The URI form fetches from the descriptor's store.
  ok = download(res, owner_.identity(), out("again.csv"));
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(read_text(out("again.csv")), text);
}

TEST_F(TransferTest, ShouldUploadAndDownloadAnEmptyFile) {
  auto res = upload_text("empty", "");
  EXPECT_EQ(res.resource.plaintext_size, 0u);
  ASSERT_TRUE(download(res, store(), owner_.identity(), out("empty")));
  EXPECT_EQ(read_text(out("empty")), "");
}

TEST_F(TransferTest, ShouldUploadAndDownloadADirectory) {
  make_tree(dir() / "in" / "scans");
  auto res = upload(dir() / "in" / "scans/", owner_, store());
  ASSERT_TRUE(res) << res.error().message;
  EXPECT_EQ(res->resource.kind, "dir");
  EXPECT_EQ(res->resource.name, "scans");
  auto ok = download(*res, store(), owner_.identity(), out("scans"));
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(tree_of(out("scans")), tree_of(dir() / "in" / "scans"));
  EXPECT_TRUE(out_dir_holds_only({"scans"}));
}

TEST_F(TransferTest, ShouldTarTheSameTreeToTheSameBytes) {
  make_tree(dir() / "one" / "t");
  make_tree(dir() / "two" / "t");
  // Different times and creation order must not matter.
  fs::last_write_time(dir() / "two" / "t" / "b.txt", fs::file_time_type::clock::now() - std::chrono::hours(48));
  auto a = upload(dir() / "one" / "t", owner_, store());
  auto b = upload(dir() / "two" / "t", owner_, store());
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->resource.plaintext_sha256, b->resource.plaintext_sha256);
  EXPECT_EQ(a->resource.plaintext_size, b->resource.plaintext_size);
}

TEST_F(TransferTest, ShouldRefuseADirectoryHoldingASymlink) {
  make_tree(dir() / "in" / "t");
  fs::create_symlink("/etc/passwd", dir() / "in" / "t" / "link");
  auto res = upload(dir() / "in" / "t", owner_, store());
  ASSERT_FALSE(res);
  EXPECT_EQ(res.error().code, "files.dir");
}

TEST_F(TransferTest, ShouldRecordAnEngineDigest) {
  write_text(dir() / "in" / "image.tar", "image");
  auto res = upload(dir() / "in" / "image.tar", owner_, store(), {std::string(64, 'c')});
  ASSERT_TRUE(res) << res.error().message;
  EXPECT_EQ(res->resource.engine, "sha256:" + std::string(64, 'c'));
  EXPECT_FALSE(upload(dir() / "in" / "image.tar", owner_, store(), {std::string("sha256:xyz")}));
}

TEST_F(TransferTest, ShouldRefuseAnotherIdentityLeavingNothing) {
  auto res = upload_text("alice.csv", "secret");
  auto ok = download(res, store(), other_.identity(), out("alice.csv"));
  ASSERT_FALSE(ok);
  EXPECT_EQ(ok.error().code, "age.no_match");
  EXPECT_TRUE(out_dir_holds_only());
}

TEST_F(TransferTest, ShouldFailAuthenticationOnTamperedCiphertextLeavingNothing) {
  make_tree(dir() / "in" / "t");
  auto file = upload_text("alice.csv", big_text());
  auto tree = upload(dir() / "in" / "t", owner_, store());
  ASSERT_TRUE(tree);
  LyingStore lying(store());
  for (const SignedResource* res : {&file, &*tree}) {
    const auto at = res->resource.header_length + 16 + 70000;
    lying.edit = [at](Bytes& b) { b.at(at) ^= 1; };
    auto ok = download(*res, lying, owner_.identity(), out("x"));
    ASSERT_FALSE(ok) << res->resource.kind;
    EXPECT_EQ(ok.error().code, "age.payload") << ok.error().message;
    EXPECT_TRUE(out_dir_holds_only());
    lying.edit = [](Bytes& b) { b.pop_back(); };
    ok = download(*res, lying, owner_.identity(), out("x"));
    ASSERT_FALSE(ok);
    EXPECT_EQ(ok.error().code, "files.ciphertext") << ok.error().message;
    EXPECT_TRUE(out_dir_holds_only());
  }
  // A real file store holding another valid encryption of the same bytes
  // under this blob's name: every chunk authenticates and the plaintext
  // matches the descriptor, and the blob's digest still refuses it once it
  // has streamed through.
  const fs::path blob = dir() / "store" / hex_encode(file.resource.ciphertext_sha256);
  ASSERT_TRUE(fs::exists(blob));
  write_text(dir() / "again" / "alice.csv", big_text());
  fs::create_directories(dir() / "store2");
  auto store2 = store::open_store((dir() / "store2").string());
  ASSERT_TRUE(store2);
  auto again = upload(dir() / "again" / "alice.csv", owner_, **store2);
  ASSERT_TRUE(again);
  ASSERT_NE(again->resource.ciphertext_sha256, file.resource.ciphertext_sha256);
  fs::permissions(blob, fs::perms::owner_write, fs::perm_options::add);
  fs::copy_file(dir() / "store2" / hex_encode(again->resource.ciphertext_sha256), blob,
                fs::copy_options::overwrite_existing);
  auto ok = download(file, store(), owner_.identity(), out("x"));
  ASSERT_FALSE(ok);
  EXPECT_EQ(ok.error().code, "store.digest") << ok.error().message;
  EXPECT_TRUE(out_dir_holds_only());
}

TEST_F(TransferTest, ShouldCheckThePlaintextAgainstTheDescriptor) {
  make_tree(dir() / "in" / "t");
  auto file = upload_text("alice.csv", "secret");
  auto tree = upload(dir() / "in" / "t", owner_, store());
  ASSERT_TRUE(tree);
  for (const SignedResource* res : {&file, &*tree}) {
    Resource r = res->resource;
    r.plaintext_sha256[0] ^= 1;  // the owner's own descriptor, signed, but wrong
    auto lie = sign_resource(r, owner_.signing_key());
    ASSERT_TRUE(lie);
    auto ok = download(*lie, store(), owner_.identity(), out("x"));
    ASSERT_FALSE(ok);
    EXPECT_EQ(ok.error().code, "files.plaintext") << ok.error().message;
    EXPECT_TRUE(out_dir_holds_only());
  }
}

TEST_F(TransferTest, ShouldRefuseADirectoryDownloadOverAnExistingPath) {
  make_tree(dir() / "in" / "t");
  auto tree = upload(dir() / "in" / "t", owner_, store());
  ASSERT_TRUE(tree);
  fs::create_directories(out("t"));
  auto ok = download(*tree, store(), owner_.identity(), out("t"));
  ASSERT_FALSE(ok);
  EXPECT_EQ(ok.error().code, "files.download");
  EXPECT_TRUE(out_dir_holds_only({"t"}));
  EXPECT_TRUE(fs::is_empty(out("t")));
}

TEST_F(TransferTest, ShouldSealAnOutputDirectoryForRecipientsAndOpenItWithTheirKey) {
  make_tree(dir() / "result");
  const std::vector<age::X25519Recipient> recipients = {other_.recipient(), cvm_.recipient()};
  auto info = encrypt_path(dir() / "result", recipients, dir() / "output.age");
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_EQ(info->kind, "dir");
  auto blob = store().put_file(dir() / "output.age");
  ASSERT_TRUE(blob);
  EXPECT_EQ(blob->sha256, info->ciphertext_sha256);
  auto ok = download_sealed(blob->uri, other_.identity(), out("result"));
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(tree_of(out("result")), tree_of(dir() / "result"));
  ok = download_sealed(blob->uri, owner_.identity(), out("refused"));
  ASSERT_FALSE(ok);
  EXPECT_EQ(ok.error().code, "age.no_match");
  EXPECT_TRUE(out_dir_holds_only({"result"}));
}

// A tar holding one entry of `type` at `path`, written with libarchive.
Bytes tar_with(const std::string& path, unsigned type, const std::string& link = "") {
  Bytes out(1 << 16);
  size_t used = 0;
  struct archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  archive_write_open_memory(a, out.data(), out.size(), &used);
  struct archive_entry* e = archive_entry_new();
  archive_entry_set_pathname(e, path.c_str());
  archive_entry_set_filetype(e, type);
  archive_entry_set_perm(e, 0644);
  if (!link.empty()) archive_entry_set_symlink(e, link.c_str());
  archive_entry_set_size(e, type == AE_IFREG ? 3 : 0);
  archive_write_header(a, e);
  if (type == AE_IFREG) archive_write_data(a, "abc", 3);
  archive_entry_free(e);
  archive_write_close(a);
  archive_write_free(a);
  out.resize(used);
  return out;
}

Result<void> extract_bytes(const Bytes& tar, const fs::path& dest) {
  const fs::path file = dest.parent_path() / "t.tar";
  {
    std::ofstream(file, std::ios::binary).write(reinterpret_cast<const char*>(tar.data()),
                                                static_cast<std::streamsize>(tar.size()));
  }
  const int fd = ::open(file.c_str(), O_RDONLY);
  auto ok = detail::extract_tar(fd, dest);
  ::close(fd);
  return ok;
}

TEST_F(TransferTest, ShouldExtractOnlySafePathsAndPlainEntries) {
  const fs::path dest = dir() / "x" / "dest";
  fs::create_directories(dest);
  ASSERT_TRUE(extract_bytes(tar_with("ok/file", AE_IFREG), dest));
  EXPECT_EQ(read_text(dest / "ok" / "file"), "abc");
  for (const std::string bad : {"../evil", "/abs/evil", "a/../../evil", "./x", "a//b"}) {
    auto ok = extract_bytes(tar_with(bad, AE_IFREG), dest);
    ASSERT_FALSE(ok) << bad;
    EXPECT_EQ(ok.error().code, "files.tar");
  }
  EXPECT_FALSE(fs::exists(dir() / "x" / "evil"));
  EXPECT_FALSE(extract_bytes(tar_with("link", AE_IFLNK, "/etc/passwd"), dest));
  EXPECT_FALSE(fs::exists(fs::symlink_status(dest / "link")));
  EXPECT_FALSE(extract_bytes(tar_with("fifo", AE_IFIFO), dest));
  // The same file twice is refused, not overwritten.
  EXPECT_FALSE(extract_bytes(tar_with("ok/file", AE_IFREG), dest));
}

}  // namespace
}  // namespace ward::files
