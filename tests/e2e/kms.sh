#!/usr/bin/env bash
# The key broker (issue 14), through the real binaries: a ledger and a
# certification center served here, a broker (`ward kms serve`) in a
# simulated CVM of its own, a node whose CVM asks the broker, and three
# parties. Alice grants her file to the broker, not to a CVM; Carol's order
# on the node's CVM gets the key re-wrapped for that order on that CVM. Then
# the broker refuses, each by its named check: a CVM whose evidence is not
# the measurement the owner pinned, a CVM the order does not name (the
# broker's own, certified but not listed), a finished order, a revoked grant
# and a used-up one (the last three sent as the CVM itself, the way a
# loader would, by the e2e_forge tool). A replica takes the group key from
# the broker, a restarted broker unseals it, and a tampered sealed key is
# refused, as is a would-be replica of other code.
: "${WARD_TEST_ENGINE:?set WARD_TEST_ENGINE to the static test engine}"
: "${WARD_FORGE:?set WARD_FORGE to the e2e_forge tool}"
WARD_TEST_ENGINE=$(realpath "$WARD_TEST_ENGINE")
WARD_FORGE=$(realpath "$WARD_FORGE")
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LOADER=$(dirname "$WARD")/ward-loader
[[ -x $LOADER ]] || fail "no ward-loader next to $WARD"
chmod 711 "$TMP"  # the sandbox's unprivileged uid must reach the work directory

NODE=
cleanup() {
  set +e
  [[ -z $NODE ]] || { kill "$NODE"; wait "$NODE"; } 2>/dev/null
  stop_servers
  rm -rf "$TMP"
}
trap cleanup EXIT

start_ledger_and_ca
recipient() { "$WARD" keys show --json "$1.key" | jq -r .recipient; }
for p in alice carol provider; do
  "$WARD" keys new -o "$p.key" >/dev/null 2>&1
  "$WARD" accounts register --ledger "$L" --key "$p.key" --name "$p" >/dev/null
  "$WARD" accounts fund --ledger "$L" --key "$p.key" --to "$(account "$p")" --amount 1000 >/dev/null
done
CAROL=$(recipient carol)
STORE=$TMP/store

