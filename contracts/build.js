#!/usr/bin/env node
// Compiles contracts/WardLedger.sol and contracts/WardAnchor.sol with the
// pinned solc-js (standard JSON), each on its own, and writes
// contracts/artifacts/WardLedger.json and WardAnchor.json. The output is
// reproducible (no metadata hash), so a test can recompile and compare byte
// for byte.
//
//   node contracts/build.js           writes the artifacts
//   node contracts/build.js --check   exits 1 when an artifact is not what the sources compile to
'use strict';

const fs = require('fs');
const path = require('path');

const ROOT = path.resolve(__dirname, '..');
const SOLC_VERSION = '0.8.30';
const CONTRACT = 'WardLedger';
const SOURCES = ['WardLedger.sol', 'WardLedgerState.sol', 'WardLedgerViews.sol'];
const ARTIFACT = path.join(__dirname, 'artifacts', `${CONTRACT}.json`);
const ANCHOR = 'WardAnchor';
const ANCHOR_ARTIFACT = path.join(__dirname, 'artifacts', `${ANCHOR}.json`);

// Shanghai: BNB Chain and opBNB run it (no Cancun opcodes are needed).
const SETTINGS = {
  optimizer: { enabled: true, runs: 200 },
  evmVersion: 'shanghai',
  viaIR: true,
  metadata: { bytecodeHash: 'none', appendCBOR: false },
  outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'] } },
};

function loadSolc() {
  const dir = path.join(ROOT, '.deps', 'npm', 'node_modules', 'solc');
  const solc = require(dir);
  const version = solc.version();
  if (!version.startsWith(`${SOLC_VERSION}+`)) {
    throw new Error(`solc ${version} found in ${dir}; ${SOLC_VERSION} is pinned (scripts/setup.sh installs it)`);
  }
  return solc;
}

// Compiles `names` (files in contracts/) as one unit; solc's output.
function solcOutput(solc, names) {
  const sources = {};
  for (const name of names) {
    sources[name] = { content: fs.readFileSync(path.join(__dirname, name), 'utf8') };
  }
  const input = { language: 'Solidity', sources, settings: SETTINGS };
  const output = JSON.parse(solc.compile(JSON.stringify(input)));
  const errors = (output.errors || []).filter((e) => e.severity === 'error');
  for (const e of output.errors || []) process.stderr.write(e.formattedMessage);
  if (errors.length) throw new Error(`${errors.length} compiler error(s)`);
  return output;
}

// WardLedger's artifact, as the text written to disk.
function compile() {
  const solc = loadSolc();
  const output = solcOutput(solc, SOURCES);
  const out = output.contracts['WardLedger.sol'][CONTRACT];
  const views = output.contracts['WardLedgerViews.sol'].WardLedgerViews;
  // One ABI for the one address: the views answer through WardLedger's fallback.
  const seen = new Set(out.abi.map((e) => `${e.type} ${e.name}`));
  const abi = out.abi.concat(views.abi.filter((e) => !seen.has(`${e.type} ${e.name}`)));
  const artifact = {
    contractName: CONTRACT,
    abi,
    bytecode: '0x' + out.evm.bytecode.object,
    deployedBytecode: '0x' + out.evm.deployedBytecode.object,
    viewsDeployedBytecode: '0x' + views.evm.deployedBytecode.object,
    compiler: solc.version(),
    settings: { ...SETTINGS, outputSelection: undefined },
  };
  return JSON.stringify(artifact, null, 2) + '\n';
}

// WardAnchor's artifact (the same shape, without views), as the text written to disk.
function compileAnchor() {
  const solc = loadSolc();
  const out = solcOutput(solc, [`${ANCHOR}.sol`]).contracts[`${ANCHOR}.sol`][ANCHOR];
  const artifact = {
    contractName: ANCHOR,
    abi: out.abi,
    bytecode: '0x' + out.evm.bytecode.object,
    deployedBytecode: '0x' + out.evm.deployedBytecode.object,
    compiler: solc.version(),
    settings: { ...SETTINGS, outputSelection: undefined },
  };
  return JSON.stringify(artifact, null, 2) + '\n';
}

module.exports = { compile, compileAnchor, ARTIFACT, ANCHOR_ARTIFACT, SETTINGS };

if (require.main === module) {
  const size = (hex) => (hex.length - 2) / 2;
  const targets = [
    [ARTIFACT, compile(), (a) => `deployed code ${size(a.deployedBytecode)} bytes, views ` +
      `${size(a.viewsDeployedBytecode)} bytes (EIP-170: 24576 each); creation code ${size(a.bytecode)} bytes`],
    [ANCHOR_ARTIFACT, compileAnchor(), (a) => `deployed code ${size(a.deployedBytecode)} bytes; ` +
      `creation code ${size(a.bytecode)} bytes`],
  ];
  let stale = 0;
  for (const [file, text, describe] of targets) {
    if (process.argv.includes('--check')) {
      const stored = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
      if (stored !== text) {
        console.error(`${path.relative(ROOT, file)} is stale: run node contracts/build.js`);
        stale += 1;
      } else {
        console.log(`${path.relative(ROOT, file)} is up to date`);
      }
    } else {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, text);
      console.log(`wrote ${path.relative(ROOT, file)}: ${describe(JSON.parse(text))}`);
    }
  }
  if (stale) process.exit(1);
}
