#include "evm/rlp.h"

#include <string>

namespace ward::evm {
namespace {

void append_length(Bytes& out, std::size_t length, std::uint8_t short_base, std::uint8_t long_base) {
  if (length < 56) {
    out.push_back(static_cast<std::uint8_t>(short_base + length));
    return;
  }
  Bytes be = U256(length).minimal_big_endian();
  out.push_back(static_cast<std::uint8_t>(long_base + be.size()));
  out.insert(out.end(), be.begin(), be.end());
}

void encode_into(Bytes& out, const RlpItem& item) {
  if (!item.is_list) {
    if (item.bytes.size() == 1 && item.bytes[0] < 0x80) {
      out.push_back(item.bytes[0]);
      return;
    }
    append_length(out, item.bytes.size(), 0x80, 0xb7);
    out.insert(out.end(), item.bytes.begin(), item.bytes.end());
    return;
  }
  Bytes payload;
  for (const RlpItem& element : item.items) encode_into(payload, element);
  append_length(out, payload.size(), 0xc0, 0xf7);
  out.insert(out.end(), payload.begin(), payload.end());
}

class Decoder {
 public:
  explicit Decoder(ByteView data) : data_(data) {}

  // Decodes the item at `pos_`, which must end at or before `end`.
  Result<RlpItem> item(std::size_t end, std::size_t depth) {
    if (pos_ >= end) return fail("evm.rlp", "an item runs past the end of its enclosing data");
    std::uint8_t prefix = data_[pos_++];
    if (prefix < 0x80) return RlpItem::string(data_.subspan(pos_ - 1, 1));
    bool is_list = prefix >= 0xc0;
    std::uint8_t base = is_list ? 0xc0 : 0x80;
    std::size_t length = 0;
    if (prefix - base < 56) {
      length = prefix - base;
    } else {
      std::size_t length_of_length = prefix - base - 55;
      if (length_of_length > end - pos_) return fail("evm.rlp", "a length runs past the end of the data");
      if (data_[pos_] == 0) return fail("evm.rlp", "a length has a leading zero byte");
      if (length_of_length > sizeof(std::size_t)) return fail("evm.rlp", "a length is too large");
      for (std::size_t i = 0; i < length_of_length; ++i) length = (length << 8) | data_[pos_++];
      if (length < 56) return fail("evm.rlp", "the long form is used for a length under 56");
    }
    if (length > end - pos_) return fail("evm.rlp", "an item's length runs past the end of the data");
    std::size_t item_end = pos_ + length;
    if (!is_list) {
      if (length == 1 && data_[pos_] < 0x80)
        return fail("evm.rlp", "a single byte under 0x80 is wrapped in a string prefix");
      RlpItem out = RlpItem::string(data_.subspan(pos_, length));
      pos_ = item_end;
      return out;
    }
    if (depth >= kMaxRlpDepth)
      return fail("evm.rlp", "lists are nested deeper than " + std::to_string(kMaxRlpDepth));
    RlpItem out = RlpItem::list({});
    while (pos_ < item_end) {
      auto element = item(item_end, depth + 1);
      if (!element) return element;
      out.items.push_back(std::move(*element));
    }
    return out;
  }

  std::size_t pos() const { return pos_; }

 private:
  ByteView data_;
  std::size_t pos_ = 0;
};

}  // namespace

Result<std::uint64_t> RlpItem::to_uint64() const {
  auto v = to_u256();
  if (!v) return std::unexpected(v.error());
  auto narrow = v->to_uint64();
  if (!narrow) return fail("evm.rlp", "an integer does not fit 64 bits");
  return narrow;
}

Result<U256> RlpItem::to_u256() const {
  if (is_list) return fail("evm.rlp", "a list where an integer was expected");
  if (!bytes.empty() && bytes[0] == 0) return fail("evm.rlp", "an integer has a leading zero byte");
  if (bytes.size() > 32) return fail("evm.rlp", "an integer does not fit 256 bits");
  return U256::from_big_endian(bytes);
}

Bytes rlp_encode(const RlpItem& item) {
  Bytes out;
  encode_into(out, item);
  return out;
}

Result<RlpItem> rlp_decode(ByteView data) {
  Decoder decoder(data);
  auto item = decoder.item(data.size(), 0);
  if (!item) return item;
  if (decoder.pos() != data.size()) return fail("evm.rlp", "trailing bytes after the item");
  return item;
}

}  // namespace ward::evm
