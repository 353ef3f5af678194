#!/usr/bin/env bash
# A confidential order over one large input against running the same engine
# directly on the plaintext, with the order's time split by the loader's
# stages (fetch, verify, decrypt, run, encrypt, upload, wipe, publish).
# Goal (the issue): order <= direct * 1.10 + 300 ms.
#
# usage: bench/order_vs_direct.sh [SIZE [ROUNDS]]
#   SIZE=1G           input size (numfmt IEC: 1G, 256M, 64M, or bytes)
#   ROUNDS=3          rounds; each runs direct, sandbox and order once
#   ENGINE=trainer    trainer: engines/cancer-trainer (the example engine,
#                     logistic regression, 300 epochs, as an order runs it)
#                     scan: bench/order_vs_direct_scan.cpp, built here: reads
#                     every byte, counts lines/fields/positives, checksums
#   WARD=build/src/cli/ward (ward-loader and cancer-trainer next to it)
#   MEMORY_LIMIT_MIB=16384  the engine's memory limit (node and sandbox)
#   CHECK=1           exit 1 unless the goal is met (medians)
# e.g. bench/order_vs_direct.sh (about 16 min on 2 cores), ENGINE=scan
# bench/order_vs_direct.sh (about 1 min), bench/order_vs_direct.sh 16M 1
#
# What runs, all on this machine, in a private directory under /dev/shm
# (tmpfs, like the loader's work directory, so no disk is timed anywhere):
#   input   a CSV of the rows of .deps/data/breast_cancer.csv repeated up to
#           SIZE bytes, under a header "f0,...,f29,target".
#   direct  the engine binary on the plaintext (`cancer-trainer train --inputs
#           DIR --output DIR`, `order-scan --inputs DIR --output DIR`).
#   sandbox `ward engine run IMAGE --input DIR -o OUT`: the loader's sandbox
#           (image unpack, bubblewrap, cgroup) without any crypto or ledger.
#   order   a ledger server, a certification center and a node with one
#           simulated CVM (ward-loader) are started once, as in
#           tests/e2e/order.sh; the engine image and the input are packed,
#           uploaded and granted once (owner-side preparation, timed apart);
#           then each round times `ward orders create` + `ward orders wait`,
#           end to end, and reads the loader's stage times from its log line
#           "order N: done (fetch=..ms verify=..ms ...)". "other" is the end to
#           end time less `orders create` and the stages: the loader noticing
#           the order (it waits on the ledger's record feed), orders.start
#           and the ledger summary, `orders wait`'s poll (100 ms). Carol's download of the
#           result is timed apart and its outputs must equal the direct run's.
# The three runs of a round alternate their order between rounds. The
# summary gives medians. The input is uploaded as one file (the loader then
# decrypts it straight into place; a directory would go through a tar).
#
# Why these engines: the trainer is Ward's real example engine; at 1 GiB it
# trains on 5.1 M rows in about 110 s with 5.7 GiB peak RSS on a 2-core VM, so
# its run time dominates and the fixed and per-byte costs of an order are a
# small share. An order carries no arguments, so a lighter trainer workload
# (fewer epochs) cannot be ordered; ENGINE=scan is the opposite end: an engine
# that only reads its input once (~1 GB/s), where the loader's per-byte work
# (hashing, copying, decrypting, all of the input) is the largest share.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SIZE=${1:-${SIZE:-1G}}
ROUNDS=${2:-${ROUNDS:-3}}
ENGINE=${ENGINE:-trainer}
WARD=${WARD:-$ROOT/build/src/cli/ward}
MEMORY_LIMIT_MIB=${MEMORY_LIMIT_MIB:-16384}
DATA=$ROOT/.deps/data/breast_cancer.csv
die() {
  echo "order_vs_direct: $*" >&2
  exit 1
}
[[ -x $WARD ]] || die "no ward binary at '$WARD' (set WARD)"
WARD=$(realpath "$WARD")
LOADER=$(dirname "$WARD")/ward-loader
TRAINER=${TRAINER:-$(dirname "$WARD")/cancer-trainer}
[[ -x $LOADER ]] || die "no ward-loader next to $WARD"
[[ -f $DATA ]] || die "no $DATA (scripts/fetch-dataset.sh)"
for tool in jq curl numfmt bwrap; do command -v "$tool" >/dev/null || die "$tool is missing"; done
BYTES=$(numfmt --from=iec "$SIZE" 2>/dev/null) || die "SIZE '$SIZE' is not a size such as 1G or 64M"
((BYTES >= 4096)) || die "SIZE must be at least 4 KiB"
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive integer"
case $ENGINE in
  trainer) [[ -x $TRAINER ]] || die "no cancer-trainer at '$TRAINER'" ;;
  scan) command -v c++ >/dev/null || die "c++ is missing (to build the scan engine)" ;;
  *) die "ENGINE must be trainer or scan" ;;
