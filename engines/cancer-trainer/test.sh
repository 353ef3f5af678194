#!/usr/bin/env bash
# End-to-end test of the cancer-trainer engine, run by ctest from the repository
# root: split the data set, train on each party's half and on both, check the
# scores, the determinism, the errors on malformed input, the static linking,
# the HTTP server of `serve` (its answers equal evaluate's, its refusals, its
# framing, its limits), and (where bubblewrap works) runs in a sandbox whose
# rootfs is the binary alone.
# usage: test.sh PATH/TO/cancer-trainer [static|dynamic]
set -euo pipefail
trainer=$(realpath "$1")
linkage=${2:-static}
data=.deps/data/breast_cancer.csv

[[ -f $data ]] || scripts/fetch-dataset.sh
command -v jq >/dev/null || { echo "test: jq is required" >&2; exit 1; }
command -v curl >/dev/null || { echo "test: curl is required" >&2; exit 1; }

tmp=$(mktemp -d)
serve_pid=
trap '[[ -z $serve_pid ]] || kill -KILL "$serve_pid" 2>/dev/null; rm -rf "$tmp"' EXIT

die() {
  echo "FAIL: $*" >&2
  exit 1
}

# at_least VALUE MIN: VALUE >= MIN, as numbers.
at_least() { jq -en --argjson v "$1" --argjson m "$2" '$v >= $m' >/dev/null; }

# fails_cleanly NAME COMMAND...: the command exits 1 with one line on stderr.
fails_cleanly() {
  local name=$1 rc=0
  shift
  "$@" >"$tmp/stdout" 2>"$tmp/stderr" || rc=$?
  ((rc == 1)) || die "$name: exit status $rc, expected 1"
  [[ $(wc -l <"$tmp/stderr") -eq 1 ]] || die "$name: stderr is not one line: $(cat "$tmp/stderr")"
  grep -q '^cancer-trainer: ' "$tmp/stderr" || die "$name: unexpected error: $(cat "$tmp/stderr")"
  echo "ok: $name fails: $(cat "$tmp/stderr")"
}

# --- static linking -------------------------------------------------------------
if [[ $linkage == static ]]; then
  # ldd exits non-zero on a static binary; its message is what counts.
  [[ $(ldd "$trainer" 2>&1 || true) == *'not a dynamic executable'* ]] || die "the binary is dynamically linked"
  echo "ok: statically linked"
else
  echo "skip: static-linking check ($linkage build)"
fi

# --- split, train, evaluate ---------------------------------------------------------
"$trainer" split --data "$data" --out "$tmp/split" --seed 7 >/dev/null
for f in alice bob holdout; do
  head -n 1 "$tmp/split/$f.csv" | grep -q '^f0,f1,.*,f29,target$' || die "$f.csv: unexpected header"
done
rows=$(($(cat "$tmp/split"/{alice,bob,holdout}.csv | wc -l) - 3))
((rows == 569)) || die "split has $rows rows, expected 569"
[[ -z $(tail -q -n +2 "$tmp/split"/{alice,bob,holdout}.csv | sort | uniq -d) ]] || die "split parts overlap"

