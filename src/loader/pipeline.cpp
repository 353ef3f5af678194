#include "loader/pipeline.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>
#include <sys/stat.h>
#include <system_error>
#include <utility>
#include <vector>

#include "base/file.h"
#include "base/time.h"
#include "base/work_dir.h"
#include "engine/image.h"
#include "files/grant.h"
#include "files/resource.h"
#include "files/transfer.h"
#include "kms/broker.h"
#include "loader/prepare.h"
#include "loader/service.h"
#include "store/store.h"

namespace ward::loader {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr std::uint64_t kMaxGrantSize = std::uint64_t{1} << 20;

// The order's private directory in the tmpfs: created empty, removed with
// everything in it however the order ends. Run as root, the sandbox drops
// to kSandboxUid, which must reach the inputs and the output: the order's
// directory is that uid's alone.
Result<WorkDir> order_dir(const fs::path& root, std::uint64_t order) {
  auto dir = WorkDir::create_at(root / ("order-" + std::to_string(order)));
  if (!dir) return fail("loader.work", dir.error().message);
  if (::geteuid() == 0 && ::chown(dir->path().c_str(), engine::kSandboxUid, engine::kSandboxUid) != 0)
    return fail("loader.work", "cannot hand " + dir->path().string() + " to the sandbox's uid: " + std::strerror(errno));
  return dir;
}

class StageClock {
 public:
  explicit StageClock(std::map<std::string, std::uint64_t>& out) : out_(out), start_(Clock::now()) {}
  void end(const std::string& stage) {
    const auto now = Clock::now();
    out_[stage] += static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(now - start_).count());
    start_ = now;
  }

 private:
  std::map<std::string, std::uint64_t>& out_;
  Clock::time_point start_;
};

struct Component {
  std::string grant_uri;
  crypto::Sha256Digest grant_digest{};
  files::Grant grant;
};

ReportInput report_input(const Component& c, const crypto::Sha256Digest& plaintext) {
  return ReportInput{c.grant.descriptor.resource.ciphertext_sha256, plaintext, c.grant.policy.owner,
                     c.grant_digest};
}

// Steps 7 to 10 up to the signed report. Any Error is the order's failure
// reason; nothing has been decrypted when a grant or digest check fails.
// The ledger's refusal of grants.use as the grant check it enforces.
std::unexpected<Error> grant_use_refusal(const Error& e) {
  if (e.message.starts_with("rejected (revoked)")) return fail("files.grant", "grant.revoked: " + e.message);
  if (e.message.starts_with("rejected (used_up)")) return fail("files.grant", "grant.uses: " + e.message);
  return fail(e, "the ledger refused the order's use of its grants");
}

}  // namespace

namespace {

// Fetches the grant of every input of `order` (each names its resource).
Result<std::vector<Component>> fetch_grants(const ledger::Order& order) {
  std::vector<Component> components;
  for (const auto& uri : order.inputs) {
    auto ref = store::parse_blob_uri(uri);
    if (!ref) return fail(ref.error(), "grant " + uri);
    auto text = store::fetch_bytes(uri, kMaxGrantSize);
    if (!text) return fail(text.error(), "fetching grant " + uri);
    auto grant = files::parse_grant(as_chars(*text));
    if (!grant) return fail(grant.error(), "grant " + uri);
    components.push_back(Component{uri, ref->sha256, std::move(*grant)});
  }
  return components;
}

// Asks the key brokers, in turn, for the key of input `index`, a grant to a
// broker: the broker checks this CVM, the order and the ledger's count, and
// re-wraps the key for this order on this CVM alone, which is what the
// header must then say.
Result<void> release_from_broker(const CvmState& cvm, const PipelineOptions& options,
                                 const ledger::LedgerId& ledger_id, const ledger::Order& order,
                                 std::size_t index, Component& component,
                                 const std::function<void(const std::string&)>& log) {
  auto& grant = component.grant;
  const auto binding = files::release_binding(grant.id, ledger_id, order.id, cvm.id);
  Result<kms::Released> released = fail("kms.client", "no key broker");
  for (const auto& url : options.kms) {
    released = kms::request_release(url, cvm.key, cvm.certificate_pem, order.id, index,
                                    grant.policy.broker->recipient);
    // A refusal is the broker's verdict; only an unreachable one is skipped.
    if (released || released.error().code == "kms.refused") break;
  }
  if (!released) return fail(released.error(), "grant " + component.grant_uri);
  if (auto ok = files::accept_release(grant, std::move(released->header), cvm.key.identity(), binding); !ok)
    return fail(ok.error(), "grant " + component.grant_uri + " as the key broker released it");
  log("the key broker released grant " + std::to_string(index) + ": " + released->entry);
  return {};
}

// Decrypts the engine image into work/rootfs, which must be the order's.
Result<void> unpack_engine(const CvmState& cvm, const ledger::Order& order, const Component& engine,
                           const fs::path& work, Prepared& prepared) {
  const fs::path engine_tar = work / "engine.tar";
  if (auto ok = files::decrypt_granted(engine.grant, cvm.key.identity(), engine_tar); !ok) {
    return fail(ok.error(), "decrypting the engine");
  }
  const fs::path rootfs = work / "rootfs";
  auto image = engine::unpack_image(engine_tar, rootfs);
  if (!image) return fail(image.error(), "the engine image");
  if (image->digest != order.engine) {
    return fail("loader.engine", "the engine image is " + image->digest + ", not " + order.engine +
                                     " as the order and its grants say");
  }
  std::error_code ec;
  fs::remove(engine_tar, ec);
  prepared.rootfs = rootfs;
  prepared.image = std::move(*image);
  prepared.engine_resource = report_input(engine, engine.grant.descriptor.resource.plaintext_sha256);
  return {};
}

}  // namespace

