#!/usr/bin/env bash
# Grows one fuzz target's checked-in corpus:
#   scripts/fuzz-grow.sh NAME [SECONDS]      (default 300)
# runs build-asan/tests/fuzz/NAME (see scripts/test.sh for that build) for
# SECONDS on a copy of its seeds, then merges with libFuzzer's -merge=1: only
# inputs that reach coverage the checked-in corpus does not are added to
# tests/fuzz/corpus/NAME/, so the corpus grows slowly and stays small (an
# input over WARD_FUZZ_GROW_MAX_BYTES, default 32 KiB, is left out). The
# seeds are that directory, plus the CCTV age files for the age targets (those
# stay in .deps: what they cover comes in as fuzzer-made variants). A crash
# stops the script and leaves its input in build-asan/fuzz-findings/NAME/.
set -euo pipefail
cd "$(dirname "$0")/.."
(($# >= 1)) || { echo "usage: $0 NAME [SECONDS]" >&2; exit 2; }
name=$1
seconds=${2:-300}
build=${WARD_FUZZ_BUILD:-build-asan}
max_bytes=${WARD_FUZZ_GROW_MAX_BYTES:-32768}
fuzzer=$build/tests/fuzz/$name
corpus=tests/fuzz/corpus/$name
[[ -x $fuzzer ]] || { echo "fuzz-grow: no $fuzzer; build it first (scripts/test.sh)" >&2; exit 1; }
flags=(-max_len=262144 -rss_limit_mb=2048)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$corpus" "$work/seeds" "$work/run"
cp -r "$corpus"/. "$work/seeds"/
cp "$work/seeds"/* "$work/run"/ 2>/dev/null || true
# The CCTV files seed the run, and what the run keeps of their coverage is
# merged in below, but none of them is copied into the repository.
[[ $name == fuzz_age_* ]] && cp .deps/cctv-age-corpus/* "$work/run"/
{ ls "$work/seeds"; ls .deps/cctv-age-corpus; } | sort -u >"$work/before"

findings=$build/fuzz-findings/$name
mkdir -p "$findings"
status=0
"$fuzzer" "${flags[@]}" -max_total_time="$seconds" -print_final_stats=1 -artifact_prefix="$findings/" \
  "$work/run" >"$build/$name.grow.log" 2>&1 || status=$?
if ((status != 0)); then
  tail -40 "$build/$name.grow.log"
  echo "fuzz-grow: $name found a crash; its input is in $findings/, the log in $build/$name.grow.log" >&2
  exit 1
fi

# Merging into the seeds keeps exactly the run's inputs that add coverage,
# counted by edges alone (-use_counters=0): hit counts would keep hundreds of
# near-duplicates of each input a short run finds.
"$fuzzer" "${flags[@]}" -use_counters=0 -merge=1 "$work/seeds" "$work/run" >"$build/$name.merge.log" 2>&1
added=0 large=0
while read -r file; do
  if (($(stat -c %s "$work/seeds/$file") > max_bytes)); then
    large=$((large + 1))
    continue
  fi
  cp "$work/seeds/$file" "$corpus/$file"
  added=$((added + 1))
done < <(ls "$work/seeds" | sort | comm -13 "$work/before" -)
runs=$(grep -oE 'stat::number_of_executed_units: [0-9]+' "$build/$name.grow.log" | tr -dc 0-9)
echo "fuzz-grow: $name ran ${seconds}s (${runs:-?} runs), added $added inputs ($large over $max_bytes bytes left out);" \
  "$corpus now holds $(find "$corpus" -type f | wc -l) files, $(du -s --apparent-size -B1 "$corpus" | cut -f1) bytes"
