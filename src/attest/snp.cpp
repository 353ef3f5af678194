#include "attest/snp.h"

#include <algorithm>
#include <ctime>
#include <string>
#include <utility>

#include "crypto/ecdsa.h"
#include "crypto/hash.h"

namespace ward::attest::snp {

namespace {

constexpr std::string_view kParse = "snp.report.parse";
constexpr std::string_view kVersion = "snp.report.version";
constexpr std::string_view kReserved = "snp.report.reserved";
constexpr std::string_view kSignatureAlgorithm = "snp.signature_algorithm";
constexpr std::string_view kChain = "snp.chain";
constexpr std::string_view kSigningKey = "snp.signing_key";
constexpr std::string_view kProduct = "snp.product";
constexpr std::string_view kTcb = "snp.tcb";
constexpr std::string_view kChipId = "snp.chip_id";
constexpr std::string_view kSignature = "snp.report.signature";

constexpr std::string_view kOidProductName = "1.3.6.1.4.1.3704.1.2";
constexpr std::string_view kOidBootloader = "1.3.6.1.4.1.3704.1.3.1";
constexpr std::string_view kOidTee = "1.3.6.1.4.1.3704.1.3.2";
constexpr std::string_view kOidSnp = "1.3.6.1.4.1.3704.1.3.3";
constexpr std::string_view kOidMicrocode = "1.3.6.1.4.1.3704.1.3.8";
constexpr std::string_view kOidFmc = "1.3.6.1.4.1.3704.1.3.9";
constexpr std::string_view kOidHwid = "1.3.6.1.4.1.3704.1.4";

std::uint32_t le32(ByteView d, std::size_t off) {
  return static_cast<std::uint32_t>(d[off]) | static_cast<std::uint32_t>(d[off + 1]) << 8 |
         static_cast<std::uint32_t>(d[off + 2]) << 16 | static_cast<std::uint32_t>(d[off + 3]) << 24;
}

std::uint64_t le64(ByteView d, std::size_t off) {
  return static_cast<std::uint64_t>(le32(d, off)) | static_cast<std::uint64_t>(le32(d, off + 4)) << 32;
}

template <std::size_t N>
std::array<std::uint8_t, N> take(ByteView d, std::size_t off) {
  std::array<std::uint8_t, N> out{};
  std::copy_n(d.begin() + static_cast<std::ptrdiff_t>(off), N, out.begin());
  return out;
}

bool all_zero(ByteView d) {
  return std::all_of(d.begin(), d.end(), [](std::uint8_t b) { return b == 0; });
}

std::string hex_u64(std::uint64_t v) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  do {
    out.insert(out.begin(), kDigits[v & 0xf]);
    v >>= 4;
  } while (v != 0);
  return "0x" + out;
}

std::string utc_text(crypto::sys_seconds t) {
  const std::time_t seconds = t.time_since_epoch().count();
  std::tm tm{};
  ::gmtime_r(&seconds, &tm);
  char buf[32];
  const std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return std::string(buf, n);
}

std::string common_name(const crypto::Certificate& cert) {
  const std::string subject = cert.subject();
  const auto at = subject.find("CN=");
  if (at == std::string::npos) return subject;
  const auto end = subject.find(',', at);
  return subject.substr(at + 3, end == std::string::npos ? std::string::npos : end - at - 3);
}

// Reserved byte ranges [begin, end) of each version's signed region. The
// firmware writes zeros there; anything else means a layout this code does not
// know, whose fields it would misread.
std::vector<std::pair<std::size_t, std::size_t>> reserved_ranges(std::uint32_t version) {
  std::vector<std::pair<std::size_t, std::size_t>> ranges{{0x4C, 0x50}, {0x1EB, 0x1EC}, {0x1EF, 0x1F0}};
  ranges.emplace_back(version >= 3 ? 0x18B : 0x188, 0x1A0);
  ranges.emplace_back(version >= 5 ? 0x208 : 0x1F8, kSignedSize);
  return ranges;
}

Result<void> check_reserved(ByteView data, std::uint32_t version) {
  for (const auto& [begin, end] : reserved_ranges(version)) {
    for (std::size_t i = begin; i < end; ++i) {
      if (data[i] != 0) {
        return fail(std::string(kReserved), "reserved byte " + hex_u64(i) + " of a version " +
                                                std::to_string(version) + " report is not zero");
      }
    }
  }
  return {};
}

// A DER INTEGER holding a security patch level: 0..127 in one content byte,
// 128..255 in two (a zero, then the value).
Result<std::uint8_t> parse_spl(ByteView der, std::string_view oid) {
  if (der.size() == 3 && der[0] == 0x02 && der[1] == 1 && der[2] < 0x80) return der[2];
  if (der.size() == 4 && der[0] == 0x02 && der[1] == 2 && der[2] == 0 && der[3] >= 0x80) return der[3];
  return fail("snp.vcek", "extension " + std::string(oid) + " is not a DER INTEGER in 0..255");
}

Result<std::string> parse_product_name(ByteView der) {
  if (der.size() < 2 || der[0] != 0x16 || der[1] != der.size() - 2 || der[1] > 0x7f) {
    return fail("snp.vcek", "extension " + std::string(kOidProductName) + " is not a short DER IA5String");
  }
  return std::string(as_chars(der.subspan(2)));
}

Result<Bytes> parse_hwid(ByteView der) {
  if (der.size() == 64 || der.size() == 8) return Bytes(der.begin(), der.end());
  if (der.size() >= 2 && der[0] == 0x04 && der[1] == der.size() - 2 && (der[1] == 64 || der[1] == 8)) {
    return Bytes(der.begin() + 2, der.end());
  }
  return fail("snp.vcek", "extension " + std::string(kOidHwid) +
                              " is neither 8 nor 64 bytes, bare or in a DER OCTET STRING");
}

// The certificate GUIDs of kGuidVcek .. kGuidArk, in table byte order.
constexpr std::array<std::array<std::uint8_t, 16>, 4> kCertGuids{{
    {0x63, 0xda, 0x75, 0x8d, 0xe6, 0x64, 0x45, 0x64, 0xad, 0xc5, 0xf4, 0xb9, 0x3b, 0xe8, 0xac, 0xcd},
    {0xa8, 0x07, 0x4b, 0xc2, 0xa2, 0x5a, 0x48, 0x3e, 0xaa, 0xe6, 0x39, 0xc0, 0x45, 0xa0, 0xb8, 0xa1},
    {0x4a, 0xb7, 0xb3, 0x79, 0xbb, 0xac, 0x4f, 0xe4, 0xa0, 0x2f, 0x05, 0xae, 0xf3, 0x27, 0xc7, 0x82},
    {0xc0, 0xb4, 0x06, 0xa4, 0xa8, 0x03, 0x49, 0x52, 0x97, 0x43, 0x3f, 0xb6, 0x01, 0x4c, 0xd0, 0xae},
}};
constexpr std::size_t kCertEntrySize = 24;

Result<void> valid_at(const crypto::Certificate& cert, std::chrono::system_clock::time_point at) {
  const auto t = std::chrono::time_point_cast<std::chrono::seconds>(at);
  if (t < cert.not_before() || t > cert.not_after()) {
    return fail(std::string(kChain), "certificate '" + common_name(cert) + "' is valid from " +
                                         utc_text(cert.not_before()) + " to " + utc_text(cert.not_after()) +
                                         ", not at " + utc_text(t));
  }
  return {};
}

std::string tcb_text(const SnpTcb& t) {
  std::string out = "boot loader " + std::to_string(t.bootloader) + ", TEE " + std::to_string(t.tee) +
                    ", SNP " + std::to_string(t.snp) + ", microcode " + std::to_string(t.microcode);
  if (t.fmc) out += ", FMC " + std::to_string(*t.fmc);
  return out;
}

Result<void> check_signing_key(const Report& report, SigningKey endorsed) {
  if (report.mask_chip_key()) {
    return fail(std::string(kSigningKey), "MASK_CHIP_KEY is set: the firmware did not sign this report");
  }
  const unsigned field = report.signing_key();
  if (field > 1) {
    return fail(std::string(kSigningKey),
                "SIGNING_KEY is " + std::to_string(field) + ", neither VCEK (0) nor VLEK (1)");
  }
  const SigningKey named = field == 0 ? SigningKey::Vcek : SigningKey::Vlek;
  if (named != endorsed) {
    return fail(std::string(kSigningKey),
                "the report says it is signed by a " + std::string(signing_key_name(named)) +
                    " but the certificate is a " + std::string(signing_key_name(endorsed)));
  }
  return {};
}

Result<void> check_product(const Report& report, const Endorsement& e) {
  const std::string_view name = product_name(e.product);
  if (e.extensions.product_name && !e.extensions.product_name->starts_with(name)) {
    return fail(std::string(kProduct), "the certificate's productName '" + *e.extensions.product_name +
                                           "' is not " + std::string(name));
  }
  if (report.cpuid) {
    const auto cpu = product_from_cpuid(report.cpuid->family, report.cpuid->model);
    if (cpu != e.product) {
      return fail(std::string(kProduct), "the report's CPUID (family " + hex_u64(report.cpuid->family) +
                                             ", model " + hex_u64(report.cpuid->model) + ") is not a " +
                                             std::string(name) +
                                             " processor, which the certificate chain is for");
    }
  }
  return {};
}

Result<void> check_tcb(const Report& report, const Endorsement& e) {
  const SnpTcb reported = decode_tcb(report.reported_tcb, e.product);
  const EndorsementExtensions& x = e.extensions;
  const bool need_all = e.key == SigningKey::Vcek;
  struct Component {
    std::string_view name;
    const std::optional<std::uint8_t>& endorsed;
    std::optional<std::uint8_t> reported;
  };
  const Component components[] = {
      {"boot loader", x.bootloader, reported.bootloader},
      {"TEE", x.tee, reported.tee},
      {"SNP", x.snp, reported.snp},
      {"microcode", x.microcode, reported.microcode},
      {"FMC", x.fmc, reported.fmc},
  };
  for (const Component& c : components) {
    if (!c.endorsed) {
      if (need_all && c.reported) {
        return fail(std::string(kTcb), "the VCEK has no " + std::string(c.name) + " SPL extension");
      }
      continue;
    }
    if (!c.reported) {
      return fail(std::string(kTcb), "the certificate has a " + std::string(c.name) + " SPL, which " +
                                         std::string(product_name(e.product)) + " TCBs do not have");
    }
    if (*c.endorsed != *c.reported) {
      return fail(std::string(kTcb), "REPORTED_TCB " + std::string(c.name) + " SPL is " +
                                         std::to_string(*c.reported) + " but the certificate is for " +
                                         std::to_string(*c.endorsed));
    }
  }
  return {};
}

Result<void> check_chip_id(const Report& report, const Endorsement& e) {
  if (e.key == SigningKey::Vlek) return {};
  if (all_zero(report.chip_id)) {
    return fail(std::string(kChipId),
                "CHIP_ID is zero (the platform masks it), so the VCEK cannot be tied to this chip");
  }
  if (!e.extensions.hwid) return fail(std::string(kChipId), "the VCEK has no hwID extension");
  const Bytes& hwid = *e.extensions.hwid;
  // Turin VCEKs carry an 8-byte hwID, the start of the report's CHIP_ID.
  const std::size_t n = e.product == Product::Turin ? 8 : 64;
  if (hwid.size() != n) {
    return fail(std::string(kChipId),
                "the VCEK's hwID has " + std::to_string(hwid.size()) + " bytes, not " + std::to_string(n));
  }
  if (!std::equal(hwid.begin(), hwid.end(), report.chip_id.begin())) {
    return fail(std::string(kChipId), "CHIP_ID " + hex_encode(ByteView(report.chip_id).first(n)) +
                                          " is not the VCEK's hwID " + hex_encode(hwid));
  }
  return {};
}

Result<void> check_signature(const Report& report, const crypto::Certificate& leaf) {
  auto key = leaf.ec_public_key();
  if (!key) return fail(std::string(kSignature), key.error().message);
  auto raw =
      crypto::ecdsa_raw_from_little_endian(crypto::EcCurve::P384, report.signature_r, report.signature_s);
  if (!raw) return fail(std::string(kSignature), raw.error().message);
  if (auto ok = crypto::ecdsa_verify(*key, crypto::HashAlg::Sha384, report.signed_region, *raw,
                                     crypto::SigFormat::Raw);
      !ok) {
    return fail(std::string(kSignature), "the report's signature does not verify with the certificate's key");
  }
  return {};
}

void fill(const Report& report, const Endorsement& e, Appraisal& out) {
  out.report_data.assign(report.report_data.begin(), report.report_data.end());
  out.measurements.push_back({"measurement", Bytes(report.measurement.begin(), report.measurement.end())});
  out.measurements.push_back({"host_data", Bytes(report.host_data.begin(), report.host_data.end())});
  if (!all_zero(report.id_key_digest)) {
    out.measurements.push_back(
        {"id_key_digest", Bytes(report.id_key_digest.begin(), report.id_key_digest.end())});
  }
  if (report.author_key_en()) {
    out.measurements.push_back(
        {"author_key_digest", Bytes(report.author_key_digest.begin(), report.author_key_digest.end())});
  }
  out.debug = report.debug();
  out.snp_reported_tcb = decode_tcb(report.reported_tcb, e.product);
  out.snp_smt_allowed = (report.policy & kPolicySmt) != 0;
  out.snp_migration_agent_allowed = (report.policy & kPolicyMigrateMa) != 0;
  out.claims["snp_product"] = std::string(product_name(e.product));
  out.claims["signing_key"] = std::string(signing_key_name(e.key));
  out.claims["chip_id"] = hex_encode(report.chip_id);
  out.claims["vmpl"] = std::to_string(report.vmpl);
  out.claims["policy"] = hex_u64(report.policy);
  out.claims["guest_svn"] = std::to_string(report.guest_svn);
  out.claims["report_version"] = std::to_string(report.version);
}

// The one certificate that is not a CA.
Result<const crypto::Certificate*> find_leaf(std::span<const crypto::Certificate> certs) {
  const crypto::Certificate* leaf = nullptr;
  for (const crypto::Certificate& cert : certs) {
    if (cert.is_ca()) continue;
    if (leaf != nullptr) return fail(std::string(kChain), "more than one VCEK or VLEK certificate given");
    leaf = &cert;
  }
  if (leaf == nullptr) return fail(std::string(kChain), "no VCEK or VLEK certificate given");
  return leaf;
}

}  // namespace

