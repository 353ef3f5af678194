#!/usr/bin/env bash
# `ward attest` as a user runs it: every evidence file of the shared testdata
# gets the verdict its EXPECTED.md states (exit 0 accept, 1 reject), --json
# has the documented shape, bad input exits 2, and the simulated TEE's round
# trip is accepted only when a policy allows simulation.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
T=$(realpath "$E2E_DIR/../../../shared/testdata/attestation")

# verdict NAME EXPECTED_RC FAILED_CHECK|- ARGS...: runs `ward attest verify --json ARGS`.
verdict() {
  local name=$1 want_rc=$2 want_check=$3
  shift 3
  local rc=0
  "$WARD" attest verify --json "$@" >out.json 2>err.txt || rc=$?
  ((rc == want_rc)) || fail "$name: exit $rc, expected $want_rc: $(cat err.txt)"
  local v check
  v=$(jq -r .verdict out.json)
  check=$(jq -r '.failed_check // "-"' out.json)
  [[ $check == "$want_check" ]] || fail "$name: failed_check $check, expected $want_check"
  if ((want_rc == 0)); then
    [[ $v == accept ]] || fail "$name: verdict $v"
    [[ ! -s err.txt ]] || fail "$name: accepted but printed an error"
  else
    [[ $v == reject ]] || fail "$name: verdict $v"
    (($(wc -l <err.txt) == 1)) || fail "$name: expected one error line: $(cat err.txt)"
  fi
  if [[ $check == - ]]; then pass "$name -> $v"; else pass "$name -> $v ($check)"; fi
}

D=$T/tdx-sgx
verdict "dcap-qvl TDX v4, UpToDate" 0 - "$D/dcap-qvl/tdx_quote" --collateral "$D/dcap-qvl/tdx_quote_collateral.json" \
  --at 2025-07-01T00:00:00Z
[[ $(jq -r .tcb_status out.json) == UpToDate && $(jq -r '.advisories|length' out.json) == 0 ]] ||
  fail "tdx_quote: $(jq -c '[.tcb_status,.advisories]' out.json)"
[[ $(jq -r .platform out.json) == tdx && $(jq -r '.measurements.mrtd|length' out.json) == 96 ]] ||
  fail "tdx_quote: platform or mrtd"
[[ $(jq -r '.report_data|length' out.json) == 128 && $(jq -r '.checks[0].name' out.json) == quote.parse ]] ||
  fail "tdx_quote: report_data or checks"
verdict "dcap-qvl TDX v4, collateral expired" 1 collateral.validity "$D/dcap-qvl/tdx_quote" \
  --collateral "$D/dcap-qvl/tdx_quote_collateral.json" --at 2025-08-01T00:00:00Z
verdict "dcap-qvl SGX v3" 0 - "$D/dcap-qvl/sgx_quote" --collateral "$D/dcap-qvl/sgx_quote_collateral.json" \
  --at 2025-07-01T00:00:00Z
[[ $(jq -r .tcb_status out.json) == ConfigurationAndSWHardeningNeeded &&
  $(jq -c .advisories out.json) == '["INTEL-SA-00289","INTEL-SA-00615"]' ]] || fail "sgx_quote: $(jq -c '[.tcb_status,.advisories]' out.json)"
verdict "go-tdx-guest SPR E4, no TCB level" 1 tcb.level "$D/go-tdx-guest/tdx_prod_quote_SPR_E4.dat" \
  --collateral "$D/go-tdx-guest/derived_collateral_v4_SPR_E4.json" --at 2023-06-20T00:00:00Z
[[ $(jq -r .tcb_status out.json) == NotSupported ]] || fail "SPR E4: tcb_status"
verdict "go-tdx-guest v5, collateral windows disjoint" 1 collateral.validity "$D/go-tdx-guest/quote_v5_sample.dat" \
  --collateral "$D/go-tdx-guest/derived_collateral_v5_sample.json" --at 2026-02-02T00:00:00Z
for q in trustee/tdx_quote_5.dat trustee/tdx_quote_6.dat trustee/az-tdx-vtpm_td-quote.bin dcap-qvl/tdx-quote.hex \
  dcap-qvl/quote-from-tappd.hex go-tdx-guest/ccel/cos-113-tdx-quote.dat go-tdx-guest/quote_v5_sample.dat; do
  verdict "$q without collateral" 0 - "$D/$q"
