#!/usr/bin/env bash
# Failover of a batch order (issue 14), through the real binaries: a ledger, a
# certification center, a key broker, and two nodes of one provider whose
# CVMs share a tee offer with a 3 s failover timeout and beat every 0.5 s.
# Carol places her order on the offer (not on a CVM), with her engine and
# Alice's file granted to the broker. One CVM takes it; its whole node is
# killed mid-run (SIGKILL, no goodbye); the other node's idle CVM reassigns
# the order once the heartbeats stop, takes it, gets the keys from the broker
# and finishes it. No owner acts. Billing counts the dead CVM's time only up
# to its last heartbeat. Prints the failover time (kill to resumed);
# bench/failover.sh runs it with other timeouts and heartbeats
# (WARD_FAILOVER_TIMEOUT seconds, WARD_FAILOVER_HEARTBEAT_MS).
: "${WARD_TEST_ENGINE:?set WARD_TEST_ENGINE to the static test engine}"
WARD_TEST_ENGINE=$(realpath "$WARD_TEST_ENGINE")
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
TIMEOUT=${WARD_FAILOVER_TIMEOUT:-3}
HEARTBEAT_MS=${WARD_FAILOVER_HEARTBEAT_MS:-500}
LOADER=$(dirname "$WARD")/ward-loader
[[ -x $LOADER ]] || fail "no ward-loader next to $WARD"
chmod 711 "$TMP"

NODES=()
cleanup() {
  set +e
  for pid in "${NODES[@]}"; do kill -KILL -- "-$pid" 2>/dev/null; done
  stop_servers
  rm -rf "$TMP"
}
trap cleanup EXIT

start_ledger_and_ca
recipient() { "$WARD" keys show --json "$1.key" | jq -r .recipient; }
for p in alice carol provider; do
  "$WARD" keys new -o "$p.key" >/dev/null 2>&1
  give_gas "$p.key"
  "$WARD" accounts register --ledger "$L" --key "$p.key" --name "$p" >/dev/null
  "$WARD" accounts fund --ledger "$L" --key "$p.key" --to "$(account "$p")" --amount 100000 >/dev/null
done
CAROL=$(recipient carol)
STORE=$TMP/store
start_kms
echo "{\"allow_simulated\": true, \"measurements\": {\"mrtd\": [\"$(sha384sum "$LOADER" | cut -d' ' -f1)\"]}}" \
  >policy.json

TEE=$("$WARD" offers create --ledger "$L" --key provider.key --kind tee --name h100 --resource sim \
  --price per-hour:3600 --timeout "$TIMEOUT" --json | jq -r .index)
[[ $("$WARD" offers get "$TEE" --ledger "$L" --json | jq .timeout) == "$TIMEOUT" ]] || fail "the offer has no timeout"
# start_node NAME: one node of the provider, one CVM on the offer, in its own
# process group (killed whole by kill_node).
start_node() {
  setsid "$WARD" node run --ledger "$L" --key provider.key --store "$STORE" --ca "$CA" --platform sim --cvms 1 \
    --offer "$TEE" --dir "$1" --work "$TMP/work-$1" --heartbeat-ms "$HEARTBEAT_MS" --kms "$KMS" --time-limit 60 \
    --cvm-cores 2 --cvm-memory-mib 4096 \
    >>"$1.out" 2>&1 &
  NODES+=($!)
}
start_node a
start_node b
for ((i = 0; i < 300; i++)); do
  (($("$WARD" node cvms --ledger "$L" --json | jq '.cvms | length') == 2)) && break
  sleep 0.1
done
(($("$WARD" node cvms --ledger "$L" --json | jq '.cvms | length') == 2)) || fail "the nodes did not list 2 CVMs: $(cat a.out b.out)"
cvm_of() { "$WARD" ca verify "$1/cvm-0/cvm.pem" --ca-cert ca/ca.pem --policy ca-policy.json --json | jq -r .cvm_id; }
CVM_A=$(cvm_of a)
CVM_B=$(cvm_of b)

