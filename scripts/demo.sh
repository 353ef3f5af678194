#!/usr/bin/env bash
# Ward's main job until the confidential-order demo lands: installs what Ward
# needs, builds it, and runs an encryption round trip that shows ward and the
# age CLI reading each other's files, a tampered file being refused, then a
# simulated CVM being certified by the certification center from its
# hardware-format evidence, and a real Intel TDX quote verified offline.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build --target ward -j "$(nproc)" >/dev/null
ward=$PWD/build/src/cli/ward

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
digest() { sha256sum "$1" | cut -c1-16; }
step() { printf '\n\033[1m%s\033[0m\n' "$*"; }

step "1. Alice makes a Ward identity (an age identity file + a derived Ed25519 signing key)"
alice=$("$ward" keys new -o alice.key 2>/dev/null)
"$ward" keys show alice.key

step "2. Bob uses the stock age tool"
age-keygen -o bob.key 2>/dev/null
bob=$(age-keygen -y bob.key)
echo "bob: $bob"

head -c $((10 * 1024 * 1024 + 1)) /dev/urandom >dataset.bin
step "3. ward encrypts a 10 MiB + 1 byte dataset to Alice and Bob; age decrypts it"
"$ward" encrypt -r "$alice" -r "$bob" -o dataset.age dataset.bin
age -d -i bob.key -o by-age.bin dataset.age
"$ward" decrypt -i alice.key -o by-ward.bin dataset.age
printf '  original %s   age decrypted %s   ward decrypted %s\n' \
  "$(digest dataset.bin)" "$(digest by-age.bin)" "$(digest by-ward.bin)"
cmp -s dataset.bin by-age.bin && cmp -s dataset.bin by-ward.bin

step "4. age encrypts (armored) to Alice; ward decrypts it"
echo "model weights v1" | age -a -r "$alice" >note.age
head -2 note.age
printf '  ward decrypted: %s\n' "$("$ward" decrypt -i alice.key note.age)"

step "5. A flipped bit in the payload is refused, and no plaintext is left behind"
cp dataset.age tampered.age
printf '\xff' | dd of=tampered.age bs=1 seek=300000 conv=notrunc status=none
if "$ward" decrypt -i alice.key -o leaked.bin tampered.age; then
  echo "tampered file decrypted: this is a bug" >&2
  exit 1
fi
[[ ! -e leaked.bin ]] && echo "  exit status non-zero, leaked.bin does not exist"

step "6. A real Intel TDX quote (dcap-qvl's sample) verified offline against the Intel root"
testdata=$(cd "$OLDPWD" && realpath ../shared/testdata/attestation/tdx-sgx/dcap-qvl 2>/dev/null || true)
if [[ -d $testdata ]]; then
  "$ward" attest verify "$testdata/tdx_quote" --collateral "$testdata/tdx_quote_collateral.json" \
    --at 2025-07-01T00:00:00Z | grep -E 'tcb.level|verdict'
else
  echo "  (../shared/testdata not present: skipped)"
fi

step "7. A CVM (simulated TEE) binds its keys into a TDX quote and is certified"
"$ward" keys new -o cvm.key >/dev/null 2>&1
report_data=$("$ward" ca report-data --key cvm.key)
"$ward" attest quote --platform sim --report-data "$report_data" -o cvm-quote.bin
echo '{"allow_simulated": true}' >allow-sim.json
"$ward" ca init --dir ca >/dev/null
"$ward" ca serve --dir ca --listen 127.0.0.1:0 --policy allow-sim.json >ca-url.txt 2>ca.log &
ca_pid=$!
trap 'kill "$ca_pid" 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 50); do [[ -s ca-url.txt ]] && break; sleep 0.1; done
ca_url=$(head -1 ca-url.txt | grep -oE 'http://[^ ]+')
"$ward" ca request --ca "$ca_url" --key cvm.key --evidence cvm-quote.bin \
  --collateral cvm-quote.bin.collateral.json -o cvm.pem
"$ward" ca verify cvm.pem --ca-cert ca/ca.pem --policy allow-sim.json | grep -E "cert.chain|quote.signature|tcb.level|ca.binding|verdict"
kill "$ca_pid"
wait "$ca_pid" 2>/dev/null || true

step "8. The same certificate is refused by a verifier whose policy does not allow simulation"
if "$ward" ca verify cvm.pem --ca-cert ca/ca.pem >/dev/null 2>refusal.txt; then
  echo "simulated evidence accepted without allow_simulated: this is a bug" >&2
  exit 1
fi
sed 's/^/  /' refusal.txt

step "Done: ward and age interoperate both ways; tampering fails closed; evidence is verified, and simulation is named."