std::string_view product_name(Product p) {
  switch (p) {
    case Product::Milan:
      return "Milan";
    case Product::Genoa:
      return "Genoa";
    case Product::Turin:
      return "Turin";
  }
  return "unknown";
}

std::optional<Product> product_from_cpuid(std::uint8_t family, std::uint8_t model) {
  // Family 19h: Milan models 00h-0Fh; Genoa 10h-1Fh and its Bergamo/Siena
  // siblings A0h-AFh. Family 1Ah: Turin 00h-1Fh.
  if (family == 0x19 && model <= 0x0F) return Product::Milan;
  if (family == 0x19 && ((model >= 0x10 && model <= 0x1F) || (model >= 0xA0 && model <= 0xAF))) {
    return Product::Genoa;
  }
  if (family == 0x1A && model <= 0x1F) return Product::Turin;
  return std::nullopt;
}

std::string_view signing_key_name(SigningKey k) {
  return k == SigningKey::Vcek ? "vcek" : "vlek";
}

Result<Report> parse_report(ByteView data) {
  if (data.size() != kReportSize) {
    return fail(std::string(kParse), "an SEV-SNP report has " + std::to_string(kReportSize) + " bytes, not " +
                                         std::to_string(data.size()));
  }
  Report r;
  r.version = le32(data, 0x00);
  if (r.version != 2 && r.version != 3 && r.version != 5) {
    return fail(std::string(kVersion),
                "report version " + std::to_string(r.version) + " is not supported (only 2, 3 and 5 are)");
  }
  r.guest_svn = le32(data, 0x04);
  r.policy = le64(data, 0x08);
  r.family_id = take<16>(data, 0x10);
  r.image_id = take<16>(data, 0x20);
  r.vmpl = le32(data, 0x30);
  r.signature_algo = le32(data, 0x34);
  r.current_tcb = le64(data, 0x38);
  r.platform_info = le64(data, 0x40);
  r.key_info = le32(data, 0x48);
  r.report_data = take<64>(data, 0x50);
  r.measurement = take<48>(data, 0x90);
  r.host_data = take<32>(data, 0xC0);
  r.id_key_digest = take<48>(data, 0xE0);
  r.author_key_digest = take<48>(data, 0x110);
  r.report_id = take<32>(data, 0x140);
  r.report_id_ma = take<32>(data, 0x160);
  r.reported_tcb = le64(data, 0x180);
  if (r.version >= 3) r.cpuid = CpuId{data[0x188], data[0x189], data[0x18A]};
  r.chip_id = take<64>(data, 0x1A0);
  r.committed_tcb = le64(data, 0x1E0);
  r.current = FirmwareVersion{data[0x1EA], data[0x1E9], data[0x1E8]};
  r.committed = FirmwareVersion{data[0x1EE], data[0x1ED], data[0x1EC]};
  r.launch_tcb = le64(data, 0x1F0);
  if (r.version >= 5) {
    r.launch_mit_vector = le64(data, 0x1F8);
    r.current_mit_vector = le64(data, 0x200);
  }
  r.signature_r = take<72>(data, 0x2A0);
  r.signature_s = take<72>(data, 0x2E8);
  r.signed_region.assign(data.begin(), data.begin() + kSignedSize);
  return r;
}

