#!/usr/bin/env bash
# `ward demo`, the README's main command: the three-party order runs, the model
# trained on both halves scores at least 90% on the held-out rows, the refused
# grant is shown, the report verifies, and nothing is left running or on disk.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
chmod 711 "$TMP"  # the sandbox (an unprivileged uid when root) reaches --dir below
REPO=$(cd "$E2E_DIR/../.." && pwd)
DATA=$REPO/.deps/data/breast_cancer.csv
[[ -s $DATA ]] || fail "no $DATA (scripts/setup.sh fetches it)"

"$WARD" demo --data "$DATA" --dir "$TMP/demo" >demo.out 2>demo.err || fail "ward demo: $(tail -5 demo.out) $(cat demo.err)"
grep -q 'verdict: verified (SIMULATED' demo.out || fail "no verified report: $(cat demo.out)"
grep -Eq 'error: .*grant\.engine' demo.out || fail "the other engine's order was not refused: $(cat demo.out)"
both=$(grep 'both, in the CVM' demo.out | awk '{print $5}' | tr -d %)
awk -v b="$both" 'BEGIN { exit !(b >= 90) }' || fail "the joint model's accuracy is $both%"
[[ ! -e $TMP/demo ]] || fail "the demo left $TMP/demo behind"
pgrep -f "ward-loader --dir $TMP/demo" >/dev/null && fail "the demo left a loader running"
left=$(find /dev/shm -maxdepth 1 -name 'ward-demo-*' -newer "$DATA" 2>/dev/null | head -1)
[[ -z $left ]] || fail "the demo left its tmpfs work directory $left"
pass "ward demo: joint model at $both% accuracy, refusal shown, report verified, nothing left behind"

# `ward demo --ledger evm`: the same order on the WardLedger contract, on an
# anvil the demo starts and stops; the report is proven by its receipt.
"$WARD" demo --ledger evm --data "$DATA" --dir "$TMP/demo-evm" >evm.out 2>evm.err ||
  fail "ward demo --ledger evm: $(tail -5 evm.out) $(cat evm.err)"
grep -q '(WardLedger on anvil)' evm.out || fail "the EVM demo did not use the contract: $(head -5 evm.out)"
grep -q 'verdict: verified (SIMULATED' evm.out || fail "no verified report on the chain: $(cat evm.out)"
grep -Eq 'ledger.inclusion: sent from the CVM.s bound address 0x[0-9a-fA-F]{40}, in block [0-9]+ \(0x[0-9a-f]{64}; receipts and transactions roots rebuilt' evm.out ||
  fail "the report was not proven by its receipt: $(grep ledger.inclusion evm.out)"
grep -Eq 'error: .*grant\.engine' evm.out || fail "the other engine's order was not refused on the chain"
[[ ! -e $TMP/demo-evm ]] || fail "the EVM demo left $TMP/demo-evm behind"
anvil_port=$(grep -oE 'evm\+http://127\.0\.0\.1:[0-9]+' evm.out | head -1 | sed 's/.*://')
[[ -n $anvil_port ]] || fail "the EVM demo printed no chain URL"
pgrep -f "anvil --host 127.0.0.1 --port $anvil_port " >/dev/null && fail "the EVM demo left its anvil running"
pgrep -f "ward-loader --dir $TMP/demo-evm" >/dev/null && fail "the EVM demo left a loader running"
pass "ward demo --ledger evm: the order on the contract, the report proven by its receipt, nothing left running"