done
verdict "trustee TDX quote 4 (debug TD)" 1 policy.debug "$D/trustee/tdx_quote_4.dat"
verdict "trustee occlum SGX v3 (debug enclave)" 1 policy.debug "$D/trustee/occlum_quote.dat"
echo '{"allow_debug": true, "require_collateral": false}' >debug-ok.json
verdict "occlum with a policy allowing debug" 0 - "$D/trustee/occlum_quote.dat" --policy debug-ok.json
verdict "strict policy file wants collateral" 1 policy.collateral "$D/trustee/tdx_quote_5.dat" --policy <(echo '{}')

S=$T/snp
verdict "SNP trustee report" 0 - "$S/trustee/test-report.bin" --certs "$S/trustee/test-vcek.der" --at 2025-06-01T00:00:00Z
verdict "SNP go-sev-guest report (guest policy 0xb0000: DEBUG)" 1 policy.debug "$S/go-sev-guest/attestation.bin" \
  --certs "$S/go-sev-guest/vcek.testcer" --at 2025-06-01T00:00:00Z
verdict "SNP go-sev-guest report, debug allowed" 0 - "$S/go-sev-guest/attestation.bin" \
  --certs "$S/go-sev-guest/vcek.testcer" --at 2025-06-01T00:00:00Z --policy debug-ok.json
[[ $(jq -c '.snp_reported_tcb' out.json) == '{"bootloader":2,"microcode":68,"snp":5,"tee":0}' ]] ||
  fail "go-sev-guest TCB: $(jq -c .snp_reported_tcb out.json)"
verdict "SNP virtee hex report" 0 - "$S/virtee-sev/report_milan.hex" --certs "$S/virtee-sev/vcek_milan.der" \
  --at 2025-06-01T00:00:00Z
cp "$S/trustee/test-report.bin" flipped42.bin
printf '\xff' | dd of=flipped42.bin bs=1 seek=42 conv=notrunc status=none
verdict "SNP byte 42 flipped" 1 snp.report.signature flipped42.bin --certs "$S/trustee/test-vcek.der" \
  --at 2025-06-01T00:00:00Z --platform snp
cp "$S/trustee/test-report.bin" flipped384.bin
printf '\xff' | dd of=flipped384.bin bs=1 seek=384 conv=notrunc status=none
verdict "SNP byte 384 flipped" 1 snp.tcb flipped384.bin --certs "$S/trustee/test-vcek.der" --at 2025-06-01T00:00:00Z
for bad in test-vcek-invalid-legacy.der test-vcek-invalid-new.der; do
  rc=0
  "$WARD" attest verify --json "$S/trustee/test-report.bin" --certs "$S/trustee/$bad" --at 2025-06-01T00:00:00Z \
    >out.json 2>/dev/null || rc=$?
  ((rc == 1)) && [[ $(jq -r .verdict out.json) == reject ]] || fail "$bad: exit $rc"
  pass "SNP with $bad -> reject ($(jq -r .failed_check out.json))"
done
echo '{"min_snp_tcb": {"bootloader": 2, "tee": 0, "snp": 6, "microcode": 68}, "allow_debug": true}' >snp-min.json
verdict "SNP below the policy's minimum TCB" 1 policy.snp_tcb "$S/go-sev-guest/attestation.bin" \
  --certs "$S/go-sev-guest/vcek.testcer" --at 2025-06-01T00:00:00Z --policy snp-min.json

N=$T/nvidia/trustee
verdict "H100 SPDM report" 0 - "$N/hopperAttestationReport.txt" --certs "$N/hopper_cert_chain_case1.txt" \
  --at 2025-06-01T00:00:00Z
[[ $(jq -r .report_data out.json) == 931d8dd0* && $(jq -r .platform out.json) == nvgpu ]] || fail "H100 nonce"
verdict "H100 CoCo report" 0 - "$N/hopper_coco_report1.txt" --certs "$N/hopper_coco_certs1.txt" --at 2025-06-01T00:00:00Z
[[ $(jq -r .report_data out.json) == 87d8e24a* ]] || fail "H100 CoCo nonce"
for c in 2 3 4; do
  verdict "H100 chain case $c" 1 gpu.chain "$N/hopperAttestationReport.txt" --certs "$N/hopper_cert_chain_case$c.txt" \
    --at 2025-06-01T00:00:00Z
