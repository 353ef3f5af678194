#!/usr/bin/env bash
# A confidential LLM against the same llama-server reached directly, in one
# run (issue 12's goal: through `ward proxy` + gateway >= 95% of direct
# generation tokens/s, and <= 5 ms added time to first token).
#
# usage: bench/llm_vs_direct.sh [RUNS]
#   RUNS=20            sequential streams per path (medians reported)
#   MAX_TOKENS=256     tokens generated per stream (ignore_eos, greedy)
#   SECONDS_EACH=10    each concurrent run
#   CONCURRENCY=8      streams at a time in the concurrent runs
#   THREADS=1          llama-server's threads, direct and served alike: on
#                      this 2-core machine the toy model generates fastest on
#                      one (about 2,300 tokens/s, against 2,000 on two, where
#                      the threads' synchronisation costs more than it gains)
#   MODEL=../shared/models/stories260K.gguf
#   WARD=build/src/cli/ward (ward-loader and ward-llm next to it)
#
# What runs, all on this machine (as root: the loader enters the engine's
# network namespace), with the same llama-server binary, model, context and
# slots (--ctx-size 4096 --parallel 8), threads (THREADS) and --poll 0 (what
# engines/llm's launcher sets; LLAMA_ARGS adds options to both):
#   direct   llama-server as a plain process on 127.0.0.1, the model read
#            from a plain file;
#   proxy    the LLM engine image (scripts/pack-llm-engine.sh) as a service
#            order on a simulated CVM (ledger, CA and node started here),
#            reached through `ward proxy`, which verified the endpoint:
#            TLS into the CVM, the gateway, the relay into the sandbox;
#   metered  the same with a paid service: the proxy signs every request with
#            Alice's key and keeps every receipt; the gateway checks the
#            signature, the nonce and the subscription, asks the stream for
#            its usage, counts it and signs a receipt.
# The client is bench/llm_stream_bench.mjs (Node's fetch).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNS=${1:-20}
MAX_TOKENS=${MAX_TOKENS:-256}
SECONDS_EACH=${SECONDS_EACH:-10}
CONCURRENCY=${CONCURRENCY:-8}
THREADS=${THREADS:-1}
WARD=$(realpath "${WARD:-$ROOT/build/src/cli/ward}")
LOADER=$(dirname "$WARD")/ward-loader
MODEL=$(realpath "${MODEL:-$ROOT/../shared/models/stories260K.gguf}")
CLIENT=$ROOT/bench/llm_stream_bench.mjs
BENCH=llm_vs_direct
source "$ROOT/bench/service_lib.sh"
[[ -x $WARD && -x $LOADER && -x $(dirname "$WARD")/ward-llm ]] || die "build ward, ward-loader and ward-llm first"
[[ -f $MODEL ]] || die "no model $MODEL"
LLAMA=$("$ROOT/scripts/build-llama.sh")
SLOTS=(--ctx-size 4096 --parallel "$CONCURRENCY" --threads "$THREADS" --threads-batch "$THREADS" ${LLAMA_ARGS:-})
NODE_ARGS="--memory-limit 2048"
start_world

WARD=$WARD "$ROOT/scripts/pack-llm-engine.sh" llm.tar "${SLOTS[@]}" >/dev/null
ENGINE=
upload_and_grant llm.tar engine
cp "$MODEL" model.gguf
upload_and_grant model.gguf model
MODEL_SHA=$(jq -r .resource.plaintext_sha256 model.res.json)
serve_order engine --grant engine.grant.json --grant model.grant.json --access public --deposit 10
start proxy "$WARD" proxy --to "$ENDPOINT" --ledger "$L" --ca-cert ca/ca.pem --policy policy.json \
  --engine "$ENGINE" --model "$MODEL_SHA"
PROXY=$URL

DIRECT_PORT=$((20000 + RANDOM % 10000))
"$LLAMA/bin/llama-server" -m model.gguf --host 127.0.0.1 --port "$DIRECT_PORT" --poll 0 --no-webui "${SLOTS[@]}" \
  >direct.log 2>&1 &
