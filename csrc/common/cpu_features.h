// What the CPU we run on can do, read once from cpuid/xgetbv (x86) or the
// auxiliary vector (aarch64). Kernel dispatch reads this, never -march.
#pragma once

#include <string>

namespace qasr {

struct CpuFeatures {
  bool avx2 = false;        // AVX2 + FMA + F16C, OS saves ymm
  bool avxvnni = false;     // AVX-VNNI (VEX vpdpbusd on ymm)
  bool avx512vnni = false;  // AVX512 F/BW/VL/VNNI, OS saves zmm
  bool neon = false;        // AArch64 Advanced SIMD
  bool neon_dotprod = false;  // sdot/udot (ARMv8.2 DotProd)
  std::string describe() const;
};

const CpuFeatures& cpu_features();

}  // namespace qasr
