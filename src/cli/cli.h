// Shared pieces of the `ward` command: how verbs register, how errors are
// printed, where output goes, and the terminal passphrase prompt.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include <CLI/CLI.hpp>

#include "age/stream.h"
#include "base/decimal.h"
#include "base/error.h"
#include "base/file.h"
#include "crypto/secret.h"

namespace ward::cli {

// What the chosen subcommand does once parsing has succeeded. An Error with
// code kUsage exits 2 (like a parse error); any other Error exits 1.
using Action = std::function<Result<void>()>;
inline constexpr std::string_view kUsage = "cli.usage";

// Each verb group adds its subcommands to `app`; the one the user picks stores
// its work in `action`.
void add_keys_commands(CLI::App& app, Action& action);
void add_crypt_commands(CLI::App& app, Action& action);
void add_ledger_commands(CLI::App& app, Action& action);
void add_accounts_commands(CLI::App& app, Action& action);
void add_offers_commands(CLI::App& app, Action& action);
void add_orders_commands(CLI::App& app, Action& action);
void add_services_commands(CLI::App& app, Action& action);
void add_attest_commands(CLI::App& app, Action& action);
void add_ca_commands(CLI::App& app, Action& action);
void add_engine_commands(CLI::App& app, Action& action);
void add_files_commands(CLI::App& app, Action& action);
void add_kms_commands(CLI::App& app, Action& action);
void add_tunnel_commands(CLI::App& app, Action& action);
void add_node_commands(CLI::App& app, Action& action);
void add_serve_commands(CLI::App& app, Action& action);
void add_proxy_command(CLI::App& app, Action& action);
void add_ui_command(CLI::App& app, Action& action);
void add_demo_command(CLI::App& app, Action& action);
// `ward demo serve`, under the demo command (demo_serve.cpp).
void add_demo_serve_command(CLI::App& demo, Action& action);
// `ward demo llm`, under the demo command (demo_llm.cpp).
void add_demo_llm_command(CLI::App& demo, Action& action);
// `ward demo swarm`, under the demo command (demo_swarm.cpp).
void add_demo_swarm_command(CLI::App& demo, Action& action);

// Makes an option take one value per occurrence, any number of times
// (-r A -r B), never swallowing the arguments after it.
CLI::Option* repeatable(CLI::Option* option);

// Makes an integer option read strict decimal (parse_decimal) in min..max:
// "010", "0x10", "+5" and " 5" are usage errors naming the option, where
// CLI11 alone would read 8, 16, 5 and 5. Every integer option uses it.
CLI::Option* decimal(CLI::Option* option, std::uint64_t min = 0, std::uint64_t max = kMaxDecimal);

// "500ms", "90s", "30m", "24h", "7d": a positive whole number and one unit.
// A usage error (naming `option`) otherwise, or when longer than `max`.
Result<std::chrono::milliseconds> parse_duration(std::string_view option, std::string_view text,
                                                 std::chrono::milliseconds max);

// Prints "ward: error: <message>" as exactly one line on stderr (control
// characters in the message, which may come from input files, are replaced).
void print_error(std::string_view message);

// Writes all of `text` to standard output.
Result<void> print_stdout(std::string_view text);

// True when `path` names standard input/output: empty or "-".
inline bool is_std_stream(const std::string& path) {
  return path.empty() || path == "-";
}

// An input file, or standard input. Closes what it opened.
class Input {
 public:
  static Result<Input> open(const std::string& path);
  Input(Input&& other) noexcept : fd_(other.fd_), owned_(other.owned_), reader_(other.fd_) {
    other.owned_ = false;
  }
  Input& operator=(Input&&) = delete;
  ~Input();
  age::Reader& reader() { return reader_; }
  int fd() const { return fd_; }

 private:
  Input(int fd, bool owned) : fd_(fd), owned_(owned), reader_(fd) {}
  int fd_;
  bool owned_;
  age::FdReader reader_;
};

// Standard output, or a file written atomically: nothing appears at the path
// unless commit() is reached, so a failure never leaves partial output there.
class Output {
 public:
  static Result<Output> open(const std::string& path, unsigned mode);
  age::Writer& writer() { return writer_; }
  int fd() const { return file_ ? file_->fd() : 1; }
  // True for a file written through AtomicFile (discarded on failure).
  bool is_atomic_file() const { return file_.has_value(); }
  bool is_terminal() const;
  Result<void> commit();

 private:
  explicit Output(std::optional<AtomicFile> file)
      : file_(std::move(file)), writer_(file_ ? file_->fd() : 1) {}
  std::optional<AtomicFile> file_;
  age::FdWriter writer_;
};

// Asks for a passphrase on the controlling terminal (/dev/tty) with echo off,
// so it works while standard input and output carry data. Fails with a clear
// error when there is no terminal.
Result<crypto::SecretBytes> read_passphrase(std::string_view prompt);

}  // namespace ward::cli
