#!/usr/bin/env bash
# Installs, builds and runs Ward's whole test suite:
#   1. a release build: unit tests and end-to-end tests (ctest);
#   2. an ASan+UBSan build with clang: the same tests again;
#   3. every libFuzzer target for WARD_FUZZ_SECONDS (default 60) each, under ASan+UBSan,
#      as many at once as there are CPUs, each from its checked-in corpus
#      (tests/fuzz/corpus/NAME; the age targets also from the CCTV age files);
#   4. one target for longer, WARD_FUZZ_LONG_SECONDS (default 300; 0 skips it),
#      chosen by rotation: the commit count (day of the year outside a git
#      checkout) modulo the number of targets, or WARD_FUZZ_LONG_TARGET. 60 s
#      each finds shallow bugs only; the rotation gives every target a long
#      run every few commits. scripts/fuzz-grow.sh adds what a long local run
#      finds to the checked-in corpus.
# Exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
fuzz_seconds=${WARD_FUZZ_SECONDS:-60}
fuzz_long_seconds=${WARD_FUZZ_LONG_SECONDS:-300}

scripts/setup.sh

passed=0
# Runs one build's ctest suite, stopping the script on any failure, and adds
# its test count to the total.
run_ctest() {
  local dir=$1 log line status=0
  log=$(mktemp)
  ctest --test-dir "$dir" --output-on-failure -j "$jobs" | tee "$log" || status=$?
  line=$(grep -E '^[0-9]+% tests passed' "$log" || true)
  rm -f "$log"
  if ((status != 0)); then
    echo "test: tests failed in $dir" >&2
    exit 1
  fi
  [[ -n $line ]] || { echo "test: ctest in $dir ran no test" >&2; exit 1; }
  passed=$((passed + $(sed -E 's/.* out of ([0-9]+).*/\1/' <<<"$line")))
}

# ccache (installed by setup) makes a rebuild of unchanged files free, also
# from another clone: paths are hashed relative to this checkout.
export CCACHE_BASEDIR=$PWD CCACHE_NOHASHDIR=1
launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)

echo "== release build"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "${launcher[@]}" >/dev/null
cmake --build build -j "$jobs"
run_ctest build

echo "== ASan+UBSan build (clang 16)"
CC=clang-16 CXX=clang++-16 cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug "${launcher[@]}" \
  -DWARD_SANITIZE=ON -DWARD_FUZZ=ON -DWARD_BENCH=OFF >/dev/null
cmake --build build-asan -j "$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 run_ctest build-asan

echo "== fuzzing, ${fuzz_seconds}s per target, $jobs at a time"
# run_fuzzer FUZZER SECONDS: runs one target on a fresh copy of its seeds (the
# checked-in corpus of the target, and for the age targets the CCTV age
# files); the log is build-asan/NAME.log.
run_fuzzer() {
  local fuzzer=$1 seconds=$2 name corpus status=0
  name=$(basename "$fuzzer")
  corpus=$(mktemp -d)
  [[ -d tests/fuzz/corpus/$name ]] && cp tests/fuzz/corpus/"$name"/* "$corpus"/
  [[ $name == fuzz_age_* ]] && cp .deps/cctv-age-corpus/* "$corpus"/
  "$fuzzer" -max_total_time="$seconds" -max_len=262144 -rss_limit_mb=2048 -print_final_stats=1 \
    "$corpus" >"build-asan/$name.log" 2>&1 || status=$?
  rm -rf "$corpus"
  return $status
}
# fuzz_report NAME SECONDS STATUS: one line for a clean run; the log's tail and
# exit 1 for a finding.
fuzz_report() {
  local name=$1 seconds=$2 status=$3
  if ((status == 0)); then
    echo "fuzz: $name ran ${seconds}s without a finding ($(grep -oE 'stat::number_of_executed_units: [0-9]+' "build-asan/$name.log" | tail -1 | tr -dc 0-9) runs)"
    passed=$((passed + 1))
  else
    tail -40 "build-asan/$name.log"
    echo "fuzz: $name found a crash; see build-asan/$name.log" >&2
    exit 1
  fi
}
fuzzers=()
for fuzzer in build-asan/tests/fuzz/fuzz_*; do
  [[ -x $fuzzer ]] && fuzzers+=("$fuzzer")
done
for ((i = 0; i < ${#fuzzers[@]}; i += jobs)); do
  pids=()
  batch=("${fuzzers[@]:i:jobs}")
  for fuzzer in "${batch[@]}"; do
    run_fuzzer "$fuzzer" "$fuzz_seconds" &
    pids+=($!)
  done
  for k in "${!batch[@]}"; do
    status=0
    wait "${pids[$k]}" || status=$?
    fuzz_report "$(basename "${batch[$k]}")" "$fuzz_seconds" "$status"
  done
done

if ((fuzz_long_seconds > 0 && ${#fuzzers[@]} > 0)); then
  if [[ -n ${WARD_FUZZ_LONG_TARGET:-} ]]; then
    long=build-asan/tests/fuzz/$WARD_FUZZ_LONG_TARGET
    why="WARD_FUZZ_LONG_TARGET"
  else
    if turn=$(git rev-list --count HEAD 2>/dev/null); then
      why="commit count $turn"
    else
      turn=$((10#$(date -u +%j)))
      why="day of the year $turn"
    fi
    long=${fuzzers[turn % ${#fuzzers[@]}]}
    why="$why mod ${#fuzzers[@]} targets"
  fi
  [[ -x $long ]] || { echo "test: no fuzz target $long" >&2; exit 1; }
  echo "== fuzzing $(basename "$long") for ${fuzz_long_seconds}s (the long run; chosen by $why)"
  status=0
  run_fuzzer "$long" "$fuzz_long_seconds" || status=$?
  fuzz_report "$(basename "$long")" "$fuzz_long_seconds" "$status"
fi

echo "total: $passed passed, 0 failed"