esac

# Room: the plaintext, its ciphertext in the store, the loader's copy of the
# ciphertext and its decrypted input in tmpfs; the trainer holds ~5.6x its
# input in memory.
engine_mem=$((64 << 20))
[[ $ENGINE == trainer ]] && engine_mem=$((BYTES * 6))
need_shm=$((BYTES * 4 + (512 << 20)))
free_shm=$(($(df -k --output=avail /dev/shm | tail -1) * 1024))
((free_shm > need_shm)) || die "/dev/shm needs $((need_shm >> 20)) MiB free, has $((free_shm >> 20)) MiB"
avail_mem=$(($(awk '/^MemAvailable:/ { print $2 }' /proc/meminfo) * 1024))
((avail_mem > need_shm + engine_mem)) ||
  die "needs about $(((need_shm + engine_mem) >> 20)) MiB of memory, $((avail_mem >> 20)) MiB available"

DIR=$(mktemp -d /dev/shm/ward-order-bench.XXXXXX)
# The sandbox runs as an unprivileged uid when we are root: it must reach
# the inputs and the loader's work directories below.
chmod 711 "$DIR"
mkdir -m 711 "$DIR/tmp"
export TMPDIR=$DIR/tmp # ward's own temporary files (uploads, engine run) stay in here
pids=()
NODE=
CVM=
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
  local rc=$?
  set +e
  local children=()
  [[ -n $NODE ]] && mapfile -t children < <(pgrep -P "$NODE")
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  # The node stops its loaders on SIGTERM; any left (the node died) go now.
  for p in "${children[@]}"; do kill -KILL "$p" 2>/dev/null; done
  [[ -n $CVM ]] && rm -rf "/dev/shm/ward-cvm-${CVM:0:16}"
  rm -rf "$DIR"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
cd "$DIR"

now_ms() { echo $(($(date +%s%N) / 1000000)); }
# url_from FILE: waits for a server's first stdout line (its URL).
url_from() {
  local i
  for ((i = 0; i < 100; i++)); do
    [[ -s $1 ]] && { head -n 1 "$1"; return; }
    sleep 0.1
  done
  die "no URL in $1: $(cat "${1%.out}.err" 2>/dev/null)"
}

echo "ward: $WARD ($("$WARD" --version))"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(($(awk '/^MemTotal:/ { print $2 }' /proc/meminfo) >> 20)) GiB, load average $(cut -d' ' -f1-3 /proc/loadavg)"

# 1. The input: the data set's rows repeated, whole rows only, up to BYTES.
t0=$(now_ms)
mkdir -m 755 own own/data
header="$(seq 0 29 | sed 's/^/f/' | paste -sd, -),target"
tail -n +2 "$DATA" >rows
cp rows block
while (($(stat -c %s block) < (64 << 20) && $(stat -c %s block) < BYTES)); do
  cat block block >block2
  mv block2 block
