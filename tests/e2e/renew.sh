#!/usr/bin/env bash
# Long-running CVMs renew their certificate (cvms.update), through the real
# binaries: a certification center whose certificates last 20 s, a node whose
# loader renews 12 s before the end, and a service started on the CVM. The
# ledger comes to list the CVM with a certificate that expires later than the
# one the service started with; once that one has expired, `ward serve
# verify` and `ward proxy` still accept the service (its chain carries the
# renewed certificate), a grant to the CVM is still made (from the ledger's
# certificate), the final report verifies, and replaying the ledger gives
# its state.
: "${WARD_TEST_ENGINE:?set WARD_TEST_ENGINE to the static test engine}"
WARD_TEST_ENGINE=$(realpath "$WARD_TEST_ENGINE")
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LOADER=$(dirname "$WARD")/ward-loader
[[ -x $LOADER ]] || fail "no ward-loader next to $WARD"
command -v curl >/dev/null || fail "curl is missing (Debian package curl)"
command -v openssl >/dev/null || fail "openssl is missing (Debian package openssl)"
((EUID == 0)) || { echo "skip: serving needs root (the loader enters the engine's network namespace)"; exit 0; }
# The sandbox runs as an unprivileged uid: it must reach the work directories.
chmod 711 "$TMP"

NODE=
PROXY=
cleanup() {
  trap - ERR
  set +e
  [[ -z $PROXY ]] || { kill "$PROXY"; wait "$PROXY"; } 2>/dev/null
  [[ -z $NODE ]] || { kill "$NODE"; wait "$NODE"; } 2>/dev/null
  stop_servers
  rm -rf "$TMP"
}
trap cleanup EXIT

start_ledger_and_ca --validity 20s
for p in carol provider; do
  "$WARD" keys new -o "$p.key" >/dev/null 2>&1
  "$WARD" accounts register --ledger "$L" --key "$p.key" --name "$p" >/dev/null
done
"$WARD" accounts fund --ledger "$L" --key carol.key \
  --to "$("$WARD" keys show --json carol.key | jq -r .signing_public_key)" --amount 1000 >/dev/null
STORE=$TMP/store

start_sim_node --memory-limit 256 --renew-before 12
# listed_until: when the certificate the ledger lists for the CVM ends, in Unix seconds.
listed_until() { date -d "$("$WARD" node cvms --ledger "$L" --json | jq -r '.cvms[0].certificate_not_after')" +%s; }

# A public service: the test engine answering /ping.
mkdir payload
cp "$WARD_TEST_ENGINE" payload/engine
"$WARD" engine pack payload --entrypoint /engine --cmd serve --cmd 8080 --serve-port 8080 -o serve.tar >/dev/null
"$WARD" files upload serve.tar --key carol.key --store "$STORE" -o serve.res.json >/dev/null
ENGINE=$(jq -r .resource.engine serve.res.json)
grant() { # grant OUT
  "$WARD" files grant serve.res.json --key carol.key --ledger "$L" --cvm "$CVM" --engine "$ENGINE" --serve \
    --ca-cert ca/ca.pem --policy policy.json -o "$1"
}
grant g.json >/dev/null
ID=$("$WARD" orders create --ledger "$L" --key carol.key --cvm "$CVM" --engine serve.res.json --grant g.json \
  --serve --access public --deposit 10 --store "$STORE" --json | jq -r .order)
for ((i = 0; i < 300; i++)); do
  ENDPOINT=$("$WARD" orders get "$ID" --ledger "$L" --json | jq -r '.serve.endpoint // empty')
  [[ -n $ENDPOINT ]] && break
  sleep 0.1
