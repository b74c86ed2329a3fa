#include "ops/norm.h"

#include <cmath>

#include "ops/simd_clones.h"

namespace qasr {

namespace {

// Sum of n floats in eight fixed lanes (vectorises; same order in every clone).
QASR_ALWAYS_INLINE float lane_sum(const float* x, int64_t n, float shift, bool square) {
  float part[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int l = 0; l < 8; ++l) {
      const float c = x[i + l] - shift;
      part[l] += square ? c * c : c;
    }
  }
  float tail = 0.0f;
  for (; i < n; ++i) {
    const float c = x[i] - shift;
    tail += square ? c * c : c;
  }
  return ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7])) + tail;
}

}  // namespace

QASR_CLONES void layer_norm(const float* x, int64_t rows, int64_t d, const float* gamma, const float* beta,
                            float eps, float* y) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * d;
    float* yr = y + r * d;
    // Two passes (mean, then squares about it): residual streams with a large
    // common offset lose nothing to cancellation.
    const float m = lane_sum(xr, d, 0.0f, false) / static_cast<float>(d);
    const float var = lane_sum(xr, d, m, true) / static_cast<float>(d);
    const float inv = 1.0f / std::sqrt(var + eps);
    for (int64_t i = 0; i < d; ++i) yr[i] = (xr[i] - m) * inv * gamma[i] + beta[i];
  }
}

}  // namespace qasr