Result<Prepared> prepare_order(const CvmState& cvm, ledger::LedgerClient& ledger,
                               const ledger::LedgerId& ledger_id, const ledger::Order& order,
                               const PipelineOptions& options, const fs::path& work,
                               std::map<std::string, std::uint64_t>& stages) {
  const auto log = [&](const std::string& line) {
    if (options.log) options.log("order " + std::to_string(order.id) + ": " + line);
  };
  Prepared prepared;
  prepared.started = format_rfc3339(std::chrono::system_clock::now());
  StageClock clock(stages);

  // Fetch the grants (each names its resource), then every ciphertext.
  auto fetched = fetch_grants(order);
  if (!fetched) return std::unexpected(fetched.error());
  std::vector<Component>& components = *fetched;
  clock.end("fetch");

  // Verify: every grant allows this order, exactly one of them is the engine.
  const auto now = std::chrono::system_clock::now();
  const files::OrderTerms terms{cvm.id, order.engine, order.outputs, order.creator, order.serve.has_value()};
  std::size_t engine_index = components.size();
  for (std::size_t i = 0; i < components.size(); ++i) {
    const auto& grant = components[i].grant;
    if (auto ok = files::check_grant_for_order(grant, terms, now); !ok) {
      return fail(ok.error(), "grant " + components[i].grant_uri);
    }
    // The key this grant releases must be bound to the policy just checked,
    // by a holder of the file key: checked before any payload is fetched. A
    // broker's grant is authenticated once the broker has released it.
    if (grant.policy.broker) {
      if (options.kms.empty())
        return fail("files.grant", "grant " + components[i].grant_uri +
                                       " is to a key broker, and this loader knows none (--kms URL)");
      prepared.broker_policies.push_back(grant.policy.broker->attestation);
    } else if (order.serve && !order.serve->workers.empty()) {
      // A split order sends what its grants give to its workers, which a
      // grant to this CVM alone does not name (docs/serving.md).
      return fail("files.grant", "grant " + components[i].grant_uri +
                                     " is to this CVM alone, and a split order sends what it grants to its "
                                     "workers: grant to a key broker instead");
    } else if (auto ok = files::authenticate_grant(grant, cvm.key.identity()); !ok) {
      return fail(ok.error(), "grant " + components[i].grant_uri);
    }
    if (grant.descriptor.resource.engine == order.engine) {
      if (engine_index != components.size()) return fail("loader.engine", "two grants carry the engine image");
      engine_index = i;
    }
  }
  if (engine_index == components.size()) {
    return fail("loader.engine", "no grant carries the engine " + order.engine);
  }
  // The ledger counts uses and knows revocations: it must accept this order's
  // use of every grant before anything is decrypted.
  nlohmann::json uses = nlohmann::json::array();
  for (const auto& c : components) uses.push_back(files::grant_use_entry(c.grant));
  if (auto used = ledger::submit_signed(ledger, cvm.key, "grants.use",
                                        {{"order", order.id}, {"grants", std::move(uses)}});
      !used) {
    return grant_use_refusal(used.error());
  }
  for (std::size_t i = 0; i < components.size(); ++i) {
    if (!components[i].grant.policy.broker) continue;
    if (auto ok = release_from_broker(cvm, options, ledger_id, order, i, components[i], log); !ok)
      return std::unexpected(ok.error());
  }
  clock.end("verify");

  // Each ciphertext is fetched, hashed, decrypted and its plaintext hashed
  // in one pass (files::decrypt_granted); what fails any check is wiped
  // before the next step, and nothing runs before every check passed. The
  // engine comes first: its image must be the one the grants name before
  // any data owner's input is decrypted.
  if (auto ok = unpack_engine(cvm, order, components[engine_index], work, prepared); !ok)
    return std::unexpected(ok.error());
  std::error_code ec;
  auto& inputs = prepared.inputs;
  auto& report_inputs = prepared.report_inputs;
  for (std::size_t i = 0; i < components.size(); ++i) {
    if (i == engine_index) continue;
    const auto& c = components[i];
    const auto& resource = c.grant.descriptor.resource;
    const fs::path dir = work / "inputs" / std::to_string(inputs.size());
    fs::create_directories(dir.parent_path(), ec);
    const fs::path target = resource.kind == "dir" ? dir : dir / resource.name;
    if (resource.kind != "dir") fs::create_directories(dir, ec);
    if (auto ok = files::decrypt_granted(c.grant, cvm.key.identity(), target); !ok) {
      return fail(ok.error(), "decrypting " + resource.name);
    }
    inputs.push_back(dir);
    report_inputs.push_back(report_input(c, resource.plaintext_sha256));
  }
  log("fetched, checked and decrypted the engine and " + std::to_string(inputs.size()) + " inputs");
  clock.end("decrypt");
  return prepared;
}

