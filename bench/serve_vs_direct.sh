#!/usr/bin/env bash
# A confidential service against the same engine reached directly, in one run
# (issue 11's goal: through `ward proxy` + gateway >= 85% of direct
# throughput with keep-alive, and <= 0.5 ms added p50 latency).
#
# usage: bench/serve_vs_direct.sh [SECONDS]
#   SECONDS=10        each wrk run
#   CONNECTIONS=16    wrk's keep-alive connections (2 threads)
#   WARD=build/src/cli/ward (ward-loader next to it)
#   PAYLOAD=build/tests/unit/engine/engine_test_payload (the engine: `serve`)
#   CONNECT_BENCH=build/bench/serve_connect_bench
#
# What runs, all on this machine (run it as root: the loader enters the
# engine's network namespace):
#   engine   the static test engine's `serve` mode: HTTP/1.1 keep-alive,
#            GET /ping ("pong"), GET /stream (server-sent events, chunked).
#   direct   that engine run as a plain process on 127.0.0.1.
#   gateway  the same engine as a service order on a simulated CVM: a
#            ledger, a CA and a node started here, the engine packed,
#            uploaded, granted --serve and ordered --serve; wrk talks TLS to
#            the loader's gateway (no client-side verification: what the
#            TLS and the relay into the sandbox cost).
#   proxy    `ward proxy` in front of the gateway: what a client runs, with
#            verification on every new upstream connection.
#   metered  the same engine as a service for subscribers (price 0): the
#            proxy signs every request with the client's key and checks and
#            keeps every receipt; the gateway checks the signature, the
#            nonce, the subscription, counts, and signs a receipt.
# Then: the first byte of a streamed response (curl, median of 20), direct
# and through the proxy; and new verified connections per second
# (serve_connect_bench: full checks, and a certificate already verified).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DURATION=${1:-${SECONDS_EACH:-10}}
CONNECTIONS=${CONNECTIONS:-16}
WARD=$(realpath "${WARD:-$ROOT/build/src/cli/ward}")
PAYLOAD=$(realpath "${PAYLOAD:-$ROOT/build/tests/unit/engine/engine_test_payload}")
CONNECT_BENCH=$(realpath "${CONNECT_BENCH:-$ROOT/build/bench/serve_connect_bench}")
LOADER=$(dirname "$WARD")/ward-loader
die() {
  echo "serve_vs_direct: $*" >&2
  exit 1
}
[[ -x $WARD && -x $LOADER && -x $PAYLOAD && -x $CONNECT_BENCH ]] ||
  die "build ward, ward-loader, engine_test_payload and serve_connect_bench first"
command -v wrk >/dev/null || die "wrk is missing (Debian package wrk; scripts/setup.sh installs it)"
((EUID == 0)) || die "run as root (the loader reaches the engine inside its sandbox's network namespace)"

TMP=$(mktemp -d /dev/shm/ward-serve-bench.XXXXXX)
chmod 711 "$TMP"
PIDS=()
cleanup() {
  set +e
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
  rm -rf "$TMP"
}
trap cleanup EXIT
cd "$TMP"

start() { # start NAME CMD...: runs CMD in the background, waits for its first stdout line, sets URL
  local name=$1
  shift
  "$@" >"$name.out" 2>"$name.err" &
  PIDS+=($!)
  for ((i = 0; i < 200; i++)); do
    [[ -s $name.out ]] && break
    kill -0 "${PIDS[-1]}" 2>/dev/null || die "$name exited: $(cat "$name.err")"
    sleep 0.05
  done
  URL=$(head -n1 "$name.out")
}
"$WARD" ledger init --db l.db --dev >/dev/null
start ledger "$WARD" ledger serve --db l.db --listen 127.0.0.1:0
L=$URL
"$WARD" ca init --dir ca >/dev/null
echo '{"allow_simulated": true}' >ca-policy.json
start ca "$WARD" ca serve --dir ca --policy ca-policy.json --listen 127.0.0.1:0
CA=$URL
for p in carol provider alice; do
  "$WARD" keys new -o "$p.key" >/dev/null 2>&1
  "$WARD" accounts register --ledger "$L" --key "$p.key" --name "$p" >/dev/null
done
"$WARD" accounts fund --ledger "$L" --key carol.key --to "$("$WARD" keys show --json carol.key | jq -r .signing_public_key)" \
  --amount 1000 >/dev/null
"$WARD" node run --ledger "$L" --key provider.key --store "$TMP/store" --ca "$CA" --platform sim --cvms 1 \
  --dir node --work "$TMP/work" >node.out 2>&1 &
PIDS+=($!)
for ((i = 0; i < 300; i++)); do
  [[ $("$WARD" node cvms --ledger "$L" --json | jq '.cvms | length') == 1 ]] && break
  sleep 0.1
done
CVM=$("$WARD" ca verify node/cvm-0/cvm.pem --ca-cert ca/ca.pem --policy ca-policy.json --json | jq -r .cvm_id)
MRTD=$(sha384sum "$LOADER" | cut -d' ' -f1)
echo "{\"allow_simulated\": true, \"measurements\": {\"mrtd\": [\"$MRTD\"]}}" >policy.json

mkdir eng
cp "$PAYLOAD" eng/engine
"$WARD" engine pack eng --entrypoint /engine --cmd serve --cmd 8080 --serve-port 8080 -o engine.tar >/dev/null
"$WARD" files upload engine.tar --key carol.key --store "$TMP/store" -o engine.res.json >/dev/null
ENGINE=$(jq -r .resource.engine engine.res.json)
"$WARD" files grant engine.res.json --key carol.key --ledger "$L" --cvm "$CVM" --engine "$ENGINE" --serve \
  --ca-cert ca/ca.pem --policy policy.json -o g.json >/dev/null