PIDS+=($!)
DIRECT=http://127.0.0.1:$DIRECT_PORT
ready() { # ready URL: llama-server answers 503 while it loads
  for ((i = 0; i < 200; i++)); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' "$1/v1/models") == 200 ]] && return 0
    sleep 0.05
  done
  die "$1 is not ready"
}
ready "$DIRECT"
ready "$PROXY"
export CONCURRENCY

# measure NAME URL: NAME's stream interleaved with direct ones, then both
# under CONCURRENCY streams; SEQ[NAME] and CONC[NAME] hold the JSON.
declare -A SEQ CONC
measure() {
  SEQ[$1]=$(node "$CLIENT" sequential "$RUNS" "$MAX_TOKENS" direct="$DIRECT" "$1=$2")
  CONC[$1]=$(node "$CLIENT" concurrent "$SECONDS_EACH" "$MAX_TOKENS" "$CONCURRENCY" direct="$DIRECT" "$1=$2")
}
measure proxy "$PROXY"

# The same engine as a paid service, through the proxy with Alice's key.
"$WARD" orders cancel "$ID" --ledger "$L" --key carol.key >/dev/null
"$WARD" orders wait "$ID" --ledger "$L" --timeout 60 >/dev/null
serve_order engine --grant engine.grant.json --grant model.grant.json --access subscribers \
  --price-per-1k-tokens 1 --deposit 10
"$WARD" services subscribe "$ID" --deposit 900 --ledger "$L" --key alice.key >/dev/null
start metered "$WARD" proxy --to "$ENDPOINT" --ledger "$L" --ca-cert ca/ca.pem --policy policy.json \
  --engine "$ENGINE" --model "$MODEL_SHA" --key alice.key --receipts "$TMP/receipts.jsonl"
METERED=$URL
for ((i = 0; i < 100; i++)); do
  [[ $(curl -s -o /dev/null -w '%{http_code}' "$METERED/v1/models") == 200 ]] && break
  sleep 0.1
done
measure metered "$METERED"

echo "llm_vs_direct: $(basename "$MODEL"), $MAX_TOKENS tokens a stream, greedy, $THREADS llama thread(s), on $(nproc) cores;" \
  "medians of $RUNS streams each, interleaved with direct ones"
printf '%-16s %9s %11s %11s %11s %11s %11s\n' path ttft_ms e2e_tok/s gen_tok/s server_tok/s \
  "${CONCURRENCY}x_req/s" "${CONCURRENCY}x_tok/s"
row() { # row LABEL SEQ_JSON CONC_JSON KEY
  jq -rn --arg l "$1" --argjson s "$2" --argjson c "$3" --arg k "$4" \
    '"\($l)\t\($s[$k].ttft_ms)\t\($s[$k].e2e_tokens_per_s)\t\($s[$k].gen_tokens_per_s)\t\($s[$k].server_tokens_per_s)\t\($c[$k].requests_per_s)\t\($c[$k].tokens_per_s)"' |
    awk -F'\t' '{ printf "%-16s %9.2f %11.1f %11.1f %11.1f %11.2f %11.1f\n", $1, $2, $3, $4, $5, $6, $7 }'
}
for k in proxy metered; do
  row "direct" "${SEQ[$k]}" "${CONC[$k]}" direct
  row "$k" "${SEQ[$k]}" "${CONC[$k]}" "$k"
done
for k in proxy metered; do
  jq -rn --argjson s "${SEQ[$k]}" --argjson c "${CONC[$k]}" --arg k "$k" '
    def pct(a; b): (100 * a / b * 10 | round / 10);
    "\($k): \(pct($s[$k].e2e_tokens_per_s; $s.direct.e2e_tokens_per_s))% of direct tokens/s end to end, " +
    "\(pct($s[$k].gen_tokens_per_s; $s.direct.gen_tokens_per_s))% generating (goal >= 95%); " +
    "time to first token \(($s[$k].ttft_ms - $s.direct.ttft_ms) * 100 | round / 100) ms more (goal <= 5 ms); " +
    "\(pct($c[$k].requests_per_s; $c.direct.requests_per_s))% of direct requests/s with \(env.CONCURRENCY) streams"'
done
echo "metered: $(wc -l <"$TMP/receipts.jsonl") receipts kept; the last counts $(tail -1 "$TMP/receipts.jsonl" |
  jq -r '.receipt | split(".")[0] | @base64d | fromjson | .tokens') tokens"
