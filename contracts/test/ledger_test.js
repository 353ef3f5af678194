#!/usr/bin/env node
// WardLedger on a local anvil: every rule of src/ledger/contract.cpp, its
// happy path and each refusal (custom error and arguments), settlement
// arithmetic, conservation of tokens after every accepted call, the
// byte-for-byte rebuild of the checked-in artifact and EIP-170's size limit.
// Prints a gas table. Exits non-zero on any failure.
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
// accepted by eth_call first, so a refusal reports its error.
async function send(from, name, args = [], arity) {
  const f = fn(name, arity === undefined ? args.length : arity);
  const tx = { from, to: ledger, data: calldata(f, args) };
  try {
    await rpc('eth_call', [tx, 'latest']);
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
    await rpc('eth_call', [{ from, to: ledger, data: calldata(f, args) }, 'latest']);
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

async function newOffer(owner, kind, price) {
  const r = await send(owner.address, 'createOffer', [kind, `offer of ${owner.label}`, 'res://x', price]);
  return BigInt(r.logs.at(-1).topics[1]);
}

const CERT = Buffer.alloc(800, 'C'); // a PEM certificate's size
let ledgerIdHex;

async function newCvm(provider, teeOffer) {
  const key = rand32();
  const address = newAddr();
  const recip = recipient('cvm' + key.slice(2, 8));
  await send(provider.address, 'registerCvm', [key, address, binding, recip, CERT, teeOffer, 0]);
  known.add(key);
  return { key, address, id: sha256(key), recipient: recip };
}

const NO_SERVE = { present: false, access: 0, accounts: [], perRequest: 0, per1kTokens: 0 };
function orderArgs(cvm, offers, deposit, serve = NO_SERVE, engine = 'sha256:engine') {
  return {
    cvm: cvm.id, engine, inputs: ['ward://input/1'],
    outputs: serve.present ? [] : [recipient('out')], offers, deposit, serve,
  };
}
async function newOrder(creator, cvm, offers, deposit, serve) {
  const r = await send(creator.address, 'createOrder', [orderArgs(cvm, offers, deposit, serve)]);
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
  await refused(owner.address, 'createOffer', [4, 'n', 'r', FIXED(1)], 'Malformed', [6]);
  await refused(owner.address, 'createOffer', [0, '', 'r', FIXED(1)], 'Malformed', [3]);
  await refused(owner.address, 'createOffer', [0, 'n', '', FIXED(1)], 'Malformed', [8]);
  await refused(owner.address, 'createOffer', [0, 'n', 'r', PRICE(0, 1, 1)], 'Malformed', [7]);
  await refused(owner.address, 'createOffer', [0, 'n', 'r', SHARE(10001)], 'Malformed', [7]);
  await refused(owner.address, 'createOffer', [0, 'n', 'r', PRICE(3, 1)], 'Malformed', [7]);
  await refused(owner.address, 'createOffer', [0, 'n', 'r', FIXED(MAX + 1n)], 'Malformed', [5]);
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

test('cvms.register, cvms.heartbeat, cvms.update', async () => {
  const provider = await newAccount('provider');
  const other = await newAccount('other');
  const tee = await newOffer(provider, 3, PER_HOUR(10));
  const dataset = await newOffer(provider, 1, FIXED(1));
  const key = rand32();
  const address = newAddr();
  const args = (k, a, o) => [k, a, binding, recipient('cvm'), CERT, o, 0];
  await refused(provider.address, 'registerCvm', [key, address, '0x11', recipient('cvm'), CERT, tee, 0], 'Malformed', [4]);
  await refused(provider.address, 'registerCvm', [key, address, binding, recipient('cvm'), '0x', tee, 0], 'Malformed', [9]);
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
  await send(provider.address, 'registerCvm', [key2, address2, binding, recipient('cvm'), CERT, tee, t]);
  known.add(key2);
  assert.strictEqual((await view('cvm', [sha256(key2)])).notAfter, BigInt(t));
  await refused(address2, 'updateCvm', [cert2, key2, recipient('cvm'), t], 'BadState', [9, t, t]);
  await send(address2, 'updateCvm', [cert2, key2, recipient('cvm'), t + 1]);
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

test('a whole three-party order (gas)', async () => {
  const start = Object.fromEntries(Object.entries(gas).map(([k, v]) => [k, v.length]));
  const steps = [];
  const step = async (label, from, name, args, arity) => {
    const r = await send(from, name, args, arity);
    steps.push([label, Number(r.gasUsed)]);
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
    [3, 'h200 cvm', 'https://provider.example', PER_HOUR(360)])).logs.at(-1).topics[1]);
  const dataset = BigInt((await step('offer: dataset (fixed)', dataOwner.address, 'createOffer',
    [1, 'cancer scans', 'ward://dataset/1', FIXED(50)])).logs.at(-1).topics[1]);
  const key = rand32();
  const cvmAddress = newAddr();
  await step('registerCvm', provider.address, 'registerCvm', [key, cvmAddress, binding, recipient('cvm'), CERT, tee, 0]);
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
    await startAnvil(['--chain-id', '31337', '--accounts', '120', '--timestamp', '1767225600', '--code-size-limit', String(EIP170)]);
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
  }
  const size = (k) => (ARTIFACT[k].length - 2) / 2;
  console.log(`\ndeployed code: WardLedger ${size('deployedBytecode')} bytes, WardLedgerViews ${size('viewsDeployedBytecode')} bytes (limit ${EIP170})`);
  console.log(`\n${tests.length - failed} of ${tests.length} tests passed`);
  process.exit(failed ? 1 : 0);
}

main();
