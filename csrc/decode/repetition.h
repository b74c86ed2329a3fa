// Repetition guard for greedy autoregressive decoding (docs/whisper.md,
// "Repetition guard").
//
// A greedy decoder that starts to repeat itself usually never stops: it
// emits the same phrase until the token cap (a quantized Whisper turns one
// borderline clip into ~200 inserted words this way). The guard stops it
// when the output ends with the same block of tokens `copies` times in a
// row and drops the last copy. The Python mirror is
// qasr_native.models.whisper.trailing_repeat_period (same definition).
#pragma once

#include <cstdint>
#include <vector>

namespace qasr {

// The smallest p >= 1 such that the last copies * p tokens are `copies`
// identical blocks of p tokens; 0 when there is none (or copies < 2).
int trailing_repeat_period(const std::vector<int>& tokens, int copies);

}  // namespace qasr
