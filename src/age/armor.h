// ASCII armor (age spec, "ASCII armor"): strict PEM-like Base64 with 64-column
// lines, LF or CRLF line ends, whitespace tolerated only around the armor.
#pragma once

#include <cstddef>
#include <memory>
#include <span>

#include "age/stream.h"

namespace ward::age {

inline constexpr std::string_view kArmorBegin = "-----BEGIN AGE ENCRYPTED FILE-----";
inline constexpr std::string_view kArmorEnd = "-----END AGE ENCRYPTED FILE-----";

// Armors everything written to it into `out`; finish() writes the last line
// and the footer. REQUIRES: finish() is called once, after the last write.
class ArmorWriter final : public Writer {
 public:
  explicit ArmorWriter(Writer& out) : out_(out) {}
  Result<void> write(ByteView data) override;
  Result<void> finish();

 private:
  Result<void> emit(ByteView full_lines_data);
  Writer& out_;
  Bytes pending_;  // < 48 bytes not yet encoded
  Bytes line_buf_;
  bool started_ = false;
};

// Decodes an armored stream. Errors are "age.armor" and name the rule broken.
class ArmorReader final : public Reader {
 public:
  explicit ArmorReader(Reader& in) : in_(in) {}
  Result<std::size_t> read(std::span<std::uint8_t> out) override;

 private:
  Result<bool> next_line(std::string& line);  // false at end of input
  Result<void> fill();
  Reader& in_;
  Bytes raw_;  // undecoded input
  std::size_t raw_pos_ = 0;
  bool raw_eof_ = false;
  Bytes decoded_;
  std::size_t decoded_pos_ = 0;
  bool started_ = false;
  bool short_line_seen_ = false;
  bool done_ = false;
};

// Decodes a whole armored text (used by tests and fuzzing).
Result<Bytes> dearmor(ByteView text);

}  // namespace ward::age
