#!/usr/bin/env bash
# ward keys new / show: the identity file is a plain age identity file, one
# file is one party, and an existing file is never overwritten.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
mkdir out

# keys new -o: recipient on stdout, "Public key:" on stderr, mode 0600, age-keygen's layout.
"$WARD" keys new -o party.key >new.out 2>new.err
recipient=$(cat new.out)
[[ $recipient =~ ^age1[02-9ac-hj-np-z]{58}$ ]] || fail "keys new printed '$recipient', not an age1 recipient"
[[ $(cat new.err) == "Public key: $recipient" ]] || fail "keys new stderr: $(cat new.err)"
[[ $(stat -c %a party.key) == 600 ]] || fail "identity file mode is $(stat -c %a party.key), not 600"
mapfile -t lines <party.key
((${#lines[@]} == 4)) || fail "identity file has ${#lines[@]} lines, expected 4"
[[ ${lines[0]} =~ ^#\ created:\ [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$ ]] || fail "line 1: ${lines[0]}"
[[ ${lines[1]} == "# public key: $recipient" ]] || fail "line 2: ${lines[1]}"
[[ ${lines[2]} =~ ^#\ ward\ signing\ key:\ [0-9a-f]{64}$ ]] || fail "line 3: ${lines[2]}"
[[ ${lines[3]} =~ ^AGE-SECRET-KEY-1[0-9A-Z]{58}$ ]] || fail "line 4 is not an age secret key"
[[ $(age-keygen -y party.key) == "$recipient" ]] || fail "age-keygen -y disagrees on the recipient"
pass "keys new -o writes an age-keygen style identity file (0600) and prints the recipient"

# age accepts the file as an identity, and encrypts to it with -i.
echo "for the party" >plain
age -r "$recipient" -o c.age plain
age -d -i party.key c.age | cmp -s - plain || fail "age -d -i party.key"
age -e -i party.key -o c2.age plain
"$WARD" decrypt -i party.key c2.age | cmp -s - plain || fail "age -e -i party.key -> ward decrypt"
pass "age uses the identity file for decryption and encryption"

# keys show, human and JSON, agrees with the file.
signing=${lines[2]#\# ward signing key: }
"$WARD" keys show party.key >show.out
"$WARD" keys show --json party.key >show.json
evm=$(jq -r .evm_address show.json)
[[ $evm =~ ^0x[0-9a-fA-F]{40}$ ]] || fail "keys show --json evm_address: $evm"
[[ $(cat show.out) == "recipient: $recipient"$'\n'"signing public key: $signing"$'\n'"EVM address: $evm" ]] ||
  fail "keys show: $(cat show.out)"
[[ $(jq -r .recipient show.json) == "$recipient" ]] || fail "keys show --json recipient"
[[ $(jq -r .signing_public_key show.json) == "$signing" ]] || fail "keys show --json signing_public_key"
[[ $(jq -r 'keys | join(",")' show.json) == "evm_address,recipient,signing_public_key" ]] ||
  fail "keys show --json fields: $(cat show.json)"
pass "keys show, human and --json"

# keys new -o --json: only JSON on stdout, the same keys as keys show.
"$WARD" keys new -o party2.key --json >new2.json 2>new2.err
[[ ! -s new2.err ]] || fail "keys new --json wrote to stderr: $(cat new2.err)"
"$WARD" keys show --json party2.key | cmp -s - new2.json || fail "keys new --json differs from keys show --json"
pass "keys new -o --json"

# keys new without -o prints the identity file itself (like age-keygen), usable as-is.
"$WARD" keys new >stdout.key
[[ $(grep -c '^AGE-SECRET-KEY-1' stdout.key) == 1 ]] || fail "keys new without -o did not print one secret key"
r3=$(age-keygen -y stdout.key)
[[ $("$WARD" keys show --json stdout.key | jq -r .recipient) == "$r3" ]] || fail "keys new (stdout) recipient"
"$WARD" keys new --json >stdout.json
jq -r .identity_file stdout.json >json.key
[[ $(age-keygen -y json.key) == $(jq -r .recipient stdout.json) ]] || fail "keys new --json identity_file"
[[ $("$WARD" keys show --json json.key | jq -r .signing_public_key) == $(jq -r .signing_public_key stdout.json) ]] ||
  fail "keys new --json signing key"
pass "keys new to standard output, human and --json"

# An age-keygen file is a party key too; the signing key is derived, so it is stable.
age-keygen -o agekeygen.key 2>/dev/null
a=$("$WARD" keys show --json agekeygen.key)
b=$("$WARD" keys show --json agekeygen.key)
[[ $a == "$b" ]] || fail "keys show is not deterministic"
[[ $(jq -r .recipient <<<"$a") == $(age-keygen -y agekeygen.key) ]] || fail "keys show on an age-keygen file"
pass "age-keygen files are party keys"

# Refuses to overwrite, and leaves the existing file untouched.
cp party.key before.key
expect_ward_error "keys new over an existing file" "" "already exists" -- keys new -o party.key
same_file before.key party.key "keys new over an existing file"
ln -s nowhere dangling.key
expect_ward_error "keys new over a dangling symlink" "" "already exists" -- keys new -o dangling.key
[[ ! -e nowhere ]] || fail "keys new followed a dangling symlink"

# keys show errors: two keys, no key, missing file, garbage.
cat party.key agekeygen.key >two.key
expect_ward_error "keys show, two secret keys" "" "exactly one" -- keys show two.key
grep '^#' party.key >nokey.key
expect_ward_error "keys show, no secret key" "" "no identities" -- keys show nokey.key
expect_ward_error "keys show, missing file" "" "missing.key" -- keys show missing.key
echo "AGE-SECRET-KEY-1NOTAKEY" >garbage.key
expect_ward_error "keys show, malformed key" "" "invalid identity" -- keys show garbage.key
expect_ward_error "keys new into a missing directory" "" "" -- keys new -o no/such/dir/k.key

# Usage errors exit 2.
rc=0
"$WARD" keys show 2>err.txt || rc=$?
((rc == 2)) || fail "keys show without FILE exited $rc, expected 2"
[[ $(wc -l <err.txt) == 1 ]] && grep -q '^ward: error: ' err.txt || fail "usage error output: $(cat err.txt)"
rc=0
"$WARD" keys frobnicate 2>/dev/null || rc=$?
((rc == 2)) || fail "unknown keys command exited $rc, expected 2"
pass "usage errors exit 2"

"$WARD" --version | grep -Eq '^ward [0-9]+\.[0-9]+\.[0-9]+$' || fail "ward --version"
"$WARD" --help | grep -q 'encrypt' || fail "ward --help does not list encrypt"

echo "PASS: keys"