for model in logistic mlp; do
  echo "{\"model\": \"$model\"}" >"$tmp/$model.json"
  for party in alice bob both; do
    inputs=("$tmp/split/$party.csv")
    [[ $party == both ]] && inputs=("$tmp/split/alice.csv" "$tmp/split/bob.csv")
    out=$tmp/out/$model-$party
    "$trainer" train --inputs "${inputs[@]}" --output "$out" --args "$tmp/$model.json" >"$tmp/log"
    jq -e --arg m "$model" '.model == $m' "$out/metrics.json" >/dev/null || die "$model-$party: wrong model"
    result=$("$trainer" evaluate --model "$out/model.json" --data "$tmp/split/holdout.csv" --json)
    accuracy=$(jq .accuracy <<<"$result")
    auc=$(jq .roc_auc <<<"$result")
    echo "ok: $model on $party: holdout accuracy $accuracy, roc_auc $auc"
    if [[ $party == both ]]; then
      jq -e '.inputs == 2 and .train_rows + .holdout_rows == 455' "$out/metrics.json" >/dev/null ||
        die "$model-both: wrong row counts"
      at_least "$accuracy" 0.9 || die "$model-both: accuracy $accuracy < 0.9"
      at_least "$auc" 0.95 || die "$model-both: roc_auc $auc < 0.95"
      # Determinism: a second run writes the same bytes.
      "$trainer" train --inputs "${inputs[@]}" --output "$out-again" --args "$tmp/$model.json" >/dev/null
      cmp -s "$out/metrics.json" "$out-again/metrics.json" || die "$model-both: metrics.json differs between runs"
      cmp -s "$out/model.json" "$out-again/model.json" || die "$model-both: model.json differs between runs"
      echo "ok: $model on both: two runs, identical outputs"
    fi
  done
done

# --- the three accepted layouts --------------------------------------------------------
"$trainer" train --inputs "$data" --output "$tmp/out/sklearn" >/dev/null
jq -e '.train_rows == 455 and .holdout_rows == 114 and .model == "logistic"' "$tmp/out/sklearn/metrics.json" \
  >/dev/null || die "sklearn layout: wrong metrics"
mkdir -p "$tmp/bare"
tail -n +2 "$tmp/split/alice.csv" >"$tmp/bare/alice.csv"
"$trainer" train --inputs "$tmp/bare" --output "$tmp/out/bare" >/dev/null
jq -e '.inputs == 1 and .train_rows + .holdout_rows == 227' "$tmp/out/bare/metrics.json" >/dev/null ||
  die "headerless layout: wrong metrics"
mkdir -p "$tmp/bom"
{ printf '\xEF\xBB\xBF'; cat "$tmp/split/bob.csv"; } >"$tmp/bom/bob.csv"
"$trainer" train --inputs "$tmp/bom" --output "$tmp/out/bom" >/dev/null
jq -e '.train_rows + .holdout_rows == 228' "$tmp/out/bom/metrics.json" >/dev/null || die "byte order mark: wrong metrics"
echo "ok: sklearn, header, headerless and byte-order-marked layouts"

# --- ROC AUC with tied scores, on a hand-made model ------------------------------------
cat >"$tmp/identity.json" <<'EOF'
{"format": "cancer-trainer-model/1", "model": "logistic", "feature_count": 1,
 "feature_means": [0], "feature_stds": [1], "weights": [1], "bias": 0}
EOF
printf 'x,target\n0,0\n1,0\n1,1\n2,1\n' >"$tmp/ties.csv"
result=$("$trainer" evaluate --model "$tmp/identity.json" --data "$tmp/ties.csv" --json)
jq -e '.roc_auc == 0.875 and .accuracy == 0.5 and .rows == 4' <<<"$result" >/dev/null ||
  die "tied scores: got $result, expected roc_auc 0.875, accuracy 0.5"
echo "ok: exact ROC AUC with ties"

