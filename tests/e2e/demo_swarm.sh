#!/usr/bin/env bash
# `ward demo swarm` (issue 14): a key broker and four node processes; the
# order on the tee offer finishes on another CVM after the one that took it
# is killed with its node, the broker's log and `orders verify --kms` agree,
# the LLM split over three CVMs verifies (service.workers) and answers, and
# nothing is left running, on disk or in the tmpfs.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
chmod 711 "$TMP"
REPO=$(cd "$E2E_DIR/../.." && pwd)
DATA=$REPO/.deps/data/breast_cancer.csv
[[ -s $DATA ]] || fail "no $DATA (scripts/setup.sh fetches it)"
((EUID == 0)) || { echo "skip: the split order needs root (the loader enters the engines' network namespaces)"; exit 0; }
"$REPO/scripts/build-llama.sh" >/dev/null || fail "scripts/build-llama.sh failed"
touch start.stamp

"$WARD" demo swarm --data "$DATA" --dir "$TMP/demo" >swarm.out 2>swarm.err ||
  fail "ward demo swarm: $(tail -20 swarm.out) $(cat swarm.err)"
taken=$(sed -n 's/.*taken by CVM \([0-9a-f]*\)\.\.\. of node.*/\1/p' swarm.out)
finished=$(sed -n 's/.* done on CVM \([0-9a-f]*\)\.\.\., .* after the kill.*/\1/p' swarm.out)
[[ -n $taken && -n $finished && $taken != "$finished" ]] || fail "no failover to another CVM: $(grep -A3 '== 5' swarm.out)"
grep -q "keys released to CVM $finished" swarm.out || fail "the broker's log shows no release to $finished"
grep -q 'orders verify .* --kms: verified (SIMULATED TEE)' swarm.out || fail "the order did not verify: $(grep verify swarm.out)"
grep -Eq 'ok +service\.workers: 2 worker' swarm.out || fail "the split service's workers were not verified"
grep -q '^model: .\+' swarm.out || fail "the LLM did not answer: $(grep -A3 '== 8' swarm.out)"
grep -q 'demo finished' swarm.out || fail "the demo did not finish"
[[ ! -e $TMP/demo ]] || fail "the demo left $TMP/demo behind"
pgrep -f "node run --ledger .* --dir $TMP/demo" >/dev/null && fail "the demo left a node running"
pgrep -f "ward-loader --dir $TMP/demo" >/dev/null && fail "the demo left a loader running"
left=$(find /dev/shm -maxdepth 1 -name 'ward-swarm-*' -newer start.stamp 2>/dev/null | head -1)
[[ -z $left ]] || fail "the demo left its tmpfs work directory $left"
pass "ward demo swarm: order moved from CVM $taken to $finished, split LLM verified and answered, nothing left behind"
