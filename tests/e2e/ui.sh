#!/usr/bin/env bash
# `ward ui` in a real browser (issue 12): a ledger, a certification center
# and a node with one simulated CVM; Alice's LLM engine (llama.cpp's
# llama-server) packed and uploaded to the store. Forged requests to the UI
# are refused (no token, a wrong token, a foreign Origin, a foreign Host).
# Then headless Chromium, through puppeteer-core, browses the offers,
# creates offers through the form (the engine from its descriptor, the model,
# stories260K, uploaded from its path with progress), deploys the service with one
# click, streams a completion, sees the verification panel go red for an
# engine pin that does not match, and sees the service's report verified
# (tests/e2e/ui_browser.js). Screenshots of each stage are kept in
# WARD_UI_SCREENSHOTS (default build/tests/e2e/ui-screenshots).
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SHOTS=$(realpath -m "${WARD_UI_SCREENSHOTS:-$REPO/build/tests/e2e/ui-screenshots}")
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LOADER=$(dirname "$WARD")/ward-loader
[[ -x $LOADER ]] || fail "no ward-loader next to $WARD"
MODEL=$(realpath -m "$REPO/../shared/models/stories260K.gguf")
[[ -f $MODEL ]] || fail "no test model at $MODEL"
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
[[ -x $CHROMIUM ]] || fail "no $CHROMIUM (Debian package chromium; scripts/setup.sh)"
[[ -f $REPO/.deps/npm/node_modules/puppeteer-core/package.json ]] ||
  fail "no puppeteer-core in .deps/npm (scripts/setup.sh)"
((EUID == 0)) || { echo "skip: serving needs root (the loader enters the engine's network namespace)"; exit 0; }
chmod 711 "$TMP"

NODE=
UI=
cleanup() {
  trap - ERR
  set +e
  [[ -z $UI ]] || { kill "$UI"; wait "$UI"; } 2>/dev/null
  [[ -z $NODE ]] || { kill "$NODE"; wait "$NODE"; } 2>/dev/null
  stop_servers
  rm -rf "$TMP"
}
trap cleanup EXIT

start_ledger_and_ca
register_parties alice clinic provider
"$WARD" accounts fund --ledger "$L" --key alice.key --to "$(account alice)" --amount 1000 >/dev/null
"$WARD" offers create --ledger "$L" --key clinic.key --kind dataset --name "Oncology records 2025" \
  --resource "sha256:$(echo records | sha256sum | cut -d' ' -f1)" --price fixed:40 >/dev/null
STORE=$TMP/store
start_sim_node --price 2 --memory-limit 1024 --usage-interval-ms 500

# The engine: the LLM engine image (engines/llm), on one thread, so that the
# toy model's tokens arrive over time rather than in one read.
WARD=$WARD "$REPO/scripts/pack-llm-engine.sh" llm.tar --threads 1 --threads-batch 1 --ctx-size 2048 >/dev/null ||
  fail "scripts/pack-llm-engine.sh failed"
"$WARD" files upload llm.tar --key alice.key --store "$STORE" -o engine.res.json >/dev/null

# ward ui prints one line, its URL, and listens on loopback only.
"$WARD" ui --ledger "$L" --key alice.key --store "$STORE" --ca-cert ca/ca.pem --policy policy.json \
  --listen 127.0.0.1:0 --receipts-dir receipts >ui.out 2>ui.err &
UI=$!
for ((i = 0; i < 100; i++)); do
  [[ -s ui.out ]] && break
  kill -0 "$UI" 2>/dev/null || fail "ward ui exited: $(cat ui.err)"
  sleep 0.1
done
URL=$(head -n1 ui.out)
[[ $URL =~ ^http://127\.0\.0\.1:([0-9]+)/#token=([0-9a-f]{64})$ ]] || fail "ward ui printed '$URL'"
PORT=${BASH_REMATCH[1]}
TOKEN=${BASH_REMATCH[2]}
BASE=http://127.0.0.1:$PORT
pass "ward ui serves at $BASE with a 256-bit session token in the URL's fragment"
expect_ward_error "ward ui on a non-loopback address" "" "127.0.0.1" -- ui --ledger "$L" --key alice.key \
  --store "$STORE" --ca-cert ca/ca.pem --listen 0.0.0.0:0

# Forged requests: each refused before any route runs.
status() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
[[ $(status "$BASE/api/session") == 401 ]] || fail "no token was not refused with 401"
[[ $(status -H "Authorization: Bearer ${TOKEN//?/0}" "$BASE/api/session") == 401 ]] || fail "a wrong token was not refused"
[[ $(status -H "Authorization: Bearer $TOKEN" "$BASE/api/session") == 200 ]] || fail "the right token was refused"
[[ $(status -H "Authorization: Bearer $TOKEN" -H "Origin: http://evil.example" -H 'Content-Type: application/json' \
  -d '{"kind":"model","name":"x","resource":"r","price":{"model":"fixed","amount":1}}' "$BASE/api/offers") == 403 ]] ||
  fail "a foreign Origin was not refused with 403"
[[ $(status -H "Authorization: Bearer $TOKEN" -H "Host: rebound.example:$PORT" "$BASE/api/session") == 403 ]] ||
  fail "a foreign Host (DNS rebinding) was not refused with 403"
[[ $(status -H "Host: rebound.example:$PORT" "$BASE/") == 403 ]] || fail "the page was served to a foreign Host"
[[ $(status -H "Authorization: Bearer $TOKEN" -H 'Content-Type: text/plain' -d '{}' "$BASE/api/deploy") == 415 ]] ||
  fail "a non-JSON body was not refused"
[[ $("$WARD" offers list --ledger "$L" --json | jq '[.offers[] | select(.name == "x")] | length') == 0 ]] ||
  fail "a refused request created an offer"
curl -sf -D headers.txt -o /dev/null "$BASE/"
grep -qi "^content-security-policy: default-src 'none'; script-src 'self'" headers.txt ||
  fail "the page has no strict Content-Security-Policy: $(cat headers.txt)"
SECRET=$(grep -v '^#' alice.key)
for path in /api/session /api/offers /api/orders; do
  curl -sf -H "Authorization: Bearer $TOKEN" "$BASE$path" >answer.json
  ! grep -qF "$SECRET" answer.json || fail "$path sent the key"
done
pass "no token, a wrong token, a foreign Origin, a foreign Host and a non-JSON body are refused; no answer carries the key"

rm -rf "$SHOTS"
NODE_PATH=$REPO/.deps/npm/node_modules CHROMIUM=$CHROMIUM \
  node "$E2E_DIR/ui_browser.js" "$URL" "$SHOTS" engine.res.json "$MODEL" ||
  fail "the browser test failed (screenshots in $SHOTS); ward ui: $(tail -5 ui.err); node: $(tail -20 node.out)"
[[ ! -s ui.err ]] || fail "ward ui wrote to stderr: $(cat ui.err)"
kill "$UI"
wait "$UI" || fail "ward ui did not stop cleanly on SIGTERM"
UI=
pass "screenshots: $SHOTS ($(ls "$SHOTS" | tr '\n' ' '))"