# --- malformed input --------------------------------------------------------------------
bad() { # bad NAME CONTENT: a directory holding one CSV with CONTENT
  mkdir -p "$tmp/bad/$1"
  printf '%b' "$2" >"$tmp/bad/$1/data.csv"
  echo "$tmp/bad/$1"
}
train_on() { "$trainer" train --inputs "$@" --output "$tmp/out/bad"; }
fails_cleanly "ragged row" train_on "$(bad ragged 'a,b,target\n1,2,0\n1,2\n')"
fails_cleanly "non-numeric value" train_on "$(bad text 'a,b,target\n1,2,0\n1,x,1\n')"
fails_cleanly "non-finite value" train_on "$(bad nan 'a,b,target\n1,2,0\n1,nan,1\n')"
fails_cleanly "target not 0/1" train_on "$(bad target 'a,b,target\n1,2,0\n1,2,2\n')"
fails_cleanly "header without target" train_on "$(bad header 'a,b,label\n1,2,0\n')"
fails_cleanly "header only" train_on "$(bad norows 'a,b,target\n')"
fails_cleanly "empty file" train_on "$(bad emptyfile '')"
fails_cleanly "sklearn row count" train_on "$(bad count '3,2,malignant,benign\n1,2,0\n1,2,1\n')"
mkdir -p "$tmp/bad/emptydir"
fails_cleanly "empty input dir" train_on "$tmp/bad/emptydir"
fails_cleanly "mismatched inputs" train_on "$tmp/split/alice.csv" "$(bad narrow 'a,b,target\n1,2,0\n')"
echo '{"epoch": 5}' >"$tmp/typo.json"
fails_cleanly "unknown args key" "$trainer" train --inputs "$tmp/split/alice.csv" --output "$tmp/out/bad" \
  --args "$tmp/typo.json"
echo '{"model": "forest"}' >"$tmp/forest.json"
fails_cleanly "unknown model" "$trainer" train --inputs "$tmp/split/alice.csv" --output "$tmp/out/bad" \
  --args "$tmp/forest.json"
fails_cleanly "feature count mismatch" "$trainer" evaluate --model "$tmp/identity.json" \
  --data "$tmp/split/holdout.csv"


# --- serve ----------------------------------------------------------------------------------
# start_server LOG ARGS...: `serve` on a free port (set in $port), in the background.
start_server() {
  local log=$1
  shift
  : >"$log" # before the background job opens it, so that the first look finds it
  "$trainer" serve --port 0 "$@" >"$log" 2>&1 &
  serve_pid=$!
  for _ in $(seq 200); do
    port=$(sed -n 's/^serving .* port \([0-9]*\),.*/\1/p' "$log")
    [[ -n $port ]] && return 0
    kill -0 "$serve_pid" 2>/dev/null || die "serve exited at start: $(cat "$log")"
    sleep 0.05
  done
  die "serve did not start: $(cat "$log")"
}
# stop_server: SIGTERM, then the exit status must be 0.
stop_server() {
  local rc=0
  kill -TERM "$serve_pid"
  wait "$serve_pid" || rc=$?
  serve_pid=
  ((rc == 0)) || die "serve exited with status $rc on SIGTERM"
}
url() { echo "http://127.0.0.1:$port$1"; }
# status METHOD PATH [CURL ARGS...]: the response's status code; the body goes to $tmp/body.
status() {
  local method=$1 path=$2
  shift 2
  curl -s -o "$tmp/body" -w '%{http_code}' -X "$method" "$@" "$(url "$path")" || true
}
# refused CODE NAME METHOD PATH [CURL ARGS...]: the status is CODE with Ward's error shape.
refused() {
  local code=$1 name=$2 got
  shift 2
  got=$(status "$@")
  [[ $got == "$code" ]] || die "$name: status $got, expected $code: $(head -c 300 "$tmp/body")"
  jq -e '(.error.reason | type) == "string" and (.error.message | type) == "string"' "$tmp/body" >/dev/null ||
    die "$name: not an error body: $(head -c 300 "$tmp/body")"
  ! grep -q marker-7f3a "$tmp/body" || die "$name: the error quotes a value: $(cat "$tmp/body")"
  echo "ok: serve: $name -> $code ($(jq -r .error.message "$tmp/body"))"
}

# The holdout rows as {"rows": [...]}, the numbers exactly as the CSV writes them.
tail -n +2 "$tmp/split/holdout.csv" | sed 's/,[01]$//; s/.*/[&]/' | paste -sd, - | sed 's/.*/{"rows":[&]}/' \
  >"$tmp/rows.json"
first_row=$(sed -n 2p "$tmp/split/holdout.csv" | sed 's/,[01]$//')

