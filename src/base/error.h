// Errors are values. A fallible call returns Result<T>; the Error says what
// failed in one line a user can act on, and carries a stable code that tests
// and callers can branch on without parsing the message.
#pragma once

#include <expected>
#include <string>
#include <utility>

namespace ward {

struct Error {
  std::string code;     // stable, dotted: "age.header", "crypto.verify", "io.open"
  std::string message;  // one line, no trailing newline

  Error(std::string c, std::string m) : code(std::move(c)), message(std::move(m)) {}
};

template <class T>
using Result = std::expected<T, Error>;

// Shorthand for `return fail("age.header", "...")` in functions returning Result<T>.
inline std::unexpected<Error> fail(std::string code, std::string message) {
  return std::unexpected<Error>(Error(std::move(code), std::move(message)));
}

// Prefixes context ("reading key.txt: ") to an error while passing it through.
inline std::unexpected<Error> fail(const Error& e, const std::string& context) {
  return std::unexpected<Error>(Error(e.code, context + ": " + e.message));
}

}  // namespace ward
