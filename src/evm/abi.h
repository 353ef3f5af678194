// The Solidity contract ABI (docs.soliditylang.org, "Contract ABI
// Specification"): types parsed from canonical signatures, call encoding,
// strict decoding of return data, event data and topics, and revert data.
//
//   auto f = abi::Function::parse("register(bytes32,string,(uint64,bytes32)[])");
//   auto calldata = f->encode_call({Value::bytes(id), Value::string(name),
//                                   Value::list({Value::list({Value::uint(7), Value::bytes(h)})})});
//   auto out = abi::decode(*abi::parse_types("uint64,bool"), return_data);
//   std::uint64_t n = *(*out)[0].as_uint64();
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "base/bytes.h"
#include "base/error.h"
#include "evm/address.h"
#include "evm/keccak.h"
#include "evm/u256.h"

namespace ward::evm::abi {

// Types nest at most this deep ("uint8[][]" is 3); deeper ones are refused.
inline constexpr std::size_t kMaxTypeDepth = 16;

struct Type {
  enum class Kind { Uint, Int, Address, Bool, FixedBytes, Bytes, String, Array, FixedArray, Tuple };

  Kind kind = Kind::Uint;
  unsigned size = 0;             // bits (Uint, Int), bytes (FixedBytes), length (FixedArray)
  std::vector<Type> components;  // the element (Array, FixedArray) or the members (Tuple)

  // One type in canonical form, as it appears in signatures: "uint256" (not
  // "uint"), "bytes32", "(uint64,bytes32)[]", "address[4]"; no spaces, no
  // names. Empty tuples and zero-length arrays are refused. Errors: "evm.abi".
  static Result<Type> parse(std::string_view text);

  std::string canonical() const;
  // Encoded out of line, behind an offset: bytes, string, T[], and any tuple
  // or T[k] holding one of those.
  bool is_dynamic() const;

  friend bool operator==(const Type&, const Type&) = default;
};

// Comma-separated canonical types, as between a signature's parentheses;
// "" is the empty list. Errors: "evm.abi".
Result<std::vector<Type>> parse_types(std::string_view list);

// A value of some ABI type. Integers of every width are a U256 (intN in two's
// complement); bytes and bytesN are Bytes; arrays and tuples are lists.
class Value {
 public:
  static Value uint(const U256& v) { return Value(Storage(v)); }
  // For intN: the number in 256-bit two's complement.
  static Value int64(std::int64_t v);
  static Value boolean(bool v) { return Value(Storage(v)); }
  static Value address(const Address& v) { return Value(Storage(v)); }
  // For bytes and bytesN (exactly N bytes).
  static Value bytes(ByteView v) { return Value(Storage(Bytes(v.begin(), v.end()))); }
  static Value string(std::string_view v) { return Value(Storage(std::string(v))); }
  // For T[], T[k] and tuples.
  static Value list(std::vector<Value> v) { return Value(Storage(std::move(v))); }

  // Typed reads. Errors: "evm.abi" when the value is another kind, or does
  // not fit the result.
  Result<U256> as_u256() const;
  Result<std::uint64_t> as_uint64() const;
  Result<std::int64_t> as_int64() const;
  Result<bool> as_bool() const;
  Result<Address> as_address() const;
  Result<Bytes> as_bytes() const;
  Result<Hash256> as_bytes32() const;
  Result<std::string> as_string() const;
  Result<std::vector<Value>> as_list() const;

  friend bool operator==(const Value&, const Value&) = default;

 private:
  friend class Codec;
  using Storage = std::variant<U256, bool, Address, Bytes, std::string, std::vector<Value>>;
  explicit Value(Storage v) : v_(std::move(v)) {}
  Storage v_;
};

// Encodes `values` as the tuple of `types` (arguments, return values, event
// data). Errors: "evm.abi" naming the value that does not fit its type.
Result<Bytes> encode(const std::vector<Type>& types, const std::vector<Value>& values);

// Decodes data holding exactly the canonical encoding of `types`, as solc
// emits it: offsets in range and in order with no gaps, lengths within the
// data, zero padding, bool 0 or 1, address and integer high bytes as their
// type requires, no trailing bytes. So whatever decodes re-encodes to the
// same bytes. Errors: "evm.abi".
Result<std::vector<Value>> decode(const std::vector<Type>& types, ByteView data);

using Selector = std::array<std::uint8_t, 4>;

// A function, event or error signature: "transfer(address,uint256)".
struct Function {
  std::string name;
  std::vector<Type> inputs;

  // name([A-Za-z_$][A-Za-z0-9_$]*) "(" canonical types ")". Errors: "evm.abi".
  static Result<Function> parse(std::string_view signature);

  std::string signature() const;
  // The first 4 bytes of keccak256(signature()).
  Selector selector() const;
  // keccak256(signature()): an event's topic 0.
  Hash256 topic() const;
  // selector() ‖ encode(inputs, args). Errors: "evm.abi".
  Result<Bytes> encode_call(const std::vector<Value>& args) const;
};

// keccak256 of a canonical event signature ("Transfer(address,address,uint256)").
// Errors: "evm.abi" when it is not one.
Result<Hash256> event_topic(std::string_view signature);

// An indexed event argument of a type that fits one word (integers, bool,
// address, bytesN), checked as strictly as decode(). Dynamic and composite
// types are logged as the keccak256 of their encoding, which cannot be
// decoded: compare the topic with that hash instead. Errors: "evm.abi".
Result<Value> decode_topic(const Type& type, const Hash256& topic);

// Why a call reverted, from its revert data.
struct Revert {
  enum class Kind {
    Empty,   // no data: revert(), require(c) without a message, out of gas
    Error,   // Error(string): require(c, "reason"), revert("reason")
    Panic,   // Panic(uint256): assert, overflow, division by zero, bounds
    Custom,  // any other 4-byte selector: a custom error
  };
  Kind kind = Kind::Empty;
  std::string reason;   // Error
  U256 panic_code;      // Panic
  Selector selector{};  // Custom
  Bytes arguments;      // Custom: the encoded arguments after the selector

  // One line for a user: "reverted: not the owner", "panic 0x11: arithmetic
  // overflow or underflow", "custom error 0x1234abcd" (control characters in
  // reasons are escaped).
  std::string describe() const;
};

// Errors: "evm.abi" for 1 to 3 bytes of data, or an Error or Panic payload
// that does not decode strictly.
Result<Revert> decode_revert(ByteView data);

// What a Panic code means, from the Solidity documentation; "unknown panic
// code" for any other.
std::string_view panic_meaning(const U256& code);

// The arguments of custom error `error` (its signature, e.g.
// "NotOwner(address)") from revert data. Errors: "evm.abi" when the selector
// is another error's or the arguments do not decode.
Result<std::vector<Value>> decode_error(const Function& error, ByteView revert_data);

}  // namespace ward::evm::abi
