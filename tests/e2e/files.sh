#!/usr/bin/env bash
# ward files end to end: upload a file and a directory to a file store,
# download them byte-identical, refuse another key, a tampered descriptor and
# a tampered blob leaving nothing behind; then grant a simulated CVM that a
# provider registered on a ledger with a certificate from `ward ca serve`:
# the grant's header opens the stored payload with the CVM's key (checked
# with the age CLI), and every refusal names its check.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$E2E_DIR/ledger_lib.sh"

CA_PID=
stop_ca() {
  [[ -n $CA_PID ]] || return 0
  kill -TERM "$CA_PID" 2>/dev/null || true
  local rc=0
  wait "$CA_PID" 2>/dev/null || rc=$?
  CA_PID=
  ((rc == 0)) && [[ ! -s ca-serve.err ]] || fail "ward ca serve exited $rc: $(head -c 4000 ca-serve.err)"
}
trap 'stop_ca; stop_servers; rm -rf "$TMP"' EXIT

"$WARD" keys new -o alice.key >/dev/null 2>&1
"$WARD" keys new -o bob.key >/dev/null 2>&1
"$WARD" keys new -o carol.key >/dev/null 2>&1
"$WARD" keys new -o cvm.key >/dev/null 2>&1
ALICE=$("$WARD" keys show --json alice.key | jq -r .signing_public_key)
CAROL_R=$("$WARD" keys show --json carol.key | jq -r .recipient)
mkdir -p out

# --- upload and download ---------------------------------------------------
random_file data.bin $((3 * 1024 * 1024 + 17))
printf 'patient,label\n1,0\n2,1\n' >alice.csv
"$WARD" files upload data.bin --key alice.key --store store -o res.json --json >upload.json
DIGEST=$(jq -r .resource.ciphertext_sha256 res.json)
[[ $(jq -r .ciphertext_sha256 upload.json) == "$DIGEST" && $(jq -r .kind upload.json) == file ]] ||
  fail "upload --json: $(cat upload.json)"
[[ $(jq -r .resource.uri res.json) == "file://$TMP/store/$DIGEST" ]] || fail "blob URI: $(jq -r .resource.uri res.json)"
[[ $(sha256sum <"store/$DIGEST" | cut -d' ' -f1) == "$DIGEST" ]] || fail "the blob is not named by its digest"
[[ $(jq -r .resource.plaintext_sha256 res.json) == $(sha256sum <data.bin | cut -d' ' -f1) ]] ||
  fail "plaintext_sha256 is not the file's SHA-256"
[[ $(jq -r .resource.owner res.json) == "$ALICE" ]] || fail "the descriptor's owner is not alice"
! jq -e '.. | strings | select(test("AGE-SECRET-KEY"))' res.json >/dev/null || fail "the descriptor holds a key"
# The blob is a plain age file for alice.
age -d -i alice.key -o age.out "store/$DIGEST"
same_file data.bin age.out "age -d of the stored blob"
pass "files upload stores an age file named by its digest and writes a signed descriptor"

"$WARD" files download res.json --key alice.key -o out/data.bin >/dev/null
same_file data.bin out/data.bin "files download"
rm -f out/data.bin
pass "files download writes the file byte-identical"

mkdir -p tree/sub/deeper tree/empty
cp alice.csv tree/a.csv
random_file tree/sub/deeper/blob 100000
printf '#!/bin/sh\n' >tree/run.sh
chmod +x tree/run.sh
"$WARD" files upload tree --key alice.key --store store -o tree.json >/dev/null
[[ $(jq -r .resource.kind tree.json) == dir && $(jq -r .resource.name tree.json) == tree ]] ||
  fail "directory descriptor: $(jq -c .resource tree.json)"
