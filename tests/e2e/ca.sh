#!/usr/bin/env bash
# The certification center end to end: a CVM's keys, simulated evidence that
# binds them, a certificate from `ward ca serve`, and `ward ca verify` under a
# policy that allows simulation (accept) and under the default (reject). The
# certificate also checks out with openssl alone. Then bad requests with curl:
# each refused with its documented status and reason, the server still up.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
command -v curl >/dev/null || { echo "FAIL: curl is missing (Debian package curl)" >&2; exit 1; }
command -v openssl >/dev/null || { echo "FAIL: openssl is missing (Debian package openssl)" >&2; exit 1; }
command -v xxd >/dev/null || { echo "FAIL: xxd is missing (Debian package xxd)" >&2; exit 1; }

CA_PID=
# Stops the center with SIGTERM: it must exit 0 with nothing on stderr.
stop_ca() {
  [[ -n $CA_PID ]] || return 0
  kill -TERM "$CA_PID" 2>/dev/null || true
  local rc=0
  wait "$CA_PID" 2>/dev/null || rc=$?
  CA_PID=
  ((rc == 0)) && [[ ! -s serve.err ]] || fail "ward ca serve exited $rc: $(head -c 4000 serve.err)"
}
trap 'stop_ca; rm -rf "$TMP"' EXIT

