#!/usr/bin/env bash
# A confidential LLM end to end through the real binaries (issue 12): Carol
# packs llama.cpp's llama-server as an engine (scripts/pack-llm-engine.sh),
# uploads a GGUF model (stories260K, a real but toy model), grants both to a
# simulated CVM for serving, and orders a paid service. Alice subscribes, and
# the real OpenAI client (npm `openai`) streams a completion and a chat
# through `ward proxy`; greedy decoding gives the same text as llama-server
# run directly on the plaintext model. Every response carries a receipt, the
# tokens metered are those the streams reported, a client cannot opt out of
# the usage report, and the ledger charges what the receipts show. A
# tampered model or engine ciphertext is refused by the loader, and the
# weights are never found outside the CVM's tmpfs.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ROOT=$(cd "$E2E_DIR/../.." && pwd)
LOADER=$(dirname "$WARD")/ward-loader
LAUNCHER=$(dirname "$WARD")/ward-llm
[[ -x $LOADER && -x $LAUNCHER ]] || fail "no ward-loader or ward-llm next to $WARD"
MODEL=$ROOT/../shared/models/stories260K.gguf
[[ -f $MODEL ]] || fail "no $MODEL (the shared models folder)"
MODULES=$ROOT/.deps/npm/node_modules
[[ -d $MODULES/openai ]] || fail "no npm openai in $MODULES (scripts/setup.sh)"
((EUID == 0)) || { echo "skip: serving needs root (the loader enters the engine's network namespace)"; exit 0; }
LLAMA=$("$ROOT/scripts/build-llama.sh") || fail "scripts/build-llama.sh failed"
touch start.stamp
chmod 711 "$TMP"

NODE=
PROXY=
DIRECT=
cleanup() {
  trap - ERR
  set +e
  for p in $PROXY $DIRECT; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  [[ -z $NODE ]] || { kill "$NODE"; wait "$NODE"; } 2>/dev/null
  stop_servers
  rm -rf "$TMP"
}
trap cleanup EXIT

start_ledger_and_ca
register_parties alice carol provider
for p in alice carol; do
  "$WARD" accounts fund --ledger "$L" --key "$p.key" --to "$(account "$p")" --amount 1000 >/dev/null
done
STORE=$TMP/store
start_sim_node --memory-limit 1024 --usage-interval-ms 500

# Carol's engine and model. The marker is 32 bytes of the model's last
# tensor, which no log or report has any reason to hold.
WARD=$WARD "$ROOT/scripts/pack-llm-engine.sh" llm.tar --ctx-size 1024 --parallel 2 >pack.out ||
  fail "pack-llm-engine: $(cat pack.out)"
mkdir own
cp "$MODEL" own/stories260K.gguf
MARK=$(tail -c 4096 own/stories260K.gguf | head -c 32 | xxd -p -c 64)
[[ $(tr -d 0 <<<"$MARK") != "" ]] || fail "the marker is all zeros"
"$WARD" files upload llm.tar --key carol.key --store "$STORE" -o engine.res.json >/dev/null
ENGINE=$(jq -r .resource.engine engine.res.json)
"$WARD" files upload own/stories260K.gguf --key carol.key --store "$STORE" -o model.res.json >/dev/null
MODEL_SHA=$(jq -r .resource.plaintext_sha256 model.res.json)
grant() { # grant RES OUT
  "$WARD" files grant "$1" --key carol.key --ledger "$L" --cvm "$CVM" --engine "$ENGINE" --serve \
    --ca-cert ca/ca.pem --policy policy.json -o "$2" >/dev/null
}
grant engine.res.json g-engine.json
grant model.res.json g-model.json
# wait_serving ID: sets ENDPOINT once the service has started.
wait_serving() {
  for ((i = 0; i < 600; i++)); do
    ENDPOINT=$("$WARD" orders get "$1" --ledger "$L" --json | jq -r '.serve.endpoint // empty')
    [[ -n $ENDPOINT ]] && return 0
    sleep 0.1
  done
  fail "order $1 did not start serving: $(tail -20 node.out)"
}
ID=$("$WARD" orders create --ledger "$L" --key carol.key --cvm "$CVM" --engine engine.res.json \
  --grant g-engine.json --grant g-model.json --serve --access subscribers --price-per-request 1 \
  --price-per-1k-tokens 100 --deposit 10 --store "$STORE" --json | jq -r .order)
"$WARD" services subscribe "$ID" --deposit 500 --ledger "$L" --key alice.key >/dev/null
wait_serving "$ID"
pass "LLM service order $ID (engine $ENGINE) serves at $ENDPOINT"

"$WARD" serve verify "$ENDPOINT" --ledger "$L" --ca-cert ca/ca.pem --policy policy.json --engine "$ENGINE" \
  --model "$MODEL_SHA" >verify.txt || fail "serve verify: $(cat verify.txt)"
