#!/usr/bin/env bash
# A confidential service end to end through the real binaries (issue 11):
# a ledger and a certification center served here, a node with one
# simulated CVM, Carol's trained model granted to it and served by
# `cancer-trainer serve` behind the loader's TLS gateway. A client verifies
# the endpoint (`ward serve verify`) and queries it through `ward proxy`.
# Then what must be refused: a man in the middle with its own certificate,
# wrong engine and model pins, simulated evidence under a strict policy, a
# canceled service; an engine that keeps crashing fails its order; the
# loader killed and restarted serves again under a new key. The model's
# weights are never found outside the CVM's tmpfs.
# Resolved before lib.sh moves into the temporary directory.
WARD_SLOW_CLIENTS=$(realpath -e "${WARD_SLOW_CLIENTS:-build/tests/e2e/slow_clients}" 2>/dev/null || true)
: "${WARD_TEST_ENGINE:?set WARD_TEST_ENGINE to the static test engine}"
WARD_TEST_ENGINE=$(realpath "$WARD_TEST_ENGINE")
: "${WARD_FORGE:?set WARD_FORGE to the e2e_forge tool}"
WARD_FORGE=$(realpath "$WARD_FORGE")
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
[[ -x $WARD_SLOW_CLIENTS ]] || fail "no slow_clients tool (build the target slow_clients, or set WARD_SLOW_CLIENTS)"
ROOT=$(cd "$E2E_DIR/../.." && pwd)
LOADER=$(dirname "$WARD")/ward-loader
TRAINER=$(dirname "$WARD")/cancer-trainer
[[ -x $LOADER && -x $TRAINER ]] || fail "no ward-loader or cancer-trainer next to $WARD"
DATA=$ROOT/.deps/data/breast_cancer.csv
[[ -f $DATA ]] || fail "no $DATA (scripts/fetch-dataset.sh)"
command -v socat >/dev/null || fail "socat is missing (Debian package socat)"
((EUID == 0)) || { echo "skip: serving needs root (the loader enters the engine's network namespace)"; exit 0; }
touch start.stamp
chmod 711 "$TMP"

