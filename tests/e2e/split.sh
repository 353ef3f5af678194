#!/usr/bin/env bash
# Split inference over attested tunnels (issue 14), through the real
# binaries: a ledger, a certification center, a key broker and three nodes of
# one provider. Carol packs llama.cpp as an engine, grants it and her model
# (stories260K) to the broker, and orders one service over three CVMs: the
# head runs llama-server --rpc, the two workers run rpc-server in their
# sandboxes, and every byte between them goes through mutually attested TLS
# tunnels their loaders set up. Greedy decoding gives the same text as
# llama-server alone on the plaintext model; `ward serve verify` and
# `ward orders verify` check every CVM of the order; a worker's tunnel refuses
# a client without a certificate, a self-signed one, a real CVM holding a
# tunnel certificate for another order, and a real CVM the order does not
# list; a grant to one CVM cannot feed a split order; and losing a worker
# fails the order, naming the worker.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ROOT=$(cd "$E2E_DIR/../.." && pwd)
LOADER=$(dirname "$WARD")/ward-loader
[[ -x $LOADER ]] || fail "no ward-loader next to $WARD"
MODEL=$ROOT/../shared/models/stories260K.gguf
[[ -f $MODEL ]] || fail "no $MODEL (the shared models folder)"
((EUID == 0)) || { echo "skip: serving needs root (the loader enters the engine's network namespace)"; exit 0; }
LLAMA=$("$ROOT/scripts/build-llama.sh") || fail "scripts/build-llama.sh failed"
chmod 711 "$TMP"

