#!/usr/bin/env node
// WardLedger on a local anvil: every rule of src/ledger/contract.cpp, its
// happy path and each refusal (custom error and arguments), settlement
// arithmetic, conservation of tokens after every accepted call, the
// byte-for-byte rebuild of the checked-in artifact and EIP-170's size limit.
// Prints gas tables: per function, and a three-party order's steps, each
// broken down by what it paid for. Exits non-zero on any failure.
'use strict';

const assert = require('assert');
const crypto = require('crypto');
const fs = require('fs');

const abi = require('./abi');
const { mined, rpc, startAnvil, stopAnvil } = require('./anvil');
const build = require('../build');

const ARTIFACT = JSON.parse(fs.readFileSync(build.ARTIFACT, 'utf8'));
const MAX = (1n << 63n) - 1n;
const EIP170 = 24576;

// --- the ABI, by name ---
const functions = {};
const errors = {};
for (const e of ARTIFACT.abi) {
  if (e.type === 'function') functions[e.name] = (functions[e.name] || []).concat([e]);
  if (e.type === 'error') errors[abi.selector(e).toString('hex')] = e;
}
function fn(name, arity) {
  // "name" or, for an overloaded one, "name(types)"
  const list = functions[name.split('(')[0]];
  if (!list) throw new Error(`no function ${name}`);
  if (name.includes('(')) return list.find((e) => abi.signature(e) === name);
  return arity === undefined ? list[0] : list.find((e) => e.inputs.length === arity);
}
const calldata = (f, args) => '0x' + Buffer.concat([abi.selector(f), abi.encodeList(f.inputs, args)]).toString('hex');

// --- anvil ---



// --- calls ---
let ledger; // address
let addrs; // anvil's dev accounts
const gas = {}; // function name -> [gas used]

function decodeError(data) {
  const hex = (data || '').replace(/^0x/, '');
  const e = errors[hex.slice(0, 8)];
  if (!e) return { name: `unknown revert 0x${hex}`, args: [] };
  return { name: e.name, args: abi.decodeList(e.inputs, Buffer.from(hex.slice(8), 'hex')) };
}

async function view(name, args = [], arity) {
  const f = fn(name, arity === undefined ? args.length : arity);
  const out = await rpc('eth_call', [{ to: ledger, data: calldata(f, args) }, 'latest']);
  const values = abi.decodeList(f.outputs, Buffer.from(out.slice(2), 'hex'));
  return values.length === 1 ? values[0] : values;
}

// Sends an accepted call; returns its receipt. The call is checked to be
// accepted by eth_call first, so a refusal reports its error. Both eth_calls
// here run on the pending block, at the time the next transaction is mined
// (`at`), so time rules are judged as they would be on chain.
async function send(from, name, args = [], arity) {
  const f = fn(name, arity === undefined ? args.length : arity);
  const tx = { from, to: ledger, data: calldata(f, args) };
  try {
    await rpc('eth_call', [tx, 'pending']);
  } catch (e) {
    const d = decodeError(e.data);
    throw new Error(`${name} refused: ${d.name}(${d.args.join(', ')})`);
  }
  const hash = await rpc('eth_sendTransaction', [{ ...tx, gas: '0x1c9c380' }]);
  const receipt = await mined(hash);
  if (receipt.status !== '0x1') throw new Error(`${name} reverted on chain`);
  (gas[name] = gas[name] || []).push(Number(receipt.gasUsed));
  await checkConservation();
  return receipt;
}

// A refusal: the custom error `error` with `expected` arguments (strings
// and numbers compared as the test wrote them).
async function refused(from, name, args, error, expected) {
  const f = fn(name, args.length);
  try {
    await rpc('eth_call', [{ from, to: ledger, data: calldata(f, args) }, 'pending']);
  } catch (e) {
    const d = decodeError(e.data);
    assert.strictEqual(d.name, error, `${name}: expected ${error}, got ${d.name}(${d.args.join(', ')})`);
    if (expected) {
      const norm = (v) => (typeof v === 'string' ? v.toLowerCase() : BigInt(v));
      assert.deepStrictEqual(d.args.map(norm), expected.map(norm), `${name}: ${error} arguments`);
    }
    return;
  }
  throw new Error(`${name}: expected ${error}, but it was accepted`);
}

// A transaction's gas by what it paid for, from anvil's step trace
// (--steps-tracing): the intrinsic 21,000, calldata (16 a non-zero byte, 4 a
// zero one), SSTORE (net of the refund, which only SSTORE earns here), SLOAD,
// LOG0-4 and everything else. An opcode's cost is the gas it took before the
// next opcode of its frame; a call's leaves out what its callee's opcodes
// took (those are counted as theirs). The parts must add up to gasUsed.
const GAS_PARTS = ['intrinsic', 'calldata', 'SSTORE', 'SLOAD', 'LOG*', 'other'];
async function gasBreakdown(receipt) {
  const hash = receipt.transactionHash;
  const input = Buffer.from((await rpc('eth_getTransactionByHash', [hash])).input.slice(2), 'hex');
  const zeros = input.filter((b) => b === 0).length;
  const parts = { intrinsic: 21000, calldata: 16 * (input.length - zeros) + 4 * zeros, SSTORE: 0, SLOAD: 0, 'LOG*': 0, other: 0 };
  const steps = (await rpc('debug_traceTransaction', [hash, { disableStack: true, disableStorage: true, enableMemory: false }])).structLogs;
  const open = []; // calls whose callee runs: the call's step and what the callee's steps took
  const cost = new Array(steps.length).fill(0);
  for (let i = 0; i < steps.length; ++i) {
    const s = steps[i];
    const next = steps[i + 1];
    if (next && next.depth > s.depth) {
      open.push({ at: i, took: 0 });
      continue;
    }
    cost[i] = next && next.depth === s.depth ? s.gas - next.gas : s.gasCost;
    if (open.length) open.at(-1).took += cost[i];
    if (next && next.depth < s.depth) {
      const call = open.pop();
      cost[call.at] = steps[call.at].gas - next.gas - call.took;
      if (open.length) open.at(-1).took += call.took + cost[call.at];
    }
  }
  steps.forEach((s, i) => {
    const part = s.op === 'SSTORE' || s.op === 'SLOAD' ? s.op : s.op.startsWith('LOG') ? 'LOG*' : 'other';
    parts[part] += cost[i];
  });
  const spent = GAS_PARTS.reduce((n, k) => n + parts[k], 0);
  const refund = Math.min(steps.length ? steps.at(-1).refund || 0 : 0, Math.floor(spent / 5)); // EIP-3529
  parts.SSTORE -= refund;
  assert.strictEqual(spent - refund, Number(receipt.gasUsed), `gas parts of ${hash} add up to gasUsed`);
  return parts;
}

// --- the world ---
const known = new Set(); // account ids, for conservation
async function checkConservation() {
  const [, supply, escrow] = await view('totals');
  let sum = 0n;
  for (const id of known) sum += (await view('account', [id])).balance;
  assert.strictEqual(sum + escrow, supply, `conservation: balances ${sum} + escrow ${escrow} != supply ${supply}`);
  assert.strictEqual(await view('balanceOf', [ledger]), escrow, 'balanceOf(ledger) is the escrow');
}

const rand32 = () => '0x' + crypto.randomBytes(32).toString('hex');
const sha256 = (hex) => '0x' + crypto.createHash('sha256').update(Buffer.from(hex.slice(2), 'hex')).digest('hex');
const sha256b = (buf) => '0x' + crypto.createHash('sha256').update(buf).digest('hex');
const word = (n) => '0x' + BigInt(n).toString(16).padStart(64, '0');
const wordAddr = (a) => '0x' + a.slice(2).padStart(64, '0');
const binding = '0x' + '11'.repeat(64);
const recipient = (tag) => 'age1' + tag.padEnd(58, 'q');

let nextAddr = 0;
function newAddr() {
  if (nextAddr >= addrs.length) throw new Error('out of anvil accounts');
  return addrs[nextAddr++];
}

async function newAccount(label, funds = 0n) {
  const address = newAddr();
  const id = rand32();
  await send(address, 'register', [id, recipient(label), label, binding]);
  known.add(id);
  if (funds > 0n) await send(address, 'fund', [id, funds]);
  return { address, id, label };
}

const PRICE = (model, amount = 0, bps = 0) => ({ model, amount, bps });
const FIXED = (n) => PRICE(0, n);
const PER_HOUR = (n) => PRICE(1, n);
const SHARE = (bps) => PRICE(2, 0, bps);

async function newOffer(owner, kind, price, timeout = 0) {
  const r = await send(owner.address, 'createOffer', [kind, `offer of ${owner.label}`, 'res://x', price, timeout]);
  return BigInt(r.logs.at(-1).topics[1]);
}

const CERT = Buffer.alloc(800, 'C'); // a PEM certificate's size
let ledgerIdHex;

const NO_RES = { present: false, cores: 0, memoryMib: 0, gpus: 0 };
const RES = (cores, memoryMib, gpus) => ({ present: true, cores, memoryMib, gpus });

async function newCvm(provider, teeOffer, resources = NO_RES) {
  const key = rand32();
  const address = newAddr();
  const recip = recipient('cvm' + key.slice(2, 8));
  await send(provider.address, 'registerCvm', [key, address, binding, recip, CERT, teeOffer, 0, resources]);
  known.add(key);
  return { key, address, id: sha256(key), recipient: recip };
}

