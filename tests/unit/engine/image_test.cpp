#include "engine/image.h"

#include <unistd.h>

#include <sys/stat.h>

#include <gtest/gtest.h>

#include "base/work_dir.h"
#include "fixture.h"

namespace ward::engine {
namespace {

using namespace testing;

std::vector<TarEntry> payload_files() {
  return {{TarEntry::Dir, "bin", "", 0755}, {TarEntry::File, "bin/payload", "#!payload", 0755}};
}

// A directory listing: "path type" lines, sorted, relative to `root`.
std::string listing(const std::filesystem::path& root) {
  std::vector<std::string> lines;
  for (const auto& e : std::filesystem::recursive_directory_iterator(root)) {
    const char type = e.is_symlink() ? 'l' : e.is_directory() ? 'd' : 'f';
    lines.push_back(std::filesystem::relative(e.path(), root).string() + " " + type);
  }
  std::ranges::sort(lines);
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

class ImageTest : public ::testing::Test {
 protected:
  TempDir tmp_;

  std::filesystem::path make_tree() {
    const auto dir = tmp_ / "tree";
    write_text(dir / "bin/tool", "#!/bin/sh\necho hi\n", 0755);
    write_text(dir / "etc/config.txt", "x=1\n", 0600);
    std::filesystem::create_directories(dir / "empty");
    std::filesystem::create_symlink("../etc/config.txt", dir / "bin/config");
    return dir;
  }

  Result<ImageConfig> unpack_layers(const std::vector<Layer>& layers, const std::filesystem::path& rootfs,
                                    const UnpackLimits& limits = {}) {
    OciImage image;
    image.layers = layers;
    const auto dir = tmp_ / ("image-" + std::to_string(counter_++));
    image.write(dir);
    return unpack_image(dir, rootfs, limits);
  }

  // A `docker save` tar whose image config's "config" is `run`.
  std::filesystem::path image_with_run_config(const json& run) {
    const Bytes layer = make_tar(payload_files());
    const std::string config =
        json{{"config", run}, {"rootfs", {{"type", "layers"}, {"diff_ids", {digest_of(layer)}}}}}.dump();
    const std::string config_name = digest_of(config).substr(7) + ".json";
    const auto save = tmp_ / ("save-" + std::to_string(counter_++));
    write_text(save / config_name, config);
    write_text(save / "layer.tar", std::string(as_chars(layer)));
    write_text(save / "manifest.json",
               json::array({{{"Config", config_name}, {"Layers", {"layer.tar"}}}}).dump());
    const auto out = save.string() + ".tar";
    tar_directory(save, out);
    return out;
  }

  int counter_ = 0;
};

TEST_F(ImageTest, ShouldPackReproduciblyAndInspectToTheSameDigest) {
  const auto dir = make_tree();
  const PackOptions options{{"/bin/tool", "--flag"}, {"default"}, {"A=1", "B=two"}, "/work", {}};
  auto first = pack_image(dir, options, tmp_ / "a.tar");
  ASSERT_TRUE(first) << first.error().message;
  // Times differ on the second pass; the bytes must not.
  std::filesystem::last_write_time(dir / "bin/tool",
                                   std::filesystem::file_time_type::clock::now() - std::chrono::hours(5));
  auto second = pack_image(dir, options, tmp_ / "b.tar");
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_EQ(*first, *second);
  EXPECT_EQ(read_text(tmp_ / "a.tar"), read_text(tmp_ / "b.tar"));

  auto config = inspect_image(tmp_ / "a.tar");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->digest, *first);
  EXPECT_EQ(config->entrypoint, options.entrypoint);
  EXPECT_EQ(config->cmd, options.cmd);
  EXPECT_EQ(config->env, options.env);
  EXPECT_EQ(config->working_dir, "/work");
  ASSERT_EQ(config->diff_ids.size(), 1u);

  auto other = pack_image(dir, PackOptions{{"/bin/tool"}, {}, {}, "", {}}, tmp_ / "c.tar");
  ASSERT_TRUE(other);
  EXPECT_NE(*other, *first);
}

TEST_F(ImageTest, ShouldCarryLabelsAndTheServePortFromPackToInspect) {
  const auto dir = make_tree();
  PackOptions options{
      {"/bin/tool"}, {"serve"}, {}, "", {{"ward.serve.port", "8080"}, {"org.example", "a=b"}}};
  auto first = pack_image(dir, options, tmp_ / "a.tar");
  ASSERT_TRUE(first) << first.error().message;
  auto second = pack_image(dir, options, tmp_ / "b.tar");
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_EQ(read_text(tmp_ / "a.tar"), read_text(tmp_ / "b.tar"));

  auto config = inspect_image(tmp_ / "a.tar");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->digest, *first);
  EXPECT_EQ(config->labels, options.labels);
  EXPECT_EQ(config->serve_port, 8080);
  auto unpacked = unpack_image(tmp_ / "a.tar", tmp_ / "rootfs");
  ASSERT_TRUE(unpacked) << unpacked.error().message;
  EXPECT_EQ(unpacked->serve_port, 8080);

