// A small Solidity ABI coder for the tests, driven by the artifact's ABI
// entries: enough for WardLedger's types (uintN, bool, address, bytesN,
// bytes, string, T[], tuples). keccak256 comes from js-sha3, solc-js's own
// dependency, so the tests need nothing beyond the pinned solc.
'use strict';

const path = require('path');

const { keccak256 } = require(path.resolve(__dirname, '../../.deps/npm/node_modules/js-sha3'));

const keccak = (data) => Buffer.from(keccak256.arrayBuffer(data));

// The canonical type of an ABI parameter: tuples spelled out.
function canonical(p) {
  if (!p.type.startsWith('tuple')) return p.type;
  return `(${p.components.map(canonical).join(',')})${p.type.slice(5)}`;
}

function signature(entry) {
  return `${entry.name}(${entry.inputs.map(canonical).join(',')})`;
}

function selector(entry) {
  return keccak(signature(entry)).subarray(0, 4);
}

function arrayOf(p) {
  const m = p.type.match(/^(.*)\[(\d*)\]$/);
  if (!m) return null;
  return { inner: { ...p, type: m[1] }, length: m[2] === '' ? null : Number(m[2]) };
}

function isDynamic(p) {
  if (p.type === 'bytes' || p.type === 'string') return true;
  const arr = arrayOf(p);
  if (arr) return arr.length === null || isDynamic(arr.inner);
  if (p.type === 'tuple') return p.components.some(isDynamic);
  return false;
}

const word = (n) => {
  let v = BigInt(n);
  if (v < 0n) v += 1n << 256n;
  return Buffer.from(v.toString(16).padStart(64, '0'), 'hex');
};
const padRight = (b) => Buffer.concat([b, Buffer.alloc((32 - (b.length % 32)) % 32)]);
const toBytes = (v) => (Buffer.isBuffer(v) ? v : Buffer.from(String(v).replace(/^0x/, ''), 'hex'));

function encodeValue(p, v) {
  const arr = arrayOf(p);
  if (arr) {
    const items = encodeList(v.map(() => arr.inner), v);
    return arr.length === null ? Buffer.concat([word(v.length), items]) : items;
  }
  if (p.type === 'tuple') {
    const values = Array.isArray(v) ? v : p.components.map((c) => v[c.name]);
    return encodeList(p.components, values);
  }
  if (p.type === 'bool') return word(v ? 1 : 0);
  if (p.type === 'address') return word(BigInt(v));
  if (p.type.startsWith('uint') || p.type.startsWith('int')) return word(v);
  if (p.type === 'string') {
    const b = Buffer.from(v, 'utf8');
    return Buffer.concat([word(b.length), padRight(b)]);
  }
  if (p.type === 'bytes') {
    const b = toBytes(v);
    return Buffer.concat([word(b.length), padRight(b)]);
  }
  if (/^bytes\d+$/.test(p.type)) return padRight(toBytes(v)).subarray(0, 32);
  throw new Error(`abi: type ${p.type}`);
}

function encodeList(types, values) {
  if (types.length !== values.length) throw new Error(`abi: ${values.length} values for ${types.length} types`);
  const heads = [];
  const tails = [];
  let offset = 0;
  for (let i = 0; i < types.length; ++i) offset += isDynamic(types[i]) ? 32 : encodeValue(types[i], values[i]).length;
  for (let i = 0; i < types.length; ++i) {
    const enc = encodeValue(types[i], values[i]);
    if (isDynamic(types[i])) {
      heads.push(word(offset));
      tails.push(enc);
      offset += enc.length;
    } else {
      heads.push(enc);
    }
  }
  return Buffer.concat([...heads, ...tails]);
}

function staticSize(p) {
  const arr = arrayOf(p);
  if (arr) return arr.length * staticSize(arr.inner);
  if (p.type === 'tuple') return p.components.reduce((n, c) => n + staticSize(c), 0);
  return 32;
}

function decodeValue(p, buf, at) {
  const arr = arrayOf(p);
  if (arr) {
    let base = at;
    let length = arr.length;
    if (length === null) {
      length = Number(buf.readBigUInt64BE(at + 24));
      base = at + 32;
    }
    return decodeList(Array(length).fill(arr.inner), buf, base);
  }
  if (p.type === 'tuple') {
    const values = decodeList(p.components, buf, at);
    const out = {};
    p.components.forEach((c, i) => (out[c.name] = values[i]));
    return out;
  }
  const w = buf.subarray(at, at + 32);
  if (p.type === 'bool') return w[31] === 1;
  if (p.type === 'address') return '0x' + w.subarray(12).toString('hex');
  if (p.type.startsWith('uint')) return BigInt('0x' + w.toString('hex'));
  if (p.type === 'string' || p.type === 'bytes') {
    const n = Number(BigInt('0x' + w.toString('hex')));
    const b = buf.subarray(at + 32, at + 32 + n);
    return p.type === 'string' ? b.toString('utf8') : '0x' + b.toString('hex');
  }
  if (/^bytes\d+$/.test(p.type)) return '0x' + w.toString('hex');
  throw new Error(`abi: type ${p.type}`);
}

function decodeList(types, buf, base = 0) {
  const out = [];
  let at = base;
  for (const t of types) {
    if (isDynamic(t)) {
      const offset = Number(BigInt('0x' + buf.subarray(at, at + 32).toString('hex')));
      out.push(decodeValue(t, buf, base + offset));
      at += 32;
    } else {
      out.push(decodeValue(t, buf, at));
      at += staticSize(t);
    }
  }
  return out;
}

module.exports = { keccak, signature, selector, encodeList, decodeList, canonical };
