// The part of an order that batch and service orders share (DESIGN.md step
// 7): fetch every grant and ciphertext, check every grant against the order
// and the ledger, and only then decrypt the engine (checked against the
// order) and the inputs into the order's work directory on the CVM's tmpfs.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "attest/policy.h"
#include "base/error.h"
#include "engine/image.h"
#include "ledger/client.h"
#include "loader/cvm.h"
#include "loader/pipeline.h"
#include "loader/report.h"

namespace ward::loader {

struct Prepared {
  std::string started;  // RFC 3339, when the order began here
  std::filesystem::path rootfs;
  engine::ImageConfig image;
  std::vector<std::filesystem::path> inputs;  // /ward/inputs/<n> in order
  ReportInput engine_resource;
  std::vector<ReportInput> report_inputs;
  // The attestation policies of the order's grants to a key broker: what
  // a split order's workers must meet as well.
  std::vector<attest::Policy> broker_policies;
};

// Adds the fetch, verify and decrypt stages to `stages`. An error is the
// order's failure reason; nothing is decrypted unless every check passed.
Result<Prepared> prepare_order(const CvmState& cvm, ledger::LedgerClient& ledger,
                               const ledger::LedgerId& ledger_id, const ledger::Order& order,
                               const PipelineOptions& options, const std::filesystem::path& work,
                               std::map<std::string, std::uint64_t>& stages);

// A worker's part of a split service order: the engine alone, released by
// a key broker for this worker (a grant to one CVM cannot follow the order
// here), decrypted and unpacked into work/rootfs and checked against the
// order. No input is fetched; grants.use is the head's.
Result<Prepared> prepare_worker(const CvmState& cvm, const ledger::LedgerId& ledger_id,
                                const ledger::Order& order, const PipelineOptions& options,
                                const std::filesystem::path& work);

// The report's fields that say what ran where: ledger, order, CVM and its
// certificate, engine and inputs, start time. The caller adds the rest.
Report report_of(const CvmState& cvm, const ledger::LedgerId& ledger_id, const ledger::Order& order,
                 const Prepared& prepared);

}  // namespace ward::loader
