// Reaching a service engine inside its sandbox: the sandbox's network
// namespace holds only loopback, so nothing outside can connect to the
// engine, and the loader reaches it with a socket created in that namespace.
// A socket keeps the namespace it was created in, so only its creation
// happens there; connect, read and write work from any thread.
#pragma once

#include <chrono>
#include <sys/types.h>

#include "base/error.h"
#include "base/unique_fd.h"

namespace ward::engine {

// The network namespace of process `pid` (the sandbox's first process, as
// SandboxSpec::on_started reports it). Needs CAP_SYS_ADMIN over it: the
// loader runs as root in its CVM. Errors "engine.netns".
Result<UniqueFd> open_network_namespace(pid_t pid);

// A TCP socket in `netns` connected to 127.0.0.1:`port` there, within
// `timeout`. Errors "engine.netns" (the namespace cannot be entered),
// "engine.connect" (nothing listens yet, or it does not answer in time).
Result<UniqueFd> connect_in_namespace(int netns, int port, std::chrono::milliseconds timeout);

// A TCP socket in `netns` listening on 127.0.0.1:`port` there: a port the
// engine connects to, which the loader serves (a split order's tunnels,
// serve/tunnel.h). Errors "engine.netns" (the namespace cannot be entered),
// "engine.listen" (the port is taken).
Result<UniqueFd> listen_in_namespace(int netns, int port);

}  // namespace ward::engine
