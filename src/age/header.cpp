#include "age/header.h"

#include <string_view>

#include "crypto/hash.h"
#include "crypto/random.h"

namespace ward::age {
namespace {

constexpr std::string_view kVersionLine = "age-encryption.org/v1";
constexpr std::size_t kColumns = 64;

std::unexpected<Error> header_error(const std::string& why) { return fail("age.header", "invalid age header: " + why); }

bool is_vchar(char c) { return c >= 33 && c <= 126; }

// Walks the header line by line. Lines end in a bare LF; anything else,
// including a CR, belongs to the line and fails its own checks.
class LineCursor {
 public:
  explicit LineCursor(ByteView data) : data_(as_chars(data)) {}
  // The next line without its LF, or "age.incomplete" when no LF follows.
  Result<std::string_view> next() {
    std::size_t end = data_.find('\n', pos_);
    if (end == std::string_view::npos) {
      if (data_.size() > kMaxHeaderSize) return header_error("header is larger than 1 MiB");
      return fail("age.incomplete", "the input ends inside the age header");
    }
    std::string_view line = data_.substr(pos_, end - pos_);
    line_start_ = pos_;
    pos_ = end + 1;
    return line;
  }
  std::size_t line_start() const { return line_start_; }
  std::size_t pos() const { return pos_; }

