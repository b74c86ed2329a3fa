#include "decode/repetition.h"

namespace qasr {

int trailing_repeat_period(const std::vector<int>& tokens, int copies) {
  if (copies < 2) return 0;
  const int64_t n = static_cast<int64_t>(tokens.size());
  for (int64_t p = 1; p * copies <= n; ++p) {
    const int64_t start = n - p * copies;
    bool same = true;
    // every token of the span equals the token one period later
    for (int64_t i = start; same && i + p < n; ++i) same = tokens[i] == tokens[i + p];
    if (same) return static_cast<int>(p);
  }
  return 0;
}

}  // namespace qasr
