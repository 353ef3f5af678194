// The attacker's tool of tests/e2e/grants.sh: what a hostile party can make
// with its own key from public documents. It is test-only and deliberately
// uses Ward's own formats so that every forgery is well-formed and correctly
// signed by the forger; what must stop it is a binding, not a typo.
//
//   forge grant GRANT.json FORGER.key ENGINE RECIPIENT OUT.json [--rebind]
//     Issue 10's theft: the grant's descriptor copied with the forger as
//     owner and re-signed, a policy naming ENGINE and RECIPIENT signed by the
//     forger, the original header kept. With --rebind the header's ward-grant
//     stanza is edited to carry the forged policy's id (its MAC then fails).
//   forge report REPORT.json FORGER.key OUT.json
//     A report whose first input is re-attributed to the forger, re-signed
//     by the forger.
//   forge submit LEDGER KEY TYPE ARGS_JSON
//     A transaction of any type signed by KEY (serve.sh: a CVM reporting
//     more usage than its receipts show).
//   forge release BROKER_URL CVM_DIR ORDER INPUT BROKER_RECIPIENT
//     A release request to a key broker signed as the CVM whose key and
//     certificate are in CVM_DIR (cvm.key, cvm.pem), as a loader would send
//     it, whatever the order's state (kms.sh: requests the broker must
//     refuse). Prints the broker's log entry, or its refusal on stderr (exit 1).
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "base/bytes.h"
#include "crypto/hash.h"
#include "files/grant.h"
#include "files/resource.h"
#include "keys/party_key.h"
#include "kms/broker.h"
#include "ledger/client.h"
#include "ledger/tx.h"
#include "loader/report.h"

namespace {

using json = nlohmann::json;
using namespace ward;

json read_json(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return json::parse(text.str());
}

std::string sign_hex(const keys::PartyKey& key, std::string_view domain, const json& object) {
  const std::string message = std::string(domain) + ledger::canonical_json(object);
  return hex_encode(key.signing_key().sign(as_bytes(message)));
}

int forge_grant(const std::string& in, const keys::PartyKey& forger, const std::string& engine,
                const std::string& recipient, const std::string& out, bool rebind) {
  json doc = read_json(in);
  const std::string me = hex_encode(forger.signing_public_key());
  doc["descriptor"]["resource"]["owner"] = me;
  doc["descriptor"]["sig"] = sign_hex(forger, files::kResourceDomain, doc["descriptor"]["resource"]);
  doc["grant"]["owner"] = me;
  doc["grant"]["engine"] = engine;
  doc["grant"]["outputs"] = {recipient};
  doc["grant"].erase("order_by");
  doc["sig"] = sign_hex(forger, files::kGrantDomain, doc["grant"]);
  if (rebind) {
    const auto id =
        crypto::sha256(as_bytes(std::string(files::kGrantDomain) + ledger::canonical_json(doc["grant"])));
    auto header = base64_decode(doc["header"].get<std::string>());
    if (!header) return 2;
    std::string text(as_chars(*header));
    const std::string tag = "-> ward-grant ";
    const auto at = text.find(tag);
    if (at == std::string::npos) return 2;
    const auto end = text.find('\n', at);
    text.replace(at + tag.size(), end - at - tag.size(), base64_encode(id, false));
    doc["header"] = base64_encode(as_bytes(text));
  }
  std::ofstream(out) << doc.dump(2) << "\n";
  return 0;
}

int forge_report(const std::string& in, const keys::PartyKey& forger, const std::string& out) {
  json doc = read_json(in);
  json& report = doc.contains("report") && doc["report"].contains("report") ? doc["report"] : doc;
  report["report"]["inputs"][0]["owner"] = hex_encode(forger.signing_public_key());
  report["sig"] = sign_hex(forger, loader::kReportDomain, report["report"]);
  std::ofstream(out) << report.dump(2) << "\n";
  return 0;
}

}  // namespace

int forge_submit(const std::string& ledger, const keys::PartyKey& key, const std::string& type,
                 const std::string& args) {
  auto client = ward::ledger::open_client(ledger);
  if (!client) {
    std::cerr << "forge: " << client.error().message << "\n";
    return 2;
  }
  auto sent = ward::ledger::submit_signed(**client, key, type, json::parse(args));
  if (!sent) {
    std::cerr << "forge: " << sent.error().message << "\n";
    return 1;
  }
  std::cout << sent->index << "\n";
  return 0;
}

int forge_release(char** argv) {
  const std::filesystem::path dir = argv[3];
  auto key = keys::PartyKey::load(dir / "cvm.key");
  std::ifstream pem_file(dir / "cvm.pem");
  std::stringstream pem;
  pem << pem_file.rdbuf();
  if (!key || pem.str().empty()) {
    std::cerr << "forge: no CVM key and certificate in " << dir << "\n";
    return 2;
  }
  auto released = ward::kms::request_release(argv[2], *key, pem.str(), std::stoull(argv[4]),
                                             std::stoull(argv[5]), argv[6]);
  if (!released) {
    std::cerr << "forge: " << released.error().message << "\n";
    return 1;
  }
  std::cout << released->entry << "\n";
  return 0;
}

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "release" && argc == 7) return forge_release(argv);
  if (mode == "submit" && argc == 6) {
    auto key = keys::PartyKey::load(argv[3]);
    if (!key) {
      std::cerr << "forge: " << key.error().message << "\n";
      return 2;
    }
    return forge_submit(argv[2], *key, argv[4], argv[5]);
  }
  if ((mode == "grant" && (argc == 7 || argc == 8)) || (mode == "report" && argc == 5)) {
    auto key = keys::PartyKey::load(argv[3]);
    if (!key) {
      std::cerr << "forge: " << key.error().message << "\n";
      return 2;
    }
    if (mode == "grant")
      return forge_grant(argv[2], *key, argv[4], argv[5], argv[6],
                         argc == 8 && std::string(argv[7]) == "--rebind");
    return forge_report(argv[2], *key, argv[4]);
  }
  std::cerr << "usage: forge grant GRANT.json KEY ENGINE RECIPIENT OUT.json [--rebind] | forge report "
               "REPORT.json KEY OUT.json | forge submit LEDGER KEY TYPE ARGS_JSON | forge release BROKER_URL "
               "CVM_DIR "
               "ORDER INPUT BROKER_RECIPIENT\n";
  return 2;
}
