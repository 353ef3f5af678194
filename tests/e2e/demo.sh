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
