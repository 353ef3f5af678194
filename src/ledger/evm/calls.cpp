#include "ledger/evm/calls.h"

#include <array>
#include <chrono>
#include <map>

#include "evm/abi.h"
#include "evm/u256.h"

namespace ward::ledger::evm {
namespace {

namespace abi = ward::evm::abi;
using abi::Value;
using ward::evm::U256;

constexpr std::string_view kBindingDomain = "ward/evm/binding/v1\n";

Value u64(std::uint64_t v) {
  return Value::uint(U256(v));
}
Value word(ByteView b) {
  return Value::bytes(b);
}
Value text(std::string_view s) {
  return Value::string(s);
}

Value strings(const std::vector<std::string>& list) {
  std::vector<Value> out;
  for (const auto& s : list) out.push_back(text(s));
  return Value::list(std::move(out));
}

Value words(const std::vector<crypto::Sha256Digest>& list) {
  std::vector<Value> out;
  for (const auto& d : list) out.push_back(word(d));
  return Value::list(std::move(out));
}

Value price(const Price& p) {
  return Value::list({u64(static_cast<std::uint64_t>(p.model)), u64(p.amount), u64(p.bps)});
}

Value serve_args(const std::optional<ServeRule>& serve) {
  if (!serve) return Value::list({Value::boolean(false), u64(0), Value::list({}), u64(0), u64(0)});
  std::vector<Value> accounts;
  for (const auto& a : serve->accounts) accounts.push_back(word(a));
  return Value::list({Value::boolean(true), u64(static_cast<std::uint64_t>(serve->access)),
                      Value::list(std::move(accounts)), u64(serve->price.per_request),
                      u64(serve->price.per_1k_tokens)});
}

// WardLedgerState.Resources: (present, cores, memoryMib, gpus).
Value resources(const std::optional<Resources>& r) {
  const Resources v = r.value_or(Resources{});
  return Value::list({Value::boolean(r.has_value()), u64(v.cores), u64(v.memory_mib), u64(v.gpus)});
}

Value report_claims(const args::ReportClaims& c) {
  const bool service = c.service.has_value();
  const crypto::Sha256Digest tls = service ? c.service->tls_key_sha256 : crypto::Sha256Digest{};
  return Value::list({word(c.ledger), word(c.cvm), u64(c.order), text(c.engine), Value::boolean(service),
                      word(tls), text(service ? c.service->endpoint : ""),
                      words(service ? c.service->inputs : std::vector<crypto::Sha256Digest>{})});
}

Result<Bytes> call(std::string_view signature, std::vector<Value> values) {
  auto f = abi::Function::parse(signature);
  if (!f) return std::unexpected(f.error());
  return f->encode_call(values);
}

// A certificate's notAfter as the contract keeps it: 0 for one that does not
// parse, which has none to keep (docs/ledger.md, "Renewing").
std::uint64_t not_after(std::string_view pem) {
  auto claims = read_cvm_certificate_claims(pem);
  if (!claims) return 0;
  const auto seconds = claims->not_after.time_since_epoch().count();
  return seconds > 0 ? static_cast<std::uint64_t>(seconds) : 0;
}

std::string hex16(ByteView b) {
  return hex_encode(b).substr(0, 16);
}

// The id in a bytes32 error argument that holds an integer, right-aligned.
std::string number_in(const Bytes& b) {
  auto n = U256::from_big_endian(b);
  return n ? n->to_decimal() : hex_encode(b);
}

Rejection rejected(const char* reason, std::string message) {
  return Rejection{reason, std::move(message)};
}

const char* const kMalformedWhat[] = {"",          "an id or address is zero",
                                      "recipient", "name",
                                      "binding",   "a number is over 2^63-1",
                                      "kind",      "price",
                                      "resource",  "certificate",
                                      "engine",    "inputs",
                                      "outputs",   "an offer listed twice",
                                      "serve",     "serve.accounts",
                                      "reason",    "report",
                                      "endpoint",  "grants",
                                      "uses",      "deposit",
                                      "usage",     "timeout",
                                      "resources", "cvm or offer",
                                      "workers",   "worker endpoint"};
const char* const kEntity[] = {"",       "account",       "address",      "offer", "CVM",         "order",
                               "report", "service start", "stop request", "grant", "subscription"};
const char* const kStatus[] = {"New", "Processing", "Done", "Error", "Canceled"};

template <std::size_t N>
std::string name_in(const char* const (&names)[N], std::uint64_t i) {
  return i < N ? names[i] : "#" + std::to_string(i);
}

std::string status_name(std::uint64_t s) {
  return name_in(kStatus, s);
}

// One decoder per custom error of WardLedger: its signature and how its
// arguments read as a Ward rejection (codes: contracts/README.md).
struct ErrorRule {
  const char* signature;
  Rejection (*read)(const std::vector<Value>& a);
};

std::uint64_t n(const Value& v) {
  return v.as_uint64().value_or(0);
}
Bytes b(const Value& v) {
  return v.as_bytes().value_or(Bytes{});
}

const ErrorRule kErrors[] = {
    {"Malformed(uint8)",
     [](const auto& a) {
       return rejected(reason::kMalformed, "malformed: " + name_in(kMalformedWhat, n(a[0])));
     }},
    {"UnknownAddress(address)",
     [](const auto& a) {
       const auto who = a[0].as_address();
       return rejected(reason::kUnknownAccount,
                       "address " + (who ? who->to_checksum() : std::string("?")) + " has no account");
     }},
    {"UnknownAccount(bytes32)",
     [](const auto& a) {
       return rejected(reason::kUnknownAccount, "account " + hex16(b(a[0])) + " does not exist");
     }},
    {"AlreadyExists(uint8,bytes32)",
     [](const auto& a) {
       const std::uint64_t what = n(a[0]);
       const bool numbered = what == 3 || what == 5 || what == 6 || what == 7 || what == 8;
       return rejected(reason::kAlreadyExists, name_in(kEntity, what) + " " +
                                                   (numbered ? number_in(b(a[1])) : hex16(b(a[1]))) +
                                                   " already exists");
     }},
    {"NotFound(uint8,bytes32)",
     [](const auto& a) {
       const std::uint64_t what = n(a[0]);
       const bool numbered = what == 3 || what == 5 || what == 6;
       return rejected(
           reason::kNotFound,
           name_in(kEntity, what) + " " + (numbered ? number_in(b(a[1])) : hex16(b(a[1]))) + " not found");
     }},
    {"NotOwner(uint8,uint64)",
     [](const auto& a) {
       return rejected(reason::kNotOwner, "the sender does not own " + name_in(kEntity, n(a[0])) + " " +
                                              std::to_string(n(a[1])));
     }},
    {"NotAllowed(uint8,uint64)",
     [](const auto& a) {
       static const char* const what[] = {"",
                                          "only the order's CVM may do this",
                                          "the sender is not a CVM",
                                          "the offer is not a tee offer",
                                          "a tee offer cannot be listed",
                                          "revenue shares add up to more than 10000 bps",
                                          "the service is not for subscribers",
                                          "only a listed CVM renews its certificate, sending with its key",
                                          "the order names its CVM: only an order on an offer moves",
                                          "the order is for another tee offer than the CVM's",
                                          "the CVM does not declare what the order needs",
                                          "the CVM is not a worker of the order"};
       return rejected(reason::kNotAllowed, name_in(what, n(a[0])) + " (" + std::to_string(n(a[1])) + ")");
     }},
    {"BadState(uint8,uint64,uint64)",
     [](const auto& a) {
       const std::uint64_t what = n(a[0]), x = n(a[1]), y = n(a[2]);
       std::string m;
       switch (what) {
         case 1:
           m = "offer " + std::to_string(x) + " is enabled";
           break;
         case 2:
           m = "offer " + std::to_string(x) + " is disabled";
           break;
         case 3:
           m = "the CVM's tee offer " + std::to_string(x) + " is disabled";
           break;
         case 4:
           m = "order " + std::to_string(x) + " is " + status_name(y);
           break;
         case 5:
           m = "order " + std::to_string(x) + " is not a service order";
           break;
         case 6:
           m = "service " + std::to_string(x) + " has not started";
           break;
         case 7:
           m = "service " + std::to_string(x) + " was asked to stop";
           break;
         case 8:
           m = "service " + std::to_string(x) + " is not for subscribers";
           break;
         case 9:
           m = "the certificate expires at " + std::to_string(x) + ", not after the current one (" +
               std::to_string(y) + ")";
           break;
         case 10:
           m = "order " + std::to_string(x) + " was taken by another CVM";
           break;
         case 11:
           m = "order " + std::to_string(x) + " is " + status_name(y) +
               " or on no CVM: there is nothing to reassign";
           break;
         case 12:
           m = "the order's CVM sent a heartbeat " + std::to_string(x) +
               " s ago, within its offer's timeout of " + std::to_string(y) + " s";
           break;
         default:
           m = "bad state #" + std::to_string(what);
       }
       return rejected(reason::kBadState, m);
     }},
    {"InsufficientFunds(uint64,uint64)",
     [](const auto& a) {
       return rejected(reason::kInsufficientFunds,
                       "balance " + std::to_string(n(a[0])) + " is less than " + std::to_string(n(a[1])));
     }},
    {"Overflow(uint8)",
     [](const auto& a) {
       static const char* const what[] = {
           "",          "a balance", "the supply",       "the escrow",
           "a deposit", "revenue",   "the record count", "the order's billed time"};
       return rejected(reason::kOverflow, name_in(what, n(a[0])) + " would pass 2^63-1");
     }},
    {"DevOnly()",
     [](const auto&) { return rejected(reason::kDevOnly, "the faucet works on dev ledgers only"); }},
    {"ReportMismatch(uint8,bytes32,bytes32)",
     [](const auto& a) {
       static const char* const what[] = {"",
                                          "order",
                                          "ledger",
                                          "CVM",
                                          "engine",
                                          "service part (not a service)",
                                          "service part (missing)",
                                          "TLS key"};
       return rejected(reason::kReportMismatch, "the report's " + name_in(what, n(a[0])) + " " +
                                                    hex16(b(a[1])) + " does not match the order's " +
                                                    hex16(b(a[2])));
     }},
    {"Revoked(bytes32,bytes32)",
     [](const auto& a) {
       return rejected(reason::kRevoked, "grant " + hex16(b(a[0])) + " was revoked by its owner");
     }},
    {"UsedUp(bytes32,uint64)",
     [](const auto& a) {
       return rejected(reason::kUsedUp,
                       "grant " + hex16(b(a[0])) + " allows " + std::to_string(n(a[1])) + " uses, all spent");
     }},
    {"UsageRegressed(bytes32,uint8,uint64,uint64)",
     [](const auto& a) {
       static const char* const counter[] = {"", "requests", "tokens", "bytes"};
       return rejected(reason::kUsageRegressed,
                       "account " + hex16(b(a[0])) + ": " + name_in(counter, n(a[1])) + " " +
                           std::to_string(n(a[2])) + " is below the recorded " + std::to_string(n(a[3])) +
                           " (usage counts are cumulative)");
     }},
    {"CertificateMismatch(uint8,bytes32,bytes32)",
     [](const auto& a) {
       const bool key = n(a[0]) == 1;
       return rejected(
           reason::kCertificateMismatch,
           key ? "the certificate certifies key " + hex16(b(a[1])) + ", not the CVM's key " + hex16(b(a[2]))
               : std::string("the certificate names another age recipient than the CVM's"));
     }},
};

// Where each WardLedger event keeps the record index: in topic 1 (the id
// an offers.create or orders.create call made is its index) or in a word of
// its data.
struct IndexAt {
  const char* signature;
  bool in_topic;
  std::size_t position;
};

const IndexAt kIndexAt[] = {
    {"AccountRegistered(bytes32,address,uint64,string,string,bytes)", false, 0},
    {"Funded(bytes32,uint64,uint64)", false, 1},
    {"Transferred(bytes32,bytes32,uint64,uint64)", false, 1},
    {"OfferCreated(uint64,bytes32,uint8,(uint8,uint64,uint32),string,string)", true, 1},
    {"OfferEnabled(uint64,bool,uint64)", false, 1},
    {"CvmRegistered(bytes32,bytes32,address,uint64,uint64,string,bytes,bytes)", false, 2},
    {"CvmHeartbeat(bytes32,uint64)", false, 0},
    {"CvmUpdated(bytes32,bytes32,uint64,uint64,bytes)", false, 2},
    {"OrderCreated(uint64,bytes32,bytes32,bytes)", true, 1},
    {"OrderStarted(uint64,uint64)", false, 0},
    {"OrderCanceled(uint64,bool,uint64)", false, 1},
    {"OrderFailed(uint64,uint64,string)", false, 0},
    {"ReportSubmitted(uint64,bytes32,uint64,bytes)", false, 1},
    {"ServiceStarted(uint64,bytes32,bytes32,uint64,string,bytes)", false, 2},
    {"Subscribed(uint64,bytes32,uint64,uint64)", false, 1},
    {"UsageRecorded(uint64,uint64,bytes)", false, 0},
    {"GrantsUsed(uint64,uint64,bytes)", false, 0},
    {"GrantRevoked(bytes32,bytes32,uint64)", false, 0},
    {"OrderTaken(uint64,bytes32,uint64)", false, 0},
    {"OrderReassigned(uint64,bytes32,uint64,uint64)", false, 1},
    {"ServiceJoined(uint64,bytes32,uint64,string)", false, 0},
};

std::optional<std::uint64_t> word_as_u64(ByteView w) {
  auto v = U256::from_big_endian(w);
  if (!v) return std::nullopt;
  auto small = v->to_uint64();
  if (!small) return std::nullopt;
  return *small;
}

}  // namespace

LedgerId ledger_id_for(std::uint64_t chain_id, const ward::evm::Address& contract) {
  Bytes preimage = to_bytes("ward/evm-ledger/v1");
  const U256 id(chain_id);
  preimage.insert(preimage.end(), id.big_endian().begin(), id.big_endian().end());
  preimage.insert(preimage.end(), contract.bytes.begin(), contract.bytes.end());
  return crypto::sha256(preimage);
}

Bytes binding_message(const ward::evm::Address& address) {
  Bytes m(kBindingDomain.size() + address.bytes.size());
  std::copy(kBindingDomain.begin(), kBindingDomain.end(), m.begin());
  std::copy(address.bytes.begin(), address.bytes.end(),
            m.begin() + static_cast<std::ptrdiff_t>(kBindingDomain.size()));
  return m;
}

crypto::Ed25519Signature sign_binding(const crypto::Ed25519PrivateKey& key,
                                      const ward::evm::Address& address) {
  return key.sign(binding_message(address));
}

bool verify_binding(const crypto::Ed25519PublicKey& id, const ward::evm::Address& address,
                    const crypto::Ed25519Signature& binding) {
  return crypto::ed25519_verify(id, binding_message(address), binding);
}

Result<Bytes> encode_call(const Transaction& tx, const crypto::Ed25519PrivateKey& sender_key,
                          const ward::evm::Address& sender_address, const std::optional<CvmIdentity>& cvm) {
  struct Visitor {
    const Transaction& tx;
    const crypto::Ed25519PrivateKey& key;
    const ward::evm::Address& address;
    const std::optional<CvmIdentity>& cvm;

    Result<Bytes> operator()(const args::AccountsRegister& a) const {
      return call("register(bytes32,string,string,bytes)",
                  {word(tx.sender), text(a.recipient), text(a.name), word(sign_binding(key, address))});
    }
    Result<Bytes> operator()(const args::AccountsFund& a) const {
      return call("fund(bytes32,uint64)", {word(a.to), u64(a.amount)});
    }
    Result<Bytes> operator()(const args::AccountsTransfer& a) const {
      return call("transfer(bytes32,uint64)", {word(a.to), u64(a.amount)});
    }
    Result<Bytes> operator()(const args::OffersCreate& a) const {
      return call("createOffer(uint8,string,string,(uint8,uint64,uint32),uint64)",
                  {u64(static_cast<std::uint64_t>(a.kind)), text(a.name), text(a.resource), price(a.price),
                   u64(a.timeout)});
    }
    Result<Bytes> operator()(const args::OffersEnable& a) const {
      return call("enableOffer(uint64)", {u64(a.offer)});
    }
    Result<Bytes> operator()(const args::OffersDisable& a) const {
      return call("disableOffer(uint64)", {u64(a.offer)});
    }
    Result<Bytes> operator()(const args::CvmsRegister& a) const {
      if (!cvm) {
        return fail(
            "ledger.evm",
            "an EVM ledger lists a CVM with the address it sends from and its key's binding of it; none "
            "was given");
      }
      return call("registerCvm(bytes32,address,bytes,string,bytes,uint64,uint64,(bool,uint64,uint64,uint64))",
                  {word(a.key), Value::address(cvm->address), word(cvm->binding), text(a.recipient),
                   Value::bytes(as_bytes(a.certificate)), u64(a.offer), u64(not_after(a.certificate)),
                   resources(a.resources)});
    }
    Result<Bytes> operator()(const args::CvmsHeartbeat&) const { return call("heartbeat()", {}); }
    Result<Bytes> operator()(const args::CvmsUpdate& a) const {
      const auto seconds = a.claims.not_after.time_since_epoch().count();
      return call("updateCvm(bytes,bytes32,string,uint64)",
                  {Value::bytes(as_bytes(a.certificate)), word(a.claims.key), text(a.claims.recipient),
                   u64(seconds > 0 ? static_cast<std::uint64_t>(seconds) : 0)});
    }
    Result<Bytes> operator()(const args::OrdersCreate& a) const {
      std::vector<Value> offers;
      for (auto o : a.offers) offers.push_back(u64(o));
      return call(
          "createOrder((bytes32,bool,uint64,(bool,uint64,uint64,uint64),string,string[],string[],uint64[],"
          "uint64,(bool,uint8,bytes32[],uint64,uint64),bytes32[]))",
          {Value::list({word(a.cvm), Value::boolean(a.offer.has_value()), u64(a.offer.value_or(0)),
                        resources(a.needs), text(a.engine), strings(a.inputs), strings(a.outputs),
                        Value::list(std::move(offers)), u64(a.deposit), serve_args(a.serve),
                        words(a.workers)})});
    }
    Result<Bytes> operator()(const args::OrdersTake& a) const {
      return call("takeOrder(uint64)", {u64(a.order)});
    }
    Result<Bytes> operator()(const args::OrdersReassign& a) const {
      return call("reassignOrder(uint64)", {u64(a.order)});
    }
    Result<Bytes> operator()(const args::ServicesJoin& a) const {
      return call("joinService(uint64,string)", {u64(a.order), text(a.endpoint)});
    }
    Result<Bytes> operator()(const args::OrdersStart& a) const {
      return call("startOrder(uint64)", {u64(a.order)});
    }
    Result<Bytes> operator()(const args::OrdersCancel& a) const {
      return call("cancelOrder(uint64)", {u64(a.order)});
    }
    Result<Bytes> operator()(const args::OrdersFail& a) const {
      return call("failOrder(uint64,string)", {u64(a.order), text(a.reason)});
    }
    Result<Bytes> operator()(const args::ReportsSubmit& a) const {
      return call("submitReport(uint64,bytes,(bytes32,bytes32,uint64,string,bool,bytes32,string,bytes32[]))",
                  {u64(a.order), Value::bytes(as_bytes(a.report)), report_claims(a.claims)});
    }
    Result<Bytes> operator()(const args::ServicesStart& a) const {
      return call("startService(uint64,bytes,(bytes32,bytes32,uint64,string,bool,bytes32,string,bytes32[]))",
                  {u64(a.order), Value::bytes(as_bytes(a.report)), report_claims(a.claims)});
    }
    Result<Bytes> operator()(const args::GrantsUse& a) const {
      std::vector<Value> grants;
      for (const auto& g : a.grants) grants.push_back(Value::list({word(g.id), word(g.owner), u64(g.uses)}));
      return call("useGrants(uint64,(bytes32,bytes32,uint64)[])",
                  {u64(a.order), Value::list(std::move(grants))});
    }
    Result<Bytes> operator()(const args::GrantsRevoke& a) const {
      return call("revokeGrant(bytes32)", {word(a.grant)});
    }
    Result<Bytes> operator()(const args::ServicesSubscribe& a) const {
      return call("subscribe(uint64,uint64)", {u64(a.order), u64(a.deposit)});
    }
    Result<Bytes> operator()(const args::ServicesUsage& a) const {
      std::vector<Value> usage;
      for (const auto& u : a.usage) {
        usage.push_back(Value::list({word(u.account), u64(u.requests), u64(u.tokens), u64(u.bytes)}));
      }
      return call("recordUsage(uint64,(bytes32,uint64,uint64,uint64)[])",
                  {u64(a.order), Value::list(std::move(usage))});
    }
  };
  return std::visit(Visitor{tx, sender_key, sender_address, cvm}, tx.action);
}

Rejection rejection_from_revert(ByteView revert_data) {
  auto revert = abi::decode_revert(revert_data);
  if (!revert) return rejected("internal", "the contract reverted with data that does not decode");
  if (revert->kind == abi::Revert::Kind::Custom) {
    for (const auto& rule : kErrors) {
      auto f = abi::Function::parse(rule.signature);
      if (!f || f->selector() != revert->selector) continue;
      auto values = abi::decode_error(*f, revert_data);
      if (!values) return rejected("internal", "the contract's " + f->name + " does not decode");
      return rule.read(*values);
    }
  }
  return rejected("internal", "the contract " + revert->describe());
}

std::optional<std::uint64_t> record_index(const std::vector<ward::evm::Log>& logs,
                                          const ward::evm::Address& contract) {
  for (const auto& log : logs) {
    if (log.address != contract || log.topics.empty()) continue;
    for (const auto& at : kIndexAt) {
      auto topic = abi::event_topic(at.signature);
      if (!topic || *topic != log.topics[0]) continue;
      if (at.in_topic) {
        if (log.topics.size() <= at.position) return std::nullopt;
        return word_as_u64(log.topics[at.position]);
      }
      const std::size_t offset = at.position * 32;
      if (log.data.size() < offset + 32) return std::nullopt;
      return word_as_u64(ByteView(log.data).subspan(offset, 32));
    }
  }
  return std::nullopt;
}

}  // namespace ward::ledger::evm