const NO_SERVE = { present: false, access: 0, accounts: [], perRequest: 0, per1kTokens: 0 };
function orderArgs(cvm, offers, deposit, serve = NO_SERVE, engine = 'sha256:engine') {
  return {
    cvm: cvm.id, onOffer: false, offer: 0, needs: NO_RES, engine, inputs: ['ward://input/1'],
    outputs: serve.present ? [] : [recipient('out')], offers, deposit, serve, workers: [],
  };
}
async function newOrder(creator, cvm, offers, deposit, serve) {
  const r = await send(creator.address, 'createOrder', [orderArgs(cvm, offers, deposit, serve)]);
  return BigInt(r.logs.at(-1).topics[1]);
}
// An order placed on tee offer `offer`: any CVM of it that has `needs` takes it.
const onOfferArgs = (offer, offers, deposit, needs = NO_RES) =>
  ({ ...orderArgs({ id: word(0) }, offers, deposit), onOffer: true, offer, needs });
async function newOrderOnOffer(creator, offer, offers, deposit, needs) {
  const r = await send(creator.address, 'createOrder', [onOfferArgs(offer, offers, deposit, needs)]);
  return BigInt(r.logs.at(-1).topics[1]);
}

function claims(cvm, order, over = {}) {
  return {
    ledger: ledgerIdHex, cvm: cvm.id, order, engine: 'sha256:engine', service: false,
    tlsKeySha256: word(0), endpoint: '', inputs: [], ...over,
  };
}
const serviceClaims = (cvm, order, tls, over = {}) =>
  claims(cvm, order, { service: true, tlsKeySha256: tls, endpoint: 'https://cvm.example:8443', inputs: [rand32()], ...over });
const REPORT = Buffer.alloc(1200, 'R'); // a signed report's size

let now = 1767225600;
async function at(t) {
  now = t;
  await rpc('evm_setNextBlockTimestamp', [t]);
}
const later = (s) => at(now + s);

const balance = async (who) => (await view('account', [who.id])).balance;

// An event's topic 0, and its data decoded.
const eventAbi = (name) => ARTIFACT.abi.find((e) => e.type === 'event' && e.name === name);
const topic = (name) => '0x' + abi.keccak(abi.signature(eventAbi(name))).toString('hex');
const eventData = (name, log) =>
  abi.decodeList(eventAbi(name).inputs.filter((i) => !i.indexed), Buffer.from(log.data.slice(2), 'hex'));

// --- the tests ---
const tests = [];
const test = (name, body) => tests.push({ name, body });

test('artifact: rebuilt byte for byte, each contract under EIP-170', async () => {
  const rebuilt = build.compile();
  assert.strictEqual(rebuilt, fs.readFileSync(build.ARTIFACT, 'utf8'), 'contracts/artifacts/WardLedger.json is stale');
  for (const key of ['deployedBytecode', 'viewsDeployedBytecode']) {
    const size = (ARTIFACT[key].length - 2) / 2;
    assert.ok(size <= EIP170, `${key}: ${size} bytes > ${EIP170}`);
  }
  // The deployed code is the artifact's but for the immutables (ledgerId,
  // dev, views), which are zeros in the artifact.
  const code = Buffer.from((await rpc('eth_getCode', [ledger, 'latest'])).slice(2), 'hex');
  const expected = Buffer.from(ARTIFACT.deployedBytecode.slice(2), 'hex');
  assert.strictEqual(code.length, expected.length, 'deployed code size');
  for (let i = 0; i < code.length; ++i) {
    if (code[i] !== expected[i]) assert.strictEqual(expected[i], 0, `deployed code differs at byte ${i}`);
  }
});

test('ledger id: sha256("ward/evm-ledger/v1" || chainid || address)', async () => {
  const expected = sha256b(Buffer.concat([Buffer.from('ward/evm-ledger/v1'),
    Buffer.from(word(31337).slice(2), 'hex'), Buffer.from(ledger.slice(2), 'hex')]));
  assert.strictEqual(ledgerIdHex, expected);
  assert.strictEqual(await view('dev'), true);
  assert.strictEqual(await view('name'), 'Ward');
  assert.strictEqual(await view('symbol'), 'WARD');
  assert.strictEqual(await view('decimals'), 0n);
});

test('accounts.register', async () => {
  const a = newAddr();
  const id = rand32();
  await refused(a, 'register', [word(0), recipient('a'), 'a', binding], 'Malformed', [1]);
  await refused(a, 'register', [id, 'age2x', 'a', binding], 'Malformed', [2]);
  await refused(a, 'register', [id, recipient('a'), 'n'.repeat(257), binding], 'Malformed', [3]);
  await refused(a, 'register', [id, recipient('a'), 'a', '0x' + '11'.repeat(63)], 'Malformed', [4]);
  const r = await send(a, 'register', [id, recipient('a'), 'alice', binding]);
  known.add(id);
  const acct = await view('account', [id]);
  assert.strictEqual(acct.owner, a.toLowerCase());
  assert.strictEqual(acct.balance, 0n);
  assert.strictEqual(await view('accountOf', [a]), id);
  assert.strictEqual(BigInt(r.logs[0].topics[1]), BigInt(id));
  await refused(newAddr(), 'register', [id, recipient('b'), '', binding], 'AlreadyExists', [1, id]);
  await refused(a, 'register', [rand32(), recipient('b'), '', binding], 'AlreadyExists', [2, wordAddr(a)]);
});

test('accounts.fund and accounts.transfer, and the ERC-20 view', async () => {
  const alice = await newAccount('alice');
  const bob = await newAccount('bob');
  const stranger = newAddr();
  await refused(stranger, 'fund', [alice.id, 5], 'UnknownAddress', [stranger]);
  await refused(alice.address, 'fund', [alice.id, MAX + 1n], 'Malformed', [5]);
  const nobody = rand32();
  await refused(alice.address, 'fund', [nobody, 5], 'UnknownAccount', [nobody]);
  await send(alice.address, 'fund', [alice.id, 100]);
  assert.strictEqual(await balance(alice), 100n);
  const [, supply] = await view('totals');
  await refused(alice.address, 'fund', [alice.id, MAX - supply + 1n], 'Overflow', [2]);
  await refused(alice.address, 'transfer(bytes32,uint64)', [bob.id, 101], 'InsufficientFunds', [100, 101]);
  await refused(alice.address, 'transfer(bytes32,uint64)', [nobody, 1], 'UnknownAccount', [nobody]);
  await send(alice.address, 'transfer(bytes32,uint64)', [bob.id, 30]);
  await send(alice.address, 'transfer(bytes32,uint64)', [alice.id, 70]); // to oneself
  assert.strictEqual(await balance(alice), 70n);
  assert.strictEqual(await balance(bob), 30n);
  // ERC-20: transfer(address,uint256), balanceOf(address)
  const erc20 = functions.transfer.find((f) => f.inputs[0].type === 'address');
  assert.ok(erc20);
  await refused(bob.address, 'transfer(address,uint256)', [stranger, 1], 'UnknownAddress', [stranger]);
  await refused(bob.address, 'transfer(address,uint256)', [alice.address, MAX + 1n], 'Malformed', [5]);
  const r = await send(bob.address, 'transfer(address,uint256)', [alice.address, 10]);
  assert.strictEqual(await view('balanceOf', [alice.address]), 80n);
  const transferTopic = '0x' + abi.keccak('Transfer(address,address,uint256)').toString('hex');
  assert.ok(r.logs.some((l) => l.topics[0] === transferTopic), 'an ERC-20 Transfer event');
  assert.strictEqual(await view('totalSupply'), (await view('totals'))[1]);
});

test('accounts.fund is dev_only on a non-dev ledger', async () => {
  const from = newAddr();
  const hash = await rpc('eth_sendTransaction', [{ from, data: ARTIFACT.bytecode + word(0).slice(2), gas: '0x1c9c380' }]);
  const other = (await mined(hash)).contractAddress;
  const id = rand32();
  const saved = ledger;
  ledger = other;
  try {
    assert.strictEqual(await view('dev'), false);
    await mined(await rpc('eth_sendTransaction', [{ from, to: other, data: calldata(fn('register'), [id, recipient('d'), '', binding]) }]));
    await refused(from, 'fund', [id, 1], 'DevOnly', []);
  } finally {
    ledger = saved;
  }
});

test('a refused call changes nothing and is no record', async () => {
  const alice = await newAccount('alice');
  const [records] = await view('totals');
  const hash = await rpc('eth_sendTransaction', [{ from: alice.address, to: ledger, gas: '0x100000',
    data: calldata(fn('transfer(bytes32,uint64)'), [alice.id, 1]) }]);
  const receipt = await mined(hash);
  assert.strictEqual(receipt.status, '0x0');
  assert.strictEqual((await view('totals'))[0], records);
});

test('offers.create, offers.disable, offers.enable', async () => {
  const owner = await newAccount('owner');
  const other = await newAccount('other');
  const [records] = await view('totals');
  const id = await newOffer(owner, 1, FIXED(5));
  assert.strictEqual(id, records, 'offer id = the record index');
  const o = await view('offer', [id]);
  assert.strictEqual(o.owner, owner.id);
  assert.deepStrictEqual([o.kind, o.price.model, o.price.amount, o.enabled], [1n, 0n, 5n, true]);
  const share = await newOffer(owner, 2, SHARE(2500));
  assert.deepStrictEqual((await view('offer', [share])).price, { model: 2n, amount: 0n, bps: 2500n });
  await newOffer(owner, 0, PER_HOUR(7));
  await refused(owner.address, 'createOffer', [4, 'n', 'r', FIXED(1), 0], 'Malformed', [6]);
  await refused(owner.address, 'createOffer', [0, '', 'r', FIXED(1), 0], 'Malformed', [3]);
  await refused(owner.address, 'createOffer', [0, 'n', '', FIXED(1), 0], 'Malformed', [8]);
  await refused(owner.address, 'createOffer', [0, 'n', 'r', PRICE(0, 1, 1), 0], 'Malformed', [7]);
  await refused(owner.address, 'createOffer', [0, 'n', 'r', SHARE(10001), 0], 'Malformed', [7]);
  await refused(owner.address, 'createOffer', [0, 'n', 'r', PRICE(3, 1), 0], 'Malformed', [7]);
  await refused(owner.address, 'createOffer', [0, 'n', 'r', FIXED(MAX + 1n), 0], 'Malformed', [5]);
  await refused(owner.address, 'disableOffer', [999999], 'NotFound', [3, word(999999)]);
  await refused(other.address, 'disableOffer', [id], 'NotOwner', [3, id]);
  await refused(owner.address, 'enableOffer', [id], 'BadState', [1, id, 0]);
  await send(owner.address, 'disableOffer', [id]);
  assert.strictEqual((await view('offer', [id])).enabled, false);
  await refused(owner.address, 'disableOffer', [id], 'BadState', [2, id, 0]);
  await send(owner.address, 'enableOffer', [id]);
  const [list] = await view('offers', [0, 1000]);
  assert.ok(list.some((x) => x.id === share));
});

