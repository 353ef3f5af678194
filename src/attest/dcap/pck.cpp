#include "attest/dcap/pck.h"

#include <algorithm>
#include <optional>
#include <string>
#include <utility>

#include "crypto/der.h"

namespace ward::attest::dcap {

namespace {

constexpr std::uint8_t kTagBoolean = 0x01;
constexpr std::uint8_t kTagInteger = 0x02;
constexpr std::uint8_t kTagOctetString = 0x04;
constexpr std::uint8_t kTagOid = 0x06;
constexpr std::uint8_t kTagEnumerated = 0x0A;
constexpr std::uint8_t kTagSequence = 0x30;

// 1.2.840.113741.1.13.1 encoded; every element's OID extends it.
constexpr std::array<std::uint8_t, 9> kSgxArc{0x2A, 0x86, 0x48, 0x86, 0xF8, 0x4D, 0x01, 0x0D, 0x01};

// Element numbers under the SGX arc.
constexpr std::uint8_t kPpid = 1;
constexpr std::uint8_t kTcb = 2;
constexpr std::uint8_t kPceId = 3;
constexpr std::uint8_t kFmspc = 4;
constexpr std::uint8_t kSgxType = 5;
constexpr std::uint8_t kPlatformInstanceId = 6;
constexpr std::uint8_t kConfiguration = 7;
// Within TCB: .1 to .16 component SVNs, then PCESVN and CPUSVN.
constexpr std::uint8_t kTcbPceSvn = 17;
constexpr std::uint8_t kTcbCpuSvn = 18;

std::unexpected<Error> bad(const std::string& what) {
  return fail("attest.pck", "SGX extension: " + what);
}

// Reads the elements of a DER buffer in turn, naming the element in errors.
class DerReader {
 public:
  explicit DerReader(ByteView in) : in_(in) {}

  bool done() const { return in_.empty(); }

  Result<crypto::der::Tlv> next(const std::string& what) {
    auto tlv = crypto::der::read(in_);
    if (!tlv) return bad(what + ": " + tlv.error().message);
    return tlv;
  }

  Result<ByteView> expect(std::uint8_t tag, const std::string& what) {
    auto tlv = next(what);
    if (!tlv) return std::unexpected(tlv.error());
    if (tlv->tag != tag) return bad(what + " has the wrong type");
    return tlv->contents;
  }

