#!/usr/bin/env node
// The JavaScript peer of attest_bench's dcap.verify_quote row: @phala/dcap-qvl
// (scripts/setup.sh installs it into .deps/npm) verifying dcap-qvl's TDX quote
// with the same collateral at the same time, 2025-07-01T00:00:00Z. Its
// verify(quote, collateral, nowSecs) takes the time as a third argument, in
// seconds since the epoch, and the collateral as the parsed JSON object of
// tdx_quote_collateral.json (hex strings and PEM text, its own schema).
//
// Method, as attest_bench's: a warm-up round (the JIT compiles the hot
// paths), then R rounds of at least S seconds each; the rate of a round is
// verifications divided by its wall time; best and median are printed. The
// first verification must report UpToDate, and every later one must return.
//
// usage: node bench/dcap_qvl_peer.js [--rounds R] [--round-seconds S] [--testdata DIR]
//   defaults 5, 0.5 and ../shared/testdata/attestation, relative to the repository root
'use strict';

const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const modulePath = path.join(root, '.deps/npm/node_modules/@phala/dcap-qvl');

function die(message) {
  process.stderr.write(`dcap_qvl_peer: ${message}\n`);
  process.exit(1);
}

function parseOptions(argv) {
  const o = { rounds: 5, roundSeconds: 0.5, testdata: path.resolve(root, '../shared/testdata/attestation') };
  for (let i = 0; i < argv.length; i++) {
    const value = argv[i + 1];
    if (argv[i] === '--rounds' && value !== undefined && Number(value) > 0) {
      o.rounds = Math.floor(Number(value));
    } else if (argv[i] === '--round-seconds' && value !== undefined && Number(value) > 0) {
      o.roundSeconds = Number(value);
    } else if (argv[i] === '--testdata' && value !== undefined) {
      o.testdata = path.resolve(value);
    } else {
      die('usage: node bench/dcap_qvl_peer.js [--rounds R] [--round-seconds S] [--testdata DIR]');
    }
    i++;
  }
  return o;
}

function runRound(verifyOnce, seconds) {
  const limit = BigInt(Math.round(seconds * 1e9));
  const start = process.hrtime.bigint();
  let n = 0;
  let elapsed;
  do {
    verifyOnce();
    n++;
    elapsed = process.hrtime.bigint() - start;
  } while (elapsed < limit);
  return n / (Number(elapsed) / 1e9);
}

function main() {
  const o = parseOptions(process.argv.slice(2));
  if (!fs.existsSync(path.join(modulePath, 'package.json'))) {
    die(`${modulePath} is missing: run scripts/setup.sh`);
  }
  const dcapQvl = require(modulePath);
  const version = JSON.parse(fs.readFileSync(path.join(modulePath, 'package.json'), 'utf8')).version;

  const dir = path.join(o.testdata, 'tdx-sgx/dcap-qvl');
  const quote = new Uint8Array(fs.readFileSync(path.join(dir, 'tdx_quote')));
  const collateral = JSON.parse(fs.readFileSync(path.join(dir, 'tdx_quote_collateral.json'), 'utf8'));
  const now = Date.UTC(2025, 6, 1) / 1000;

  const first = dcapQvl.verify(quote, collateral, now);
  if (first.status !== 'UpToDate') die(`the quote verifies as ${first.status}, not UpToDate`);

  const verifyOnce = () => dcapQvl.verify(quote, collateral, now);
  console.log(`dcap_qvl_peer: @phala/dcap-qvl ${version} on node ${process.version}; ` +
              `${o.rounds} rounds of >= ${o.roundSeconds.toFixed(2)} s after a warm-up round; status ${first.status}`);
  runRound(verifyOnce, o.roundSeconds);
  const rates = [];
  for (let round = 0; round < o.rounds; round++) rates.push(runRound(verifyOnce, o.roundSeconds));
  rates.sort((a, b) => a - b);
  const n = rates.length;
  const best = rates[n - 1];
  const median = n % 2 ? rates[(n - 1) / 2] : (rates[n / 2 - 1] + rates[n / 2]) / 2;
  console.log(`${'row'.padEnd(28)} ${'ops/s best'.padStart(12)} ${'ops/s median'.padStart(12)} ` +
              `${'us/op best'.padStart(10)}`);
  console.log(`${'dcap_qvl.verify'.padEnd(28)} ${best.toFixed(1).padStart(12)} ${median.toFixed(1).padStart(12)} ` +
              `${(1e6 / best).toFixed(1).padStart(10)}`);
}

main();