"$WARD" files download tree.json --key alice.key -o out/tree >/dev/null
diff -r tree out/tree || fail "the downloaded directory differs"
[[ -x out/tree/run.sh && -d out/tree/empty ]] || fail "the executable bit or the empty directory was lost"
cp -r tree tree2
touch -d '2001-01-01' tree2/a.csv
"$WARD" files upload tree2 --key alice.key --store store -o tree2.json >/dev/null
[[ $(jq -r .resource.plaintext_sha256 tree2.json) == $(jq -r .resource.plaintext_sha256 tree.json) ]] ||
  fail "the same tree gave another tar"
expect_ward_error "download a directory over an existing path" "" 'already exists' -- \
  files download tree.json --key alice.key -o out/tree
rm -rf out/tree
pass "files upload/download of a directory: deterministic tar, extracted identical"

WARD_STORE="$TMP/env-store" "$WARD" files upload alice.csv --key alice.key -o csv.json >/dev/null
[[ -f env-store/$(jq -r .resource.ciphertext_sha256 csv.json) ]] || fail "\$WARD_STORE was not used"
(mkdir -p cwd && cd cwd && "$WARD" files upload ../alice.csv --key ../alice.key -o csv.json >/dev/null)
[[ -f cwd/ward-store/$(jq -r .resource.ciphertext_sha256 cwd/csv.json) ]] || fail "./ward-store was not the default"
pass "the store defaults to \$WARD_STORE, else ./ward-store"

"$WARD" files show res.json >show.txt
grep -q '^resource descriptor, signature verified$' show.txt && grep -q "^owner: $ALICE$" show.txt ||
  fail "files show: $(cat show.txt)"
"$WARD" files show res.json --json | jq -e --arg d "$DIGEST" '.type == "resource" and .ciphertext_sha256 == $d' >/dev/null ||
  fail "files show --json"
pass "files show verifies and prints a descriptor"

# --- refusals, nothing left behind -----------------------------------------
expect_ward_error "download with another key" out 'no_match|no identity|not addressed|matches' -- \
  files download res.json --key bob.key -o out/data.bin
jq '.resource.name = "other.bin"' res.json >forged.json
expect_ward_error "download of a tampered descriptor" out 'signature does not verify' -- \
  files download forged.json --key alice.key -o out/data.bin
expect_ward_error "show of a tampered descriptor" "" 'signature does not verify' -- files show forged.json
jq '.resource.extra = 1' res.json >extra.json
expect_ward_error "a descriptor with an unknown field" "" 'unknown field' -- files show extra.json
cp -r store bad-store
chmod -R u+w bad-store
flip_byte "bad-store/$DIGEST" 5000
expect_ward_error "download of a tampered blob" out 'digest|SHA-256|hash' -- \
  files download res.json --key alice.key --store bad-store -o out/data.bin
expect_ward_error "upload of a missing file" out '' -- files upload nope.bin --key alice.key --store store -o out/r.json
mkdir -p linked && ln -s /etc/passwd linked/pw
expect_ward_error "upload of a directory holding a symlink" out 'neither a regular file nor a directory' -- \
  files upload linked --key alice.key --store store -o out/r.json
pass "bad inputs are refused with one line, leaving nothing at -o"

# --- a CVM on a ledger, certified by a CA -----------------------------------
SIGNING=$("$WARD" keys show --json cvm.key | jq -r .signing_public_key)
RECIPIENT=$("$WARD" keys show --json cvm.key | jq -r .recipient)
CVM_ID=$(xxd -r -p <<<"$SIGNING" | sha256_hex)
MRTD=$(openssl dgst -sha384 -binary "$WARD" | xxd -p -c 96)
ENGINE=sha256:$(printf 'engine' | sha256_hex)

"$WARD" ca init --dir ca >/dev/null
echo '{"allow_simulated": true}' >ca-policy.json
"$WARD" ca serve --dir ca --policy ca-policy.json --listen 127.0.0.1:0 >ca-serve.out 2>ca-serve.err &
CA_PID=$!
for ((i = 0; i < 100; i++)); do
  [[ -s ca-serve.out ]] && break
  kill -0 "$CA_PID" 2>/dev/null || fail "ward ca serve exited: $(cat ca-serve.err)"
  sleep 0.1
