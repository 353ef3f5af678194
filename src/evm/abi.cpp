#include "evm/abi.h"

#include <algorithm>
#include <cstdio>

namespace ward::evm::abi {
namespace {

constexpr Selector kErrorSelector = {0x08, 0xc3, 0x79, 0xa0};  // Error(string)
constexpr Selector kPanicSelector = {0x4e, 0x48, 0x7b, 0x71};  // Panic(uint256)

// Bounds that keep a hostile type string from describing gigabytes of head.
constexpr std::size_t kMaxFixedArrayLength = 65536;
constexpr std::size_t kMaxStaticSize = std::size_t{1} << 20;

std::size_t head_size(const Type& type);

// The size of a static type's encoding.
std::size_t static_size(const Type& type) {
  switch (type.kind) {
    case Type::Kind::FixedArray:
      return type.size * head_size(type.components[0]);
    case Type::Kind::Tuple: {
      std::size_t total = 0;
      for (const Type& member : type.components) total += head_size(member);
      return total;
    }
    default:
      return 32;
  }
}

// What a type takes in its enclosing head: an offset word when dynamic.
std::size_t head_size(const Type& type) {
  return type.is_dynamic() ? 32 : static_size(type);
}

bool get_bit(const std::array<std::uint8_t, 32>& be, unsigned i) {
  return (be[31 - i / 8] >> (i % 8)) & 1;
}

// A two's complement 256-bit number fits intN when bits N-1..255 all equal
// the sign bit.
bool fits_signed(const U256& v, unsigned bits) {
  const auto& be = v.big_endian();
  bool sign = get_bit(be, 255);
  for (unsigned i = bits - 1; i < 256; ++i)
    if (get_bit(be, i) != sign) return false;
  return true;
}

bool all_zero(ByteView b) {
  return std::all_of(b.begin(), b.end(), [](std::uint8_t x) { return x == 0; });
}

std::string hex_selector(const Selector& s) {
  return "0x" + hex_encode(s);
}

std::string at(const char* label, std::size_t i) {
  return std::string(label) + " " + std::to_string(i);
}

class TypeParser {
 public:
  explicit TypeParser(std::string_view text) : text_(text) {}

  // A type at nesting depth `depth` (1 for a top-level one).
  Result<Type> type(std::size_t depth) {
    if (depth > kMaxTypeDepth)
      return fail("evm.abi", "types are nested deeper than " + std::to_string(kMaxTypeDepth));
    Result<Type> base = peek('(') ? tuple(depth) : elementary();
    if (!base) return base;
    Type out = std::move(*base);
    while (peek('[')) {
      ++pos_;
      if (++depth > kMaxTypeDepth)
        return fail("evm.abi", "types are nested deeper than " + std::to_string(kMaxTypeDepth));
      Type wrapped{Type::Kind::Array, 0, {std::move(out)}};
      if (!peek(']')) {
        auto length = number();
        if (!length) return std::unexpected(length.error());
        if (*length == 0 || *length > kMaxFixedArrayLength)
          return fail("evm.abi", "a fixed array's length is 1 to " + std::to_string(kMaxFixedArrayLength));
        wrapped.kind = Type::Kind::FixedArray;
        wrapped.size = static_cast<unsigned>(*length);
      }
      if (!peek(']')) return fail("evm.abi", "an array suffix ends with ]");
      ++pos_;
      if (!wrapped.is_dynamic() && static_size(wrapped) > kMaxStaticSize)
        return fail("evm.abi",
                    "a fixed-size type is larger than " + std::to_string(kMaxStaticSize) + " bytes");
      out = std::move(wrapped);
    }
    return out;
  }

