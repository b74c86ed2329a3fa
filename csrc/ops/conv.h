// Convolutions of the Conformer front and convolution module.
#pragma once

#include <cstdint>

#include "kernels/packed.h"

namespace qasr {

class ThreadPool;

// Causal depthwise 1-D convolution over rows of d channels:
// y[t][c] = bias[c] + sum_k w[c][k] * x[t + k][c], for t in [0, rows), where
// x holds rows + kernel - 1 rows (the kernel - 1 rows before the first output
// are its history). w is [d][kernel] (torch Conv1d weight [d, 1, kernel]).
void depthwise_conv1d_causal(const float* x, int64_t rows, int64_t d, int kernel, const float* w,
                             const float* bias, float* y);

// 3x3 stride-2 convolution without padding over a channel-last image
// x [H][W][Cin] into y [Ho][Wo][Cout], Ho = (H-3)/2+1, Wo = (W-3)/2+1, as
// an im2col product with `w`, the torch weight [Cout][Cin][3][3] packed as
// an f32 matrix [Cout, Cin*9]. `cols` is scratch. Adds bias, then ReLU when
// `relu`.
void conv2d_3x3_s2(const float* x, int64_t H, int64_t W, int64_t Cin, const PackedMatrix& w, const float* bias,
                   bool relu, float* y, float* cols, ThreadPool* pool);

inline int64_t conv_out_len(int64_t n) { return n < 3 ? 0 : (n - 3) / 2 + 1; }

}  // namespace qasr
