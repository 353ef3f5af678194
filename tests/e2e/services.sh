#!/usr/bin/env bash
# Paid use of a service on the ledger, through the CLI: a service order for
# subscribers with its prices, clients subscribing and topping up, the CVM's
# usage report (signed with openssl, as the loader will send it), `ward
# services show`, and the refunds when the order ends. Run against a ledger
# file and against a `ward ledger serve`, with the same results.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$E2E_DIR/ledger_lib.sh"

for who in carol alice bob; do "$WARD" keys new -o "$who.key" >/dev/null 2>&1; done
account() { "$WARD" keys show --json "$1.key" | jq -r .signing_public_key; }
CAROL=$(account carol)
ALICE=$(account alice)
BOB=$(account bob)
CVM_R=$("$WARD" keys show --json carol.key | jq -r .recipient)
PROVIDER=$(ossl_key provider)
CVM_KEY=$(ossl_key cvm)
CVM_ID=$(xxd -r -p <<<"$CVM_KEY" | sha256_hex)
ENGINE=sha256:e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1
TLS_KEY=$(printf 'tls key' | sha256_hex)

# expect_usage_error WHAT ARGS...: `ward ARGS...` must exit 2 (a usage error).
expect_usage_error() {
  local what=$1 rc=0
  shift
  "$WARD" "$@" >/dev/null 2>"$TMP/stderr" || rc=$?
  ((rc == 2)) || fail "$what: ward exited $rc, expected 2 (stderr: $(cat "$TMP/stderr"))"
}

# cvm_submit LEDGER LEDGER_ID NONCE TYPE ARGS_JSON: a transaction of the CVM's.
cvm_submit() {
  sign_tx cvm.pem "$(tx "$2" "$CVM_KEY" "$3" "$4" "$5")" | "$WARD" ledger submit --ledger "$1" >/dev/null
}

