#!/usr/bin/env bash
# Grants under attack, through the real binaries: a ledger and a certification
# center served here, a node with one simulated CVM, and three parties. Mallory
# tries issue 10's theft of Alice's granted file (her own descriptor copy,
# her own policy, Alice's header kept; then the header edited to match), and
# a forged report. Then the owner's limits: --order-by, --uses and
# `ward files revoke`, each refused by the CVM with its named check before
# anything is decrypted. With WARD_E2E_LEDGER=evm (CTest e2e_grants_evm) the
# ledger is the WardLedger contract on an anvil: its counts and revocations
# must refuse the same orders.
: "${WARD_TEST_ENGINE:?set WARD_TEST_ENGINE to the static test engine}"
: "${WARD_FORGE:?set WARD_FORGE to the e2e_forge tool}"
WARD_TEST_ENGINE=$(realpath "$WARD_TEST_ENGINE")
WARD_FORGE=$(realpath "$WARD_FORGE")
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LOADER=$(dirname "$WARD")/ward-loader
[[ -x $LOADER ]] || fail "no ward-loader next to $WARD"
touch start.stamp
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
for p in alice carol mallory provider; do
  "$WARD" keys new -o "$p.key" >/dev/null 2>&1
  give_gas "$p.key"
  "$WARD" accounts register --ledger "$L" --key "$p.key" --name "$p" >/dev/null
  "$WARD" accounts fund --ledger "$L" --key "$p.key" --to "$(account "$p")" --amount 1000 >/dev/null
done
CAROL=$(recipient carol)
MALLORY=$(recipient mallory)
STORE=$TMP/store

start_sim_node --time-limit 10

# Carol's engine copies its inputs to its output; so does Mallory's (another
# image, hence another digest).
pack() { # pack NAME OWNER
  mkdir "eng-$1"
  cp "$WARD_TEST_ENGINE" "eng-$1/engine"
  echo "$1" >"eng-$1/owner.txt"
  "$WARD" engine pack "eng-$1" --entrypoint /engine --entrypoint copy -o "$1.tar" >/dev/null
  "$WARD" files upload "$1.tar" --key "$2.key" --store "$STORE" -o "$1.res.json" >/dev/null
}
pack copy carol
pack steal mallory
digest() { jq -r .resource.engine "$1.res.json"; }

MARK="WARD-E2E-MARKER-ALICE-$RANDOM$RANDOM"
mkdir own
printf 'id,secret\n1,%s\n' "$MARK" >own/alice.csv
"$WARD" files upload own/alice.csv --key alice.key --store "$STORE" -o alice.res.json >/dev/null

grant() { # grant RES OWNER ENGINE OUT [ARGS...]
  local res=$1 owner=$2 engine=$3 out=$4
  shift 4
  "$WARD" files grant "$res.res.json" --key "$owner.key" --ledger "$L" --cvm "$CVM" --engine "$(digest "$engine")" \
    --ca-cert ca/ca.pem --policy policy.json -o "$out" "$@" >/dev/null
}
# raw_order WHO ENGINE OUTPUT GRANTS...: an order whose grants are put in the
# store by hand and named by URI, skipping the client's own checks (a
# dishonest client); prints its id.
raw_order() {
  local who=$1 engine=$2 output=$3
  shift 3
  local refs=() h
  for x in "$@"; do
    h=$(sha256sum "$x" | cut -d' ' -f1)
    cp "$x" "$STORE/$h"
    refs+=(--input "file://$STORE/$h")
  done
  "$WARD" orders create --ledger "$L" --key "$who.key" --cvm "$CVM" --engine "$(digest "$engine")" "${refs[@]}" \
    --output-to "$output" --deposit 10 --json | jq -r .order
}
expect_error() { # expect_error ID PATTERN WHAT
  local rc=0
  "$WARD" orders wait "$1" --ledger "$L" --timeout 60 >wait.out 2>wait.err || rc=$?
  ((rc == 1)) && grep -q "order $1 error" wait.out || fail "$3: order $1 did not end in error: $(cat wait.out wait.err)"
  grep -Eq -- "$2" wait.out || fail "$3: reason does not match /$2/: $(cat wait.out)"
  pass "$3 -> $(cat wait.out)"
}
expect_done() { # expect_done ID WHAT
  "$WARD" orders wait "$1" --ledger "$L" --timeout 60 >wait.out 2>&1 || fail "$2: $(cat wait.out; tail -5 node.out)"
}

# 1. The honest order: Carol runs her engine on Alice's file.
grant copy carol copy g-copy.json --output-to "$CAROL" --output-to "$MALLORY"
grant alice alice copy g-alice.json --output-to "$CAROL"
ID=$(raw_order carol copy "$CAROL" g-copy.json g-alice.json)
HONEST=$ID
expect_done "$ID" "Carol's order"
"$WARD" orders result "$ID" --ledger "$L" --key carol.key -o result >/dev/null
same_file own/alice.csv result/output/0-alice.csv "Alice's input in Carol's result"
pass "order $ID: Carol's engine ran on Alice's file"

# 2. The theft. Mallory reads Alice's grant back from the store by its URI in
# the order's record, copies Alice's descriptor with herself as owner and signs
# it, and signs a policy with her own engine and recipient over Alice's header.
uri=$("$WARD" orders list --ledger "$L" --json | jq -r --argjson id "$ID" '.orders[] | select(.id == $id) | .inputs[1]')
cp "${uri#file://}" alice-grant-from-store.json
cmp -s <(jq -S . alice-grant-from-store.json) <(jq -S . g-alice.json) || fail "the store's grant is not Alice's"
grant steal mallory steal g-steal.json --output-to "$MALLORY"
"$WARD_FORGE" grant alice-grant-from-store.json mallory.key "$(digest steal)" "$MALLORY" stolen.json
jq -e --arg m "$(account mallory)" '.grant.owner == $m and .descriptor.resource.owner == $m' stolen.json >/dev/null ||
  fail "the forgery is not Mallory's"