  // The labels are part of the engine digest.
  options.labels["ward.serve.port"] = "8081";
  auto other = pack_image(dir, options, tmp_ / "c.tar");
  ASSERT_TRUE(other) << other.error().message;
  EXPECT_NE(*other, *first);

  auto plain = pack_image(dir, PackOptions{{"/bin/tool"}, {}, {}, "", {}}, tmp_ / "d.tar");
  ASSERT_TRUE(plain) << plain.error().message;
  auto plain_config = inspect_image(tmp_ / "d.tar");
  ASSERT_TRUE(plain_config) << plain_config.error().message;
  EXPECT_TRUE(plain_config->labels.empty());
  EXPECT_FALSE(plain_config->serve_port);
}

TEST_F(ImageTest, ShouldReadTheServePortStrictly) {
  for (const auto& [text, port] : {std::pair{"1", 1}, {"80", 80}, {"65535", 65535}}) {
    auto parsed = parse_serve_port(text);
    ASSERT_TRUE(parsed) << text << ": " << parsed.error().message;
    EXPECT_EQ(*parsed, port);
  }
  for (const char* bad :
       {"0", "65536", "80x", " 80", "80 ", "", "080", "+80", "-1", "0x50", "99999999999999999999"}) {
    auto parsed = parse_serve_port(bad);
    ASSERT_FALSE(parsed) << "accepted '" << bad << "'";
    EXPECT_EQ(parsed.error().code, "engine.label");
  }
}

TEST_F(ImageTest, ShouldRefuseAnImageWhoseServePortLabelIsMalformed) {
  const auto good =
      image_with_run_config({{"Entrypoint", {"/bin/payload"}}, {"Labels", {{"ward.serve.port", "443"}}}});
  auto config = inspect_image(good);
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->serve_port, 443);

  for (const char* bad : {"0", "65536", "80x", " 80", ""}) {
    const auto image =
        image_with_run_config({{"Entrypoint", {"/bin/payload"}}, {"Labels", {{"ward.serve.port", bad}}}});
    auto inspected = inspect_image(image);
    ASSERT_FALSE(inspected) << "accepted the port '" << bad << "'";
    EXPECT_EQ(inspected.error().code, "engine.label");
    EXPECT_NE(inspected.error().message.find("ward.serve.port"), std::string::npos)
        << inspected.error().message;
    EXPECT_EQ(inspected.error().message.find('\n'), std::string::npos);
    auto unpacked = unpack_image(image, tmp_ / "rootfs");
    ASSERT_FALSE(unpacked) << "unpacked with the port '" << bad << "'";
    EXPECT_FALSE(std::filesystem::exists(tmp_ / "rootfs"));
  }

  // A label that is not a string, and Labels that are not an object.
  for (const json& labels : {json{{"ward.serve.port", 8080}}, json{{"other", nullptr}}, json::array({"a"})}) {
    auto inspected =
        inspect_image(image_with_run_config({{"Entrypoint", {"/bin/payload"}}, {"Labels", labels}}));
    ASSERT_FALSE(inspected) << "accepted the labels " << labels.dump();
    EXPECT_EQ(inspected.error().code, "engine.image");
  }
}

