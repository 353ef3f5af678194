#!/usr/bin/env bash
# `ward ledger verify` against a file and against a `ward ledger serve`: over
# HTTP it checks the ledger through the API alone (its records and latest
# checkpoint). Servers that lie must fail it: one serving a record altered in
# its database, one serving fewer records than its checkpoint covers, one
# serving the wrong leaf hash, and one serving a checkpoint (signed with the
# ledger's own key) of another history than its records.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$E2E_DIR/ledger_lib.sh"
command -v sqlite3 >/dev/null || fail "sqlite3 is missing (Debian package sqlite3)"

"$WARD" ledger init --db l.db --dev --json >l.init
VKEY=$(jq -r .verifier_key l.init)
"$WARD" ledger init --db other.db --dev --json >other.init
start_server l.db
L=$URL
register_parties alice bob
"$WARD" accounts fund --ledger "$L" --key alice.key --amount 100 >/dev/null
"$WARD" accounts fund --ledger "$L" --key bob.key --amount 40 >/dev/null
"$WARD" accounts fund --ledger "$L" --key alice.key --to "$(account bob)" --amount 2 >/dev/null
SIZE=5

"$WARD" ledger verify --ledger "$L" >verify.txt || fail "verify --ledger $L: $(cat verify.txt)"
grep -q "^records: $SIZE$" verify.txt || fail "verify --ledger $L: $(cat verify.txt)"
grep -q "tree recomputed from the records matches the checkpoint: ok" verify.txt || fail "$(cat verify.txt)"
pass "ward ledger verify --ledger URL: $(tr '\n' ' ' <verify.txt)"
"$WARD" ledger verify --ledger "$L" --verifier-key "$VKEY" --json >verify.json
jq -e ".ok and .records == $SIZE and .checkpoints == 1" verify.json >/dev/null || fail "verify --json: $(cat verify.json)"
pass "with the verifier key pinned, --json: $(jq -c . verify.json)"
expect_ward_error "verify with another ledger's key pinned" "" 'does not verify: the latest checkpoint: .*no valid signature' -- \
  ledger verify --ledger "$L" --verifier-key "$(jq -r .verifier_key other.init)"
expect_ward_error "verify with a malformed key" "" 'verifier key' -- ledger verify --ledger "$L" --verifier-key nonsense
expect_ward_error "verify with no server" "" '' -- ledger verify --ledger http://127.0.0.1:1
expect_ward_error "verify an https URL" "" 'unsupported ledger URL' -- ledger verify --ledger https://127.0.0.1:1

# The file form: --ledger FILE, and --db FILE as before.
"$WARD" ledger verify --ledger l.db >file.txt || fail "verify --ledger l.db: $(cat file.txt)"
grep -q "state replayed from the records equals the stored state: ok" file.txt || fail "$(cat file.txt)"
"$WARD" ledger verify --db l.db --verifier-key "$VKEY" >/dev/null || fail "verify --db l.db"
pass "ward ledger verify --ledger FILE and --db FILE"
expect_ward_error "a file pinned to another key" "" 'not by the key given' -- \
  ledger verify --db l.db --verifier-key "$(jq -r .verifier_key other.init)"
rc=0
"$WARD" ledger verify --ledger l.db --db l.db 2>err.txt || rc=$?
((rc == 2)) && grep -Eq -- '--(db|ledger) excludes --(ledger|db)' err.txt || fail "--ledger with --db: exit $rc: $(cat err.txt)"
pass "--ledger and --db together is a usage error"

# A record altered in the database under the running server: it is served, and refused.
original=$(sqlite3 l.db "SELECT bytes FROM records WHERE idx = 2")
[[ $original == *'"amount":100'* ]] || fail "record 2 is not alice's faucet: $original"
sqlite3 l.db "UPDATE records SET bytes = replace(bytes, '\"amount\":100', '\"amount\":900') WHERE idx = 2"
[[ $(curl -sf "$L/v1/records?after=2" | jq '.records[0].record.tx.args.amount') == 900 ]] ||
  fail "the server does not serve the altered record"
expect_ward_error "a server serving an altered record" "" 'does not verify: record 2: .*signature' -- \
  ledger verify --ledger "$L"
sqlite3 l.db "UPDATE records SET bytes = '$original' WHERE idx = 2"
"$WARD" ledger verify --ledger "$L" >/dev/null || fail "verify after restoring record 2"

# The stored leaf of a record changed: the served leaf is not its bytes' hash.
leaf=$(sqlite3 l.db "SELECT hex(leaf) FROM records WHERE idx = 3")
sqlite3 l.db "UPDATE records SET leaf = zeroblob(32) WHERE idx = 3"
expect_ward_error "a server serving a wrong leaf hash" "" 'record 3: stored leaf hash differs from its bytes' -- \
  ledger verify --ledger "$L"
sqlite3 l.db "UPDATE records SET leaf = x'$leaf' WHERE idx = 3"

# The last record withheld: the checkpoint covers more than is served.
last=$(sqlite3 l.db "SELECT quote(idx), quote(time), quote(leaf), quote(bytes) FROM records WHERE idx = 4" | tr '|' ',')
sqlite3 l.db "DELETE FROM records WHERE idx = 4"
expect_ward_error "a server withholding a record" "" "the ledger sent 4 records; its checkpoint covers $SIZE" -- \
  ledger verify --ledger "$L"
sqlite3 l.db "INSERT INTO records VALUES ($last)"
"$WARD" ledger verify --ledger "$L" >/dev/null || fail "verify after restoring record 4"
pass "a server serving an altered record, a wrong leaf or too few records fails verification"

# A fork: the same ledger (same id and key) grown two ways. The server then
# serves one history's records with the other's checkpoint, correctly signed.
stop_servers
sqlite3 l.db ".backup fork.db"
start_server fork.db
"$WARD" accounts fund --ledger "$URL" --key alice.key --amount 7 >/dev/null
stop_servers
start_server l.db
"$WARD" accounts fund --ledger "$URL" --key alice.key --amount 8 >/dev/null
stop_servers
sqlite3 l.db "ATTACH 'fork.db' AS fork;
  UPDATE checkpoints SET note = (SELECT note FROM fork.checkpoints WHERE size = $((SIZE + 1))) WHERE size = $((SIZE + 1))"
start_server l.db
"$WARD" ledger checkpoint --ledger "$URL" --json | jq -e ".size == $((SIZE + 1))" >/dev/null ||
  fail "the server does not serve the fork's checkpoint"
expect_ward_error "a server serving a checkpoint of another history" "" \
  "does not verify: checkpoint at size $((SIZE + 1)): root differs from the recomputed tree" -- \
  ledger verify --ledger "$URL" --verifier-key "$VKEY"
expect_ward_error "the same file verified whole" "" 'root differs from the recomputed tree' -- ledger verify --db l.db
pass "a server serving a checkpoint that does not match its records fails verification"
