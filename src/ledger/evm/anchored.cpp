#include "ledger/evm/anchored.h"

#include "ledger/evm/client.h"

namespace ward::ledger::evm {

Result<std::vector<Anchor>> verify_anchors(LedgerClient& client, const NoteVerifier& verifier,
                                           const Checkpoint& latest, std::string_view anchors_target) {
  auto where = parse_target(anchors_target);
  if (!where) return fail(where.error(), "--anchors");
  auto summary = client.summary();
  if (!summary) return std::unexpected(summary.error());
  auto anchors = read_anchors(where->node_url, where->contract, summary->info.id);
  if (!anchors) return std::unexpected(anchors.error());
  for (const auto& a : *anchors) {
    const std::string name =
        "anchor in block " + std::to_string(a.block) + " (size " + std::to_string(a.size) + ")";
    auto cp = open_checkpoint(a.note, verifier);
    if (!cp) return fail("ledger.anchor", name + ": its note is not a checkpoint signed by the ledger's key");
    if (cp->size != a.size || cp->root != a.root) {
      return fail("ledger.anchor", name + ": its note's size and root are not the event's");
    }
    if (a.size > latest.size) {
      return fail("ledger.anchor", name + ": the ledger's log has only " + std::to_string(latest.size) +
                                       " records (rolled back?)");
    }
    std::vector<Hash> proof;
    if (a.size < latest.size) {
      auto got = client.consistency_proof(a.size, latest.size);
      if (!got) return std::unexpected(got.error());
      proof = std::move(*got);
    }
    if (!verify_consistency(a.size, latest.size, a.root, latest.root, proof)) {
      return fail("ledger.anchor",
                  name + ": the anchored root is not the root of the ledger's log at that size");
    }
  }
  return anchors;
}

std::optional<Anchor> first_anchor_holding(const std::vector<Anchor>& anchors, std::uint64_t index) {
  for (const auto& a : anchors) {
    if (a.size > index) return a;
  }
  return std::nullopt;
}

}  // namespace ward::ledger::evm
