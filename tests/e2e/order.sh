#!/usr/bin/env bash
# The confidential order end to end through the real binaries: a ledger and a
# certification center served here, a node with two simulated CVMs (ward-loader
# processes), parties that upload, grant and order. Then every way an order
# must fail: wrong engine, another CVM's grant, an expired grant, tampered
# ciphertext, a tampered report, an engine that tries the network or runs
# over its time or memory limit, and the loader killed mid-order. After the
# orders no marker planted in the inputs is found outside the parties' files.
# With WARD_E2E_LEDGER=evm (CTest e2e_order_evm) the ledger is the WardLedger
# contract on an anvil the script starts, and everything must hold the same.
: "${WARD_TEST_ENGINE:?set WARD_TEST_ENGINE to the static test engine}"
WARD_TEST_ENGINE=$(realpath "$WARD_TEST_ENGINE")
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LOADER=$(dirname "$WARD")/ward-loader
[[ -x $LOADER ]] || fail "no ward-loader next to $WARD"
touch start.stamp
# The sandbox runs as an unprivileged uid when we are root: it must reach the
# work directories below.
chmod 711 "$TMP"

NODE=
NGINX=
# Stops everything however the script ends (no step may abort the rest).
cleanup() {
  set +e
  [[ -z $NODE ]] || { kill "$NODE"; wait "$NODE"; } 2>/dev/null
  [[ -z $NGINX ]] || { kill "$NGINX"; wait "$NGINX"; } 2>/dev/null
  stop_servers
  rm -rf "$TMP"
}
trap cleanup EXIT

start_ledger_and_ca

for p in alice bob carol provider; do
  "$WARD" keys new -o "$p.key" >/dev/null 2>&1
  give_gas "$p.key"
  "$WARD" accounts register --ledger "$L" --key "$p.key" --name "$p" >/dev/null
done
recipient() { "$WARD" keys show --json "$1.key" | jq -r .recipient; }
CAROL=$(recipient carol)
"$WARD" accounts fund --ledger "$L" --key carol.key --to "$("$WARD" keys show --json carol.key | jq -r .signing_public_key)" \
  --amount 1000 >/dev/null
STORE=$TMP/store

"$WARD" node run --ledger "$L" --key provider.key --store "$STORE" --ca "$CA" --platform sim --cvms 2 \
  --dir node --work "$TMP/work" --time-limit 4 --memory-limit 256 >node.out 2>&1 &
NODE=$!
for ((i = 0; i < 300; i++)); do
  n=$("$WARD" node cvms --ledger "$L" --json | jq '.cvms | length')
  ((n == 2)) && break
  sleep 0.1
done
((n == 2)) || fail "the node did not list 2 CVMs: $(cat node.out)"
cvm_of() { # the id of the CVM in node/cvm-N
  "$WARD" ca verify "node/cvm-$1/cvm.pem" --ca-cert ca/ca.pem --policy ca-policy.json --json | jq -r .cvm_id
}
CVM0=$(cvm_of 0)
CVM1=$(cvm_of 1)
[[ $CVM0 =~ ^[0-9a-f]{64}$ && $CVM1 =~ ^[0-9a-f]{64}$ && $CVM0 != "$CVM1" ]] || fail "CVM ids: $CVM0 $CVM1"
pass "ward node run starts 2 simulated CVMs, certified by the CA and listed on the ledger"

MRTD=$(sha384sum "$LOADER" | cut -d' ' -f1)
echo "{\"allow_simulated\": true, \"measurements\": {\"mrtd\": [\"$MRTD\"]}}" >policy.json