  // "(" type ("," type)* ")", or "()" when `allow_empty`.
  Result<std::vector<Type>> list(std::size_t depth, bool allow_empty) {
    if (!peek('(')) return fail("evm.abi", "expected (");
    ++pos_;
    std::vector<Type> out;
    if (peek(')')) {
      ++pos_;
      if (!allow_empty) return fail("evm.abi", "empty tuples are not supported");
      return out;
    }
    for (;;) {
      auto t = type(depth);
      if (!t) return std::unexpected(t.error());
      out.push_back(std::move(*t));
      if (peek(',')) {
        ++pos_;
        continue;
      }
      if (peek(')')) {
        ++pos_;
        return out;
      }
      return fail("evm.abi", "expected , or ) at position " + std::to_string(pos_) +
                                 " (canonical types have no spaces or names)");
    }
  }

  bool done() const { return pos_ == text_.size(); }

 private:
  bool peek(char c) const { return pos_ < text_.size() && text_[pos_] == c; }

  Result<Type> tuple(std::size_t depth) {
    auto members = list(depth + 1, false);
    if (!members) return std::unexpected(members.error());
    Type out{Type::Kind::Tuple, 0, std::move(*members)};
    if (!out.is_dynamic() && static_size(out) > kMaxStaticSize)
      return fail("evm.abi", "a fixed-size type is larger than " + std::to_string(kMaxStaticSize) + " bytes");
    return out;
  }

  // Digits without a leading zero, at most 6 of them.
  Result<std::size_t> number() {
    std::size_t start = pos_;
    while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9' && pos_ - start < 7) ++pos_;
    std::string_view digits = text_.substr(start, pos_ - start);
    if (digits.empty() || digits.size() > 6 || (digits.size() > 1 && digits[0] == '0'))
      return fail("evm.abi", "a size is a decimal number without leading zeros");
    std::size_t n = 0;
    for (char c : digits) n = n * 10 + static_cast<std::size_t>(c - '0');
    return n;
  }