Result<Prepared> prepare_worker(const CvmState& cvm, const ledger::LedgerId& ledger_id,
                                const ledger::Order& order, const PipelineOptions& options,
                                const fs::path& work) {
  const auto log = [&](const std::string& line) {
    if (options.log) options.log("order " + std::to_string(order.id) + ": " + line);
  };
  Prepared prepared;
  prepared.started = format_rfc3339(std::chrono::system_clock::now());
  auto fetched = fetch_grants(order);
  if (!fetched) return std::unexpected(fetched.error());
  auto& components = *fetched;
  const auto engine = std::ranges::find_if(
      components, [&](const Component& c) { return c.grant.descriptor.resource.engine == order.engine; });
  if (engine == components.end()) return fail("loader.engine", "no grant carries the engine " + order.engine);
  const files::OrderTerms terms{cvm.id, order.engine, order.outputs, order.creator, true};
  if (auto ok = files::check_grant_for_order(engine->grant, terms, std::chrono::system_clock::now()); !ok)
    return fail(ok.error(), "grant " + engine->grant_uri);
  // Only a broker can follow an order to a CVM its owner did not name.
  if (!engine->grant.policy.broker) {
    return fail("files.grant", "grant " + engine->grant_uri +
                                   " is to one CVM: a worker of a split order takes the engine from a key "
                                   "broker (ward files grant --broker)");
  }
  if (options.kms.empty())
    return fail("files.grant",
                "grant " + engine->grant_uri + " is to a key broker, and this loader knows none (--kms URL)");
  const auto index = static_cast<std::size_t>(engine - components.begin());
  if (auto ok = release_from_broker(cvm, options, ledger_id, order, index, *engine, log); !ok)
    return std::unexpected(ok.error());
  if (auto ok = unpack_engine(cvm, order, *engine, work, prepared); !ok) return std::unexpected(ok.error());
  log("fetched, checked and decrypted the engine, for a worker's part");
  return prepared;
}

Report report_of(const CvmState& cvm, const ledger::LedgerId& ledger_id, const ledger::Order& order,
                 const Prepared& prepared) {
  Report report;
  report.ledger = ledger_id;
  report.order = order.id;
  report.cvm = cvm.id;
  report.certificate = cvm.certificate_pem;
  report.engine = order.engine;
  report.engine_resource = prepared.engine_resource;
  report.inputs = prepared.report_inputs;
  report.started = prepared.started;
  return report;
}

