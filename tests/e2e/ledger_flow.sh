#!/usr/bin/env bash
# The whole ledger flow through the CLI — accounts, offers, a CVM, orders
# (canceled, and run to settlement), records, proofs, checkpoints, verify —
# run once against an embedded database and once against a `ward ledger
# serve` on 127.0.0.1, with the same parties: both must give the same
# outcomes. Proofs are also checked offline, and with openssl and jq alone.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$E2E_DIR/ledger_lib.sh"

"$WARD" keys new -o alice.key 2>/dev/null >/dev/null
"$WARD" keys new -o bob.key 2>/dev/null >/dev/null
"$WARD" keys new -o cvm-age.key 2>/dev/null >/dev/null
ALICE=$("$WARD" keys show --json alice.key | jq -r .signing_public_key)
BOB=$("$WARD" keys show --json bob.key | jq -r .signing_public_key)
ALICE_R=$("$WARD" keys show --json alice.key | jq -r .recipient)
CVM_R=$("$WARD" keys show --json cvm-age.key | jq -r .recipient)
PROVIDER=$(ossl_key provider)
CVM_KEY=$(ossl_key cvm)
CVM_ID=$(xxd -r -p <<<"$CVM_KEY" | sha256_hex)
ENGINE=sha256:e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1  # an image config digest

# Drops what legitimately differs between two ledgers: times, leaf hashes
# and checkpoints (both cover the ledger id and the time).
norm() {
  jq -S 'walk(if type == "object" then
      del(.time, .created_at, .started_at, .ended_at, .registered_at, .heartbeat_at, .checkpoint, .leaf)
    else . end)'
}

