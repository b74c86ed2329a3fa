#include "ops/vmath.h"

#include <cstring>
#include <limits>

namespace qasr {
namespace {

using vmath::V4;

inline V4 load(const float* p) {
  V4 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store(float* p, V4 v) { std::memcpy(p, &v, sizeof v); }

}  // namespace

void gelu_inplace_vec(float* x, int64_t n) {
  constexpr float kInvSqrt2 = 0.70710678118654752440f;
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const V4 v = load(x + i);
    store(x + i, 0.5f * v * (1.0f + vmath::erf4(v * kInvSqrt2)));
  }
  for (; i < n; ++i) x[i] = 0.5f * x[i] * (1.0f + vmath::erf(x[i] * kInvSqrt2));
}

void softmax_inplace_vec(float* x, int64_t n) {
  if (n <= 0) return;
  const float ninf = -std::numeric_limits<float>::infinity();
  V4 m4 = vmath::splat(ninf);
  int64_t j = 0;
  for (; j + 4 <= n; j += 4) {
    const V4 v = load(x + j);
    m4 = vmath::select(v > m4, v, m4);
  }
  float mx = ninf;
  for (int l = 0; l < 4; ++l) mx = m4[l] > mx ? m4[l] : mx;
  for (; j < n; ++j) mx = x[j] > mx ? x[j] : mx;
  if (!(mx > -std::numeric_limits<float>::infinity())) {
    for (int64_t i = 0; i < n; ++i) x[i] = 0.0f;
    return;
  }
  V4 acc = vmath::splat(0.0f);
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const V4 e = vmath::exp4(load(x + i) - mx);
    store(x + i, e);
    acc += e;
  }
  float sum = (acc[0] + acc[1]) + (acc[2] + acc[3]);
  for (; i < n; ++i) {
    x[i] = vmath::exp(x[i] - mx);
    sum += x[i];
  }
  const float inv = 1.0f / sum;
  int64_t k = 0;
  for (; k + 4 <= n; k += 4) store(x + k, load(x + k) * inv);
  for (; k < n; ++k) x[k] *= inv;
}

}  // namespace qasr
