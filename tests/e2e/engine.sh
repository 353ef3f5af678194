#!/usr/bin/env bash
# Engine images end to end: pack a directory holding a shell engine (the
# host's /bin/sh and cat with their libraries) reproducibly, inspect it, run
# it in the sandbox on two inputs with arguments, and check what it could and
# could not do; then an engine that fails, one that runs too long, a tampered
# image, and a missing bubblewrap; an engine over its output limit, and an
# existing output directory. `ward engine run` leaves no scratch files.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
command -v bwrap >/dev/null || { echo "FAIL: bwrap is missing (Debian package bubblewrap)" >&2; exit 1; }
command -v ldd >/dev/null || { echo "FAIL: ldd is missing (Debian package libc-bin)" >&2; exit 1; }

# Run as root, the engine runs as uid 65534: it must reach what it is given.
chmod 711 "$TMP"
export TMPDIR="$TMP/scratch"
mkdir -m 755 "$TMPDIR"

# copy_with_libs BINARY: into engine/ at the same path, with what ldd lists.
copy_with_libs() {
  mkdir -p "engine$(dirname "$1")"
  cp -L "$1" "engine$1"
  local lib
  for lib in $(ldd "$1" | grep -o '/[^ ]*'); do
    mkdir -p "engine$(dirname "$lib")"
    cp -L "$lib" "engine$lib"
  done
}
copy_with_libs /bin/sh
copy_with_libs /bin/cat
cat >engine/bin/engine.sh <<'EOF'
#!/bin/sh
set -e
echo "engine: starting"
args=$(cat /ward/args.json)
case "$args" in
*fail*) echo "engine: failing as asked" >&2; exit 3 ;;
*spin*) while :; do :; done ;;
*flood*)
  # Far more than its output limit, in files each under it, ignoring every error.
  i=0
  while [ $i -lt 40 ]; do
    cat /dev/zero >/ward/output/flood-$i 2>/dev/null || :
    i=$((i + 1))
  done
  exit 0
  ;;
esac
cat /ward/inputs/0/a.txt /ward/inputs/1/b.txt >/ward/output/joined.txt
printf '%s\n' "$args" >/ward/output/args.json
printf '%s\n' "$GREETING" >/ward/output/greeting.txt
if (echo x >/ward/inputs/0/evil) 2>/dev/null; then echo "engine: an input is writable"; exit 10; fi
if (echo x >/evil) 2>/dev/null; then echo "engine: / is writable"; exit 11; fi
if (echo x >/bin/evil) 2>/dev/null; then echo "engine: the image is writable"; exit 12; fi
echo "engine: done"
EOF
chmod 755 engine/bin/engine.sh

# pack: reproducible, and inspect agrees.
PACK=(engine pack engine --entrypoint /bin/sh --entrypoint /bin/engine.sh --env GREETING=hello --workdir /)
DIGEST=$("$WARD" "${PACK[@]}" -o engine.tar)
[[ $DIGEST =~ ^sha256:[0-9a-f]{64}$ ]] || fail "engine pack printed '$DIGEST'"
touch engine/bin/engine.sh
"$WARD" "${PACK[@]}" -o again.tar --json >pack.json
[[ $(jq -r .digest pack.json) == "$DIGEST" ]] || fail "packing again gave another digest: $(cat pack.json)"
same_file engine.tar again.tar "packing twice"
# (the listing is read whole: grep -q closing the pipe early would fail tar under pipefail)
listing=$(tar -tf engine.tar)
grep -qx 'oci-layout' <<<"$listing" && grep -qx 'manifest.json' <<<"$listing" ||
  fail "engine.tar is not an OCI layout with a docker manifest.json: $listing"
pass "engine pack is reproducible and writes an OCI layout tar"

"$WARD" engine inspect engine.tar --json >inspect.json
[[ $(jq -r .digest inspect.json) == "$DIGEST" ]] || fail "inspect: $(cat inspect.json)"
[[ $(jq -c .entrypoint inspect.json) == '["/bin/sh","/bin/engine.sh"]' ]] || fail "inspect entrypoint: $(cat inspect.json)"
[[ $(jq -c .env inspect.json) == '["GREETING=hello"]' && $(jq '.layers | length' inspect.json) == 1 ]] ||
  fail "inspect: $(cat inspect.json)"
"$WARD" engine inspect engine.tar | grep -q "^digest: $DIGEST\$" || fail "inspect does not print the digest"
pass "engine inspect verifies the image and shows its digest and command"

# run: inputs read-only, output written, args passed.
mkdir -m 755 in0 in1
echo "alpha" >in0/a.txt
echo "beta" >in1/b.txt
echo '{"mode": "ok"}' >args.json
"$WARD" engine run engine.tar --input in0 --input in1 --args args.json -o out --log run.log --json >run.json ||
  fail "engine run failed: $(cat run.json) $(cat run.log)"
[[ $(jq -r .outcome run.json) == exited && $(jq -r .code run.json) == 0 && $(jq -r .digest run.json) == "$DIGEST" ]] ||
  fail "engine run: $(cat run.json)"