# Engines: the static test engine with one behaviour each.
mkdir eng
cp "$WARD_TEST_ENGINE" eng/engine
pack() { # pack NAME ARGS...
  local name=$1
  shift
  local ep=(--entrypoint /engine)
  for a in "$@"; do ep+=(--entrypoint "$a"); done
  "$WARD" engine pack eng "${ep[@]}" -o "$name.tar" >/dev/null
  "$WARD" files upload "$name.tar" --key carol.key --store "$STORE" -o "$name.res.json" >/dev/null
  jq -e '.resource.engine | startswith("sha256:")' "$name.res.json" >/dev/null || fail "$name.res.json names no engine"
}
LEDGER_PORT=${L##*:}
pack copy copy
pack net connect "$LEDGER_PORT"
pack sleep sleep
pack alloc alloc 1024
pack slow slow 2
digest() { jq -r .resource.engine "$1.res.json"; }

# Inputs, with markers that must never show up outside the parties' own files.
MARK_A="WARD-E2E-MARKER-ALICE-$RANDOM$RANDOM"
MARK_B="WARD-E2E-MARKER-BOB-$RANDOM$RANDOM"
mkdir -p own/alice
printf 'x,y,target\n1,2,0\n%s\n' "$MARK_A" >own/alice/data.csv
printf 'notes: %s\n' "$MARK_A" >own/alice/notes.txt
printf 'bob says %s\n' "$MARK_B" >own/bob.txt
"$WARD" files upload own/alice --key alice.key --store "$STORE" -o alice.res.json >/dev/null
"$WARD" files upload own/bob.txt --key bob.key --store "$STORE" -o bob.res.json >/dev/null

grant() { # grant RES OWNER CVM ENGINE OUT [ARGS...]
  local res=$1 owner=$2 cvm=$3 engine=$4 out=$5
  shift 5
  "$WARD" files grant "$res.res.json" --key "$owner.key" --ledger "$L" --cvm "$cvm" --engine "$engine" \
    --output-to "$CAROL" --ca-cert ca/ca.pem --policy policy.json -o "$out" "$@" >/dev/null
}
order() { # order CVM ENGINE GRANTS...: prints the order id
  local cvm=$1 engine=$2
  shift 2
  local g=()
  for x in "$@"; do g+=(--grant "$x"); done
  "$WARD" orders create --ledger "$L" --key carol.key --cvm "$cvm" --engine "$engine.res.json" "${g[@]}" \
    --output-to "$CAROL" --deposit 10 --store "$STORE" --json | jq -r .order
}
# raw_order CVM ENGINE GRANTS...: the same without the client's own grant
# checks (a dishonest client): grants put in the store by hand, by URI.
raw_order() {
  local cvm=$1 engine=$2
  shift 2
  local refs=()
  for x in "$@"; do
    local h
    h=$(sha256sum "$x" | cut -d' ' -f1)
    cp "$x" "$STORE/$h"
    refs+=(--input "file://$STORE/$h")
  done
  "$WARD" orders create --ledger "$L" --key carol.key --cvm "$cvm" --engine "$(digest "$engine")" "${refs[@]}" \
    --output-to "$CAROL" --deposit 10 --json | jq -r .order
}
# expect_error ID PATTERN WHAT: the order ends in Error with a matching reason.
expect_error() {
  local rc=0
  "$WARD" orders wait "$1" --ledger "$L" --timeout 60 >wait.out 2>wait.err || rc=$?
  ((rc == 1)) || fail "$3: orders wait exited $rc: $(cat wait.out wait.err)"
  grep -q "order $1 error" wait.out || fail "$3: order $1 did not end in error: $(cat wait.out)"
  grep -Eq -- "$2" wait.out || fail "$3: reason does not match /$2/: $(cat wait.out)"
  pass "$3 -> $(cat wait.out)"
}

# Refusals when granting.
rc=0
grant alice alice "$(printf '%064d' 7)" "$(digest copy)" g.json 2>err.txt || rc=$?
((rc == 1)) && grep -q 'not on the ledger\|no CVM' err.txt || fail "grant to an unknown CVM: rc=$rc $(cat err.txt)"
[[ ! -e g.json ]] || fail "a refused grant left g.json"
echo '{"allow_simulated": false, "measurements": {"mrtd": ["'"$MRTD"'"]}}' >nosim.json
rc=0
"$WARD" files grant alice.res.json --key alice.key --ledger "$L" --cvm "$CVM0" --engine "$(digest copy)" \
  --output-to "$CAROL" --ca-cert ca/ca.pem --policy nosim.json -o g.json >/dev/null 2>err.txt || rc=$?
((rc == 1)) && grep -q 'policy.simulated' err.txt || fail "grant under a no-simulation policy: rc=$rc $(cat err.txt)"
echo '{"allow_simulated": true, "measurements": {"mrtd": ["'"$(printf '%096d' 0)"'"]}}' >othercode.json
rc=0
"$WARD" files grant alice.res.json --key alice.key --ledger "$L" --cvm "$CVM0" --engine "$(digest copy)" \
  --output-to "$CAROL" --ca-cert ca/ca.pem --policy othercode.json -o g.json >/dev/null 2>err.txt || rc=$?
((rc == 1)) && grep -q 'policy.measurement.mrtd' err.txt || fail "grant for another loader: rc=$rc $(cat err.txt)"
rc=0
grant alice bob "$CVM0" "$(digest copy)" g.json 2>err.txt || rc=$?
((rc == 1)) || fail "Bob granted Alice's file: $(cat err.txt)"
[[ ! -e g.json ]] || fail "a refused grant left g.json"
pass "ward files grant refuses an unknown CVM, simulation, another loader measurement, and a non-owner"

# 1. The happy path.
grant copy carol "$CVM0" "$(digest copy)" g-copy.json
grant alice alice "$CVM0" "$(digest copy)" g-alice.json
grant bob bob "$CVM0" "$(digest copy)" g-bob.json
ID=$(order "$CVM0" copy g-copy.json g-alice.json g-bob.json)
"$WARD" orders wait "$ID" --ledger "$L" --timeout 60 >/dev/null || fail "order $ID: $(cat node/loader.log 2>/dev/null; tail node.out)"
"$WARD" orders result "$ID" --ledger "$L" --key carol.key -o result >/dev/null
same_file own/alice/data.csv result/output/0-data.csv "Alice's input"
same_file own/alice/notes.txt result/output/0-notes.txt "Alice's notes"
same_file own/bob.txt result/output/1-bob.txt "Bob's input"
jq -e ".order == $ID" result/output/args.json >/dev/null || fail "args.json: $(cat result/output/args.json)"
grep -q copied result/engine.log || fail "no engine log"
rc=0
"$WARD" orders result "$ID" --ledger "$L" --key alice.key -o alice-result >/dev/null 2>err.txt || rc=$?
((rc == 1)) && [[ ! -e alice-result ]] || fail "Alice decrypted Carol's output"
pass "order $ID: inputs decrypted only in the CVM, output for Carol alone"

"$WARD" orders verify "$ID" --ledger "$L" --ca-cert ca/ca.pem --policy policy.json \
  --resources alice.res.json --resources bob.res.json --resources copy.res.json >verify.txt ||
  fail "verify: $(cat verify.txt)"
grep -q 'verdict: verified (SIMULATED' verify.txt || fail "verify verdict: $(cat verify.txt)"
for check in report.signature cert.chain policy.measurement.mrtd ca.binding report.engine report.inputs \
  output.blob ledger.inclusion; do
  grep -q "ok    $check" verify.txt || fail "verify did not print $check: $(cat verify.txt)"
done
rc=0
"$WARD" orders verify "$ID" --ledger "$L" --ca-cert ca/ca.pem >verify.txt 2>err.txt || rc=$?
((rc == 1)) && grep -q 'REJECTED at policy.simulated' verify.txt || fail "the strict policy accepted simulation"
rc=0
"$WARD" orders verify "$ID" --ledger "$L" --ca-cert ca/ca.pem --policy policy.json \
  --resources net.res.json >verify.txt 2>err.txt || rc=$?
((rc == 1)) && grep -q 'REJECTED at resource.net.tar' verify.txt || fail "a descriptor not used passed: $(cat verify.txt)"
pass "ward orders verify checks the report down to the simulated root and the ledger"

# 7. Any single field of the report changed: verify fails and names a check.
"$WARD" orders report "$ID" --ledger "$L" >report.json
"$WARD" orders verify "$ID" --ledger "$L" --ca-cert ca/ca.pem --policy policy.json --report report.json >/dev/null ||
  fail "the untouched report does not verify"
n=0
while IFS= read -r path; do
  jq --argjson p "$path" 'setpath($p; (getpath($p) | if type == "number" then . + 1 elif type == "string" then
      (if length > 0 then (.[0:length-1] + (if .[length-1:] == "0" then "1" else "0" end)) else "x" end)
      else . end))' report.json >tampered.json
  rc=0
  "$WARD" orders verify "$ID" --ledger "$L" --ca-cert ca/ca.pem --policy policy.json --report tampered.json \
    >verify.txt 2>/dev/null || rc=$?
  ((rc == 1)) || fail "a report with $path changed verified"
  grep -q 'REJECTED at ' verify.txt || fail "no check named for $path"
  n=$((n + 1))
