#!/usr/bin/env bash
# A service served as two replicas on two nodes (issue 14): Carol's model
# behind `cancer-trainer serve`, one service order on each node's CVM, and
# Alice's `ward proxy --to A --to B` spreading her signed requests over both,
# each verified on its own. Under a steady load of concurrent requests, the
# node serving one replica is killed whole (SIGKILL): only requests in flight
# on it may fail, and the proxy moves every later request to the other one.
: "${WARD_TEST_ENGINE:?set WARD_TEST_ENGINE to the static test engine}"
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ROOT=$(cd "$E2E_DIR/../.." && pwd)
LOADER=$(dirname "$WARD")/ward-loader
TRAINER=$(dirname "$WARD")/cancer-trainer
[[ -x $LOADER && -x $TRAINER ]] || fail "no ward-loader or cancer-trainer next to $WARD"
DATA=$ROOT/.deps/data/breast_cancer.csv
[[ -f $DATA ]] || fail "no $DATA (scripts/fetch-dataset.sh)"
((EUID == 0)) || { echo "skip: serving needs root (the loader enters the engine's network namespace)"; exit 0; }
chmod 711 "$TMP"

NODES=()
PROXY=
LOAD=()
cleanup() {
  set +e
  for p in "${LOAD[@]}" $PROXY; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  for pid in "${NODES[@]}"; do kill -KILL -- "-$pid" 2>/dev/null; done
  stop_servers
  rm -rf "$TMP"
}
trap cleanup EXIT

start_ledger_and_ca
for p in alice carol provider; do
  "$WARD" keys new -o "$p.key" >/dev/null 2>&1
  "$WARD" accounts register --ledger "$L" --key "$p.key" --name "$p" >/dev/null
done
"$WARD" accounts fund --ledger "$L" --key carol.key --to "$(account carol)" --amount 1000 >/dev/null
STORE=$TMP/store
echo "{\"allow_simulated\": true, \"measurements\": {\"mrtd\": [\"$(sha384sum "$LOADER" | cut -d' ' -f1)\"]}}" \
  >policy.json
TEE=$("$WARD" offers create --ledger "$L" --key provider.key --kind tee --name h100 --resource sim \
  --price per-hour:0 --json | jq -r .index)
start_node() { # start_node NAME: one node, one CVM, in its own process group
  setsid "$WARD" node run --ledger "$L" --key provider.key --store "$STORE" --ca "$CA" --platform sim --cvms 1 \
    --offer "$TEE" --dir "$1" --work "$TMP/work-$1" --memory-limit 256 --heartbeat-ms 1000 >>"$1.out" 2>&1 &
  NODES+=($!)
  local i
  for ((i = 0; i < 300; i++)); do
    [[ -s $1/cvm-0/cvm.pem ]] && "$WARD" node cvms --ledger "$L" --json |
      jq -e --arg id "$(cvm_of "$1")" '.cvms | any(.id == $id)' >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  fail "node $1 did not list its CVM: $(cat "$1.out")"
}
cvm_of() { "$WARD" ca verify "$1/cvm-0/cvm.pem" --ca-cert ca/ca.pem --policy ca-policy.json --json | jq -r .cvm_id; }
start_node a
start_node b

