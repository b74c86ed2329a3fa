// Internal to the kernels: the SIMD variants' tables, fetched without any
// CPU check. Each is defined in its instruction-set translation unit
// (compiled with that ISA's flags); dispatch.cc, compiled without them,
// calls one only after cpu_features() says this CPU can run it, so no
// instruction the CPU lacks can execute, not even in a getter's prologue.
#pragma once

#include "kernels/kernels.h"

namespace qasr {

const KernelSet* avx2_table();
const KernelSet* avxvnni_table();
const KernelSet* avx512vnni_table();
const KernelSet* neon_table();
const KernelSet* neondot_table();

}  // namespace qasr
