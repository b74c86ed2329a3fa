// Y = X · Wᵀ + bias over a packed matrix: quantizes the activations once and
// spreads (row tile, panel range) tasks over the thread pool.
#pragma once

#include <cstdint>

#include "kernels/kernels.h"

namespace qasr {

class ThreadPool;

// x: [M][ldx] with w.layout.K valid columns; y: [M][ldy] with w.layout.N
// columns written. `pool` null means the global pool; `ks` null means the
// active kernels.
void linear(const float* x, int64_t ldx, int64_t M, const PackedMatrix& w, const float* bias, float* y,
            int64_t ldy, ThreadPool* pool = nullptr, const KernelSet* ks = nullptr);

}  // namespace qasr
