#!/usr/bin/env bash
# Amounts, prices, ids and times typed on the command line. Amounts and ids
# are strict decimal: "010", "0x10", "+5" and " 5" are refused (CLI11 alone
# read them as 8, 16, 5 and 5), with one line naming the option and the
# rule, exit 2, and nothing reaching the ledger. Times outside what the clock
# holds (after 2262-04-11T23:47:16Z) are refused, never wrapped.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# usage_error WHAT PATTERN -- ARGS...: `ward ARGS...` must exit 2 with one
# stderr line "ward: error: ..." matching PATTERN (an extended regex).
usage_error() {
  local what=$1 pattern=$2
  shift 3
  local rc=0
  "$WARD" "$@" >"$TMP/stdout" 2>"$TMP/stderr" || rc=$?
  ((rc == 2)) || fail "$what: ward exited $rc, expected 2 (stderr: $(cat "$TMP/stderr"), stdout: $(head -c 300 "$TMP/stdout"))"
  (($(wc -l <"$TMP/stderr") == 1)) || fail "$what: expected one stderr line: $(cat "$TMP/stderr")"
  grep -q '^ward: error: ' "$TMP/stderr" || fail "$what: not a 'ward: error:' line: $(cat "$TMP/stderr")"
  grep -Eq -- "$pattern" "$TMP/stderr" || fail "$what: error does not match /$pattern/: $(cat "$TMP/stderr")"
  echo "ok: $what -> $(cat "$TMP/stderr")"
}

# re TEXT: TEXT as an extended regex that matches it literally.
re() { sed 's/[][\.*^$+?(){}|/]/\\&/g' <<<"$1"; }

"$WARD" keys new -o alice.key >/dev/null 2>&1
ALICE=$("$WARD" keys show --json alice.key | jq -r .signing_public_key)
ALICE_R=$("$WARD" keys show --json alice.key | jq -r .recipient)
"$WARD" ledger init --db ward.db --dev --json >init.json
"$WARD" accounts register --key alice.key --name alice >/dev/null
"$WARD" accounts fund --key alice.key --to "$ALICE" --amount 1000 >/dev/null
balance() { "$WARD" accounts show "$ALICE" --json | jq -r .balance; }
records() { "$WARD" ledger checkpoint --json | jq -r .size; }
[[ $(balance) == 1000 ]] || fail "funding 1000 gave $(balance)"
SIZE=$(records)

# The rule each refusal names, by the kind of mistake.
RULE='is not a whole number in decimal digits|has a leading zero|is above the maximum of 9223372036854775807|is empty'
BAD=(010 00 0x10 +5 ' 5' '5 ' -1 1e3 1.5 9223372036854775808 18446744073709551616 '')

for bad in "${BAD[@]}"; do
  usage_error "--amount '$bad'" "^ward: error: --amount: '$(re "$bad")' ($RULE)" -- \
    accounts fund --key alice.key --to "$ALICE" --amount "$bad"
done
for bad in "${BAD[@]}"; do
  usage_error "--deposit '$bad'" "^ward: error: --deposit: '$(re "$bad")' ($RULE)" -- \
    orders create --key alice.key --cvm "$(printf 'c%.0s' {1..64})" --engine "sha256:$(printf 'e%.0s' {1..64})" \
    --output-to "$ALICE_R" --deposit "$bad"
done
for model in fixed per-hour revenue-share; do
  for bad in "${BAD[@]}"; do
    usage_error "--price '$model:$bad'" "^ward: error: --price '$model:$(re "$bad")': (N|BPS) '$(re "$bad")' ($RULE|is above the maximum of 10000)" -- \
      offers create --key alice.key --kind engine --name e --resource r --price "$model:$bad"
  done
done
usage_error "--price revenue-share:10001" "BPS '10001' is above the maximum of 10000" -- \
  offers create --key alice.key --kind engine --name e --resource r --price revenue-share:10001
[[ $(balance) == 1000 && $(records) == "$SIZE" ]] || fail "a refused number reached the ledger"
pass "no refused amount, deposit or price reached the ledger"

# The edges that are numbers: 0 and 2^63-1.
"$WARD" accounts fund --key alice.key --to "$ALICE" --amount 0 >/dev/null
offer=$("$WARD" offers create --key alice.key --kind engine --name e --resource r \
  --price fixed:9223372036854775807 --json | jq -r .offer)
# (jq would round it to a double; the text is compared instead.)
[[ $("$WARD" offers get "$offer" --json) == *'"amount": 9223372036854775807'* ]] || fail "price 2^63-1"
"$WARD" offers create --key alice.key --kind model --name m --resource r --price revenue-share:10000 >/dev/null
"$WARD" offers create --key alice.key --kind model --name m --resource r --price per-hour:0 >/dev/null
pass "0 and 2^63-1 are amounts, 10000 is a revenue share"

# Ids and other integer options share the parser.
for bad in 010 0x10 +5 ' 5'; do
  usage_error "offer id '$bad'" "^ward: error: ID: '$(re "$bad")' ($RULE)" -- offers get "$bad"
  usage_error "order id '$bad'" "^ward: error: ID: '$(re "$bad")' ($RULE)" -- orders get "$bad"
  usage_error "--offer '$bad'" "^ward: error: --offer: '$(re "$bad")' ($RULE)" -- \
    orders create --key alice.key --cvm "$(printf 'c%.0s' {1..64})" --engine "sha256:$(printf 'e%.0s' {1..64})" \
    --output-to "$ALICE_R" --deposit 1 --offer "$offer" --offer "$bad"
  usage_error "--after '$bad'" "^ward: error: --after: '$(re "$bad")' ($RULE)" -- ledger records --after "$bad"
done
usage_error "--wait 61" "^ward: error: --wait: '61' (is above the maximum of 60)" -- ledger records --wait 61
usage_error "--timeout past a year" "^ward: error: --timeout: '99999999999' is above the maximum of 31622400" -- \
  orders wait 1 --timeout 99999999999
usage_error "--time-limit 010s" "^ward: error: --time-limit '010s' is not a duration" -- \
  engine run image --output out --input in --time-limit 010s
[[ $("$WARD" offers get "$offer" --json | jq -r .id) == "$offer" ]] || fail "a plain offer id"
pass "ids, counts and durations are strict decimal too"

# Times: the last second a 64-bit nanosecond clock holds, and one the fuzzer
# found in a grant (4052-11-26T02:55:48Z, whose nanoseconds wrap).
for t in 2262-04-11T23:47:17Z 4052-11-26T02:55:48Z 9999-12-31T23:59:59Z 1677-09-21T00:12:43Z; do
  usage_error "--at $t" "^ward: error: --at: $t is outside the times Ward can represent \(1677-09-21T00:12:44Z to 2262-04-11T23:47:16Z\)$" -- \
    ca verify cert.pem --ca-cert ca.pem --at "$t"
done
usage_error "--at not a time" "^ward: error: --at: .* is not an RFC 3339 UTC time" -- \
  ca verify cert.pem --ca-cert ca.pem --at 2025-07-01
pass "times outside 1677-09-21T00:12:44Z..2262-04-11T23:47:16Z are refused"