TEST_F(ImageTest, ShouldRefuseToPackAMalformedLabel) {
  const auto dir = make_tree();
  for (const auto& [key, value] :
       {std::pair{"ward.serve.port", "0"}, {"ward.serve.port", "80x"}, {"", "x"}}) {
    auto digest = pack_image(dir, PackOptions{{"/bin/tool"}, {}, {}, "", {{key, value}}}, tmp_ / "img.tar");
    ASSERT_FALSE(digest) << "packed the label '" << key << "=" << value << "'";
    EXPECT_EQ(digest.error().code, "engine.label");
    EXPECT_FALSE(std::filesystem::exists(tmp_ / "img.tar"));
  }
}

TEST_F(ImageTest, ShouldUnpackWhatItPackedWithModesButWithoutSetIdBits) {
  const auto dir = make_tree();
  write_text(dir / "bin/setuid", "x", 0755);
  ::chmod((dir / "bin/setuid").c_str(), 04755);
  auto digest = pack_image(dir, PackOptions{{"/bin/tool"}, {}, {}, "", {}}, tmp_ / "img.tar");
  ASSERT_TRUE(digest) << digest.error().message;
  auto config = unpack_image(tmp_ / "img.tar", tmp_ / "rootfs");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->digest, *digest);
  EXPECT_EQ(listing(tmp_ / "rootfs"), listing(dir));
  EXPECT_EQ(read_text(tmp_ / "rootfs/bin/tool"), "#!/bin/sh\necho hi\n");
  EXPECT_EQ(std::filesystem::read_symlink(tmp_ / "rootfs/bin/config"), "../etc/config.txt");
  struct stat st {};
  ASSERT_EQ(::stat((tmp_ / "rootfs/etc/config.txt").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  ASSERT_EQ(::stat((tmp_ / "rootfs/bin/setuid").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0755u);
}

TEST_F(ImageTest, ShouldReadAnOciLayoutDirectory) {
  OciImage image;
  image.layers = {{payload_files()}};
  const std::string expected = image.write(tmp_ / "layout");
  auto config = inspect_image(tmp_ / "layout");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->digest, expected);
  EXPECT_EQ(config->entrypoint, std::vector<std::string>{"/bin/payload"});
  EXPECT_EQ(config->env, std::vector<std::string>{"A=b"});
}

TEST_F(ImageTest, ShouldReadADockerSaveArchiveWithTheSameConfigDigest) {
  const std::vector<TarEntry> files = payload_files();
  const Bytes layer = make_tar(files);
  const std::string config = json{{"config", {{"Entrypoint", {"/bin/payload"}}}},
                                  {"rootfs", {{"type", "layers"}, {"diff_ids", {digest_of(layer)}}}}}
                                 .dump();
  const std::string config_digest = digest_of(config);
  const auto save = tmp_ / "save";
  write_text(save / (config_digest.substr(7) + ".json"), config);
  write_text(save / "0123abcd/layer.tar", std::string(as_chars(layer)));
  write_text(save / "manifest.json", json::array({{{"Config", config_digest.substr(7) + ".json"},
                                                   {"RepoTags", {"engine:latest"}},
                                                   {"Layers", {"0123abcd/layer.tar"}}}})
                                         .dump());
  tar_directory(save, tmp_ / "save.tar");
  auto config_read = inspect_image(tmp_ / "save.tar");
  ASSERT_TRUE(config_read) << config_read.error().message;
  EXPECT_EQ(config_read->digest, config_digest);
  EXPECT_EQ(config_read->entrypoint, std::vector<std::string>{"/bin/payload"});
  auto unpacked = unpack_image(tmp_ / "save.tar", tmp_ / "rootfs");
  ASSERT_TRUE(unpacked) << unpacked.error().message;
  EXPECT_EQ(read_text(tmp_ / "rootfs/bin/payload"), "#!payload");

  // The legacy config name is its digest: a config that does not match it is refused.
  write_text(save / (config_digest.substr(7) + ".json"), config + " ");
  tar_directory(save, tmp_ / "bad.tar");
  auto bad = inspect_image(tmp_ / "bad.tar");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, "engine.digest");
}

TEST_F(ImageTest, ShouldReadGzipZstdAndUncompressedLayers) {
  auto config = unpack_layers({{{{TarEntry::File, "plain.txt", "plain"}}, Compression::None},
                               {{{TarEntry::File, "gzip.txt", "gzip"}}, Compression::Gzip},
                               {{{TarEntry::File, "zstd.txt", "zstd"}}, Compression::Zstd}},
                              tmp_ / "rootfs");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->diff_ids.size(), 3u);
  EXPECT_EQ(read_text(tmp_ / "rootfs/plain.txt"), "plain");
  EXPECT_EQ(read_text(tmp_ / "rootfs/gzip.txt"), "gzip");
  EXPECT_EQ(read_text(tmp_ / "rootfs/zstd.txt"), "zstd");
}

