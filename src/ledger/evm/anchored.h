// An embedded ledger's anchors (anchor.h), checked against the ledger
// itself: what `ward ledger verify --anchors` and `ward orders verify
// --anchors` trust an anchor for. Part of ward_ledger_client, since it reads
// both the chain and the ledger.
#pragma once

#include <optional>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "ledger/client.h"
#include "ledger/evm/anchor.h"

namespace ward::ledger::evm {

// Every anchor of the ledger `client` serves, read from the WardAnchor at
// `anchors_target` (evm+http://HOST:PORT#0xANCHOR), oldest first, each
// checked: its note is a checkpoint signed by `verifier` (the ledger's key),
// of the event's size and root, and `latest` (a checkpoint of the same
// ledger, opened with that key) extends it by a consistency proof from the
// ledger: the log at the anchored size is the one anchored. The first
// failure is "ledger.anchor" naming the anchor.
Result<std::vector<Anchor>> verify_anchors(LedgerClient& client, const NoteVerifier& verifier,
                                           const Checkpoint& latest, std::string_view anchors_target);

// The first of `anchors` (checked, oldest first) whose tree holds record
// `index`: the record was in the log by that anchor's block time.
std::optional<Anchor> first_anchor_holding(const std::vector<Anchor>& anchors, std::uint64_t index);

}  // namespace ward::ledger::evm
