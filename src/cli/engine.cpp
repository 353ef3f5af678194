// ward engine pack | inspect | run: build an engine image, check one, and run
// it in exactly the sandbox the loader uses.
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <sys/stat.h>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/work_dir.h"
#include "cli/cli.h"
#include "cli/ledger_common.h"
#include "engine/image.h"
#include "engine/sandbox.h"

namespace ward::cli {
namespace {

using json = nlohmann::json;

struct PackArgs {
  std::string dir;
  std::vector<std::string> entrypoint, cmd, env, labels;
  std::uint64_t serve_port = 0;  // 0: none
  std::string workdir;
  std::string output;
  bool json = false;
};

struct InspectArgs {
  std::string image;
  bool json = false;
};

struct RunArgs {
  std::string image;
  std::vector<std::string> inputs;
  std::string output;
  std::string args;
  std::string log;
  std::string time_limit = "10m";
  std::string memory_limit = "4G";
  std::string output_limit = "1G";
  std::uint64_t processes = 64;
  bool json = false;
};

constexpr std::size_t kMaxArgsSize = std::size_t{16} << 20;


// A whole number of bytes with an optional binary unit: "512M", "2G", "64KiB".
Result<std::uint64_t> parse_size(std::string_view option, std::string_view text) {
  const auto bad = [option, text] {
    return fail(std::string(kUsage),
                std::string(option) + " '" + std::string(text) + "' is not a size such as 512M or 2G");
  };
  const std::size_t digits = std::min(text.find_first_not_of("0123456789"), text.size());
  const auto number = parse_decimal(text.substr(0, digits));
  if (!number || *number == 0) return bad();
  const std::uint64_t n = *number;
  std::string_view unit = text.substr(digits);
  if (unit.ends_with("iB"))
    unit.remove_suffix(2);
  else if (unit.ends_with("B") && unit.size() == 2)
    unit.remove_suffix(1);
  int shift = 0;
  if (unit == "K" || unit == "k")
    shift = 10;
  else if (unit == "M")
    shift = 20;
  else if (unit == "G")
    shift = 30;
  else if (unit == "T")
    shift = 40;
  else if (!unit.empty())
    return bad();
  if (n > (std::uint64_t{1} << (62 - shift))) return bad();
  return n << shift;
}

json config_json(const engine::ImageConfig& c) {
  return {{"digest", c.digest},
          {"entrypoint", c.entrypoint},
          {"cmd", c.cmd},
          {"env", c.env},
          {"working_dir", c.working_dir},
          {"labels", c.labels},
          {"serve_port", c.serve_port ? json(*c.serve_port) : json(nullptr)},
          {"layers", c.diff_ids}};
}

// The --label KEY=VALUE options and --serve-port as one label map; a key given
// twice is a usage error rather than a silent choice.
Result<std::map<std::string, std::string>> pack_labels(const PackArgs& args) {
  std::map<std::string, std::string> labels;
  for (const auto& l : args.labels) {
    const auto eq = l.find('=');
    if (eq == std::string::npos || eq == 0)
      return fail(std::string(kUsage), "--label " + json(l).dump() + " is not KEY=VALUE");
    if (!labels.emplace(l.substr(0, eq), l.substr(eq + 1)).second)
      return fail(std::string(kUsage), "--label " + json(l.substr(0, eq)).dump() + " is given twice");
  }
  if (args.serve_port != 0 &&
      !labels.emplace(std::string(engine::kServePortLabel), std::to_string(args.serve_port)).second)
    return fail(std::string(kUsage),
                "--serve-port and --label " + std::string(engine::kServePortLabel) + " are both given");
  return labels;
}

std::string join_args(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : " ") + json(s).dump();
  return out;
}

Result<void> run_pack(const PackArgs& args) {
  auto labels = pack_labels(args);
  if (!labels) return std::unexpected(labels.error());
  engine::PackOptions options{args.entrypoint, args.cmd, args.env, args.workdir, std::move(*labels)};
  auto digest = engine::pack_image(args.dir, options, args.output);
  if (!digest) return std::unexpected(digest.error());
  if (args.json) return print_json({{"digest", *digest}, {"image", args.output}});
  return print_stdout(*digest + "\n");
}

Result<void> run_inspect(const InspectArgs& args) {
  auto config = engine::inspect_image(args.image);
  if (!config) return std::unexpected(config.error());
  if (args.json) return print_json(config_json(*config));
  std::string text = "digest: " + config->digest + "\n";
  text += "entrypoint: " + join_args(config->entrypoint) + "\n";
  if (!config->cmd.empty()) text += "cmd: " + join_args(config->cmd) + "\n";
  if (!config->working_dir.empty()) text += "working dir: " + config->working_dir + "\n";
  for (const auto& e : config->env) text += "env: " + e + "\n";
  for (const auto& [key, value] : config->labels) text += "label: " + key + "=" + value + "\n";
  if (config->serve_port) text += "serve port: " + std::to_string(*config->serve_port) + "\n";
  text += "layers: " + std::to_string(config->diff_ids.size()) + " (verified)\n";
  for (const auto& d : config->diff_ids) text += "  " + d + "\n";
  return print_stdout(text);
}

const char* outcome_name(engine::RunResult::Outcome o) {
  switch (o) {
    case engine::RunResult::Outcome::Exited:
      return "exited";
    case engine::RunResult::Outcome::Signaled:
      return "signaled";
    case engine::RunResult::Outcome::TimedOut:
      return "timed_out";
    case engine::RunResult::Outcome::MemoryExceeded:
      return "memory_exceeded";
    case engine::RunResult::Outcome::OutputExceeded:
      return "output_exceeded";
    case engine::RunResult::Outcome::OutputRefused:
      return "output_refused";
    case engine::RunResult::Outcome::Stopped:
      return "stopped";
  }
  return "unknown";
}

Result<void> run_run(const RunArgs& args) {
  engine::SandboxSpec spec;
  auto wall = parse_duration("--time-limit", args.time_limit, std::chrono::hours(24 * 366));
  if (!wall) return std::unexpected(wall.error());
  auto memory = parse_size("--memory-limit", args.memory_limit);
  if (!memory) return std::unexpected(memory.error());
  auto output_limit = parse_size("--output-limit", args.output_limit);
  if (!output_limit) return std::unexpected(output_limit.error());
  spec.limits = {*wall, *memory, args.processes, *output_limit};
  if (!args.args.empty()) {
    auto data = read_file(args.args, kMaxArgsSize);
    if (!data) return std::unexpected(data.error());
    if (json::parse(data->begin(), data->end(), nullptr, false).is_discarded())
      return fail("engine.args", args.args + " is not valid JSON");
    spec.args_json.assign(as_chars(*data));
  }
  for (const auto& input : args.inputs) spec.inputs.emplace_back(input);
  if (::mkdir(args.output.c_str(), 0755) != 0 && errno != EEXIST)
    return fail("io.create", "cannot create " + args.output + ": " + std::strerror(errno));
  spec.output = args.output;

  // Removed whatever the image's modes; 0711: the sandbox may run as
  // another uid (root callers) and must reach the rootfs below.
  const char* tmp = std::getenv("TMPDIR");
  auto scratch = WorkDir::create(tmp && *tmp ? tmp : "/tmp", "ward-engine-", 0711);
  if (!scratch) return std::unexpected(scratch.error());
  spec.rootfs = scratch->path() / "rootfs";
  auto config = engine::unpack_image(args.image, spec.rootfs);
  if (!config) return std::unexpected(config.error());
  spec.argv = config->entrypoint;
  spec.argv.insert(spec.argv.end(), config->cmd.begin(), config->cmd.end());
  spec.env = config->env;
  spec.working_dir = config->working_dir;
  spec.log = args.log.empty() ? scratch->path() / "log" : std::filesystem::path(args.log);

  auto result = engine::run_sandboxed(spec);
  if (!result) return std::unexpected(result.error());
  if (args.log.empty()) {
    // Without --log the engine's output goes to stderr, as a plain run's would.
    if (auto text = read_file(spec.log, engine::kMaxLogBytes + 4096); text && !text->empty())
      (void)write_all(2, *text);
  }
  const bool ok = result->outcome == engine::RunResult::Outcome::Exited && result->code == 0;
  const double seconds = static_cast<double>(result->elapsed.count()) / 1000.0;
  Result<void> printed;
  if (args.json) {
    printed = print_json({{"digest", config->digest},
                          {"outcome", outcome_name(result->outcome)},
                          {"code", result->code},
                          {"description", result->describe()},
                          {"elapsed_ms", result->elapsed.count()},
                          {"output", args.output}});
  } else {
    char elapsed[32];
    std::snprintf(elapsed, sizeof elapsed, "%.1f", seconds);
    printed = print_stdout("engine " + config->digest + " " + result->describe() + " after " + elapsed +
                           " s\n" + (ok ? "output: " + args.output + "\n" : ""));
  }
  if (!printed) return printed;
  if (ok) return {};
  return fail("engine.run", "engine " + config->digest.substr(0, 19) + "...: " + result->describe());
}

}  // namespace

