#!/usr/bin/env bash
# Compares `ward` with `age` (the reference Go implementation) on one large
# file in /dev/shm: encryption and decryption throughput, and peak RSS, with
# the output going to a file (-o FILE), to /dev/null (-o /dev/null) and
# through a pipe (standard output | cat >/dev/null).
#
# usage: bench/age_vs_ward.sh [WARD_BINARY]
#   WARD_BINARY   default: $WARD, else build/src/cli/ward in this repository
#   SIZE_MIB=1024 file size          REPS=5 repetitions of each measurement
#   OUTPUTS="file null pipe"         the outputs to measure
#   CHECK=1       exit 1 unless ward is >= 2.0x age both ways, to every
#                 output measured, with peak RSS < 64 MiB
#
# Method: each repetition runs ward and age back to back on the same input
# and output (alternating which goes first), so both see the same machine
# state; the report gives the best (fastest) run of each tool, which is the
# least noisy statistic on a shared VM, and the median beside it. MB/s are
# 10^6 bytes of plaintext per second of wall time around the whole process
# (around the whole pipeline, `cat` included, for the pipe).
# Fair page warming: the input lives in /dev/shm, so its pages are always
# resident; every timed run to a file writes a fresh output file (the
# previous one is deleted first), so both tools pay the same tmpfs page
# allocation; and the untimed correctness runs first write and free 4 files
# of the full size, so the guest's memory is already touched before the first
# timed run.
# Decryption: both tools decrypt the same age-made file. Peak RSS is GNU
# time's %M of the tool itself (not `cat`), the maximum over all runs.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WARD=${1:-${WARD:-$ROOT/build/src/cli/ward}}
SIZE_MIB=${SIZE_MIB:-1024}
REPS=${REPS:-5}
OUTPUTS=${OUTPUTS:-file null pipe}
GNU_TIME=/usr/bin/time
[[ -x $WARD ]] || { echo "no ward binary at '$WARD'" >&2; exit 1; }
command -v age >/dev/null || { echo "the age CLI is missing (Debian package age)" >&2; exit 1; }
[[ -x $GNU_TIME ]] || { echo "GNU time is missing (Debian package time)" >&2; exit 1; }
WARD=$(realpath "$WARD")

need_kib=$((SIZE_MIB * 1024 * 4 + 65536))
free_kib=$(df -k --output=avail /dev/shm | tail -1)
((free_kib > need_kib)) || { echo "/dev/shm needs $((need_kib / 1024)) MiB free, has $((free_kib / 1024)) MiB" >&2; exit 1; }

DIR=$(mktemp -d /dev/shm/ward-bench.XXXXXX)
trap 'rm -rf "$DIR"' EXIT
cd "$DIR"

echo "ward: $WARD ($("$WARD" --version)), age: $(command -v age) ($(age --version))"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "input: $SIZE_MIB MiB of random bytes in /dev/shm; outputs: $OUTPUTS; $REPS repetitions, interleaved"
head -c "$((SIZE_MIB * 1024 * 1024))" /dev/urandom >plain
BYTES=$(stat -c %s plain)
age-keygen -o key 2>/dev/null
RECIPIENT=$(age-keygen -y key)

# measure TOOL DIRECTION OUTPUT: one timed run of TOOL (ward or age) in
# DIRECTION (encrypt or decrypt) to OUTPUT (file, null or pipe); appends
# "microseconds rss_kib" to TOOL_DIRECTION_OUTPUT.times.
measure() {
  local tool=$1 direction=$2 output=$3
  local -a command
  case $tool/$direction in
    ward/encrypt) command=("$WARD" encrypt -r "$RECIPIENT") ;;
    age/encrypt) command=(age -e -r "$RECIPIENT") ;;
    ward/decrypt) command=("$WARD" decrypt -i key) ;;
    age/decrypt) command=(age -d -i key) ;;
  esac
  # age stops reading flags at the input's name, so -o goes before it.
  case $output in
    file) rm -f "$tool.out"; command+=(-o "$tool.out") ;;
    null) command+=(-o /dev/null) ;;
  esac
  if [[ $direction == encrypt ]]; then command+=(plain); else command+=(c.age); fi
  local start end
  start=$(date +%s%N)
  if [[ $output == pipe ]]; then
    "$GNU_TIME" -f %M -o rss "${command[@]}" | cat >/dev/null
  else
    "$GNU_TIME" -f %M -o rss "${command[@]}"
  fi
  end=$(date +%s%N)
  echo "$(((end - start) / 1000)) $(cat rss)" >>"${tool}_${direction}_$output.times"
}

