// The kernel interface: one table of function pointers per instruction set,
// chosen at run time from the CPU's features (or forced with QASR_KERNEL /
// set_kernel). Every variant computes docs/quantization.md bit for bit.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/packed.h"

namespace qasr {

// Dynamically quantized activations of M rows (a view; rows are contiguous).
struct QuantizedActs {
  int64_t M = 0;
  int64_t K = 0;
  int64_t blocks = 0;              // ceil(K / 32)
  const int8_t* codes = nullptr;   // [M][blocks * 32], zero padded
  const float* scales = nullptr;   // [M][blocks]
  const int32_t* sums = nullptr;   // [M][blocks]
  QuantizedActs rows(int64_t begin, int64_t count) const {
    QuantizedActs r = *this;
    r.M = count;
    r.codes += begin * blocks * 32;
    r.scales += begin * blocks;
    r.sums += begin * blocks;
    return r;
  }
};

// x: [M][ldx] float, K valid columns. Writes the QuantizedActs arrays.
using QuantizeActsFn = void (*)(const float* x, int64_t ldx, int64_t M, int64_t K, int8_t* codes,
                                float* scales, int32_t* sums);
// y[m][n] for all rows of `x` and the columns of panels [p0, p1) of `w`
// (columns beyond N are not written). bias may be null.
using QGemmFn = void (*)(const QuantizedActs& x, const PackedMatrix& w, const float* bias, float* y,
                         int64_t ldy, int64_t p0, int64_t p1);
// Float path: y = x · wᵀ + bias over f32 panels [p0, p1).
using SGemmFn = void (*)(const float* x, int64_t ldx, int64_t M, const PackedMatrix& w,
                         const float* bias, float* y, int64_t ldy, int64_t p0, int64_t p1);

struct KernelSet {
  const char* name;
  QuantizeActsFn quantize;
  QGemmFn gemm_q8;
  QGemmFn gemm_q4;  // q4 and q4a
  SGemmFn sgemm;
};

// Variants compiled into this build, each returning null when the CPU lacks
// the instructions it needs.
const KernelSet* kernels_scalar();
const KernelSet* kernels_avx2();
const KernelSet* kernels_avxvnni();
const KernelSet* kernels_avx512vnni();
const KernelSet* kernels_neon();
const KernelSet* kernels_neondot();

// The active variant: QASR_KERNEL when set (an unknown or unsupported name
// is an error), else the best the CPU supports.
const KernelSet& active_kernels();
// Forces a variant by name ("auto" restores the default). Throws
// InvalidInput when the name is unknown or the CPU cannot run it.
void set_kernels(const std::string& name);
// Names of the variants this CPU can run, best last.
std::vector<std::string> available_kernels();
const KernelSet& kernels_by_name(const std::string& name);

}  // namespace qasr
