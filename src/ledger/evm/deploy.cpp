#include "ledger/evm/deploy.h"

#include "evm/abi.h"
#include "evm/rpc.h"
#include "evm/sender.h"
#include "ledger/evm/contract_code.h"
#include "ledger/evm/reader.h"

namespace ward::ledger::evm {

Result<Deployed> deploy_ledger(std::string_view node_url, const keys::PartyKey& key, bool dev) {
  namespace abi = ward::evm::abi;
  auto rpc = ward::evm::RpcClient::open(node_url);
  if (!rpc) return std::unexpected(rpc.error());
  auto evm_key = key.evm_key();
  if (!evm_key) return std::unexpected(evm_key.error());

  const std::string_view hex = contract_code().creation_hex;
  auto code = hex_decode(hex.substr(2));
  if (!code) return fail("ledger.evm", "the embedded contract code is not hex");
  auto constructor = abi::encode({*abi::Type::parse("bool")}, {abi::Value::boolean(dev)});
  if (!constructor) return std::unexpected(constructor.error());
  code->insert(code->end(), constructor->begin(), constructor->end());

  auto sent = ward::evm::send_call(**rpc, *evm_key, std::nullopt, *code);
  if (!sent) return fail(sent.error(), "deploying the ledger contract");
  if (sent->reverted || !sent->receipt || !sent->receipt->contract_address) {
    return fail("ledger.evm", "the deployment reverted (out of gas, or the chain refuses code this large?)");
  }
  Deployed d;
  d.contract = *sent->receipt->contract_address;
  d.chain_id = sent->transaction->tx.chain_id;
  d.block = sent->receipt->block_number;
  d.transaction = sent->receipt->transaction_hash;
  d.gas_used = sent->receipt->gas_used;
  ContractReader reader(**rpc, d.contract);
  auto info = reader.info();
  if (!info) return fail(info.error(), "reading the deployed ledger");
  if (info->dev != dev) return fail("ledger.evm", "the deployed ledger's dev flag is not the one asked for");
  d.ledger_id = info->id;
  std::string url(node_url);
  while (url.ends_with('/')) url.pop_back();
  d.target = "evm+" + url + "#" + d.contract.to_checksum();
  return d;
}

}  // namespace ward::ledger::evm
