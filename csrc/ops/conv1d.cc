#include "ops/conv1d.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "common/error.h"
#include "kernels/linear.h"

namespace qasr {

int64_t conv1d_out_len(int64_t T, int kernel, int stride, int pad) {
  if (kernel <= 0 || stride <= 0 || pad < 0) invalid("conv1d: kernel and stride must be positive, pad >= 0");
  const int64_t span = T + 2 * int64_t{pad} - kernel;
  return span < 0 ? 0 : span / stride + 1;
}

void conv1d(const float* x, int64_t T, int64_t Cin, int kernel, int stride, int pad, const PackedMatrix& w,
            const float* bias, float* y, std::vector<float>& cols, ThreadPool* pool) {
  const int64_t To = conv1d_out_len(T, kernel, stride, pad);
  if (w.layout.K != kernel * Cin) {
    invalid("conv1d: weight has " + std::to_string(w.layout.K) + " inputs, expected kernel " +
            std::to_string(kernel) + " x " + std::to_string(Cin) + " channels");
  }
  if (To == 0) return;
  const int64_t width = kernel * Cin;
  cols.resize(static_cast<size_t>(To * width));
  for (int64_t t = 0; t < To; ++t) {
    float* row = cols.data() + t * width;
    for (int k = 0; k < kernel; ++k) {
      const int64_t src = t * stride + k - pad;
      if (src < 0 || src >= T) {
        std::fill(row + k * Cin, row + (k + 1) * Cin, 0.0f);
      } else {
        std::memcpy(row + k * Cin, x + src * Cin, static_cast<size_t>(Cin) * sizeof(float));
      }
    }
  }
  linear(cols.data(), width, To, w, bias, y, w.layout.N, pool);
}

}  // namespace qasr