test('offers.create: a tee offer\'s failover timeout', async () => {
  const owner = await newAccount('owner');
  const plain = await newOffer(owner, 3, PER_HOUR(10));
  assert.strictEqual((await view('offer', [plain])).timeout, 0n, 'none named: 0 (the default, 90 s)');
  const named = await newOffer(owner, 3, PER_HOUR(10), 300);
  assert.strictEqual((await view('offer', [named])).timeout, 300n);
  const longest = await newOffer(owner, 3, FIXED(1), 86400);
  assert.strictEqual((await view('offer', [longest])).timeout, 86400n);
  await refused(owner.address, 'createOffer', [3, 'n', 'r', FIXED(1), 86401], 'Malformed', [23]);
  await refused(owner.address, 'createOffer', [3, 'n', 'r', FIXED(1), MAX + 1n], 'Malformed', [23]);
  for (const kind of [0, 1, 2]) await refused(owner.address, 'createOffer', [kind, 'n', 'r', FIXED(1), 1], 'Malformed', [23]);
  // after the kind, name, resource and price checks; before the sender is looked up
  await refused(owner.address, 'createOffer', [4, 'n', 'r', FIXED(1), 86401], 'Malformed', [6]);
  await refused(owner.address, 'createOffer', [3, 'n', '', FIXED(1), 86401], 'Malformed', [8]);
  await refused(owner.address, 'createOffer', [3, 'n', 'r', PRICE(3, 1), 86401], 'Malformed', [7]);
  const stranger = newAddr();
  await refused(stranger, 'createOffer', [3, 'n', 'r', FIXED(1), 86401], 'Malformed', [23]);
  await refused(stranger, 'createOffer', [3, 'n', 'r', FIXED(1), 60], 'UnknownAddress', [stranger]);
  const [list] = await view('offers', [named, 1]);
  assert.deepStrictEqual(list.map((o) => [o.id, o.timeout]), [[named, 300n]]);
});

test('cvms.register, cvms.heartbeat, cvms.update', async () => {
  const provider = await newAccount('provider');
  const other = await newAccount('other');
  const tee = await newOffer(provider, 3, PER_HOUR(10));
  const dataset = await newOffer(provider, 1, FIXED(1));
  const key = rand32();
  const address = newAddr();
  const args = (k, a, o) => [k, a, binding, recipient('cvm'), CERT, o, 0, NO_RES];
  await refused(provider.address, 'registerCvm', [key, address, '0x11', recipient('cvm'), CERT, tee, 0, NO_RES], 'Malformed', [4]);
  await refused(provider.address, 'registerCvm', [key, address, binding, recipient('cvm'), '0x', tee, 0, NO_RES], 'Malformed', [9]);
  await refused(provider.address, 'registerCvm', args(key, address, 999999), 'NotFound', [3, word(999999)]);
  await refused(other.address, 'registerCvm', args(key, address, tee), 'NotOwner', [3, tee]);
  await refused(provider.address, 'registerCvm', args(key, address, dataset), 'NotAllowed', [3, dataset]);
  await refused(provider.address, 'registerCvm', args(other.id, address, tee), 'AlreadyExists', [1, other.id]);
  await refused(provider.address, 'registerCvm', args(key, other.address, tee), 'AlreadyExists', [2, wordAddr(other.address)]);
  await send(provider.address, 'registerCvm', args(key, address, tee));
  known.add(key);
  const id = sha256(key);
  await refused(provider.address, 'registerCvm', args(key, newAddr(), tee), 'AlreadyExists', [4, id]);
  const c = await view('cvm', [id]);
  assert.deepStrictEqual([c.key, c.cvmAddress, c.offer, c.provider], [key, address.toLowerCase(), tee, provider.id]);
  assert.strictEqual(c.certificateSha256, sha256b(CERT));
  assert.strictEqual((await view('account', [key])).owner, address.toLowerCase(), 'the CVM has an account');
  assert.ok((await view('cvms')).some((x) => x.id === id));
  // heartbeat
  await refused(other.address, 'heartbeat', [], 'NotAllowed', [2, 0]);
  await later(30);
  await send(address, 'heartbeat', []);
  assert.strictEqual((await view('cvm', [id])).heartbeatAt, BigInt(now));
  // update: key, recipient, later
  const cert2 = '0x' + Buffer.alloc(700, 'D').toString('hex');
  const t = 1800000000;
  await refused(other.address, 'updateCvm', [cert2, other.id, recipient('cvm'), t], 'NotAllowed', [7, 0]);
  await refused(address, 'updateCvm', [cert2, other.id, recipient('cvm'), t], 'CertificateMismatch', [1, other.id, key]);
  const wrong = '0x' + abi.keccak(recipient('x')).toString('hex');
  const right = '0x' + abi.keccak(recipient('cvm')).toString('hex');
  await refused(address, 'updateCvm', [cert2, key, recipient('x'), t], 'CertificateMismatch', [2, wrong, right]);
  await send(address, 'updateCvm', [cert2, key, recipient('cvm'), t]);
  const u = await view('cvm', [id]);
  assert.deepStrictEqual([u.notAfter, u.certificateSha256], [BigInt(t), sha256(cert2)]);
  await refused(address, 'updateCvm', [cert2, key, recipient('cvm'), t], 'BadState', [9, t, t]);
  await send(address, 'updateCvm', [cert2, key, recipient('cvm'), t + 1]);
  // The registered certificate's notAfter, as the provider read it, is the first one to pass.
  const key2 = rand32();
  const address2 = newAddr();
  await send(provider.address, 'registerCvm', [key2, address2, binding, recipient('cvm'), CERT, tee, t, NO_RES]);
  known.add(key2);
  assert.strictEqual((await view('cvm', [sha256(key2)])).notAfter, BigInt(t));
  await refused(address2, 'updateCvm', [cert2, key2, recipient('cvm'), t], 'BadState', [9, t, t]);
  await send(address2, 'updateCvm', [cert2, key2, recipient('cvm'), t + 1]);
});

test('cvms.register: declared resources', async () => {
  const provider = await newAccount('provider');
  const tee = await newOffer(provider, 3, PER_HOUR(10));
  const key = rand32();
  const address = newAddr();
  const args = (resources, offer = tee, cert = CERT) => [key, address, binding, recipient('cvm'), cert, offer, 0, resources];
  const bad = [
    { present: false, cores: 1, memoryMib: 0, gpus: 0 }, // none declared: all zero
    { present: false, cores: 0, memoryMib: 1, gpus: 0 },
    { present: false, cores: 0, memoryMib: 0, gpus: 1 },
    RES(4097, 1, 1), RES(1, 2n ** 32n + 1n, 1), RES(1, 1, 65), RES(2n ** 64n - 1n, 0, 0),
  ];
  for (const r of bad) await refused(provider.address, 'registerCvm', args(r), 'Malformed', [24]);
  // after the certificate and the offer id; before the sender and the offer are looked up
  await refused(provider.address, 'registerCvm', args(RES(1, 1, 65), tee, '0x'), 'Malformed', [9]);
  await refused(provider.address, 'registerCvm', args(RES(1, 1, 65), MAX + 1n), 'Malformed', [5]);
  await refused(provider.address, 'registerCvm', args(RES(1, 1, 65), 999999), 'Malformed', [24]);
  const stranger = newAddr();
  await refused(stranger, 'registerCvm', args(RES(1, 1, 65)), 'Malformed', [24]);
  const most = RES(4096, 2n ** 32n, 64);
  await send(provider.address, 'registerCvm', args(most));
  known.add(key);
  const full = { present: true, cores: 4096n, memoryMib: 2n ** 32n, gpus: 64n };
  assert.deepStrictEqual((await view('cvm', [sha256(key)])).resources, full);
  assert.deepStrictEqual((await view('cvms')).find((x) => x.id === sha256(key)).resources, full);
  const zero = await newCvm(provider, tee, RES(0, 0, 0));
  assert.deepStrictEqual((await view('cvm', [zero.id])).resources, { present: true, cores: 0n, memoryMib: 0n, gpus: 0n },
    'declared, if nothing');
  const none = await newCvm(provider, tee);
  assert.deepStrictEqual((await view('cvm', [none.id])).resources, { present: false, cores: 0n, memoryMib: 0n, gpus: 0n });
});

// A provider with a tee offer and a CVM, a dataset owner, a creator.
async function world({ tee = FIXED(10), extra = [], creatorFunds = 1000n } = {}) {
  const provider = await newAccount('provider');
  const owner = await newAccount('owner');
  const creator = await newAccount('creator', creatorFunds);
  const teeOffer = await newOffer(provider, 3, tee);
  const cvm = await newCvm(provider, teeOffer);
  const offers = [];
  for (const price of extra) offers.push(await newOffer(owner, 1, price));
  return { provider, owner, creator, teeOffer, cvm, offers };
}