done
block_size=$(stat -c %s block)
repeats=$(((BYTES - ${#header} - 1) / block_size))
rest=$((BYTES - ${#header} - 1 - repeats * block_size))
{
  echo "$header"
  for ((i = 0; i < repeats; i++)); do cat block; done
  head -c "$rest" block | sed '$d' # the last whole rows that fit
} >own/data/data.csv
rm -f rows block
chmod 644 own/data/data.csv
INPUT_BYTES=$(stat -c %s own/data/data.csv)
INPUT_ROWS=$(($(wc -l <own/data/data.csv) - 1))
echo "input: $INPUT_BYTES bytes ($(numfmt --to=iec "$INPUT_BYTES")), $INPUT_ROWS rows of 31 fields, made in $(($(now_ms) - t0)) ms"

# 2. The engine: one static binary, the whole rootfs of its image.
mkdir -m 755 eng
case $ENGINE in
  trainer)
    cp "$TRAINER" eng/cancer-trainer
    BIN=eng/cancer-trainer
    direct_args=(train --inputs own/data --output out-direct)
    OUTPUT_FILES=(model.json metrics.json)
    echo "engine: cancer-trainer (logistic regression, 300 epochs, 20% held out)"
    ;;
  scan)
    c++ -std=c++20 -O3 -static -o eng/order-scan "$ROOT/bench/order_vs_direct_scan.cpp"
    BIN=eng/order-scan
    direct_args=(--inputs own/data --output out-direct)
    OUTPUT_FILES=(scan.json)
    echo "engine: order-scan (reads every byte: lines, fields, positives, checksum)"
    ;;
esac
chmod 755 "$BIN"
echo "rounds: $ROUNDS; engine memory limit $MEMORY_LIMIT_MIB MiB; everything under $DIR"

# 3. The parties and servers, as tests/e2e/order.sh stands them up.
"$WARD" ledger init --db l.db --dev >/dev/null
"$WARD" ledger serve --db l.db --listen 127.0.0.1:0 >ledger.out 2>ledger.err &
pids+=($!)
L=$(url_from ledger.out)
"$WARD" ca init --dir ca >/dev/null
echo '{"allow_simulated": true}' >ca-policy.json
"$WARD" ca serve --dir ca --policy ca-policy.json --listen 127.0.0.1:0 >ca.out 2>ca.err &
pids+=($!)
CA=$(url_from ca.out)
for p in alice carol provider; do
  "$WARD" keys new -o "$p.key" >/dev/null 2>&1
  "$WARD" accounts register --ledger "$L" --key "$p.key" --name "$p" >/dev/null
done
CAROL=$("$WARD" keys show --json carol.key | jq -r .recipient)
"$WARD" accounts fund --ledger "$L" --key carol.key --to "$("$WARD" keys show --json carol.key | jq -r .signing_public_key)" \
  --amount 100000 >/dev/null
STORE=$DIR/store
mkdir -m 711 work
"$WARD" node run --ledger "$L" --key provider.key --store "$STORE" --ca "$CA" --platform sim --cvms 1 \
  --dir node --work "$DIR/work" --time-limit 86400 --memory-limit "$MEMORY_LIMIT_MIB" >node.out 2>&1 &
NODE=$!
pids+=("$NODE")
n=0
for ((i = 0; i < 300; i++)); do
  n=$(curl -fsS "$L/v1/cvms" | jq '.cvms | length')
  ((n == 1)) && break
  sleep 0.1
done
((n == 1)) || die "the node did not list its CVM: $(cat node.out)"
CVM=$("$WARD" ca verify node/cvm-0/cvm.pem --ca-cert ca/ca.pem --policy ca-policy.json --json | jq -r .cvm_id)
[[ $CVM =~ ^[0-9a-f]{64}$ ]] || die "CVM id: $CVM"
echo "{\"allow_simulated\": true, \"measurements\": {\"mrtd\": [\"$(sha384sum "$LOADER" | cut -d' ' -f1)\"]}}" >policy.json

# 4. Owner-side preparation, once: pack, upload and grant.
timed() { # timed NAME COMMAND...: runs it, quietly, and prints "NAME N ms"
  local name=$1 start
  shift
  start=$(now_ms)
  "$@" >prep.log 2>&1 || die "$name failed: $(tail -5 prep.log)"
  printf '  %-34s %8d ms\n' "$name" $(($(now_ms) - start))
}
echo "owner-side preparation (not part of the order):"
ENTRY=/${BIN#eng/}
timed "engine pack" "$WARD" engine pack eng --entrypoint "$ENTRY" -o engine.tar
timed "engine upload (carol)" "$WARD" files upload engine.tar --key carol.key --store "$STORE" -o engine.res.json
DIGEST=$(jq -r .resource.engine engine.res.json)
timed "input upload, $(numfmt --to=iec "$INPUT_BYTES") (alice)" \
  "$WARD" files upload own/data/data.csv --key alice.key --store "$STORE" -o data.res.json
# shellcheck disable=SC2317 # called through timed
grant() { # grant RES OWNER OUT
  "$WARD" files grant "$1" --key "$2" --ledger "$L" --cvm "$CVM" --engine "$DIGEST" --output-to "$CAROL" \
    --ca-cert ca/ca.pem --policy policy.json --expires 7d -o "$3"
}
timed "engine grant (carol)" grant engine.res.json carol.key g-engine.json
timed "input grant (alice)" grant data.res.json alice.key g-data.json

# 5. The runs.
same_outputs() { # same_outputs DIR WHAT: DIR holds the direct run's output files
  local f
  for f in "${OUTPUT_FILES[@]}"; do
    cmp -s "ref/$f" "$1/$f" || die "$2: $f differs from the direct run's"
  done
}
run_direct() {
  rm -rf out-direct
  mkdir out-direct
  local start
  start=$(now_ms)
  "$BIN" "${direct_args[@]}" >direct.log 2>&1 || die "the direct run failed: $(tail -5 direct.log)"
  DIRECT=$(($(now_ms) - start))
  if [[ ! -d ref ]]; then
    mkdir ref
    for f in "${OUTPUT_FILES[@]}"; do cp "out-direct/$f" ref/; done
  fi
  same_outputs out-direct "the direct run"
}
run_sandbox() {
  rm -rf out-sandbox
  local start
  start=$(now_ms)
  "$WARD" engine run engine.tar --input own/data -o out-sandbox --time-limit 24h \
    --memory-limit "${MEMORY_LIMIT_MIB}M" --log sandbox.log >sandbox.out 2>&1 ||
    die "ward engine run failed: $(tail -5 sandbox.out sandbox.log)"
  SANDBOX=$(($(now_ms) - start))
  [[ -d ref ]] && same_outputs out-sandbox "ward engine run"
  return 0
}
STAGES=(fetch verify decrypt run encrypt upload wipe publish)
declare -A STAGE
run_order() {
  local start mid id line i s
  start=$(now_ms)
  id=$("$WARD" orders create --ledger "$L" --key carol.key --cvm "$CVM" --engine engine.res.json \
    --grant g-engine.json --grant g-data.json --output-to "$CAROL" --deposit 10 --store "$STORE" --json |
    jq -r .order) || die "orders create failed"
  mid=$(now_ms)
  "$WARD" orders wait "$id" --ledger "$L" --timeout 86400 >wait.out 2>&1 ||
    die "order $id: $(cat wait.out; tail -5 node.out)"
  ORDER=$(($(now_ms) - start))
  CREATE=$((mid - start))
  # The loader logs its stages just after publishing the report.
  line=
  for ((i = 0; i < 100; i++)); do
    line=$(grep -F "ward-loader: order $id: done (" node.out || true)
    [[ -n $line ]] && break
    sleep 0.05
  done
  [[ -n $line ]] || die "no stage line for order $id: $(tail -5 node.out)"
  SUM=0
  for s in "${STAGES[@]}"; do
    STAGE[$s]=$(grep -oE "\b$s=[0-9]+ms" <<<"$line" | grep -oE '[0-9]+' || echo 0)
    SUM=$((SUM + STAGE[$s]))
  done
  OTHER=$((ORDER - CREATE - SUM))
  rm -rf result
  start=$(now_ms)
  "$WARD" orders result "$id" --ledger "$L" --key carol.key -o result >result.log 2>&1 ||
    die "orders result $id: $(cat result.log)"
  RESULT=$(($(now_ms) - start))
  [[ -d ref ]] && same_outputs result/output "order $id's output"
  return 0
}

cols=(round direct sandbox order create "${STAGES[@]}" stages other result)
row_format='%-6s %8s %8s %8s %7s %6s %7s %8s %8s %8s %7s %6s %8s %8s %6s %7s\n'
results=$DIR/results
: >"$results"
echo
echo "per round, ms (order = orders create .. orders wait; stages from the loader's log; other = order - create - stages;"
echo "result = carol's download and decryption of the output, not in order):"
# shellcheck disable=SC2059
printf "$row_format" "${cols[@]}"
for ((r = 1; r <= ROUNDS; r++)); do
  if ((r % 2)); then
    run_direct
    run_sandbox
    run_order
  else
    run_order
    run_sandbox
    run_direct
  fi
  vals=("$r" "$DIRECT" "$SANDBOX" "$ORDER" "$CREATE")
  for s in "${STAGES[@]}"; do vals+=("${STAGE[$s]}"); done
  vals+=("$SUM" "$OTHER" "$RESULT")
  echo "${vals[*]}" >>"$results"
  # shellcheck disable=SC2059
  printf "$row_format" "${vals[@]}"
done

# median COLUMN: the median of a column of the results (1-based, as cols).
median() {
  cut -d' ' -f"$1" "$results" | sort -n |
    awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%d\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
declare -A M
for ((c = 2; c <= ${#cols[@]}; c++)); do M[${cols[c - 1]}]=$(median "$c"); done
# shellcheck disable=SC2059
printf "$row_format" median "${M[direct]}" "${M[sandbox]}" "${M[order]}" "${M[create]}" \
  "${M[fetch]}" "${M[verify]}" "${M[decrypt]}" "${M[run]}" "${M[encrypt]}" "${M[upload]}" "${M[wipe]}" "${M[publish]}" \
  "${M[stages]}" "${M[other]}" "${M[result]}"

sec() { awk -v ms="$1" 'BEGIN { printf "%.3f s", ms / 1000 }'; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%+.1f%%", 100 * a / b; else print "n/a" }'; }
mbps() { awk -v ms="$1" -v b="$INPUT_BYTES" 'BEGIN { if (ms > 0) printf "%.0f MB/s", b / ms / 1000; else print "-" }'; }
overhead=$((M[order] - M[direct]))
budget=$((M[direct] / 10 + 300))
loader_own=$((M[stages] - M[run]))
echo
echo "summary ($ENGINE, $(numfmt --to=iec "$INPUT_BYTES") input, medians of $ROUNDS rounds):"
printf '  %-44s %12s\n' "direct (engine on the plaintext)" "$(sec "${M[direct]}")"
printf '  %-44s %12s  %s vs direct\n' "ward engine run (sandbox, no crypto)" "$(sec "${M[sandbox]}")" \
  "$(pct $((M[sandbox] - M[direct])) "${M[direct]}")"
printf '  %-44s %12s  %s vs direct\n' "confidential order, end to end" "$(sec "${M[order]}")" \
  "$(pct "$overhead" "${M[direct]}")"
printf '    %-42s %12s\n' "orders create (client checks + ledger)" "$(sec "${M[create]}")"
for s in "${STAGES[@]}"; do
  extra=
  case $s in
    fetch) extra="the grants" ;;
    decrypt) extra="fetch + SHA-256 + decrypt + SHA-256 in one pass, $(mbps "${M[decrypt]}")" ;;
    run) extra="$(pct $((M[run] - M[direct])) "${M[direct]}") vs direct" ;;
  esac
  printf '    %-42s %12s%s\n' "loader: $s" "$(sec "${M[$s]}")" "${extra:+  $extra}"
done
printf '    %-42s %12s\n' "loader: all stages" "$(sec "${M[stages]}")"
printf '    %-42s %12s\n' "other (polls, orders.start, wait)" "$(sec "${M[other]}")"
printf '  %-44s %12s\n' "result download + decrypt (carol, apart)" "$(sec "${M[result]}")"
printf '  %-44s %12s  per round: %s\n' "overhead = order - direct" "$(sec "$overhead")" \
  "$(awk '{ printf "%s%.3f", (NR > 1 ? ", " : ""), ($4 - $2) / 1000 } END { print " s" }' "$results")"
printf '  %-44s %12s\n' "  of which the loader's own stages (not run)" "$(sec "$loader_own")"
printf '  %-44s %12s\n' "budget = 10% of direct + 300 ms" "$(sec "$budget")"
if ((overhead <= budget)); then
  echo "goal met: order <= 1.10 x direct + 300 ms"
  status=0
else
  echo "goal NOT met: order <= 1.10 x direct + 300 ms (over by $(sec $((overhead - budget))))"
  status=1
fi
[[ ${CHECK:-0} == 1 ]] && exit "$status"
exit 0