done < <(jq -c 'paths(scalars)' report.json)
((n > 20)) || fail "only $n report fields"
pass "each of the report's $n fields, changed alone, makes verify fail naming a check"

# The offline bundle (EVM ledgers): the report proven from its blocks with no
# node asked, given the report block's hash from a node we trust; each forged,
# swapped or unpinned part is refused.
if [[ ${WARD_E2E_LEDGER:-sqlite} == evm ]]; then
  "$WARD" orders bundle "$ID" --ledger "$L" -o bundle.json 2>bundle.err || fail "orders bundle: $(cat bundle.err)"
  number=$(grep -oE 'in block [0-9]+' bundle.err | grep -oE '[0-9]+')
  HASH=$(evm_rpc eth_getBlockByNumber "[\"$(printf '0x%x' "$number")\",false]" | jq -r .result.hash)
  PREV=$(evm_rpc eth_getBlockByNumber "[\"$(printf '0x%x' $((number - 1)))\",false]" | jq -r .result.hash)
  grep -q "$HASH" bundle.err || fail "orders bundle named another block than the node's: $(cat bundle.err)"
  # WARD_E2E_BUNDLE_OUT keeps it (tests/unit/ledger/evm_bundle.json).
  [[ -z ${WARD_E2E_BUNDLE_OUT:-} ]] || cp bundle.json "$WARD_E2E_BUNDLE_OUT"
  offline() { offline_verify "$ID" "$@"; }
  rejected() { # rejected WHAT CHECK PATTERN FILE [ARGS...]
    local what=$1 check=$2 pattern=$3
    shift 3
    bundle_rejected "$what" "$check" "$pattern" "$ID" "$@"
  }
  offline bundle.json --block-hash "$HASH" >verify.txt || fail "the bundle does not verify: $(cat verify.txt)"
  grep -q 'verdict: verified (SIMULATED' verify.txt || fail "bundle verdict: $(cat verify.txt)"
  grep -q "ok    ledger.inclusion: sent from the CVM's bound address .* in block $number ($HASH, pinned)" verify.txt ||
    fail "the bundle's inclusion: $(cat verify.txt)"
  grep -q 'ok    ledger.bundle: CvmRegistered in block [0-9]*, OrderCreated in block [0-9]*, ReportSubmitted' verify.txt ||
    fail "the bundle's blocks: $(cat verify.txt)"
  rejected "no pinned block" ledger.inclusion 'is not pinned' bundle.json
  rejected "another block pinned" ledger.inclusion 'none of the bundle' bundle.json --block-hash "$PREV"
  # One hex digit of the report's receipt (inside the report bytes) changed.
  jq '.events.report.receipts[0] |= (.[0:1000] + (if .[1000:1001] == "0" then "1" else "0" end) + .[1001:])' \
    bundle.json >forged.json
  rejected "a forged receipt" ledger.bundle 'do not rebuild its receipts root' forged.json --block-hash "$HASH"
  # The header's timestamp field nudged: the block is no longer the pinned one.
  jq '.events.report.header |= (.[0:-200] + (if .[-200:-199] == "0" then "1" else "0" end) + .[-199:])' \
    bundle.json >forged.json
  rc=0
  offline forged.json --block-hash "$HASH" >verify.txt 2>&1 || rc=$?
  ((rc == 1)) && grep -q 'REJECTED at ledger\.' verify.txt || fail "a forged header verified: $(cat verify.txt)"
  # The order's creation swapped in for the report's block.
  jq '.events.report = .events.order' bundle.json >forged.json
  rejected "a swapped event" ledger.bundle 'is not ReportSubmitted' forged.json --block-hash "$HASH"
  # Another transaction of the block named.
  jq '.events.report.transaction = 7' bundle.json >forged.json
  rejected "a transaction index past the block" ledger.bundle 'points past' forged.json --block-hash "$HASH"
  # The bundle of this order shown as another's.
  rc=0
  offline_verify $((ID + 1)) bundle.json --block-hash "$HASH" >verify.txt 2>&1 || rc=$?
  ((rc == 1)) && grep -q 'REJECTED at ledger.order' verify.txt || fail "the bundle verified another order"
  head -c 3000 bundle.json >truncated.json
  expect_ward_error "a truncated bundle" "" 'not a bundle' -- orders verify "$ID" --ca-cert ca/ca.pem \
    --bundle truncated.json --block-hash "$HASH"
  rc=0
  "$WARD" orders verify "$ID" --ca-cert ca/ca.pem --bundle bundle.json --block-hash 0x1234 >/dev/null 2>err.txt || rc=$?
  ((rc == 2)) && grep -q 'block-hash 0x1234: not a 0x-prefixed 32-byte hash' err.txt ||
    fail "a bad --block-hash: exit $rc: $(cat err.txt)"
  pass "orders bundle: verified offline from its blocks with the pinned hash; unpinned, forged, swapped refused"
