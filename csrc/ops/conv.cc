#include "ops/conv.h"

#include "kernels/linear.h"
#include "ops/activations.h"
#include "ops/simd_clones.h"

namespace qasr {

QASR_CLONES void depthwise_conv1d_causal(const float* x, int64_t rows, int64_t d, int kernel, const float* w,
                             const float* bias, float* y) {
  for (int64_t t = 0; t < rows; ++t) {
    float* yr = y + t * d;
    for (int64_t c = 0; c < d; ++c) yr[c] = 0.0f;
    for (int k = 0; k < kernel; ++k) {
      const float* xr = x + (t + k) * d;
      for (int64_t c = 0; c < d; ++c) yr[c] += w[c * kernel + k] * xr[c];
    }
    for (int64_t c = 0; c < d; ++c) yr[c] += bias[c];
  }
}

void conv2d_3x3_s2(const float* x, int64_t H, int64_t W, int64_t Cin, const PackedMatrix& w, const float* bias,
                   bool relu, float* y, float* cols, ThreadPool* pool) {
  const int64_t Ho = conv_out_len(H), Wo = conv_out_len(W);
  if (Ho == 0 || Wo == 0) return;
  const int64_t K = Cin * 9;
  for (int64_t ho = 0; ho < Ho; ++ho) {
    for (int64_t wo = 0; wo < Wo; ++wo) {
      float* col = cols + (ho * Wo + wo) * K;
      for (int ky = 0; ky < 3; ++ky) {
        for (int kx = 0; kx < 3; ++kx) {
          const float* px = x + ((2 * ho + ky) * W + (2 * wo + kx)) * Cin;
          for (int64_t ci = 0; ci < Cin; ++ci) col[ci * 9 + ky * 3 + kx] = px[ci];
        }
      }
    }
  }
  const int64_t Cout = w.layout.N;
  linear(cols, K, Ho * Wo, w, bias, y, Cout, pool);
  if (relu) relu_inplace(y, Ho * Wo * Cout);
}

}  // namespace qasr
