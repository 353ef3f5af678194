// What run_sandboxed delivers from the engine's output: the tree the engine
// left in its size-limited tmpfs, checked and then copied out into the
// caller's directory. Internal to the engine module (sandbox.cpp and tests).
// Both walk through descriptors only and never follow a link.
#pragma once

#include <cstdint>
#include <string>

#include "base/error.h"

namespace ward::engine::detail {

// The deepest directory nesting delivered (the walk holds two descriptors a level).
inline constexpr int kMaxOutputDepth = 64;

struct OutputScan {
  enum class Verdict { Fits, OverLimit, Refused };
  Verdict verdict = Verdict::Fits;
  std::string refused;      // Refused: what and where, "a symbolic link at a/link"
  std::uint64_t bytes = 0;  // the regular files' sizes, summed (each hard link again)
};

// Walks the directory open at `root`: Refused at the first entry that is
// neither a regular file nor a directory, or a directory nested deeper than
// kMaxOutputDepth; OverLimit once the files' sizes (st_size, so a sparse file
// counts in full) add up to more than `limit`. When the caller is not root,
// a directory whose mode shuts out its owner (the caller) is given u+rx, and
// a file u+r for the moment it is opened. Errors: "engine.output".
Result<OutputScan> scan_output(int root, std::uint64_t limit);

// Copies the regular files and directories under `from` into the empty
// directory `to`: each created anew (O_EXCL, never through a link), owned by
// the caller, with the source's permission bits (no set-id or sticky bits;
// a directory that shut out a non-root caller gets u+rx, see scan_output).
// Fails on anything scan_output refuses and once more than `limit` bytes were
// read. On failure `to` is emptied again. Errors: "engine.output", "io.*".
Result<void> copy_output(int from, int to, std::uint64_t limit);

}  // namespace ward::engine::detail
