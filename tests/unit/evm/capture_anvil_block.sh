#!/usr/bin/env bash
# Captures anvil_block.json, the fixture of evm_test's receipts-root and
# transactions-root tests: one block mined by a real node (anvil 1.7.1, from
# .deps) holding a contract creation that logs, a creation that reverts, and
# 130 transfers (so that trie keys rlp(i) reach two bytes), all signed by
# anvil's first dev account. Run from the repository root; needs curl and jq.
set -euo pipefail

anvil=.deps/npm/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil
port=18545
out=tests/unit/evm/anvil_block.json
from=0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266

"$anvil" --port "$port" --silent &
anvil_pid=$!
trap 'kill "$anvil_pid"' EXIT
for _ in $(seq 50); do
  curl -sf -o /dev/null -H 'content-type: application/json' \
    -d '{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}' "http://127.0.0.1:$port" && break
  sleep 0.2
done

rpc() {
  curl -sf -H 'content-type: application/json' \
    -d "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"$1\",\"params\":$2}" "http://127.0.0.1:$port"
}

rpc evm_setAutomine '[false]' >/dev/null
# Init code: mstore(0, 42); log1(0, 32, t1); log2(0, 0, t1, t2); stop.
t1=1111111111111111111111111111111111111111111111111111111111111111
t2=2222222222222222222222222222222222222222222222222222222222222222
logging="0x602a600052""7f$t1""60206000a1""7f$t2""7f$t1""60006000a200"
rpc eth_sendTransaction "[{\"from\":\"$from\",\"data\":\"$logging\",\"gas\":\"0x30000\"}]" >/dev/null
# Init code: revert(0, 0), with the gas given so the node does not refuse it.
rpc eth_sendTransaction "[{\"from\":\"$from\",\"data\":\"0x60006000fd\",\"gas\":\"0x10000\"}]" >/dev/null
for i in $(seq 130); do
  to=$(printf '0x%040x' "$((0x1000 + i))")
  rpc eth_sendTransaction "[{\"from\":\"$from\",\"to\":\"$to\",\"value\":\"0x$(printf '%x' "$i")\"}]" >/dev/null
done
rpc evm_mine '[]' >/dev/null

block=$(rpc eth_getBlockByNumber '["latest",false]' | jq '.result')
receipts=$(rpc eth_getBlockReceipts '["latest"]' | jq '[.result[] |
  {type, status, cumulativeGasUsed, logsBloom, logs: [.logs[] | {address, topics, data}]}]')
raw='[]'
for hash in $(jq -r '.transactions[]' <<<"$block"); do
  tx=$(rpc eth_getRawTransactionByHash "[\"$hash\"]" | jq '.result')
  raw=$(jq --argjson tx "$tx" '. + [$tx]' <<<"$raw")
done
jq -n --argjson block "$block" --argjson receipts "$receipts" --argjson raw "$raw" '{
  note: "captured by tests/unit/evm/capture_anvil_block.sh from anvil 1.7.1",
  number: $block.number, receiptsRoot: $block.receiptsRoot,
  transactionsRoot: $block.transactionsRoot, transactionHashes: $block.transactions,
  receipts: $receipts, rawTransactions: $raw}' >"$out"
echo "wrote $out: $(jq '.receipts | length' "$out") receipts"