for model in logistic mlp; do
  model_file=$tmp/out/$model-both/model.json
  start_server "$tmp/serve.log" --model "$model_file"
  expected=$("$trainer" evaluate --model "$model_file" --data "$tmp/split/holdout.csv" --rows-json)
  served=$(curl -sf --data-binary @"$tmp/rows.json" "$(url /v1/predict)") || die "$model: predict failed"
  [[ $served == "$expected" ]] || die "$model: served predictions differ from evaluate's"
  served=$(curl -sf -H 'Transfer-Encoding: chunked' --data-binary @"$tmp/rows.json" "$(url /v1/predict)") ||
    die "$model: chunked predict failed"
  [[ $served == "$expected" ]] || die "$model: chunked request: predictions differ from evaluate's"
  one=$(curl -sf -d "{\"features\":[$first_row]}" "$(url /v1/predict)") || die "$model: one row failed"
  [[ $one == $(jq -c '.predictions[0]' <<<"$expected") ]] || die "$model: one row: $one"
  # The accuracy of the served predictions is evaluate's.
  accuracy=$(tail -n +2 "$tmp/split/holdout.csv" | sed 's/.*,//' | jq -s --argjson p "$served" \
    '[range(length) as $i | select(.[$i] == $p.predictions[$i].prediction)] | length / ($p.predictions | length)')
  jq -e --argjson a "$accuracy" '.accuracy == $a' \
    <<<"$("$trainer" evaluate --model "$model_file" --data "$tmp/split/holdout.csv" --json)" >/dev/null ||
    die "$model: served accuracy $accuracy differs from evaluate's"
  echo "ok: serve $model: the probabilities of $(jq '.predictions | length' <<<"$served") rows equal evaluate's (accuracy $accuracy), with Content-Length and chunked bodies"
  stop_server
done

model_file=$tmp/out/mlp-both/model.json
start_server "$tmp/serve.log" --model "$model_file"
[[ $(curl -sf "$(url /health)") == '{"status":"ok"}' ]] || die "GET /health"
curl -sf "$(url /v1/model)" >"$tmp/info.json" || die "GET /v1/model"
jq -e '.model == "mlp" and .feature_count == 30 and .training.train_rows == 364' "$tmp/info.json" >/dev/null ||
  die "GET /v1/model: unexpected $(cat "$tmp/info.json")"
jq -e '[paths | .[] | strings | select(test("weight|bias|mean|std|hidden|output"))] | length == 0' \
  "$tmp/info.json" >/dev/null || die "GET /v1/model shows a parameter: $(cat "$tmp/info.json")"
echo "ok: serve: GET /health, GET /v1/model without weights"

curl -sv "$(url /health)" "$(url /v1/model)" -o /dev/null -o /dev/null 2>"$tmp/curl.log" || die "keep-alive"
grep -qi 're-using existing connection' "$tmp/curl.log" || die "keep-alive: curl did not reuse the connection"
exec 3<>"/dev/tcp/127.0.0.1/$port"
printf 'GET /health HTTP/1.1\r\nHost: x\r\n\r\nPOST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' >&3
pipelined=$(cat <&3)
exec 3>&-
[[ $(grep -o 'HTTP/1.1 [0-9]*' <<<"$pipelined" | paste -sd' ' -) == 'HTTP/1.1 200 HTTP/1.1 400 HTTP/1.1 200' ]] ||
  die "pipelined requests: $pipelined"
echo "ok: serve: keep-alive (curl reuses the connection), pipelined requests, Connection: close"

