#!/usr/bin/env bash
# The EVM ledger through the CLI, on a real anvil the test starts: deploy the
# WardLedger contract with `ward ledger deploy`, then accounts and offers with
# --ledger evm+http://HOST:PORT#0xCONTRACT as with any ledger, and every way
# it must refuse: the contract's rules (read back as Ward's reason codes),
# a non-dev ledger's faucet, a sender without gas money, an address without
# the contract, an unreachable node, a malformed target, and the log-only
# verbs an EVM ledger does not have.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ROOT=$(cd "$E2E_DIR/../.." && pwd)
ANVIL=$ROOT/.deps/npm/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil
[[ -x $ANVIL ]] || fail "no anvil at $ANVIL (run scripts/setup.sh)"

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
NODE=http://127.0.0.1:$PORT
"$ANVIL" --host 127.0.0.1 --port "$PORT" --silent &
ANVIL_PID=$!
trap 'kill "$ANVIL_PID" 2>/dev/null; rm -rf "$TMP"' EXIT

rpc() { curl -sf -X POST -H 'content-type: application/json' --data "$1" "$NODE"; }
for ((i = 0; i < 100; i++)); do
  rpc '{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}' >/dev/null && break
  sleep 0.1
done
rpc '{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}' >/dev/null || fail "anvil did not start"

for p in deployer alice bob poor; do "$WARD" keys new -o $p.key >/dev/null 2>&1; done
gas() { # gas KEYFILE: 1000 ETH for the key's EVM address
  local address
  address=$("$WARD" keys show --json "$1" | jq -r .evm_address)
  rpc "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"anvil_setBalance\",\"params\":[\"$address\",\"0x3635c9adc5dea00000\"]}" >/dev/null
}
gas deployer.key
gas alice.key
gas bob.key
ALICE=$("$WARD" keys show --json alice.key | jq -r .signing_public_key)
BOB=$("$WARD" keys show --json bob.key | jq -r .signing_public_key)