# Mallory's own descriptor copy verifies: she signed it.
jq '.descriptor' stolen.json >stolen.res.json
"$WARD" files show stolen.res.json >/dev/null || fail "Mallory's descriptor copy does not verify"
expect_ward_error "ward files show refuses the stolen grant" "" "grant\.binding" -- files show stolen.json
expect_ward_error "ward orders create refuses the stolen grant" "" "grant\.binding" -- \
  orders create --ledger "$L" --key mallory.key --cvm "$CVM" --engine steal.res.json --grant g-steal.json \
  --grant stolen.json --output-to "$MALLORY" --deposit 10 --store "$STORE"
ID=$(raw_order mallory steal "$MALLORY" g-steal.json stolen.json)
expect_error "$ID" "grant\.binding: the header binds policy" "the CVM refuses the stolen grant (Alice's header, Mallory's policy)"
# The header edited to carry the id of Mallory's policy: the MAC fails.
"$WARD_FORGE" grant alice-grant-from-store.json mallory.key "$(digest steal)" "$MALLORY" rebound.json --rebind
ID=$(raw_order mallory steal "$MALLORY" g-steal.json rebound.json)
expect_error "$ID" "grant\.mac: " "the CVM refuses the header edited to bind Mallory's policy"
expect_ward_error "Mallory's failed order has no result" "" "" -- \
  orders result "$ID" --ledger "$L" --key mallory.key -o mallory-result
[[ ! -e mallory-result ]] || fail "Mallory got a result directory"
grep -q "order $ID: error: .*grant.mac" node.out || fail "the loader did not log the refusal: $(tail -3 node.out)"
grep -q "decrypted" <(grep "order $ID:" node.out) && fail "the loader decrypted something for order $ID"

# A forged report: Carol's honest report with Alice's input re-attributed to
# Mallory and re-signed by Mallory.
"$WARD" orders report "$HONEST" --ledger "$L" >report.json
"$WARD_FORGE" report report.json mallory.key forged-report.json
rc=0
"$WARD" orders verify "$HONEST" --ledger "$L" --ca-cert ca/ca.pem --policy policy.json --report forged-report.json \
  >verify.txt 2>/dev/null || rc=$?
((rc == 1)) && grep -q 'REJECTED at report.signature' verify.txt || fail "the forged report verified: $(cat verify.txt)"
pass "ward orders verify refuses the report re-signed by Mallory (report.signature)"

# 3. --order-by and --uses: only Carol's orders, once.
grant alice alice copy g-once.json --output-to "$CAROL" --output-to "$MALLORY" --order-by "$(account carol)" --uses 1
"$WARD" files show --json g-once.json | jq -e --arg c "$(account carol)" '.order_by == $c and .uses == 1' >/dev/null ||
  fail "the grant does not show its limits: $("$WARD" files show g-once.json)"
expect_ward_error "ward orders create refuses Mallory's order on a grant for Carol's orders" "" "grant\.order_by" -- \
  orders create --ledger "$L" --key mallory.key --cvm "$CVM" --engine copy.res.json --grant g-copy.json \
  --grant g-once.json --output-to "$MALLORY" --deposit 10 --store "$STORE"
ID=$(raw_order mallory copy "$MALLORY" g-copy.json g-once.json)
expect_error "$ID" "grant\.order_by: only orders created by $(account carol)" "the CVM refuses Mallory's order (--order-by Carol)"
ID=$(raw_order carol copy "$CAROL" g-copy.json g-once.json)
expect_done "$ID" "Carol's first use"
pass "order $ID: Carol's first use of the --uses 1 grant runs"
ID=$(raw_order carol copy "$CAROL" g-copy.json g-once.json)
expect_error "$ID" "grant\.uses: .*used_up" "the CVM refuses the second use of a --uses 1 grant (the ledger counts)"

# 4. Revocation, by the owner alone.
grant alice alice copy g-rev.json --output-to "$CAROL"
expect_ward_error "ward files revoke refuses a key that does not own the grant" "" "not the owner" -- \
  files revoke g-rev.json --ledger "$L" --key mallory.key
"$WARD" files revoke g-rev.json --ledger "$L" --key alice.key >revoke.out || fail "revoke: $(cat revoke.out)"
grep -q "revoked" revoke.out || fail "revoke said: $(cat revoke.out)"
expect_ward_error "a grant is revoked once" "" "already" -- files revoke g-rev.json --ledger "$L" --key alice.key
ID=$(raw_order carol copy "$CAROL" g-copy.json g-rev.json)
expect_error "$ID" "grant\.revoked: " "the CVM refuses a revoked grant"

# Nothing of Alice's file reached Mallory, the store, the work directory or /tmp.
leaks=$(grep -rlsF -e "$MARK" "$STORE" "$TMP/work" "$TMP/node" /dev/shm 2>/dev/null || true)
leaks+=$(find "${TMPDIR:-/tmp}" -xdev -type f -newer start.stamp 2>/dev/null | grep -v "^$TMP/\(own\|result\)" |
  xargs -r grep -lsF -e "$MARK" 2>/dev/null || true)
[[ -z $leaks ]] || fail "the marker was found in: $leaks"
pass "no marker of Alice's file outside her own files and Carol's result"