refused 400 "bad JSON" POST /v1/predict -d '{"features": [marker-7f3a'
refused 400 "wrong feature count" POST /v1/predict -d '{"features": [1, 2, 3]}'
refused 400 "a non-number" POST /v1/predict -d "{\"features\": [\"marker-7f3a\"$(printf ',1%.0s' $(seq 29))]}"
refused 400 "an unknown key" POST /v1/predict -d "{\"features\": [$first_row], \"marker-7f3a\": 1}"
refused 400 "no rows" POST /v1/predict -d '{"rows": []}'
jq -c '.rows as $r | {rows: [range(1001) | $r[0]]}' "$tmp/rows.json" >"$tmp/many.json"
refused 400 "1001 rows" POST /v1/predict --data-binary @"$tmp/many.json"
head -c $((2 << 20)) /dev/zero | tr '\0' ' ' >"$tmp/big.json"
refused 413 "a 2 MiB body" POST /v1/predict --data-binary @"$tmp/big.json"
refused 413 "a 2 MiB chunked body" POST /v1/predict -H 'Transfer-Encoding: chunked' --data-binary @"$tmp/big.json"
refused 431 "a 20 KiB head" GET /health -H "X-Big: $(head -c 20000 /dev/zero | tr '\0' a)"
refused 404 "an unknown path" GET /marker-7f3a
refused 405 "a wrong method" POST /health
refused 405 "another method" DELETE /v1/model
refused 413 "a 2 MiB body sent without waiting" POST /v1/predict -H 'Expect:' --data-binary @"$tmp/big.json"
refused 501 "another transfer coding" POST /v1/predict -H 'Transfer-Encoding: gzip' -d '{}'
for _ in 1 2 3 4 5; do
  head -c 5000 /dev/urandom >"/dev/tcp/127.0.0.1/$port" 2>/dev/null || true
done
printf 'GET / HTTP/1.1\r\nHost: x\r\n\rGET\r\n\r\n' >"/dev/tcp/127.0.0.1/$port"
printf 'GET /health HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n' >"/dev/tcp/127.0.0.1/$port"
printf 'POST /v1/predict HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n' >"/dev/tcp/127.0.0.1/$port"
[[ $(curl -sf "$(url /health)") == '{"status":"ok"}' ]] || die "serve died on garbage input"
! grep -q marker-7f3a "$tmp/serve.log" || die "the log quotes a value"
grep -Evq '^(serving .*|(GET|POST|PUT|DELETE|PATCH|HEAD|OPTIONS|-) (/health|/v1/model|/v1/predict|-) [0-9]{3})$' \
  "$tmp/serve.log" && die "unexpected log line: $(grep -Ev '^(serving|GET|POST|DELETE|-) ' "$tmp/serve.log")"
echo "ok: serve: random bytes and malformed framing refused, still serving; the log names no value"
stop_server
tail -n 1 "$tmp/serve.log" | grep -q '^stopped$' || die "no clean stop: $(tail -n 2 "$tmp/serve.log")"
echo "ok: serve: SIGTERM -> exit 0"

# The connection cap: one thread, held by an idle connection, refuses the next.
echo '{"threads": 1, "order": "ignored"}' >"$tmp/one.json"
start_server "$tmp/serve.log" --model "$model_file" --args "$tmp/one.json"
exec 3<>"/dev/tcp/127.0.0.1/$port"
sleep 0.2
refused 503 "a connection over the cap" GET /health
exec 3>&-
for _ in $(seq 50); do
  [[ $(status GET /health) == 200 ]] && break
  sleep 0.1
done
[[ $(status GET /health) == 200 ]] || die "the freed connection was not served"
stop_server
echo "ok: serve: the connection cap"

echo '{"epoch": 5}' >"$tmp/typo.json"
fails_cleanly "serve: unknown args key" "$trainer" serve --model "$model_file" --port 0 --args "$tmp/typo.json"
echo '{"threads": 0}' >"$tmp/zero.json"
fails_cleanly "serve: zero threads" "$trainer" serve --model "$model_file" --port 0 --args "$tmp/zero.json"
fails_cleanly "serve: no model" "$trainer" serve --model "$tmp/none.json" --port 0
fails_cleanly "serve: not a model" "$trainer" serve --model "$tmp/one.json" --port 0

