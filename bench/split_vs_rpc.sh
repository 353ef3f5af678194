#!/usr/bin/env bash
# Split inference (issue 14): generation tokens/s of one model split over 2
# and 3 simulated CVMs through Ward's attested tunnels, against llama.cpp's
# RPC over plain loopback with the same split, and against one llama-server.
# Goal (the issue): the tunnels cost <= 10% against plain RPC.
#
# usage: bench/split_vs_rpc.sh [ROUNDS]
#   ROUNDS=5           completions per setup (medians reported)
#   MAX_TOKENS=128     tokens generated per completion (ignore_eos, greedy)
#   MODEL=../shared/models/stories260K.gguf
#   WARD=build/src/cli/ward (ward-loader and ward-llm next to it)
#
# Every setup runs the same llama-server and rpc-server binaries
# (scripts/build-llama.sh), model, context (--ctx-size 512 --parallel 1),
# threads (as many as the machine has CPUs, as ward-llm sets) and --poll 0,
# all on this machine:
#   one      llama-server alone;
#   rpc N    N-1 rpc-servers on 127.0.0.1 and llama-server --rpc on them,
#            every layer offloaded (--n-gpu-layers 999): llama.cpp's own split;
#   ward N   a split service order over N CVMs of N nodes (ledger, CA, key
#            broker and nodes started here): the workers' rpc-servers in
#            their sandboxes, llama-server in the head's, every RPC byte
#            through a TLS 1.3 tunnel between loaders that verified each
#            other's CVM certificate and evidence.
# The figure is llama-server's own timings.predicted_per_second, so the TLS
# gateway into the head (the same in a one-CVM service) is not counted; the
# RPC round trips of every token are.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROUNDS=${1:-5}
MAX_TOKENS=${MAX_TOKENS:-128}
MODEL=$(realpath "${MODEL:-$ROOT/../shared/models/stories260K.gguf}")
WARD=$(realpath "${WARD:-$ROOT/build/src/cli/ward}")
LOADER=$(dirname "$WARD")/ward-loader
BENCH=split_vs_rpc
export WARD LOADER
LLAMA=$("$ROOT/scripts/build-llama.sh")
THREADS=$(nproc)
COMMON=(--ctx-size 512 --parallel 1 --threads "$THREADS" --threads-batch "$THREADS" --poll 0 --no-webui)
source "$ROOT/bench/service_lib.sh"