else
  expect_ward_error "a bundle of the embedded ledger" "" 'EVM ledger' -- orders bundle "$ID" --ledger "$L" -o b.json
  [[ ! -e b.json ]] || fail "orders bundle left b.json behind"
  # Anchors: the report's record must be in a checkpoint anchored on a chain.
  start_anvil
  "$WARD" keys new -o anchorer.key >/dev/null 2>&1
  give_gas anchorer.key
  A=$("$WARD" ledger anchor --deploy --evm "$EVM_NODE" --key anchorer.key --json | jq -r .anchors)
  anchored() { # anchored [ARGS...]: orders verify with --anchors
    "$WARD" orders verify "$ID" --ledger "$L" --ca-cert ca/ca.pem --policy policy.json --anchors "$A" "$@"
  }
  rc=0
  anchored >verify.txt 2>err.txt || rc=$?
  ((rc == 1)) && grep -q 'FAIL  ledger.anchor: no anchored checkpoint holds record' verify.txt ||
    fail "a report never anchored passed --anchors: $(cat verify.txt err.txt)"
  "$WARD" ledger anchor --ledger "$L" --anchors "$A" --key anchorer.key >/dev/null
  anchored >verify.txt || fail "the anchored report does not verify: $(cat verify.txt)"
  grep -Eq 'ok    ledger.anchor: record [0-9]+ is in the checkpoint of size [0-9]+ anchored in block [0-9]+ at 20' \
    verify.txt || fail "no anchor named: $(cat verify.txt)"
  # Forged, re-rooted and rolled-back anchors: tests/e2e/anchor.sh (the same
  # check, ledger/evm/anchored.h, through ledger verify).
  pass "orders verify --anchors: refused before the ledger was anchored, the anchor named after"