# `ward demo serve`: the model served from the CVM, verified, a man in the
# middle refused, paid for by use and checked against the receipts, settled;
# under a minute, nothing left running. It needs root (the loader enters the
# engine's network namespace).
if ((EUID == 0)); then
  start=$(date +%s)
  "$WARD" demo serve --data "$DATA" --dir "$TMP/demo-serve" >serve.out 2>serve.err ||
    fail "ward demo serve: $(tail -5 serve.out) $(cat serve.err)"
  took=$(($(date +%s) - start))
  for expect in 'verdict: verified (SIMULATED' 'REJECTED at tls.chain' 'before subscribing: HTTP 402 not_subscribed' \
    'row 5: {"prediction"' 'row 6: HTTP 402 exhausted' 'ok: the ledger charges no more than the receipts show' \
    'final report: stopped: canceled by its creator; order done' 'closed, 0 refunded'; do
    grep -qF -- "$expect" serve.out || fail "ward demo serve did not show \"$expect\": $(cat serve.out)"
  done
  ((took < 60)) || fail "ward demo serve took ${took}s"
  [[ ! -e $TMP/demo-serve ]] || fail "the serving demo left $TMP/demo-serve behind"
  pgrep -f "ward-loader --dir $TMP/demo-serve" >/dev/null && fail "the serving demo left a loader running"
  left=$(find /dev/shm -maxdepth 1 -name 'ward-demo-*' -newer "$DATA" 2>/dev/null | head -1)
  [[ -z $left ]] || fail "the serving demo left its tmpfs work directory $left"
  pass "ward demo serve: verified, MITM refused, 402 then 5 paid answers, charges match the receipts, settled in ${took}s"

  # `ward demo llm --keep`: the LLM listed, deployed, verified, streamed and
  # paid for; then it serves on, for a browser (ward ui) and any OpenAI client
  # (the proxy), until SIGINT, when it settles and removes everything.
  "$REPO/scripts/build-llama.sh" >/dev/null
  "$WARD" demo llm --keep --dir "$TMP/demo-llm" >llm.out 2>llm.err &
  demo_pid=$!
  for ((i = 0; i < 600; i++)); do
    grep -q '^OpenAI-compatible API' llm.out && break
    kill -0 "$demo_pid" 2>/dev/null || fail "ward demo llm exited: $(tail -5 llm.out) $(cat llm.err)"
    sleep 0.1
  done
  ui_url=$(grep -oE 'http://127\.0\.0\.1:[0-9]+/#token=[0-9a-f]{64}' llm.out | head -1)
  api=$(grep -oE 'http://127\.0\.0\.1:[0-9]+/v1' llm.out | head -1)
  [[ -n $ui_url && -n $api ]] || fail "ward demo llm --keep printed no URLs: $(cat llm.out)"
  curl -sf "${ui_url%%#*}" | grep -q '<title>' || fail "ward ui did not serve its page at $ui_url"
  code=$(curl -s -o /dev/null -w '%{http_code}' "${ui_url%%/#*}/api/offers")
  [[ $code == 401 ]] || fail "ward ui answered /api/offers without the token: HTTP $code"
  curl -sfN "$api/completions" -H 'content-type: application/json' \
    -d '{"prompt": "Once upon a time", "max_tokens": 16, "stream": true}' >llm.sse || fail "a stream from $api"
  grep -q '"usage":{' llm.sse || fail "the stream through the demo's proxy: $(tail -3 llm.sse)"
  kill -INT "$demo_pid"
  wait "$demo_pid" || fail "ward demo llm did not end cleanly on SIGINT: $(tail -5 llm.out) $(cat llm.err)"
  for expect in 'verdict: verified (SIMULATED' 'GET /v1/models: stories260K' 'tokens streamed' \
    'ok: the ledger charges no more than the receipts show' "(Carol's model)" 'order done'; do
    grep -qF -- "$expect" llm.out || fail "ward demo llm did not show \"$expect\": $(cat llm.out)"
  done
  [[ ! -e $TMP/demo-llm ]] || fail "the LLM demo left $TMP/demo-llm behind"
  pgrep -f "ward-loader --dir $TMP/demo-llm" >/dev/null && fail "the LLM demo left a loader running"
  left=$(find /dev/shm -maxdepth 1 -name 'ward-demo-*' -newer "$DATA" 2>/dev/null | head -1)
  [[ -z $left ]] || fail "the LLM demo left its tmpfs work directory $left"
  pass "ward demo llm --keep: streamed, metered, ward ui and the proxy served until SIGINT, then settled, nothing left"

  # Both again on the WardLedger contract: services, subscriptions, usage and
  # settlement on a chain.
  for demo in serve llm; do
    "$WARD" demo "$demo" --ledger evm --dir "$TMP/demo-$demo-evm" >"$demo-evm.out" 2>"$demo-evm.err" ||
      fail "ward demo $demo --ledger evm: $(tail -5 "$demo-evm.out") $(cat "$demo-evm.err")"
    for expect in '(WardLedger on anvil)' 'verdict: verified (SIMULATED' \
      'ok: the ledger charges no more than the receipts show' 'order done'; do
      grep -qF -- "$expect" "$demo-evm.out" || fail "ward demo $demo --ledger evm did not show \"$expect\": $(cat "$demo-evm.out")"
    done
    [[ ! -e $TMP/demo-$demo-evm ]] || fail "ward demo $demo --ledger evm left its directory behind"
    port=$(grep -oE 'evm\+http://127\.0\.0\.1:[0-9]+' "$demo-evm.out" | head -1 | sed 's/.*://')
    pgrep -f "anvil --host 127.0.0.1 --port $port " >/dev/null && fail "ward demo $demo --ledger evm left its anvil running"
  done
  grep -qF 'row 6: HTTP 402 exhausted' serve-evm.out || fail "the chain did not stop the sixth request: $(cat serve-evm.out)"
  pass "ward demo serve and ward demo llm --ledger evm: served, metered and settled on the contract, nothing left"
else
  echo "skip: ward demo serve and ward demo llm need root"
fi