# flow LEDGER DB INIT_JSON TRANSCRIPT: runs every step against LEDGER (DB,
# or a URL serving it), appending each outcome to TRANSCRIPT.
flow() {
  local L=$1 db=$2 out=$4
  local lid vkey
  lid=$(jq -r .id "$3")
  vkey=$(jq -r .verifier_key "$3")
  step() { echo "== $1" >>"$out"; }
  [[ $("$WARD" ledger checkpoint --ledger "$L" --json | jq -r .verifier_key) == "$vkey" ]] ||
    fail "ledger checkpoint --json names another verifier key"

  step "register"
  "$WARD" accounts register --ledger "$L" --key alice.key --name alice --json | norm >>"$out"
  "$WARD" accounts register --ledger "$L" --key bob.key --json | norm >>"$out"
  "$WARD" accounts fund --ledger "$L" --key alice.key --to "$ALICE" --amount 1000 --json | norm >>"$out"
  "$WARD" accounts fund --ledger "$L" --key bob.key --to "$BOB" --amount 500 >>"$out"
  "$WARD" accounts show --ledger "$L" --key alice.key --json | norm >>"$out"
  "$WARD" accounts show --ledger "$L" "$BOB" | grep -v '^created' >>"$out"
  [[ $("$WARD" accounts show --ledger "$L" "$ALICE" --json | jq .balance) == 1000 ]] || fail "alice's balance"

  step "provider and CVM, signed by openssl"
  sign_tx provider.pem "$(tx "$lid" "$PROVIDER" 1 accounts.register "{\"recipient\":\"$CVM_R\",\"name\":\"provider\"}")" \
    | "$WARD" ledger submit --ledger "$L" --json | norm >>"$out"
  local tee
  tee=$(sign_tx provider.pem "$(tx "$lid" "$PROVIDER" 2 offers.create \
    '{"kind":"tee","name":"h100 box","resource":"sim://box","price":{"model":"fixed","amount":20}}')" \
    | "$WARD" ledger submit --ledger "$L" --json | jq .index)
  sign_tx provider.pem "$(tx "$lid" "$PROVIDER" 3 cvms.register \
    "{\"key\":\"$CVM_KEY\",\"recipient\":\"$CVM_R\",\"certificate\":\"sim certificate\",\"offer\":$tee}")" \
    | "$WARD" ledger submit --ledger "$L" >>"$out"

  step "offers"
  local engine dataset
  engine=$("$WARD" offers create --ledger "$L" --key alice.key --kind engine --name trainer \
    --resource sha256:e1 --price fixed:10 --json | jq .offer)
  dataset=$("$WARD" offers create --ledger "$L" --key bob.key --kind dataset --name scans \
    --resource sha256:d1 --price revenue-share:250 --json | jq .offer)
  "$WARD" offers disable --ledger "$L" --key bob.key "$dataset" >>"$out"
  "$WARD" offers list --ledger "$L" >>"$out"
  "$WARD" offers enable --ledger "$L" --key bob.key "$dataset" --json | norm >>"$out"
  "$WARD" offers get --ledger "$L" "$engine" --json | norm >>"$out"
  "$WARD" offers get --ledger "$L" "$dataset" >>"$out"
  expect_ward_error "offers disable by someone else ($L)" "" 'rejected \(not_owner\)' -- \
    offers disable --ledger "$L" --key alice.key "$dataset"
  "$WARD" offers list --ledger "$L" --json | norm >>"$out"

  step "orders"
  local o1 o2
  o1=$("$WARD" orders create --ledger "$L" --key alice.key --cvm "$CVM_ID" --engine "$ENGINE" --input grant:1 \
    --input grant:2 --output-to "$ALICE_R" --offer "$engine" --deposit 100 --json | jq .order)
  [[ $("$WARD" accounts show --ledger "$L" "$ALICE" --json | jq .balance) == 900 ]] || fail "deposit not escrowed"
  expect_ward_error "orders cancel by someone else ($L)" "" 'rejected \(not_owner\)' -- \
    orders cancel --ledger "$L" --key bob.key "$o1"
  "$WARD" orders cancel --ledger "$L" --key alice.key "$o1" >>"$out"
  [[ $("$WARD" accounts show --ledger "$L" "$ALICE" --json | jq .balance) == 1000 ]] || fail "cancel did not refund"
  expect_ward_error "orders cancel twice ($L)" "" 'rejected \(bad_state\)' -- \
    orders cancel --ledger "$L" --key alice.key "$o1"
  expect_ward_error "deposit beyond the balance ($L)" "" 'rejected \(insufficient_funds\)' -- \
    orders create --ledger "$L" --key bob.key --cvm "$CVM_ID" --engine "$ENGINE" --output-to "$ALICE_R" --deposit 501
  o2=$("$WARD" orders create --ledger "$L" --key alice.key --cvm "$CVM_ID" --engine "$ENGINE" --input grant:3 \
    --output-to "$ALICE_R" --offer "$engine" --offer "$dataset" --deposit 100 --json | jq .order)
  # The CVM (an openssl key) runs the order and reports; settlement pays fixed prices.
  sign_tx cvm.pem "$(tx "$lid" "$CVM_KEY" 1 orders.start "{\"order\":$o2}")" | "$WARD" ledger submit --ledger "$L" >>"$out"
  local report
  report_for() {
    sign_report "$1" "$(jq -cn --arg l "$lid" --argjson o "$2" --arg c "$CVM_ID" --arg e "$3" \
      '{v: 1, ledger: $l, order: $o, cvm: $c, engine: $e, exit_code: 0}')"
  }
  # The ledger reads the report: another order's, another engine's, or one
  # signed by another key is refused, and nothing is settled.
  report=$(report_for cvm.pem "$o1" "$ENGINE")
  sign_tx cvm.pem "$(tx "$lid" "$CVM_KEY" 2 reports.submit "{\"order\":$o2,\"report\":$report}")" >bad.tx
  expect_ward_error "order $o1's report for order $o2 ($L)" "" 'rejected \(report_mismatch\): the report is for order' -- \
    ledger submit --ledger "$L" bad.tx
  report=$(report_for cvm.pem "$o2" sha256:0000)
  sign_tx cvm.pem "$(tx "$lid" "$CVM_KEY" 2 reports.submit "{\"order\":$o2,\"report\":$report}")" >bad.tx
  expect_ward_error "a report of another engine ($L)" "" 'rejected \(report_mismatch\)' -- ledger submit --ledger "$L" bad.tx
  report=$(report_for provider.pem "$o2" "$ENGINE")
  sign_tx cvm.pem "$(tx "$lid" "$CVM_KEY" 2 reports.submit "{\"order\":$o2,\"report\":$report}")" >bad.tx
  expect_ward_error "a report signed by another key ($L)" "" 'rejected \(bad_signature\)' -- ledger submit --ledger "$L" bad.tx
  [[ $("$WARD" orders get --ledger "$L" "$o2" --json | jq -r .status) == processing ]] || fail "a refused report moved the order"
  report=$(report_for cvm.pem "$o2" "$ENGINE")
  sign_tx cvm.pem "$(tx "$lid" "$CVM_KEY" 2 reports.submit "{\"order\":$o2,\"report\":$report}")" \
    | "$WARD" ledger submit --ledger "$L" >>"$out"
  "$WARD" orders get --ledger "$L" "$o2" --json | norm >>"$out"
  "$WARD" orders get --ledger "$L" "$o1" | grep -Ev '^(created_at|started_at|ended_at)' >>"$out"
  "$WARD" orders list --ledger "$L" --creator "$ALICE" --json | norm >>"$out"
  "$WARD" orders list --ledger "$L" --status canceled >>"$out"
  "$WARD" orders list --ledger "$L" --cvm "$CVM_ID" --status done --json | norm >>"$out"
  [[ $("$WARD" orders get --ledger "$L" "$o2" --json | jq -r .status) == done ]] || fail "order $o2 is not done"
  # 100 deposit: 20 to the provider, 10 to alice's engine (her own offer), 0 now for revenue share, 70 back.
  [[ $("$WARD" accounts show --ledger "$L" "$ALICE" --json | jq .balance) == 980 ]] || fail "settlement"
  "$WARD" accounts show --ledger "$L" "$PROVIDER" --json | norm >>"$out"
  expect_ward_error "no such order ($L)" "" 'no order 999' -- orders get --ledger "$L" 999
  expect_ward_error "no such account ($L)" "" 'no account' -- accounts show --ledger "$L" "$(printf '%064d' 0)"

  step "records and proofs"
  local size
  size=$("$WARD" ledger records --ledger "$L" --json | jq '.records | length')
  echo "records: $size" >>"$out"
  "$WARD" ledger records --ledger "$L" --after 3 --json | jq -c '[.records[].record.tx.type], .size' >>"$out"
  "$WARD" ledger checkpoint --ledger "$L" >old.cp
  "$WARD" ledger proof --ledger "$L" --index 2 --json >proof.json
  jq -e '.verified and .record.index == 2' proof.json >/dev/null || fail "proof --index 2 --json"
  "$WARD" ledger proof --ledger "$L" --index 0 --size 3 --json | jq -c '[.size, (.consistency | length > 0)]' >>"$out"
  "$WARD" ledger proof --ledger "$L" --old-size 4 --json | jq -c '[.old_size, .new_size, .verified, .old_root_from]' >>"$out"
  "$WARD" accounts fund --ledger "$L" --key bob.key --to "$BOB" --amount 1 >/dev/null
  "$WARD" ledger proof --ledger "$L" --old-checkpoint old.cp --json | jq -c '[.old_size, .new_size, .old_root_from]' >>"$out"
  expect_ward_error "proof of a record past the log ($L)" "" 'not in the latest checkpoint' -- \
    ledger proof --ledger "$L" --index 1000

  # Offline: only the saved proof (record + proof + checkpoint) and the key.
  "$WARD" ledger proof --check proof.json --verifier-key "$vkey" | tail -n1 | sed 's/signed by .*//' >>"$out"
  jq '.checkpoint |= sub("\n[0-9]+\n"; "\n99999\n")' proof.json >forged.json
  expect_ward_error "forged checkpoint ($L)" "" 'does not verify' -- ledger proof --check forged.json --verifier-key "$vkey"
  jq '.record.record.tx.args.amount = 999' proof.json >tampered.json
  expect_ward_error "tampered record ($L)" "" 'does not verify' -- ledger proof --check tampered.json --verifier-key "$vkey"

  # Without Ward: openssl checks the note, jq and openssl recompute the root.
  jq -r .checkpoint proof.json >proof.cp
  local body root leaf computed
  body=$(verify_note_openssl proof.cp "$vkey")
  root=$(sed -n 3p <<<"$body" | base64 -d | xxd -p -c 64)
  [[ $(sed -n 2p <<<"$body") == $(jq .size proof.json) ]] || fail "note size"
  leaf=$({ printf '\0'; jq -cjS .record.record proof.json; } | sha256_hex)
  [[ $leaf == $(jq -r .record.leaf proof.json) ]] || fail "leaf hash recomputed with openssl differs"
  mapfile -t hashes < <(jq -r '.inclusion[]' proof.json)
  computed=$(merkle_root_from_inclusion 2 "$(jq .size proof.json)" "$leaf" "${hashes[@]}")
  [[ $computed == "$root" ]] || fail "root recomputed with openssl ($computed) is not the checkpoint's ($root)"
  echo "openssl: note signature and inclusion verify" >>"$out"

  step "faucet"
  # Without --to the faucet funds the signer's own account; with it, the account named.
  local alice_before bob_before
  alice_before=$("$WARD" accounts show --ledger "$L" "$ALICE" --json | jq .balance)
  bob_before=$("$WARD" accounts show --ledger "$L" "$BOB" --json | jq .balance)
  "$WARD" accounts fund --ledger "$L" --key bob.key --amount 5 >>"$out"
  [[ $("$WARD" accounts show --ledger "$L" "$BOB" --json | jq .balance) == $((bob_before + 5)) ]] ||
    fail "accounts fund without --to did not credit the signer ($L)"
  "$WARD" accounts fund --ledger "$L" --key bob.key --to "$ALICE" --amount 3 >>"$out"
  [[ $("$WARD" accounts show --ledger "$L" "$ALICE" --json | jq .balance) == $((alice_before + 3)) ]] ||
    fail "accounts fund --to did not credit the account named ($L)"
  [[ $("$WARD" accounts show --ledger "$L" "$BOB" --json | jq .balance) == $((bob_before + 5)) ]] ||
    fail "accounts fund --to credited the signer ($L)"

  step "verify"
  "$WARD" ledger verify --db "$db" >>"$out"
}

"$WARD" ledger init --db embedded.db --dev --json >embedded.init
flow embedded.db embedded.db embedded.init embedded.txt
pass "flow against the embedded ledger"

"$WARD" ledger init --db served.db --dev --json >served.init
start_server served.db
flow "$URL" served.db served.init http.txt
pass "flow against ward ledger serve ($URL)"

diff -u embedded.txt http.txt || fail "the embedded and HTTP ledgers gave different outcomes"
pass "identical outcomes: $(grep -c . embedded.txt) transcript lines"

# Offline proof checking needs no ledger at all: stop the server, check again.
stop_servers
vkey=$(jq -r .verifier_key served.init)
"$WARD" ledger proof --check proof.json --verifier-key "$vkey" >/dev/null
pass "a saved proof verifies with the server gone"
expect_ward_error "a proof checked with another ledger's key" "" 'does not verify|no known key|signature' -- \
  ledger proof --check proof.json --verifier-key "$(jq -r .verifier_key embedded.init)"