test('orders.create', async () => {
  const w = await world({ extra: [FIXED(5)] });
  const { creator, cvm, provider } = w;
  const teeOther = await newOffer(provider, 3, FIXED(1));
  const disabled = await newOffer(w.owner, 1, FIXED(1));
  await send(w.owner.address, 'disableOffer', [disabled]);
  const c = (over) => [{ ...orderArgs(cvm, w.offers, 100), ...over }];
  await refused(creator.address, 'createOrder', c({ engine: '' }), 'Malformed', [10]);
  await refused(creator.address, 'createOrder', c({ outputs: [] }), 'Malformed', [12]);
  await refused(creator.address, 'createOrder', c({ outputs: ['x'] }), 'Malformed', [12]);
  await refused(creator.address, 'createOrder', c({ offers: [w.offers[0], w.offers[0]] }), 'Malformed', [13]);
  await refused(creator.address, 'createOrder', c({ deposit: MAX + 1n }), 'Malformed', [5]);
  const ghost = rand32();
  await refused(creator.address, 'createOrder', c({ cvm: ghost }), 'NotFound', [4, ghost]);
  await refused(creator.address, 'createOrder', c({ offers: [999999] }), 'NotFound', [3, word(999999)]);
  await refused(creator.address, 'createOrder', c({ offers: [teeOther] }), 'NotAllowed', [4, teeOther]);
  await refused(creator.address, 'createOrder', c({ offers: [disabled] }), 'BadState', [2, disabled, 0]);
  await refused(creator.address, 'createOrder', c({ deposit: 1001 }), 'InsufficientFunds', [1000, 1001]);
  await send(provider.address, 'disableOffer', [w.teeOffer]);
  await refused(creator.address, 'createOrder', c({}), 'BadState', [3, w.teeOffer, 0]);
  await send(provider.address, 'enableOffer', [w.teeOffer]);
  const [records] = await view('totals');
  const id = await newOrder(creator, cvm, w.offers, 100);
  assert.strictEqual(id, records, 'order id = the record index');
  const o = await view('order', [id]);
  assert.deepStrictEqual([o.creator, o.cvm, o.deposit, o.status, o.service], [creator.id, cvm.id, 100n, 0n, false]);
  assert.deepStrictEqual(o.offers, w.offers);
  assert.strictEqual(o.payments.length, 0);
  assert.strictEqual(o.engineHash, '0x' + abi.keccak('sha256:engine').toString('hex'));
  assert.strictEqual(await balance(creator), 900n);
  const [list] = await view('orders', [{ creator: creator.id, cvm: word(0), hasStatus: true, status: 0, first: 0, limit: 10 }]);
  assert.deepStrictEqual(list.map((x) => x.id), [id]);
});

test('orders.start, orders.cancel, orders.fail', async () => {
  const w = await world({ tee: PER_HOUR(3600), extra: [FIXED(50)] });
  const { creator, cvm } = w;
  const a = await newOrder(creator, cvm, w.offers, 100);
  await refused(cvm.address, 'startOrder', [999999], 'NotFound', [5, word(999999)]);
  await refused(creator.address, 'startOrder', [a], 'NotAllowed', [1, a]);
  await refused(w.owner.address, 'cancelOrder', [a], 'NotOwner', [5, a]);
  await send(creator.address, 'cancelOrder', [a]);
  let o = await view('order', [a]);
  assert.deepStrictEqual([o.status, o.refund], [4n, 100n]);
  assert.strictEqual(await balance(creator), 1000n);
  await refused(creator.address, 'cancelOrder', [a], 'BadState', [4, a, 4]);
  await refused(cvm.address, 'startOrder', [a], 'BadState', [4, a, 4]);
  // fail: fixed is not paid on Error, per_hour is
  const b = await newOrder(creator, cvm, w.offers, 100);
  await refused(cvm.address, 'failOrder', [b, 'x'], 'BadState', [4, b, 0]);
  await at(now + 10);
  await send(cvm.address, 'startOrder', [b]);
  await refused(cvm.address, 'startOrder', [b], 'BadState', [4, b, 1]);
  await refused(creator.address, 'cancelOrder', [b], 'BadState', [4, b, 1]);
  await refused(cvm.address, 'failOrder', [b, ''], 'Malformed', [16]);
  await at(now + 5);
  await send(cvm.address, 'failOrder', [b, 'the engine crashed']);
  o = await view('order', [b]);
  assert.strictEqual(o.status, 3n);
  // per_hour 3600/h for 5 s = 5; fixed 0 on Error; refund 95
  assert.deepStrictEqual(o.payments.map((p) => p.amount), [5n, 0n]);
  assert.deepStrictEqual(o.payments.map((p) => p.to), [w.provider.id, w.owner.id]);
  assert.strictEqual(o.refund, 95n);
  assert.strictEqual(await balance(w.provider), 5n);
});

test('reports.submit: the report checks, then settlement (fixed, per_hour, as far as the deposit goes)', async () => {
  const w = await world({ tee: PER_HOUR(7200), extra: [FIXED(60), SHARE(5000), FIXED(30)] });
  const { creator, cvm } = w;
  const id = await newOrder(creator, cvm, w.offers, 100);
  await refused(cvm.address, 'submitReport', [id, REPORT, claims(cvm, id)], 'BadState', [4, id, 0]);
  await at(now + 10);
  await send(cvm.address, 'startOrder', [id]);
  const other = rand32();
  await refused(creator.address, 'submitReport', [id, REPORT, claims(cvm, id)], 'NotAllowed', [1, id]);
  await refused(cvm.address, 'submitReport', [id, '0x', claims(cvm, id)], 'Malformed', [17]);
  await refused(cvm.address, 'submitReport', [id, REPORT, claims(cvm, id + 1n)], 'ReportMismatch', [1, word(id + 1n), word(id)]);
  await refused(cvm.address, 'submitReport', [id, REPORT, claims(cvm, id, { ledger: other })], 'ReportMismatch', [2, other, ledgerIdHex]);
  await refused(cvm.address, 'submitReport', [id, REPORT, claims(cvm, id, { cvm: other })], 'ReportMismatch', [3, other, cvm.id]);
  const e1 = '0x' + abi.keccak('other').toString('hex');
  const e0 = '0x' + abi.keccak('sha256:engine').toString('hex');
  await refused(cvm.address, 'submitReport', [id, REPORT, claims(cvm, id, { engine: 'other' })], 'ReportMismatch', [4, e1, e0]);
  await refused(cvm.address, 'submitReport', [id, REPORT, serviceClaims(cvm, id, rand32())], 'ReportMismatch', [5, word(id), word(0)]);
  await at(now + 1800); // half an hour: per_hour 7200/h -> 3600, capped by the deposit
  await send(cvm.address, 'submitReport', [id, REPORT, claims(cvm, id)]);
  const o = await view('order', [id]);
  assert.strictEqual(o.status, 2n);
  // provider first takes min(3600, 100) = 100; nothing is left for the others
  assert.deepStrictEqual(o.payments.map((p) => p.amount), [100n, 0n, 0n, 0n]);
  assert.strictEqual(o.refund, 0n);
  const r = await view('report', [id]);
  assert.deepStrictEqual([r.order, r.reportSha256, r.time], [id, sha256b(REPORT), BigInt(now)]);
  await refused(cvm.address, 'submitReport', [id, REPORT, claims(cvm, id)], 'AlreadyExists', [6, word(id)]);
  // Done: fixed offers paid in order, per_hour by the second, revenue_share nothing, the rest refunded
  const id2 = await newOrder(creator, cvm, w.offers, 500);
  await at(now + 10);
  await send(cvm.address, 'startOrder', [id2]);
  await at(now + 61); // 61 s at 7200/h = 122
  await send(cvm.address, 'submitReport', [id2, REPORT, claims(cvm, id2)]);
  const o2 = await view('order', [id2]);
  assert.deepStrictEqual(o2.payments.map((p) => p.amount), [122n, 60n, 0n, 30n]);
  assert.deepStrictEqual(o2.payments.map((p) => p.price.model), [1n, 0n, 2n, 0n]);
  assert.strictEqual(o2.refund, 500n - 212n);
  assert.strictEqual(await balance(w.owner), 90n);
  assert.strictEqual(await balance(w.provider), 222n);
  assert.strictEqual(await balance(creator), 1000n - 100n - 212n);
});

test('grants.use and grants.revoke', async () => {
  const w = await world();
  const { creator, cvm, owner } = w;
  const g = rand32();
  const a = await newOrder(creator, cvm, [], 10);
  const b = await newOrder(creator, cvm, [], 10);
  const use = (order, uses, id = g, who = owner.id) => [order, [{ id, owner: who, uses }]];
  await refused(cvm.address, 'useGrants', use(a, 1), 'BadState', [4, a, 0]);
  await send(cvm.address, 'startOrder', [a]);
  await send(cvm.address, 'startOrder', [b]);
  await refused(creator.address, 'useGrants', use(a, 1), 'NotAllowed', [1, a]);
  await refused(cvm.address, 'useGrants', [a, []], 'Malformed', [19]);
  await refused(cvm.address, 'useGrants', use(a, 100001), 'Malformed', [20]);
  await refused(cvm.address, 'useGrants', [a, [{ id: g, owner: owner.id, uses: 1 }, { id: g, owner: owner.id, uses: 1 }]], 'Malformed', [19]);
  await send(cvm.address, 'useGrants', use(a, 1));
  await send(cvm.address, 'useGrants', use(a, 1)); // the same order counts once
  let v = await view('grant', [g, owner.id]);
  assert.deepStrictEqual([v.uses, v.revoked], [1n, false]);
  assert.strictEqual(await view('grantUsedBy', [g, owner.id, a]), true);
  await refused(cvm.address, 'useGrants', use(b, 1), 'UsedUp', [g, 1]);
  const free = rand32();
  await send(cvm.address, 'useGrants', use(b, 0, free)); // no limit: nothing recorded
  assert.strictEqual((await view('grant', [free, owner.id])).id, word(0));
  // all or nothing: the second entry is refused, the first not recorded
  const g2 = rand32();
  await refused(cvm.address, 'useGrants', [b, [{ id: g2, owner: owner.id, uses: 5 }, { id: g, owner: owner.id, uses: 1 }]], 'UsedUp', [g, 1]);
  assert.strictEqual(await view('grantUsedBy', [g2, owner.id, b]), false);
  // revocation counts per (id, owner): Mallory's revokes only Mallory's entries
  await send(creator.address, 'revokeGrant', [g]);
  await send(cvm.address, 'useGrants', use(b, 2));
  await later(5);
  await send(owner.address, 'revokeGrant', [g]);
  v = await view('grant', [g, owner.id]);
  assert.deepStrictEqual([v.revoked, v.revokedAt], [true, BigInt(now)]);
  await refused(owner.address, 'revokeGrant', [g], 'AlreadyExists', [9, g]);
  await refused(cvm.address, 'useGrants', use(a, 2), 'Revoked', [g, owner.id]);
});

