// A grant's header as a hostile store or grant author could shape it, read by
// the grantee: parse_grant (its structural binding check) and then
// authenticate_grant with the CVM's identity (unwrap, MAC, binding). The
// grant around the header is real and validly signed (made once at start), so
// every input reaches the header checks. The first input byte picks how the
// rest is used: as a whole header, as (offset, xor) edits of the real header,
// or as text inserted into it. Whatever is authenticated must be the real
// header byte for byte: no other header may release the key.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "base/bytes.h"
#include "files/grant.h"
#include "files/transfer.h"
#include "keys/party_key.h"
#include "store/store.h"

namespace {

using namespace ward;
namespace fs = std::filesystem;

keys::PartyKey fixed_key(std::uint8_t seed) {
  Bytes secret(32, seed);
  return *keys::PartyKey::from_identity(*age::X25519Identity::from_secret(secret));
}

struct Fixture {
  keys::PartyKey owner = fixed_key(1);
  keys::PartyKey cvm = fixed_key(2);
  nlohmann::json doc;
  Bytes header;
};

Fixture* make_fixture() {
  auto* f = new Fixture;
  const fs::path dir = fs::temp_directory_path() / ("ward-fuzz-grant-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "data.csv") << "id,value\n1,2\n";
  auto store = store::open_store((dir / "store").string());
  if (!store) std::abort();
  auto res = files::upload(dir / "data.csv", f->owner, **store);
  if (!res) std::abort();
  auto grant = files::make_grant(*res, **store, f->owner, f->cvm.recipient(),
                                 crypto::sha256(f->cvm.signing_public_key()),
                                 "sha256:" + std::string(64, 'e'), {f->owner.recipient().to_string()},
                                 std::chrono::system_clock::now() + std::chrono::hours(1));
  if (!grant) std::abort();
  f->doc = grant->json;
  f->header = grant->header;
  fs::remove_all(dir);
  return f;
}

Bytes shape_header(const Fixture& f, std::string_view input) {
  if (input.empty()) return f.header;
  const auto mode = static_cast<std::uint8_t>(input[0]) % 3;
  input.remove_prefix(1);
  if (mode == 0) return to_bytes(input);
  Bytes header = f.header;
  if (mode == 1) {
    for (std::size_t i = 0; i + 1 < input.size(); i += 2) {
      header[static_cast<std::uint8_t>(input[i]) * header.size() / 256] ^=
          static_cast<std::uint8_t>(input[i + 1]);
    }
    return header;
  }
  const std::size_t at = input.empty() ? 0 : static_cast<std::uint8_t>(input[0]) * header.size() / 256;
  const Bytes text = to_bytes(input.substr(input.empty() ? 0 : 1));
  header.insert(header.begin() + static_cast<std::ptrdiff_t>(at), text.begin(), text.end());
  return header;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const Fixture* fixture = make_fixture();
  const Bytes header = shape_header(*fixture, std::string_view(reinterpret_cast<const char*>(data), size));
  nlohmann::json doc = fixture->doc;
  doc["header"] = base64_encode(header);
  auto grant = files::parse_grant(doc.dump());
  if (!grant) return 0;
  if (files::authenticate_grant(*grant, fixture->cvm.identity()) && grant->header != fixture->header)
    std::abort();
  return 0;
}
