#include "ops/softmax.h"

#include <cmath>
#include <limits>

#include "ops/simd_clones.h"

namespace qasr {

QASR_CLONES void softmax_inplace(float* x, int64_t n) {
  float mx = -std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < n; ++i) mx = x[i] > mx ? x[i] : mx;
  if (!(mx > -std::numeric_limits<float>::infinity())) {
    for (int64_t i = 0; i < n; ++i) x[i] = 0.0f;
    return;
  }
  for (int64_t i = 0; i < n; ++i) x[i] = exp_poly(x[i] - mx);
  // Eight partial sums: a fixed order that vectorises.
  float part[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int l = 0; l < 8; ++l) part[l] += x[i + l];
  }
  float sum = 0.0f;
  for (; i < n; ++i) sum += x[i];
  for (int l = 0; l < 8; ++l) sum += part[l];
  const float inv = 1.0f / sum;
  for (int64_t j = 0; j < n; ++j) x[j] *= inv;
}

void log_softmax_inplace(float* x, int64_t n) {
  float mx = -std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < n; ++i) mx = x[i] > mx ? x[i] : mx;
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += std::exp(static_cast<double>(x[i] - mx));
  const float lse = mx + static_cast<float>(std::log(sum));
  for (int64_t i = 0; i < n; ++i) x[i] -= lse;
}

}  // namespace qasr
