#!/usr/bin/env bash
# Files made by ward decrypt with age 1.1.1 and vice versa: binary and armored,
# several recipients (-r, -R, -i), sizes around the 64 KiB chunk boundary,
# empty input, and standard input/output.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

"$WARD" keys new -o ward.key >/dev/null 2>&1
age-keygen -o alice.key 2>/dev/null
age-keygen -o bob.key 2>/dev/null
WARD_R=$("$WARD" keys show --json ward.key | jq -r .recipient)
ALICE_R=$(age-keygen -y alice.key)
BOB_R=$(age-keygen -y bob.key)
printf '# team\n%s\n\n%s\n' "$ALICE_R" "$BOB_R" >team.txt

check_binary() { [[ $(head -n 1 "$1") == "age-encryption.org/v1" ]] || fail "$2: $1 is not a binary age file"; }
check_armored() { [[ $(head -n 1 "$1") == "-----BEGIN AGE ENCRYPTED FILE-----" ]] || fail "$2: $1 is not armored"; }

for size in 0 1 65535 65536 65537 10485761; do
  random_file plain "$size"
  for armor in "" -a; do
    what="size $size${armor:+ armored}"
    check=check_binary
    [[ -n $armor ]] && check=check_armored

    # ward -> age, three recipients given as -r and -R.
    rm -f ward.age
    "$WARD" encrypt $armor -r "$WARD_R" -R team.txt -o ward.age plain
    $check ward.age "ward encrypt, $what"
    for key in ward.key alice.key bob.key; do
      # (age -o creates no file for empty output, so redirect instead.)
      age -d -i "$key" ward.age >out
      same_file plain out "ward encrypt -> age -d -i $key, $what"
      rm -f out
    done

    # age -> ward, three recipients.
    age -e $armor -r "$WARD_R" -r "$ALICE_R" -r "$BOB_R" -o age.age plain
    for key in ward.key alice.key bob.key; do
      "$WARD" decrypt -i "$key" -o out age.age
      same_file plain out "age encrypt -> ward decrypt -i $key, $what"
      rm -f out
    done

    # ward -> ward through pipes.
    "$WARD" encrypt $armor -r "$ALICE_R" <plain | "$WARD" decrypt -i alice.key >out
    same_file plain out "ward encrypt | ward decrypt, $what"
    rm -f age.age out
  done
  pass "interop both ways, binary and armored, 3 recipients, $size bytes"
done

random_file plain 100000

# -i on encrypt: to the identity file's own recipient (a ward party key and an age-keygen file).
"$WARD" encrypt -i ward.key -i alice.key -o c.age plain
age -d -i ward.key c.age | cmp -s - plain || fail "ward encrypt -i ward.key -> age -d -i ward.key"
age -d -i alice.key c.age | cmp -s - plain || fail "ward encrypt -i alice.key -> age -d -i alice.key"
age -e -i ward.key -o c2.age plain
"$WARD" decrypt -i ward.key c2.age | cmp -s - plain || fail "age -e -i ward.key -> ward decrypt"
pass "-i for encryption, both tools"

# -R on decryption side of age, several -i on ward's: only one matches.
age -e -R team.txt -a -o c3.age plain
"$WARD" decrypt -i ward.key -i bob.key -o out c3.age
same_file plain out "age -R team.txt -> ward decrypt -i ward.key -i bob.key"
pass "-R on age, several -i on ward"

# Standard input and output, with "-" named explicitly too.
"$WARD" encrypt -r "$BOB_R" - <plain >c4.age
check_binary c4.age "stdin/stdout"
age -d -i bob.key <c4.age | cmp -s - plain || fail "ward encrypt stdin/stdout -> age"
age -e -r "$WARD_R" <plain | "$WARD" decrypt -i ward.key -o - - | cmp -s - plain || fail "age stdout -> ward decrypt stdin"
pass "standard input and output"

# Empty input on standard input, both directions and armored.
: | "$WARD" encrypt -r "$ALICE_R" | age -d -i alice.key >out
[[ -f out && ! -s out ]] || fail "empty stdin: ward -> age is not empty"
: | "$WARD" encrypt -a -r "$ALICE_R" | age -d -i alice.key >out
[[ ! -s out ]] || fail "empty stdin armored: ward -> age is not empty"
: | age -r "$WARD_R" | "$WARD" decrypt -i ward.key >out
[[ ! -s out ]] || fail "empty stdin: age -> ward is not empty"
: | age -a -r "$WARD_R" | "$WARD" decrypt -i ward.key -o out2
[[ -f out2 && ! -s out2 ]] || fail "empty stdin armored: age -> ward -o did not make an empty file"
pass "empty input on standard input"

# -o replaces an existing file, as age does.
echo old >out
"$WARD" decrypt -i alice.key -o out c.age
same_file plain out "ward decrypt -o over an existing file"
pass "-o replaces an existing file"

echo "PASS: interop_age"