TEST_F(ImageTest, ShouldRefuseALayerWhoseDiffIdDiffers) {
  OciImage image;
  image.layers = {{payload_files(), Compression::Gzip}, {{{TarEntry::File, "x", "x"}}}};
  image.diff_ids =
      std::vector<std::string>{diff_id_of(payload_files()), diff_id_of({{TarEntry::File, "x", "y"}})};
  image.write(tmp_ / "image");
  auto config = inspect_image(tmp_ / "image");
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().code, "engine.digest");
  EXPECT_NE(config.error().message.find("layer 2 of 2"), std::string::npos) << config.error().message;
  EXPECT_NE(config.error().message.find("diff_id"), std::string::npos);
  auto unpacked = unpack_image(tmp_ / "image", tmp_ / "rootfs");
  ASSERT_FALSE(unpacked);
  EXPECT_FALSE(std::filesystem::exists(tmp_ / "rootfs")) << "a failed unpack leaves its rootfs behind";
}

TEST_F(ImageTest, ShouldRefuseAConfigThatDoesNotMatchItsDigest) {
  OciImage image;
  image.layers = {{payload_files()}};
  image.corrupt_config_digest = true;
  image.write(tmp_ / "image");
  auto config = inspect_image(tmp_ / "image");
  ASSERT_FALSE(config);
  // The manifest names a blob that is not there, or one that does not hash to its name.
  EXPECT_TRUE(config.error().code == "engine.digest" || config.error().code == "engine.image")
      << config.error().code;

  // A config blob altered in place.
  OciImage good;
  good.layers = {{payload_files()}};
  const std::string digest = good.write(tmp_ / "altered");
  write_text(tmp_ / "altered/blobs/sha256" / digest.substr(7), "{}");
  auto altered = inspect_image(tmp_ / "altered");
  ASSERT_FALSE(altered);
  EXPECT_EQ(altered.error().code, "engine.digest");
  EXPECT_NE(altered.error().message.find("image config"), std::string::npos) << altered.error().message;
}

TEST_F(ImageTest, ShouldNameAMissingLayer) {
  OciImage image;
  image.layers = {{payload_files()}, {{{TarEntry::File, "x", "x"}}}};
  image.drop_last_layer_blob = true;
  image.write(tmp_ / "image");
  auto config = inspect_image(tmp_ / "image");
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().code, "engine.image");
  EXPECT_NE(config.error().message.find("layer 2 of 2"), std::string::npos) << config.error().message;
  EXPECT_NE(config.error().message.find("missing"), std::string::npos) << config.error().message;
}

TEST_F(ImageTest, ShouldRefuseALayerCountThatDiffersFromTheDiffIds) {
  OciImage image;
  image.layers = {{payload_files()}};
  image.diff_ids = std::vector<std::string>{diff_id_of(payload_files()), diff_id_of(payload_files())};
  image.write(tmp_ / "image");
  auto config = inspect_image(tmp_ / "image");
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().code, "engine.digest");
}

TEST_F(ImageTest, ShouldRefuseAnImageWithTwoManifests) {
  OciImage image;
  image.layers = {{payload_files()}};
  image.two_manifests = true;
  image.write(tmp_ / "image");
  auto config = inspect_image(tmp_ / "image");
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().code, "engine.image");
  EXPECT_NE(config.error().message.find("exactly one"), std::string::npos) << config.error().message;
}

TEST_F(ImageTest, ShouldRefuseSomethingThatIsNotAnImage) {
  write_text(tmp_ / "junk.tar", "not a tar at all");
  auto junk = inspect_image(tmp_ / "junk.tar");
  ASSERT_FALSE(junk);
  EXPECT_EQ(junk.error().code, "engine.image");
  std::filesystem::create_directories(tmp_ / "empty");
  auto empty = inspect_image(tmp_ / "empty");
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().code, "engine.image");
  auto missing = inspect_image(tmp_ / "nothing-here");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, "engine.image");
}