// --- orders placed on a tee offer ---
const FITS = RES(8, 16384, 1);
const NEEDS_VIEW = (r) => ({ present: r.present, cores: BigInt(r.cores), memoryMib: BigInt(r.memoryMib), gpus: BigInt(r.gpus) });

test('orders.create on a tee offer', async () => {
  const w = await world({ tee: PER_HOUR(3600), extra: [FIXED(5)] });
  const { creator, cvm, provider, teeOffer } = w;
  const dataset = w.offers[0];
  const c = (over) => [{ ...onOfferArgs(teeOffer, w.offers, 100), ...over }];
  await refused(creator.address, 'createOrder', c({ cvm: cvm.id }), 'Malformed', [25]);
  await refused(creator.address, 'createOrder', c({ onOffer: false }), 'Malformed', [25]);
  await refused(creator.address, 'createOrder', [{ ...orderArgs(cvm, w.offers, 100), offer: teeOffer }], 'Malformed', [25]);
  await refused(creator.address, 'createOrder', c({ serve: SERVE(0), outputs: [] }), 'Malformed', [14]);
  for (const needs of [{ present: false, cores: 0, memoryMib: 0, gpus: 1 }, RES(4097, 1, 1), RES(1, 2n ** 32n + 1n, 1), RES(1, 1, 65)]) {
    await refused(creator.address, 'createOrder', c({ needs }), 'Malformed', [24]);
  }
  await refused(creator.address, 'createOrder', [{ ...orderArgs(cvm, w.offers, 100), needs: RES(1, 1, 0) }], 'Malformed', [24]);
  await refused(creator.address, 'createOrder', c({ offer: MAX + 1n }), 'Malformed', [5]);
  await refused(creator.address, 'createOrder', c({ offer: 999999 }), 'NotFound', [3, word(999999)]);
  await refused(creator.address, 'createOrder', c({ offer: dataset }), 'NotAllowed', [3, dataset]);
  await send(provider.address, 'disableOffer', [teeOffer]);
  await refused(creator.address, 'createOrder', c({}), 'BadState', [3, teeOffer, 0]);
  await send(provider.address, 'enableOffer', [teeOffer]);
  // the listed offers' rules are any order's
  await refused(creator.address, 'createOrder', c({ offers: [teeOffer] }), 'NotAllowed', [4, teeOffer]);
  await refused(creator.address, 'createOrder', c({ deposit: 1001 }), 'InsufficientFunds', [1000, 1001]);
  const [records] = await view('totals');
  const r = await send(creator.address, 'createOrder', c({ needs: FITS }));
  const id = BigInt(r.logs.at(-1).topics[1]);
  assert.strictEqual(id, records, 'order id = the record index');
  assert.strictEqual(r.logs.at(-1).topics[3], word(0), 'OrderCreated names no CVM');
  const o = await view('order', [id]);
  assert.deepStrictEqual([o.creator, o.cvm, o.teeOffer, o.status, o.deposit, o.billed, o.service],
    [creator.id, word(0), teeOffer, 0n, 100n, 0n, false]);
  assert.deepStrictEqual(o.needs, NEEDS_VIEW(FITS));
  assert.deepStrictEqual(o.offers, w.offers);
  assert.strictEqual(await balance(creator), 900n);
  const plain = await newOrderOnOffer(creator, teeOffer, [], 10);
  assert.deepStrictEqual((await view('order', [plain])).needs, NEEDS_VIEW(NO_RES));
  const named = await newOrder(creator, cvm, [], 10);
  const n = await view('order', [named]);
  assert.deepStrictEqual([n.cvm, n.teeOffer, n.needs], [cvm.id, 0n, NEEDS_VIEW(NO_RES)], 'an order that names its CVM');
  const [onCvm] = await view('orders', [{ creator: creator.id, cvm: cvm.id, hasStatus: false, status: 0, first: 0, limit: 1000 }]);
  assert.deepStrictEqual(onCvm.map((x) => x.id), [named], 'an untaken order is on no CVM');
});

test('orders.take: the first CVM of the offer that has what the order needs', async () => {
  const w = await world({ tee: PER_HOUR(3600) });
  const { creator, provider, teeOffer } = w;
  const a = await newCvm(provider, teeOffer, FITS);
  const b = await newCvm(provider, teeOffer, RES(16, 32768, 2));
  const small = await newCvm(provider, teeOffer, RES(8, 16384, 0));
  const bare = await newCvm(provider, teeOffer);
  const elsewhere = await newCvm(provider, await newOffer(provider, 3, PER_HOUR(3600)), FITS);
  const id = await newOrderOnOffer(creator, teeOffer, [], 100, FITS);
  const named = await newOrder(creator, w.cvm, [], 10);
  await refused(a.address, 'takeOrder', [MAX + 1n], 'Malformed', [5]);
  await refused(a.address, 'takeOrder', [999999], 'NotFound', [5, word(999999)]);
  const stranger = newAddr();
  await refused(stranger, 'takeOrder', [id], 'UnknownAddress', [stranger]);
  await refused(creator.address, 'takeOrder', [id], 'NotAllowed', [2, 0]);
  await refused(a.address, 'takeOrder', [named], 'NotAllowed', [8, named]);
  await refused(elsewhere.address, 'takeOrder', [id], 'NotAllowed', [9, id]);
  await refused(small.address, 'takeOrder', [id], 'NotAllowed', [10, id]);
  await refused(bare.address, 'takeOrder', [id], 'NotAllowed', [10, id]);
  await refused(a.address, 'startOrder', [id], 'NotAllowed', [1, id]);
  // the first take wins
  const [index] = await view('totals');
  const r = await send(a.address, 'takeOrder', [id]);
  const log = r.logs.at(-1);
  assert.strictEqual(log.address, ledger.toLowerCase(), 'the ledger\'s event (by delegatecall)');
  assert.deepStrictEqual(log.topics, [topic('OrderTaken'), word(id), a.id]);
  assert.deepStrictEqual(eventData('OrderTaken', log), [index]);
  let o = await view('order', [id]);
  assert.deepStrictEqual([o.cvm, o.status, o.teeOffer], [a.id, 0n, teeOffer]);
  await refused(b.address, 'takeOrder', [id], 'BadState', [10, id, 0]);
  await refused(a.address, 'takeOrder', [id], 'BadState', [10, id, 0]);
  await refused(b.address, 'startOrder', [id], 'NotAllowed', [1, id]);
  await at(now + 10);
  await send(a.address, 'startOrder', [id]);
  o = await view('order', [id]);
  assert.deepStrictEqual([o.status, o.startedAt], [1n, BigInt(now)]);
  await refused(b.address, 'takeOrder', [id], 'BadState', [4, id, 1]);
  const [onA] = await view('orders', [{ creator: word(0), cvm: a.id, hasStatus: false, status: 0, first: 0, limit: 1000 }]);
  assert.deepStrictEqual(onA.map((x) => x.id), [id]);
  // needs of nothing: any CVM that declares resources, none that declares none
  const zero = await newOrderOnOffer(creator, teeOffer, [], 10, RES(0, 0, 0));
  await refused(bare.address, 'takeOrder', [zero], 'NotAllowed', [10, zero]);
  await send(small.address, 'takeOrder', [zero]);
  // no needs: any CVM of the offer
  const any = await newOrderOnOffer(creator, teeOffer, [], 10);
  await send(bare.address, 'takeOrder', [any]);
  // the status is checked after the CVM fits, then whether it was taken
  const gone = await newOrderOnOffer(creator, teeOffer, [], 10, FITS);
  await send(creator.address, 'cancelOrder', [gone]);
  await refused(small.address, 'takeOrder', [gone], 'NotAllowed', [10, gone]);
  await refused(b.address, 'takeOrder', [gone], 'BadState', [4, gone, 4]);
  assert.strictEqual((await view('order', [gone])).refund, 10n);
});

