#include "cli/cli.h"

#include <fcntl.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>

namespace ward::cli {
namespace {

std::string errno_text() {
  return std::strerror(errno);
}

// The terminal state to put back if a signal arrives while echo is off.
int g_tty_fd = -1;
termios g_tty_saved{};

extern "C" void restore_tty_and_reraise(int sig) {
  if (g_tty_fd >= 0) ::tcsetattr(g_tty_fd, TCSANOW, &g_tty_saved);
  (void)std::signal(sig, SIG_DFL);
  (void)std::raise(sig);
}

constexpr int kRestoreSignals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};

}  // namespace

CLI::Option* decimal(CLI::Option* option, std::uint64_t min, std::uint64_t max) {
  const std::string range =
      min == 0 && max == kMaxDecimal ? "" : std::to_string(min) + ".." + std::to_string(max);
  return option->check(CLI::Validator(
      [min, max](std::string& text) -> std::string {
        auto n = parse_decimal(text, max);
        if (!n) return "'" + text + "' " + n.error().message;
        if (*n < min) return "'" + text + "' is below the minimum of " + std::to_string(min);
        return {};
      },
      range, "decimal"));
}

Result<std::chrono::milliseconds> parse_duration(std::string_view option, std::string_view text,
                                                 std::chrono::milliseconds max) {
  const auto bad = [&] {
    return fail(std::string(kUsage), std::string(option) + " '" + std::string(text) +
                                         "' is not a duration such as 500ms, 90s, 30m, 24h or 7d");
  };
  const std::size_t digits = std::min(text.find_first_not_of("0123456789"), text.size());
  const auto number = parse_decimal(text.substr(0, digits));
  if (!number || *number == 0) return bad();
  const auto n = static_cast<std::int64_t>(*number);
  const std::string_view unit = text.substr(digits);
  constexpr std::pair<std::string_view, std::int64_t> kUnits[] = {
      {"ms", 1}, {"s", 1000}, {"m", 60'000}, {"h", 3'600'000}, {"d", 86'400'000}};
  const auto* found = std::find_if(std::begin(kUnits), std::end(kUnits), [&](const auto& u) { return u.first == unit; });
  if (found == std::end(kUnits)) return bad();
  if (n > max.count() / found->second) {
    const std::int64_t days = max.count() / 86'400'000;
    const std::string limit = days > 0 ? std::to_string(days) + " days" : std::to_string(max.count()) + " ms";
    return fail(std::string(kUsage), std::string(option) + " '" + std::string(text) + "' is longer than " + limit);
  }
  return std::chrono::milliseconds(n * found->second);
}

void print_error(std::string_view message) {
  std::string line = "ward: error: ";
  for (char c : message) line += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? '?' : c;
  line += '\n';
  (void)write_all(2, as_bytes(line));
}

CLI::Option* repeatable(CLI::Option* option) {
  return option->expected(1)->allow_extra_args(false)->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
}

Result<void> print_stdout(std::string_view text) {
  if (auto ok = write_all(1, as_bytes(text)); !ok) return fail(ok.error(), "writing to standard output");
  return {};
}

Result<Input> Input::open(const std::string& path) {
  if (is_std_stream(path)) return Input(0, false);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail("io.open", "cannot open " + path + ": " + errno_text());
  return Input(fd, true);
}

Input::~Input() {
  if (owned_) ::close(fd_);
}

Result<Output> Output::open(const std::string& path, unsigned mode) {
  if (is_std_stream(path)) return Output(std::nullopt);
  auto file = AtomicFile::create(path, mode);
  if (!file) return std::unexpected(file.error());
  return Output(std::move(*file));
}

bool Output::is_terminal() const {
  return !file_ && ::isatty(1) == 1;
}

Result<void> Output::commit() {
  if (!file_) return {};
  return file_->commit();
}

Result<crypto::SecretBytes> read_passphrase(std::string_view prompt) {
  const int fd = ::open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (fd < 0)
    return fail("cli.tty", "a passphrase is needed but there is no terminal to ask for it: " + errno_text());
  termios saved{};
  if (::tcgetattr(fd, &saved) != 0) {
    const std::string why = errno_text();
    ::close(fd);
    return fail("cli.tty", "cannot read the terminal settings: " + why);
  }
  // Put echo back even if the user interrupts the prompt.
  g_tty_fd = fd;
  g_tty_saved = saved;
  struct sigaction restore {};
  restore.sa_handler = restore_tty_and_reraise;
  sigemptyset(&restore.sa_mask);
  struct sigaction previous[std::size(kRestoreSignals)];
  for (std::size_t i = 0; i < std::size(kRestoreSignals); ++i)
    ::sigaction(kRestoreSignals[i], &restore, &previous[i]);

  termios quiet = saved;
  quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
  quiet.c_lflag |= ECHONL;
  // Echo goes off before the prompt appears, so nothing typed after it shows
  // is echoed (or discarded by TCSAFLUSH).
  Result<void> status;
  if (::tcsetattr(fd, TCSAFLUSH, &quiet) != 0)
    status = fail("cli.tty", "cannot turn off terminal echo: " + errno_text());
  if (status) {
    if (auto ok = write_all(fd, as_bytes(prompt)); !ok)
      status = fail(ok.error(), "writing the passphrase prompt");
  }

  crypto::SecretBytes passphrase;  // its allocator wipes every buffer it gives back, reallocations included
  bool ended = false;
  while (status && !ended) {
    char c = 0;
    const ssize_t n = ::read(fd, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      status = fail("cli.tty", "cannot read the passphrase: " + errno_text());
    } else if (n == 0 || c == '\n') {
      ended = true;
      if (n == 0 && passphrase.empty()) status = fail("cli.tty", "no passphrase entered");
    } else {
      passphrase.push_back(static_cast<std::uint8_t>(c));
    }
  }
  if (!passphrase.empty() && passphrase.back() == '\r') passphrase.pop_back();

  ::tcsetattr(fd, TCSAFLUSH, &saved);
  for (std::size_t i = 0; i < std::size(kRestoreSignals); ++i)
    ::sigaction(kRestoreSignals[i], &previous[i], nullptr);
  g_tty_fd = -1;
  ::close(fd);
  if (!status) return std::unexpected(status.error());
  return passphrase;
}

}  // namespace ward::cli