mkdir -p own/model eng
"$TRAINER" train --inputs "$DATA" --output own/model >/dev/null
cp "$TRAINER" eng/cancer-trainer
"$WARD" engine pack eng --entrypoint /cancer-trainer --cmd serve --serve-port 8080 -o serve.tar >/dev/null
"$WARD" files upload serve.tar --key carol.key --store "$STORE" -o serve.res.json >/dev/null
ENGINE=$(jq -r .resource.engine serve.res.json)
"$WARD" files upload own/model --key carol.key --store "$STORE" -o model.res.json >/dev/null
# replica NODE: Carol's service on NODE's CVM, for Alice; prints its endpoint.
replica() {
  local cvm id endpoint i
  cvm=$(cvm_of "$1")
  for res in serve model; do
    "$WARD" files grant "$res.res.json" --key carol.key --ledger "$L" --cvm "$cvm" --engine "$ENGINE" --serve \
      --ca-cert ca/ca.pem --policy policy.json -o "g-$res-$1.json" >/dev/null || fail "grant to $1"
  done
  id=$("$WARD" orders create --ledger "$L" --key carol.key --cvm "$cvm" --engine serve.res.json \
    --grant "g-serve-$1.json" --grant "g-model-$1.json" --serve --access "$(account alice)" --deposit 10 \
    --store "$STORE" --json | jq -r .order)
  for ((i = 0; i < 300; i++)); do
    endpoint=$("$WARD" orders get "$id" --ledger "$L" --json | jq -r '.serve.endpoint // empty')
    [[ -n $endpoint ]] && break
    sleep 0.1
  done
  [[ -n $endpoint ]] || fail "the replica on $1 did not start: $(tail -5 "$1.out")"
  echo "$id $endpoint"
}
read -r ORDER_A URL_A < <(replica a)
read -r ORDER_B URL_B < <(replica b)

: >proxy.out
"$WARD" proxy --to "$URL_A" --to "$URL_B" --ledger "$L" --ca-cert ca/ca.pem --policy policy.json \
  --engine "$ENGINE" --key alice.key --receipts receipts.jsonl >proxy.out 2>proxy.err &
PROXY=$!
for ((i = 0; i < 100; i++)); do
  [[ -s proxy.out ]] && break
  sleep 0.1
done
PROXY_URL=$(head -n1 proxy.out)
[[ $PROXY_URL =~ ^http://127\.0\.0\.1:[0-9]+$ ]] || fail "ward proxy: $(cat proxy.out proxy.err)"
grep -q "verified $URL_A: order $ORDER_A" proxy.out && grep -q "verified $URL_B: order $ORDER_B" proxy.out ||
  fail "the proxy did not verify both replicas: $(cat proxy.out)"

# Four clients, each sending one prediction after another and logging each outcome.
ROW=$(sed -n 2p "$DATA" | cut -d, -f1-30)
client() { # client N: until killed, "ok" or "fail" per request, with its time
  trap - ERR
  set +e
  while :; do
    if curl -sf -m 10 "$PROXY_URL/v1/predict" -H 'content-type: application/json' \
      -d "{\"features\":[$ROW]}" -o /dev/null; then r=ok; else r=fail; fi
    echo "$(date +%s.%N) $r" >>"load-$1.log"
  done
}
for n in 1 2 3 4; do
  client "$n" &
  LOAD+=($!)
done
sleep 3
orders_served() { jq -r .receipt receipts.jsonl | cut -d. -f1 | base64 -d 2>/dev/null | jq -r .order | sort -nu | xargs; }
[[ $(orders_served) == "$(printf '%s\n' "$ORDER_A" "$ORDER_B" | sort -n | xargs)" ]] ||
  fail "the requests did not go to both replicas: orders $(orders_served)"
KILLED=$(date +%s.%N)
kill -KILL -- "-${NODES[0]}"
unset "NODES[0]"
sleep 4
for p in "${LOAD[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null || true; done
LOAD=()
cat load-*.log | sort -n >load.log
total=$(wc -l <load.log)
failed=$(grep -c ' fail$' load.log || true)
after=$(awk -v k="$KILLED" '$1 > k + 1 && $2 == "ok"' load.log | wc -l)
late=$(awk -v k="$KILLED" '$1 > k + 1 && $2 == "fail"' load.log | wc -l)
((failed <= 4)) || fail "$failed of $total requests failed: more than the 4 that can be in flight at the kill"
((late == 0)) || fail "$late requests failed later than a second after the kill"
((after > 0)) || fail "no request succeeded after the kill"
pass "replica on node a killed under load: $failed of $total requests failed (at most the 4 in flight), $after served by the other replica afterwards"
