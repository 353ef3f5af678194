#!/usr/bin/env bash
# Passphrase (scrypt) files both ways between ward and age, driving the
# terminal prompts through a pseudo-terminal with expect; and ward's other
# terminal behaviour (no binary ciphertext on a terminal, no prompt without one).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
command -v expect >/dev/null || fail "expect is missing (Debian package expect)"
TTY="expect $E2E_DIR/tty.exp"
mkdir out

# on_tty ANSWER... -- COMMAND...: runs COMMAND on a terminal; its terminal output goes to tty.log.
on_tty() { $TTY "$TMP/tty.log" "$@"; }
# ward_on_tty ANSWER... -- ARGS...: ward on a terminal with its stderr in ward.err.
ward_on_tty() {
  local answers=()
  while [[ $1 != -- ]]; do
    answers+=("$1")
    shift
  done
  shift
  on_tty "${answers[@]}" -- sh -c 'exec "$0" "$@" 2>"'"$TMP"'/ward.err"' "$WARD" "$@"
}
one_error_line() { # WHAT PATTERN
  [[ $(wc -l <ward.err) == 1 ]] && grep -q '^ward: error: ' ward.err || fail "$1: stderr is not one error line: $(cat ward.err)"
  grep -Eqi -- "$2" ward.err || fail "$1: error does not match /$2/: $(cat ward.err)"
  echo "ok: $1 -> $(cat ward.err)"
}
no_output_left() { [[ -z $(ls -A out) ]] || fail "$1: files left in out/: $(ls -A out)"; }

PASS='correct horse battery staple'
for size in 0 65537; do
  random_file plain "$size"
  for armor in "" -a; do
    what="$size bytes${armor:+, armored}"
    # ward -> age
    ward_on_tty "$PASS" "$PASS" -- encrypt -p $armor -o ward.age plain
    [[ ! -s ward.err ]] || fail "ward encrypt -p: $(cat ward.err)"
    if [[ -n $armor ]]; then sed '1d;$d' ward.age | base64 -d >ward.bin; else cp ward.age ward.bin; fi
    [[ $(sed -n 2p ward.bin) == "-> scrypt "* ]] || fail "ward encrypt -p did not write an scrypt stanza"
    on_tty "$PASS" -- sh -c "age -d ward.age >out.age-d"
    same_file plain out.age-d "ward encrypt -p -> age -d, $what"
    # age -> ward
    on_tty "$PASS" "$PASS" -- age -p $armor -o age.age plain
    ward_on_tty "$PASS" -- decrypt -o out.ward age.age
    [[ ! -s ward.err ]] || fail "ward decrypt of a passphrase file: $(cat ward.err)"
    same_file plain out.ward "age -p -> ward decrypt, $what"
    rm -f ward.age ward.bin age.age out.age-d out.ward
  done
  pass "passphrase interop both ways, $size bytes, binary and armored"
done

# The data can come on standard input while the passphrase comes from the terminal.
random_file plain 1000
# (expect gives the spawned command the terminal as stdin, so redirect inside it.)
on_tty "$PASS" "$PASS" -- sh -c '"$0" encrypt -p - <plain >ward.age' "$WARD"
on_tty "$PASS" -- sh -c '"$0" decrypt <ward.age >out.ward' "$WARD"
same_file plain out.ward "passphrase with the data on standard input"
pass "passphrase prompt on the terminal while the data is on standard input"

# Mistakes: mismatched confirmation, empty passphrase, wrong passphrase.
rc=0
ward_on_tty "$PASS" "not the same" -- encrypt -p -o out/c.age plain || rc=$?
((rc == 1)) || fail "mismatched confirmation exited $rc"
one_error_line "mismatched passphrase confirmation" "match"
no_output_left "mismatched passphrase confirmation"
rc=0
ward_on_tty "" -- encrypt -p -o out/c.age plain || rc=$?
((rc == 1)) || fail "empty passphrase exited $rc"
one_error_line "empty passphrase" "empty"
no_output_left "empty passphrase"
rc=0
ward_on_tty "wrong" -- decrypt -o out/plain ward.age || rc=$?
((rc == 1)) || fail "wrong passphrase exited $rc"
one_error_line "wrong passphrase" "passphrase"
no_output_left "wrong passphrase"
grep -q 'Enter passphrase' tty.log || fail "no passphrase prompt on the terminal"

# The terminal's echo is back on after the prompt.
on_tty "$PASS" -- sh -c "'$WARD' decrypt -o out.ward ward.age && stty -a" >/dev/null
grep -Eq '(^| )echo( |$)' tty.log || fail "terminal echo is still off after the prompt"
pass "terminal echo restored"

# No terminal (setsid: no controlling terminal): a clear error rather than a hang.
setsid -w "$WARD" encrypt -p -o out/c.age plain </dev/null >/dev/null 2>ward.err && fail "encrypt -p without a terminal succeeded"
one_error_line "encrypt -p without a terminal" "terminal"
no_output_left "encrypt -p without a terminal"
setsid -w "$WARD" decrypt -o out/plain ward.age </dev/null >/dev/null 2>ward.err && fail "decrypt without a terminal succeeded"
one_error_line "passphrase file without a terminal" "terminal"
no_output_left "passphrase file without a terminal"

# -p with recipients is a usage error.
rc=0
"$WARD" encrypt -p -r "$(age-keygen 2>/dev/null | age-keygen -y)" plain 2>/dev/null || rc=$?
((rc == 2)) || fail "-p with -r exited $rc, expected 2"
pass "-p with -r is a usage error"

# Binary ciphertext is never written to a terminal; armored is.
age-keygen -o k.txt 2>/dev/null
R=$(age-keygen -y k.txt)
rc=0
ward_on_tty -- encrypt -r "$R" plain || rc=$?
((rc == 1)) || fail "binary to a terminal exited $rc"
one_error_line "binary ciphertext to a terminal" "terminal"
ward_on_tty -- encrypt -a -r "$R" plain
grep -q 'BEGIN AGE ENCRYPTED FILE' tty.log || fail "armored output did not reach the terminal"
pass "armored output to a terminal"

echo "PASS: passphrase"
