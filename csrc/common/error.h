// Errors raised by the core. Every failure carries a message that says what
// was wrong and where (tensor name, file offset, argument), so the Python
// layer can surface it unchanged.
#pragma once

#include <stdexcept>
#include <string>

namespace qasr {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// Input that is malformed (bad file, bad audio, bad argument).
class InvalidInput : public Error {
 public:
  explicit InvalidInput(const std::string& what) : Error(what) {}
};

[[noreturn]] inline void fail(const std::string& what) { throw Error(what); }
[[noreturn]] inline void invalid(const std::string& what) { throw InvalidInput(what); }

#define QASR_CHECK(cond, msg)                 \
  do {                                        \
    if (!(cond)) ::qasr::fail(msg);           \
  } while (0)

}  // namespace qasr