grep -q SIMULATED verify.txt || fail "serve verify hides the simulation: $(cat verify.txt)"
pass "ward serve verify: the engine and the model pinned, down to the simulated root"
# A client that expects another model (one byte changed) or another engine
# is told, before it sends a byte.
cp own/stories260K.gguf other.gguf
flip_byte other.gguf $(($(stat -c %s other.gguf) - 100))
for pin in "--model $(sha256sum other.gguf | cut -d' ' -f1)" "--engine sha256:$(sha256sum other.gguf | cut -d' ' -f1)"; do
  rc=0
  # shellcheck disable=SC2086
  "$WARD" serve verify "$ENDPOINT" --ledger "$L" --ca-cert ca/ca.pem --policy policy.json $pin >pin.txt 2>&1 || rc=$?
  ((rc == 1)) && grep -Eq 'FAIL.*service\.(inputs|engine)' pin.txt || fail "a wrong pin ($pin): rc=$rc $(cat pin.txt)"
done
rm other.gguf
pass "a client pinning another model or engine is refused: $(grep -m1 FAIL pin.txt)"

: >proxy.out
"$WARD" proxy --to "$ENDPOINT" --ledger "$L" --ca-cert ca/ca.pem --policy policy.json --engine "$ENGINE" \
  --model "$MODEL_SHA" --key alice.key --receipts receipts.jsonl >proxy.out 2>proxy.err &
PROXY=$!
for ((i = 0; i < 100; i++)); do
  [[ -s proxy.out ]] && break
  kill -0 "$PROXY" 2>/dev/null || break
  sleep 0.1
