// ward engine: placeholder until its verb group lands.
#include "cli/cli.h"

namespace ward::cli {

void add_engine_commands(CLI::App&, Action&) {}

}  // namespace ward::cli