SnpTcb decode_tcb(std::uint64_t raw, Product product) {
  auto byte = [raw](unsigned i) { return static_cast<std::uint8_t>(raw >> (8 * i)); };
  SnpTcb t;
  if (product == Product::Turin) {
    t.fmc = byte(0);
    t.bootloader = byte(1);
    t.tee = byte(2);
    t.snp = byte(3);
  } else {
    t.bootloader = byte(0);
    t.tee = byte(1);
    t.snp = byte(6);
  }
  t.microcode = byte(7);
  return t;
}

Result<std::vector<crypto::Certificate>> parse_cert_table(ByteView table) {
  std::size_t entries = 0;
  for (;; ++entries) {
    if (table.size() / kCertEntrySize <= entries) {
      return fail("snp.cert_table", "the certificate table has no all-zero terminating entry");
    }
    if (all_zero(table.subspan(entries * kCertEntrySize, kCertEntrySize))) break;
  }
  const std::size_t data_start = (entries + 1) * kCertEntrySize;
  std::vector<crypto::Certificate> certs;
  std::array<bool, kCertGuids.size()> seen{};
  for (std::size_t i = 0; i < entries; ++i) {
    const ByteView entry = table.subspan(i * kCertEntrySize, kCertEntrySize);
    const auto kind = std::find_if(kCertGuids.begin(), kCertGuids.end(), [&](const auto& guid) {
      return std::equal(guid.begin(), guid.end(), entry.begin());
    });
    if (kind == kCertGuids.end()) continue;
    const std::size_t offset = le32(entry, 16);
    const std::size_t length = le32(entry, 20);
    const std::string where = "certificate table entry " + std::to_string(i);
    if (offset < data_start || offset > table.size() || length > table.size() - offset || length == 0) {
      return fail("snp.cert_table", where + " (offset " + std::to_string(offset) + ", length " +
                                        std::to_string(length) + ") is outside the " +
                                        std::to_string(table.size() - data_start) +
                                        " bytes of certificate data");
    }
    const auto index = static_cast<std::size_t>(kind - kCertGuids.begin());
    if (seen[index]) return fail("snp.cert_table", where + " repeats a certificate GUID");
    seen[index] = true;
    auto cert = crypto::Certificate::from_der(table.subspan(offset, length));
    if (!cert) return fail("snp.cert_table", where + ": " + cert.error().message);
    certs.push_back(std::move(*cert));
  }
  return certs;
}

