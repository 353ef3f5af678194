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
BENCH=serve_vs_direct
source "$ROOT/bench/service_lib.sh"
[[ -x $WARD && -x $LOADER && -x $PAYLOAD && -x $CONNECT_BENCH ]] ||
  die "build ward, ward-loader, engine_test_payload and serve_connect_bench first"
command -v wrk >/dev/null || die "wrk is missing (Debian package wrk; scripts/setup.sh installs it)"
start_world

mkdir eng
cp "$PAYLOAD" eng/engine
"$WARD" engine pack eng --entrypoint /engine --cmd serve --cmd 8080 --serve-port 8080 -o engine.tar >/dev/null
upload_and_grant engine.tar engine
serve_order engine --grant engine.grant.json --access public --deposit 10
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
serve_order engine --grant engine.grant.json --access subscribers --deposit 10
"$WARD" services subscribe "$ID" --deposit 1 --ledger "$L" --key alice.key >/dev/null
METERED_ENDPOINT=$ENDPOINT
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