test('orders.reassign: a silent CVM\'s order goes back to its offer, billed up to its last heartbeat', async () => {
  const w = await world({ tee: PER_HOUR(3600), extra: [FIXED(50)] });
  const { creator, provider, owner, teeOffer } = w;
  const a = await newCvm(provider, teeOffer);
  const b = await newCvm(provider, teeOffer);
  const anyone = await newAccount('anyone');
  const id = await newOrderOnOffer(creator, teeOffer, w.offers, 900);
  const named = await newOrder(creator, w.cvm, [], 10);
  await refused(anyone.address, 'reassignOrder', [MAX + 1n], 'Malformed', [5]);
  await refused(anyone.address, 'reassignOrder', [999999], 'NotFound', [5, word(999999)]);
  const stranger = newAddr();
  await refused(stranger, 'reassignOrder', [id], 'UnknownAddress', [stranger]);
  await refused(anyone.address, 'reassignOrder', [named], 'NotAllowed', [8, named]);
  await refused(anyone.address, 'reassignOrder', [id], 'BadState', [11, id, 0]);
  // taken, not started: silent since its last heartbeat (not its take), the default timeout 90 s
  const t0 = now + 10;
  await at(t0);
  await send(a.address, 'heartbeat', []);
  await at(t0 + 30);
  await send(a.address, 'takeOrder', [id]);
  await at(t0 + 90);
  await refused(anyone.address, 'reassignOrder', [id], 'BadState', [12, 90, 90]);
  await at(t0 + 91);
  let [index] = await view('totals');
  let r = await send(anyone.address, 'reassignOrder', [id]);
  let log = r.logs.at(-1);
  assert.strictEqual(log.address, ledger.toLowerCase());
  assert.deepStrictEqual(log.topics, [topic('OrderReassigned'), word(id), a.id]);
  assert.deepStrictEqual(eventData('OrderReassigned', log), [0n, index]);
  let o = await view('order', [id]);
  assert.deepStrictEqual([o.status, o.cvm, o.billed, o.startedAt], [0n, word(0), 0n, 0n]);
  await refused(anyone.address, 'reassignOrder', [id], 'BadState', [11, id, 0]);
  // taken and started: billed from its start to the CVM's last heartbeat
  await send(b.address, 'takeOrder', [id]);
  const t1 = now + 9;
  await at(t1);
  await send(b.address, 'startOrder', [id]);
  await at(t1 + 500);
  await send(b.address, 'heartbeat', []);
  await at(t1 + 590);
  await refused(anyone.address, 'reassignOrder', [id], 'BadState', [12, 90, 90]);
  await at(t1 + 700);
  [index] = await view('totals');
  r = await send(creator.address, 'reassignOrder', [id]);
  log = r.logs.at(-1);
  assert.deepStrictEqual(log.topics, [topic('OrderReassigned'), word(id), b.id]);
  assert.deepStrictEqual(eventData('OrderReassigned', log), [500n, index]);
  o = await view('order', [id]);
  assert.deepStrictEqual([o.status, o.cvm, o.billed, o.startedAt, o.payments.length], [0n, word(0), 500n, 0n, 0]);
  assert.strictEqual(await balance(provider), 0n, 'nothing is paid until the order ends');
  await refused(b.address, 'startOrder', [id], 'NotAllowed', [1, id]);
  // another CVM takes it, runs 300 s and reports: per_hour pays 500 + 300 s
  await send(a.address, 'takeOrder', [id]);
  const t2 = now + 5;
  await at(t2);
  await send(a.address, 'startOrder', [id]);
  await at(t2 + 300);
  await send(a.address, 'submitReport', [id, REPORT, claims(a, id)]);
  o = await view('order', [id]);
  assert.deepStrictEqual([o.status, o.cvm, o.billed, o.startedAt, o.endedAt], [2n, a.id, 500n, BigInt(t2), BigInt(t2 + 300)]);
  assert.deepStrictEqual(o.payments.map((p) => [p.offer, p.to, p.amount]),
    [[teeOffer, provider.id, 800n], [w.offers[0], owner.id, 50n]]);
  assert.strictEqual(o.refund, 50n);
  assert.strictEqual(await balance(provider), 800n);
  assert.strictEqual(await balance(owner), 50n);
  assert.strictEqual(await balance(creator), 1000n - 900n - 10n + 50n);
  await refused(anyone.address, 'reassignOrder', [id], 'BadState', [11, id, 2]);
});

test('orders.reassign: a named timeout; a CVM silent since its start bills nothing; ended orders stay', async () => {
  const provider = await newAccount('provider');
  const creator = await newAccount('creator', 1000n);
  const tee = await newOffer(provider, 3, PER_HOUR(3600), 300);
  const c = await newCvm(provider, tee);
  const d = await newCvm(provider, tee);
  const id = await newOrderOnOffer(creator, tee, [], 100);
  const t0 = now + 10;
  await at(t0);
  await send(c.address, 'heartbeat', []);
  await send(c.address, 'takeOrder', [id]);
  await send(c.address, 'startOrder', [id]);
  await at(t0 + 250);
  await refused(creator.address, 'reassignOrder', [id], 'BadState', [12, 250, 300]);
  await at(t0 + 300);
  await refused(creator.address, 'reassignOrder', [id], 'BadState', [12, 300, 300]);
  await at(t0 + 301);
  await send(creator.address, 'reassignOrder', [id]);
  let o = await view('order', [id]);
  assert.deepStrictEqual([o.status, o.cvm, o.billed], [0n, word(0), 0n]);
  // a failed run settles per_hour for billed + its own time
  await send(d.address, 'heartbeat', []);
  await send(d.address, 'takeOrder', [id]);
  await send(d.address, 'startOrder', [id]);
  await at(t0 + 361);
  await send(d.address, 'failOrder', [id, 'the engine crashed']);
  o = await view('order', [id]);
  assert.deepStrictEqual([o.status, o.refund, o.payments.map((p) => p.amount)], [3n, 40n, [60n]]);
  await later(1000);
  await refused(creator.address, 'reassignOrder', [id], 'BadState', [11, id, 3]);
  // a taken order not yet started is still its creator's to cancel
  const gone = await newOrderOnOffer(creator, tee, [], 10);
  await send(d.address, 'takeOrder', [gone]);
  await send(creator.address, 'cancelOrder', [gone]);
  await refused(creator.address, 'reassignOrder', [gone], 'BadState', [11, gone, 4]);
  assert.strictEqual(await balance(creator), 1000n - 100n + 40n);
  // canceled while New again after a failover: the failed CVM's billed time
  // is paid (not the wait since), the rest refunded
  const moved = await newOrderOnOffer(creator, tee, [], 500);
  await send(c.address, 'heartbeat', []);
  await send(c.address, 'takeOrder', [moved]);
  const t1 = now + 5;
  await at(t1);
  await send(c.address, 'startOrder', [moved]);
  await at(t1 + 120);
  await send(c.address, 'heartbeat', []);
  await at(t1 + 120 + 301);
  await send(creator.address, 'reassignOrder', [moved]);
  await later(5000);
  const paid = await balance(provider);
  await send(creator.address, 'cancelOrder', [moved]);
  o = await view('order', [moved]);
  assert.deepStrictEqual([o.status, o.billed, o.refund, o.payments.map((p) => p.amount)], [4n, 120n, 380n, [120n]]);
  assert.strictEqual(await balance(provider), paid + 120n);
  assert.strictEqual(await balance(creator), 1000n - 100n + 40n - 120n);
});

// --- service orders ---
const SERVE = (access, accounts = [], perRequest = 0, per1kTokens = 0) => ({ present: true, access, accounts, perRequest, per1kTokens });

test('orders.create with serve: access rules and revenue shares', async () => {
  const w = await world({ extra: [SHARE(6000), SHARE(4001)] });
  const { creator, cvm } = w;
  const c = (serve, over = {}) => [{ ...orderArgs(cvm, [], 10, serve), ...over }];
  await refused(creator.address, 'createOrder', c(SERVE(3)), 'Malformed', [14]);
  await refused(creator.address, 'createOrder', c(SERVE(0, [], 1)), 'Malformed', [14]);
  await refused(creator.address, 'createOrder', c(SERVE(1)), 'Malformed', [15]);
  const x = rand32();
  await refused(creator.address, 'createOrder', c(SERVE(1, [x, x])), 'Malformed', [15]);
  await refused(creator.address, 'createOrder', c(SERVE(0), { outputs: [recipient('o')] }), 'Malformed', [12]);
  await refused(creator.address, 'createOrder', c(SERVE(0), { offers: w.offers }), 'NotAllowed', [5, 10001]);
  await newOrder(creator, cvm, w.offers, 10); // a batch order may list them
  const id = await newOrder(creator, cvm, [w.offers[0]], 10, SERVE(1, [x]));
  const o = await view('order', [id]);
  assert.deepStrictEqual([o.service, o.serve.access, o.serve.started], [true, 1n, false]);
});