# start_ca ARGS...: serves on a free port of 127.0.0.1 and sets URL.
start_ca() {
  rm -f serve.out serve.err
  "$WARD" ca serve --listen 127.0.0.1:0 "$@" >serve.out 2>serve.err &
  CA_PID=$!
  local i
  for ((i = 0; i < 100; i++)); do
    [[ -s serve.out ]] && break
    kill -0 "$CA_PID" 2>/dev/null || fail "ward ca serve exited: $(cat serve.err)"
    sleep 0.1
  done
  URL=$(head -n1 serve.out)
  [[ $URL =~ ^http://127\.0\.0\.1:[0-9]+$ ]] || fail "ward ca serve printed '$URL', not its URL"
}

healthy() {
  curl -sf "$URL/v1/ca" | cmp -s - ca/ca.pem || fail "the center no longer serves its CA certificate ($1)"
}

echo '{"allow_simulated": true, "accepted_tcb_statuses": ["UpToDate"]}' >sim-policy.json

"$WARD" keys new -o cvm.key >/dev/null 2>&1
"$WARD" keys new -o other.key >/dev/null 2>&1
SIGNING=$("$WARD" keys show --json cvm.key | jq -r .signing_public_key)
RECIPIENT=$("$WARD" keys show --json cvm.key | jq -r .recipient)
CVM_ID=$(xxd -r -p <<<"$SIGNING" | openssl dgst -sha256 -binary | xxd -p -c 64)

# init: a P-384 CA, its key private to the user, never overwritten.
"$WARD" ca init --dir ca --json >init.json
[[ $(stat -c %a ca/ca.key) == 600 ]] || fail "ca.key has mode $(stat -c %a ca/ca.key), not 600"
[[ $(jq -r .subject init.json) == "CN=Ward certification center,O=Ward" ]] || fail "CA subject: $(cat init.json)"
openssl x509 -in ca/ca.pem -noout -text | grep 'NIST CURVE: P-384' >/dev/null || fail "the CA key is not P-384"
[[ $(openssl x509 -in ca/ca.pem -outform DER | openssl dgst -sha256 -binary | xxd -p -c 64) == $(jq -r .sha256 init.json) ]] ||
  fail "ca init --json printed another fingerprint"
cp ca/ca.key key.before
expect_ward_error "ca init over an existing center" "" 'already exists' -- ca init --dir ca
cmp -s key.before ca/ca.key || fail "ca init changed the existing key"
pass "ca init writes a P-384 CA (key 0600) and refuses to overwrite it"

# report-data binds both public keys.
RD=$("$WARD" ca report-data --key cvm.key)
[[ $RD =~ ^[0-9a-f]{128}$ ]] || fail "report-data printed '$RD'"
"$WARD" ca report-data --key cvm.key --json >rd.json
[[ $(jq -r .report_data rd.json) == "$RD" && $(jq -r .signing_key rd.json) == "$SIGNING" &&
  $(jq -r .age_recipient rd.json) == "$RECIPIENT" && $(jq -r .cvm_id rd.json) == "$CVM_ID" ]] ||
  fail "report-data --json: $(cat rd.json)"
[[ $("$WARD" ca report-data --key other.key) != "$RD" ]] || fail "two CVMs share report data"
pass "ca report-data prints the 64-byte binding of the CVM's keys"

"$WARD" attest quote --platform sim --report-data "$RD" -o q.bin >/dev/null
[[ -s q.bin && -s q.bin.collateral.json ]] || fail "attest quote wrote no quote or collateral"

for bad in 0h 10 1w -1h; do
  rc=0
  "$WARD" ca serve --dir ca --listen 127.0.0.1:0 --validity "$bad" >/dev/null 2>err.txt || rc=$?
  ((rc == 2)) && [[ $(wc -l <err.txt) == 1 ]] || fail "--validity $bad: exit $rc: $(cat err.txt)"
done
pass "ca serve refuses a bad --validity as a usage error"

start_ca --dir ca --policy sim-policy.json --validity 2h
healthy "at start"

# request: native evidence plus collateral.
"$WARD" ca request --ca "$URL" --key cvm.key --evidence q.bin --collateral q.bin.collateral.json --platform sim \
  -o cvm.pem --json >request.json
[[ $(jq -r .cvm_id request.json) == "$CVM_ID" && $(jq -r .simulated request.json) == true ]] ||
  fail "ca request --json: $(cat request.json)"
[[ $(openssl x509 -in cvm.pem -noout -subject -nameopt RFC2253) == "subject=CN=cvm-${CVM_ID:0:16},O=Ward CVM" ]] ||
  fail "certificate subject: $(openssl x509 -in cvm.pem -noout -subject)"
openssl verify -CAfile ca/ca.pem cvm.pem >/dev/null || fail "openssl does not verify the certificate under the CA"
not_before=$(date -d "$(openssl x509 -in cvm.pem -noout -startdate | cut -d= -f2)" +%s)
not_after=$(date -d "$(openssl x509 -in cvm.pem -noout -enddate | cut -d= -f2)" +%s)
((not_after - not_before == 2 * 3600 + 5 * 60)) || fail "validity $((not_after - not_before)) s, expected 2 h + 5 min"
[[ $(openssl x509 -in cvm.pem -noout -pubkey | openssl pkey -pubin -outform DER | tail -c 32 | xxd -p -c 64) == "$SIGNING" ]] ||
  fail "the certificate is not for the CVM's Ed25519 key"
openssl x509 -in cvm.pem -noout -text | grep '2.25.20012103950266490252863831713239714041.1' >/dev/null ||
  fail "the certificate has no evidence extension"
pass "ca request gets a certificate for the CVM's Ed25519 key that openssl verifies under the CA"

# verify: accept under the simulation policy, in text and JSON.
"$WARD" ca verify cvm.pem --ca-cert ca/ca.pem --policy sim-policy.json >verify.txt
grep -q '^  ok    cert.chain' verify.txt && grep -q '^  ok    ca.binding' verify.txt ||
  fail "ca verify does not print its checks: $(cat verify.txt)"
grep -q '^verdict: accept (SIMULATED' verify.txt || fail "ca verify: $(tail -n1 verify.txt)"
grep -q "^cvm id: $CVM_ID$" verify.txt && grep -q "^age recipient: $RECIPIENT$" verify.txt ||
  fail "ca verify does not name the CVM: $(cat verify.txt)"
"$WARD" ca verify cvm.pem --ca-cert ca/ca.pem --policy sim-policy.json --json >verify.json
jq -e --arg id "$CVM_ID" --arg r "$RECIPIENT" \
  '.verdict == "accept" and .simulated and .cvm_id == $id and .age_recipient == $r and
   .checks[0].name == "cert.chain" and .checks[-1].name == "ca.binding" and .failed_check == null' verify.json >/dev/null ||
  fail "ca verify --json: $(jq -c '{verdict, cvm_id, failed_check}' verify.json)"
pass "ca verify accepts the certificate under a policy that allows simulation"

# ... and rejects it otherwise, exit 1, naming the check.
expect_verify_reject() {
  local what=$1 check=$2
  shift 2
  local rc=0
  "$WARD" ca verify "$@" >out.txt 2>err.txt || rc=$?
  ((rc == 1)) || fail "$what: ca verify exited $rc: $(cat err.txt)"
  grep -q "^verdict: reject ($check)" out.txt || fail "$what: $(tail -n1 out.txt)"
  [[ $(wc -l <err.txt) == 1 ]] && grep -q "^ward: error: .*rejected: $check: " err.txt ||
    fail "$what: stderr: $(cat err.txt)"
  echo "ok: $what -> $(cat err.txt)"
}
expect_verify_reject "the default policy" policy.simulated cvm.pem --ca-cert ca/ca.pem
expect_verify_reject "after expiry" cert.chain cvm.pem --ca-cert ca/ca.pem --policy sim-policy.json \
  --at "$(date -u -d '+2 days' +%Y-%m-%dT%H:%M:%SZ)"
"$WARD" ca init --dir other-ca >/dev/null
expect_verify_reject "another CA" cert.chain cvm.pem --ca-cert other-ca/ca.pem --policy sim-policy.json
rc=0
"$WARD" ca verify cvm.pem --ca-cert ca/ca.pem --at yesterday 2>err.txt >/dev/null || rc=$?
((rc == 2)) || fail "--at yesterday: exit $rc, expected 2"
pass "ca verify rejects (exit 1) without the policy, after expiry and under another CA"

# A ward/evidence/v1 bundle works as --evidence too.
jq -n --rawfile c q.bin.collateral.json --arg e "$(base64 -w0 q.bin)" \
  '{format: "ward/evidence/v1", platform: "sim", evidence: $e, collateral: ($c | fromjson), certs: ""}' >bundle.json
"$WARD" ca request --ca "$URL" --key cvm.key --evidence bundle.json -o cvm2.pem >/dev/null
"$WARD" ca verify cvm2.pem --ca-cert ca/ca.pem --policy sim-policy.json >/dev/null
pass "ca request takes an evidence bundle"

# Bad requests: refused with the documented status and reason, server healthy.
expect_refusal() {
  local what=$1 status=$2 reason=$3
  shift 3
  local got
  got=$(curl -s -o resp.json -w '%{http_code}' -H 'Content-Type: application/json' -X POST "$@" "$URL/v1/certificates")
  [[ $got == "$status" ]] || fail "$what: HTTP $got, expected $status: $(head -c 500 resp.json)"
  [[ $(jq -r .error.reason resp.json) == "$reason" ]] || fail "$what: $(jq -c .error resp.json), expected $reason"
  [[ -n $(jq -r .error.message resp.json) ]] || fail "$what: no message"
  healthy "after $what"
  echo "ok: $what -> $got $(jq -c .error resp.json)"
}
request_body() {
  jq -nc --slurpfile b bundle.json --arg k "$1" --arg r "$2" '{evidence: $b[0], signing_key: $k, age_recipient: $r}'
}
request_body "$SIGNING" "$RECIPIENT" >good.json
expect_refusal "malformed JSON" 400 malformed --data-binary '{"evidence": '
expect_refusal "a missing field" 400 malformed --data-binary "$(jq -c 'del(.signing_key)' good.json)"
expect_refusal "a bundle of another format" 400 attest.bundle --data-binary "$(jq -c '.evidence.format = "x"' good.json)"
head -c $((3 * 1024 * 1024)) /dev/zero | tr '\0' ' ' >big.json
expect_refusal "an oversized body" 413 too_large --data-binary @big.json
OTHER_SIGNING=$("$WARD" keys show --json other.key | jq -r .signing_public_key)
OTHER_RECIPIENT=$("$WARD" keys show --json other.key | jq -r .recipient)
request_body "$OTHER_SIGNING" "$OTHER_RECIPIENT" >other.json
expect_refusal "evidence of another key" 422 ca.binding --data-binary @other.json
expect_ward_error "ca request with evidence of another key" "" '\(ca\.binding\)' -- \
  ca request --ca "$URL" --key other.key --evidence bundle.json -o other.pem
[[ ! -e other.pem ]] || fail "a refused request left other.pem"
curl -s -H 'Content-Type: application/json' -X POST --data-binary @good.json "$URL/v1/certificates" |
  tee issued.json | jq -e --arg id "$CVM_ID" '.cvm_id == $id' >/dev/null ||
  fail "the center no longer issues after bad requests: $(head -c 500 issued.json)"
pass "bad requests are refused (400, 413, 422) and the center keeps serving"

stop_ca

# Without --policy the center is strict: simulated evidence is refused.
start_ca --dir ca
expect_refusal "simulated evidence under the strict default" 422 policy.simulated --data-binary @good.json
stop_ca
pass "ca serve stops cleanly on SIGTERM; without --policy it refuses simulated evidence"
