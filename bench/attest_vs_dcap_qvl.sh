#!/usr/bin/env bash
# Compares Ward's DCAP verifier with @phala/dcap-qvl (its JavaScript build,
# the peer that scripts/setup.sh installs) on the same TDX quote, collateral
# and time, and puts Ward's DCAP and SEV-SNP verifiers beside their floors:
# the signature verifications a correct verifier cannot skip (attest_bench
# lists them). Builds nothing.
#
# usage: bench/attest_vs_dcap_qvl.sh [BUILD_DIR]
#   BUILD_DIR         default: build (relative to the repository root); needs bench/attest_bench
#   ROUNDS=5          timed rounds per row     ROUND_SECONDS=0.5  minimum length of a round
#   TESTDATA=DIR      default: ../shared/testdata/attestation (relative to the repository root)
#   CHECK=1           exit 1 unless ward (prepared collateral) is >= 20x dcap-qvl and within 1.5x of the
#                     per-quote floor (best rounds)
#
# Method: see attest_bench.cpp and dcap_qvl_peer.js; both take the best and
# the median of ROUNDS rounds after a warm-up round. The peer runs before and
# after attest_bench and the report takes its better run, so that a quiet or
# busy spell on a shared machine does not favour one side. Rates are
# verifications per second of one thread.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
BUILD=${1:-build}
BENCH=$BUILD/bench/attest_bench
ROUNDS=${ROUNDS:-5}
ROUND_SECONDS=${ROUND_SECONDS:-0.5}
[[ -x $BENCH ]] || { echo "no attest_bench at '$BENCH' (cmake --build $BUILD --target attest_bench)" >&2; exit 1; }
command -v node >/dev/null || { echo "node is missing (scripts/setup.sh installs it)" >&2; exit 1; }

OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
args=(--rounds "$ROUNDS" --round-seconds "$ROUND_SECONDS" --testdata "${TESTDATA:-../shared/testdata/attestation}")

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
node bench/dcap_qvl_peer.js "${args[@]}" | tee "$OUT/peer1"
echo
"$BENCH" "${args[@]}" | tee "$OUT/ward"
echo
node bench/dcap_qvl_peer.js "${args[@]}" | tee "$OUT/peer2"

# field FILE ROW COLUMN: a column of a row of a results table (2 best, 3 median).
field() { awk -v row="$2" -v col="$3" '$1 == row { print $col; exit }' "$1"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
better() { awk -v a="$1" -v b="$2" 'BEGIN { print (a > b ? a : b) }'; }

wb=$(field "$OUT/ward" dcap.verify_quote 2) wm=$(field "$OUT/ward" dcap.verify_quote 3)
cb=$(field "$OUT/ward" dcap.verify_quote.cold 2) cm=$(field "$OUT/ward" dcap.verify_quote.cold 3)
pb=$(field "$OUT/ward" dcap.verify_quote.prepared 2) pm=$(field "$OUT/ward" dcap.verify_quote.prepared 3)
fb=$(field "$OUT/ward" dcap.floor 2) fm=$(field "$OUT/ward" dcap.floor 3)
sb=$(field "$OUT/ward" snp.verify 2) sm=$(field "$OUT/ward" snp.verify 3)
pqb=$(field "$OUT/ward" dcap.floor.per_quote 2) pqm=$(field "$OUT/ward" dcap.floor.per_quote 3)
sfb=$(field "$OUT/ward" snp.floor 2) sfm=$(field "$OUT/ward" snp.floor 3)
jb=$(better "$(field "$OUT/peer1" dcap_qvl.verify 2)" "$(field "$OUT/peer2" dcap_qvl.verify 2)")
jm=$(better "$(field "$OUT/peer1" dcap_qvl.verify 3)" "$(field "$OUT/peer2" dcap_qvl.verify 3)")
[[ -n $wb && -n $cb && -n $pb && -n $fb && -n $pqb && -n $sb && -n $sfb && -n $jb ]] || { echo "a results table is missing a row" >&2; exit 1; }

floor_ratio_b=$(ratio "$pqb" "$pb") floor_ratio_m=$(ratio "$pqm" "$pm")
peer_ratio_b=$(ratio "$pb" "$jb") peer_ratio_m=$(ratio "$pm" "$jm")

printf '\n%-44s %12s %12s\n' "verifications per second" best median
printf '%-44s %12s %12s\n' "@phala/dcap-qvl (JS)" "$jb" "$jm"
printf '%-44s %12s %12s\n' "ward DCAP, prepared collateral" "$pb" "$pm"
printf '%-44s %11sx %11sx   goal >= 20x\n' "  / dcap-qvl" "$peer_ratio_b" "$peer_ratio_m"
printf '%-44s %12s %12s\n' "  its floor (2 ECDSA P-256 per quote)" "$pqb" "$pqm"
printf '%-44s %11sx %11sx   goal <= 1.5x\n' "  ward time / floor time" "$floor_ratio_b" "$floor_ratio_m"
printf '%-44s %12s %12s\n' "ward DCAP, from scratch (chains known)" "$wb" "$wm"
printf '%-44s %11sx %11sx\n' "  / dcap-qvl" "$(ratio "$wb" "$jb")" "$(ratio "$wm" "$jm")"
printf '%-44s %12s %12s\n' "  its floor (9 ECDSA P-256)" "$fb" "$fm"
printf '%-44s %11sx %11sx   goal <= 2x\n' "  ward time / floor time" "$(ratio "$fb" "$wb")" "$(ratio "$fm" "$wm")"
printf '%-44s %12s %12s\n' "ward DCAP, from scratch, nothing remembered" "$cb" "$cm"
printf '%-44s %11sx %11sx\n' "  / dcap-qvl" "$(ratio "$cb" "$jb")" "$(ratio "$cm" "$jm")"
printf '%-44s %11sx %11sx\n' "  ward time / floor time" "$(ratio "$fb" "$cb")" "$(ratio "$fm" "$cm")"
printf '%-44s %12s %12s\n' "ward SNP (snp.verify)" "$sb" "$sm"
printf '%-44s %12s %12s\n' "  its floor (P-384 + 2 RSA-PSS)" "$sfb" "$sfm"
printf '%-44s %11sx %11sx   goal <= 1.5x\n' "  ward time / floor time" "$(ratio "$sfb" "$sb")" "$(ratio "$sfm" "$sm")"

if awk -v f="$floor_ratio_b" -v p="$peer_ratio_b" 'BEGIN { exit !(f <= 1.5 && p >= 20) }'; then
  echo "targets met: ward DCAP (prepared collateral) >= 20x dcap-qvl and within 1.5x of its floor (best rounds)"
  status=0
else
  echo "targets NOT met: ward DCAP (prepared collateral) >= 20x dcap-qvl and within 1.5x of its floor (best rounds)"
  status=1
fi
[[ ${CHECK:-0} == 1 ]] && exit "$status"
exit 0
