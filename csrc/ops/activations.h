// Element-wise activations, in place over n floats, and the gated linear unit.
#pragma once

#include <cstdint>

namespace qasr {

void relu_inplace(float* x, int64_t n);
// x * sigmoid(x) (torch.nn.functional.silu).
void silu_inplace(float* x, int64_t n);
// The exact (erf) GELU, as torch.nn.functional.gelu's default (erf to ~2e-7
// absolute, simd_clones.h's erf_poly; not the tanh approximation).
void gelu_inplace(float* x, int64_t n);
// y[r][i] = x[r][i] * sigmoid(x[r][d + i]) for rows of 2d inputs (F.glu on
// the last dimension). y must not alias x unless y == x (row r of y then
// overwrites only what row r of x no longer needs).
void glu(const float* x, int64_t rows, int64_t d, float* y);

}  // namespace qasr
