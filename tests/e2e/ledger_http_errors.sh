#!/usr/bin/env bash
# Bad input through the HTTP API with curl: every refusal has the documented
# status and reason, and leaves the ledger's state exactly as it was. Also
# unknown paths and methods, and the long-poll feed.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$E2E_DIR/ledger_lib.sh"

"$WARD" ledger init --db l.db --dev --json >init.json
LID=$(jq -r .id init.json)
start_server l.db
"$WARD" keys new -o alice.key >/dev/null 2>&1
ALICE=$("$WARD" keys show --json alice.key | jq -r .signing_public_key)
"$WARD" accounts register --ledger "$URL" --key alice.key >/dev/null
E=$(ossl_key eve)
OTHER=$(ossl_key other)
sign_tx eve.pem "$(tx "$LID" "$E" 1 accounts.register '{"recipient":"age1eve"}')" >reg.json
curl -sf -X POST --data-binary @reg.json "$URL/v1/tx" | jq -e .accepted >/dev/null || fail "eve's registration"

# A valid transaction from eve, and the same one replayed later.
fund_tx=$(tx "$LID" "$E" 2 accounts.fund "{\"to\":\"$E\",\"amount\":5}")
sign_tx eve.pem "$fund_tx" >fund.json
curl -sf -X POST --data-binary @fund.json "$URL/v1/tx" | jq -e '.accepted and .index == 2' >/dev/null ||
  fail "eve's fund"
# The supply reaches 2^63-1 exactly; one more token overflows.
"$WARD" accounts fund --ledger "$URL" --key alice.key --to "$ALICE" --amount 9223372036854775802 >/dev/null
expect_ward_error "a supply past 2^63-1 (CLI)" "" '^ward: error: rejected \(overflow\): ' -- \
  accounts fund --ledger "$URL" --key alice.key --to "$ALICE" --amount 1
for amount in 9223372036854775808 -1; do
  rc=0
  "$WARD" accounts fund --ledger "$URL" --key alice.key --to "$ALICE" --amount=$amount 2>err.txt || rc=$?
  ((rc == 2)) && [[ $(wc -l <err.txt) == 1 ]] || fail "--amount $amount: exit $rc: $(cat err.txt)"
done
pass "the CLI refuses negative amounts and amounts past 2^63-1 as usage errors"
expect_ward_error "a second registration (CLI)" "" '^ward: error: rejected \((bad_nonce|already_exists)\): ' -- \
  accounts register --ledger "$URL" --key alice.key

state() {
  curl -sf "$URL/v1/info" | jq -c .size
  curl -sf "$URL/v1/accounts/$E"
  curl -sf "$URL/v1/accounts/$ALICE"
  curl -sf "$URL/v1/offers"
  curl -sf "$URL/v1/checkpoint"
}
state >before.txt

# expect_refusal WHAT STATUS REASON [curl args...]: POSTs to /v1/tx.
expect_refusal() {
  local what=$1 status=$2 reason=$3
  shift 3
  local got
  got=$(curl -s -o resp.json -w '%{http_code}' -X POST "$@" "$URL/v1/tx")
  [[ $got == "$status" ]] || fail "$what: HTTP $got, expected $status: $(cat resp.json)"
  [[ $(jq -r .error.reason resp.json) == "$reason" ]] || fail "$what: reason $(jq -c .error resp.json), expected $reason"
  [[ -n $(jq -r .error.message resp.json) ]] || fail "$what: no message"
  echo "ok: $what -> $got $(jq -c .error resp.json)"
}

jq -c '{tx: .tx}' fund.json >unsigned.json
expect_refusal "unsigned" 400 malformed --data-binary @unsigned.json
jq -c '.sig = ""' fund.json >empty-sig.json
expect_refusal "empty signature" 400 malformed --data-binary @empty-sig.json
sign_tx other.pem "$(tx "$LID" "$E" 3 accounts.fund "{\"to\":\"$E\",\"amount\":5}")" >wrong-key.json
expect_refusal "signed by another key" 400 bad_signature --data-binary @wrong-key.json
jq -c '.tx.args.amount = 6' fund.json >altered.json
expect_refusal "altered after signing" 400 bad_signature --data-binary @altered.json
expect_refusal "replayed nonce" 409 bad_nonce --data-binary @fund.json
sign_tx eve.pem "$(tx "$LID" "$E" 7 accounts.fund "{\"to\":\"$E\",\"amount\":5}")" >skip.json
expect_refusal "skipped nonce" 409 bad_nonce --data-binary @skip.json
sign_tx eve.pem "$(tx "$(printf 'ab%.0s' {1..32})" "$E" 3 accounts.fund "{\"to\":\"$E\",\"amount\":5}")" >other-ledger.json
expect_refusal "another ledger's id" 400 wrong_ledger --data-binary @other-ledger.json
sign_tx other.pem "$(tx "$LID" "$OTHER" 1 offers.create \
  '{"kind":"engine","name":"x","resource":"r","price":{"model":"fixed","amount":1}}')" >unregistered.json