done
CA_URL=$(head -n1 ca-serve.out)
"$WARD" attest quote --platform sim --report-data "$("$WARD" ca report-data --key cvm.key)" -o q.bin >/dev/null
"$WARD" ca request --ca "$CA_URL" --key cvm.key --evidence q.bin --collateral q.bin.collateral.json --platform sim \
  -o cvm.pem >/dev/null

"$WARD" ledger init --db ward.db --dev --json >init.json
LID=$(jq -r .id init.json)
PROVIDER=$(ossl_key provider)
sign_tx provider.pem "$(tx "$LID" "$PROVIDER" 1 accounts.register '{"recipient":"'"$RECIPIENT"'","name":"provider"}')" |
  "$WARD" ledger submit --ledger ward.db >/dev/null
TEE=$(sign_tx provider.pem "$(tx "$LID" "$PROVIDER" 2 offers.create \
  '{"kind":"tee","name":"sim box","resource":"sim://box","price":{"model":"fixed","amount":1}}')" |
  "$WARD" ledger submit --ledger ward.db --json | jq .index)
sign_tx provider.pem "$(tx "$LID" "$PROVIDER" 3 cvms.register "$(jq -cn --arg k "$SIGNING" --arg r "$RECIPIENT" \
  --rawfile c cvm.pem --argjson o "$TEE" '{key: $k, recipient: $r, certificate: $c, offer: $o}')")" |
  "$WARD" ledger submit --ledger ward.db >/dev/null
pass "a simulated CVM is certified by ward ca serve and registered on the ledger"

jq -n --arg m "$MRTD" '{allow_simulated: true, measurements: {mrtd: [$m]}}' >grant-policy.json
GRANT=(files grant res.json --key alice.key --ledger ward.db --cvm "$CVM_ID" --engine "$ENGINE" --output-to "$CAROL_R")
grant() { "$WARD" "${GRANT[@]}" "$@"; }
grant --ca-cert ca/ca.pem --policy grant-policy.json --expires 2h -o grant.json >grant.txt
grep -q 'SIMULATED' grant.txt || fail "files grant does not say SIMULATED: $(cat grant.txt)"
jq -e --arg c "$CVM_ID" --arg e "$ENGINE" --arg r "$CAROL_R" --arg d "$DIGEST" \
  '.grant.cvm == $c and .grant.engine == $e and .grant.outputs == [$r] and .grant.resource == $d' grant.json >/dev/null ||
  fail "grant.json: $(jq -c .grant grant.json)"
# The grant's header and the stored payload make an age file for the CVM's key.
HL=$(jq -r .resource.header_length res.json)
{ jq -r .header grant.json | base64 -d; tail -c +$((HL + 1)) "store/$DIGEST"; } >granted.age
age -d -i cvm.key -o granted.out granted.age
same_file data.bin granted.out "the granted copy decrypted with the CVM's key"
! age -d -i alice.key -o /dev/null granted.age 2>/dev/null || fail "the grant's header opens with alice's key"
"$WARD" files show grant.json >show-grant.txt
grep -q '^grant, signatures verified, header bound to this policy' show-grant.txt && grep -q "^cvm: $CVM_ID$" show-grant.txt ||
  fail "files show of a grant: $(cat show-grant.txt)"
grant --ca "$CA_URL" --policy grant-policy.json --json -o grant2.json >grant2.out
jq -e '.simulated == true' grant2.out >/dev/null || fail "files grant --json: $(cat grant2.out)"
pass "files grant verifies the CVM and re-wraps the file key to it (age decrypts the granted copy)"

jq '.grant.outputs = ["'"$RECIPIENT"'"]' grant.json >forged-grant.json
expect_ward_error "a grant with edited outputs" "" 'grant.sig' -- files show forged-grant.json
expect_ward_error "grant to a CVM not on the ledger" out 'not on the ledger' -- \
  files grant res.json --key alice.key --ledger ward.db --cvm "$(printf '%064d' 7)" --engine "$ENGINE" \
  --output-to "$CAROL_R" --ca-cert ca/ca.pem --policy grant-policy.json -o out/g.json