fi

# 3. The order's engine is not the one the data was granted for.
rc=0
"$WARD" orders create --ledger "$L" --key carol.key --cvm "$CVM0" --engine net.res.json --grant g-alice.json \
  --output-to "$CAROL" --deposit 10 --store "$STORE" >/dev/null 2>err.txt || rc=$?
((rc == 1)) && grep -q 'grant.engine' err.txt || fail "orders create took a grant for another engine: $(cat err.txt)"
grant net carol "$CVM0" "$(digest net)" g-net.json
ID=$(raw_order "$CVM0" net g-net.json g-alice.json)
expect_error "$ID" 'grant.engine' "an engine other than the granted one is refused by the CVM"

# 4. A grant for another CVM.
grant alice alice "$CVM1" "$(digest copy)" g-alice-cvm1.json
ID=$(raw_order "$CVM0" copy g-copy.json g-alice-cvm1.json)
expect_error "$ID" 'grant.cvm' "a grant for another CVM is refused"

# 5. An expired grant.
grant bob bob "$CVM0" "$(digest copy)" g-bob-short.json --expires 2s
sleep 2.5
ID=$(raw_order "$CVM0" copy g-copy.json g-bob-short.json)
expect_error "$ID" 'grant.expired' "an expired grant is refused"

# 6. Ciphertext changed in the store.
printf 'second file %s\n' "$MARK_B" >own/bob2.txt
"$WARD" files upload own/bob2.txt --key bob.key --store "$STORE" -o bob2.res.json >/dev/null
grant bob2 bob "$CVM0" "$(digest copy)" g-bob2.json
blob=$STORE/$(jq -r .resource.ciphertext_sha256 bob2.res.json)
flip_byte "$blob" 200
ID=$(order "$CVM0" copy g-copy.json g-bob2.json)
expect_error "$ID" 'is corrupt' "tampered ciphertext in the store is refused before decryption"