test('services.start, subscribe, usage, cancel and settlement', async () => {
  const w = await world({ tee: PER_HOUR(3600), extra: [FIXED(40), SHARE(3333), SHARE(3333)] });
  const { creator, cvm, provider, owner } = w;
  const alice = await newAccount('alice', 1000n);
  const bob = await newAccount('bob', 1000n);
  const batch = await newOrder(creator, cvm, [], 10);
  const id = await newOrder(creator, cvm, w.offers, 300, SERVE(2, [], 3, 500));
  const pub = await newOrder(creator, cvm, [], 10, SERVE(0));
  // subscribe
  await refused(alice.address, 'subscribe', [999999, 5], 'NotFound', [5, word(999999)]);
  await refused(alice.address, 'subscribe', [id, 0], 'Malformed', [21]);
  await refused(alice.address, 'subscribe', [batch, 5], 'BadState', [5, batch, 0]);
  await refused(alice.address, 'subscribe', [pub, 5], 'NotAllowed', [6, 0]);
  await refused(alice.address, 'subscribe', [id, 1001], 'InsufficientFunds', [1000, 1001]);
  await send(alice.address, 'subscribe', [id, 100]);
  await send(alice.address, 'subscribe', [id, 50]); // a top-up
  await send(bob.address, 'subscribe', [id, 20]);
  let s = await view('subscription', [id, alice.id]);
  assert.deepStrictEqual([s.deposit, s.charged, s.closed], [150n, 0n, false]);
  // start
  const tls = rand32();
  await send(cvm.address, 'startOrder', [batch]);
  await refused(cvm.address, 'startService', [batch, REPORT, serviceClaims(cvm, batch, tls)], 'BadState', [5, batch, 0]);
  await refused(cvm.address, 'startService', [id, REPORT, serviceClaims(cvm, id, tls)], 'BadState', [4, id, 0]);
  await refused(cvm.address, 'recordUsage', [id, []], 'BadState', [4, id, 0]);
  const t0 = now + 100;
  await at(t0);
  await send(cvm.address, 'startOrder', [id]);
  await refused(cvm.address, 'startService', [id, REPORT, claims(cvm, id)], 'ReportMismatch', [6, word(id), word(0)]);
  await refused(cvm.address, 'submitReport', [id, REPORT, serviceClaims(cvm, id, tls)], 'BadState', [6, id, 0]);
  await refused(cvm.address, 'recordUsage', [id, []], 'BadState', [6, id, 0]);
  await send(cvm.address, 'startService', [id, REPORT, serviceClaims(cvm, id, tls)]);
  let o = await view('order', [id]);
  assert.deepStrictEqual([o.serve.started, o.serve.tlsKeySha256, o.serve.servingSince], [true, tls, BigInt(now)]);
  assert.strictEqual(o.serve.inputs.length, 1);
  assert.deepStrictEqual(o.payments.map((p) => p.amount), [0n, 40n, 0n, 0n], 'the fixed offer is paid at the first start');
  assert.strictEqual((await view('startReport', [id])).reportSha256, sha256b(REPORT));
  await refused(cvm.address, 'startService', [id, REPORT, serviceClaims(cvm, id, tls)], 'AlreadyExists', [7, word(id)]);
  const tls2 = rand32();
  await send(cvm.address, 'startService', [id, REPORT, serviceClaims(cvm, id, tls2)]); // a restart pays nothing
  o = await view('order', [id]);
  assert.deepStrictEqual(o.payments.map((p) => p.amount), [0n, 40n, 0n, 0n]);
  assert.strictEqual(o.serve.tlsKeySha256, tls2);
  // usage
  const u = (account, requests, tokens, byteCount) => ({ account, requests, tokens, byteCount });
  await refused(cvm.address, 'recordUsage', [pub, [u(alice.id, 1, 1, 1)]], 'BadState', [4, pub, 0]);
  await refused(cvm.address, 'recordUsage', [id, [u(alice.id, 1, 1, 1), u(alice.id, 2, 2, 2)]], 'Malformed', [22]);
  await refused(creator.address, 'recordUsage', [id, []], 'NotAllowed', [1, id]);
  await refused(cvm.address, 'recordUsage', [id, [u(creator.id, 1, 1, 1)]], 'NotFound', [10, creator.id]);
  // alice: 10 requests * 3 + ceil(1001 tokens * 500 / 1000) = 30 + 501 -> capped at her deposit 150
  // bob: 2 * 3 + ceil(1 * 500 / 1000) = 7
  await at(t0 + 600); // 10 min at 3600/h = 600 owed per hour, deposit left 260 -> exhausted
  await send(cvm.address, 'recordUsage', [id, [u(alice.id, 10, 1001, 9), u(bob.id, 2, 1, 0)]]);
  s = await view('subscription', [id, alice.id]);
  assert.deepStrictEqual([s.charged, s.requests, s.tokens, s.byteCount], [150n, 10n, 1001n, 9n]);
  assert.strictEqual((await view('subscription', [id, bob.id])).charged, 7n);
  o = await view('order', [id]);
  // revenue 157: shares floor(157*3333/10000) = 52 each, cumulative and in order
  assert.strictEqual(o.serve.revenue, 157n);
  assert.deepStrictEqual(o.payments.map((p) => p.amount), [260n, 40n, 52n, 52n]);
  assert.strictEqual(o.serve.exhaustedAt, BigInt(now), 'the per-hour offer could not be paid in full');
  assert.strictEqual(o.serve.cancelRequested, BigInt(now));
  await refused(cvm.address, 'recordUsage', [id, [u(alice.id, 9, 1001, 9)]], 'UsageRegressed', [alice.id, 1, 9, 10]);
  await refused(cvm.address, 'recordUsage', [id, [u(bob.id, 2, 0, 0)]], 'UsageRegressed', [bob.id, 2, 0, 1]);
  await refused(alice.address, 'subscribe', [id, 5], 'BadState', [7, id, 0]);
  await refused(creator.address, 'cancelOrder', [id], 'AlreadyExists', [8, word(id)]);
  // the final report: its TLS key must be the started one
  await refused(cvm.address, 'submitReport', [id, REPORT, serviceClaims(cvm, id, tls)], 'ReportMismatch', [7, tls, tls2]);
  const before = await balance(bob);
  await later(60);
  await send(cvm.address, 'submitReport', [id, REPORT, serviceClaims(cvm, id, tls2)]);
  o = await view('order', [id]);
  assert.deepStrictEqual([o.status, o.refund], [2n, 0n]);
  const subs = await view('subscriptions', [id]);
  assert.strictEqual(subs.length, 2);
  assert.ok(subs[0].account < subs[1].account, 'in account order');
  const bobSub = subs.find((x) => x.account === bob.id);
  assert.deepStrictEqual([bobSub.closed, bobSub.refund], [true, 13n]);
  assert.strictEqual(await balance(bob), before + 13n);
  // the creator got the rest of each charge: 157 - 104
  assert.strictEqual(await balance(creator), 1000n - 10n - 300n - 10n + 53n);
  assert.strictEqual(await balance(provider), 260n);
  assert.strictEqual(await balance(owner), 40n + 104n);
});

test('services: per-hour payments as time passes, cancel while processing, fail settles', async () => {
  const w = await world({ tee: PER_HOUR(3600), extra: [PER_HOUR(1800)] });
  const { creator, cvm } = w;
  const id = await newOrder(creator, cvm, w.offers, 1000, SERVE(0));
  const t0 = now + 10;
  await at(t0);
  await send(cvm.address, 'startOrder', [id]);
  await send(cvm.address, 'startService', [id, REPORT, serviceClaims(cvm, id, rand32())]);
  await at(t0 + 100);
  await send(cvm.address, 'recordUsage', [id, []]);
  let o = await view('order', [id]);
  assert.deepStrictEqual(o.payments.map((p) => p.amount), [100n, 50n]);
  assert.strictEqual(o.serve.exhaustedAt, 0n);
  await at(t0 + 101); // ceil(1800 * 101 / 3600) = 51
  await send(cvm.address, 'recordUsage', [id, []]);
  o = await view('order', [id]);
  assert.deepStrictEqual(o.payments.map((p) => p.amount), [101n, 51n]);
  await send(creator.address, 'cancelOrder', [id]);
  o = await view('order', [id]);
  assert.strictEqual(o.status, 1n, 'a Processing service stays Processing when asked to stop');
  assert.strictEqual(o.serve.cancelRequested, BigInt(now));
  await at(t0 + 200);
  await send(cvm.address, 'failOrder', [id, 'stopped']);
  o = await view('order', [id]);
  assert.deepStrictEqual(o.payments.map((p) => p.amount), [200n, 100n]);
  assert.deepStrictEqual([o.status, o.refund], [3n, 700n]);
  // a New service order canceled: full refund, subscriptions closed
  const sub = await newOrder(creator, cvm, [], 100, SERVE(2));
  const alice = await newAccount('alice', 50n);
  await send(alice.address, 'subscribe', [sub, 50]);
  await send(creator.address, 'cancelOrder', [sub]);
  const s = await view('subscription', [sub, alice.id]);
  assert.deepStrictEqual([s.closed, s.refund], [true, 50n]);
  assert.strictEqual(await balance(alice), 50n);
});

test('orders.create with workers: a split service\'s worker CVMs', async () => {
  const w = await world();
  const { creator, provider, cvm, teeOffer } = w;
  const ids = [];
  for (let i = 0; i < 7; ++i) ids.push((await newCvm(provider, teeOffer)).id);
  const c = (workers, serve = SERVE(0), over = {}) => [{ ...orderArgs(cvm, [], 10, serve), workers, ...over }];
  await refused(creator.address, 'createOrder', c([ids[0]], NO_SERVE), 'Malformed', [26]);
  await refused(creator.address, 'createOrder', c([...ids, rand32()]), 'Malformed', [26]);
  await refused(creator.address, 'createOrder', c([ids[0], cvm.id]), 'Malformed', [26]);
  await refused(creator.address, 'createOrder', c([ids[0], ids[1], ids[0]]), 'Malformed', [26]);
  await refused(creator.address, 'createOrder', [{ ...onOfferArgs(teeOffer, [], 10), workers: [ids[0]] }], 'Malformed', [26]);
  const ghost = rand32();
  await refused(creator.address, 'createOrder', c([ids[0], ghost]), 'NotFound', [4, ghost]);
  // after the order's own CVM, before its listed offers
  await refused(creator.address, 'createOrder', c([ghost], SERVE(0), { cvm: ids[0] }), 'NotFound', [4, ghost]);
  await refused(creator.address, 'createOrder', c([ghost], SERVE(0), { offers: [999999] }), 'NotFound', [4, ghost]);
  const r = await send(creator.address, 'createOrder', c(ids));
  const id = BigInt(r.logs.at(-1).topics[1]);
  const o = await view('order', [id]);
  assert.deepStrictEqual(o.serve.workers, ids.map((x) => ({ cvm: x, endpoint: '', joinedAt: 0n })));
  assert.deepStrictEqual((await view('order', [await newOrder(creator, cvm, [], 10, SERVE(0))])).serve.workers, []);
});