Result<EndorsementExtensions> parse_endorsement_extensions(const crypto::Certificate& cert) {
  EndorsementExtensions out;
  if (auto der = cert.extension(kOidProductName)) {
    auto name = parse_product_name(*der);
    if (!name) return std::unexpected(name.error());
    out.product_name = std::move(*name);
  }
  const std::pair<std::string_view, std::optional<std::uint8_t>*> spls[] = {
      {kOidBootloader, &out.bootloader}, {kOidTee, &out.tee}, {kOidSnp, &out.snp},
      {kOidMicrocode, &out.microcode},   {kOidFmc, &out.fmc},
  };
  for (const auto& [oid, field] : spls) {
    if (auto der = cert.extension(oid)) {
      auto value = parse_spl(*der, oid);
      if (!value) return std::unexpected(value.error());
      *field = *value;
    }
  }
  if (auto der = cert.extension(kOidHwid)) {
    auto hwid = parse_hwid(*der);
    if (!hwid) return std::unexpected(hwid.error());
    out.hwid = std::move(*hwid);
  }
  return out;
}

Result<Endorsement> verify_vcek_chain(const crypto::Certificate& leaf,
                                      std::span<const crypto::Certificate> intermediates,
                                      std::chrono::system_clock::time_point at,
                                      std::span<const ProductRoots> roots) {
  const std::string chain(kChain);
  if (leaf.is_ca()) return fail(chain, "'" + common_name(leaf) + "' is a CA certificate, not a VCEK or VLEK");
  auto key = leaf.ec_public_key();
  if (!key || key->curve() != crypto::EcCurve::P384) {
    return fail(chain, "'" + common_name(leaf) + "' does not hold a P-384 key");
  }
  const std::string issuer_name = leaf.issuer();
  for (const ProductRoots& r : roots) {
    SigningKey kind;
    const crypto::Certificate* builtin;
    if (issuer_name == r.ask.subject()) {
      kind = SigningKey::Vcek;
      builtin = &r.ask;
    } else if (issuer_name == r.asvk.subject()) {
      kind = SigningKey::Vlek;
      builtin = &r.asvk;
    } else {
      continue;
    }
    if (!r.ark.verify_signature(r.ark)) return fail(chain, "'" + common_name(r.ark) + "' is not self-signed");
    // The built-in intermediate first; a supplied one counts only if this
    // product's ARK signed it under the same name (a reissued ASK).
    const crypto::Certificate* issuer = nullptr;
    std::string why;
    auto consider = [&](const crypto::Certificate& candidate) {
      if (issuer != nullptr || !candidate.is_ca() || candidate.subject() != issuer_name) return;
      if (!candidate.verify_signature(r.ark)) {
        why = "'" + common_name(candidate) + "' is not signed by '" + common_name(r.ark) + "'";
      } else if (!leaf.verify_signature(candidate)) {
        why = "'" + common_name(leaf) + "' is not signed by '" + common_name(candidate) + "'";
      } else {
        issuer = &candidate;
      }
    };
    consider(*builtin);
    for (const crypto::Certificate& candidate : intermediates) consider(candidate);
    if (issuer == nullptr) return fail(chain, why);
    for (const crypto::Certificate* cert : {&leaf, issuer, &r.ark}) {
      if (auto ok = valid_at(*cert, at); !ok) return std::unexpected(ok.error());
    }
    auto extensions = parse_endorsement_extensions(leaf);
    if (!extensions) return fail(chain, extensions.error().message);
    return Endorsement{r.product, kind, std::move(*extensions)};
  }
  return fail(chain, "'" + common_name(leaf) + "' is issued by '" + issuer_name +
                         "', which is no AMD ASK or ASVK this verifier knows");
}

