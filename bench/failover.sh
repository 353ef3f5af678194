#!/usr/bin/env bash
# Failover time of a batch order: kill to resumed (issue 14). Runs
# tests/e2e/failover.sh (a ledger, a CA, a key broker, two nodes of one tee
# offer; the node running the order is SIGKILLed mid-run) ROUNDS times for
# each (timeout, heartbeat) setting, and prints each time and the median.
# Goal (the issue): <= 2 heartbeat intervals + 1 s.
#
# usage: bench/failover.sh [ROUNDS]     (default 3; about 25 s a round)
#   WARD=build/src/cli/ward, WARD_TEST_ENGINE=the static test payload
#   SETTINGS="1:500 2:1000"  TIMEOUT_S:HEARTBEAT_MS pairs
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
export WARD=${WARD:-build/src/cli/ward}
export WARD_TEST_ENGINE=${WARD_TEST_ENGINE:-build/tests/unit/engine/engine_test_payload}
for setting in ${SETTINGS:-1:500 2:1000}; do
  timeout=${setting%%:*} heartbeat=${setting##*:}
  times=()
  for ((r = 0; r < ROUNDS; r++)); do
    out=$(WARD_FAILOVER_TIMEOUT=$timeout WARD_FAILOVER_HEARTBEAT_MS=$heartbeat bash tests/e2e/failover.sh 2>&1) || {
      echo "$out" | tail -5 >&2
      exit 1
    }
    times+=("$(echo "$out" | sed -n 's/^failover_seconds=//p')")
  done
  median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  goal=$(awk -v h="$heartbeat" 'BEGIN { print 2 * h / 1000 + 1 }')
  verdict=$(awk -v m="$median" -v g="$goal" 'BEGIN { print (m <= g) ? "met" : "missed" }')
  printf 'timeout %s s, heartbeat %s ms: failover %s s (median %.2f s; goal <= %.2f s: %s)\n' "$timeout" \
    "$heartbeat" "${times[*]}" "$median" "$goal" "$verdict"
done
