// One row of a packed matrix back as floats: the embedding lookup of a model
// whose token embeddings share the output projection's stored matrix
// (Whisper's tied embeddings), without unpacking the whole matrix.
#pragma once

#include <cstdint>

#include "kernels/packed.h"

namespace qasr {

// out[k] = W[r][k] for k < K: the f32 value, or s * (u - z) for quantized
// formats (binary32, as the Python mirror's dequantize). Throws InvalidInput
// on an out-of-range row.
void packed_row(const PackedMatrix& w, int64_t r, float* out);

}  // namespace qasr