done

# Usage errors and unreadable input exit 2 with one error line.
usage() {
  local name=$1
  shift
  local rc=0
  "$WARD" attest "$@" >/dev/null 2>err.txt || rc=$?
  ((rc == 2)) || fail "$name: exit $rc, expected 2: $(cat err.txt)"
  (($(wc -l <err.txt) == 1)) && grep -q '^ward: error: ' err.txt || fail "$name: $(cat err.txt)"
  pass "$name -> $(cat err.txt)"
}
usage "missing evidence file" verify nonexistent.bin
# Random bytes after a zero byte, which starts no format ward detects: fully
# random bytes looked like an SPDM request (0x1? 0xE0) one time in 4096.
{ printf '\0'; head -c 99 /dev/urandom; } >noise.bin
usage "unrecognisable evidence" verify noise.bin
usage "bad --at" verify "$D/dcap-qvl/tdx_quote" --at yesterday
usage "unreadable policy" verify "$D/dcap-qvl/tdx_quote" --policy nonexistent.json
echo '{"allow_debug": "yes"}' >bad-policy.json
usage "malformed policy" verify "$D/dcap-qvl/tdx_quote" --policy bad-policy.json
echo '{' >bad-collateral.json
verdict "malformed collateral" 1 collateral.parse "$D/dcap-qvl/tdx_quote" --collateral bad-collateral.json
usage "report data too long" quote --platform sim --report-data "$(printf '00%.0s' {1..65})" -o q.bin
[[ ! -e q.bin ]] || fail "a refused quote left q.bin"

# The simulated TEE: a real TDX v4 quote under Ward's NOT SECURE root.
echo -n loader-binary >loader.bin
rd=$(printf 'ab%.0s' {1..64})
"$WARD" attest quote --platform sim --report-data "$rd" --measure loader.bin -o sim.bin | grep -q SIMULATED ||
  fail "quote output does not say SIMULATED"
[[ -s sim.bin && -s sim.bin.collateral.json ]] || fail "sim quote files missing"
verdict "sim quote, default policy" 1 policy.simulated sim.bin --collateral sim.bin.collateral.json
echo '{"allow_simulated": true}' >allow-sim.json
verdict "sim quote, allow_simulated" 0 - sim.bin --collateral sim.bin.collateral.json --policy allow-sim.json
[[ $(jq -r .platform out.json) == sim && $(jq -r .simulated out.json) == true ]] || fail "sim: platform"
[[ $(jq -r .report_data out.json) == "$rd" ]] || fail "sim: report data"
mrtd=$(sha384sum loader.bin | cut -d' ' -f1)
[[ $(jq -r .measurements.mrtd out.json) == "$mrtd" ]] || fail "sim: MRTD is not SHA-384 of the measured binary"
echo "{\"allow_simulated\": true, \"measurements\": {\"mrtd\": [\"$mrtd\"]}, \"report_data\": \"$rd\"}" >pinned.json
verdict "sim quote, pinned MRTD and report data" 0 - sim.bin --collateral sim.bin.collateral.json --policy pinned.json
"$WARD" attest verify sim.bin --collateral sim.bin.collateral.json --policy allow-sim.json | grep -q 'SIMULATED' ||
  fail "text output does not say SIMULATED"
cp sim.bin sim-tampered.bin
flip_byte sim-tampered.bin $((48 + 136))
verdict "sim quote, MRTD tampered" 1 quote.signature sim-tampered.bin --collateral sim.bin.collateral.json \
  --policy allow-sim.json
verdict "sim quote, a week later" 0 - sim.bin --collateral sim.bin.collateral.json --policy allow-sim.json \
  --at "$(date -u -d '+7 days' +%Y-%m-%dT%H:%M:%SZ)"
verdict "sim quote, collateral past nextUpdate" 1 collateral.validity sim.bin --collateral sim.bin.collateral.json \
  --policy allow-sim.json --at "$(date -u -d '+31 days' +%Y-%m-%dT%H:%M:%SZ)"
echo "all attest e2e checks passed"