# flow LEDGER INIT_JSON: every step against LEDGER, a file or a URL.
flow() {
  local L=$1 lid
  lid=$(jq -r .id "$2")
  for who in carol alice bob; do
    "$WARD" accounts register --ledger "$L" --key "$who.key" >/dev/null
    "$WARD" accounts fund --ledger "$L" --key "$who.key" --to "$(account "$who")" --amount 1000 >/dev/null
  done
  sign_tx provider.pem "$(tx "$lid" "$PROVIDER" 1 accounts.register "{\"recipient\":\"$CVM_R\"}")" |
    "$WARD" ledger submit --ledger "$L" >/dev/null
  local tee
  tee=$(sign_tx provider.pem "$(tx "$lid" "$PROVIDER" 2 offers.create \
    '{"kind":"tee","name":"box","resource":"sim://box","price":{"model":"fixed","amount":20}}')" |
    "$WARD" ledger submit --ledger "$L" --json | jq .index)
  sign_tx provider.pem "$(tx "$lid" "$PROVIDER" 3 cvms.register \
    "{\"key\":\"$CVM_KEY\",\"recipient\":\"$CVM_R\",\"certificate\":\"sim\",\"offer\":$tee}")" |
    "$WARD" ledger submit --ledger "$L" >/dev/null

  expect_usage_error "a price without --access subscribers" orders create --ledger "$L" --key carol.key \
    --cvm "$CVM_ID" --engine "$ENGINE" --input grant:1 --serve --access public --price-per-request 1 --deposit 100
  local order
  order=$("$WARD" orders create --ledger "$L" --key carol.key --cvm "$CVM_ID" --engine "$ENGINE" --input grant:1 \
    --serve --access subscribers --price-per-request 2 --price-per-1k-tokens 5 --deposit 100 --json | jq .order)
  [[ $("$WARD" orders get --ledger "$L" "$order" --json | jq -c .serve.price) == '{"per_1k_tokens":5,"per_request":2}' ]] ||
    fail "the order's price"
  "$WARD" orders get --ledger "$L" "$order" | grep -qx "serve.access: subscribers" || fail "orders get: serve.access"

  expect_usage_error "a deposit of 0" services subscribe "$order" --deposit 0 --ledger "$L" --key alice.key
  "$WARD" services subscribe "$order" --deposit 30 --ledger "$L" --key alice.key >out.txt
  grep -Eqx "subscribed to service order $order \(record [0-9]+\): $ALICE  deposit 30  charged 0  requests 0  tokens 0  bytes 0  open" out.txt ||
    fail "services subscribe printed: $(cat out.txt)"
  [[ $("$WARD" services subscribe "$order" --deposit 5 --ledger "$L" --key alice.key --json |
    jq .subscription.deposit) == 35 ]] || fail "a top-up adds to the deposit"
  "$WARD" services subscribe "$order" --deposit 10 --ledger "$L" --key bob.key >/dev/null
  [[ $("$WARD" accounts show --ledger "$L" "$ALICE" --json | jq .balance) == 965 ]] || fail "alice's deposit"

  # The CVM starts the service and reports what alice used: 3 * 2 + ceil(1001 * 5 / 1000).
  cvm_submit "$L" "$lid" 1 orders.start "{\"order\":$order}"
  local body
  body=$(jq -cn --arg l "$lid" --argjson o "$order" --arg c "$CVM_ID" --arg e "$ENGINE" --arg k "$TLS_KEY" \
    '{v: 1, ledger: $l, order: $o, cvm: $c, engine: $e, outcome: "serving", finished: "",
      service: {tls_key_sha256: $k, tls_certificate: "PEM", endpoint: "https://127.0.0.1:8443"}, inputs: []}')
  cvm_submit "$L" "$lid" 2 services.start "{\"order\":$order,\"report\":$(sign_report cvm.pem "$body")}"
  cvm_submit "$L" "$lid" 3 services.usage \
    "{\"order\":$order,\"usage\":[{\"account\":\"$ALICE\",\"requests\":3,\"tokens\":1001,\"bytes\":640}]}"
  "$WARD" services show "$order" --ledger "$L" >show.txt
  (($(wc -l <show.txt) == 2)) || fail "services show: $(cat show.txt)"
  grep -qx "$ALICE  deposit 35  charged 12  requests 3  tokens 1001  bytes 640  open" show.txt ||
    fail "services show: alice: $(cat show.txt)"
  grep -qx "$BOB  deposit 10  charged 0  requests 0  tokens 0  bytes 0  open" show.txt ||
    fail "services show: bob: $(cat show.txt)"
  [[ $("$WARD" services show "$order" --ledger "$L" --json | jq '.subscriptions | length') == 2 ]] ||
    fail "services show --json"
  [[ $("$WARD" services show "$order" --account "$ALICE" --ledger "$L" --json | jq .charged) == 12 ]] ||
    fail "services show --account --json"
  expect_ward_error "show a subscriber that is not" "" "has no subscription to order $order" -- \
    services show "$order" --account "$CAROL" --ledger "$L"

  # Carol ends the service; the CVM's final report closes both subscriptions.
  "$WARD" orders cancel --ledger "$L" --key carol.key "$order" >/dev/null
  expect_ward_error "subscribe to a service asked to stop" "" 'rejected \(bad_state\)' -- \
    services subscribe "$order" --deposit 1 --ledger "$L" --key bob.key
  cvm_submit "$L" "$lid" 4 reports.submit "{\"order\":$order,\"report\":$(sign_report cvm.pem "$body")}"
  "$WARD" services show "$order" --account "$ALICE" --ledger "$L" | grep -q "  closed, refund 23$" ||
    fail "alice's subscription is not closed with its refund"
  [[ $("$WARD" accounts show --ledger "$L" "$ALICE" --json | jq .balance) == 988 ]] || fail "alice's refund"
  [[ $("$WARD" accounts show --ledger "$L" "$BOB" --json | jq .balance) == 1000 ]] || fail "bob's refund"
}

"$WARD" ledger init --db embedded.db --dev --json >embedded.init
flow embedded.db embedded.init
"$WARD" ledger verify --db embedded.db >/dev/null || fail "ledger verify"
pass "subscribe, usage, show and refunds against the embedded ledger"

"$WARD" ledger init --db served.db --dev --json >served.init
start_server served.db
flow "$URL" served.init
pass "subscribe, usage, show and refunds against ward ledger serve ($URL)"