TEST_F(ImageTest, ShouldApplyWhiteoutsAndOpaqueDirectoriesAcrossLayers) {
  const std::vector<TarEntry> lower = {
      {TarEntry::Dir, "a", "", 0755},     {TarEntry::File, "a/old1", "1"},
      {TarEntry::Dir, "a/sub", "", 0755}, {TarEntry::File, "a/sub/old2", "2"},
      {TarEntry::Dir, "b", "", 0755},     {TarEntry::File, "b/gone", "3"},
      {TarEntry::File, "b/stays", "4"},   {TarEntry::Dir, "c", "", 0755},
      {TarEntry::File, "c/file", "5"},    {TarEntry::File, "top", "6"}};
  // The opaque marker comes after this layer's own entries in a/: they must survive it.
  const std::vector<TarEntry> upper = {
      {TarEntry::File, "a/sub/new", "7"},   {TarEntry::File, "a/.wh..wh..opq", ""},
      {TarEntry::File, "b/.wh.gone", ""},   {TarEntry::File, ".wh.c", ""},
      {TarEntry::File, ".wh.top", ""},      {TarEntry::File, ".wh.never-existed", ""},
      {TarEntry::File, "d/.wh.nothing", ""}};
  auto config = unpack_layers({{lower}, {upper, Compression::Gzip}}, tmp_ / "rootfs");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(listing(tmp_ / "rootfs"), "a d\na/sub d\na/sub/new f\nb d\nb/stays f\n");
}

