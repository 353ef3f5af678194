# Shared setup of the service benchmarks (sourced, not run; the caller sets
# BENCH, its name, first). start_world makes a temporary directory in
# /dev/shm, serves a ledger and a certification center here, registers the
# parties carol (who deploys), provider and alice (the client), starts a node
# with one simulated CVM (ward node run gets NODE_ARGS too), and writes the
# attestation policy that takes it. It sets TMP, L, CA, CVM and PIDS (killed
# on exit); WARD and LOADER must be set. WITH_KMS=1 also serves a key
# broker (KMS) that the node asks.
die() {
  echo "$BENCH: $*" >&2
  exit 1
}
start() { # start NAME CMD...: runs CMD in the background, waits for its first stdout line, sets URL
  local name=$1
  shift
  "$@" >"$name.out" 2>"$name.err" &
  PIDS+=($!)
  for ((i = 0; i < 200; i++)); do
    [[ -s $name.out ]] && break
    kill -0 "${PIDS[-1]}" 2>/dev/null || die "$name exited: $(cat "$name.err")"
    sleep 0.05
  done
  URL=$(head -n1 "$name.out")
}
account() { "$WARD" keys show --json "$1.key" | jq -r .signing_public_key; }
start_world() {
  ((EUID == 0)) || die "run as root (the loader reaches the engine inside its sandbox's network namespace)"
  TMP=$(mktemp -d "/dev/shm/ward-$BENCH.XXXXXX")
  chmod 711 "$TMP"
  PIDS=()
  cleanup() {
    set +e
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
    rm -rf "$TMP"
  }
  trap cleanup EXIT
  cd "$TMP"

  "$WARD" ledger init --db l.db --dev >/dev/null
  start ledger "$WARD" ledger serve --db l.db --listen 127.0.0.1:0
  L=$URL
  "$WARD" ca init --dir ca >/dev/null
  echo '{"allow_simulated": true}' >ca-policy.json
  start ca "$WARD" ca serve --dir ca --policy ca-policy.json --listen 127.0.0.1:0
  CA=$URL
  for p in carol provider alice; do
    "$WARD" keys new -o "$p.key" >/dev/null 2>&1
    "$WARD" accounts register --ledger "$L" --key "$p.key" --name "$p" >/dev/null
  done
  "$WARD" accounts fund --ledger "$L" --key carol.key --to "$(account carol)" --amount 1000 >/dev/null
  "$WARD" accounts fund --ledger "$L" --key alice.key --to "$(account alice)" --amount 1000 >/dev/null
  # WITH_KMS=1: a key broker too (KMS, broker-policy.json), which the node's loaders ask.
  if [[ -n ${WITH_KMS:-} ]]; then
    start kms "$WARD" kms serve --dir broker --ledger "$L" --ca "$CA" --platform sim --listen 127.0.0.1:0
    KMS=$URL
    NODE_ARGS="${NODE_ARGS:-} --kms $KMS"
    echo "{\"allow_simulated\": true, \"measurements\": {\"mrtd\": [\"$(sha384sum "$WARD" | cut -d' ' -f1)\"]}}" \
      >broker-policy.json
  fi
  "$WARD" node run --ledger "$L" --key provider.key --store "$TMP/store" --ca "$CA" --platform sim --cvms 1 \
    --dir node --work "$TMP/work" ${NODE_ARGS:-} >node.out 2>&1 &
  PIDS+=($!)
  for ((i = 0; i < 300; i++)); do
    [[ $("$WARD" node cvms --ledger "$L" --json | jq '.cvms | length') == 1 ]] && break
    sleep 0.1
  done
  CVM=$("$WARD" ca verify node/cvm-0/cvm.pem --ca-cert ca/ca.pem --policy ca-policy.json --json | jq -r .cvm_id)
  MRTD=$(sha384sum "$LOADER" | cut -d' ' -f1)
  echo "{\"allow_simulated\": true, \"measurements\": {\"mrtd\": [\"$MRTD\"]}}" >policy.json
}

# upload_and_grant PATH NAME [UPLOAD_ARGS...]: uploads PATH as Carol to
# NAME.res.json and grants it to the CVM for serving (NAME.grant.json), for
# the engine ENGINE (set it first; an engine image sets it itself).
upload_and_grant() {
  local path=$1 name=$2
  shift 2
  "$WARD" files upload "$path" --key carol.key --store "$TMP/store" -o "$name.res.json" "$@" >/dev/null
  [[ -n ${ENGINE:-} ]] || ENGINE=$(jq -r .resource.engine "$name.res.json")
  "$WARD" files grant "$name.res.json" --key carol.key --ledger "$L" --cvm "$CVM" --engine "$ENGINE" --serve \
    --ca-cert ca/ca.pem --policy policy.json -o "$name.grant.json" >/dev/null
}
# serve_order ENGINE_NAME ORDER_ARGS...: a service order on the CVM with the
# engine and the grants named in ORDER_ARGS; waits for it; sets ID and ENDPOINT.
serve_order() {
  local engine=$1
  shift
  ID=$("$WARD" orders create --ledger "$L" --key carol.key --cvm "$CVM" --engine "$engine.res.json" --serve \
    --store "$TMP/store" --json "$@" | jq -r .order)
  ENDPOINT=
  for ((i = 0; i < 600; i++)); do
    ENDPOINT=$("$WARD" orders get "$ID" --ledger "$L" --json | jq -r '.serve.endpoint // empty')
    [[ -n $ENDPOINT ]] && break
    sleep 0.1
  done
  [[ -n $ENDPOINT ]] || die "service order $ID did not start: $(tail node.out)"
}