void add_engine_commands(CLI::App& app, Action& action) {
  CLI::App* group = app.add_subcommand("engine", "Pack, inspect and test-run engine images");
  group->require_subcommand(1);
  group->footer("Run 'ward engine COMMAND --help' for a command's options.");

  auto pack = std::make_shared<PackArgs>();
  CLI::App* pack_cmd = group->add_subcommand("pack", "Pack a directory into a single-layer engine image");
  pack_cmd->footer(
      "Writes an OCI image layout as a tar (docker load accepts it too) and prints the engine digest,\n"
      "the image config's SHA-256. Reproducible: the same directory and options give the same bytes.\n"
      "A serving engine declares its port with --serve-port N (the label ward.serve.port).");
  pack_cmd->add_option("dir", pack->dir, "The directory that becomes the image's root")
      ->option_text("DIR")
      ->required();
  repeatable(pack_cmd->add_option("--entrypoint", pack->entrypoint,
                                  "The command and its arguments, one per --entrypoint"))
      ->option_text("ARG");
  repeatable(
      pack_cmd->add_option("--cmd", pack->cmd, "Default arguments after the entrypoint, one per --cmd"))
      ->option_text("ARG");
  repeatable(pack_cmd->add_option("--env", pack->env, "An environment variable"))->option_text("K=V");
  repeatable(pack_cmd->add_option("--label", pack->labels, "An image config label"))->option_text("K=V");
  decimal(pack_cmd->add_option("--serve-port", pack->serve_port,
                               "The port a serving engine listens on (the label ward.serve.port)"),
          1, 65535)
      ->option_text("N");
  pack_cmd->add_option("--workdir", pack->workdir, "The working directory inside the image")
      ->option_text("DIR");
  pack_cmd->add_option("-o,--output", pack->output, "Where to write the image")
      ->option_text("IMAGE.tar")
      ->required();
  add_json_flag(pack_cmd, pack->json);
  pack_cmd->callback([&action, pack] { action = [pack] { return run_pack(*pack); }; });

  auto inspect = std::make_shared<InspectArgs>();
  CLI::App* inspect_cmd =
      group->add_subcommand("inspect", "Verify an engine image and show its digest, command and labels");
  inspect_cmd->footer(
      "Takes an OCI layout (directory or tar) or a 'docker save' archive. Verifies the config digest,\n"
      "every layer's digest and its uncompressed SHA-256 against the config's diff_ids.");
  inspect_cmd->add_option("image", inspect->image, "The image")->option_text("IMAGE")->required();
  add_json_flag(inspect_cmd, inspect->json);
  inspect_cmd->callback([&action, inspect] { action = [inspect] { return run_inspect(*inspect); }; });

  auto run = std::make_shared<RunArgs>();
  CLI::App* run_cmd = group->add_subcommand("run", "Run an engine image in the loader's sandbox");
  run_cmd->footer(
      "Unpacks the image into a temporary directory and runs its entrypoint under bubblewrap with no\n"
      "network: inputs read-only at /ward/inputs/<n>/, OUTDIR writable at /ward/output/, the --args\n"
      "file at /ward/args.json. Exits 0 only if the engine exited 0. /ward/output/ is a fresh tmpfs of\n"
      "--output-limit bytes; only a run that exits 0 within it has its files copied into OUTDIR (which\n"
      "must be empty; it keeps its owner and mode, the files are yours). Run as root, the engine runs\n"
      "as uid 65534: inputs must be readable by it.");
  run_cmd->add_option("image", run->image, "The image")->option_text("IMAGE")->required();
  repeatable(run_cmd->add_option("--input", run->inputs, "An input directory (first is /ward/inputs/0)"))
      ->option_text("DIR");
  run_cmd->add_option("-o,--output", run->output, "The output directory (created if missing, else empty)")
      ->option_text("OUTDIR")
      ->required();
  run_cmd->add_option("--args", run->args, "A JSON file for /ward/args.json (default {})")
      ->option_text("FILE");
  run_cmd
      ->add_option("--log", run->log,
                   "Write the engine's stdout and stderr here (first 1 MiB; default: stderr)")
      ->option_text("FILE");
  run_cmd->add_option("--time-limit", run->time_limit, "Wall time limit (default 10m)")
      ->option_text("DURATION");
  run_cmd->add_option("--memory-limit", run->memory_limit, "Memory limit (default 4G)")->option_text("SIZE");
  run_cmd->add_option("--output-limit", run->output_limit, "Output size limit (default 1G)")
      ->option_text("SIZE");
  decimal(run_cmd->add_option("--processes", run->processes, "Process limit (default 64)"), 1, 100000)
      ->option_text("N");
  add_json_flag(run_cmd, run->json);
  run_cmd->callback([&action, run] { action = [run] { return run_run(*run); }; });
}

}  // namespace ward::cli