expect_refusal "an unregistered sender" 409 unknown_account --data-binary @unregistered.json
sign_tx eve.pem "$(tx "$LID" "$E" 3 accounts.transfer "{\"to\":\"$ALICE\",\"amount\":6}")" >overdraw.json
expect_refusal "more than the balance" 409 insufficient_funds --data-binary @overdraw.json
sign_tx eve.pem "$(tx "$LID" "$E" 3 orders.cancel '{"order":0}')" >no-order.json
expect_refusal "an order that does not exist" 409 not_found --data-binary @no-order.json
head -c 70000 /dev/zero | tr '\0' ' ' >big.json
expect_refusal "oversized body" 413 too_large --data-binary @big.json
grep -q 'larger than 65536 bytes' resp.json || fail "the 413 does not state the limit: $(cat resp.json)"
# curl's default type is a form: a form body over 8 KiB is read like any other
# (once it got 413 "larger than 65536 bytes", untrue for forms).
{ printf 'a='; head -c 10000 /dev/zero | tr '\0' x; } >form.txt
expect_refusal "a 10 KB form body (read, not JSON)" 400 malformed \
  -H 'Content-Type: application/x-www-form-urlencoded' --data-binary @form.txt
expect_refusal "malformed JSON" 400 malformed --data-binary '{"tx": {"v": 1,'
expect_refusal "not an object" 400 malformed --data-binary '[1, 2]'
expect_refusal "empty body" 400 malformed --data-binary ''
sed 's/"amount":5/"amount":-5/' fund.json >negative.json
expect_refusal "negative amount" 400 malformed --data-binary @negative.json
sed 's/"amount":5/"amount":18446744073709551616/' fund.json >overflow64.json
expect_refusal "amount past 2^64" 400 malformed --data-binary @overflow64.json
sed 's/"amount":5/"amount":9223372036854775808/' fund.json >overflow63.json
expect_refusal "amount past 2^63-1" 400 malformed --data-binary @overflow63.json
sed 's/"amount":5/"amount":5.0/' fund.json >float.json
expect_refusal "a floating point amount" 400 malformed --data-binary @float.json
sed 's/"amount":5/"amount":5,"amount":6/' fund.json >duplicate.json
expect_refusal "a duplicate key" 400 malformed --data-binary @duplicate.json
printf '{"sig":"%s","tx":{"v":1,"ledger":"%s","sender":"%s","nonce":3,"type":"accounts.fund","args":{"to":"%s","amount":5}},"x":1}' \
  "$(jq -r .sig fund.json)" "$LID" "$E" "$E" >extra.json
expect_refusal "an unknown field" 400 malformed --data-binary @extra.json
printf '\xff\xfe{}' >binary.json
expect_refusal "bytes that are not UTF-8 JSON" 400 malformed --data-binary @binary.json

state >after.txt
diff -u before.txt after.txt || fail "a refused transaction changed the ledger"
pass "every refusal left the state, the log and the checkpoint unchanged"