# 8. The network from inside the sandbox.
grant alice alice "$CVM0" "$(digest net)" g-alice-net.json
ID=$(order "$CVM0" net g-net.json g-alice-net.json)
expect_error "$ID" 'status 3' "an engine cannot reach the network (not even the host's loopback)"

# 9. Time and memory limits.
grant sleep carol "$CVM0" "$(digest sleep)" g-sleep.json
ID=$(order "$CVM0" sleep g-sleep.json)
expect_error "$ID" 'time limit' "an engine over its time limit is stopped"
pgrep -f '/engine sleep' >/dev/null && fail "the sleeping engine is still running"
grant alloc carol "$CVM0" "$(digest alloc)" g-alloc.json
ID=$(order "$CVM0" alloc g-alloc.json)
expect_error "$ID" 'memory|status 3' "an engine over its memory limit is stopped"

# 10. The loader killed mid-order: the order is not Done, and completes after
# the node restarts the loader.
grant slow carol "$CVM1" "$(digest slow)" g-slow.json
grant bob bob "$CVM1" "$(digest slow)" g-bob-slow.json
ID=$(order "$CVM1" slow g-slow.json g-bob-slow.json)
for ((i = 0; i < 100; i++)); do
  status=$("$WARD" orders get "$ID" --ledger "$L" --json | jq -r .status)
  [[ $status == processing ]] && break
  sleep 0.1
done
[[ $status == processing ]] || fail "order $ID never started: $status"
sleep 1
pkill -KILL -f "ward-loader --dir $TMP/node/cvm-1" || fail "no loader to kill"
sleep 0.3
status=$("$WARD" orders get "$ID" --ledger "$L" --json | jq -r .status)
[[ $status == processing ]] || fail "after the kill the order is $status"
"$WARD" orders wait "$ID" --ledger "$L" --timeout 60 >/dev/null || fail "order $ID after restart: $(tail -5 node.out)"
grep -q 'restarting it' node.out || fail "the node did not restart the loader: $(cat node.out)"
"$WARD" orders result "$ID" --ledger "$L" --key carol.key -o result-slow >/dev/null
same_file own/bob.txt result-slow/output/0-bob.txt "the restarted order's output"
pass "a loader killed mid-order leaves the order processing; restarted, it completes it"

# 11. Data in an http store: a real nginx with WebDAV PUT, the loader fetching over HTTP.
mkdir -p nginx/www/blobs
echo "$TMP" >nginx/www/probe
# start_nginx PORT: true once our nginx answers there (serving our probe file,
# not another server's answer); false when it could not bind.
start_nginx() {
  cat >nginx/nginx.conf <<CONF
daemon off; master_process off; worker_processes 1;
pid $TMP/nginx/nginx.pid; error_log $TMP/nginx/error.log;
events { worker_connections 64; }
http {
  access_log $TMP/nginx/access.log;
  client_body_temp_path $TMP/nginx/body; proxy_temp_path $TMP/nginx/proxy; fastcgi_temp_path $TMP/nginx/fcgi;
  uwsgi_temp_path $TMP/nginx/uwsgi; scgi_temp_path $TMP/nginx/scgi;
  server { listen 127.0.0.1:$1; root $TMP/nginx/www;
    location /blobs/ { dav_methods PUT; create_full_put_path on; client_max_body_size 0; } }
}
CONF
  /usr/sbin/nginx -c "$TMP/nginx/nginx.conf" -p "$TMP/nginx" 2>>nginx/start.err &
  NGINX=$!
  for ((i = 0; i < 100; i++)); do
    [[ $(curl -s "http://127.0.0.1:$1/probe") == "$TMP" ]] && return 0
    kill -0 "$NGINX" 2>/dev/null || { NGINX=; return 1; }
    sleep 0.05
  done
  fail "nginx did not answer on port $1: $(cat nginx/start.err)"
}
# Below the kernel's ephemeral range (32768 up), so no client's socket holds
# the port; another server may, so a few tries.
for ((try = 0; try < 10; try++)); do
  PORT=$((20000 + RANDOM % 12000))
  start_nginx "$PORT" && break