TEST_F(ImageTest, ShouldReplaceAcrossTypesAndKeepHardLinksInside) {
  const std::vector<TarEntry> lower = {{TarEntry::Dir, "x", "", 0755},
                                       {TarEntry::File, "x/inner", "1"},
                                       {TarEntry::File, "y", "file"},
                                       {TarEntry::File, "z", "target"},
                                       {TarEntry::Fifo, "fifo", ""}};
  const std::vector<TarEntry> upper = {{TarEntry::File, "x", "now a file"},
                                       {TarEntry::Dir, "y", "", 0555},
                                       {TarEntry::Hardlink, "y/link", "z"}};
  auto config = unpack_layers({{lower}, {upper}}, tmp_ / "rootfs");
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(read_text(tmp_ / "rootfs/x"), "now a file");
  EXPECT_EQ(read_text(tmp_ / "rootfs/y/link"), "target");
  EXPECT_FALSE(std::filesystem::exists(tmp_ / "rootfs/fifo")) << "FIFOs are skipped";
  struct stat st {};
  ASSERT_EQ(::stat((tmp_ / "rootfs/y").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0555u);
  ASSERT_TRUE(ward::remove_tree(tmp_ / "rootfs"));
  EXPECT_FALSE(std::filesystem::exists(tmp_ / "rootfs"));
}

// Each hostile layer must fail (or be harmless) and never create anything
// outside the rootfs: the directory around it holds only what the test put there.
struct Hostile {
  const char* name;
  std::vector<TarEntry> entries;
};

class HostileLayerTest : public ImageTest, public ::testing::WithParamInterface<Hostile> {};

TEST_P(HostileLayerTest, ShouldNeverWriteOutsideTheRootfs) {
  const auto parent = tmp_ / "jail";
  std::filesystem::create_directories(parent / "outside");
  write_text(parent / "outside/victim", "original");
  OciImage image;
  image.layers = {{GetParam().entries}};
  image.write(tmp_ / "image");
  auto config = unpack_image(tmp_ / "image", parent / "rootfs");
  if (config) (void)ward::remove_tree(parent / "rootfs");
  EXPECT_FALSE(config) << "the hostile layer unpacked";
  if (!config) {
    EXPECT_TRUE(config.error().code == "engine.unpack")
        << config.error().code << ": " << config.error().message;
  }
  EXPECT_EQ(listing(parent), "outside d\noutside/victim f\n");
  EXPECT_EQ(read_text(parent / "outside/victim"), "original");
  EXPECT_FALSE(std::filesystem::exists("/tmp/ward-engine-test-escape"));
}

INSTANTIATE_TEST_SUITE_P(
    Escapes, HostileLayerTest,
    ::testing::Values(
        Hostile{"DotDot", {{TarEntry::File, "../outside/victim", "pwned"}}},
        Hostile{"DotDotInside",
                {{TarEntry::Dir, "a", "", 0755}, {TarEntry::File, "a/../../escape", "pwned"}}},
        Hostile{"Absolute", {{TarEntry::File, "/tmp/ward-engine-test-escape", "pwned"}}},
        Hostile{"ThroughSymlink",
                {{TarEntry::Symlink, "link", "../outside"}, {TarEntry::File, "link/victim", "pwned"}}},
        Hostile{
            "ThroughAbsoluteSymlink",
            {{TarEntry::Symlink, "link", "/tmp"}, {TarEntry::File, "link/ward-engine-test-escape", "pwned"}}},
        Hostile{"ThroughSymlinkToDir",
                {{TarEntry::Dir, "d", "", 0755},
                 {TarEntry::Symlink, "d/up", ".."},
                 {TarEntry::File, "d/up/../x", "p"}}},
        Hostile{"WhiteoutThroughSymlink",
                {{TarEntry::Symlink, "link", "../outside"}, {TarEntry::File, "link/.wh.victim", ""}}},
        Hostile{"HardlinkOutside", {{TarEntry::Hardlink, "stolen", "../outside/victim"}}},
        Hostile{"HardlinkAbsolute", {{TarEntry::Hardlink, "passwd", "/etc/passwd"}}},
        Hostile{"HardlinkThroughSymlink",
                {{TarEntry::Symlink, "link", "../outside"}, {TarEntry::Hardlink, "stolen", "link/victim"}}},
        Hostile{"WhiteoutDotDot", {{TarEntry::File, ".wh..", ""}}}),
    [](const auto& info) { return std::string(info.param.name); });

TEST_F(ImageTest, ShouldEnforceTheEntryAndSizeLimits) {
  std::vector<TarEntry> many;
  for (int i = 0; i < 20; ++i) many.push_back({TarEntry::File, "f" + std::to_string(i), "x"});
  auto entries = unpack_layers({{many}}, tmp_ / "r1", UnpackLimits{.max_bytes = 1 << 20, .max_entries = 10});
  ASSERT_FALSE(entries);
  EXPECT_EQ(entries.error().code, "engine.limit");
  EXPECT_FALSE(std::filesystem::exists(tmp_ / "r1"));

  auto bytes = unpack_layers({{{{TarEntry::File, "big", std::string(200'000, 'z')}}, Compression::Gzip}},
                             tmp_ / "r2", UnpackLimits{.max_bytes = 100'000, .max_entries = 10});
  ASSERT_FALSE(bytes);
  EXPECT_EQ(bytes.error().code, "engine.limit");
  EXPECT_FALSE(std::filesystem::exists(tmp_ / "r2"));
}

TEST_F(ImageTest, ShouldRefuseANonEmptyRootfsAndLeaveItAlone) {
  write_text(tmp_ / "rootfs/precious", "keep");
  auto config = unpack_layers({{payload_files()}}, tmp_ / "rootfs");
  ASSERT_FALSE(config);
  EXPECT_EQ(config.error().code, "engine.unpack");
  EXPECT_EQ(read_text(tmp_ / "rootfs/precious"), "keep");

  // An existing empty directory is fine, and emptied again on failure.
  std::filesystem::create_directories(tmp_ / "empty-root");
  OciImage bad;
  bad.layers = {{payload_files()}};
  bad.diff_ids = std::vector<std::string>{diff_id_of({{TarEntry::File, "other", ""}})};
  bad.write(tmp_ / "bad");
  ASSERT_FALSE(unpack_image(tmp_ / "bad", tmp_ / "empty-root"));
  EXPECT_TRUE(std::filesystem::is_empty(tmp_ / "empty-root"));
}

TEST_F(ImageTest, ShouldRefuseToPackDevicesAndFifos) {
  std::filesystem::create_directories(tmp_ / "tree");
  ASSERT_EQ(::mkfifo((tmp_ / "tree/fifo").c_str(), 0644), 0);
  auto digest = pack_image(tmp_ / "tree", PackOptions{{"/x"}, {}, {}, "", {}}, tmp_ / "img.tar");
  ASSERT_FALSE(digest);
  EXPECT_EQ(digest.error().code, "engine.pack");
  EXPECT_FALSE(std::filesystem::exists(tmp_ / "img.tar")) << "a failed pack leaves a file";
}

}  // namespace
}  // namespace ward::engine
