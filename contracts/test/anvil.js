// The contract tests' anvil: started on a free loopback port with the given
// arguments, killed on exit, and JSON-RPC to it (a node error throws, with
// its revert data in err.data).
'use strict';

const net = require('net');
const path = require('path');
const { spawn } = require('child_process');

const ANVIL = path.join(path.resolve(__dirname, '../..'),
                        '.deps/npm/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil');

let anvil;
let url;
let rpcId = 0;

async function rpc(method, params = []) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: ++rpcId, method, params }),
  });
  const body = await res.json();
  if (body.error) {
    const err = new Error(`${method}: ${body.error.message}`);
    err.data = body.error.data;
    throw err;
  }
  return body.result;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

async function startAnvil(args) {
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  anvil = spawn(ANVIL, ['--port', String(port), '--silent', ...args], { stdio: 'ignore' });
  for (let i = 0; i < 100; ++i) {
    try {
      await rpc('eth_chainId');
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error('anvil did not start');
}

// The receipt of a transaction anvil has taken: it mines at once, but on a
// loaded machine (the CI's two cores) the receipt can take seconds.
async function mined(hash) {
  for (let i = 0; i < 4000; ++i) {
    const receipt = await rpc('eth_getTransactionReceipt', [hash]);
    if (receipt) return receipt;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`transaction ${hash} was not mined`);
}

function stopAnvil() {
  if (anvil && anvil.exitCode === null) anvil.kill('SIGTERM');
}
process.on('exit', stopAnvil);

module.exports = { mined, rpc, startAnvil, stopAnvil };