# expect_get WHAT STATUS REASON PATH [curl args...]
expect_get() {
  local what=$1 status=$2 reason=$3 path=$4
  shift 4
  local got
  got=$(curl -s -o resp.json -w '%{http_code}' "$@" "$URL$path")
  [[ $got == "$status" ]] || fail "$what: HTTP $got, expected $status: $(cat resp.json)"
  [[ $(jq -r .error.reason resp.json) == "$reason" ]] || fail "$what: $(cat resp.json)"
  echo "ok: $what -> $got $(jq -c .error resp.json)"
}
expect_get "unknown path" 404 unknown_path /v1/nothing
expect_get "unknown root" 404 unknown_path /
expect_get "wrong method" 405 method_not_allowed /v1/tx
expect_get "POST to a query" 405 method_not_allowed /v1/offers -X POST -d x
expect_get "DELETE" 405 method_not_allowed /v1/orders/1 -X DELETE
expect_get "a record index that is not a number" 400 bad_request /v1/records/abc
expect_get "an account id that is not hex" 400 bad_request /v1/accounts/xyz
expect_get "a missing account" 404 not_found "/v1/accounts/$OTHER"
expect_get "a missing offer" 404 not_found /v1/offers/12345
expect_get "a missing order" 404 not_found /v1/orders/0
expect_get "a missing report" 404 not_found /v1/reports/0
expect_get "a record past the log" 404 not_found /v1/records/99
expect_get "a proof size past the checkpoint" 400 bad_request '/v1/records/0?size=99'
expect_get "consistency from size 0" 400 bad_request '/v1/proofs/consistency?old=0&new=2'
expect_get "an unknown order status" 400 bad_request '/v1/orders?status=lost'
expect_get "a feed position that is not a number" 400 bad_request '/v1/records?after=-1'
[[ $(curl -s -o /dev/null -w '%{http_code}' "$URL/v1/checkpoint") == 200 ]] || fail "GET /v1/checkpoint"
[[ $(curl -sf "$URL/v1/verifier-key") == $(jq -r .verifier_key init.json) ]] || fail "GET /v1/verifier-key"
curl -sf "$URL/v1/proofs/consistency?old=1&new=4" | jq -e '.proof | length > 0' >/dev/null || fail "consistency proof"
pass "unknown paths, methods and bad parameters get JSON errors"

# The long poll: a feed call waiting at the end of the log returns the
# record submitted while it waits, well before its wait ends.
size=$(curl -sf "$URL/v1/info" | jq .size)
[[ $(curl -sf "$URL/v1/records?after=$size&wait=0" | jq '.records | length') == 0 ]] || fail "wait=0 at the end"
start=$SECONDS
curl -sf "$URL/v1/records?after=$size&wait=30" >poll.json &
poll=$!
"$WARD" ledger records --ledger "$URL" --after "$size" --wait 30 --json >poll-cli.json &
poll_cli=$!
sleep 1
sign_tx eve.pem "$(tx "$LID" "$E" 3 accounts.transfer "{\"to\":\"$ALICE\",\"amount\":1}")" >transfer.json
curl -sf -X POST --data-binary @transfer.json "$URL/v1/tx" >/dev/null
wait "$poll" "$poll_cli"
((SECONDS - start < 15)) || fail "the long poll waited for its whole timeout"
for f in poll.json poll-cli.json; do
  jq -e --argjson i "$size" '.records[0].index == $i and .records[0].record.tx.args.amount == 1' "$f" >/dev/null ||
    fail "$f: the feed did not return the new record: $(cat "$f")"
done
[[ $(curl -sf "$URL/v1/records?after=0" | jq '[.records[].index] == [range(0; 5)]') == true ]] || fail "feed from 0"
pass "the long-poll feed returns a record submitted while waiting (curl and ward ledger records)"

# Long polls may hold at most half the handler threads: with --threads 4, six
# polls waiting at the end of the log leave GET /v1/info answered at once,
# and the polls past the second are answered at once, empty.
"$WARD" ledger init --db polls.db --dev >/dev/null
start_ward_server ledger serve --db polls.db --threads 4
POLLS=$URL
polls=()
for i in 1 2 3 4 5 6; do
  curl -s -o "poll-$i.json" -w '%{time_total}\n' "$POLLS/v1/records?after=0&wait=20" >"poll-$i.time" &
  polls+=($!)
done
# Each poll writes the time it took when it ends: wait for the four answered
# at once, rather than a fixed second that a loaded machine can outlast.
for ((i = 0; i < 100; i++)); do
  (($(cat poll-*.time 2>/dev/null | wc -l) >= 4)) && break
  sleep 0.1
done
curl -sf --max-time 1 "$POLLS/v1/info" | jq -e '.size == 0' >/dev/null || fail "GET /v1/info starved by long polls"
quick=$(cat poll-*.time 2>/dev/null | awk '$1 < 2' | wc -l)
((quick >= 4)) || fail "only $quick of 6 long polls past the limit were answered at once"
kill "${polls[@]}" 2>/dev/null || true
wait "${polls[@]}" 2>/dev/null || true
pass "long polls hold at most half the handler threads; other requests are answered at once"

# SIGTERM stops the server promptly even with a long poll open.
curl -s "$URL/v1/records?after=99&wait=60" >/dev/null &
sleep 0.5
start=$SECONDS
stop_servers
((SECONDS - start < 5)) || fail "the server took $((SECONDS - start)) s to stop"
"$WARD" ledger verify --db l.db >/dev/null
pass "SIGTERM stops the server at once; the ledger verifies"
