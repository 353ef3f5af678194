#!/usr/bin/env node
// Compiles contracts/WardLedger.sol with the pinned solc-js (standard JSON)
// and writes contracts/artifacts/WardLedger.json. The output is reproducible
// (no metadata hash), so a test can recompile and compare byte for byte.
//
//   node contracts/build.js           writes the artifact
//   node contracts/build.js --check   exits 1 when the artifact is not what the sources compile to
'use strict';

const fs = require('fs');
const path = require('path');

const ROOT = path.resolve(__dirname, '..');
const SOLC_VERSION = '0.8.30';
const CONTRACT = 'WardLedger';
const SOURCES = ['WardLedger.sol', 'WardLedgerState.sol', 'WardLedgerViews.sol'];
const ARTIFACT = path.join(__dirname, 'artifacts', `${CONTRACT}.json`);

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

// The artifact the sources compile to, as the text written to disk.
function compile() {
  const solc = loadSolc();
  const sources = {};
  for (const name of SOURCES) {
    sources[name] = { content: fs.readFileSync(path.join(__dirname, name), 'utf8') };
  }
  const input = { language: 'Solidity', sources, settings: SETTINGS };
  const output = JSON.parse(solc.compile(JSON.stringify(input)));
  const errors = (output.errors || []).filter((e) => e.severity === 'error');
  for (const e of output.errors || []) process.stderr.write(e.formattedMessage);
  if (errors.length) throw new Error(`${errors.length} compiler error(s)`);
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

module.exports = { compile, ARTIFACT, SETTINGS };

if (require.main === module) {
  const text = compile();
  if (process.argv.includes('--check')) {
    const stored = fs.existsSync(ARTIFACT) ? fs.readFileSync(ARTIFACT, 'utf8') : '';
    if (stored !== text) {
      console.error(`${path.relative(ROOT, ARTIFACT)} is stale: run node contracts/build.js`);
      process.exit(1);
    }
    console.log(`${path.relative(ROOT, ARTIFACT)} is up to date`);
  } else {
    fs.mkdirSync(path.dirname(ARTIFACT), { recursive: true });
    fs.writeFileSync(ARTIFACT, text);
    const a = JSON.parse(text);
    const size = (hex) => (hex.length - 2) / 2;
    console.log(`wrote ${path.relative(ROOT, ARTIFACT)}: deployed code ${size(a.deployedBytecode)} bytes, ` +
                `views ${size(a.viewsDeployedBytecode)} bytes (EIP-170: 24576 each); creation code ${size(a.bytecode)} bytes`);
  }
}
