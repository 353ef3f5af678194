#!/usr/bin/env node
// WardAnchor on a local anvil: the artifact rebuilt byte for byte, anchors
// stored and logged (Anchored, with the block's time), and each refusal with
// its custom error: a size of 0, a size not larger than the last (NotLater),
// a note over 4 KiB. Anchors of two ledger ids do not interfere. Prints the
// gas of an anchor. Exits non-zero on any failure.
'use strict';

const assert = require('assert');
const crypto = require('crypto');
const fs = require('fs');

const abi = require('./abi');
const { mined, rpc, startAnvil, stopAnvil } = require('./anvil');
const build = require('../build');

const ARTIFACT = JSON.parse(fs.readFileSync(build.ANCHOR_ARTIFACT, 'utf8'));

const entry = (type, name) => ARTIFACT.abi.find((e) => e.type === type && e.name === name);
const errors = {};
for (const e of ARTIFACT.abi.filter((e) => e.type === 'error')) errors[abi.selector(e).toString('hex')] = e;
const calldata = (f, args) => '0x' + Buffer.concat([abi.selector(f), abi.encodeList(f.inputs, args)]).toString('hex');



let contract;
let from;
const gas = [];
const rand32 = () => '0x' + crypto.randomBytes(32).toString('hex');

// anchor(...) as a transaction; its receipt, or the custom error it is refused with.
async function anchor(ledgerId, size, root, note) {
  const tx = { from, to: contract, data: calldata(entry('function', 'anchor'), [ledgerId, size, root, note]) };
  try {
    await rpc('eth_call', [tx, 'latest']);
  } catch (e) {
    const hex = (e.data || '').replace(/^0x/, '');
    const err = errors[hex.slice(0, 8)];
    if (!err) throw new Error(`anchor: unknown revert 0x${hex}`);
    return { error: err.name, args: abi.decodeList(err.inputs, Buffer.from(hex.slice(8), 'hex')) };
  }
  const receipt = await mined(await rpc('eth_sendTransaction', [{ ...tx, gas: '0x100000' }]));
  assert.strictEqual(receipt.status, '0x1', 'anchor reverted on chain');
  gas.push(Number(receipt.gasUsed));
  return receipt;
}

async function last(ledgerId) {
  const f = entry('function', 'last');
  const out = await rpc('eth_call', [{ to: contract, data: calldata(f, [ledgerId]) }, 'latest']);
  const [size, time, root] = abi.decodeList(f.outputs, Buffer.from(out.slice(2), 'hex'));
  return { size, time, root };
}

const tests = [];
const test = (name, body) => tests.push({ name, body });

test('artifact: rebuilt byte for byte', async () => {
  assert.strictEqual(build.compileAnchor(), fs.readFileSync(build.ANCHOR_ARTIFACT, 'utf8'),
                     'contracts/artifacts/WardAnchor.json is stale');
  const code = await rpc('eth_getCode', [contract, 'latest']);
  assert.strictEqual(code, ARTIFACT.deployedBytecode, 'deployed code');
});

test('an anchor is stored and logged with its block time', async () => {
  const id = rand32();
  const root = rand32();
  const note = Buffer.from('ward-ledger/abc\n3\nroot\n\n— ward-ledger/abc sig\n');
  const receipt = await anchor(id, 3, root, note);
  const block = await rpc('eth_getBlockByNumber', [receipt.blockNumber, false]);
  const log = receipt.logs[0];
  assert.strictEqual(log.topics[0], '0x' + abi.keccak('Anchored(bytes32,uint64,bytes32,uint64,bytes)').toString('hex'));
  assert.strictEqual(log.topics[1], id);
  const ev = entry('event', 'Anchored');
  const [size, r, time, n] = abi.decodeList(ev.inputs.filter((i) => !i.indexed), Buffer.from(log.data.slice(2), 'hex'));
  assert.deepStrictEqual([size, r, time], [3n, root, BigInt(block.timestamp)]);
  assert.strictEqual(Buffer.from(n.slice(2), 'hex').toString(), note.toString());
  assert.deepStrictEqual(await last(id), { size: 3n, time: BigInt(block.timestamp), root });
});

test('refusals: size 0, not later (equal, smaller), a note over 4 KiB', async () => {
  const id = rand32();
  assert.deepStrictEqual(await anchor(id, 0, rand32(), Buffer.from('x')), { error: 'EmptyLog', args: [] });
  await anchor(id, 5, rand32(), Buffer.from('x'));
  assert.deepStrictEqual(await anchor(id, 5, rand32(), Buffer.from('x')), { error: 'NotLater', args: [5n, 5n] });
  assert.deepStrictEqual(await anchor(id, 4, rand32(), Buffer.from('x')), { error: 'NotLater', args: [4n, 5n] });
  assert.deepStrictEqual(await anchor(id, 6, rand32(), Buffer.alloc(4097, 0x61)),
                         { error: 'NoteTooLong', args: [4097n] });
  await anchor(id, 6, rand32(), Buffer.alloc(4096, 0x61));
  assert.strictEqual((await last(id)).size, 6n);
});

test('ledger ids are independent', async () => {
  const a = rand32();
  const b = rand32();
  await anchor(a, 10, rand32(), Buffer.from('a'));
  await anchor(b, 1, rand32(), Buffer.from('b'));
  assert.strictEqual((await last(a)).size, 10n);
  assert.strictEqual((await last(b)).size, 1n);
});

async function main() {
  let failed = 0;
  const anchorGas = [];
  try {
    await startAnvil(['--chain-id', '31337', '--timestamp', '1767225600']);
    [from] = await rpc('eth_accounts');
    const receipt = await mined(await rpc('eth_sendTransaction', [{ from, data: ARTIFACT.bytecode, gas: '0x1000000' }]));
    assert.strictEqual(receipt.status, '0x1', 'deployment');
    contract = receipt.contractAddress;
    console.log(`deploy: ${Number(receipt.gasUsed)} gas`);
    for (const t of tests) {
      try {
        const before = gas.length;
        await t.body();
        if (t.name.startsWith('an anchor')) anchorGas.push(...gas.slice(before));
        console.log(`ok   ${t.name}`);
      } catch (e) {
        failed += 1;
        console.log(`FAIL ${t.name}\n     ${e.stack.split('\n').slice(0, 3).join('\n     ')}`);
      }
    }
  } catch (e) {
    failed += 1;
    console.log(`FAIL setup: ${e.stack}`);
  } finally {
    stopAnvil();
  }
  if (gas.length) {
    console.log(`\ngas of anchor(): ${Math.min(...gas)} .. ${Math.max(...gas)} over ${gas.length} calls` +
                ` (the first anchor of a ledger, a short note: ${anchorGas.join(', ')})`);
  }
  console.log(`${tests.length - failed} of ${tests.length} tests passed`);
  process.exit(failed ? 1 : 0);
}

main();
