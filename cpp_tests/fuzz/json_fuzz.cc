// libFuzzer target for the header JSON parser alone (scripts/fuzz.sh):
// arbitrary text must parse or throw InvalidInput, and every accessor on a
// parsed document must return or throw InvalidInput.
#include <cstdint>
#include <string>

#include "common/error.h"
#include "format/json.h"

namespace {

using qasr::Json;

void poke(const Json& j) {
  // Each accessor either works or throws InvalidInput naming j.path().
  auto guard = [](auto fn) {
    try {
      fn();
    } catch (const qasr::InvalidInput&) {
    }
  };
  guard([&] { (void)j.as_int(); });
  guard([&] { (void)j.as_double(); });
  guard([&] { (void)j.as_bool(); });
  guard([&] { (void)j.as_string(); });
  guard([&] { (void)j.size(); });
  guard([&] { (void)j.int_array(); });
  guard([&] { (void)j.float_array(); });
  guard([&] { (void)j.string_array(); });
  guard([&] { (void)j["family"]; });
  guard([&] { (void)j[size_t{0}]; });
  guard([&] { (void)j.int_or("n", 0); });
  if (j.is_array()) {
    for (const Json& v : j.as_array()) poke(v);
  } else if (j.is_object()) {
    for (const auto& kv : j.items()) poke(kv.second);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    poke(Json::parse(reinterpret_cast<const char*>(data), size));
  } catch (const qasr::InvalidInput&) {
  }
  return 0;
}
