#include "evm/abi.h"

#include <string>

#include <gtest/gtest.h>

namespace ward::evm::abi {
namespace {

Bytes unhex(std::string_view text) {
  std::string compact;
  for (char c : text)
    if (c != ' ' && c != '\n') compact += c;
  if (compact.starts_with("0x")) compact.erase(0, 2);
  return hex_decode(compact).value();
}

std::string word(std::string_view hex) {
  return std::string(64 - hex.size(), '0') + std::string(hex);
}
std::string right(std::string_view hex) {
  return std::string(hex) + std::string(64 - hex.size(), '0');
}

std::vector<Value> uints(std::initializer_list<std::uint64_t> ns) {
  std::vector<Value> out;
  for (std::uint64_t n : ns) out.push_back(Value::uint(n));
  return out;
}

Bytes call(std::string_view signature, const std::vector<Value>& args) {
  auto f = Function::parse(signature);
  EXPECT_TRUE(f) << f.error().message;
  auto data = f->encode_call(args);
  EXPECT_TRUE(data) << data.error().message;
  return data.value_or(Bytes{});
}

// Decodes the arguments after the selector and checks they are `args`.
void expect_round_trip(std::string_view signature, const std::vector<Value>& args, const Bytes& data) {
  auto f = Function::parse(signature).value();
  auto decoded = decode(f.inputs, ByteView(data).subspan(4));
  ASSERT_TRUE(decoded) << decoded.error().message;
  EXPECT_EQ(*decoded, args);
}

// The examples of the Solidity ABI specification (docs/abi-spec.rst).
TEST(Abi, shouldEncodeTheSpecificationsBazExample) {
  std::vector<Value> args = {Value::uint(69), Value::boolean(true)};
  Bytes data = call("baz(uint32,bool)", args);
  EXPECT_EQ(hex_encode(data), "cdcd77c0" + word("45") + word("1"));
  expect_round_trip("baz(uint32,bool)", args, data);
}

TEST(Abi, shouldEncodeTheSpecificationsBarExample) {
  std::vector<Value> args = {Value::list({Value::bytes(as_bytes("abc")), Value::bytes(as_bytes("def"))})};
  Bytes data = call("bar(bytes3[2])", args);
  EXPECT_EQ(hex_encode(data), "fce353f6" + right("616263") + right("646566"));
  expect_round_trip("bar(bytes3[2])", args, data);
}

TEST(Abi, shouldEncodeTheSpecificationsSamExample) {
  std::vector<Value> args = {Value::bytes(as_bytes("dave")), Value::boolean(true),
                             Value::list(uints({1, 2, 3}))};
  Bytes data = call("sam(bytes,bool,uint256[])", args);
  EXPECT_EQ(hex_encode(data), "a5643bf2" + word("60") + word("1") + word("a0") + word("4") +
                                  right("64617665") + word("3") + word("1") + word("2") + word("3"));
  expect_round_trip("sam(bytes,bool,uint256[])", args, data);
}

TEST(Abi, shouldEncodeTheSpecificationsDynamicTypesExample) {
  std::vector<Value> args = {Value::uint(0x123), Value::list(uints({0x456, 0x789})),
                             Value::bytes(as_bytes("1234567890")), Value::bytes(as_bytes("Hello, world!"))};
  Bytes data = call("f(uint256,uint32[],bytes10,bytes)", args);
  EXPECT_EQ(hex_encode(data), "8be65246" + word("123") + word("80") + right("31323334353637383930") +
                                  word("e0") + word("2") + word("456") + word("789") + word("d") +
                                  right("48656c6c6f2c20776f726c6421"));
  expect_round_trip("f(uint256,uint32[],bytes10,bytes)", args, data);
}

TEST(Abi, shouldEncodeTheSpecificationsNestedArraysExample) {
  std::vector<Value> args = {
      Value::list({Value::list(uints({1, 2})), Value::list(uints({3}))}),
      Value::list({Value::string("one"), Value::string("two"), Value::string("three")})};
  Bytes data = call("g(uint256[][],string[])", args);
  EXPECT_EQ(hex_encode(data), "2289b18c" + word("40") + word("140") + word("2") + word("40") + word("a0") +
                                  word("2") + word("1") + word("2") + word("1") + word("3") + word("3") +
                                  word("60") + word("a0") + word("e0") + word("3") + right("6f6e65") +
                                  word("3") + right("74776f") + word("5") + right("7468726565"));
  expect_round_trip("g(uint256[][],string[])", args, data);
}

TEST(Abi, shouldRoundTripStructsWithDynamicMembers) {
  std::string signature = "register(bytes32,string,(uint64,bytes32)[],(string,address,int64))";
  Bytes id(32, 0x11);
  Address owner = Address::parse("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266").value();
  std::vector<Value> args = {
      Value::bytes(id), Value::string("ward"),
      Value::list({Value::list({Value::uint(7), Value::bytes(Bytes(32, 0x22))}),
                   Value::list({Value::uint(UINT64_MAX), Value::bytes(Bytes(32, 0x33))})}),
      Value::list({Value::string(""), Value::address(owner), Value::int64(-5)})};
  Bytes data = call(signature, args);
  expect_round_trip(signature, args, data);
  auto values = decode(Function::parse(signature)->inputs, ByteView(data).subspan(4)).value();
  EXPECT_EQ(values[0].as_bytes32().value()[0], 0x11);
  EXPECT_EQ(values[2].as_list().value()[1].as_list().value()[0].as_uint64(), UINT64_MAX);
  EXPECT_EQ(values[3].as_list().value()[1].as_address(), owner);
  EXPECT_EQ(values[3].as_list().value()[2].as_int64(), -5);
}

TEST(Abi, shouldParseAndPrintCanonicalTypes) {
  for (std::string_view text : {"uint8", "int256", "bytes1", "bytes32", "address[]", "(uint64,bytes32)[]",
                                "((bool,string)[3],uint8)", "uint256[][2]"}) {
    auto type = Type::parse(text);
    ASSERT_TRUE(type) << text << ": " << type.error().message;
    EXPECT_EQ(type->canonical(), text);
  }
  EXPECT_TRUE(Type::parse("(uint64,bytes32)[]")->is_dynamic());
  EXPECT_FALSE(Type::parse("(uint64,bytes32)[2]")->is_dynamic());
  EXPECT_EQ(parse_types("")->size(), 0u);
  EXPECT_EQ(parse_types("uint8,(bool,bool)")->size(), 2u);
}

TEST(Abi, shouldRefuseTypesThatAreNotCanonical) {
  for (std::string_view text :
       {"uint",     "int",          "uint7",    "uint264",      "uint08",
        "bytes0",   "bytes33",      "()",       "uint8[0]",     "uint8[01]",
        "uint8[",   "uint8 x",      "(uint8,)", "(uint8",       "fixed128x18",
        "function", "tuple(uint8)", "",         "uint8[70000]", "uint8[65536][65536]"}) {
    auto type = Type::parse(text);
    EXPECT_FALSE(type) << text;
    if (!type) {
      EXPECT_EQ(type.error().code, "evm.abi");
    }
  }
  EXPECT_EQ(Type::parse("uint").error().message, "write uint256: signatures use canonical type names");
  std::string deep = "uint8";
  for (std::size_t i = 0; i < kMaxTypeDepth; ++i) deep += "[]";
  EXPECT_FALSE(Type::parse(deep));
  EXPECT_FALSE(Function::parse("transfer(address, uint256)"));
  EXPECT_FALSE(Function::parse("(address)"));
  EXPECT_FALSE(Function::parse("9lives()"));
  EXPECT_FALSE(Function::parse("f(uint8)x"));
  EXPECT_TRUE(Function::parse("f()"));
}

TEST(Abi, shouldRefuseValuesThatDoNotFitTheirTypes) {
  auto f = Function::parse("f(uint8,int8,bytes4,(bool,address))").value();
  Address a{};
  auto args = [&](Value u8, Value i8, Value b4, Value t) {
    return f.encode_call({u8, i8, b4, t}).error().message;
  };
  Value ok_tuple = Value::list({Value::boolean(true), Value::address(a)});
  EXPECT_EQ(args(Value::uint(256), Value::int64(0), Value::bytes(Bytes(4)), ok_tuple),
            "f: argument 0: the number does not fit uint8");
  EXPECT_EQ(args(Value::uint(1), Value::int64(128), Value::bytes(Bytes(4)), ok_tuple),
            "f: argument 1: the number does not fit int8");
  EXPECT_TRUE(f.encode_call({Value::uint(255), Value::int64(-128), Value::bytes(Bytes(4)), ok_tuple}));
  EXPECT_EQ(args(Value::uint(1), Value::int64(-129), Value::bytes(Bytes(4)), ok_tuple),
            "f: argument 1: the number does not fit int8");
  EXPECT_EQ(args(Value::uint(1), Value::int64(0), Value::bytes(Bytes(5)), ok_tuple),
            "f: argument 2: bytes4 takes exactly 4 bytes, not 5");
  EXPECT_EQ(
      args(Value::uint(1), Value::int64(0), Value::bytes(Bytes(4)), Value::list({Value::boolean(true)})),
      "f: argument 3: (bool,address) takes 2 values, not 1");
  EXPECT_EQ(args(Value::uint(1), Value::int64(0), Value::bytes(Bytes(4)),
                 Value::list({Value::boolean(true), Value::uint(1)})),
            "f: argument 3: member 1: the value is not of the kind address takes");
  EXPECT_EQ(f.encode_call({Value::uint(1)}).error().message, "f: 4 types but 1 values");
}

std::string refusal(std::string_view types, const Bytes& data) {
  auto values = decode(parse_types(types).value(), data);
  if (values) return "decoded";
  EXPECT_EQ(values.error().code, "evm.abi");
  return values.error().message;
}

TEST(Abi, shouldRefuseWordsWithBitsTheirTypeForbids) {
  EXPECT_EQ(refusal("bool", unhex(word("2"))), "value 0: a bool is neither 0 nor 1");
  EXPECT_EQ(refusal("address", unhex(word("1" + std::string(40, '0')))),
            "value 0: an address has non-zero high bytes");
  EXPECT_EQ(refusal("uint64", unhex(word("10000000000000000"))), "value 0: uint64 has high bits set");
  EXPECT_EQ(refusal("uint8", unhex(word("100"))), "value 0: uint8 has high bits set");
  EXPECT_EQ(refusal("int8", unhex(word("80"))), "value 0: int8 is not sign-extended");
  EXPECT_EQ(refusal("int8", unhex(std::string(62, 'f') + "80")), "decoded");
  EXPECT_EQ(refusal("bytes4", unhex(right("1234567890"))), "value 0: the padding after bytes4 is not zero");
  EXPECT_EQ(refusal("bool", unhex(word("1"))), "decoded");
}

TEST(Abi, shouldRefuseDynamicDataThatIsNotCanonical) {
  // "dave" as bytes: offset 0x20, length 4, padded content.
  std::string dave = word("20") + word("4") + right("64617665");
  EXPECT_EQ(refusal("bytes", unhex(dave)), "decoded");
  EXPECT_EQ(refusal("bytes", unhex(dave + word("0"))), "trailing bytes after the encoded values");
  EXPECT_EQ(refusal("bytes", unhex(word("40") + word("0") + word("4") + right("64617665"))),
            "value 0: an offset is not where the canonical encoding puts the value");
  EXPECT_EQ(refusal("bytes", unhex(word("20") + word("4") + right("6461766501"))),
            "value 0: the padding after bytes is not zero");
  EXPECT_EQ(refusal("bytes", unhex(word("20") + word("21") + right("64617665"))),
            "value 0: a length runs past the end of the data");
  EXPECT_EQ(refusal("bytes", unhex(word("20") + std::string(64, 'f'))),
            "value 0: a length runs past the end of the data");
  EXPECT_EQ(refusal("bytes", unhex(word("20"))), "value 0: the data ends inside a word");
  EXPECT_EQ(refusal("uint256[]", unhex(word("20") + word("2") + word("1"))),
            "value 0: a length runs past the end of the data");
  EXPECT_EQ(refusal("uint256,uint256", unhex(word("1"))), "the data ends inside a head");
  EXPECT_EQ(refusal("string[]", unhex(word("20") + word("1") + word("40") + word("0"))),
            "value 0: element 0: an offset is not where the canonical encoding puts the value");
}

TEST(Abi, shouldDecodeIndexedTopicsOfOneWordTypes) {
  EXPECT_EQ(hex_encode(event_topic("Transfer(address,address,uint256)").value()),
            "ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef");
  EXPECT_FALSE(event_topic("Transfer(address,address,uint)"));
  Hash256 topic{};
  topic[31] = 9;
  EXPECT_EQ(decode_topic(Type::parse("uint64").value(), topic)->as_uint64(), 9u);
  EXPECT_EQ(decode_topic(Type::parse("address").value(), topic)->as_address()->bytes[19], 9);
  EXPECT_FALSE(decode_topic(Type::parse("bool").value(), topic));
  EXPECT_FALSE(decode_topic(Type::parse("string").value(), topic));
  EXPECT_FALSE(decode_topic(Type::parse("uint8[1]").value(), topic));
}

// Revert data as solc writes it for require(false, "Not enough Ether provided.").
TEST(Revert, shouldDecodeAnErrorString) {
  Bytes data = unhex("08c379a0" + word("20") + word("1a") +
                     right("4e6f7420656e6f7567682045746865722070726f76696465642e"));
  auto revert = decode_revert(data);
  ASSERT_TRUE(revert) << revert.error().message;
  EXPECT_EQ(revert->kind, Revert::Kind::Error);
  EXPECT_EQ(revert->reason, "Not enough Ether provided.");
  EXPECT_EQ(revert->describe(), "reverted: Not enough Ether provided.");
}

TEST(Revert, shouldDecodeAPanicWithItsMeaning) {
  auto revert = decode_revert(unhex("4e487b71" + word("11")));
  ASSERT_TRUE(revert);
  EXPECT_EQ(revert->kind, Revert::Kind::Panic);
  EXPECT_EQ(revert->panic_code, U256(0x11));
  EXPECT_EQ(revert->describe(), "panic 0x11: arithmetic overflow or underflow");
  EXPECT_EQ(panic_meaning(0x32), "array index out of bounds");
  EXPECT_EQ(panic_meaning(0x99), "unknown panic code");
}

TEST(Revert, shouldDecodeACustomErrorGivenItsSignature) {
  auto error = Function::parse("InsufficientBalance(uint256,uint256)").value();
  Bytes data = error.encode_call({Value::uint(5), Value::uint(10)}).value();
  auto revert = decode_revert(data);
  ASSERT_TRUE(revert);
  EXPECT_EQ(revert->kind, Revert::Kind::Custom);
  EXPECT_EQ(revert->selector, error.selector());
  EXPECT_EQ(revert->describe(), "custom error 0x" + hex_encode(error.selector()));
  auto args = decode_error(error, data);
  ASSERT_TRUE(args);
  EXPECT_EQ((*args)[1].as_uint64(), 10u);
  auto other = Function::parse("NotOwner(address)").value();
  EXPECT_FALSE(decode_error(other, data));
}

TEST(Revert, shouldTellEmptyDataFromMalformedData) {
  EXPECT_EQ(decode_revert({})->kind, Revert::Kind::Empty);
  EXPECT_EQ(decode_revert({})->describe(), "reverted without a reason");
  EXPECT_FALSE(decode_revert(unhex("08c379")));
  EXPECT_FALSE(decode_revert(unhex("08c379a0" + word("20"))));
  EXPECT_FALSE(decode_revert(unhex("4e487b71" + word("11") + word("0"))));
}

TEST(Revert, shouldEscapeControlCharactersInReasons) {
  Bytes data = Function::parse("Error(string)")->encode_call({Value::string("a\nb")}).value();
  EXPECT_EQ(decode_revert(data)->describe(), "reverted: a\\x0ab");
}

}  // namespace
}  // namespace ward::evm::abi