# --- the sandbox: a rootfs holding only the binary -------------------------------------------
if [[ $linkage != static ]]; then
  echo "skip: sandbox run ($linkage build: the binary cannot be the whole rootfs)"
elif bwrap --unshare-all --ro-bind / / true 2>/dev/null; then
  mkdir -p "$tmp/ward/inputs/0" "$tmp/ward/inputs/1" "$tmp/ward/output"
  cp "$tmp/split/alice.csv" "$tmp/ward/inputs/0/"
  cp "$tmp/split/bob.csv" "$tmp/ward/inputs/1/"
  echo '{"model": "mlp", "seed": 7}' >"$tmp/ward/args.json"
  bwrap --unshare-all --tmpfs / --ro-bind "$trainer" /cancer-trainer \
    --ro-bind "$tmp/ward/inputs" /ward/inputs --ro-bind "$tmp/ward/args.json" /ward/args.json \
    --bind "$tmp/ward/output" /ward/output --tmpfs /tmp --remount-ro / /cancer-trainer >"$tmp/log" ||
    die "sandbox run failed: $(cat "$tmp/log")"
  jq -e '.model == "mlp" and .inputs == 2' "$tmp/ward/output/metrics.json" >/dev/null ||
    die "sandbox run: wrong metrics"
  echo "ok: sandbox run with the binary as the whole rootfs"

  # serve finds the only model.json in the inputs and reads /ward/args.json.
  sandboxed() { # sandboxed INPUT_DIR... -- COMMAND...: the binary alone, the dirs as /ward/inputs/<n>
    local binds=() n=0
    while [[ $1 != -- ]]; do
      binds+=(--ro-bind "$1" "/ward/inputs/$n")
      n=$((n + 1))
      shift
    done
    shift
    bwrap --unshare-all --share-net --die-with-parent --tmpfs / --ro-bind "$trainer" /cancer-trainer \
      "${binds[@]}" --ro-bind "$tmp/ward/args.json" /ward/args.json --remount-ro / "$@"
  }
  mkdir -p "$tmp/models/a/nested" "$tmp/models/b"
  cp "$tmp/out/logistic-both/model.json" "$tmp/models/a/nested/"
  cp "$tmp/out/mlp-both/model.json" "$tmp/models/b/"
  echo '{"threads": 4}' >"$tmp/ward/args.json"
  : >"$tmp/sandbox.log"
  sandboxed "$tmp/models/a" -- /cancer-trainer serve --port 0 >"$tmp/sandbox.log" 2>&1 &
  serve_pid=$!
  for _ in $(seq 200); do
    port=$(sed -n 's/^serving .* port \([0-9]*\),.*/\1/p' "$tmp/sandbox.log")
    [[ -n $port ]] && break
    sleep 0.05
  done
  [[ -n $port ]] || die "sandboxed serve did not start: $(cat "$tmp/sandbox.log")"
  grep -q 'logistic model of 30 features.*at most 4 connections' "$tmp/sandbox.log" ||
    die "sandboxed serve: $(cat "$tmp/sandbox.log")"
  [[ $(curl -sf "$(url /health)") == '{"status":"ok"}' ]] || die "sandboxed serve: GET /health"
  kill -KILL "$serve_pid"
  wait "$serve_pid" 2>/dev/null || true
  serve_pid=
  fails_cleanly "serve: two models in the inputs" sandboxed "$tmp/models/a" "$tmp/models/b" -- /cancer-trainer serve
  fails_cleanly "serve: no model in the inputs" sandboxed "$tmp/split" -- /cancer-trainer serve
  echo '{"threads": 4, "thread": 5}' >"$tmp/ward/args.json"
  fails_cleanly "serve: unknown key in /ward/args.json" sandboxed "$tmp/models/a" -- /cancer-trainer serve
  echo "ok: sandboxed serve finds the only model.json in the inputs and reads /ward/args.json"
else
  echo "skip: sandbox run (bubblewrap unusable here)"
fi

echo "cancer-trainer: all checks passed"