test('services.join: a worker CVM\'s endpoint while the service runs', async () => {
  const w = await world({ tee: PER_HOUR(3600) });
  const { creator, provider, cvm, teeOffer } = w;
  const w1 = await newCvm(provider, teeOffer);
  const w2 = await newCvm(provider, await newOffer(provider, 3, FIXED(1))); // any CVM may be a worker
  const outsider = await newCvm(provider, teeOffer);
  const r = await send(creator.address, 'createOrder', [{ ...orderArgs(cvm, [], 100, SERVE(0)), workers: [w1.id, w2.id] }]);
  const id = BigInt(r.logs.at(-1).topics[1]);
  const batch = await newOrder(creator, cvm, [], 10);
  // HOST:PORT: 1..255 printable ASCII bytes, no spaces; the last colon splits
  // it; an IPv6 host in brackets; a port 1..65535 in its one spelling
  const bad = ['', 'h'.repeat(251) + ':8443', 'host :80', 'host\t:80', 'hé:80', 'host\x7f:80', 'host', ':80',
    'host:', 'host:0', 'host:080', 'host:65536', 'host:100000', 'host:8a', 'host:+80', 'host: 80',
    '[::1:80', '[:80', '[]:80', '[::1]:'];
  for (const e of bad) await refused(w1.address, 'joinService', [id, e], 'Malformed', [27]);
  await refused(w1.address, 'joinService', [MAX + 1n, 'h:1'], 'Malformed', [5]);
  // the endpoint is checked before the order and the sender are looked up
  const stranger = newAddr();
  await refused(stranger, 'joinService', [999999, 'h:0'], 'Malformed', [27]);
  await refused(stranger, 'joinService', [id, 'h:1'], 'UnknownAddress', [stranger]);
  await refused(w1.address, 'joinService', [999999, 'h:1'], 'NotFound', [5, word(999999)]);
  await refused(w1.address, 'joinService', [batch, 'h:1'], 'BadState', [5, batch, 0]);
  await refused(creator.address, 'joinService', [id, 'h:1'], 'NotAllowed', [2, 0]);
  await refused(outsider.address, 'joinService', [id, 'h:1'], 'NotAllowed', [11, id]);
  await refused(cvm.address, 'joinService', [id, 'h:1'], 'NotAllowed', [11, id]); // the head is no worker
  await refused(w1.address, 'joinService', [id, 'h:1'], 'BadState', [4, id, 0]);
  await at(now + 10);
  await send(cvm.address, 'startOrder', [id]);
  await later(5);
  const good = ['h:1', 'a:b:80', '[a]:80', '[fd00::1]:65535', 'h'.repeat(249) + ':65535', 'w1.example:9000'];
  for (const e of good) await send(w1.address, 'joinService', [id, e]);
  const [index] = await view('totals');
  const joined = await send(w2.address, 'joinService', [id, '10.0.0.2:9000']);
  const log = joined.logs.at(-1);
  assert.strictEqual(log.address, ledger.toLowerCase(), 'the ledger\'s event (by delegatecall)');
  assert.deepStrictEqual(log.topics, [topic('ServiceJoined'), word(id), w2.id]);
  assert.deepStrictEqual(eventData('ServiceJoined', log), [index, '10.0.0.2:9000']);
  let o = await view('order', [id]);
  const t1 = BigInt(now);
  assert.deepStrictEqual(o.serve.workers, [
    { cvm: w1.id, endpoint: 'w1.example:9000', joinedAt: t1 },
    { cvm: w2.id, endpoint: '10.0.0.2:9000', joinedAt: t1 },
  ]);
  // a worker that restarted joins again: its new endpoint and time, the others unchanged
  await later(60);
  await send(w1.address, 'joinService', [id, '[fd00::1]:9001']);
  o = await view('order', [id]);
  assert.deepStrictEqual(o.serve.workers, [
    { cvm: w1.id, endpoint: '[fd00::1]:9001', joinedAt: t1 + 60n },
    { cvm: w2.id, endpoint: '10.0.0.2:9000', joinedAt: t1 },
  ]);
  assert.deepStrictEqual([o.status, o.serve.started, o.payments.length], [1n, false, 0], 'joins start and pay nothing');
  // an ended service takes no joins; its workers stay in the view
  await send(cvm.address, 'failOrder', [id, 'stopped']);
  await refused(w2.address, 'joinService', [id, 'h:1'], 'BadState', [4, id, 3]);
  assert.strictEqual((await view('order', [id])).serve.workers.length, 2);
});

test('a whole three-party order (gas)', async () => {
  const start = Object.fromEntries(Object.entries(gas).map(([k, v]) => [k, v.length]));
  const steps = [];
  const step = async (label, from, name, args, arity) => {
    const r = await send(from, name, args, arity);
    steps.push([label, Number(r.gasUsed), await gasBreakdown(r)]);
    return r;
  };
  const mk = async (label) => {
    const address = newAddr();
    const id = rand32();
    await step(`register ${label}`, address, 'register', [id, recipient(label), label, binding]);
    known.add(id);
    return { address, id, label };
  };
  const dataOwner = await mk('data owner');
  const modelOwner = await mk('model owner');
  const provider = await mk('provider');
  const tee = BigInt((await step('offer: tee (per_hour)', provider.address, 'createOffer',
    [3, 'h200 cvm', 'https://provider.example', PER_HOUR(360), 0])).logs.at(-1).topics[1]);
  const dataset = BigInt((await step('offer: dataset (fixed)', dataOwner.address, 'createOffer',
    [1, 'cancer scans', 'ward://dataset/1', FIXED(50), 0])).logs.at(-1).topics[1]);
  const key = rand32();
  const cvmAddress = newAddr();
  await step('registerCvm', provider.address, 'registerCvm', [key, cvmAddress, binding, recipient('cvm'), CERT, tee, 0, NO_RES]);
  known.add(key);
  const cvm = { id: sha256(key), address: cvmAddress };
  const fundGas = Number((await send(modelOwner.address, 'fund', [modelOwner.id, 1000])).gasUsed);
  const order = BigInt((await step('createOrder', modelOwner.address, 'createOrder',
    [orderArgs(cvm, [dataset], 200)])).logs.at(-1).topics[1]);
  await at(now + 10);
  await step('startOrder', cvmAddress, 'startOrder', [order]);
  await step('useGrants', cvmAddress, 'useGrants', [order, [{ id: rand32(), owner: dataOwner.id, uses: 3 }]]);
  await at(now + 600);
  await step('submitReport (settles)', cvmAddress, 'submitReport', [order, REPORT, claims(cvm, order)]);
  const o = await view('order', [order]);
  assert.deepStrictEqual(o.payments.map((p) => p.amount), [60n, 50n]);
  assert.strictEqual(o.refund, 90n);
  threeParty.steps = steps;
  threeParty.fund = fundGas;
  void start;
});
const threeParty = {};

// --- main ---
async function main() {
  let failed = 0;
  try {
    await startAnvil(['--chain-id', '31337', '--accounts', '120', '--timestamp', '1767225600', '--code-size-limit', String(EIP170), '--steps-tracing']);
    // Block times move only when a test moves them (at, later): the wall
    // clock of a loaded machine never adds a second between two blocks.
    await rpc('anvil_setBlockTimestampInterval', [0]);
    addrs = await rpc('eth_accounts');
    const deployer = newAddr();
    const hash = await rpc('eth_sendTransaction', [{ from: deployer, data: ARTIFACT.bytecode + word(1).slice(2), gas: '0x1c9c380' }]);
    const receipt = await mined(hash);
    assert.strictEqual(receipt.status, '0x1', 'deployment');
    ledger = receipt.contractAddress;
    gas.deploy = [Number(receipt.gasUsed)];
    ledgerIdHex = await view('ledgerId');
    await at(now + 1);
    for (const t of tests) {
      try {
        await t.body();
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
  console.log('\ngas used per call (min / max over the tests)');
  for (const [name, list] of Object.entries(gas).sort()) {
    console.log(`  ${name.padEnd(26)} ${String(Math.min(...list)).padStart(9)} ${String(Math.max(...list)).padStart(9)}  (${list.length} calls)`);
  }
  if (threeParty.steps) {
    console.log('\na whole three-party order (data owner, model owner, provider)');
    let total = 0;
    let perOrder = 0;
    for (const [label, g] of threeParty.steps) {
      console.log(`  ${label.padEnd(26)} ${String(g).padStart(9)}`);
      total += g;
      if (['createOrder', 'startOrder', 'useGrants', 'submitReport (settles)'].includes(label)) perOrder += g;
    }
    console.log(`  ${'total'.padEnd(26)} ${String(total).padStart(9)}`);
    console.log(`  ${'of which the order itself'.padEnd(26)} ${String(perOrder).padStart(9)}  (create, start, grants, report)`);
    console.log(`  (the dev faucet's fund, not counted: ${threeParty.fund})`);
    console.log('\nits steps\' gas by what it paid for (debug_traceTransaction; SSTORE net of refunds)');
    const cell = (v, w = 10) => String(v).padStart(w);
    console.log(`  ${'step'.padEnd(26)}${GAS_PARTS.map((k) => cell(k)).join('')}${cell('gasUsed')}`);
    const sums = Object.fromEntries(GAS_PARTS.map((k) => [k, 0]));
    let all = 0;
    for (const [label, g, parts] of threeParty.steps) {
      console.log(`  ${label.padEnd(26)}${GAS_PARTS.map((k) => cell(parts[k])).join('')}${cell(g)}`);
      for (const k of GAS_PARTS) sums[k] += parts[k];
      all += g;
    }
    console.log(`  ${'total'.padEnd(26)}${GAS_PARTS.map((k) => cell(sums[k])).join('')}${cell(all)}`);
  }
  const size = (k) => (ARTIFACT[k].length - 2) / 2;
  console.log(`\ndeployed code: WardLedger ${size('deployedBytecode')} bytes, WardLedgerViews ${size('viewsDeployedBytecode')} bytes (limit ${EIP170})`);
  console.log(`\n${tests.length - failed} of ${tests.length} tests passed`);
  process.exit(failed ? 1 : 0);
}

main();