ID=$("$WARD" orders create --ledger "$L" --key carol.key --cvm "$CVM" --engine engine.res.json --grant g.json \
  --serve --access public --deposit 10 --store "$TMP/store" --json | jq -r .order)
for ((i = 0; i < 300; i++)); do
  ENDPOINT=$("$WARD" orders get "$ID" --ledger "$L" --json | jq -r '.serve.endpoint // empty')
  [[ -n $ENDPOINT ]] && break
  sleep 0.1
done
[[ -n $ENDPOINT ]] || die "the service did not start: $(tail node.out)"
start proxy "$WARD" proxy --to "$ENDPOINT" --ledger "$L" --ca-cert ca/ca.pem --policy policy.json
PROXY=$URL
DIRECT_PORT=$((20000 + RANDOM % 10000))
"$PAYLOAD" serve "$DIRECT_PORT" &
PIDS+=($!)
DIRECT=http://127.0.0.1:$DIRECT_PORT
for ((i = 0; i < 100; i++)); do curl -sf "$DIRECT/ping" >/dev/null && break; sleep 0.05; done
[[ $(curl -sf "$PROXY/ping") == pong ]] || die "no pong through the proxy"

# wrk_run NAME URL: one wrk run; sets RPS, P50, P99 (ms).
declare -A RPS P50 P99
ms() { # "123.45us" | "1.20ms" | "2.00s" -> milliseconds
  awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0; else if (v ~ /s$/) n *= 1000; printf "%.3f", n }'
}
wrk_run() {
  local out
  out=$(wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency "$2/ping")
  RPS[$1]=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
  P50[$1]=$(ms "$(awk '$1 == "50%" { print $2 }' <<<"$out")")
  P99[$1]=$(ms "$(awk '$1 == "99%" { print $2 }' <<<"$out")")
}
wrk_run direct "$DIRECT"
wrk_run gateway "$ENDPOINT"
wrk_run proxy "$PROXY"

first_byte() { # median seconds to the first byte of a 5-event stream, 20 runs
  for ((i = 0; i < 20; i++)); do
    curl -sN -o /dev/null -w '%{time_starttransfer}\n' "$1/stream?n=5&ms=50"
  done | sort -n | sed -n 10p
}
FB_DIRECT=$(first_byte "$DIRECT")
FB_PROXY=$(first_byte "$PROXY")

# The same engine as a paid service (price 0), through the proxy with a key.
"$WARD" orders cancel "$ID" --ledger "$L" --key carol.key >/dev/null
"$WARD" orders wait "$ID" --ledger "$L" --timeout 60 >/dev/null
ID=$("$WARD" orders create --ledger "$L" --key carol.key --cvm "$CVM" --engine engine.res.json --grant g.json \
  --serve --access subscribers --deposit 10 --store "$TMP/store" --json | jq -r .order)
"$WARD" accounts fund --ledger "$L" --key alice.key --to "$("$WARD" keys show --json alice.key | jq -r .signing_public_key)" \
  --amount 10 >/dev/null
"$WARD" services subscribe "$ID" --deposit 1 --ledger "$L" --key alice.key >/dev/null
for ((i = 0; i < 300; i++)); do
  METERED_ENDPOINT=$("$WARD" orders get "$ID" --ledger "$L" --json | jq -r '.serve.endpoint // empty')
  [[ -n $METERED_ENDPOINT ]] && break
  sleep 0.1
done
[[ -n $METERED_ENDPOINT ]] || die "the metered service did not start: $(tail node.out)"
start metered "$WARD" proxy --to "$METERED_ENDPOINT" --ledger "$L" --ca-cert ca/ca.pem --policy policy.json \
  --key alice.key --receipts "$TMP/receipts.jsonl"
METERED=$URL
for ((i = 0; i < 50; i++)); do [[ $(curl -s "$METERED/ping") == pong ]] && break; sleep 0.1; done
[[ $(curl -s "$METERED/ping") == pong ]] || die "no pong through the metered proxy"
wrk_run metered "$METERED"

echo "serve_vs_direct: /ping, wrk -t2 -c$CONNECTIONS -d${DURATION}s (keep-alive), on $(nproc) cores"
printf '%-8s %10s %9s %9s\n' path req/s p50_ms p99_ms
for k in direct gateway proxy metered; do printf '%-8s %10s %9s %9s\n' "$k" "${RPS[$k]}" "${P50[$k]}" "${P99[$k]}"; done
awk -v d="${RPS[direct]}" -v p="${RPS[proxy]}" -v dp="${P50[direct]}" -v pp="${P50[proxy]}" \
  'BEGIN { printf "proxy+gateway: %.1f%% of direct throughput (goal >= 85%%), p50 %+.3f ms (goal <= +0.5 ms)\n", 100 * p / d, pp - dp }'
awk -v d="$FB_DIRECT" -v p="$FB_PROXY" \
  'BEGIN { printf "first byte of a streamed response (median of 20): direct %.2f ms, proxy+gateway %.2f ms\n", d * 1000, p * 1000 }'
echo "metered: $(wc -l <"$TMP/receipts.jsonl") receipts kept (each naming the verified key, order and account)"
"$CONNECT_BENCH" "$METERED_ENDPOINT" "$L" ca/ca.pem policy.json 5