NODES=()
PROXY=
DIRECT=
cleanup() {
  trap - ERR
  set +e
  for p in $PROXY $DIRECT; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  for pid in "${NODES[@]}"; do kill -TERM -- "-$pid" 2>/dev/null; done
  for pid in "${NODES[@]}"; do wait "$pid" 2>/dev/null; done
  # WARD_E2E_LOGS=DIR keeps the nodes' logs (sanitizer reports land there).
  [[ -z ${WARD_E2E_LOGS:-} ]] || cp ./*.out "$WARD_E2E_LOGS"/
  stop_servers
  rm -rf "$TMP"
}
trap cleanup EXIT

start_ledger_and_ca
register_parties alice carol provider
for p in alice carol; do
  "$WARD" accounts fund --ledger "$L" --key "$p.key" --to "$(account "$p")" --amount 1000 >/dev/null
done
STORE=$TMP/store
start_kms
echo "{\"allow_simulated\": true, \"measurements\": {\"mrtd\": [\"$(sha384sum "$LOADER" | cut -d' ' -f1)\"]}}" \
  >policy.json

# start_node NAME: one node of the provider with one CVM on its tee offer,
# in its own process group (kill_node kills it whole).
TEE=$("$WARD" offers create --ledger "$L" --key provider.key --kind tee --name sim --resource sim \
  --price fixed:0 --json | jq -r .index)
declare -A NODE_PID
start_node() {
  setsid "$WARD" node run --ledger "$L" --key provider.key --store "$STORE" --ca "$CA" --platform sim --cvms 1 \
    --offer "$TEE" --dir "$1" --work "$TMP/work-$1" --kms "$KMS" --memory-limit 1024 >>"$1.out" 2>&1 &
  NODES+=($!)
  NODE_PID[$1]=$!
}
kill_node() { kill -KILL -- "-${NODE_PID[$1]}"; wait "${NODE_PID[$1]}" 2>/dev/null || true; }
for n in h w1 w2; do start_node "$n"; done
for ((i = 0; i < 300; i++)); do
  (($("$WARD" node cvms --ledger "$L" --json | jq '.cvms | length') == 3)) && break
  sleep 0.1
done
(($("$WARD" node cvms --ledger "$L" --json | jq '.cvms | length') == 3)) ||
  fail "the nodes did not list 3 CVMs: $(cat h.out w1.out w2.out)"
cvm_of() { "$WARD" ca verify "$1/cvm-0/cvm.pem" --ca-cert ca/ca.pem --policy ca-policy.json --json | jq -r .cvm_id; }
H=$(cvm_of h)
W1=$(cvm_of w1)
W2=$(cvm_of w2)

WARD=$WARD "$ROOT/scripts/pack-llm-engine.sh" llm.tar --ctx-size 512 --parallel 1 >pack.out ||
  fail "pack-llm-engine: $(cat pack.out)"
mkdir own
cp "$MODEL" own/stories260K.gguf
"$WARD" files upload llm.tar --key carol.key --store "$STORE" -o engine.res.json >/dev/null
ENGINE=$(jq -r .resource.engine engine.res.json)
"$WARD" files upload own/stories260K.gguf --key carol.key --store "$STORE" -o model.res.json >/dev/null
grant() { # grant RES OUT
  "$WARD" files grant "$1" --key carol.key --ledger "$L" --broker "$KMS" --cvm-policy policy.json \
    --policy broker-policy.json --engine "$ENGINE" --serve --ca-cert ca/ca.pem -o "$2" >/dev/null ||
    fail "granting $1 to the broker"
}
grant engine.res.json g-engine.json
grant model.res.json g-model.json
order_json() { "$WARD" orders get "$1" --ledger "$L" --json; }
wait_status() { # wait_status ID STATUS
  for ((i = 0; i < 600; i++)); do
    [[ $(order_json "$1" | jq -r .status) == "$2" ]] && return 0
    sleep 0.1
  done
  fail "order $1 is $(order_json "$1" | jq -c '{status, error}'), not $2: $(tail -20 h.out)"
}
split_order() {
  "$WARD" orders create --ledger "$L" --key carol.key --cvm "$H" --worker "$W1" --worker "$W2" \
    --engine engine.res.json --grant "$1" --grant g-model.json --serve --access public --deposit 10 \
    --store "$STORE" --json | jq -r .order
}

# A grant to one CVM would send what it grants to CVMs its owner never
# named: the head refuses to start the order.
"$WARD" files grant engine.res.json --key carol.key --ledger "$L" --cvm "$H" --engine "$ENGINE" --serve \
  --ca-cert ca/ca.pem --policy policy.json -o g-one.json >/dev/null
ONE=$(split_order g-one.json)
wait_status "$ONE" error
order_json "$ONE" | jq -r .error | grep -q "to this CVM alone" || fail "order $ONE: $(order_json "$ONE" | jq .error)"
pass "a split order with a grant to one CVM fails: $(order_json "$ONE" | jq -r .error | cut -c1-120)"

ID=$(split_order g-engine.json)
for ((i = 0; i < 600; i++)); do
  ENDPOINT=$(order_json "$ID" | jq -r '.serve.endpoint // empty')
  [[ -n $ENDPOINT ]] && break
  [[ $(order_json "$ID" | jq -r .status) == error ]] && fail "order $ID failed: $(order_json "$ID" | jq .error)"
  sleep 0.1
done
[[ -n $ENDPOINT ]] || fail "order $ID did not start serving: $(tail -20 h.out w1.out w2.out)"
order_json "$ID" >order.json
jq -e --arg a "$W1" --arg b "$W2" '[.serve.workers[].cvm] == [$a, $b] and all(.serve.workers[]; .endpoint != null)' \
  order.json >/dev/null || fail "the ledger's workers: $(jq -c .serve.workers order.json)"
(($(grep -c "verified" h.out) >= 2)) || fail "the head did not verify its workers: $(tail h.out)"
pass "split order $ID serves at $ENDPOINT, head ${H:0:16}, workers joined at $(jq -r '[.serve.workers[].endpoint] | join(", ")' order.json)"

"$WARD" serve verify "$ENDPOINT" --ledger "$L" --ca-cert ca/ca.pem --policy policy.json --engine "$ENGINE" \
  >verify.txt || fail "serve verify: $(cat verify.txt)"
grep -Eq 'ok +service\.workers: 2 worker' verify.txt || fail "serve verify did not check the workers: $(cat verify.txt)"
pass "ward serve verify checks the head and both workers' certificates and evidence"

# The same prompt, greedy, through the proxy and straight to llama-server.
"$WARD" proxy --to "$ENDPOINT" --ledger "$L" --ca-cert ca/ca.pem --policy policy.json --engine "$ENGINE" \
  >proxy.out 2>proxy.err &
PROXY=$!
for ((i = 0; i < 100; i++)); do
  [[ -s proxy.out ]] && break
  sleep 0.1
done
PROXY_URL=$(head -n1 proxy.out)
[[ $PROXY_URL =~ ^http://127\.0\.0\.1:[0-9]+$ ]] || fail "ward proxy: $(cat proxy.out proxy.err)"
PROMPT="Once upon a time, there was a little"
complete() { # complete URL OUT
  local code
  for ((i = 0; i < 100; i++)); do
    code=$(curl -s -o "$2" -w '%{http_code}' "$1/v1/completions" -H 'content-type: application/json' \
      -d "$(jq -n --arg p "$PROMPT" '{prompt: $p, max_tokens: 48, temperature: 0}')")
    [[ $code == 200 ]] && return 0
    sleep 0.1
  done
  fail "completion at $1: HTTP $code $(cat "$2")"
}
complete "$PROXY_URL" split.json
DIRECT_PORT=$((30000 + RANDOM % 10000))
"$LLAMA/bin/llama-server" -m own/stories260K.gguf --host 127.0.0.1 --port "$DIRECT_PORT" --ctx-size 512 \
  --parallel 1 -t "$(nproc)" -tb "$(nproc)" --no-webui >direct.log 2>&1 &
DIRECT=$!
complete "http://127.0.0.1:$DIRECT_PORT" direct.json
kill "$DIRECT"; wait "$DIRECT" 2>/dev/null || true
DIRECT=
TEXT=$(jq -r '.choices[0].text' split.json)
[[ -n $TEXT && $TEXT == $(jq -r '.choices[0].text' direct.json) ]] ||
  fail "greedy text differs: split $(jq .choices[0].text split.json), one node $(jq .choices[0].text direct.json)"
pass "split over 3 CVMs, greedy text equals one llama-server's: \"$(cut -c1-60 <<<"$TEXT")...\""

# Attacks on a worker's tunnel, from the host's side of the network.
EP1=$(jq -r '.serve.workers[0].endpoint' order.json)
before=$(grep -c "refused a tunnel" w1.out || true)
timeout 10 openssl s_client -connect "$EP1" -quiet </dev/null >/dev/null 2>&1 || true
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout host.key -out host.pem -days 1 \
  -subj "/CN=order-$ID" >/dev/null 2>&1
timeout 10 openssl s_client -connect "$EP1" -cert host.pem -key host.key -quiet </dev/null >/dev/null 2>&1 || true
# Real CVMs of the same code: the head with a tunnel certificate for another
# order, and a worker of this order (the order lists only the head there).
"$WARD" tunnel probe "$EP1" --cvm-dir h/cvm-0 --ledger "$L" --order $((ID + 100)) --ca-cert ca/ca.pem \
  --engine "$ENGINE" --policy policy.json --expect "$W1" >probe-other.txt 2>&1 && fail "a head of another order got through: $(cat probe-other.txt)"
grep -q "refused" probe-other.txt || fail "tunnel probe (another order): $(cat probe-other.txt)"
"$WARD" tunnel probe "$EP1" --cvm-dir w2/cvm-0 --ledger "$L" --order "$ID" --ca-cert ca/ca.pem \
  --policy policy.json --expect "$W1" >probe-w2.txt 2>&1 && fail "a CVM that is not the head got through: $(cat probe-w2.txt)"
for ((i = 0; i < 50; i++)); do
  (($(grep -c "refused a tunnel" w1.out) >= before + 4)) && break
  sleep 0.1
done
(($(grep -c "refused a tunnel" w1.out) >= before + 4)) || fail "the worker did not refuse 4 peers: $(grep tunnel w1.out)"
grep -q "refused a tunnel peer: tls.chain" w1.out || fail "no tls.chain refusal: $(grep tunnel w1.out)"
grep -q "refused a tunnel peer: tunnel.order" w1.out || fail "no tunnel.order refusal: $(grep tunnel w1.out)"
grep -q "refused a tunnel peer: tunnel.member" w1.out || fail "no tunnel.member refusal: $(grep tunnel w1.out)"
# The head itself, as a probe, is let through: the check is not refusing everyone.
"$WARD" tunnel probe "$EP1" --cvm-dir h/cvm-0 --ledger "$L" --order "$ID" --ca-cert ca/ca.pem \
  --policy policy.json --expect "$W1" >probe-head.txt 2>&1 || fail "the order's head was refused: $(cat probe-head.txt)"
complete "$PROXY_URL" again.json
pass "a worker's tunnel refuses no certificate, a self-signed one, another order's head and a CVM it does not serve"

# The creator stops it: the final report lists the workers, and orders verify checks them.
"$WARD" orders cancel "$ID" --ledger "$L" --key carol.key >/dev/null
wait_status "$ID" done
"$WARD" orders verify "$ID" --ledger "$L" --ca-cert ca/ca.pem --policy policy.json --kms "$KMS" \
  --kms-policy broker-policy.json >orders-verify.txt || fail "orders verify: $(cat orders-verify.txt)"
grep -Eq 'ok +report\.workers: 2 worker' orders-verify.txt || fail "orders verify: $(cat orders-verify.txt)"
pass "ward orders verify checks the final report's workers and the broker's releases"
# The layers really were on the workers: each took its share of the weights
# (stories260K is about 1.1 MB) from the head, through its tunnel.
for w in w1 w2; do
  for ((i = 0; i < 50; i++)); do grep -q "bytes from the head" "$w.out" && break; sleep 0.1; done
  bytes=$(sed -n 's/.*refused; \([0-9]*\) bytes from the head.*/\1/p' "$w.out" | tail -1)
  ((${bytes:-0} > 100000)) || fail "worker $w took ${bytes:-no} bytes from the head: $(grep tunnels "$w.out")"
done
pass "each worker took its layers through its tunnel: $(grep -ho '[0-9]* bytes from the head, [0-9]* to it' w1.out w2.out | tr '\n' ';')"
kill "$PROXY"; wait "$PROXY" 2>/dev/null || true
PROXY=

# Losing a worker fails the order, naming it.
LOST=$(split_order g-engine.json)
for ((i = 0; i < 600; i++)); do
  [[ -n $(order_json "$LOST" | jq -r '.serve.endpoint // empty') ]] && break
  sleep 0.1
done
[[ -n $(order_json "$LOST" | jq -r '.serve.endpoint // empty') ]] || fail "order $LOST did not start: $(tail h.out)"
kill_node w2
wait_status "$LOST" error
ERR=$(order_json "$LOST" | jq -r .error)
[[ $ERR == *"worker CVM ${W2:0:16}"* ]] || fail "order $LOST failed for another reason: $ERR"
pass "killing a worker's node fails the order: $ERR"
