#include "age/armor.h"

#include <algorithm>
#include <cstring>

namespace ward::age {
namespace {

constexpr std::size_t kColumns = 64;
constexpr std::size_t kBytesPerLine = kColumns / 4 * 3;
constexpr std::size_t kMaxWhitespace = 1024;
constexpr std::size_t kReadStep = 64 * 1024;

std::unexpected<Error> armor_error(const std::string& why) { return fail("age.armor", "invalid armor: " + why); }

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

}  // namespace

Result<void> ArmorWriter::emit(ByteView data) {
  line_buf_.clear();
  for (std::size_t i = 0; i < data.size(); i += kBytesPerLine) {
    std::string line = base64_encode(data.subspan(i, std::min(kBytesPerLine, data.size() - i)));
    line_buf_.insert(line_buf_.end(), line.begin(), line.end());
    line_buf_.push_back('\n');
  }
  return out_.write(line_buf_);
}

Result<void> ArmorWriter::write(ByteView data) {
  if (!started_) {
    std::string begin = std::string(kArmorBegin) + "\n";
    if (auto w = out_.write(as_bytes(begin)); !w) return w;
    started_ = true;
  }
  if (!pending_.empty()) {
    std::size_t take = std::min(kBytesPerLine - pending_.size(), data.size());
    pending_.insert(pending_.end(), data.begin(), data.begin() + static_cast<std::ptrdiff_t>(take));
    data = data.subspan(take);
    if (pending_.size() < kBytesPerLine) return {};
    if (auto w = emit(pending_); !w) return w;
    pending_.clear();
  }
  std::size_t whole = data.size() / kBytesPerLine * kBytesPerLine;
  if (whole > 0) {
    if (auto w = emit(data.first(whole)); !w) return w;
  }
  pending_.assign(data.begin() + static_cast<std::ptrdiff_t>(whole), data.end());
  return {};
}

Result<void> ArmorWriter::finish() {
  if (auto w = write({}); !w) return w;
  if (!pending_.empty()) {
    if (auto w = emit(pending_); !w) return w;
  }
  std::string end = std::string(kArmorEnd) + "\n";
  return out_.write(as_bytes(end));
}

Result<void> ArmorReader::fill() {
  if (raw_pos_ > 0) {
    raw_.erase(raw_.begin(), raw_.begin() + static_cast<std::ptrdiff_t>(raw_pos_));
    raw_pos_ = 0;
  }
  std::size_t old = raw_.size();
  raw_.resize(old + kReadStep);
  auto got = in_.read(std::span(raw_.data() + old, kReadStep));
  if (!got) return std::unexpected(got.error());
  raw_.resize(old + *got);
  raw_eof_ = *got < kReadStep;
  return {};
}

Result<bool> ArmorReader::next_line(std::string& line) {
  for (;;) {
    auto begin = raw_.begin() + static_cast<std::ptrdiff_t>(raw_pos_);
    auto nl = std::find(begin, raw_.end(), '\n');
    if (nl != raw_.end() || raw_eof_) {
      if (begin == raw_.end()) return false;
      line.assign(begin, nl);
      raw_pos_ = static_cast<std::size_t>(nl - raw_.begin()) + (nl != raw_.end() ? 1 : 0);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      return true;
    }
    // No line is longer than the footer, so a long run without LF is an error.
    if (raw_.size() - raw_pos_ > kColumns + 2 + kMaxWhitespace) return armor_error("line too long");
    if (auto r = fill(); !r) return std::unexpected(r.error());
  }
}

Result<std::size_t> ArmorReader::read(std::span<std::uint8_t> out) {
  std::size_t written = 0;
  std::string line;
  while (written < out.size()) {
    if (decoded_pos_ < decoded_.size()) {
      std::size_t n = std::min(out.size() - written, decoded_.size() - decoded_pos_);
      std::memcpy(out.data() + written, decoded_.data() + decoded_pos_, n);
      decoded_pos_ += n;
      written += n;
      continue;
    }
    if (done_) break;
    decoded_.clear();
    decoded_pos_ = 0;
    if (!started_) {
      // Whitespace may precede the armor.
      std::size_t skipped = 0;
      for (;;) {
        if (raw_pos_ == raw_.size()) {
          if (raw_eof_) return armor_error("input is empty");
          if (auto r = fill(); !r) return std::unexpected(r.error());
          continue;
        }
        if (!is_space(static_cast<char>(raw_[raw_pos_]))) break;
        if (++skipped > kMaxWhitespace) return armor_error("too much leading whitespace");
        ++raw_pos_;
      }
      auto got = next_line(line);
      if (!got) return std::unexpected(got.error());
      if (line != kArmorBegin) return armor_error("first line is not \"" + std::string(kArmorBegin) + "\"");
      started_ = true;
    }
    auto got = next_line(line);
    if (!got) return std::unexpected(got.error());
    if (!*got) return armor_error("missing \"" + std::string(kArmorEnd) + "\" line (truncated?)");
    if (line == kArmorEnd) {
      // Only whitespace may follow the armor.
      std::size_t trailing = 0;
      for (;;) {
        for (; raw_pos_ < raw_.size(); ++raw_pos_, ++trailing) {
          if (!is_space(static_cast<char>(raw_[raw_pos_]))) return armor_error("data after the end line");
          if (trailing >= kMaxWhitespace) return armor_error("too much trailing whitespace");
        }
        if (raw_eof_) break;
        if (auto r = fill(); !r) return std::unexpected(r.error());
      }
      done_ = true;
      continue;
    }
    if (short_line_seen_) return armor_error("a short line must be the last before the end line");
    if (line.empty()) return armor_error("empty line");
    if (line.size() > kColumns) return armor_error("line longer than 64 columns");
    auto bytes = base64_decode(line, /*pad=*/true);
    if (!bytes) return armor_error(bytes.error().message);
    short_line_seen_ = line.size() < kColumns;
    decoded_ = std::move(*bytes);
  }
  return written;
}

Result<Bytes> dearmor(ByteView text) {
  BytesReader in(text);
  ArmorReader armor(in);
  Bytes out;
  std::uint8_t buf[4096];
  for (;;) {
    auto n = armor.read(buf);
    if (!n) return std::unexpected(n.error());
    out.insert(out.end(), buf, buf + *n);
    if (*n < sizeof buf) return out;
  }
}

}  // namespace ward::age
