#include "ops/rope.h"

#include <cmath>

namespace qasr {

void RopeTable::compute(int64_t pos0, int64_t n, int head_dim, double base) {
  rows = n;
  half = head_dim / 2;
  cos.resize(static_cast<size_t>(n) * half);
  sin.resize(cos.size());
  for (int i = 0; i < half; ++i) {
    const double inv_freq = std::pow(base, -2.0 * i / head_dim);
    for (int64_t r = 0; r < n; ++r) {
      const double a = static_cast<double>(pos0 + r) * inv_freq;
      cos[r * half + i] = static_cast<float>(std::cos(a));
      sin[r * half + i] = static_cast<float>(std::sin(a));
    }
  }
}

void apply_rope(float* x, int64_t rows, int64_t ld, int heads, int head_dim, const RopeTable& t) {
  const int half = head_dim / 2;
  for (int64_t r = 0; r < rows; ++r) {
    const float* c = t.cos.data() + r * half;
    const float* s = t.sin.data() + r * half;
    for (int h = 0; h < heads; ++h) {
      float* a = x + r * ld + h * head_dim;
      float* b = a + half;
      for (int i = 0; i < half; ++i) {
        const float x1 = a[i], x2 = b[i];
        a[i] = x1 * c[i] - x2 * s[i];
        b[i] = x2 * c[i] + x1 * s[i];
      }
    }
  }
}

}  // namespace qasr
