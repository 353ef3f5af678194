#!/usr/bin/env bash
# End-to-end test of the cancer-trainer engine, run by ctest from the repository
# root: split the data set, train on each party's half and on both, check the
# scores, the determinism, the errors on malformed input, the static linking,
# and (where bubblewrap works) a run in a sandbox whose rootfs is the binary alone.
# usage: test.sh PATH/TO/cancer-trainer [static|dynamic]
set -euo pipefail
trainer=$(realpath "$1")
linkage=${2:-static}
data=.deps/data/breast_cancer.csv

[[ -f $data ]] || scripts/fetch-dataset.sh
command -v jq >/dev/null || { echo "test: jq is required" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

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
else
  echo "skip: sandbox run (bubblewrap unusable here)"
fi

echo "cancer-trainer: all checks passed"
