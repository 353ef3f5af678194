// The HTTP backend of LedgerClient: a `ward ledger serve` at http://host:port.
// The API is documented in docs/ledger.md ("HTTP API").
#pragma once

#include <memory>
#include <string_view>

#include "base/error.h"
#include "ledger/client.h"

namespace ward::ledger {

// Errors: "ledger.client" for a URL that is not http://HOST[:PORT][/].
Result<std::unique_ptr<LedgerClient>> open_http_client(std::string_view url);

}  // namespace ward::ledger
