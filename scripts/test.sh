#!/usr/bin/env bash
# Installs, builds and runs Ward's whole test suite:
#   1. a release build: unit tests and end-to-end tests (ctest);
#   2. an ASan+UBSan build with clang: the same tests again;
#   3. every libFuzzer target for WARD_FUZZ_SECONDS (default 60) each, under ASan+UBSan,
#      as many at once as there are CPUs.
# Exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
fuzz_seconds=${WARD_FUZZ_SECONDS:-60}

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

echo "== release build"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$jobs"
run_ctest build

echo "== ASan+UBSan build (clang 16)"
CC=clang-16 CXX=clang++-16 cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug \
  -DWARD_SANITIZE=ON -DWARD_FUZZ=ON -DWARD_BENCH=OFF >/dev/null
cmake --build build-asan -j "$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 run_ctest build-asan

echo "== fuzzing, ${fuzz_seconds}s per target, $jobs at a time"
# Runs one target on a fresh copy of its seeds (the checked-in corpus of the
# target, else the CCTV age files); the log is build-asan/NAME.log.
run_fuzzer() {
  local fuzzer=$1 name corpus status=0
  name=$(basename "$fuzzer")
  corpus=$(mktemp -d)
  if [[ -d tests/fuzz/corpus/$name ]]; then
    cp tests/fuzz/corpus/"$name"/* "$corpus"/
  else
    cp .deps/cctv-age-corpus/* "$corpus"/
  fi
  "$fuzzer" -max_total_time="$fuzz_seconds" -max_len=262144 -rss_limit_mb=2048 -print_final_stats=0 \
    "$corpus" >"build-asan/$name.log" 2>&1 || status=$?
  rm -rf "$corpus"
  return $status
}
fuzzers=()
for fuzzer in build-asan/tests/fuzz/fuzz_*; do
  [[ -x $fuzzer ]] && fuzzers+=("$fuzzer")
done
for ((i = 0; i < ${#fuzzers[@]}; i += jobs)); do
  pids=()
  batch=("${fuzzers[@]:i:jobs}")
  for fuzzer in "${batch[@]}"; do
    run_fuzzer "$fuzzer" &
    pids+=($!)
  done
  for k in "${!batch[@]}"; do
    name=$(basename "${batch[$k]}")
    if wait "${pids[$k]}"; then
      echo "fuzz: $name ran ${fuzz_seconds}s without a finding ($(grep -oE 'stat::number_of_executed_units: [0-9]+|#[0-9]+' "build-asan/$name.log" | tail -1 | tr -dc 0-9) runs)"
      passed=$((passed + 1))
    else
      tail -40 "build-asan/$name.log"
      echo "fuzz: $name found a crash; see build-asan/$name.log" >&2
      exit 1
    fi
  done
done

echo "total: $passed passed, 0 failed"