namespace {

// Runs a batch order's engine to its end, then seals and uploads its output.
Result<SignedReport> execute(const CvmState& cvm, ledger::LedgerClient& ledger,
                             const ledger::LedgerId& ledger_id, const ledger::Order& order,
                             const PipelineOptions& options, const fs::path& work,
                             std::map<std::string, std::uint64_t>& stages) {
  const auto log = [&](const std::string& line) {
    if (options.log) options.log("order " + std::to_string(order.id) + ": " + line);
  };
  auto prepared = prepare_order(cvm, ledger, ledger_id, order, options, work, stages);
  if (!prepared) return std::unexpected(prepared.error());
  StageClock clock(stages);
  const auto& image = prepared->image;
  const auto& rootfs = prepared->rootfs;
  std::error_code ec;
  // Run.
  const fs::path result = work / "result";
  fs::create_directories(result / "output", ec);
  if (ec) return fail("loader.work", "cannot create the output directory: " + ec.message());
  nlohmann::json args = {{"order", order.id}};
  engine::SandboxSpec spec;
  spec.rootfs = rootfs;
  spec.inputs = prepared->inputs;
  spec.output = result / "output";
  spec.args_json = args.dump();
  spec.argv = image.entrypoint;
  spec.argv.insert(spec.argv.end(), image.cmd.begin(), image.cmd.end());
  spec.env = image.env;
  spec.working_dir = image.working_dir;
  spec.log = result / "engine.log";
  spec.limits = options.limits;
  if (spec.argv.empty()) return fail("loader.engine", "the engine image names no entrypoint or command");
  auto run = engine::run_sandboxed(spec);
  if (!run) return fail(run.error(), "the sandbox");
  log("engine " + run->describe());
  clock.end("run");
  if (run->outcome != engine::RunResult::Outcome::Exited || run->code != 0) {
    return fail("loader.engine", "the engine " + run->describe());
  }
  (void)remove_tree(rootfs);

  // Encrypt the output and the engine's log to the order's recipients.
  std::vector<age::X25519Recipient> recipients;
  for (const auto& r : order.outputs) {
    auto recipient = age::X25519Recipient::parse(r);
    if (!recipient) return fail(recipient.error(), "output recipient " + r);
    recipients.push_back(*recipient);
  }
  const fs::path sealed = work / "output.age";
  auto sealed_info = files::encrypt_path(result, recipients, sealed);
  if (!sealed_info) return fail(sealed_info.error(), "encrypting the output");
  (void)remove_tree(result);
  clock.end("encrypt");

  auto store = store::open_store(options.store);
  if (!store) return std::unexpected(store.error());
  auto blob = (*store)->put_hashed_file(sealed, sealed_info->ciphertext_sha256);
  if (!blob) return fail(blob.error(), "uploading the output");
  log("uploaded the encrypted output " + blob->uri);
  clock.end("upload");

  Report report = report_of(cvm, ledger_id, order, *prepared);
  report.output = ReportOutput{blob->uri, blob->sha256, blob->size, order.outputs};
  report.finished = format_rfc3339(std::chrono::system_clock::now());
  report.exit_code = run->code;
  report.outcome = run->describe();
  report.stages_ms = stages;
  return sign_report(report, cvm.key.signing_key());
}

std::string one_line(std::string text) {
  std::replace_if(text.begin(), text.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
  if (text.size() > 1000) text.resize(1000);
  return text;
}

}  // namespace

void wipe_work_root(const fs::path& work_root) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(work_root, ec)) {
    if (entry.path().filename().string().starts_with("order-")) (void)remove_tree(entry.path());
  }
}

Result<OrderOutcome> process_order(CvmState& cvm, ledger::LedgerClient& ledger, const ledger::Order& order,
                                   const PipelineOptions& options) {
  auto summary = ledger.summary();
  if (!summary) return std::unexpected(summary.error());
  OrderOutcome outcome;
  Result<SignedReport> report = fail("loader.work", "not run");
  {
    auto work = order_dir(options.work_root, order.id);
    if (!work) return std::unexpected(work.error());
    report = order.serve
                 ? serve_order(cvm, ledger, summary->info.id, order, options, work->path(), outcome.stages_ms)
                 : execute(cvm, ledger, summary->info.id, order, options, work->path(), outcome.stages_ms);
    StageClock wipe(outcome.stages_ms);
    { auto gone = std::move(*work); }  // decrypted inputs and outputs are wiped here, before anything is published
    wipe.end("wipe");
  }

  if (!report && report.error().code == kStoppedCode) return std::unexpected(report.error());
  const auto publish_start = Clock::now();
  if (report) {
    auto receipt = ledger::submit_signed(ledger, cvm.key, "reports.submit",
                                         {{"order", order.id}, {"report", report->json}});
    if (!receipt) return std::unexpected(receipt.error());
    outcome.done = true;
  } else {
    outcome.reason = one_line(report.error().message);
    auto receipt = ledger::submit_signed(ledger, cvm.key, "orders.fail",
                                         {{"order", order.id}, {"reason", outcome.reason}});
    if (!receipt) return std::unexpected(receipt.error());
  }
  outcome.stages_ms["publish"] = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - publish_start).count());
  return outcome;
}

Result<void> process_worker(CvmState& cvm, ledger::LedgerClient& ledger, const ledger::Order& order,
                            const PipelineOptions& options) {
  auto summary = ledger.summary();
  if (!summary) return std::unexpected(summary.error());
  auto work = order_dir(options.work_root, order.id);
  if (!work) return std::unexpected(work.error());
  return work_for_order(cvm, ledger, summary->info.id, order, options, work->path());
}

}  // namespace ward::loader