void verify(ByteView report, std::span<const crypto::Certificate> certs,
            std::chrono::system_clock::time_point at, Appraisal& out) {
  verify(report, certs, at, amd_roots(), out);
}

void verify(ByteView data, std::span<const crypto::Certificate> certs,
            std::chrono::system_clock::time_point at, std::span<const ProductRoots> roots, Appraisal& out) {
  out.platform = Platform::Snp;
  Checks& checks = out.checks;
  auto report = parse_report(data);
  if (!report) {
    if (report.error().code == kVersion) checks.pass(kParse);
    checks.fail(report.error().code, report.error().message);
    return;
  }
  checks.pass(kParse);
  checks.pass(kVersion, "version " + std::to_string(report->version));
  if (!checks.record(kReserved, check_reserved(data, report->version))) return;
  if (!checks.pass_if(kSignatureAlgorithm, report->signature_algo == kSignatureAlgoEcdsaP384Sha384,
                      "SIGNATURE_ALGO is " + std::to_string(report->signature_algo) +
                          (report->signature_algo == kSignatureAlgoEcdsaP384Sha384
                               ? " (ECDSA P-384 with SHA-384)"
                               : ", not 1 (ECDSA P-384 with SHA-384)"))) {
    return;
  }
  auto leaf = find_leaf(certs);
  if (!leaf) {
    checks.fail(kChain, leaf.error().message);
    return;
  }
  auto endorsement = verify_vcek_chain(**leaf, certs, at, roots);
  if (!endorsement) {
    checks.fail(kChain, endorsement.error().message);
    return;
  }
  checks.pass(kChain, std::string(signing_key_name(endorsement->key)) + " of an AMD " +
                          std::string(product_name(endorsement->product)));
  if (!checks.record(kSigningKey, check_signing_key(*report, endorsement->key))) return;
  if (!checks.record(kProduct, check_product(*report, *endorsement),
                     std::string(product_name(endorsement->product)))) {
    return;
  }
  if (!checks.record(kTcb, check_tcb(*report, *endorsement),
                     tcb_text(decode_tcb(report->reported_tcb, endorsement->product)))) {
    return;
  }
  if (!checks.record(
          kChipId, check_chip_id(*report, *endorsement),
          endorsement->key == SigningKey::Vlek ? "not checked: a VLEK is not tied to a chip" : "")) {
    return;
  }
  if (!checks.record(kSignature, check_signature(*report, **leaf))) return;
  fill(*report, *endorsement, out);
}

}  // namespace ward::attest::snp