# Carol's engine copies its inputs, then sleeps 8 s; both grants go to the broker.
mkdir eng
cp "$WARD_TEST_ENGINE" eng/engine
"$WARD" engine pack eng --entrypoint /engine --entrypoint slow --entrypoint 8 -o slow.tar >/dev/null
"$WARD" files upload slow.tar --key carol.key --store "$STORE" -o slow.res.json >/dev/null
ENGINE=$(jq -r .resource.engine slow.res.json)
MARK="WARD-E2E-FAILOVER-$RANDOM$RANDOM"
mkdir own
printf 'id,secret\n1,%s\n' "$MARK" >own/alice.csv
"$WARD" files upload own/alice.csv --key alice.key --store "$STORE" -o alice.res.json >/dev/null
grant() { # grant RES OWNER OUT
  "$WARD" files grant "$1" --key "$2.key" --ledger "$L" --broker "$KMS" --cvm-policy policy.json \
    --policy broker-policy.json --engine "$ENGINE" --ca-cert ca/ca.pem --output-to "$CAROL" -o "$3" >/dev/null ||
    fail "granting $1 to the broker"
}
grant slow.res.json carol g-engine.json
grant alice.res.json alice g-alice.json

# A grant to one CVM cannot go on an offer: the next CVM could not read it.
"$WARD" files grant alice.res.json --key alice.key --ledger "$L" --cvm "$CVM_A" --engine "$ENGINE" \
  --ca-cert ca/ca.pem --policy policy.json --output-to "$CAROL" -o g-one.json >/dev/null
expect_ward_error "an order on an offer refuses a grant to one CVM" "" "grant\.cvm: .*key broker" -- \
  orders create --ledger "$L" --key carol.key --tee-offer "$TEE" --engine slow.res.json --grant g-engine.json \
  --grant g-one.json --output-to "$CAROL" --deposit 100000 --store "$STORE"

# An order needing a GPU, which neither CVM declares: no CVM takes it.
BIG=$("$WARD" orders create --ledger "$L" --key carol.key --tee-offer "$TEE" --need-gpus 1 --engine slow.res.json \
  --grant g-engine.json --grant g-alice.json --output-to "$CAROL" --deposit 10 --store "$STORE" --json |
  jq -r .order)
ID=$("$WARD" orders create --ledger "$L" --key carol.key --tee-offer "$TEE" --need-cores 2 --need-memory-mib 2048 \
  --engine slow.res.json --grant g-engine.json --grant g-alice.json --output-to "$CAROL" --deposit 90000 \
  --store "$STORE" --json | jq -r .order)
order_field() { "$WARD" orders get "$ID" --ledger "$L" --json | jq -r "$1"; }
for ((i = 0; i < 300; i++)); do
  [[ $(order_field .status) == processing ]] && break
  sleep 0.1
done
[[ $(order_field .status) == processing ]] || fail "no CVM took and started order $ID: $(cat a.out b.out)"
FIRST=$(order_field .cvm)
[[ $FIRST == "$CVM_A" || $FIRST == "$CVM_B" ]] || fail "order $ID is on CVM $FIRST, neither node's"
if [[ $FIRST == "$CVM_A" ]]; then DEAD=0 SURVIVOR=$CVM_B; else DEAD=1 SURVIVOR=$CVM_A; fi
pass "order $ID was taken from tee offer $TEE by CVM ${FIRST:0:16}"
big=$("$WARD" orders get "$BIG" --ledger "$L" --json)
jq -e '.status == "new" and (.cvm | test("^0+$"))' <<<"$big" >/dev/null ||
  fail "an order needing a GPU was taken by a CVM without one: $big"
"$WARD" orders cancel "$BIG" --ledger "$L" --key carol.key >/dev/null
pass "order $BIG, needing a GPU no CVM declares, stays untaken (and is canceled)"
sleep 2  # into the engine's run, heartbeats flowing meanwhile
[[ $(order_field .status) == processing && $(order_field .cvm) == "$FIRST" ]] ||
  fail "the running order was moved off a live CVM: $(order_field .)"

# The node running it dies whole.
KILLED=$(date +%s.%N)
kill -KILL -- "-${NODES[DEAD]}"
unset "NODES[DEAD]"
for ((i = 0; i < 300; i++)); do
  [[ $(order_field .cvm) == "$SURVIVOR" && $(order_field .status) == processing ]] && break
  sleep 0.05
done
RESUMED=$(date +%s.%N)
[[ $(order_field .cvm) == "$SURVIVOR" ]] || fail "order $ID did not move to CVM ${SURVIVOR:0:16}: $(order_field .)"
FAILOVER=$(awk -v a="$KILLED" -v b="$RESUMED" 'BEGIN { printf "%.2f", b - a }')
"$WARD" orders wait "$ID" --ledger "$L" --timeout 60 >wait.out 2>&1 ||
  fail "order $ID after failover: $(cat wait.out; tail -5 a.out b.out)"