# tps URL [CURL_ARGS...]: the median of ROUNDS completions' generation tokens/s.
tps() {
  local url=$1 r all=()
  shift
  for ((r = 0; r < ROUNDS + 1; r++)); do
    local out
    out=$(curl -sf "$@" "$url/v1/completions" -H 'content-type: application/json' \
      -d "{\"prompt\": \"Once upon a time\", \"max_tokens\": $MAX_TOKENS, \"temperature\": 0, \"ignore_eos\": true}") ||
      die "completion at $url failed"
    ((r == 0)) && continue  # the first warms the caches
    all+=("$(jq -r .timings.predicted_per_second <<<"$out")")
  done
  printf '%s\n' "${all[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.0f", a[int((NR+1)/2)]}'
}
wait_health() { # wait_health PORT PID
  for ((i = 0; i < 300; i++)); do
    curl -sf "http://127.0.0.1:$1/health" >/dev/null 2>&1 && return 0
    kill -0 "$2" 2>/dev/null || die "llama-server exited: $(tail -5 llama.err)"
    sleep 0.1
  done
  die "llama-server did not become healthy: $(tail -5 llama.err)"
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

WITH_KMS=1 start_world
declare -A RESULT
# Plain llama.cpp: one server, then the split over 1 and 2 rpc-servers.
for n in 1 2 3; do
  pids=() rpc=()
  for ((w = 1; w < n; w++)); do
    port=$(free_port)
    "$LLAMA/bin/rpc-server" --host 127.0.0.1 --port "$port" --threads "$THREADS" >"rpc$w.out" 2>&1 &
    pids+=($!)
    rpc+=("127.0.0.1:$port")
    for ((i = 0; i < 100; i++)); do (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.05; done
  done
  port=$(free_port)
  extra=()
  ((n > 1)) && extra=(--rpc "$(IFS=,; echo "${rpc[*]}")" --n-gpu-layers 999)
  "$LLAMA/bin/llama-server" -m "$MODEL" --host 127.0.0.1 --port "$port" "${COMMON[@]}" "${extra[@]}" \
    >llama.out 2>llama.err &
  pids+=($!)
  wait_health "$port" "${pids[-1]}"
  RESULT[plain$n]=$(tps "http://127.0.0.1:$port")
  kill "${pids[@]}"; wait "${pids[@]}" 2>/dev/null || true
done

# Ward: two more nodes, the engine and model granted to the broker, and a
# split service order over 2, then 3 CVMs.
for n in w1 w2; do
  "$WARD" node run --ledger "$L" --key provider.key --store "$TMP/store" --ca "$CA" --platform sim --cvms 1 \
    --dir "$n" --work "$TMP/work-$n" --kms "$KMS" >"$n.out" 2>&1 &
  PIDS+=($!)
done
for ((i = 0; i < 300; i++)); do
  [[ $("$WARD" node cvms --ledger "$L" --json | jq '.cvms | length') == 3 ]] && break
  sleep 0.1
done
cvm_of() { "$WARD" ca verify "$1/cvm-0/cvm.pem" --ca-cert ca/ca.pem --policy ca-policy.json --json | jq -r .cvm_id; }
W1=$(cvm_of w1)
W2=$(cvm_of w2)
WARD=$WARD "$ROOT/scripts/pack-llm-engine.sh" llm.tar --ctx-size 512 --parallel 1 >/dev/null
cp "$MODEL" model.gguf
for r in llm.tar model.gguf; do
  "$WARD" files upload "$r" --key carol.key --store "$TMP/store" -o "$r.res.json" >/dev/null
done
ENGINE=$(jq -r .resource.engine llm.tar.res.json)
for r in llm.tar model.gguf; do
  "$WARD" files grant "$r.res.json" --key carol.key --ledger "$L" --broker "$KMS" --cvm-policy policy.json \
    --policy broker-policy.json --engine "$ENGINE" --serve --ca-cert ca/ca.pem -o "$r.grant.json" >/dev/null
done
for n in 2 3; do
  workers=(--worker "$W1")
  ((n == 3)) && workers+=(--worker "$W2")
  serve_order llm.tar "${workers[@]}" --grant llm.tar.grant.json --grant model.gguf.grant.json --access public \
    --deposit 10
  for ((i = 0; i < 300; i++)); do curl -skf "$ENDPOINT/health" >/dev/null && break; sleep 0.1; done
  RESULT[ward$n]=$(tps "$ENDPOINT" -k)
  "$WARD" orders cancel "$ID" --ledger "$L" --key carol.key >/dev/null
  for ((i = 0; i < 300; i++)); do
    [[ $("$WARD" orders get "$ID" --ledger "$L" --json | jq -r .status) == done ]] && break
    sleep 0.1
  done
done

echo "generation tokens/s, median of $ROUNDS completions of $MAX_TOKENS tokens, $THREADS threads per process:"
printf '  one llama-server            %6s\n' "${RESULT[plain1]}"
for n in 2 3; do
  p=${RESULT[plain$n]} w=${RESULT[ward$n]}
  printf '  split over %s, plain RPC     %6s\n' "$n" "$p"
  printf '  split over %s CVMs, tunnels  %6s  (%s%% of plain RPC; goal >= 90%%: %s)\n' "$n" "$w" \
    "$(awk -v w="$w" -v p="$p" 'BEGIN { printf "%.0f", 100 * w / p }')" \
    "$(awk -v w="$w" -v p="$p" 'BEGIN { print (w >= 0.9 * p) ? "met" : "missed" }')"
done