 private:
  ByteView in_;
};

// A non-negative DER INTEGER (or ENUMERATED) no larger than `max`.
Result<unsigned> read_unsigned(ByteView value, unsigned max, const std::string& what) {
  if (value.empty()) return bad(what + " is empty");
  if ((value[0] & 0x80) != 0) return bad(what + " is negative");
  if (value.size() > 1 && value[0] == 0 && (value[1] & 0x80) == 0) {
    return bad(what + " is not minimally encoded");
  }
  if (value[0] == 0) value = value.subspan(1);
  if (value.size() > sizeof(unsigned)) return bad(what + " is too large");
  unsigned result = 0;
  for (std::uint8_t b : value) result = (result << 8) | b;
  if (result > max) return bad(what + " is too large");
  return result;
}

template <std::size_t N>
Result<std::array<std::uint8_t, N>> read_octets(ByteView value, const std::string& what) {
  if (value.size() != N) {
    return bad(what + " must be " + std::to_string(N) + " bytes, not " + std::to_string(value.size()));
  }
  std::array<std::uint8_t, N> out{};
  std::copy(value.begin(), value.end(), out.begin());
  return out;
}

// The element number of an OID that is `arc` plus exactly one more arc below
// 128, or nullopt for any other OID.
std::optional<std::uint8_t> child_number(ByteView oid, ByteView arc) {
  if (oid.size() != arc.size() + 1 || !std::equal(arc.begin(), arc.end(), oid.begin())) {
    return std::nullopt;
  }
  const std::uint8_t last = oid.back();
  if (last == 0 || last >= 0x80) return std::nullopt;
  return last;
}

Bytes arc_of(std::uint8_t element) {
  Bytes arc(kSgxArc.begin(), kSgxArc.end());
  arc.push_back(element);
  return arc;
}

// One SEQUENCE { OID, value } entry whose OID is `arc`.n; returns n and the value.
struct Entry {
  std::uint8_t number;
  crypto::der::Tlv value;
};

Result<Entry> read_entry(DerReader& list, ByteView arc, const std::string& what) {
  auto body = list.expect(kTagSequence, what);
  if (!body) return std::unexpected(body.error());
  DerReader entry(*body);
  auto oid = entry.expect(kTagOid, what + " OID");
  if (!oid) return std::unexpected(oid.error());
  const auto number = child_number(*oid, arc);
  if (!number) return bad(what + " has an unknown OID");
  const std::string name = what + " ." + std::to_string(*number);
  auto value = entry.next(name);
  if (!value) return std::unexpected(value.error());
  if (!entry.done()) return bad(name + " has trailing data");
  return Entry{*number, *value};
}

Result<void> parse_tcb(ByteView body, PckExtensions& out) {
  const Bytes arc = arc_of(kTcb);
  DerReader list(body);
  for (std::uint8_t expected = 1; expected <= kTcbCpuSvn; ++expected) {
    auto entry = read_entry(list, arc, "TCB element");
    if (!entry) return std::unexpected(entry.error());
    const std::string name = "TCB element ." + std::to_string(entry->number);
    if (entry->number != expected) return bad(name + " is out of order or repeated");
    if (expected == kTcbCpuSvn) {
      if (entry->value.tag != kTagOctetString) return bad("CPUSVN has the wrong type");
      auto svn = read_octets<16>(entry->value.contents, "CPUSVN");
      if (!svn) return std::unexpected(svn.error());
      out.cpu_svn = *svn;
      continue;
    }
    if (entry->value.tag != kTagInteger) return bad(name + " has the wrong type");
    const unsigned max = expected == kTcbPceSvn ? 0xFFFF : 0xFF;
    auto svn = read_unsigned(entry->value.contents, max, name);
    if (!svn) return std::unexpected(svn.error());
    if (expected == kTcbPceSvn) {
      out.pce_svn = static_cast<std::uint16_t>(*svn);
    } else {
      out.cpu_svn_components[expected - 1] = static_cast<std::uint8_t>(*svn);
    }
  }
  if (!list.done()) return bad("TCB has more than 18 elements");
  return {};
}

// Configuration: SEQUENCE of SEQUENCE { OID .7.n, BOOLEAN } (dynamic
// platform, cached keys, SMT enabled). Checked for form only.
Result<void> check_configuration(ByteView body) {
  const Bytes arc = arc_of(kConfiguration);
  DerReader list(body);
  int last = 0;
  while (!list.done()) {
    auto entry = read_entry(list, arc, "Configuration element");
    if (!entry) return std::unexpected(entry.error());
    if (entry->number <= last) return bad("Configuration elements are out of order or repeated");
    last = entry->number;
    const ByteView flag = entry->value.contents;
    if (entry->value.tag != kTagBoolean || flag.size() != 1 || (flag[0] != 0x00 && flag[0] != 0xFF)) {
      return bad("Configuration element ." + std::to_string(entry->number) + " is not a DER BOOLEAN");
    }
  }
  return {};
}

Bytes unsigned_content(unsigned v) {
  Bytes be;
  do {
    be.insert(be.begin(), static_cast<std::uint8_t>(v & 0xFF));
    v >>= 8;
  } while (v != 0);
  if ((be.front() & 0x80) != 0) be.insert(be.begin(), 0x00);
  return be;
}

void put_entry(Bytes& list, ByteView oid, std::uint8_t tag, ByteView value) {
  Bytes entry;
  crypto::der::append(entry, kTagOid, oid);
  crypto::der::append(entry, tag, value);
  crypto::der::append(list, kTagSequence, entry);
}

}  // namespace

Result<PckExtensions> parse_pck_extensions_der(ByteView extn_value) {
  DerReader outer(extn_value);
  auto body = outer.expect(kTagSequence, "extension");
  if (!body) return std::unexpected(body.error());
  if (!outer.done()) return bad("trailing data after the extension");

  PckExtensions out;
  std::array<bool, kConfiguration + 1> seen{};
  int last = 0;
  DerReader list(*body);
  const ByteView arc(kSgxArc);
  while (!list.done()) {
    auto entry = read_entry(list, arc, "element");
    if (!entry) return std::unexpected(entry.error());
    const std::uint8_t n = entry->number;
    const std::string name = "element ." + std::to_string(n);
    if (n > kConfiguration) return bad(name + " is unknown");
    if (n <= last) return bad(name + " is out of order or repeated");
    last = n;
    seen[n] = true;
    const crypto::der::Tlv& value = entry->value;
    Result<void> ok;
    switch (n) {
      case kPpid: {
        if (value.tag != kTagOctetString) return bad("PPID has the wrong type");
        auto ppid = read_octets<16>(value.contents, "PPID");
        if (!ppid) return std::unexpected(ppid.error());
        out.ppid.assign(ppid->begin(), ppid->end());
        break;
      }
      case kTcb:
        if (value.tag != kTagSequence) return bad("TCB has the wrong type");
        ok = parse_tcb(value.contents, out);
        break;
      case kPceId: {
        if (value.tag != kTagOctetString) return bad("PCE-ID has the wrong type");
        auto pce_id = read_octets<2>(value.contents, "PCE-ID");
        if (!pce_id) return std::unexpected(pce_id.error());
        out.pce_id = *pce_id;
        break;
      }
      case kFmspc: {
        if (value.tag != kTagOctetString) return bad("FMSPC has the wrong type");
        auto fmspc = read_octets<6>(value.contents, "FMSPC");
        if (!fmspc) return std::unexpected(fmspc.error());
        out.fmspc = *fmspc;
        break;
      }
      case kSgxType: {
        if (value.tag != kTagEnumerated) return bad("SGX Type has the wrong type");
        auto type = read_unsigned(value.contents, 0xFF, "SGX Type");
        if (!type) return std::unexpected(type.error());
        out.sgx_type = static_cast<int>(*type);
        break;
      }
      case kPlatformInstanceId:
        if (value.tag != kTagOctetString) return bad("PlatformInstanceID has the wrong type");
        if (auto id = read_octets<16>(value.contents, "PlatformInstanceID"); !id) {
          return std::unexpected(id.error());
        }
        break;
      case kConfiguration:
        if (value.tag != kTagSequence) return bad("Configuration has the wrong type");
        ok = check_configuration(value.contents);
        break;
      default:
        break;
    }
    if (!ok) return std::unexpected(ok.error());
  }
  constexpr std::array<std::pair<std::uint8_t, std::string_view>, 5> kRequired{
      {{kPpid, "PPID"}, {kTcb, "TCB"}, {kPceId, "PCE-ID"}, {kFmspc, "FMSPC"}, {kSgxType, "SGX Type"}}};
  for (const auto& [n, name] : kRequired) {
    if (!seen[n]) return bad(std::string(name) + " is missing");
  }
  return out;
}

Result<PckExtensions> parse_pck_extensions(const crypto::Certificate& pck) {
  const auto der = pck.extension(kSgxExtensionOid);
  if (!der) return fail("attest.pck", "the PCK certificate has no SGX extension");
  return parse_pck_extensions_der(*der);
}

Bytes encode_pck_extensions(const PckExtensions& ext) {
  Bytes tcb;
  Bytes tcb_arc = arc_of(kTcb);
  tcb_arc.push_back(0);
  for (std::uint8_t i = 1; i <= kTcbCpuSvn; ++i) {
    tcb_arc.back() = i;
    if (i == kTcbCpuSvn) {
      put_entry(tcb, tcb_arc, kTagOctetString, ext.cpu_svn);
    } else {
      const unsigned svn = i == kTcbPceSvn ? ext.pce_svn : ext.cpu_svn_components[i - 1];
      put_entry(tcb, tcb_arc, kTagInteger, unsigned_content(svn));
    }
  }
  Bytes list;
  put_entry(list, arc_of(kPpid), kTagOctetString, ext.ppid);
  put_entry(list, arc_of(kTcb), kTagSequence, tcb);
  put_entry(list, arc_of(kPceId), kTagOctetString, ext.pce_id);
  put_entry(list, arc_of(kFmspc), kTagOctetString, ext.fmspc);
  put_entry(list, arc_of(kSgxType), kTagEnumerated, unsigned_content(static_cast<unsigned>(ext.sgx_type)));
  Bytes out;
  crypto::der::append(out, kTagSequence, list);
  return out;
}

}  // namespace ward::attest::dcap
