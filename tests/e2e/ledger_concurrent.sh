#!/usr/bin/env bash
# 8 clients, each with its own key, submit N transactions each through one
# `ward ledger serve` at the same time: exactly 8*N records, none lost and
# none duplicated, every nonce in order, and `ward ledger verify` passes.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$E2E_DIR/ledger_lib.sh"

CLIENTS=8
N=${LEDGER_CONCURRENT_N:-20}

"$WARD" ledger init --db l.db --dev >/dev/null
start_server l.db
for ((c = 0; c < CLIENTS; c++)); do "$WARD" keys new -o "k$c.key" >/dev/null 2>&1; done

# client C: registers, then funds itself N-1 times (1, 2, ... tokens).
client() {
  local c=$1 id i
  id=$("$WARD" keys show --json "k$c.key" | jq -r .signing_public_key)
  "$WARD" accounts register --ledger "$URL" --key "k$c.key" --name "client $c" >/dev/null
  for ((i = 1; i < N; i++)); do
    "$WARD" accounts fund --ledger "$URL" --key "k$c.key" --to "$id" --amount "$i" >/dev/null
  done
}
pids=()
for ((c = 0; c < CLIENTS; c++)); do
  client "$c" 2>"client$c.err" &
  pids+=($!)
done
for ((c = 0; c < CLIENTS; c++)); do
  wait "${pids[c]}" || fail "client $c failed: $(cat "client$c.err")"
done
pass "$CLIENTS clients submitted $N transactions each, concurrently"

total=$((CLIENTS * N))
[[ $(curl -sf "$URL/v1/info" | jq .size) == "$total" ]] || fail "the ledger holds $(curl -sf "$URL/v1/info" | jq .size) records, not $total"
"$WARD" ledger records --ledger "$URL" --json >records.json
jq -e --argjson n "$total" '[.records[].index] == [range(0; $n)]' records.json >/dev/null ||
  fail "record indices are not 0..$((total - 1))"
[[ $(jq '[.records[].record.tx | "\(.sender)/\(.nonce)"] | unique | length' records.json) == "$total" ]] ||
  fail "a (sender, nonce) pair appears twice"
[[ $(jq '[.records[].record.sig] | unique | length' records.json) == "$total" ]] || fail "a transaction appears twice"
for ((c = 0; c < CLIENTS; c++)); do
  id=$("$WARD" keys show --json "k$c.key" | jq -r .signing_public_key)
  jq -e --arg id "$id" --argjson n "$N" \
    '[.records[].record.tx | select(.sender == $id) | .nonce] == [range(1; $n + 1)]' records.json >/dev/null ||
    fail "client $c's nonces are not 1..$N in log order"
  "$WARD" accounts show --ledger "$URL" "$id" --json >acct.json
  jq -e --argjson n "$N" '.nonce == $n and .balance == ($n * ($n - 1) / 2)' acct.json >/dev/null ||
    fail "client $c's account: $(cat acct.json)"
done
pass "exactly $total records, no duplicates, every client's nonces 1..$N in order, balances right"

"$WARD" ledger proof --ledger "$URL" --index $((total - 1)) >/dev/null
stop_servers
"$WARD" ledger verify --db l.db >verify.txt || fail "ledger verify: $(cat verify.txt)"
grep -q "^records: $total$" verify.txt || fail "verify: $(cat verify.txt)"
pass "ward ledger verify passes: $(tr '\n' ' ' <verify.txt)"