 private:
  std::string_view data_;
  std::size_t pos_ = 0;
  std::size_t line_start_ = 0;
};

Result<Bytes> decode_b64_arg(std::string_view arg, std::size_t expected_size, const char* what) {
  auto bytes = base64_decode(arg, /*pad=*/false);
  if (!bytes) return header_error(std::string(what) + " is not canonical unpadded base64");
  if (bytes->size() != expected_size)
    return header_error(std::string(what) + " is " + std::to_string(bytes->size()) + " bytes, expected " +
                        std::to_string(expected_size));
  return bytes;
}

// Structural checks for the stanza types Ward understands; a malformed one
// makes the whole header invalid rather than being skipped.
Result<void> check_known_stanza(const Stanza& s) {
  if (s.type == "X25519") {
    if (s.args.size() != 1) return header_error("X25519 stanza must have exactly one argument");
    if (auto share = decode_b64_arg(s.args[0], 32, "X25519 share"); !share) return std::unexpected(share.error());
    if (s.body.size() != kFileKeySize + 16) return header_error("X25519 stanza body must be 32 bytes");
  } else if (s.type == "scrypt") {
    if (s.args.size() != 2) return header_error("scrypt stanza must have exactly two arguments");
    if (auto salt = decode_b64_arg(s.args[0], 16, "scrypt salt"); !salt) return std::unexpected(salt.error());
    const std::string& wf = s.args[1];
    if (wf.empty() || wf.size() > 2 || wf[0] < '1' || wf[0] > '9' ||
        (wf.size() == 2 && (wf[1] < '0' || wf[1] > '9')))
      return header_error("scrypt work factor must be a decimal number from 1 to 99 without leading zeros");
    if (s.body.size() != kFileKeySize + 16) return header_error("scrypt stanza body must be 32 bytes");
  }
  return {};
}

Result<Stanza> parse_stanza(std::string_view first_line, LineCursor& lines) {
  Stanza s;
  std::string_view rest = first_line.substr(3);
  std::size_t start = 0;
  for (;;) {
    std::size_t space = rest.find(' ', start);
    std::string_view arg = rest.substr(start, space == std::string_view::npos ? rest.npos : space - start);
    if (arg.empty()) return header_error("stanza has an empty argument or no type");
    for (char c : arg) {
      if (!is_vchar(c)) return header_error("stanza argument has an invalid character");
    }
    if (s.type.empty()) {
      s.type = arg;
    } else {
      s.args.emplace_back(arg);
    }
    if (space == std::string_view::npos) break;
    start = space + 1;
  }
  std::string body_b64;
  for (;;) {
    auto line = lines.next();
    if (!line) return std::unexpected(line.error());
    if (line->size() > kColumns) return header_error("stanza body line is longer than 64 columns");
    body_b64 += *line;
    if (line->size() < kColumns) break;
  }
  auto body = base64_decode(body_b64, /*pad=*/false);
  if (!body) return header_error("stanza body is not canonical unpadded base64");
  s.body = std::move(*body);
  if (auto ok = check_known_stanza(s); !ok) return std::unexpected(ok.error());
  return s;
}

std::array<std::uint8_t, kMacSize> compute_mac(ByteView mac_input, const FileKey& file_key) {
  // HKDF-SHA256 for a 32-byte output cannot fail; value() only guards the invariant.
  auto mac_key = crypto::hkdf(crypto::HashAlg::Sha256, view(file_key), {}, as_bytes("header"), 32).value();
  Bytes mac = crypto::hmac(crypto::HashAlg::Sha256, view(mac_key), mac_input);
  std::array<std::uint8_t, kMacSize> out{};
  std::copy(mac.begin(), mac.end(), out.begin());
  return out;
}

}  // namespace

Result<Header> parse_header(ByteView data) {
  LineCursor lines(data);
  // Recognise non-age input from its first bytes, before waiting for a newline.
  std::string_view head = as_chars(data.first(std::min(data.size(), kVersionLine.size())));
  if (head != kVersionLine.substr(0, head.size())) {
    if (head.starts_with("age-encryption.org/")) return header_error("unsupported age format version");
    return fail("age.header", "not an age file (no age-encryption.org/v1 header)");
  }
  auto version = lines.next();
  if (!version) return std::unexpected(version.error());
  if (*version != kVersionLine) return header_error("unsupported age format version");

  Header h;
  for (;;) {
    auto line = lines.next();
    if (!line) return std::unexpected(line.error());
    if (line->starts_with("-> ")) {
      auto stanza = parse_stanza(*line, lines);
      if (!stanza) return std::unexpected(stanza.error());
      h.stanzas.push_back(std::move(*stanza));
      continue;
    }
    if (line->starts_with("---")) {
      if (!line->starts_with("--- ")) return header_error("MAC line must be \"--- \" followed by the MAC");
      auto mac = base64_decode(line->substr(4), /*pad=*/false);
      if (!mac || mac->size() != kMacSize) return header_error("header MAC is not 32 bytes of canonical base64");
      std::copy(mac->begin(), mac->end(), h.mac.begin());
      std::size_t mac_input_end = lines.line_start() + 3;
      h.mac_input.assign(data.begin(), data.begin() + static_cast<std::ptrdiff_t>(mac_input_end));
      h.size = lines.pos();
      break;
    }
    return header_error("expected a stanza (\"-> \") or the MAC line (\"--- \")");
  }
  if (h.stanzas.empty()) return header_error("header has no recipient stanzas");
  bool has_scrypt = false;
  for (const Stanza& s : h.stanzas) has_scrypt |= s.type == "scrypt";
  if (has_scrypt && h.stanzas.size() != 1) return header_error("an scrypt stanza must be the only stanza");
  return h;
}

Bytes encode_header(const std::vector<Stanza>& stanzas, const FileKey& file_key) {
  std::string text(kVersionLine);
  text += '\n';
  for (const Stanza& s : stanzas) {
    text += "-> " + s.type;
    for (const std::string& a : s.args) text += " " + a;
    text += '\n';
    std::string body = base64_encode(s.body, /*pad=*/false);
    for (std::size_t i = 0;; i += kColumns) {
      std::string_view line = std::string_view(body).substr(std::min(i, body.size()), kColumns);
      text += line;
      text += '\n';
      if (line.size() < kColumns) break;
    }
  }
  text += "---";
  auto mac = compute_mac(as_bytes(text), file_key);
  text += " " + base64_encode(mac, /*pad=*/false) + "\n";
  return to_bytes(text);
}

Result<void> verify_header_mac(const Header& header, const FileKey& file_key) {
  auto mac = compute_mac(header.mac_input, file_key);
  if (!crypto::ct_equal(mac, header.mac))
    return fail("age.hmac", "age header MAC is wrong: the header was modified or the file is corrupt");
  return {};
}

FileKey generate_file_key() {
  FileKey key(kFileKeySize);
  crypto::random_fill(key);
  return key;
}

}  // namespace ward::age