# The shared ciphertext for decryption, and a correctness check of both tools
# and of ward's output to a file and to a pipe.
age -e -r "$RECIPIENT" -o c.age plain
"$WARD" decrypt -i key -o w.out c.age && cmp -s plain w.out || { echo "ward decrypt of age's file is wrong" >&2; exit 1; }
"$WARD" decrypt -i key c.age | cmp -s plain - || { echo "ward decrypt of age's file to a pipe is wrong" >&2; exit 1; }
"$WARD" encrypt -r "$RECIPIENT" -o w.age plain
age -d -i key -o a.out w.age && cmp -s plain a.out || { echo "age decrypt of ward's file is wrong" >&2; exit 1; }
"$WARD" encrypt -r "$RECIPIENT" plain | age -d -i key | cmp -s plain - || { echo "age decrypt of ward's piped output is wrong" >&2; exit 1; }
rm -f w.out a.out w.age

for ((rep = 1; rep <= REPS; rep++)); do
  for output in $OUTPUTS; do
    for direction in encrypt decrypt; do
      if ((rep % 2)); then
        measure ward "$direction" "$output"; measure age "$direction" "$output"
      else
        measure age "$direction" "$output"; measure ward "$direction" "$output"
      fi
      rm -f ward.out age.out
    done
  done
done

# stats NAME: "best_us median_us peak_rss_kib"
stats() {
  local times
  times=$(cut -d' ' -f1 "$1.times" | sort -n)
  local best median rss
  best=$(head -1 <<<"$times")
  median=$(sed -n "$(((REPS + 1) / 2))p" <<<"$times")
  rss=$(cut -d' ' -f2 "$1.times" | sort -n | tail -1)
  echo "$best $median $rss"
}
mbps() { awk -v b="$BYTES" -v us="$1" 'BEGIN { printf "%.0f", b / us }'; } # bytes per µs = MB/s

status=0
printf '\n%-8s %-6s %-5s %12s %14s %14s\n' direction output tool "best MB/s" "median MB/s" "peak RSS MiB"
for output in $OUTPUTS; do
  for direction in encrypt decrypt; do
    read -r wb wm wr <<<"$(stats "ward_${direction}_$output")"
    read -r ab am ar <<<"$(stats "age_${direction}_$output")"
    for tool in ward age; do
      if [[ $tool == ward ]]; then b=$wb m=$wm r=$wr; else b=$ab m=$am r=$ar; fi
      printf '%-8s %-6s %-5s %12s %14s %14.1f\n' "$direction" "$output" "$tool" "$(mbps "$b")" "$(mbps "$m")" \
        "$(awk -v k="$r" 'BEGIN{print k/1024}')"
    done
    best_ratio=$(awk -v a="$ab" -v w="$wb" 'BEGIN { printf "%.2f", a / w }')
    median_ratio=$(awk -v a="$am" -v w="$wm" 'BEGIN { printf "%.2f", a / w }')
    printf '%-8s %-6s ratio ward/age: %sx best, %sx median\n' "$direction" "$output" "$best_ratio" "$median_ratio"
    awk -v r="$best_ratio" 'BEGIN { exit !(r >= 2.0) }' || status=1
    ((wr < 64 * 1024)) || status=1
  done
done
if ((status == 0)); then
  echo "targets met: ward >= 2.0x age both ways to every output (best runs), peak RSS < 64 MiB"
else
  echo "targets NOT met: ward >= 2.0x age both ways to every output (best runs), peak RSS < 64 MiB"
fi
[[ ${CHECK:-0} == 1 ]] && exit "$status"
exit 0