  Result<Type> elementary() {
    std::size_t start = pos_;
    while (pos_ < text_.size() && text_[pos_] >= 'a' && text_[pos_] <= 'z') ++pos_;
    std::string_view name = text_.substr(start, pos_ - start);
    if (name == "address") return Type{Type::Kind::Address, 0, {}};
    if (name == "bool") return Type{Type::Kind::Bool, 0, {}};
    if (name == "string") return Type{Type::Kind::String, 0, {}};
    if (name == "bytes" && !(pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9'))
      return Type{Type::Kind::Bytes, 0, {}};
    if (name == "uint" || name == "int" || name == "bytes") {
      if (!(pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9'))
        return fail("evm.abi", "write " + std::string(name) + "256: signatures use canonical type names");
      auto size = number();
      if (!size) return std::unexpected(size.error());
      if (name == "bytes") {
        if (*size < 1 || *size > 32) return fail("evm.abi", "bytesN has N from 1 to 32");
        return Type{Type::Kind::FixedBytes, static_cast<unsigned>(*size), {}};
      }
      if (*size < 8 || *size > 256 || *size % 8 != 0)
        return fail("evm.abi", std::string(name) + "N has N a multiple of 8 from 8 to 256");
      return Type{name == "uint" ? Type::Kind::Uint : Type::Kind::Int, static_cast<unsigned>(*size), {}};
    }
    if (name.empty()) return fail("evm.abi", "expected a type at position " + std::to_string(start));
    return fail("evm.abi", "unsupported type " + std::string(name));
  }

  std::string_view text_;
  std::size_t pos_ = 0;
};

void append_word(Bytes& out, const U256& v) {
  out.insert(out.end(), v.big_endian().begin(), v.big_endian().end());
}

void append_padded(Bytes& out, ByteView data) {
  out.insert(out.end(), data.begin(), data.end());
  out.resize(out.size() + (32 - data.size() % 32) % 32, 0);
}

}  // namespace

// Reads and writes Value's storage; one place that knows the encoding rules.
class Codec {
 public:
  template <class TypeAt>
  static Result<void> encode_sequence(TypeAt type_at, const std::vector<Value>& values, const char* label,
                                      Bytes& out) {
    std::size_t heads = 0;
    for (std::size_t i = 0; i < values.size(); ++i) heads += head_size(type_at(i));
    Bytes head;
    Bytes tail;
    for (std::size_t i = 0; i < values.size(); ++i) {
      const Type& type = type_at(i);
      auto encoded = encode_value(type, values[i]);
      if (!encoded) return fail(encoded.error(), at(label, i));
      if (type.is_dynamic()) {
        append_word(head, U256(heads + tail.size()));
        tail.insert(tail.end(), encoded->begin(), encoded->end());
      } else {
        head.insert(head.end(), encoded->begin(), encoded->end());
      }
    }
    out.insert(out.end(), head.begin(), head.end());
    out.insert(out.end(), tail.begin(), tail.end());
    return {};
  }

  static Result<Bytes> encode_value(const Type& type, const Value& value) {
    const Value::Storage& v = value.v_;
    Bytes out;
    switch (type.kind) {
      case Type::Kind::Uint:
      case Type::Kind::Int: {
        const U256* n = std::get_if<U256>(&v);
        if (n == nullptr) return mismatch(type);
        bool fits = type.kind == Type::Kind::Uint ? n->bit_length() <= type.size : fits_signed(*n, type.size);
        if (!fits) return fail("evm.abi", "the number does not fit " + type.canonical());
        append_word(out, *n);
        return out;
      }
      case Type::Kind::Address: {
        const Address* a = std::get_if<Address>(&v);
        if (a == nullptr) return mismatch(type);
        out.resize(12, 0);
        out.insert(out.end(), a->bytes.begin(), a->bytes.end());
        return out;
      }
      case Type::Kind::Bool: {
        const bool* b = std::get_if<bool>(&v);
        if (b == nullptr) return mismatch(type);
        append_word(out, U256(*b ? 1 : 0));
        return out;
      }
      case Type::Kind::FixedBytes: {
        const Bytes* b = std::get_if<Bytes>(&v);
        if (b == nullptr) return mismatch(type);
        if (b->size() != type.size)
          return fail("evm.abi", type.canonical() + " takes exactly " + std::to_string(type.size) +
                                     " bytes, not " + std::to_string(b->size()));
        append_padded(out, *b);
        return out;
      }
      case Type::Kind::Bytes:
      case Type::Kind::String: {
        ByteView data;
        if (type.kind == Type::Kind::Bytes) {
          const Bytes* b = std::get_if<Bytes>(&v);
          if (b == nullptr) return mismatch(type);
          data = *b;
        } else {
          const std::string* s = std::get_if<std::string>(&v);
          if (s == nullptr) return mismatch(type);
          data = as_bytes(*s);
        }
        append_word(out, U256(data.size()));
        append_padded(out, data);
        return out;
      }
      case Type::Kind::Array:
      case Type::Kind::FixedArray:
      case Type::Kind::Tuple: {
        const std::vector<Value>* list = std::get_if<std::vector<Value>>(&v);
        if (list == nullptr) return mismatch(type);
        if (type.kind == Type::Kind::Array) {
          append_word(out, U256(list->size()));
        } else {
          std::size_t expected = type.kind == Type::Kind::Tuple ? type.components.size() : type.size;
          if (list->size() != expected)
            return fail("evm.abi", type.canonical() + " takes " + std::to_string(expected) + " values, not " +
                                       std::to_string(list->size()));
        }
        auto done = type.kind == Type::Kind::Tuple
                        ? encode_sequence([&](std::size_t i) -> const Type& { return type.components[i]; },
                                          *list, "member", out)
                        : encode_sequence([&](std::size_t) -> const Type& { return type.components[0]; },
                                          *list, "element", out);
        if (!done) return std::unexpected(done.error());
        return out;
      }
    }
    return mismatch(type);
  }

  static std::unexpected<Error> mismatch(const Type& type) {
    return fail("evm.abi", "the value is not of the kind " + type.canonical() + " takes");
  }
};

namespace {

// Decodes the canonical encoding only: each dynamic value's offset must point
// exactly where the previous tail ended, so every input byte is read once
// and decoding is linear in the input.
class Decoder {
 public:
  explicit Decoder(ByteView data) : data_(data) {}

  // The value of `type` encoded at `pos`; `end` receives the end of its encoding.
  Result<Value> value(const Type& type, std::size_t pos, std::size_t& end) {
    switch (type.kind) {
      case Type::Kind::Uint:
      case Type::Kind::Int:
      case Type::Kind::Address:
      case Type::Kind::Bool:
      case Type::Kind::FixedBytes: {
        auto w = word(pos);
        if (!w) return std::unexpected(w.error());
        end = pos + 32;
        return word_value(type, *w);
      }
      case Type::Kind::Bytes:
      case Type::Kind::String: {
        auto length = count(pos, 1);
        if (!length) return std::unexpected(length.error());
        std::size_t padded = (*length + 31) / 32 * 32;
        if (padded > data_.size() - pos - 32)
          return fail("evm.abi", "the data ends inside " + type.canonical());
        ByteView content = data_.subspan(pos + 32, *length);
        if (!all_zero(data_.subspan(pos + 32 + *length, padded - *length)))
          return fail("evm.abi", "the padding after " + type.canonical() + " is not zero");
        end = pos + 32 + padded;
        return type.kind == Type::Kind::Bytes ? Value::bytes(content) : Value::string(as_chars(content));
      }
      case Type::Kind::Array: {
        const Type& element = type.components[0];
        auto n = count(pos, head_size(element));
        if (!n) return std::unexpected(n.error());
        return list(
            sequence([&](std::size_t) -> const Type& { return element; }, *n, pos + 32, end, "element"));
      }
      case Type::Kind::FixedArray:
        return list(sequence([&](std::size_t) -> const Type& { return type.components[0]; }, type.size, pos,
                             end, "element"));
      case Type::Kind::Tuple:
        return list(sequence([&](std::size_t i) -> const Type& { return type.components[i]; },
                             type.components.size(), pos, end, "member"));
    }
    return fail("evm.abi", "unsupported type");
  }

  template <class TypeAt>
  Result<std::vector<Value>> sequence(TypeAt type_at, std::size_t n, std::size_t pos, std::size_t& end,
                                      const char* label) {
    std::size_t heads = 0;
    for (std::size_t i = 0; i < n; ++i) heads += head_size(type_at(i));
    if (heads > data_.size() - pos) return fail("evm.abi", "the data ends inside a head");
    std::size_t head = pos;
    std::size_t tail = pos + heads;
    std::vector<Value> out;
    out.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      const Type& type = type_at(i);
      std::size_t value_end = 0;
      Result<Value> v = [&]() -> Result<Value> {
        if (!type.is_dynamic()) return value(type, head, value_end);
        auto offset = word(head);
        if (!offset) return std::unexpected(offset.error());
        auto expected = U256(tail - pos).big_endian();
        if (!std::equal(expected.begin(), expected.end(), offset->begin()))
          return fail("evm.abi", "an offset is not where the canonical encoding puts the value");
        auto dynamic = value(type, tail, value_end);
        if (dynamic) tail = value_end;
        return dynamic;
      }();
      if (!v) return fail(v.error(), at(label, i));
      out.push_back(std::move(*v));
      head += head_size(type);
    }
    end = tail;
    return out;
  }

  // The length word at `pos`, checked so that `length * unit` bytes still
  // fit in the data after it.
  Result<std::size_t> count(std::size_t pos, std::size_t unit) {
    auto w = word(pos);
    if (!w) return std::unexpected(w.error());
    auto n = U256::from_big_endian(*w)->to_uint64();
    std::size_t room = (data_.size() - pos - 32) / unit;
    if (!n || *n > room) return fail("evm.abi", "a length runs past the end of the data");
    return static_cast<std::size_t>(*n);
  }

  Result<ByteView> word(std::size_t pos) {
    if (pos > data_.size() || data_.size() - pos < 32) return fail("evm.abi", "the data ends inside a word");
    return data_.subspan(pos, 32);
  }

  static Result<Value> word_value(const Type& type, ByteView w) {
    U256 n = *U256::from_big_endian(w);
    switch (type.kind) {
      case Type::Kind::Uint:
        if (n.bit_length() > type.size) return fail("evm.abi", type.canonical() + " has high bits set");
        return Value::uint(n);
      case Type::Kind::Int:
        if (!fits_signed(n, type.size)) return fail("evm.abi", type.canonical() + " is not sign-extended");
        return Value::uint(n);
      case Type::Kind::Address: {
        if (!all_zero(w.first(12))) return fail("evm.abi", "an address has non-zero high bytes");
        return Value::address(*Address::from_bytes(w.subspan(12)));
      }
      case Type::Kind::Bool:
        if (n.bit_length() > 1) return fail("evm.abi", "a bool is neither 0 nor 1");
        return Value::boolean(!n.is_zero());
      case Type::Kind::FixedBytes:
        if (!all_zero(w.subspan(type.size)))
          return fail("evm.abi", "the padding after " + type.canonical() + " is not zero");
        return Value::bytes(w.first(type.size));
      default:
        return fail("evm.abi", type.canonical() + " is not one word");
    }
  }

 private:
  static Result<Value> list(Result<std::vector<Value>> values) {
    if (!values) return std::unexpected(values.error());
    return Value::list(std::move(*values));
  }

  ByteView data_;
};

}  // namespace

Result<Type> Type::parse(std::string_view text) {
  TypeParser parser(text);
  auto type = parser.type(1);
  if (!type) return type;
  if (!parser.done()) return fail("evm.abi", "unexpected text after the type " + type->canonical());
  return type;
}

std::string Type::canonical() const {
  switch (kind) {
    case Kind::Uint:
      return "uint" + std::to_string(size);
    case Kind::Int:
      return "int" + std::to_string(size);
    case Kind::Address:
      return "address";
    case Kind::Bool:
      return "bool";
    case Kind::FixedBytes:
      return "bytes" + std::to_string(size);
    case Kind::Bytes:
      return "bytes";
    case Kind::String:
      return "string";
    case Kind::Array:
      return components[0].canonical() + "[]";
    case Kind::FixedArray:
      return components[0].canonical() + "[" + std::to_string(size) + "]";
    case Kind::Tuple: {
      std::string out = "(";
      for (std::size_t i = 0; i < components.size(); ++i) out += (i ? "," : "") + components[i].canonical();
      return out + ")";
    }
  }
  return {};
}

bool Type::is_dynamic() const {
  switch (kind) {
    case Kind::Bytes:
    case Kind::String:
    case Kind::Array:
      return true;
    case Kind::FixedArray:
      return components[0].is_dynamic();
    case Kind::Tuple:
      return std::any_of(components.begin(), components.end(), [](const Type& t) { return t.is_dynamic(); });
    default:
      return false;
  }
}

Result<std::vector<Type>> parse_types(std::string_view list) {
  std::string wrapped = "(" + std::string(list) + ")";
  TypeParser parser(wrapped);
  auto types = parser.list(1, true);
  if (!types) return types;
  if (!parser.done()) return fail("evm.abi", "unbalanced parentheses in the type list");
  return types;
}

Value Value::int64(std::int64_t v) {
  std::array<std::uint8_t, 32> be;
  be.fill(v < 0 ? 0xff : 0x00);
  auto u = static_cast<std::uint64_t>(v);
  for (int i = 0; i < 8; ++i) be[31 - i] = static_cast<std::uint8_t>(u >> (8 * i));
  return uint(*U256::from_big_endian(be));
}

Result<U256> Value::as_u256() const {
  if (const U256* n = std::get_if<U256>(&v_)) return *n;
  return fail("evm.abi", "the value is not a number");
}

Result<std::uint64_t> Value::as_uint64() const {
  auto n = as_u256();
  if (!n) return std::unexpected(n.error());
  auto narrow = n->to_uint64();
  if (!narrow) return fail("evm.abi", "the number does not fit 64 bits");
  return narrow;
}

Result<std::int64_t> Value::as_int64() const {
  auto n = as_u256();
  if (!n) return std::unexpected(n.error());
  if (!fits_signed(*n, 64)) return fail("evm.abi", "the number does not fit a signed 64-bit integer");
  std::uint64_t u = 0;
  for (int i = 24; i < 32; ++i) u = (u << 8) | n->big_endian()[i];
  return static_cast<std::int64_t>(u);
}

Result<bool> Value::as_bool() const {
  if (const bool* b = std::get_if<bool>(&v_)) return *b;
  return fail("evm.abi", "the value is not a bool");
}

Result<Address> Value::as_address() const {
  if (const Address* a = std::get_if<Address>(&v_)) return *a;
  return fail("evm.abi", "the value is not an address");
}

Result<Bytes> Value::as_bytes() const {
  if (const Bytes* b = std::get_if<Bytes>(&v_)) return *b;
  return fail("evm.abi", "the value is not bytes");
}

Result<Hash256> Value::as_bytes32() const {
  const Bytes* b = std::get_if<Bytes>(&v_);
  if (b == nullptr || b->size() != 32) return fail("evm.abi", "the value is not 32 bytes");
  Hash256 out;
  std::copy(b->begin(), b->end(), out.begin());
  return out;
}

Result<std::string> Value::as_string() const {
  if (const std::string* s = std::get_if<std::string>(&v_)) return *s;
  return fail("evm.abi", "the value is not a string");
}

Result<std::vector<Value>> Value::as_list() const {
  if (const std::vector<Value>* l = std::get_if<std::vector<Value>>(&v_)) return *l;
  return fail("evm.abi", "the value is not an array or tuple");
}

Result<Bytes> encode(const std::vector<Type>& types, const std::vector<Value>& values) {
  if (types.size() != values.size())
    return fail("evm.abi",
                std::to_string(types.size()) + " types but " + std::to_string(values.size()) + " values");
  Bytes out;
  auto done =
      Codec::encode_sequence([&](std::size_t i) -> const Type& { return types[i]; }, values, "argument", out);
  if (!done) return std::unexpected(done.error());
  return out;
}

Result<std::vector<Value>> decode(const std::vector<Type>& types, ByteView data) {
  Decoder decoder(data);
  std::size_t end = 0;
  auto values =
      decoder.sequence([&](std::size_t i) -> const Type& { return types[i]; }, types.size(), 0, end, "value");
  if (!values) return values;
  if (end != data.size()) return fail("evm.abi", "trailing bytes after the encoded values");
  return values;
}

Result<Function> Function::parse(std::string_view signature) {
  std::size_t open = signature.find('(');
  std::string_view name = signature.substr(0, open);
  auto identifier_char = [](char c, bool first) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '$' ||
           (!first && c >= '0' && c <= '9');
  };
  if (open == std::string_view::npos || name.empty() || !identifier_char(name[0], true) ||
      !std::all_of(name.begin(), name.end(), [&](char c) { return identifier_char(c, false); }))
    return fail("evm.abi", "a signature is a name and a parenthesized type list: transfer(address,uint256)");
  TypeParser parser(signature.substr(open));
  auto inputs = parser.list(1, true);
  if (!inputs) return fail(inputs.error(), std::string(name));
  if (!parser.done()) return fail("evm.abi", std::string(name) + ": text after the closing parenthesis");
  return Function{std::string(name), std::move(*inputs)};
}

std::string Function::signature() const {
  std::string out = name + "(";
  for (std::size_t i = 0; i < inputs.size(); ++i) out += (i ? "," : "") + inputs[i].canonical();
  return out + ")";
}

Selector Function::selector() const {
  Hash256 h = topic();
  return {h[0], h[1], h[2], h[3]};
}

Hash256 Function::topic() const {
  return keccak256(as_bytes(signature()));
}

Result<Bytes> Function::encode_call(const std::vector<Value>& args) const {
  auto encoded = encode(inputs, args);
  if (!encoded) return fail(encoded.error(), name);
  Selector s = selector();
  Bytes out(s.begin(), s.end());
  out.insert(out.end(), encoded->begin(), encoded->end());
  return out;
}

Result<Hash256> event_topic(std::string_view signature) {
  auto event = Function::parse(signature);
  if (!event) return std::unexpected(event.error());
  return event->topic();
}

Result<Value> decode_topic(const Type& type, const Hash256& topic) {
  if (type.kind == Type::Kind::Bytes || type.kind == Type::Kind::String || type.kind == Type::Kind::Array ||
      type.kind == Type::Kind::FixedArray || type.kind == Type::Kind::Tuple)
    return fail("evm.abi", "an indexed " + type.canonical() + " is logged as a hash and cannot be decoded");
  return Decoder::word_value(type, topic);
}

Result<Revert> decode_revert(ByteView data) {
  Revert out;
  if (data.empty()) return out;
  if (data.size() < 4) return fail("evm.abi", "revert data of 1 to 3 bytes holds no selector");
  std::copy(data.begin(), data.begin() + 4, out.selector.begin());
  ByteView rest = data.subspan(4);
  if (out.selector == kErrorSelector) {
    auto values = decode({Type{Type::Kind::String, 0, {}}}, rest);
    if (!values) return fail(values.error(), "Error(string)");
    out.kind = Revert::Kind::Error;
    out.reason = *(*values)[0].as_string();
  } else if (out.selector == kPanicSelector) {
    auto values = decode({Type{Type::Kind::Uint, 256, {}}}, rest);
    if (!values) return fail(values.error(), "Panic(uint256)");
    out.kind = Revert::Kind::Panic;
    out.panic_code = *(*values)[0].as_u256();
  } else {
    out.kind = Revert::Kind::Custom;
    out.arguments.assign(rest.begin(), rest.end());
  }
  return out;
}

std::string Revert::describe() const {
  switch (kind) {
    case Kind::Empty:
      return "reverted without a reason";
    case Kind::Error: {
      std::string text = "reverted: ";
      for (char c : reason) {
        auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7f) {
          char escaped[5];
          std::snprintf(escaped, sizeof escaped, "\\x%02x", u);
          text += escaped;
        } else {
          text += c;
        }
      }
      return text;
    }
    case Kind::Panic:
      return "panic " + panic_code.to_quantity() + ": " + std::string(panic_meaning(panic_code));
    case Kind::Custom:
      return "custom error " + hex_selector(selector);
  }
  return {};
}

std::string_view panic_meaning(const U256& code) {
  auto small = code.to_uint64();
  if (!small) return "unknown panic code";
  switch (*small) {
    case 0x00:
      return "generic compiler panic";
    case 0x01:
      return "assertion failed";
    case 0x11:
      return "arithmetic overflow or underflow";
    case 0x12:
      return "division or modulo by zero";
    case 0x21:
      return "conversion to an enum out of range";
    case 0x22:
      return "incorrectly encoded storage byte array";
    case 0x31:
      return "pop() on an empty array";
    case 0x32:
      return "array index out of bounds";
    case 0x41:
      return "too much memory allocated";
    case 0x51:
      return "call to a zero-initialized internal function";
    default:
      return "unknown panic code";
  }
}

Result<std::vector<Value>> decode_error(const Function& error, ByteView revert_data) {
  Selector expected = error.selector();
  if (revert_data.size() < 4 || !std::equal(expected.begin(), expected.end(), revert_data.begin()))
    return fail("evm.abi",
                "the revert data is not " + error.signature() + " (selector " + hex_selector(expected) + ")");
  auto values = decode(error.inputs, revert_data.subspan(4));
  if (!values) return fail(values.error(), error.signature());
  return values;
}

}  // namespace ward::evm::abi
