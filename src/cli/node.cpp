// ward node: placeholder until its verb group lands.
#include "cli/cli.h"

namespace ward::cli {

void add_node_commands(CLI::App&, Action&) {}

}  // namespace ward::cli