# Deploy: the printed --ledger value reaches a contract whose ledger id commits to the chain and address.
"$WARD" ledger deploy --evm "$NODE" --key deployer.key --dev --json >deploy.json
L=$(jq -r .ledger deploy.json)
CONTRACT=$(jq -r .contract deploy.json)
[[ $L == "evm+$NODE#$CONTRACT" ]] || fail "deploy printed ledger '$L'"
[[ $(jq .chain_id deploy.json) == 31337 ]] || fail "deploy chain id: $(cat deploy.json)"
code=$(rpc "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_getCode\",\"params\":[\"$CONTRACT\",\"latest\"]}" | jq -r .result)
((${#code} > 20000)) || fail "no contract code at $CONTRACT"
expected_id=$({
  printf 'ward/evm-ledger/v1'
  printf '%064x' 31337 | xxd -r -p
  xxd -r -p <<<"${CONTRACT#0x}"
} | sha256sum | cut -d' ' -f1)
[[ $(jq -r .id deploy.json) == "$expected_id" ]] || fail "ledger id $(jq -r .id deploy.json), expected $expected_id"
pass "ledger deploy: $CONTRACT, ledger id sha256(domain ‖ chain id ‖ address), $(jq .gas_used deploy.json) gas"

# Accounts and the faucet.
"$WARD" accounts register --ledger "$L" --key alice.key --name alice --json >reg.json
[[ $(jq .accepted reg.json) == true && $(jq .index reg.json) == 0 ]] || fail "register alice: $(cat reg.json)"
"$WARD" accounts register --ledger "$L" --key bob.key >/dev/null
"$WARD" accounts fund --ledger "$L" --key alice.key --to "$ALICE" --amount 1000 >/dev/null
"$WARD" accounts show --ledger "$L" "$ALICE" --json >alice.json
[[ $(jq .balance alice.json) == 1000 ]] || fail "alice's balance: $(cat alice.json)"
[[ $(jq -r .name alice.json) == alice ]] || fail "alice's name: $(cat alice.json)"
[[ $(jq -r .recipient alice.json) == $("$WARD" keys show --json alice.key | jq -r .recipient) ]] ||
  fail "alice's recipient: $(cat alice.json)"
pass "accounts register, fund, show"
expect_ward_error "register twice" "" 'rejected \(already_exists\)' -- \
  accounts register --ledger "$L" --key alice.key
expect_ward_error "fund past the supply limit" "" 'rejected \(overflow\)' -- \
  accounts fund --ledger "$L" --key alice.key --to "$BOB" --amount 9223372036854775807
expect_ward_error "a sender with no account" "" 'rejected \(unknown_account\)' -- \
  accounts fund --ledger "$L" --key deployer.key --to "$BOB" --amount 1
expect_ward_error "a sender without gas money" "" 'holds 0 wei.*send the address ETH' -- \
  accounts register --ledger "$L" --key poor.key

# Offers, of every price model.
engine=$("$WARD" offers create --ledger "$L" --key alice.key --kind engine --name trainer --resource sha256:e1 \
  --price fixed:10 --json | jq .offer)
box=$("$WARD" offers create --ledger "$L" --key bob.key --kind tee --name box --resource sim://box \
  --price per-hour:60 --json | jq .offer)
scans=$("$WARD" offers create --ledger "$L" --key bob.key --kind dataset --name scans --resource sha256:d1 \
  --price revenue-share:250 --json | jq .offer)
"$WARD" offers list --ledger "$L" --json >offers.json
[[ $(jq '.offers | length' offers.json) == 3 ]] || fail "offers list: $(cat offers.json)"
[[ $(jq -c "[.offers[] | .id]" offers.json) == "[$engine,$box,$scans]" ]] || fail "offer ids: $(cat offers.json)"
[[ $(jq -c ".offers[] | select(.id == $scans) | .price" offers.json) == '{"bps":250,"model":"revenue_share"}' ]] ||
  fail "revenue share price: $(cat offers.json)"
"$WARD" offers disable --ledger "$L" --key bob.key "$scans" >/dev/null
[[ $("$WARD" offers get --ledger "$L" "$scans" --json | jq .enabled) == false ]] || fail "offer not disabled"
expect_ward_error "disable a disabled offer" "" 'rejected \(bad_state\)' -- \
  offers disable --ledger "$L" --key bob.key "$scans"
expect_ward_error "disable someone else's offer" "" 'rejected \(not_owner\)' -- \
  offers disable --ledger "$L" --key alice.key "$box"
expect_ward_error "enable an offer that does not exist" "" 'rejected \(not_found\)' -- \
  offers enable --ledger "$L" --key alice.key 999
"$WARD" offers enable --ledger "$L" --key bob.key "$scans" >/dev/null
pass "offers create (fixed, per-hour, revenue share), list, get, disable, enable"

# Orders: the rules refuse what they must.
CVM=$(printf 'no such cvm' | sha256sum | cut -d' ' -f1)
expect_ward_error "an order on a CVM that is not listed" "" 'rejected \(not_found\)' -- \
  orders create --ledger "$L" --key alice.key --cvm "$CVM" \
  --engine sha256:e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1 --input grant:1 \
  --output-to "$(jq -r .recipient alice.json)" --deposit 10
[[ $("$WARD" orders list --ledger "$L" --json | jq '.orders | length') == 0 ]] || fail "orders list not empty"
[[ $("$WARD" accounts show --ledger "$L" "$ALICE" --json | jq .balance) == 1000 ]] || fail "a refusal moved tokens"
pass "a refused order changes nothing"

# A ledger without the faucet.
"$WARD" ledger deploy --evm "$NODE" --key deployer.key --json >prod.json
P=$(jq -r .ledger prod.json)
"$WARD" accounts register --ledger "$P" --key alice.key >/dev/null
expect_ward_error "the faucet of a non-dev ledger" "" 'rejected \(dev_only\)' -- \
  accounts fund --ledger "$P" --key alice.key --to "$ALICE" --amount 5

# Targets that are not an EVM ledger.
expect_ward_error "an address without the contract" "" 'no WardLedger contract at' -- \
  accounts show --ledger "evm+$NODE#0x0000000000000000000000000000000000000001" "$ALICE"
expect_ward_error "an unreachable node" "" 'cannot reach the node at http://127.0.0.1:1' -- \
  accounts show --ledger "evm+http://127.0.0.1:1#$CONTRACT" "$ALICE"
expect_ward_error "a target without the contract" "" 'expected evm\+http://HOST:PORT#0xCONTRACT' -- \
  accounts show --ledger "evm+$NODE" "$ALICE"
expect_ward_error "a contract address with a bad checksum" "" 'checksum' -- \
  accounts show --ledger "evm+$NODE#0x0868891642E26472Cea18Da85dcc90318efcdc6A" "$ALICE"
expect_ward_error "checkpoints of an EVM ledger" "" 'no Merkle log' -- ledger checkpoint --ledger "$L"
expect_ward_error "a signed envelope to an EVM ledger" "" 'not signed envelopes' -- \
  ledger submit --ledger "$L" <<<'{"tx":{},"sig":""}'
pass "EVM ledger targets fail closed"
