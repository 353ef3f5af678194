#!/usr/bin/env bash
# Anchoring the embedded ledger (docs/evm.md): a served SQLite ledger's signed
# checkpoints posted to the WardAnchor contract on an anvil the script starts
# (`ward ledger anchor`), and checked by `ward ledger verify --anchors`. Then
# what an attacker would try, each against a fresh anchor contract so that
# one attack's anchor does not mask another's: anchoring an older size
# again, an anchor whose note another key signed, a genuine note under another
# root, a ledger rewritten after it was anchored (a fork with the same id and
# key), a ledger rolled back below an anchor, and the lock-out that
# "anyone may post" allows.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
trap 'stop_servers >/dev/null 2>&1 || true; rm -rf "$TMP"' EXIT

ROOT=$(cd "$E2E_DIR/../.." && pwd)
start_anvil
"$WARD" keys new -o anchorer.key >/dev/null 2>&1
give_gas anchorer.key

# new_anchors: a fresh WardAnchor contract; prints its evm+ target.
new_anchors() { "$WARD" ledger anchor --deploy --evm "$EVM_NODE" --key anchorer.key --json | jq -r .anchors; }

# post_raw ANCHORS LEDGER_ID SIZE ROOT_HEX NOTE_FILE: anchor(...) sent as a
# raw transaction from one of anvil's own accounts (not Ward's client, and
# not the ledger's operator): what anyone can post.
post_raw() {
  node - "$EVM_NODE" "${1##*#}" "$2" "$3" "$4" "$5" "$ROOT" <<'EOF'
const [node, to, id, size, root, noteFile, root_] = process.argv.slice(2);
const { keccak256 } = require(root_ + '/.deps/npm/node_modules/js-sha3');
const word = (n) => BigInt(n).toString(16).padStart(64, '0');
const note = require('fs').readFileSync(noteFile);
const data = '0x' + keccak256('anchor(bytes32,uint64,bytes32,bytes)').slice(0, 8) + id + word(size) + root +
  word(128) + word(note.length) + note.toString('hex').padEnd(Math.ceil(note.length / 32) * 64, '0');
const rpc = async (method, params) => {
  const r = await (await fetch(node, { method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }) })).json();
  if (r.error) throw new Error(`${method}: ${r.error.message}`);
  return r.result;
};
(async () => {
  const [from] = await rpc('eth_accounts', []);
  const hash = await rpc('eth_sendTransaction', [{ from, to, data, gas: '0x100000' }]);
  for (let i = 0; i < 200; ++i) {
    const receipt = await rpc('eth_getTransactionReceipt', [hash]);
    if (receipt) {
      if (receipt.status !== '0x1') throw new Error('the anchor reverted');
      console.log(Number(receipt.blockNumber));
      return;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('not mined');
})().catch((e) => { console.error(e.message); process.exit(1); });
EOF
}

# The happy path: a served ledger, anchored twice.
"$WARD" ledger init --db l.db --dev --json >init.json
ID=$(jq -r .id init.json)
start_ward_server ledger serve --db l.db
L=$URL
register_parties alice bob
A=$(new_anchors)
[[ $A == "evm+$EVM_NODE#0x"* ]] || fail "anchor --deploy printed '$A'"
"$WARD" ledger anchor --ledger "$L" --anchors "$A" --key anchorer.key --json >first.json
S1=$(jq .size first.json)
((S1 == 2)) || fail "first anchor: $(cat first.json)"
GAS=$(jq .gas_used first.json)
"$WARD" ledger checkpoint --ledger "$L" >first.note
register_parties carol
"$WARD" ledger anchor --ledger "$L" --anchors "$A" --key anchorer.key --json >second.json
S2=$(jq .size second.json)
((S2 > S1)) || fail "second anchor: $(cat second.json)"
"$WARD" ledger verify --ledger "$L" --anchors "$A" >verify.out
grep -q "^anchors: 2$" verify.out || fail "verify lists: $(cat verify.out)"
grep -q "size $S1, block .*: ok" verify.out && grep -q "size $S2, block .*: ok" verify.out ||
  fail "verify lists: $(cat verify.out)"
"$WARD" ledger verify --ledger "$L" --anchors "$A" --json | jq -e '.anchors | length == 2 and all(.ok)' >/dev/null
pass "served ledger anchored at sizes $S1 and $S2 (first anchor $GAS gas); verify --anchors checks both"

# 1. The same (or an older) checkpoint again: the contract keeps one ledger's
# anchors in increasing size, so nobody can rewind its last anchor.
expect_ward_error "anchoring a checkpoint not later than the last" "" "NotLater: size $S2 is not later than the last anchored size $S2" -- \
  ledger anchor --ledger "$L" --anchors "$A" --key anchorer.key
post_raw "$A" "$ID" "$S1" "$(jq -r .root first.json)" first.note 2>raw.err && fail "an older anchor was accepted"
pass "an older checkpoint posted by anyone is refused: $(cat raw.err)"

# 2. A forged anchor: Mallory's own ledger's genuine note, posted under the
# victim's id. The chain takes it (it checks no Ed25519); verify must not.
"$WARD" ledger init --db m.db --dev >/dev/null
"$WARD" keys new -o mallory.key >/dev/null 2>&1
"$WARD" accounts register --ledger m.db --key mallory.key --name m >/dev/null
"$WARD" ledger checkpoint --ledger m.db --json >m.json
jq -r .checkpoint m.json >m.note
F=$(new_anchors)
"$WARD" ledger anchor --ledger "$L" --anchors "$F" --key anchorer.key >/dev/null
B=$(post_raw "$F" "$ID" 100 "$(jq -r .root m.json)" m.note)
expect_ward_error "verify with an anchor whose note another key signed" "" \
  "anchor in block $B \(size 100\): its note is not a checkpoint signed by the ledger's key" -- \
  ledger verify --ledger "$L" --anchors "$F"

# 3. The ledger's genuine note, posted with another root (and a later size):
# the event claims what the signature does not.
F=$(new_anchors)
B=$(post_raw "$F" "$ID" "$S1" "$(printf '%064x' 7)" first.note)
expect_ward_error "verify with a genuine note under another root" "" \
  "anchor in block $B \(size $S1\): its note's size and root are not the event's" -- \
  ledger verify --ledger "$L" --anchors "$F"

# 4. A rewritten ledger: the operator forks its own file (same id, same
# key), anchors one branch and later shows the other. Only the key could
# sign the fork's checkpoints, so this is the attack that remains; the anchor
# exposes it. The file path also checks the whole file (rebuilt tree).
"$WARD" ledger init --db f.db --dev >/dev/null
"$WARD" keys new -o dave.key >/dev/null 2>&1
"$WARD" keys new -o erin.key >/dev/null 2>&1
"$WARD" accounts register --ledger f.db --key alice.key --name alice >/dev/null
cp f.db before.db
cp f.db fork.db
"$WARD" accounts register --ledger f.db --key dave.key --name dave >/dev/null
"$WARD" accounts register --ledger fork.db --key erin.key --name erin >/dev/null
F=$(new_anchors)
"$WARD" ledger anchor --ledger f.db --anchors "$F" --key anchorer.key --json >f-anchor.json
FB=$(jq .block f-anchor.json)
"$WARD" ledger verify --ledger f.db --anchors "$F" | grep -q "size 2, block $FB .*: ok" || fail "the anchored file"
[[ $("$WARD" ledger verify --ledger fork.db --json | jq .ok) == true ]] || fail "the fork alone must verify"
expect_ward_error "verify a fork of the anchored ledger (same id and key)" "" \
  "anchor in block $FB \(size 2\): the anchored root is not the root of the ledger's log at that size" -- \
  ledger verify --ledger fork.db --anchors "$F"
# 5. The same ledger rolled back to before the anchor.
expect_ward_error "verify the ledger rolled back below an anchor" "" \
  "anchor in block $FB \(size 2\): the ledger's log has only 1 records" -- \
  ledger verify --ledger before.db --anchors "$F"

# 6. What "anyone may post" allows: Mallory anchors a huge size under the
# victim's id first. The ledger's own anchors are then refused (NotLater)
# and verify fails on the forged one: a lock-out, not a forgery. Verifiers
# are not fooled, but this anchor contract is unusable for that ledger id;
# docs/evm.md says so.
F=$(new_anchors)
B=$(post_raw "$F" "$ID" 9223372036854775807 "$(jq -r .root m.json)" m.note)
expect_ward_error "anchoring after a forged anchor of a huge size" "" "NotLater" -- \
  ledger anchor --ledger "$L" --anchors "$F" --key anchorer.key
expect_ward_error "verify after the lock-out" "" "anchor in block $B .*not a checkpoint signed by the ledger's key" -- \
  ledger verify --ledger "$L" --anchors "$F"

# Malformed targets and modes.
rc=0
"$WARD" ledger anchor --ledger "$L" --key anchorer.key 2>usage.err || rc=$?
((rc == 2)) && grep -q "give --deploy" usage.err || fail "anchor without --anchors: exit $rc, $(cat usage.err)"
expect_ward_error "anchor with a bad target" "" "bad EVM ledger" -- \
  ledger anchor --ledger "$L" --anchors "http://x#0x00" --key anchorer.key

stop_servers
pass "anchor.sh"
