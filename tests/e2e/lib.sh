# Shared setup for the e2e scripts (sourced, not run): strict mode, the ward
# binary, a temporary directory removed on exit, and assertion helpers.
set -Eeuo pipefail

: "${WARD:=build/src/cli/ward}"
[[ -x $WARD ]] || { echo "FAIL: no ward binary at '$WARD' (set WARD)" >&2; exit 1; }
WARD=$(realpath "$WARD")
command -v age >/dev/null || { echo "FAIL: the age CLI is missing (Debian package age)" >&2; exit 1; }
command -v jq >/dev/null || { echo "FAIL: jq is missing (Debian package jq)" >&2; exit 1; }

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/ward-e2e.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
trap 'echo "FAIL: ${BASH_SOURCE[0]##*/}:$LINENO: command failed: $BASH_COMMAND" >&2' ERR
cd "$TMP"

fail() {
  echo "FAIL: $*" >&2
  exit 1
}
pass() { echo "ok: $*"; }

# random_file PATH SIZE
random_file() { head -c "$2" /dev/urandom >"$1"; }

# flip_byte FILE OFFSET: inverts one byte in place, so FILE always changes
# (writing a fixed value would leave it as it was when the byte held that value).
flip_byte() {
  local old
  old=$(xxd -s "$2" -l 1 -p "$1")
  [[ -n $old ]] || fail "flip_byte: $1 has no byte at offset $2"
  printf "\\x$(printf %02x $((0x$old ^ 0xff)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

# same_file EXPECTED ACTUAL WHAT
same_file() { cmp -s "$1" "$2" || fail "$3: $2 differs from $1"; }

# expect_ward_error WHAT OUTDIR [PATTERN] -- ARGS...: `ward ARGS...` must exit
# non-zero with exactly one stderr line "ward: error: ..." (matching PATTERN,
# an extended regex, when given), and leave OUTDIR empty (no output file and no
# temporary file).
expect_ward_error() {
  local what=$1 outdir=$2 pattern=${3:-}
  shift 3
  [[ ${1:-} == -- ]] && shift
  local rc=0
  "$WARD" "$@" >"$TMP/stdout" 2>"$TMP/stderr" || rc=$?
  ((rc != 0)) || fail "$what: ward exited 0"
  ((rc == 1)) || fail "$what: ward exited $rc, expected 1 (stderr: $(cat "$TMP/stderr"))"
  local lines
  lines=$(wc -l <"$TMP/stderr")
  ((lines == 1)) || fail "$what: expected one stderr line, got $lines: $(cat "$TMP/stderr")"
  grep -q '^ward: error: ' "$TMP/stderr" || fail "$what: stderr does not start with 'ward: error:': $(cat "$TMP/stderr")"
  if [[ -n $pattern ]]; then
    grep -Eqi -- "$pattern" "$TMP/stderr" || fail "$what: error does not match /$pattern/: $(cat "$TMP/stderr")"
  fi
  if [[ -n $outdir ]]; then
    local left
    left=$(ls -A "$outdir")
    [[ -z $left ]] || fail "$what: files left in $outdir: $left"
  fi
  echo "ok: $what -> $(cat "$TMP/stderr")"
}

SERVER_PIDS=()
SERVER_LOGS=()
# start_ward_server ARGS...: runs `ward ARGS... --listen 127.0.0.1:0` in the
# background (a ledger or a certification center) and sets URL to the URL it
# prints. stop_servers stops it.
start_ward_server() {
  local out
  out=$(mktemp "$TMP/serve.XXXXXX")
  "$WARD" "$@" --listen 127.0.0.1:0 >"$out" 2>"$out.err" &
  SERVER_PIDS+=($!)
  SERVER_LOGS+=("$out.err")
  local i
  for ((i = 0; i < 100; i++)); do
    [[ -s $out ]] && break
    kill -0 "${SERVER_PIDS[-1]}" 2>/dev/null || fail "ward $1 $2 exited: $(cat "$out.err")"
    sleep 0.1
  done
  URL=$(head -n1 "$out")
  [[ $URL =~ ^http://127\.0\.0\.1:[0-9]+$ ]] || fail "ward $1 $2 printed '$URL', not its URL"
}

# start_anvil: an anvil on a free port (stopped by stop_servers); sets
# EVM_NODE to the node's URL.
start_anvil() {
  local anvil port i
  anvil=$(cd "$E2E_DIR/../.." && pwd)/.deps/npm/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil
  [[ -x $anvil ]] || fail "no anvil at $anvil (run scripts/setup.sh)"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  EVM_NODE=http://127.0.0.1:$port
  "$anvil" --host 127.0.0.1 --port "$port" --silent 2>"$TMP/anvil.err" &
  SERVER_PIDS+=($!)
  SERVER_LOGS+=("$TMP/anvil.err")
  for ((i = 0; i < 100; i++)); do
    evm_rpc eth_chainId '[]' >/dev/null 2>&1 && break
    sleep 0.1
  done
}

# start_evm_ledger: an anvil (start_anvil) and the WardLedger contract
# deployed on it (dev); sets L to its evm+ target and EVM_NODE to the node's
# URL.
start_evm_ledger() {
  start_anvil
  "$WARD" keys new -o deployer.key >/dev/null 2>&1
  give_gas deployer.key
  L=$("$WARD" ledger deploy --evm "$EVM_NODE" --key deployer.key --dev --json | jq -r .ledger)
}

# evm_rpc METHOD PARAMS: one JSON-RPC call to the test's anvil.
evm_rpc() {
  curl -sf -X POST -H 'content-type: application/json' \
    --data "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"$1\",\"params\":$2}" "$EVM_NODE"
}

# give_gas KEYFILE: on an EVM ledger, 1000 of anvil's coin for the key's
# address (its transactions' gas); nothing on other ledgers.
give_gas() {
  [[ -n ${EVM_NODE:-} ]] || return 0
  local address
  address=$("$WARD" keys show --json "$1" | jq -r .evm_address)
  evm_rpc anvil_setBalance "[\"$address\",\"0x3635c9adc5dea00000\"]" >/dev/null
}

# offline_verify ID FILE [ARGS...]: `ward orders verify` of order ID from the
# bundle FILE alone, the ledger option pointing nowhere (ca/ca.pem,
# policy.json).
offline_verify() {
  local id=$1 file=$2
  shift 2
  "$WARD" orders verify "$id" --ledger 'evm+http://127.0.0.1:1#0x0000000000000000000000000000000000000001' \
    --ca-cert ca/ca.pem --policy policy.json --no-output-check --bundle "$file" "$@"
}
# bundle_rejected WHAT CHECK PATTERN ID FILE [ARGS...]: offline_verify exits 1
# with the verdict REJECTED at CHECK and PATTERN in its output.
bundle_rejected() {
  local what=$1 check=$2 pattern=$3 rc=0
  shift 3
  offline_verify "$@" >verify.txt 2>err.txt || rc=$?
  ((rc == 1)) || fail "$what: verify exited $rc: $(cat verify.txt err.txt)"
  grep -q "REJECTED at $check" verify.txt && grep -q -- "$pattern" verify.txt ||
    fail "$what: not rejected at $check ($pattern): $(cat verify.txt)"
}

# start_ledger_and_ca [CA_SERVE_ARGS...]: a dev ledger (l.db served here, or
# with WARD_E2E_LEDGER=evm the contract on an anvil) and a certification
# center (ca/) that takes simulated evidence (ca-policy.json), served here;
# sets L and CA to their URLs.
start_ledger_and_ca() {
  if [[ ${WARD_E2E_LEDGER:-sqlite} == evm ]]; then
    start_evm_ledger
  else
    "$WARD" ledger init --db l.db --dev >/dev/null
    start_ward_server ledger serve --db l.db
    L=$URL
  fi
  "$WARD" ca init --dir ca >/dev/null
  echo '{"allow_simulated": true}' >ca-policy.json
  start_ward_server ca serve --dir ca --policy ca-policy.json "$@"
  CA=$URL
}

# start_kms [ARGS...]: a key broker (`ward kms serve`, its simulated CVM in
# broker/) on $L and $CA; sets KMS to its URL and writes broker-policy.json,
# which takes simulated evidence of this `ward` binary only.
start_kms() {
  start_ward_server kms serve --dir broker --ledger "$L" --ca "$CA" --platform sim "$@"
  KMS=$URL
  echo "{\"allow_simulated\": true, \"measurements\": {\"mrtd\": [\"$(sha384sum "$WARD" | cut -d' ' -f1)\"]}}" \
    >broker-policy.json
}

# Stops every server with SIGTERM; each must exit 0 (a graceful stop, and no
# sanitizer report) with nothing on stderr.
stop_servers() {
  local i rc failed=
  for i in "${!SERVER_PIDS[@]}"; do
    kill -TERM "${SERVER_PIDS[i]}" 2>/dev/null || true
    rc=0
    wait "${SERVER_PIDS[i]}" 2>/dev/null || rc=$?
    if ((rc != 0)) || [[ -s ${SERVER_LOGS[i]} ]]; then
      failed+="a ward server exited $rc: $(head -c 4000 "${SERVER_LOGS[i]}") "
    fi
  done
  SERVER_PIDS=()
  SERVER_LOGS=()
  [[ -z $failed ]] || fail "$failed"
}
# register_parties NAME...: a new key NAME.key for each, registered on $L.
register_parties() {
  local p
  for p in "$@"; do
    "$WARD" keys new -o "$p.key" >/dev/null 2>&1
    give_gas "$p.key"
    "$WARD" accounts register --ledger "$L" --key "$p.key" --name "$p" >/dev/null
  done
}
# account NAME: NAME.key's account (its Ed25519 signing key, hex).
account() { "$WARD" keys show --json "$1.key" | jq -r .signing_public_key; }
# start_sim_node [NODE_RUN_ARGS...]: provider.key's node with one simulated
# CVM (its ward-loader is $LOADER) on $L, $CA and $STORE, in node/ and
# $TMP/work, logging to node.out, in the background; NODE is its pid. Waits
# until the CVM is listed, sets CVM to its id, and writes policy.json: an
# attestation policy that takes simulated evidence of this loader only.
start_sim_node() {
  "$WARD" node run --ledger "$L" --key provider.key --store "$STORE" --ca "$CA" --platform sim --cvms 1 \
    --dir node --work "$TMP/work" "$@" >>node.out 2>&1 &
  NODE=$!
  local i n=0
  for ((i = 0; i < 300; i++)); do
    n=$("$WARD" node cvms --ledger "$L" --json | jq '.cvms | length')
    ((n == 1)) && break
    sleep 0.1
  done
  ((n == 1)) || fail "the node did not list its CVM: $(cat node.out)"
  CVM=$("$WARD" ca verify node/cvm-0/cvm.pem --ca-cert ca/ca.pem --policy ca-policy.json --json | jq -r .cvm_id)
  echo "{\"allow_simulated\": true, \"measurements\": {\"mrtd\": [\"$(sha384sum "$LOADER" | cut -d' ' -f1)\"]}}" \
    >policy.json
}