done
[[ -n $NGINX ]] || fail "nginx could not bind a port: $(cat nginx/start.err)"
HTTP_STORE=http://127.0.0.1:$PORT/blobs
"$WARD" files upload own/bob.txt --key bob.key --store "$HTTP_STORE" -o bob-http.res.json >/dev/null
jq -e --arg s "$HTTP_STORE/" '.resource.uri | startswith($s)' bob-http.res.json >/dev/null || fail "not in the http store"
grant bob-http bob "$CVM0" "$(digest copy)" g-bob-http.json
ID=$(order "$CVM0" copy g-copy.json g-bob-http.json)
"$WARD" orders wait "$ID" --ledger "$L" --timeout 60 >/dev/null || fail "order $ID with an http store: $(tail -5 node.out)"
"$WARD" orders result "$ID" --ledger "$L" --key carol.key -o result-http >/dev/null
same_file own/bob.txt result-http/output/0-bob.txt "the input fetched over HTTP"
grep -q "GET /blobs/$(jq -r .resource.ciphertext_sha256 bob-http.res.json)" nginx/access.log ||
  fail "the loader did not fetch from nginx"
pass "an input stored behind nginx (WebDAV) is fetched over HTTP and its digest checked"

# A grant reads the header alone (a ranged GET, checked against the
# descriptor's header_sha256), however large the file: nginx's access log
# counts the bytes it sent for the grant.
truncate -s 1G own/big.bin
"$WARD" files upload own/big.bin --key bob.key --store "$HTTP_STORE" -o big.res.json >/dev/null
rm own/big.bin
before=$(wc -l <nginx/access.log)
grant big bob "$CVM0" "$(digest copy)" g-big.json
sent=$(tail -n +$((before + 1)) nginx/access.log | awk '{ n += $10 } END { print n + 0 }')
((sent < 65536)) || fail "granting a 1 GiB file made nginx send $sent bytes"
tail -n +$((before + 1)) nginx/access.log | grep -q '"GET /blobs/[0-9a-f]* HTTP/1.1" 206 ' ||
  fail "the grant did not read a range: $(tail -n +$((before + 1)) nginx/access.log)"
rm -f nginx/www/blobs/"$(jq -r .resource.ciphertext_sha256 big.res.json)"
pass "granting a 1 GiB file in an http store transfers $sent bytes (a ranged read of its header)"

# No plaintext, key or output outside the parties' own files and Carol's results.
leaks=$(grep -rlsF -e "$MARK_A" -e "$MARK_B" "$STORE" "$TMP/work" "$TMP/node" /dev/shm 2>/dev/null || true)
leaks+=$(find "${TMPDIR:-/tmp}" -xdev -type f -newer start.stamp 2>/dev/null | grep -v "^$TMP/\(own\|result\)" |
  xargs -r grep -lsF -e "$MARK_A" -e "$MARK_B" 2>/dev/null || true)
[[ -z $leaks ]] || fail "markers found in: $leaks"
left=$(find "$TMP/work" -mindepth 2 2>/dev/null)
[[ -z $left ]] || fail "work directories left behind: $left"
pass "no input marker in the store, work directories, node directories, /dev/shm or /tmp"

started=$SECONDS
kill -TERM "$NODE"
wait "$NODE" || fail "ward node run did not stop cleanly: $(tail -3 node.out)"
NODE=
((SECONDS - started < 4)) || fail "the node took $((SECONDS - started)) s to stop (its loaders ignored SIGTERM?)"
pgrep -f "ward-loader --dir $TMP/node" >/dev/null && fail "loaders still running after the node stopped"
pass "the node stops its CVMs on SIGTERM"