pass "order $ID resumed on CVM ${SURVIVOR:0:16} ${FAILOVER} s after the kill (timeout $TIMEOUT s, heartbeat $HEARTBEAT_MS ms) and finished"
echo "failover_seconds=$FAILOVER"

"$WARD" orders result "$ID" --ledger "$L" --key carol.key -o result >/dev/null
same_file own/alice.csv result/output/0-alice.csv "Alice's file in the result after failover"
"$WARD" orders verify "$ID" --ledger "$L" --ca-cert ca/ca.pem --policy policy.json --kms "$KMS" \
  --kms-policy broker-policy.json >verify.out || fail "orders verify: $(cat verify.out)"
grep -q "report.cvm: CVM ${SURVIVOR:0:16}" verify.out || fail "the report is not the survivor's: $(cat verify.out)"
"$WARD" kms log "$KMS" --ca-cert ca/ca.pem --policy broker-policy.json --json |
  jq -e --argjson o "$ID" --arg a "$FIRST" --arg b "$SURVIVOR" \
    '[.releases[] | select(.order == $o) | .cvm] | (map(select(. == $a)) | length) == 2 and
     (map(select(. == $b)) | length) == 2' >/dev/null ||
  fail "the broker's log does not hold both CVMs' releases: $("$WARD" kms log "$KMS" --ca-cert ca/ca.pem --policy broker-policy.json)"
pass "the broker released both grants to each CVM in turn, each for this order; orders verify checks the survivor's"

# On an EVM ledger, the offline bundle of the moved order proves the
# survivor's take (OrderTaken, sent by its bound address) with the report.
# WARD_E2E_BUNDLE_OUT keeps it (tests/unit/ledger/evm_bundle_taken.json).
if [[ ${WARD_E2E_LEDGER:-sqlite} == evm ]]; then
  "$WARD" orders bundle "$ID" --ledger "$L" -o bundle.json 2>bundle.err || fail "orders bundle: $(cat bundle.err)"
  number=$(grep -oE 'in block [0-9]+' bundle.err | grep -oE '[0-9]+')
  HASH=$(evm_rpc eth_getBlockByNumber "[\"$(printf '0x%x' "$number")\",false]" | jq -r .result.hash)
  offline_verify "$ID" bundle.json --block-hash "$HASH" >bundle-verify.out ||
    fail "the bundle does not verify: $(cat bundle-verify.out)"
  grep -q 'ok    ledger.bundle: CvmRegistered in block [0-9]*, OrderCreated in block [0-9]*, OrderTaken in block' \
    bundle-verify.out || fail "the bundle's blocks: $(cat bundle-verify.out)"
  grep -q "report.cvm: CVM ${SURVIVOR:0:16}" bundle-verify.out || fail "the bundle's CVM: $(cat bundle-verify.out)"
  [[ -z ${WARD_E2E_BUNDLE_OUT:-} ]] || cp bundle.json "$WARD_E2E_BUNDLE_OUT"
  # The take left out, or the order's creation swapped in for it.
  jq 'del(.events.taken)' bundle.json >forged.json
  bundle_rejected "a bundle without the take" ledger.bundle 'has no OrderTaken proof' "$ID" forged.json \
    --block-hash "$HASH"
  jq '.events.taken = .events.order' bundle.json >forged.json
  bundle_rejected "the creation in the take's place" ledger.bundle 'is not OrderTaken' "$ID" forged.json \
    --block-hash "$HASH"
  pass "orders bundle: the survivor's take and report verified offline from their blocks; a missing or swapped take refused"
fi

# Billing: the dead CVM's time up to its last heartbeat, then the survivor's run.
"$WARD" orders get "$ID" --ledger "$L" --json >order.json
jq -e '.billed >= 1 and .billed <= 6 and .payments[0].amount == .billed + (.ended_at - .started_at)' order.json \
  >/dev/null || fail "the provider's pay is not the dead CVM's billed time plus the survivor's: $(cat order.json)"
pass "billed $(jq .billed order.json) s on the dead CVM (to its last heartbeat) + $(jq '.ended_at - .started_at' order.json) s on the survivor, at 1/s"
