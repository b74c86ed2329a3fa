// AVX-VNNI kernels (VEX vpdpbusd on ymm). The loops live in x86_ymm.inc, shared with the
// other 256-bit variant; see it for the arithmetic.
//
// Compiled with ISA flags: no STL, no inline functions shared with other
// files, no member functions of the shared structs (any of them could be
// emitted here with these instructions and picked by the linker elsewhere).
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "kernels/isa_tables.h"
#include "kernels/kernels.h"
#include "kernels/quantize.h"

#define QASR_VNNI 1

namespace qasr {
namespace {

#include "kernels/x86_common.inc"
#include "kernels/x86_ymm.inc"

const KernelSet kSet = {"avxvnni", quantize_acts, gemm_q8, gemm_q4, sgemm};

}  // namespace

const KernelSet* avxvnni_table() { return &kSet; }

}  // namespace qasr