done
[[ -n $ENDPOINT ]] || fail "order $ID did not start serving: $(tail -20 node.out)"
# The CVM certificate the service started with, as its start report carries it.
curl -sf "$L/v1/start-reports/$ID" | jq -r .report | jq -r .report.certificate >started.pem
STARTED_UNTIL=$(date -d "$(openssl x509 -in started.pem -noout -enddate | cut -d= -f2)" +%s)
verify() { # verify OUT: ward serve verify of the service
  "$WARD" serve verify "$ENDPOINT" --ledger "$L" --ca-cert ca/ca.pem --policy policy.json --engine "$ENGINE" \
    >"$1" 2>&1 || fail "serve verify: $(cat "$1"; tail -5 node.out)"
}
verify verify-before.txt
: >proxy.out
"$WARD" proxy --to "$ENDPOINT" --ledger "$L" --ca-cert ca/ca.pem --policy policy.json --engine "$ENGINE" \
  >proxy.out 2>proxy.err &
PROXY=$!
for ((i = 0; i < 100; i++)); do
  [[ -s proxy.out ]] && break
  sleep 0.1
done
PROXY_URL=$(head -n1 proxy.out)
[[ $(curl -sf "$PROXY_URL/ping") == pong ]] || fail "ping through the proxy: $(cat proxy.err)"
pass "service order $ID serves at $ENDPOINT with a CVM certificate valid until $(date -u -d "@$STARTED_UNTIL" +%T)"

# The loader renews before the end; the ledger lists the renewed certificate.
for ((i = 0; i < 300; i++)); do
  LISTED_UNTIL=$(listed_until)
  ((LISTED_UNTIL > STARTED_UNTIL)) && break
  sleep 0.1
done
((LISTED_UNTIL > STARTED_UNTIL)) || fail "the ledger still lists the first certificate: $(tail -20 node.out)"
grep -q 'renewed the CVM certificate' node.out || fail "the loader did not say it renewed: $(tail -20 node.out)"
pass "the ledger lists the CVM with a renewed certificate, valid until $(date -u -d "@$LISTED_UNTIL" +%T)"

# Once the certificate the service started with has expired, the service
# still verifies: its chain carries the renewed one.
while (($(date +%s) <= STARTED_UNTIL + 1)); do sleep 0.2; done
openssl x509 -in started.pem -noout -checkend 0 >/dev/null && fail "the first certificate has not expired"
verify verify-after.txt
grep -q 'ok    cert.chain' verify-after.txt || fail "serve verify: $(cat verify-after.txt)"
[[ $(curl -sf "$PROXY_URL/ping") == pong ]] || fail "ping through the proxy after the expiry: $(cat proxy.err)"
grant g2.json >grant.out 2>&1 || fail "a grant to the CVM after the expiry: $(cat grant.out)"
pass "after the first certificate expired: serve verify, the proxy and a new grant accept the CVM"

# Nothing else broke: the service ends with a final report that verifies
# (it carries the renewed certificate), and the ledger replays.
"$WARD" orders cancel "$ID" --ledger "$L" --key carol.key >/dev/null
"$WARD" orders wait "$ID" --ledger "$L" --timeout 60 >wait.out || fail "the service did not end: $(cat wait.out)"
"$WARD" orders verify "$ID" --ledger "$L" --ca-cert ca/ca.pem --policy policy.json --resources serve.res.json \
  >verify-final.txt || fail "orders verify: $(cat verify-final.txt)"
grep -q 'verdict: verified (SIMULATED' verify-final.txt || fail "orders verify: $(cat verify-final.txt)"
kill "$PROXY"
wait "$PROXY" 2>/dev/null || true
PROXY=
kill -TERM "$NODE"
wait "$NODE" || fail "ward node run did not stop cleanly: $(tail -3 node.out)"
NODE=
UPDATES=$("$WARD" ledger records --ledger "$L" --json | jq '[.records[].record.tx | select(.type == "cvms.update")] | length')
((UPDATES >= 1)) || fail "no cvms.update on the ledger"
"$WARD" ledger verify --db l.db >ledger-verify.txt || fail "ledger verify: $(cat ledger-verify.txt)"
pass "the final report verifies; $UPDATES cvms.update on the ledger, which replays to its state"
