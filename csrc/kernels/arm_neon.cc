// NEON kernels for AArch64 cores without dotprod (Cortex-A72 class): widening multiply-accumulate.
// The loops live in arm_common.inc, shared with the other AArch64 variant;
// see it for the arithmetic.
//
// Keep this file free of STL and of inline functions shared with other
// files: with ISA flags, any of them could be emitted here and picked by the
// linker for code that runs on CPUs without these instructions.
#include <arm_neon.h>
#include <stdint.h>
#include <string.h>

#include "kernels/isa_tables.h"
#include "kernels/kernels.h"
#include "kernels/quantize.h"

#define QASR_DOTPROD 0

namespace qasr {
namespace {

#include "kernels/arm_common.inc"

const KernelSet kSet = {"neon", quantize_acts, gemm_q8, gemm_q4, sgemm};

}  // namespace

const KernelSet* neon_table() { return &kSet; }

}  // namespace qasr