# The broker: its own simulated CVM, measured as the `ward` binary.
start_kms
BROKER_I=$((${#SERVER_PIDS[@]} - 1))
# stop_server INDEX: stops one server started here, which must exit 0 with
# nothing on stderr.
stop_server() {
  kill -TERM "${SERVER_PIDS[$1]}"
  local rc=0
  wait "${SERVER_PIDS[$1]}" || rc=$?
  ((rc == 0)) && [[ ! -s ${SERVER_LOGS[$1]} ]] || fail "a server exited $rc: $(cat "${SERVER_LOGS[$1]}")"
  unset "SERVER_PIDS[$1]" "SERVER_LOGS[$1]"
}
BROKER=$(curl -sf "$KMS/v1/broker" | jq -r .broker.recipient)
[[ $BROKER == age1* ]] || fail "the broker serves no statement: $(curl -s "$KMS/v1/broker")"

start_sim_node --time-limit 10 --kms "$KMS"

mkdir eng
cp "$WARD_TEST_ENGINE" eng/engine
"$WARD" engine pack eng --entrypoint /engine --entrypoint copy -o copy.tar >/dev/null
"$WARD" files upload copy.tar --key carol.key --store "$STORE" -o copy.res.json >/dev/null
ENGINE=$(jq -r .resource.engine copy.res.json)
"$WARD" files grant copy.res.json --key carol.key --ledger "$L" --cvm "$CVM" --engine "$ENGINE" \
  --ca-cert ca/ca.pem --policy policy.json --output-to "$CAROL" -o g-copy.json >/dev/null
MARK="WARD-E2E-KMS-$RANDOM$RANDOM"
mkdir own
printf 'id,secret\n1,%s\n' "$MARK" >own/alice.csv
"$WARD" files upload own/alice.csv --key alice.key --store "$STORE" -o alice.res.json >/dev/null

# broker_grant OUT CVM_POLICY [ARGS...]: Alice's file granted to the broker.
broker_grant() {
  local out=$1 cvm_policy=$2
  shift 2
  "$WARD" files grant alice.res.json --key alice.key --ledger "$L" --broker "$KMS" --cvm-policy "$cvm_policy" \
    --engine "$ENGINE" --ca-cert ca/ca.pem --policy broker-policy.json --output-to "$CAROL" -o "$out" "$@" >grant.out ||
    fail "granting to the broker: $(cat grant.out)"
}
# order GRANT: Carol's order of her engine on Alice's file; prints its id.
order() {
  "$WARD" orders create --ledger "$L" --key carol.key --cvm "$CVM" --engine copy.res.json --grant g-copy.json \
    --grant "$1" --output-to "$CAROL" --deposit 10 --store "$STORE" --json | jq -r .order
}
wait_order() { # wait_order ID: prints how it ended
  "$WARD" orders wait "$1" --ledger "$L" --timeout 60 >wait.out 2>&1 || true
  cat wait.out
}

# 1. The grant names the broker, its recipient and the CVM policy, no CVM.
broker_grant g-broker.json policy.json
grep -q "to key broker $KMS" grant.out || fail "the grant output does not name the broker: $(cat grant.out)"
"$WARD" files show --json g-broker.json | jq -e --arg b "$BROKER" '.broker == $b and (has("cvm") | not) and
  (.cvm_policy.measurements.mrtd | length) == 1' >/dev/null || fail "the grant does not show the broker: $("$WARD" files show g-broker.json)"
rc=0
"$WARD" files grant alice.res.json --key alice.key --ledger "$L" --broker "$KMS" --engine "$ENGINE" \
  --ca-cert ca/ca.pem --policy broker-policy.json --output-to "$CAROL" -o x.json 2>usage.err || rc=$?
((rc == 2)) && grep -q -- "--cvm-policy" usage.err && [[ ! -e x.json ]] ||
  fail "a grant to a broker without --cvm-policy: exit $rc: $(cat usage.err)"
expect_ward_error "a broker of another measurement is refused by the owner" "" "policy\.measurement" -- \
  files grant alice.res.json --key alice.key --ledger "$L" --broker "$KMS" --cvm-policy policy.json \
  --engine "$ENGINE" --ca-cert ca/ca.pem --policy policy.json --output-to "$CAROL" -o x.json

# 2. The honest order: the CVM asks the broker, which releases the key for it.
HONEST=$(order g-broker.json)
"$WARD" orders wait "$HONEST" --ledger "$L" --timeout 60 >wait.out 2>&1 ||
  fail "the order through the broker: $(cat wait.out; tail -5 node.out)"
"$WARD" orders result "$HONEST" --ledger "$L" --key carol.key -o result >/dev/null
same_file own/alice.csv result/output/0-alice.csv "Alice's file, released by the broker"
grep -q "order $HONEST: the key broker released grant 1" node.out || fail "the loader did not log the release"
"$WARD" kms log "$KMS" --ca-cert ca/ca.pem --policy broker-policy.json --json >log.json ||
  fail "ward kms log: $(cat log.json)"
jq -e --argjson o "$HONEST" --arg c "$CVM" '.releases | length == 1 and .[0].order == $o and .[0].cvm == $c' \
  log.json >/dev/null || fail "the release log: $(cat log.json)"
pass "order $HONEST ran on a grant to the broker; the release log names it and the CVM"
verify() { # verify ID ARGS...: ward orders verify with the broker's log
  local id=$1
  shift
  "$WARD" orders verify "$id" --ledger "$L" --ca-cert ca/ca.pem --policy policy.json "$@" >verify.out 2>&1
}
verify "$HONEST" --kms "$KMS" --kms-policy broker-policy.json || fail "orders verify --kms: $(cat verify.out)"
grep -q "kms.release.*1 input(s) released by a key broker" verify.out || fail "no kms.release check: $(cat verify.out)"
rc=0
verify "$HONEST" --kms "$KMS" --kms-policy policy.json || rc=$?
((rc != 0)) && grep -q "policy.measurement" verify.out || fail "a broker of another measurement was trusted: $(cat verify.out)"
pass "ward orders verify --kms finds the release in the broker's verified log"

# 3. A CVM whose evidence is not what Alice pinned: the broker refuses.
echo "{\"allow_simulated\": true, \"measurements\": {\"mrtd\": [\"$(printf '%096d' 7)\"]}}" >other-cvm.json
broker_grant g-other.json other-cvm.json
ID=$(order g-other.json)
wait_order "$ID" | grep -Eq "order $ID error.*cvm\.evidence: .*policy\.measurement" ||
  fail "the broker released to a CVM of another measurement: $(cat wait.out)"
pass "the broker refuses a CVM whose measurement the grant does not allow -> $(cat wait.out)"

# 4. Requests a loader would not send, as a CVM would sign them.
release() { # release CVM_DIR ORDER INPUT: the broker's refusal (stderr) or entry
  "$WARD_FORGE" release "$KMS" "$1" "$2" "$3" "$BROKER" 2>&1 && return 0
  return 1
}
out=$(release broker "$HONEST" 1) && fail "the broker released to its own CVM, which the order does not name: $out"
[[ $out =~ order\.cvm: ]] || fail "unexpected refusal: $out"
pass "the broker refuses a certified CVM the order does not name -> ${out#forge: }"
out=$(release node/cvm-0 "$HONEST" 1) && fail "the broker released for a finished order: $out"
[[ $out =~ order\.status:.*done ]] || fail "unexpected refusal: $out"
pass "the broker refuses a finished order -> ${out#forge: }"

# The node stops, so that its CVM's orders stay where the test puts them.
kill "$NODE"
wait "$NODE" 2>/dev/null || true
NODE=
cvm_tx() { "$WARD_FORGE" submit "$L" node/cvm-0/cvm.key "$1" "$2" >/dev/null 2>tx.err; }

# A revoked grant: the order started, its use counted, then Alice revokes.
broker_grant g-rev.json policy.json
ID=$(order g-rev.json)
cvm_tx orders.start "{\"order\": $ID}" || fail "orders.start: $(cat tx.err)"
out=$(release node/cvm-0 "$ID" 1) || fail "the broker refused a started order on a live grant: $out"
"$WARD" files revoke g-rev.json --ledger "$L" --key alice.key >/dev/null
out=$(release node/cvm-0 "$ID" 1) && fail "the broker released a revoked grant: $out"
[[ $out =~ grant\.revoked: ]] || fail "unexpected refusal: $out"
pass "the broker refuses a revoked grant -> ${out#forge: }"

# A used-up grant: --uses 1, counted for one order; the second is refused.
broker_grant g-once.json policy.json --uses 1
GID=$("$WARD" files show --json g-once.json | jq -r .id)
ALICE=$(account alice)
ENTRY="{\"id\": \"$GID\", \"owner\": \"$ALICE\", \"uses\": 1}"
FIRST=$(order g-once.json)
SECOND=$(order g-once.json)
cvm_tx orders.start "{\"order\": $FIRST}" || fail "orders.start: $(cat tx.err)"
out=$(release node/cvm-0 "$FIRST" 1) && fail "the broker released before the ledger counted the use: $out"
[[ $out =~ grant\.uses: ]] || fail "unexpected refusal: $out"
cvm_tx grants.use "{\"order\": $FIRST, \"grants\": [$ENTRY]}" || fail "grants.use: $(cat tx.err)"
out=$(release node/cvm-0 "$FIRST" 1) || fail "the broker refused the counted use: $out"
out=$(release node/cvm-0 "$FIRST" 0) && fail "the broker released a grant to a CVM, not to it: $out"
[[ $out =~ grant\.broker: ]] || fail "unexpected refusal: $out"
cvm_tx orders.start "{\"order\": $SECOND}" || fail "orders.start: $(cat tx.err)"
cvm_tx grants.use "{\"order\": $SECOND, \"grants\": [$ENTRY]}" && fail "the ledger counted a second use"
out=$(release node/cvm-0 "$SECOND" 1) && fail "the broker released a used-up grant: $out"
[[ $out =~ grant\.uses: ]] || fail "unexpected refusal: $out"
pass "the broker refuses a used-up grant -> ${out#forge: }"

# 5. A replica takes the group key from the broker: same recipient, and it
# releases for the counted order; its log is its own.
start_ward_server kms serve --dir replica --ledger "$L" --ca "$CA" --platform sim --peer "$KMS"
REPLICA=$URL
REPLICA_I=$((${#SERVER_PIDS[@]} - 1))
[[ $(curl -sf "$REPLICA/v1/broker" | jq -r .broker.recipient) == "$BROKER" ]] || fail "the replica has another key"
out=$("$WARD_FORGE" release "$REPLICA" node/cvm-0 "$FIRST" 1 "$BROKER" 2>&1) || fail "the replica refused: $out"
"$WARD" kms log "$REPLICA" --ca-cert ca/ca.pem --policy broker-policy.json --json | jq -e '.releases | length == 1' \
  >/dev/null || fail "the replica's log"
"$WARD" kms log "$KMS" --ca-cert ca/ca.pem --policy broker-policy.json >log.txt || fail "the broker's log: $(cat log.txt)"
grep -q "3 releases, every signature and link checked" log.txt || fail "the broker's log: $(cat log.txt)"
rc=0
verify "$HONEST" --kms "$REPLICA" --kms-policy broker-policy.json || rc=$?
((rc == 1)) && grep -q "REJECTED at kms.release" verify.out || fail "a log without the release verified: $(cat verify.out)"
verify "$HONEST" --kms "$REPLICA" --kms "$KMS" --kms-policy broker-policy.json ||
  fail "orders verify with both replicas' logs: $(cat verify.out)"
pass "a replica of the same measurement took the group key and releases with it; orders verify needs the log that holds the release"

# A broker of other code (the ward binary with one byte more: another
# measurement) asks for the group key: refused, and nothing is kept.
cp "$WARD" ward-other
echo >>ward-other
rc=0
./ward-other kms serve --dir other --ledger "$L" --ca "$CA" --platform sim --peer "$KMS" --listen 127.0.0.1:0 \
  >other.out 2>other.err || rc=$?
((rc == 1)) && grep -q "peer\.evidence: .*policy\.measurement\.mrtd" other.err ||
  fail "a broker of another measurement got the group key: exit $rc: $(cat other.out other.err)"
[[ ! -e other/group.sealed ]] || fail "the refused broker kept a group key"
pass "a broker of another measurement is refused the group key -> $(cat other.err)"

# 6. Restarted, the broker unseals its key; a tampered sealed key is refused.
stop_server "$REPLICA_I"
stop_server "$BROKER_I"
[[ $(head -n1 broker/group.sealed) == ward-sim-sealed/v1 ]] || fail "the group key is not sealed"
grep -q AGE-SECRET-KEY broker/group.sealed && fail "the group key is on disk in the clear"
start_ward_server kms serve --dir broker --ledger "$L" --ca "$CA" --platform sim
BROKER_I=$((${#SERVER_PIDS[@]} - 1))
[[ $(curl -sf "$URL/v1/broker" | jq -r .broker.recipient) == "$BROKER" ]] || fail "the restarted broker has another key"
"$WARD" kms log "$URL" --ca-cert ca/ca.pem --policy broker-policy.json | grep -q "3 releases" ||
  fail "the restarted broker lost its log"
stop_server "$BROKER_I"
sed -i '2s/^./X/' broker/group.sealed
expect_ward_error "a tampered sealed key is refused" "" "kms\.seal|does not open" -- \
  kms serve --dir broker --ledger "$L" --ca "$CA" --platform sim --listen 127.0.0.1:0
pass "the broker unseals its key after a restart and refuses a tampered one"
