// neondot kernels: placeholder until the SIMD loops land.
#include "kernels/isa_tables.h"

namespace qasr {
const KernelSet* neondot_table() { return nullptr; }
}  // namespace qasr