expect_ward_error "grant by someone else" out 'not the owner' -- \
  files grant res.json --key bob.key --ledger ward.db --cvm "$CVM_ID" --engine "$ENGINE" \
  --output-to "$CAROL_R" --ca-cert ca/ca.pem --policy grant-policy.json -o out/g.json
jq -n --arg m "$(printf '%096d' 0)" '{allow_simulated: true, measurements: {mrtd: [$m]}}' >other-loader.json
expect_ward_error "grant to a CVM running another loader" out "CVM $CVM_ID refused: policy.measurement.mrtd" -- \
  "${GRANT[@]}" --ca-cert ca/ca.pem --policy other-loader.json -o out/g.json
jq -n --arg m "$MRTD" '{measurements: {mrtd: [$m]}}' >no-sim.json
expect_ward_error "grant to a simulated CVM under a policy refusing simulation" out 'refused: policy.simulated' -- \
  "${GRANT[@]}" --ca-cert ca/ca.pem --policy no-sim.json -o out/g.json
expect_ward_error "grant under a policy pinning no measurement" out 'pins no measurement' -- \
  "${GRANT[@]}" --ca-cert ca/ca.pem --policy ca-policy.json -o out/g.json
"$WARD" ca init --dir other-ca >/dev/null
expect_ward_error "grant under another CA" out 'refused: cert.chain' -- \
  "${GRANT[@]}" --ca-cert other-ca/ca.pem --policy grant-policy.json -o out/g.json
# The ledger's entry must match the certificate: another CVM's key listed
# with this certificate, and a certified CVM listed with another recipient.
CAROL=$("$WARD" keys show --json carol.key | jq -r .signing_public_key)
"$WARD" keys new -o cvm2.key >/dev/null 2>&1
SIGNING2=$("$WARD" keys show --json cvm2.key | jq -r .signing_public_key)
"$WARD" attest quote --platform sim --report-data "$("$WARD" ca report-data --key cvm2.key)" -o q2.bin >/dev/null
"$WARD" ca request --ca "$CA_URL" --key cvm2.key --evidence q2.bin --collateral q2.bin.collateral.json \
  --platform sim -o cvm2.pem >/dev/null
register() {
  sign_tx provider.pem "$(tx "$LID" "$PROVIDER" "$1" cvms.register "$(jq -cn --arg k "$2" --arg r "$3" \
    --rawfile c "$4" --argjson o "$TEE" '{key: $k, recipient: $r, certificate: $c, offer: $o}')")" |
    "$WARD" ledger submit --ledger ward.db >/dev/null
}
register 4 "$CAROL" "$RECIPIENT" cvm.pem
register 5 "$SIGNING2" "$CAROL_R" cvm2.pem
for pair in "$(xxd -r -p <<<"$CAROL" | sha256_hex):for another CVM" \
  "$(xxd -r -p <<<"$SIGNING2" | sha256_hex):another age recipient"; do
  expect_ward_error "grant to a CVM whose certificate is ${pair#*:}" out "refused: .*${pair#*:}" -- \
    files grant res.json --key alice.key --ledger ward.db --cvm "${pair%%:*}" --engine "$ENGINE" \
    --output-to "$CAROL_R" --ca-cert ca/ca.pem --policy grant-policy.json -o out/g.json
done
rc=0
grant --ca-cert ca/ca.pem --policy grant-policy.json --expires 1w -o out/g.json 2>err.txt >/dev/null || rc=$?
((rc == 2)) && [[ $(wc -l <err.txt) == 1 ]] && [[ -z $(ls -A out) ]] || fail "--expires 1w: exit $rc: $(cat err.txt)"
pass "files grant refuses unknown CVMs, non-owners, other loaders, simulation, unpinned policies, other CAs, mismatched ledger entries"

stop_ca
