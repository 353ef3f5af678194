# Shared setup for the ledger e2e scripts (sourced after lib.sh): starting a
# `ward ledger serve` that is stopped on exit, and building and signing
# transactions without Ward (jq for the canonical JSON, openssl for Ed25519),
# as any other tool would.
command -v curl >/dev/null || { echo "FAIL: curl is missing (Debian package curl)" >&2; exit 1; }
command -v openssl >/dev/null || { echo "FAIL: openssl is missing (Debian package openssl)" >&2; exit 1; }
command -v xxd >/dev/null || { echo "FAIL: xxd is missing (Debian package xxd)" >&2; exit 1; }

trap 'stop_servers; rm -rf "$TMP"' EXIT

# start_server DB: serves DB on a free port of 127.0.0.1 and sets URL.
start_server() { start_ward_server ledger serve --db "$1"; }

# ossl_key NAME: a fresh Ed25519 key in NAME.pem; prints its public key (hex).
ossl_key() {
  openssl genpkey -algorithm ed25519 -out "$1.pem" 2>/dev/null
  openssl pkey -in "$1.pem" -pubout -outform DER | tail -c 32 | xxd -p -c 64
}

# sign_tx PEM TX_JSON: prints the envelope {"sig", "tx"}. The signed bytes are
# "ward/ledger/tx/v1\n" and the canonical tx (jq -cS: keys sorted, compact).
sign_tx() {
  local pem=$1 tx
  tx=$(jq -cS . <<<"$2")
  printf 'ward/ledger/tx/v1\n%s' "$tx" >"$TMP/tx.msg"
  openssl pkeyutl -sign -inkey "$pem" -rawin -in "$TMP/tx.msg" -out "$TMP/tx.sig"
  jq -cn --argjson tx "$tx" --arg sig "$(base64 -w0 <"$TMP/tx.sig")" '{sig: $sig, tx: $tx}'
}

# sign_report PEM REPORT_JSON: prints the signed integrity report
# {"report", "sig"} as a CVM's loader makes it: the signed bytes are
# "ward/report/v1\n" and the canonical report object; sig is hex.
sign_report() {
  local pem=$1 report
  report=$(jq -cS . <<<"$2")
  printf 'ward/report/v1\n%s' "$report" >"$TMP/report.msg"
  openssl pkeyutl -sign -inkey "$pem" -rawin -in "$TMP/report.msg" -out "$TMP/report.sig"
  jq -cn --argjson report "$report" --arg sig "$(xxd -p -c 64 <"$TMP/report.sig")" '{report: $report, sig: $sig}'
}

# tx LEDGER_ID SENDER_HEX NONCE TYPE ARGS_JSON: a transaction object.
tx() {
  jq -cn --arg l "$1" --arg s "$2" --argjson n "$3" --arg t "$4" --argjson a "$5" \
    '{v: 1, ledger: $l, sender: $s, nonce: $n, type: $t, args: $a}'
}

# verify_note_openssl NOTE_FILE VERIFIER_KEY: checks a C2SP signed note's
# Ed25519 signature with openssl alone; prints the note's body.
verify_note_openssl() {
  local note=$1 vkey=$2 name keyid key body sigline sig
  # Split by hand: `IFS=+ read` drops a trailing "+", which ends the base64
  # key one time in 64.
  name=${vkey%%+*}
  keyid=${vkey#*+}
  key=${keyid#*+}
  keyid=${keyid%%+*}
  body=$(sed '/^$/,$d' "$note")
  printf '%s\n' "$body" >"$TMP/note.body"
  sigline=$(grep -F -- "— $name " "$note") || fail "no signature by $name in the note"
  sig=$(base64 -d <<<"${sigline##* }" | xxd -p -c 200)
  [[ ${sig:0:8} == "$keyid" ]] || fail "note signature key ID ${sig:0:8} is not $keyid"
  xxd -r -p <<<"${sig:8}" >"$TMP/note.sig"
  local pub
  pub=$(base64 -d <<<"$key" | xxd -p -c 100)
  [[ ${pub:0:2} == 01 ]] || fail "verifier key is not an Ed25519 (0x01) key"
  # SubjectPublicKeyInfo for Ed25519: a fixed DER prefix, then the 32 bytes.
  xxd -r -p <<<"302a300506032b6570032100${pub:2}" >"$TMP/note.pub.der"
  openssl pkeyutl -verify -pubin -inkey "$TMP/note.pub.der" -keyform DER -rawin -in "$TMP/note.body" \
    -sigfile "$TMP/note.sig" >/dev/null || fail "openssl: the note's signature does not verify"
  cat "$TMP/note.body"
}

sha256_hex() { openssl dgst -sha256 -binary | xxd -p -c 64; }
node_hash() { printf '01%s%s' "$1" "$2" | xxd -r -p | sha256_hex; }

# merkle_root_from_inclusion INDEX SIZE LEAF_HEX PROOF_HEX...: the root the
# RFC 9162 section 2.1.3.2 algorithm computes.
merkle_root_from_inclusion() {
  local fn=$1 sn=$(($2 - 1)) r=$3
  shift 3
  local p
  for p in "$@"; do
    ((sn != 0)) || fail "inclusion proof too long"
    if ((fn & 1)) || ((fn == sn)); then
      r=$(node_hash "$p" "$r")
      if ! ((fn & 1)); then
        while ! ((fn & 1)) && ((fn != 0)); do
          fn=$((fn >> 1))
          sn=$((sn >> 1))
        done
      fi
    else
      r=$(node_hash "$r" "$p")
    fi
    fn=$((fn >> 1))
    sn=$((sn >> 1))
  done
  ((sn == 0)) || fail "inclusion proof too short"
  echo "$r"
}
