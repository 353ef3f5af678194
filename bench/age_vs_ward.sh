#!/usr/bin/env bash
# Compares `ward` with `age` (the reference Go implementation) on one large
# file in /dev/shm: encryption and decryption throughput, and peak RSS.
#
# usage: bench/age_vs_ward.sh [WARD_BINARY]
#   WARD_BINARY   default: $WARD, else build/src/cli/ward in this repository
#   SIZE_MIB=1024 file size          REPS=5 repetitions of each measurement
#   CHECK=1       exit 1 unless ward is >= 2.0x age both ways with peak RSS < 64 MiB
#
# Method: each repetition runs ward and age back to back on the same input
# (alternating which goes first), so both see the same machine state; the
# report gives the best (fastest) run of each tool, which is the least noisy
# statistic on a shared VM, and the median beside it. MB/s are 10^6 bytes of
# plaintext per second of wall time around the whole process.
# Fair page warming: the input lives in /dev/shm, so its pages are always
# resident; every timed run writes a fresh output file (the previous one is
# deleted first), so both tools pay the same tmpfs page allocation; and the
# untimed correctness runs first write and free 4 files of the full size, so
# the guest's memory is already touched before the first timed run.
# Decryption: both tools decrypt the same age-made file. Peak RSS is GNU
# time's %M, the maximum over all runs.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WARD=${1:-${WARD:-$ROOT/build/src/cli/ward}}
SIZE_MIB=${SIZE_MIB:-1024}
REPS=${REPS:-5}
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
echo "input: $SIZE_MIB MiB of random bytes in /dev/shm; $REPS repetitions, interleaved"
head -c "$((SIZE_MIB * 1024 * 1024))" /dev/urandom >plain
BYTES=$(stat -c %s plain)
age-keygen -o key 2>/dev/null
RECIPIENT=$(age-keygen -y key)

# measure NAME OUTPUT COMMAND...: appends "seconds rss_kib" to NAME.times.
measure() {
  local name=$1 output=$2
  shift 2
  rm -f "$output"
  local start end
  start=$(date +%s%N)
  "$GNU_TIME" -f %M -o rss "$@"
  end=$(date +%s%N)
  echo "$(((end - start) / 1000)) $(cat rss)" >>"$name.times"
}

ward_encrypt() { measure ward_encrypt w.age "$WARD" encrypt -r "$RECIPIENT" -o w.age plain; }
age_encrypt() { measure age_encrypt a.age age -e -r "$RECIPIENT" -o a.age plain; }
ward_decrypt() { measure ward_decrypt w.out "$WARD" decrypt -i key -o w.out c.age; }
age_decrypt() { measure age_decrypt a.out age -d -i key -o a.out c.age; }

# The shared ciphertext for decryption, and a correctness check of both tools.
age -e -r "$RECIPIENT" -o c.age plain
"$WARD" decrypt -i key -o w.out c.age && cmp -s plain w.out || { echo "ward decrypt of age's file is wrong" >&2; exit 1; }
"$WARD" encrypt -r "$RECIPIENT" -o w.age plain
age -d -i key -o a.out w.age && cmp -s plain a.out || { echo "age decrypt of ward's file is wrong" >&2; exit 1; }
rm -f w.out a.out w.age

for ((rep = 1; rep <= REPS; rep++)); do
  if ((rep % 2)); then
    ward_encrypt; age_encrypt; ward_decrypt; age_decrypt
  else
    age_encrypt; ward_encrypt; age_decrypt; ward_decrypt
  fi
  rm -f w.age a.age w.out a.out
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
printf '\n%-8s %-5s %12s %14s %14s\n' direction tool "best MB/s" "median MB/s" "peak RSS MiB"
for direction in encrypt decrypt; do
  read -r wb wm wr <<<"$(stats "ward_$direction")"
  read -r ab am ar <<<"$(stats "age_$direction")"
  printf '%-8s %-5s %12s %14s %14.1f\n' "$direction" ward "$(mbps "$wb")" "$(mbps "$wm")" "$(awk -v k="$wr" 'BEGIN{print k/1024}')"
  printf '%-8s %-5s %12s %14s %14.1f\n' "$direction" age "$(mbps "$ab")" "$(mbps "$am")" "$(awk -v k="$ar" 'BEGIN{print k/1024}')"
  best_ratio=$(awk -v a="$ab" -v w="$wb" 'BEGIN { printf "%.2f", a / w }')
  median_ratio=$(awk -v a="$am" -v w="$wm" 'BEGIN { printf "%.2f", a / w }')
  printf '%-8s ratio ward/age: %sx best, %sx median\n' "$direction" "$best_ratio" "$median_ratio"
  awk -v r="$best_ratio" 'BEGIN { exit !(r >= 2.0) }' || status=1
  ((wr < 64 * 1024)) || status=1
done
if ((status == 0)); then
  echo "targets met: ward >= 2.0x age both ways (best runs), peak RSS < 64 MiB"
else
  echo "targets NOT met: ward >= 2.0x age both ways (best runs), peak RSS < 64 MiB"
fi
[[ ${CHECK:-0} == 1 ]] && exit "$status"
exit 0
