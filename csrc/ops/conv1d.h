// Dense 1-D convolution over time-major rows (Whisper's encoder front: two
// kernel-3 convolutions, stride 1 then 2, padding 1), as an im2col product
// through the packed linear, so a convolution can use any weight format.
//
//   y[t][o] = bias[o] + sum_{k, c} W[o][c][k] * x[t*stride + k - pad][c]
//
// with x taken as zero outside [0, T). `w` is the packed matrix
// [Cout, kernel*Cin] whose column k*Cin + c holds torch's weight[o][c][k]
// (tap outermost), so one im2col row is `kernel` input rows laid end to end.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/packed.h"

namespace qasr {

class ThreadPool;

int64_t conv1d_out_len(int64_t T, int kernel, int stride, int pad);

// x: [T][Cin]; y: [conv1d_out_len(...)][Cout] with Cout = w.layout.N;
// w.layout.K must equal kernel * Cin. `cols` is scratch (resized).
void conv1d(const float* x, int64_t T, int64_t Cin, int kernel, int stride, int pad, const PackedMatrix& w,
            const float* bias, float* y, std::vector<float>& cols, ThreadPool* pool);

}  // namespace qasr