done
PROXY_URL=$(head -n1 proxy.out)
[[ $PROXY_URL =~ ^http://127\.0\.0\.1:[0-9]+$ ]] || fail "ward proxy: $(cat proxy.out proxy.err)"

# The engine may still be loading when the gateway starts: llama-server
# answers 503 until its model is in memory.
for ((i = 0; i < 100; i++)); do
  code=$(curl -s -o models.json -w '%{http_code}' "$PROXY_URL/v1/models")
  [[ $code == 200 ]] && break
  sleep 0.1
done
[[ $code == 200 ]] || fail "/v1/models through the proxy: HTTP $code $(cat models.json)"
jq -e '.data[0].id == "stories260K"' models.json >/dev/null || fail "/v1/models: $(cat models.json)"

PROMPT="Once upon a time, there was a little"
node "$E2E_DIR/tools/openai_stream.mjs" "$MODULES" "$PROXY_URL/v1" "$PROMPT" 48 >openai.json 2>openai.err ||
  fail "the openai client: $(cat openai.err)"
jq -e '.completion.chunks >= 8 and .chat.chunks >= 2 and (.completion.text | length) > 20' openai.json >/dev/null ||
  fail "the streams: $(cat openai.json)"
jq -e '.completion.usage.total_tokens > 0 and .chat.usage.total_tokens > 0' openai.json >/dev/null ||
  fail "the streams' usage: $(cat openai.json)"
pass "npm openai streamed a completion ($(jq .completion.chunks openai.json) chunks) and a chat through ward proxy: \"$PROMPT$(jq -r .completion.text openai.json | head -c 80 | tr '\n' ' ')...\""

# Not streamed: one JSON answer, its usage in the body.
curl -sf "$PROXY_URL/v1/chat/completions" -H 'content-type: application/json' \
  -d "$(jq -n --arg p "$PROMPT" '{messages: [{role: "user", content: $p}], max_tokens: 16}')" >whole.json ||
  fail "a chat completion, not streamed, through the proxy"
jq -e '(.choices[0].message.content | length) > 0 and .usage.total_tokens > 0' whole.json >/dev/null ||
  fail "the chat completion: $(cat whole.json)"
pass "a chat completion, not streamed: $(jq .usage.total_tokens whole.json) tokens"

# The same prompt, greedy, straight to llama-server on the plaintext model.
DIRECT_PORT=
for ((try = 0; try < 20; try++)); do
  DIRECT_PORT=$((30000 + RANDOM % 10000))
  "$LLAMA/bin/llama-server" -m own/stories260K.gguf --host 127.0.0.1 --port "$DIRECT_PORT" --ctx-size 1024 \
    --parallel 2 -t "$(nproc)" -tb "$(nproc)" --no-webui >direct.log 2>&1 &
  DIRECT=$!
  for ((i = 0; i < 100; i++)); do
    curl -sf "http://127.0.0.1:$DIRECT_PORT/health" >/dev/null 2>&1 && break 2
    kill -0 "$DIRECT" 2>/dev/null || break
    sleep 0.1
  done
  kill "$DIRECT" 2>/dev/null; wait "$DIRECT" 2>/dev/null || true
  DIRECT=
done
[[ -n $DIRECT ]] || fail "llama-server did not start directly: $(tail -5 direct.log)"
curl -sf "http://127.0.0.1:$DIRECT_PORT/v1/completions" -H 'content-type: application/json' \
  -d "$(jq -n --arg p "$PROMPT" '{prompt: $p, max_tokens: 48, temperature: 0}')" >direct.json ||
  fail "the direct completion: $(tail -5 direct.log)"
kill "$DIRECT"; wait "$DIRECT" 2>/dev/null || true
DIRECT=
[[ $(jq -r '.choices[0].text' direct.json) == $(jq -r .completion.text openai.json) ]] ||
  fail "greedy text differs: direct $(jq .choices[0].text direct.json), served $(jq .completion.text openai.json)"
pass "the served model is the model: greedy text equals llama-server run directly"

# A stream whose client does not ask for usage (or asks not to) still
# reports it: the gateway asks on its behalf, so streamed tokens are metered.
curl -sfN "$PROXY_URL/v1/completions" -H 'content-type: application/json' \
  -d "{\"prompt\": \"Once\", \"max_tokens\": 8, \"stream\": true, \"stream_options\": {\"include_usage\": false}}" \
  >unasked.sse || fail "a stream that did not ask for usage"
grep -q '"usage":{' unasked.sse || fail "no usage in a stream that did not ask: $(tail -3 unasked.sse)"
UNASKED=$(grep '"usage":{' unasked.sse | tail -1 | sed 's/^data: //' | jq .usage.total_tokens)
pass "a stream that asked not to report usage is metered anyway ($UNASKED tokens)"

# The receipt on a later response counts every token the streams reported.
curl -sf "$PROXY_URL/v1/models" >/dev/null
TOKENS=$(($(jq '.completion.usage.total_tokens + .chat.usage.total_tokens' openai.json) + UNASKED +
  $(jq .usage.total_tokens whole.json)))
LAST=$(tail -1 receipts.jsonl | jq -r '.receipt | split(".")[0] | @base64d | fromjson')
[[ $(jq .tokens <<<"$LAST") == "$TOKENS" ]] ||
  fail "the last receipt counts $(jq .tokens <<<"$LAST") tokens, the streams reported $TOKENS"
REQUESTS=$(jq .requests <<<"$LAST")
for ((i = 0; i < 100; i++)); do
  "$WARD" services show "$ID" --ledger "$L" --account "$(account alice)" --json >sub.json
  [[ $(jq .requests sub.json) == "$REQUESTS" ]] && break
  sleep 0.1
done
jq -e --argjson t "$TOKENS" --argjson r "$REQUESTS" '.tokens == $t and .requests == $r' sub.json >/dev/null ||
  fail "the ledger's usage: $(cat sub.json), receipts: $LAST"
"$WARD" services usage "$ID" --ledger "$L" --receipts receipts.jsonl --verify >usage.txt ||
  fail "usage --verify: $(cat usage.txt)"
pass "$REQUESTS requests and $TOKENS tokens in the receipts; the ledger charged $(jq .charged sub.json) for them"

kill "$PROXY"; wait "$PROXY" 2>/dev/null || true
PROXY=
"$WARD" orders cancel "$ID" --ledger "$L" --key carol.key >/dev/null
"$WARD" orders wait "$ID" --ledger "$L" --timeout 60 >/dev/null || fail "order $ID did not end: $(tail node.out)"
pass "the service ended on cancel and settled"

# A host that tampers with the model's or the engine's ciphertext in the
# store: the loader refuses the order before any engine runs.
tampered() { # tampered RES WHAT
  local blob rc=0 id
  blob=$STORE/$(jq -r .resource.ciphertext_sha256 "$1")
  [[ -f $blob ]] || fail "no blob $blob in the store"
  cp "$blob" "$blob.orig"
  flip_byte "$blob" $(($(stat -c %s "$blob") / 2))
  id=$("$WARD" orders create --ledger "$L" --key carol.key --cvm "$CVM" --engine engine.res.json \
    --grant g-engine.json --grant g-model.json --serve --access public --deposit 1 --store "$STORE" --json |
    jq -r .order)
  "$WARD" orders wait "$id" --ledger "$L" --timeout 60 >wait.out 2>&1 || rc=$?
  mv "$blob.orig" "$blob"
  ((rc == 1)) && grep -q "order $id error" wait.out || fail "a tampered $2: rc=$rc $(cat wait.out)"
  pass "a tampered $2 is refused: $(tail -1 wait.out)"
}
tampered model.res.json "model ciphertext"
tampered engine.res.json "engine image ciphertext"

kill -TERM "$NODE"
wait "$NODE" || fail "ward node run did not stop cleanly: $(tail -3 node.out)"
NODE=
# The model's bytes, anywhere outside Carol's own copy: the store, the
# node's and the loader's directories, the logs, /dev/shm.
FIND_MARK='BEGIN { $m = pack("H*", shift @ARGV) } print "$ARGV\n" if index($_, $m) >= 0'
[[ $(perl -0777 -ne "$FIND_MARK" "$MARK" own/stories260K.gguf) == own/stories260K.gguf ]] ||
  fail "the marker scan misses the model itself"
leaks=$(find "$TMP" /dev/shm -xdev -type f -size -64M -not -path "$TMP/own/*" -print0 2>/dev/null |
  xargs -0 -r perl -0777 -ne "$FIND_MARK" "$MARK" 2>/dev/null || true)
[[ -z $leaks ]] || fail "model weights found in: $leaks"
pass "the model's weights are nowhere outside Carol's own file (store, work, node, logs, /dev/shm)"