[[ $(cat out/joined.txt) == $'alpha\nbeta' ]] || fail "joined output: $(cat out/joined.txt)"
[[ $(cat out/args.json) == '{"mode": "ok"}' && $(cat out/greeting.txt) == hello ]] || fail "args or env not passed"
grep -q "engine: done" run.log || fail "the log lacks the engine's output: $(cat run.log)"
[[ ! -e in0/evil ]] || fail "the engine wrote into an input"
[[ -z $(ls -A "$TMPDIR") ]] || fail "engine run left scratch files: $(ls -A "$TMPDIR")"
pass "engine run: inputs read-only, output and args, log captured, scratch removed"

# An engine that fails: exit 1, one error line naming its status.
echo '{"mode": "fail"}' >fail.json
expect_ward_error "a failing engine" "" 'exited with status 3' -- engine run engine.tar -o out2 --args fail.json --log fail.log
grep -q "failing as asked" fail.log || fail "the failing engine's stderr is not in the log"

# One that runs too long is killed at its time limit.
echo '{"mode": "spin"}' >spin.json
start=$SECONDS
expect_ward_error "an engine over its time limit" "" 'time limit' -- engine run engine.tar -o out3 --args spin.json --time-limit 2s --log spin.log
((SECONDS - start < 20)) || fail "the time limit did not stop the engine"
[[ -z $(ls -A "$TMPDIR") ]] || fail "a failed run left scratch files: $(ls -A "$TMPDIR")"

# An engine writing far past its output limit: refused at the limit (ENOSPC,
# SIGXFSZ), the run fails naming it, nothing is left in OUTDIR, and the disk
# under the work tree never grew by more than the limit.
echo '{"mode": "flood"}' >flood.json
# The work tree but the scratch directory (where the image is unpacked); files
# come and go while du reads, so its complaints and status are ignored.
du_now() { { du -s --block-size=1 --exclude=scratch "$TMP" 2>/dev/null || true; } | cut -f1; }
before=$(du_now)
(
  # Stops by itself once the check is over, or the script has failed and
  # removed $TMP.
  trap - ERR
  set +e
  most=$before
  while [[ ! -e flood.done && -d $TMP ]]; do
    now=$(du_now)
    ((${now:-0} > most)) && most=$now
    echo "$most" >flood.most 2>/dev/null || exit 0
    sleep 0.05
  done
) &
watcher=$!
expect_ward_error "an engine over its output limit" out5 'output.*limit' -- \
  engine run engine.tar -o out5 --args flood.json --output-limit 1M --log flood.log
touch flood.done
wait "$watcher"
grep -q 'its output exceeded its limit of 1048576 bytes (1 MiB)$' "$TMP/stderr" ||
  fail "the error does not name the limit: $(cat "$TMP/stderr")"
grew=$(($(cat flood.most) - before))
((grew <= 1048576)) || fail "the work tree grew by $grew bytes under a 1 MiB output limit"
[[ -z $(ls -A "$TMPDIR") ]] || fail "an over-limit run left scratch files: $(ls -A "$TMPDIR")"
pass "an engine over its output limit is stopped at it, and nothing of its output is left"

# -o EXISTING_DIR: the directory keeps its owner and mode (never handed to
# the sandbox's uid), and the files in it belong to the caller.
mkdir -m 750 existing
before=$(stat -c '%u:%g %a' existing)
"$WARD" engine run engine.tar --input in0 --input in1 --args args.json -o existing --log existing.log >/dev/null ||
  fail "engine run into an existing directory failed: $(cat existing.log)"
[[ $(stat -c '%u:%g %a' existing) == "$before" ]] ||
  fail "the output directory changed from $before to $(stat -c '%u:%g %a' existing)"
[[ $(cat existing/joined.txt) == $'alpha\nbeta' ]] || fail "joined output: $(cat existing/joined.txt)"
owners=$(find existing -mindepth 1 -printf '%u:%g\n' | sort -u)
[[ $owners == "$(id -un):$(id -gn)" ]] || fail "the output's files belong to $owners, not the caller"
mkdir out6
echo "mine" >out6/earlier.txt
expect_ward_error "a non-empty output directory" "" 'not empty' -- engine run engine.tar -o out6
[[ $(cat out6/earlier.txt) == mine && $(ls -A out6) == earlier.txt ]] || fail "the non-empty output was changed"
pass "engine run -o EXISTING_DIR leaves its owner and mode, and the files are the caller's"

# Without bubblewrap nothing runs.
mkdir out4
WARD_BWRAP=/nonexistent/bwrap expect_ward_error "no bubblewrap" out4 'bubblewrap' -- engine run engine.tar -o out4
pass "a failing engine, a time limit and a missing bwrap are errors, and nothing ran unsandboxed"

# A tampered image is refused, naming what failed.
mkdir layout
tar -xf engine.tar -C layout
CONFIG=$(jq -r '.[0].Config' layout/manifest.json)
cp -r layout tampered
echo ' ' >>"tampered/$CONFIG"
expect_ward_error "a tampered config" "" 'does not match its digest' -- engine inspect tampered
LAYER=$(jq -r '.[0].Layers[0]' layout/manifest.json)
cp -r layout bad-layer
flip_byte "bad-layer/$LAYER" 100
expect_ward_error "a tampered layer" "" 'layer 1 of 1' -- engine inspect bad-layer
[[ $("$WARD" engine inspect layout --json | jq -r .digest) == "$DIGEST" ]] || fail "the extracted layout reads differently"
pass "engine inspect reads the layout as a directory and refuses tampering"
