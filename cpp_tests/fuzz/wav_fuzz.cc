// libFuzzer target for the WAV parser: any byte string is either parsed
// (finite-size result, rate in range) or rejected with InvalidInput; nothing
// else may happen (crash, other exception, sanitizer report).
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "common/error.h"
#include "frontend/wav.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const qasr::Audio a = qasr::parse_wav(data, size, "fuzz.wav");
    if (a.sample_rate < 1 || a.sample_rate > 1000000 || a.channels < 1) std::abort();
    if (a.samples.size() > size) std::abort();  // never more samples than bytes
  } catch (const qasr::InvalidInput&) {
  }
  return 0;
}
