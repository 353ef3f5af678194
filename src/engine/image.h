// OCI engine images: reading and verifying one (OCI layout directory, OCI
// layout tar, `docker save` archive), unpacking its layers safely, and packing
// a directory into a minimal, reproducible single-layer image.
//
// The engine digest is the image config digest ("sha256:<hex>", the Docker
// image ID): the config names every layer by the SHA-256 of its uncompressed
// tar (rootfs.diff_ids), so the digest pins the whole file system.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace ward::engine {

// The image config label by which a serving engine declares the TCP port it
// listens on inside its sandbox: a decimal port, 1..65535.
inline constexpr std::string_view kServePortLabel = "ward.serve.port";

// What the image config says about how to run the engine.
struct ImageConfig {
  std::string digest;  // "sha256:<hex>" of the config blob = the engine digest
  std::vector<std::string> entrypoint, cmd, env;
  std::string working_dir;
  std::vector<std::string> diff_ids;  // "sha256:<hex>", one per layer, bottom first
  std::map<std::string, std::string> labels;  // config.Labels
  std::optional<int> serve_port;              // the kServePortLabel label, when present
};

// Reads a kServePortLabel value: digits only, no sign, space or leading zero,
// 1..65535. Errors: "engine.label".
Result<int> parse_serve_port(std::string_view text);

// Bounds on what unpacking (and inspecting) may consume: `max_bytes` bounds
// the uncompressed size of all layers together (tar headers included), so a
// compression bomb stops early; `max_entries` bounds the tar entries.
struct UnpackLimits {
  std::uint64_t max_bytes = 8ull << 30;
  std::uint64_t max_entries = 1'000'000;
};

// Reads and verifies an image: an OCI image layout directory, an OCI layout
// in a tar (what pack_image writes), or a `docker save` archive (legacy
// manifest.json + <config>.json + layer tars, or the newer OCI layout with a
// manifest.json). Checks that the config blob hashes to its digest, every
// layer blob to the digest its manifest names (when it names one), and each
// layer's uncompressed tar to rootfs.diff_ids[i], in order and the same
// count. Layers may be uncompressed, gzip or zstd. The image must hold
// exactly one image manifest.
// Labels must be strings; a malformed kServePortLabel fails the read.
// Errors: "engine.image" (malformed, missing, unsupported, not exactly one
// image), "engine.label" (a malformed label), "engine.digest" (a digest check
// failed), "engine.limit".
Result<ImageConfig> inspect_image(const std::filesystem::path& image);

// Verifies like inspect_image while extracting the layers, bottom first, into
// `rootfs`, which must be an empty or not yet existing directory (its parent
// must exist). Applies OCI whiteouts (".wh.<name>" removes <name> from lower
// layers, ".wh..wh..opq" empties its directory of lower layers' entries).
// Never writes outside `rootfs`: absolute paths and ".." are refused, no path
// is resolved through a symlink (an entry under a symlinked directory is an
// error), hard links must name an earlier regular file or symlink inside.
// Device nodes, FIFOs and sockets are skipped. Set-user-ID, set-group-ID bits
// are cleared, ownership, times and xattrs are not restored (everything
// belongs to the caller). On any error the rootfs is removed again.
// Errors: those of inspect_image, plus "engine.unpack" (an unsafe or invalid
// entry, an I/O failure) and "engine.limit".
Result<ImageConfig> unpack_image(const std::filesystem::path& image, const std::filesystem::path& rootfs,
                                 const UnpackLimits& limits = {});

struct PackOptions {
  std::vector<std::string> entrypoint;
  std::vector<std::string> cmd;
  std::vector<std::string> env;  // "KEY=VALUE"
  std::string working_dir;
  std::map<std::string, std::string> labels;  // config.Labels; keys non-empty
};

// Builds a single-layer OCI image of directory `dir` and writes it atomically
// at `out` as a tar: an OCI image layout (oci-layout, index.json,
// blobs/sha256/*) plus a docker-style manifest.json, so `docker load` takes it
// too. Reproducible: the same tree and options give the same bytes (sorted
// entries, mtime 0, uid/gid 0, no user names, no "created" time; the layer is
// gzip without a timestamp). Regular files, directories and symlinks are
// packed (hard-linked files as separate copies); anything else is an error.
// Returns the config digest. Errors: "engine.pack", "engine.label" (an empty
// key, a malformed kServePortLabel), "io.*".
Result<std::string> pack_image(const std::filesystem::path& dir, const PackOptions& options,
                               const std::filesystem::path& out);

}  // namespace ward::engine
