#include "ops/packed_row.h"

#include <string>

#include "common/error.h"
#include "common/fp16.h"

namespace qasr {

void packed_row(const PackedMatrix& w, int64_t r, float* out) {
  const PackedLayout& l = w.layout;
  if (r < 0 || r >= l.N) {
    invalid("packed_row: row " + std::to_string(r) + " is outside the matrix of " + std::to_string(l.N) + " rows");
  }
  const int64_t p = r / kPanel;
  const int j = static_cast<int>(r % kPanel);
  if (l.format == WeightFormat::F32) {
    const float* panel = w.f32() + p * l.K * kPanel;
    for (int64_t k = 0; k < l.K; ++k) out[k] = panel[k * kPanel + j];
    return;
  }
  const bool q8 = l.format == WeightFormat::Q8;
  for (int64_t b = 0; b < l.blocks; ++b) {
    const int64_t g = l.group_of_block(b);
    const float s = f16_to_f32(w.scale_row(p, g)[j]);
    const int z = l.format == WeightFormat::Q4A ? w.zero_row(p, g)[j] : implicit_zero(l.format);
    const uint8_t* tile = w.tile(p, b);
    const int64_t k0 = b * kBlock;
    for (int i = 0; i < kBlock && k0 + i < l.K; ++i) {
      int u;
      if (q8) {
        u = tile[(i / 4) * 64 + j * 4 + i % 4];
      } else {
        const int ii = i % 16;
        const uint8_t byte = tile[(ii / 4) * 64 + j * 4 + ii % 4];
        u = i < 16 ? (byte & 0x0F) : (byte >> 4);
      }
      out[k0 + i] = s * static_cast<float>(u - z);
    }
  }
}

}  // namespace qasr