NODE=
PROXY=
MITM=
cleanup() {
  trap - ERR
  set +e
  for p in $PROXY $MITM; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  [[ -z $NODE ]] || { kill "$NODE"; wait "$NODE"; } 2>/dev/null
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

start_node() { start_sim_node --memory-limit 256 --usage-interval-ms 500; }
start_node
MRTD=$(jq -r '.measurements.mrtd[0]' policy.json)
echo "{\"allow_simulated\": false, \"measurements\": {\"mrtd\": [\"$MRTD\"]}}" >strict.json

# Carol's model, trained on her own machine; its weights are the marker.
mkdir -p own/model
"$TRAINER" train --inputs "$DATA" --output own/model >/dev/null
MODEL_SHA=$(sha256sum own/model/model.json | cut -d' ' -f1)
MARK=$(jq -r '.weights[0] // .input_weights[0][0] | tostring' own/model/model.json)
[[ ${#MARK} -ge 12 ]] || fail "no distinctive weight in model.json to scan for: $MARK"
MARK=$(grep -oF -- "$MARK" own/model/model.json | head -1)

mkdir eng
cp "$TRAINER" eng/cancer-trainer
"$WARD" engine pack eng --entrypoint /cancer-trainer --cmd serve --serve-port 8080 -o serve.tar >/dev/null
"$WARD" files upload serve.tar --key carol.key --store "$STORE" -o serve.res.json >/dev/null
ENGINE=$(jq -r .resource.engine serve.res.json)
"$WARD" files upload own/model --key carol.key --store "$STORE" -o model.res.json >/dev/null
grant() { # grant RES OUT
  "$WARD" files grant "$1" --key carol.key --ledger "$L" --cvm "$CVM" --engine "$ENGINE" --serve \
    --ca-cert ca/ca.pem --policy policy.json -o "$2" >/dev/null
}
grant serve.res.json g-engine.json
grant model.res.json g-model.json
serve_order() { # serve_order GRANTS...: prints the order id; the service is for Alice alone
  local g=()
  for x in "$@"; do g+=(--grant "$x"); done
  "$WARD" orders create --ledger "$L" --key carol.key --cvm "$CVM" --engine serve.res.json "${g[@]}" --serve \
    --access "$(account alice)" --deposit 10 --store "$STORE" --json | jq -r .order
}
# wait_serving ID: sets ENDPOINT once the service has started.
wait_serving() {
  for ((i = 0; i < 300; i++)); do
    ENDPOINT=$("$WARD" orders get "$1" --ledger "$L" --json | jq -r '.serve.endpoint // empty')
    [[ -n $ENDPOINT ]] && return 0
    sleep 0.1
  done
  fail "order $1 did not start serving: $(tail -20 node.out)"
}
ID=$(serve_order g-engine.json g-model.json)
wait_serving "$ID"
[[ $ENDPOINT =~ ^https://127\.0\.0\.1:[0-9]+$ ]] || fail "endpoint: $ENDPOINT"
pass "service order $ID serves at $ENDPOINT"

# The client verifies before it sends a byte.
"$WARD" serve verify "$ENDPOINT" --ledger "$L" --ca-cert ca/ca.pem --policy policy.json --engine "$ENGINE" \
  --model "$(jq -r .resource.plaintext_sha256 model.res.json)" >verify.txt || fail "serve verify: $(cat verify.txt)"
for check in tls.chain cert.chain policy.measurement.mrtd ca.binding service.order service.engine service.inputs \
  service.key; do
  grep -q "$check" verify.txt || fail "serve verify did not print $check: $(cat verify.txt)"
done
grep -q SIMULATED verify.txt || fail "serve verify hides the simulation: $(cat verify.txt)"
pass "ward serve verify checks the endpoint down to the simulated root and the start report"

start_proxy() { # start_proxy URL ARGS...: sets PROXY_URL
  local to=$1
  shift
  # Emptied here, not by the background job's redirection, which may come
  # after the first look below.
  : >proxy.out
  "$WARD" proxy --to "$to" --ledger "$L" --ca-cert ca/ca.pem "$@" >proxy.out 2>proxy.err &
  PROXY=$!
  for ((i = 0; i < 100; i++)); do
    [[ -s proxy.out ]] && break
    kill -0 "$PROXY" 2>/dev/null || break
    sleep 0.1
  done
  PROXY_URL=$(head -n1 proxy.out)
  [[ $PROXY_URL =~ ^http://127\.0\.0\.1:[0-9]+$ ]] || fail "ward proxy --to $to: $(cat proxy.out proxy.err)"
}
start_proxy "$ENDPOINT" --policy policy.json --engine "$ENGINE" --key alice.key
[[ $PROXY_URL =~ ^http://127\.0\.0\.1:[0-9]+$ ]] || fail "ward proxy: $(cat proxy.out proxy.err)"
ROW=$(sed -n 2p "$DATA" | cut -d, -f1-30)
curl -sf "$PROXY_URL/v1/predict" -H 'content-type: application/json' -d "{\"features\":[$ROW]}" >pred.json ||
  fail "predict through the proxy: $(cat pred.json; tail node.out)"
jq -e '(.prediction == 0 or .prediction == 1) and .probability >= 0 and .probability <= 1' pred.json >/dev/null ||
  fail "prediction: $(cat pred.json)"
"$TRAINER" evaluate --model own/model/model.json --data "$DATA" --rows-json | jq -c '.predictions[0]' >expect.json
[[ $(jq -c . pred.json) == $(cat expect.json) ]] || fail "served $(cat pred.json), evaluate says $(cat expect.json)"
curl -sf "$PROXY_URL/v1/model" | jq -e 'has("weights") | not' >/dev/null || fail "/v1/model shows weights"
curl -sf "$PROXY_URL/health" -o /dev/null -w '%{http_code}' | grep -q 200 || fail "health through the proxy"
pass "a prediction for Alice through ward proxy and the gateway, the same as Carol's own evaluate: $(cat pred.json)"

# Access: the order serves Alice's account alone, on signed requests.
PROXY_ALICE=$PROXY
PROXY_ALICE_URL=$PROXY_URL
start_proxy "$ENDPOINT" --policy policy.json
code=$(curl -s -o refused.json -w '%{http_code}' "$PROXY_URL/health")
[[ $code == 401 ]] && jq -e '.error.reason == "unauthenticated"' refused.json >/dev/null ||
  fail "an unsigned request: HTTP $code $(cat refused.json)"
kill "$PROXY"; wait "$PROXY" 2>/dev/null || true
start_proxy "$ENDPOINT" --policy policy.json --key carol.key
code=$(curl -s -o refused.json -w '%{http_code}' "$PROXY_URL/health")
[[ $code == 403 ]] && jq -e '.error.reason == "not_allowed"' refused.json >/dev/null ||
  fail "an account the order does not list: HTTP $code $(cat refused.json)"
kill "$PROXY"; wait "$PROXY" 2>/dev/null || true
PROXY=$PROXY_ALICE
PROXY_URL=$PROXY_ALICE_URL
# A signed request sent twice (curl straight to the gateway; -k only because
# curl cannot run Ward's checks, which ward serve sign ran).
"$WARD" serve sign "$ENDPOINT" /health --key alice.key --ledger "$L" --ca-cert ca/ca.pem --policy policy.json \
  >signed.txt
hdr=()
while IFS= read -r line; do hdr+=(-H "$line"); done <signed.txt
code=$(curl -sk -o first.json -w '%{http_code}' "${hdr[@]}" "$ENDPOINT/health")
[[ $code == 200 ]] || fail "a signed request straight to the gateway: HTTP $code $(cat first.json)"
code=$(curl -sk -o replay.json -w '%{http_code}' "${hdr[@]}" "$ENDPOINT/health")
[[ $code == 401 ]] && jq -e '.error.reason == "replayed"' replay.json >/dev/null ||
  fail "a replayed request: HTTP $code $(cat replay.json)"
pass "access: unsigned -> 401, an unlisted account -> 403, a replayed signature -> 401 replayed"

# 200 slow clients hold TLS handshakes open on the gateway while honest
# clients ask through the proxy.
"$WARD_SLOW_CLIENTS" --port "${PROXY_URL##*:}" --path /health --slow-port "${ENDPOINT##*:}" --tls 1 \
  --slow "${SLOW_CLIENTS_N:-200}" --seconds "${SLOW_CLIENTS_SECONDS:-6}" >slow.txt ||
  fail "the gateway starved its honest clients: $(cat slow.txt)"
pass "gateway under slow TLS clients: $(cat slow.txt)"

# A man in the middle: a TLS relay with its own certificate.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout mitm.key -out mitm.pem -days 1 \
  -subj /CN=127.0.0.1 >/dev/null 2>&1
# A port is tried until socat itself listens on it (one taken by something
# else makes socat exit), so the client below reaches the relay and no other.
for ((try = 0; try < 20; try++)); do
  MITM_PORT=$((20000 + RANDOM % 10000))
  (exec 3<>"/dev/tcp/127.0.0.1/$MITM_PORT") 2>/dev/null && continue
  socat -d -d "OPENSSL-LISTEN:$MITM_PORT,reuseaddr,fork,cert=mitm.pem,key=mitm.key,verify=0" \
    "OPENSSL:${ENDPOINT#https://},verify=0" 2>mitm.log &
  MITM=$!
  for ((i = 0; i < 50; i++)); do
    kill -0 "$MITM" 2>/dev/null || break
    grep -q "listening on" mitm.log && break 2
    sleep 0.1
  done
  kill "$MITM" 2>/dev/null
  wait "$MITM" 2>/dev/null
  MITM=
done
[[ -n $MITM ]] || fail "socat could not listen as the man in the middle: $(cat mitm.log)"
rc=0
"$WARD" serve verify "https://127.0.0.1:$MITM_PORT" --ledger "$L" --ca-cert ca/ca.pem --policy policy.json \
  >mitm-verify.txt 2>&1 || rc=$?
((rc == 1)) && grep -q 'REJECTED at tls.chain' mitm-verify.txt || fail "the MITM passed: rc=$rc $(cat mitm-verify.txt)"
kill "$PROXY"; wait "$PROXY" 2>/dev/null || true
PROXY=
rc=0
"$WARD" proxy --to "https://127.0.0.1:$MITM_PORT" --ledger "$L" --ca-cert ca/ca.pem --policy policy.json \
  >proxy.out 2>proxy.err || rc=$?
((rc == 1)) && grep -q 'REJECTED at tls.chain' proxy.err || fail "ward proxy accepted the MITM: $(cat proxy.out proxy.err)"
pass "a man in the middle with its own certificate is refused before any request: $(cat proxy.err)"

# Pins and policy.
expect_rejected() { # expect_rejected CHECK WHAT ARGS...
  local check=$1 what=$2
  shift 2
  rc=0
  "$WARD" serve verify "$ENDPOINT" --ledger "$L" --ca-cert ca/ca.pem "$@" >v.txt 2>&1 || rc=$?
  ((rc == 1)) && grep -q "REJECTED at $check" v.txt || fail "$what: rc=$rc $(cat v.txt)"
  pass "$what -> $(grep REJECTED v.txt)"
}
expect_rejected service.engine "a wrong engine pin" --policy policy.json --engine "sha256:$(printf '%064d' 1)"
expect_rejected service.inputs "a wrong model pin" --policy policy.json --model "$(printf '%064d' 2)"
expect_rejected policy.simulated "simulated evidence under a strict policy" --policy strict.json
echo "{\"allow_simulated\": true, \"measurements\": {\"mrtd\": [\"$(printf '%096d' 0)\"]}}" >othercode.json
expect_rejected policy.measurement.mrtd "another loader's measurement" --policy othercode.json

# The node killed and restarted: the service comes back under a new key.
OLD_KEY=$("$WARD" orders get "$ID" --ledger "$L" --json | jq -r .serve.tls_key_sha256)
kill -TERM "$NODE"
wait "$NODE" || fail "ward node run did not stop cleanly: $(tail -3 node.out)"
NODE=
start_node
for ((i = 0; i < 300; i++)); do
  NEW_KEY=$("$WARD" orders get "$ID" --ledger "$L" --json | jq -r .serve.tls_key_sha256)
  [[ $NEW_KEY != "$OLD_KEY" ]] && break
  sleep 0.1
done
[[ $NEW_KEY != "$OLD_KEY" ]] || fail "the restarted node did not serve order $ID again: $(tail node.out)"
wait_serving "$ID"
start_proxy "$ENDPOINT" --policy policy.json --key alice.key
curl -sf "$PROXY_URL/v1/predict" -H 'content-type: application/json' -d "{\"features\":[$ROW]}" >pred2.json ||
  fail "predict after the restart: $(tail node.out)"
cmp -s pred.json pred2.json || fail "another prediction after the restart: $(cat pred.json pred2.json)"
pass "the node killed and restarted serves order $ID again under a new TLS key"

# Cancel: the service stops with a final report; the endpoint is refused.
"$WARD" orders cancel "$ID" --ledger "$L" --key carol.key >/dev/null
"$WARD" orders wait "$ID" --ledger "$L" --timeout 60 >wait.out || fail "canceled service: $(cat wait.out; tail node.out)"
"$WARD" orders report "$ID" --ledger "$L" >final.json
jq -e '.report.outcome == "stopped: canceled by its creator" and (.report.service.tls_key_sha256 | length == 64)
  and (has("output") | not)' final.json >/dev/null || fail "final report: $(jq -c .report final.json | head -c 600)"
code=$(curl -s -o /dev/null -w '%{http_code}' "$PROXY_URL/health" || true)
[[ $code != 200 ]] || fail "the proxy still reaches a canceled service"
pass "a canceled service stops with a final report; the proxy no longer reaches it (HTTP $code)"
"$WARD" orders verify "$ID" --ledger "$L" --ca-cert ca/ca.pem --policy policy.json --resources model.res.json \
  --resources serve.res.json >verify-final.txt || fail "orders verify of the service: $(cat verify-final.txt)"
grep -q 'ok    report.service' verify-final.txt && grep -q 'verdict: verified (SIMULATED' verify-final.txt ||
  fail "orders verify of the service: $(cat verify-final.txt)"
pass "ward orders verify checks the service's final report (its TLS key as the ledger recorded it)"
kill "$PROXY"; wait "$PROXY" 2>/dev/null || true
PROXY=

# Server-sent events pass through the gateway and the proxy as they are
# written: the test engine sends 3 events 700 ms apart.
mkdir payload
cp "$WARD_TEST_ENGINE" payload/engine
"$WARD" engine pack payload --entrypoint /engine --cmd serve --cmd 8080 --serve-port 8080 -o sse.tar >/dev/null
"$WARD" files upload sse.tar --key carol.key --store "$STORE" -o sse.res.json >/dev/null
SSE=$(jq -r .resource.engine sse.res.json)
"$WARD" files grant sse.res.json --key carol.key --ledger "$L" --cvm "$CVM" --engine "$SSE" --serve \
  --ca-cert ca/ca.pem --policy policy.json -o g-sse.json >/dev/null
ID3=$("$WARD" orders create --ledger "$L" --key carol.key --cvm "$CVM" --engine sse.res.json --grant g-sse.json \
  --serve --access public --deposit 10 --store "$STORE" --json | jq -r .order)
wait_serving "$ID3"
start_proxy "$ENDPOINT" --policy policy.json --engine "$SSE"
t0=$(date +%s%N)
{ curl -sSN "$PROXY_URL/stream?n=3&ms=1500" 2>curl.err || true; } | while IFS= read -r line; do
  if [[ -n $line ]]; then echo "$((($(date +%s%N) - t0) / 1000000)) $line"; fi
done >sse.txt
[[ $(wc -l <sse.txt) == 3 ]] || fail "SSE through the proxy: $(cat sse.txt curl.err; tail -5 node.out)"
first=$(head -1 sse.txt | cut -d' ' -f1)
last=$(tail -1 sse.txt | cut -d' ' -f1)
# Written 1.5 s apart: the first is not held back until the next (the
# margins are for a loaded machine running ASan).
((first < 1200 && last - first >= 2500)) || fail "events were not relayed as written: $(cat sse.txt)"
pass "server-sent events arrive as the engine writes them (ms after the request: $(cut -d' ' -f1 sse.txt | tr '\n' ' '))"
"$WARD" orders cancel "$ID3" --ledger "$L" --key carol.key >/dev/null
"$WARD" orders wait "$ID3" --ledger "$L" --timeout 60 >/dev/null || fail "order $ID3 did not end: $(tail node.out)"
kill "$PROXY"; wait "$PROXY" 2>/dev/null || true
PROXY=

# Paid use: a service for subscribers at 2 a request and 3 per 1000 tokens
# (the test engine reports OpenAI-style usage), with a model offer taking half
# of what subscribers pay. Alice is refused (402) until she subscribes; each
# response carries a receipt her proxy keeps; she is refused again once her
# deposit would not cover another request; the ledger's charges match her
# receipts, and a CVM reporting more than them is caught.
"$WARD" keys new -o owner.key >/dev/null 2>&1
"$WARD" accounts register --ledger "$L" --key owner.key --name owner >/dev/null
"$WARD" accounts fund --ledger "$L" --key alice.key --to "$(account alice)" --amount 1000 >/dev/null
SHARE=$("$WARD" offers create --ledger "$L" --key owner.key --kind model --name payload-model --resource "$SSE" \
  --price revenue-share:5000 --json | jq -r .offer)
ID4=$("$WARD" orders create --ledger "$L" --key carol.key --cvm "$CVM" --engine sse.res.json --grant g-sse.json \
  --serve --access subscribers --price-per-request 2 --price-per-1k-tokens 3 --offer "$SHARE" --deposit 10 \
  --store "$STORE" --json | jq -r .order)
wait_serving "$ID4"
start_proxy "$ENDPOINT" --policy policy.json --engine "$SSE" --key alice.key --receipts receipts.jsonl
code=$(curl -s -o r402.json -w '%{http_code}' "$PROXY_URL/ping")
[[ $code == 402 ]] && jq -e '.error.reason == "not_subscribed"' r402.json >/dev/null ||
  fail "an unsubscribed client: HTTP $code $(cat r402.json)"
pass "an unsubscribed client is refused: $(jq -r .error.message r402.json)"
"$WARD" services subscribe "$ID4" --deposit 23 --ledger "$L" --key alice.key >/dev/null
for ((i = 0; i < 50; i++)); do
  code=$(curl -s -o usage1.json -D usage1.head -w '%{http_code}' "$PROXY_URL/usage?tokens=1500")
  [[ $code == 200 ]] && break
  sleep 0.1
done
[[ $code == 200 ]] || fail "the subscribed client: HTTP $code $(cat usage1.json)"
grep -qi '^ward-receipt: ' usage1.head || fail "no receipt on the response: $(cat usage1.head)"
curl -sSf "$PROXY_URL/stream?n=2&ms=10&tokens=500" >stream.txt || fail "a metered stream"
# 2 requests and 2000 tokens so far: 4 + 6. Each ping adds 2; the deposit of
# 23 covers up to 22, so six pings pass and the seventh is refused.
for n in 1 2 3 4 5 6; do
  curl -sSf "$PROXY_URL/ping" >/dev/null || fail "ping $n within the deposit"
done
code=$(curl -s -o r402.json -w '%{http_code}' "$PROXY_URL/ping")
[[ $code == 402 ]] && jq -e '.error.reason == "exhausted"' r402.json >/dev/null ||
  fail "a client past its deposit: HTTP $code $(cat r402.json)"
pass "a client whose deposit would not cover another request is refused: $(jq -r .error.message r402.json)"
[[ $(wc -l <receipts.jsonl) == 8 ]] || fail "the proxy kept $(wc -l <receipts.jsonl) receipts, not 8"
for ((i = 0; i < 100; i++)); do
  "$WARD" services show "$ID4" --ledger "$L" --account "$(account alice)" --json >sub.json
  [[ $(jq .requests sub.json) == 8 ]] && break
  sleep 0.1
done
jq -e '.requests == 8 and .tokens == 2000 and .charged == 22' sub.json >/dev/null ||
  fail "the ledger's usage: $(cat sub.json)"
"$WARD" services usage "$ID4" --ledger "$L" --receipts receipts.jsonl --verify >usage.txt ||
  fail "usage --verify: $(cat usage.txt)"
grep -q 'ok: the ledger charges no more than the receipts show' usage.txt || fail "usage --verify: $(cat usage.txt)"
pass "8 receipts; the ledger charged 22 (8 requests, 2000 tokens) as they show"
"$WARD" accounts show --ledger "$L" --key owner.key --json >owner.json
[[ $(jq .balance owner.json) == 11 ]] || fail "the model's revenue share (half of 22): $(cat owner.json)"
# A CVM that tells the ledger more than its receipts show is named.
# (Retried: the loader's own reports race it for the CVM's nonce.)
forged="{\"order\": $ID4, \"usage\": [{\"account\": \"$(account alice)\", \"requests\": 10, \"tokens\": 2000, \"bytes\": 999999}]}"
for ((i = 0; i < 10; i++)); do
  "$WARD_FORGE" submit "$L" node/cvm-0/cvm.key services.usage "$forged" >forge.out 2>&1 && break
  sleep 0.2
done
((i < 10)) || fail "the forged usage was not accepted: $(cat forge.out)"
rc=0
"$WARD" services usage "$ID4" --ledger "$L" --receipts receipts.jsonl --verify >over.txt 2>over.err || rc=$?
((rc == 1)) && grep -q 'OVERCHARGED: requests 10 on the ledger, at most 8 in the receipts' over.txt &&
  grep -q 'charged 23 on the ledger, at most 22' over.txt || fail "the overcharge: rc=$rc $(cat over.txt over.err)"
pass "an overcharge against the receipts is named: $(cat over.err)"
"$WARD" orders cancel "$ID4" --ledger "$L" --key carol.key >/dev/null
"$WARD" orders wait "$ID4" --ledger "$L" --timeout 60 >/dev/null || fail "order $ID4 did not end: $(tail node.out)"
"$WARD" services show "$ID4" --ledger "$L" --account "$(account alice)" --json >sub.json
jq -e '.closed and .refund == 0' sub.json >/dev/null || fail "the closed subscription: $(cat sub.json)"
kill "$PROXY"; wait "$PROXY" 2>/dev/null || true
PROXY=

# The order's own deposit running out ends the service: a per-hour offer of
# 3600 (1 a second) against a deposit of 8. A stream in progress ends, the
# final report says why, and the subscriber's unspent deposit comes back.
HOURLY=$("$WARD" offers create --ledger "$L" --key owner.key --kind model --name by-the-hour --resource "$SSE" \
  --price per-hour:3600 --json | jq -r .offer)
ID5=$("$WARD" orders create --ledger "$L" --key carol.key --cvm "$CVM" --engine sse.res.json --grant g-sse.json \
  --serve --access subscribers --price-per-request 1 --offer "$HOURLY" --deposit 8 --store "$STORE" --json |
  jq -r .order)
"$WARD" services subscribe "$ID5" --deposit 10 --ledger "$L" --key alice.key >/dev/null
wait_serving "$ID5"
start_proxy "$ENDPOINT" --policy policy.json --engine "$SSE" --key alice.key
for ((i = 0; i < 50; i++)); do
  code=$(curl -s -o /dev/null -w '%{http_code}' "$PROXY_URL/ping")
  [[ $code == 200 ]] && break
  sleep 0.1
done
[[ $code == 200 ]] || fail "the hourly service: HTTP $code"
curl -sN "$PROXY_URL/stream?n=30&ms=500" >long-stream.txt 2>/dev/null || true
"$WARD" orders wait "$ID5" --ledger "$L" --timeout 60 >/dev/null || fail "order $ID5 did not end: $(tail node.out)"
n=$(grep -c '^data: event' long-stream.txt || true)
((n >= 1 && n < 30)) || fail "the stream was not cut by the deposit's end ($n of 30 events)"
"$WARD" orders report "$ID5" --ledger "$L" >final5.json
jq -e '.report.outcome == "stopped: the order'"'"'s deposit is spent"' final5.json >/dev/null ||
  fail "final report of an exhausted service: $(jq -c .report.outcome final5.json)"
"$WARD" orders get "$ID5" --ledger "$L" --json >o5.json
jq -e '.status == "done" and .refund == 0 and (.serve.exhausted_at != null)' o5.json >/dev/null ||
  fail "the exhausted order: $(jq -c '{status, refund, serve}' o5.json)"
"$WARD" services show "$ID5" --ledger "$L" --account "$(account alice)" --json >sub5.json
jq -e '.closed and .refund == .deposit - .charged and .charged >= 1' sub5.json >/dev/null ||
  fail "the subscription of an exhausted service: $(cat sub5.json)"
pass "a service whose deposit runs out stops mid-stream ($n of 30 events), with a final report; $(jq .refund sub5.json) of Alice's 10 comes back"
kill "$PROXY"; wait "$PROXY" 2>/dev/null || true
PROXY=

# An engine that crashes at start is restarted a bounded number of times, then its order fails.
"$WARD" engine pack eng --entrypoint /cancer-trainer --cmd serve --cmd=--model --cmd=/nonexistent.json \
  --serve-port 8080 -o crash.tar >/dev/null
"$WARD" files upload crash.tar --key carol.key --store "$STORE" -o crash.res.json >/dev/null
CRASH=$(jq -r .resource.engine crash.res.json)
"$WARD" files grant crash.res.json --key carol.key --ledger "$L" --cvm "$CVM" --engine "$CRASH" --serve \
  --ca-cert ca/ca.pem --policy policy.json -o g-crash.json >/dev/null
"$WARD" files grant model.res.json --key carol.key --ledger "$L" --cvm "$CVM" --engine "$CRASH" --serve \
  --ca-cert ca/ca.pem --policy policy.json -o g-model-crash.json >/dev/null
ID2=$("$WARD" orders create --ledger "$L" --key carol.key --cvm "$CVM" --engine crash.res.json --grant g-crash.json \
  --grant g-model-crash.json --serve --deposit 10 --store "$STORE" --json | jq -r .order)
rc=0
"$WARD" orders wait "$ID2" --ledger "$L" --timeout 60 >wait.out 2>&1 || rc=$?
((rc == 1)) && grep -q "order $ID2 error" wait.out && grep -q 'restarts' wait.out ||
  fail "a crashing engine: rc=$rc $(cat wait.out)"
pass "an engine that keeps crashing fails its order: $(cat wait.out)"

kill -TERM "$NODE"
wait "$NODE" || fail "ward node run did not stop cleanly: $(tail -3 node.out)"
NODE=
leaks=$(grep -rlsF -e "$MARK" "$STORE" "$TMP/work" "$TMP/node" /dev/shm 2>/dev/null || true)
leaks+=$(find "${TMPDIR:-/tmp}" -xdev -type f -newer start.stamp 2>/dev/null | grep -v "^$TMP/own" |
  xargs -r grep -lsF -e "$MARK" 2>/dev/null || true)
[[ -z $leaks ]] || fail "model weights found in: $leaks"
pass "the model's weights are nowhere outside Carol's own files (store, work, node, /dev/shm, /tmp)"
