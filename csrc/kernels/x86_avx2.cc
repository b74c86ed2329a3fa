// avx2 kernels: placeholder returning null until the SIMD loops land.
#include "common/cpu_features.h"
#include "kernels/kernels.h"

namespace qasr {
const KernelSet* kernels_avx2() { return nullptr; }
}  // namespace qasr
