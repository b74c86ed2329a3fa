// Scalar reference kernels: the plain statement of docs/quantization.md that
// every SIMD variant is tested against. Straightforward on purpose.
#include <cmath>

#include "common/fp16.h"
#include "kernels/kernels.h"
#include "kernels/quantize.h"

namespace qasr {
namespace {

// Exact integer sum of one (row m, column n, block b): Σ (u − z) · qx.
int32_t block_isum(const PackedMatrix& w, const int8_t* qx, int64_t p, int n, int64_t b, int z) {
  const uint8_t* tile = w.tile(p, b);
  int32_t acc = 0;
  if (w.layout.format == WeightFormat::Q8) {
    for (int k = 0; k < kBlock; ++k) acc += (static_cast<int32_t>(tile[(k / 4) * 64 + n * 4 + k % 4]) - z) * qx[k];
  } else {
    for (int k = 0; k < kBlock; ++k) {
      const int kr = k % 16;
      const uint8_t byte = tile[(kr / 4) * 64 + n * 4 + kr % 4];
      const int u = k < 16 ? (byte & 0x0F) : (byte >> 4);
      acc += (u - z) * qx[k];
    }
  }
  return acc;
}

void gemm_ref(const QuantizedActs& x, const PackedMatrix& w, const float* bias, float* y, int64_t ldy,
              int64_t p0, int64_t p1) {
  const PackedLayout& l = w.layout;
  const bool asym = l.format == WeightFormat::Q4A;
  const int zsym = implicit_zero(l.format);
  for (int64_t m = 0; m < x.M; ++m) {
    const int8_t* qrow = x.codes + m * x.blocks * kBlock;
    const float* sx = x.scales + m * x.blocks;
    for (int64_t p = p0; p < p1; ++p) {
      for (int n = 0; n < kPanel; ++n) {
        const int64_t col = p * kPanel + n;
        if (col >= l.N) break;
        float acc = 0.0f;
        for (int64_t b = 0; b < l.blocks; ++b) {
          const int64_t g = l.group_of_block(b);
          const int z = asym ? w.zero_row(p, g)[n] : zsym;
          const int32_t isum = block_isum(w, qrow + b * kBlock, p, n, b, z);
          const float s = sx[b] * f16_to_f32(w.scale_row(p, g)[n]);
          acc = std::fma(static_cast<float>(isum), s, acc);
        }
        y[m * ldy + col] = bias ? acc + bias[col] : acc;
      }
    }
  }
}

void sgemm_ref(const float* x, int64_t ldx, int64_t M, const PackedMatrix& w, const float* bias, float* y,
               int64_t ldy, int64_t p0, int64_t p1) {
  const PackedLayout& l = w.layout;
  for (int64_t m = 0; m < M; ++m) {
    for (int64_t p = p0; p < p1; ++p) {
      const float* panel = w.f32() + p * l.K * kPanel;
      float acc[kPanel] = {};
      for (int64_t k = 0; k < l.K; ++k) {
        const float xv = x[m * ldx + k];
        for (int n = 0; n < kPanel; ++n) acc[n] = std::fma(xv, panel[k * kPanel + n], acc[n]);
      }
      for (int n = 0; n < kPanel; ++n) {
        const int64_t col = p * kPanel + n;
        if (col >= l.N) break;
        y[m * ldy + col] = bias ? acc[n] + bias[col] : acc[n];
      }
    }
  }
}

const KernelSet kScalar = {"scalar", quantize_activations_ref, gemm_ref, gemm_ref, sgemm_ref};

}  // namespace

const KernelSet* kernels_scalar() { return &kScalar; }

}  // namespace qasr
