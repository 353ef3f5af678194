#!/usr/bin/env bash
# Damaged or foreign input: truncated, reordered, duplicated or bit-flipped
# chunks, a wrong identity, a garbage header, bad armor. Each must fail with one
# clear "ward: error:" line, exit 1, and leave nothing at the -o path (neither
# the output nor a temporary file).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CHUNK=65536
SEALED=$((CHUNK + 16)) # a full STREAM chunk on disk: plaintext + Poly1305 tag
NONCE=16

"$WARD" keys new -o me.key >/dev/null 2>&1
"$WARD" keys new -o other.key >/dev/null 2>&1
ME=$("$WARD" keys show --json me.key | jq -r .recipient)
mkdir out
OUT=out/plain

# Three full chunks and a short final one.
random_file plain $((3 * CHUNK + 1000))
"$WARD" encrypt -r "$ME" -o good.age plain

# header_length FILE: bytes up to and including the "--- <mac>" line.
header_length() {
  local n=0 line
  while IFS= read -r line; do
    n=$((n + ${#line} + 1))
    [[ $line == "--- "* ]] && break
  done <"$1"
  echo "$n"
}
HLEN=$(LC_ALL=C header_length good.age)
chunk_offset() { echo $((HLEN + NONCE + $1 * SEALED)); }
SIZE=$(stat -c %s good.age)
(( SIZE == $(chunk_offset 3) + 1000 + 16 )) || fail "unexpected layout: size $SIZE, header $HLEN"
# The good file decrypts, so every failure below is the damage's doing.
"$WARD" decrypt -i me.key -o "$OUT" good.age && same_file plain "$OUT" "the undamaged file" && rm "$OUT"

# bytes FILE START LENGTH: that range of FILE on stdout (LENGTH "" = to the end).
bytes() {
  if [[ -n ${3:-} ]]; then
    dd if="$1" bs=64K iflag=skip_bytes,count_bytes skip="$2" count="$3" status=none
  else
    dd if="$1" bs=64K iflag=skip_bytes skip="$2" status=none
  fi
}
chunk() { bytes good.age "$(chunk_offset "$1")" "$SEALED"; }
prefix() { bytes good.age 0 "$(chunk_offset 0)"; } # header and nonce
last_chunk() { bytes good.age "$(chunk_offset 3)"; }

# flip FILE OFFSET: inverts the lowest bit of one byte in place.
flip() {
  local b
  b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
  printf "\\x$(printf %02x $((b ^ 1)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

decrypt_fails() { # WHAT PATTERN FILE [more ward args]
  local what=$1 pattern=$2 file=$3
  shift 3
  expect_ward_error "$what" out "$pattern" -- decrypt -i me.key "$@" -o "$OUT" "$file"
}

TRUNC='truncat|incomplete|unexpected end|ends early|premature|missing|last chunk|final chunk'
TAMPER='authenticat|tamper|corrupt|damaged|modified|mac|reordered|invalid'

# Truncation.
head -c $((SIZE - 10)) good.age >t1.age
decrypt_fails "truncated inside the last chunk" "$TRUNC|$TAMPER" t1.age
head -c "$(chunk_offset 3)" good.age >t2.age
decrypt_fails "truncated at a chunk boundary (final chunk missing)" "$TRUNC|$TAMPER" t2.age
head -c $(($(chunk_offset 1) + 500)) good.age >t3.age
decrypt_fails "truncated inside the second chunk" "$TRUNC|$TAMPER" t3.age
head -c $((HLEN + NONCE)) good.age >t4.age
decrypt_fails "truncated after the nonce (no chunks)" "$TRUNC" t4.age
head -c $((HLEN + 8)) good.age >t5.age
decrypt_fails "truncated inside the nonce" "$TRUNC|nonce" t5.age
head -c "$HLEN" good.age >t6.age
decrypt_fails "truncated after the header" "$TRUNC|nonce" t6.age
head -c $((HLEN / 2)) good.age >t7.age
decrypt_fails "truncated inside the header" "$TRUNC|header" t7.age

# Reordered, duplicated, dropped chunks; trailing data.
{ prefix; chunk 1; chunk 0; chunk 2; last_chunk; } >r1.age
decrypt_fails "first two chunks swapped" "$TAMPER" r1.age
{ prefix; chunk 0; chunk 0; chunk 1; chunk 2; last_chunk; } >r2.age
decrypt_fails "first chunk duplicated" "$TAMPER" r2.age
{ prefix; chunk 0; chunk 2; last_chunk; } >r3.age
decrypt_fails "a middle chunk dropped" "$TAMPER" r3.age
{ prefix; chunk 0; chunk 1; chunk 2; last_chunk; last_chunk; } >r4.age
decrypt_fails "final chunk duplicated" "$TAMPER|trailing|after the (last|final)" r4.age
{ cat good.age; echo garbage; } >r5.age
decrypt_fails "data after the final chunk" "$TAMPER|trailing|after the (last|final)" r5.age
{ prefix; chunk 0; chunk 1; chunk 2; chunk 2; last_chunk; } >r6.age
decrypt_fails "a chunk repeated before the last" "$TAMPER" r6.age

# Bit flips.
for target in "chunk 1 ciphertext:$(($(chunk_offset 1) + 100))" \
  "chunk 0 tag:$(($(chunk_offset 1) - 1))" \
  "final chunk tag:$((SIZE - 1))" \
  "final chunk ciphertext:$(($(chunk_offset 3) + 3))" \
  "nonce:$((HLEN + 3))" \
  "header MAC:$((HLEN - 5))" \
  "stanza body:$((HLEN - 50))" \
  "version line:20"; do
  cp good.age f.age
  flip f.age "${target#*:}"
  decrypt_fails "bit flipped in the ${target%%:*}" "$TAMPER|header|$TRUNC" f.age
done

# A damaged chunk deep in a larger file (many chunks in flight at once).
random_file big $((40 * CHUNK + 7))
"$WARD" encrypt -r "$ME" -o big.age big
HLEN_BIG=$(LC_ALL=C header_length big.age)
flip big.age $((HLEN_BIG + NONCE + 30 * SEALED + 1234))
decrypt_fails "bit flipped in chunk 30 of 41" "$TAMPER" big.age

# Keys.
expect_ward_error "wrong identity" out "identity|key|recipient" -- decrypt -i other.key -o "$OUT" good.age
expect_ward_error "no identity given" out "-i" -- decrypt -o "$OUT" good.age
echo "not a key" >notakey.txt
expect_ward_error "identity file without a key" out "notakey.txt" -- decrypt -i notakey.txt -o "$OUT" good.age
expect_ward_error "missing identity file" out "nosuch.key" -- decrypt -i nosuch.key -o "$OUT" good.age

# Not an age file.
random_file garbage 1000
decrypt_fails "random bytes" "age|header" garbage
echo "hello world" >text
decrypt_fails "a text file" "age|header" text
: >empty
decrypt_fails "an empty file" "age|header|$TRUNC" empty
sed '1s/v1/v2/' good.age >v2.age
decrypt_fails "an unknown age version" "age|header|version" v2.age
printf 'age-encryption.org/v1\n-> X25519 bad\n--- AAAA\n' >badstanza.age
decrypt_fails "a malformed stanza" "header|stanza|X25519" badstanza.age
expect_ward_error "missing input file" out "nosuch.age" -- decrypt -i me.key -o "$OUT" nosuch.age

# Bad armor.
"$WARD" encrypt -a -r "$ME" -o good.txt plain
"$WARD" decrypt -i me.key -o "$OUT" good.txt && rm "$OUT"
ARMOR='armor|base64|line|pem|BEGIN|END'
sed '5s/^./!/' good.txt >a1.txt
decrypt_fails "armor: invalid Base64 character" "$ARMOR" a1.txt
sed '$d' good.txt >a2.txt
decrypt_fails "armor: missing END line" "$ARMOR|$TRUNC" a2.txt
sed '5s/.$//' good.txt >a3.txt
decrypt_fails "armor: short line in the middle" "$ARMOR" a3.txt
{ cat good.txt; echo "trailing"; } >a4.txt
decrypt_fails "armor: data after the END line" "$ARMOR|trailing" a4.txt
sed '1s/AGE/AGX/' good.txt >a5.txt
decrypt_fails "armor: wrong BEGIN line" "$ARMOR|age|header" a5.txt
line=$(sed -n '100p' good.txt)
swapped=$(tr 'A-Za-z' 'B-ZAb-za' <<<"$line")
sed "100s|.*|$swapped|" good.txt >a6.txt
decrypt_fails "armor: tampered payload" "$TAMPER" a6.txt

# A failed decryption leaves an existing file at -o untouched.
echo "keep me" >out/plain
cp out/plain keep.txt
rc=0
"$WARD" decrypt -i me.key -o out/plain r1.age 2>/dev/null || rc=$?
((rc == 1)) || fail "decrypt over an existing file exited $rc"
same_file keep.txt out/plain "existing -o file after a failed decryption"
[[ $(ls -A out) == plain ]] || fail "temporary files left in out/: $(ls -A out)"
rm out/plain
pass "a failed decryption leaves an existing -o file untouched"

# Encryption errors leave nothing either.
expect_ward_error "encrypt: malformed recipient" out "recipient" -- encrypt -r age1notarecipient -o out/c.age plain
expect_ward_error "encrypt: missing input" out "nosuch" -- encrypt -r "$ME" -o out/c.age nosuch
expect_ward_error "encrypt: recipients file without recipients" out "recipient" -- encrypt -R text -o out/c.age plain

echo "PASS: bad_input"
