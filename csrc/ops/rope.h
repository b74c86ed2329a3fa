// Rotary position embedding, rotate-half (GPT-NeoX) layout, as
// docs/conformer.md defines it: angles in float64 from integer positions,
// cos/sin rounded to float32.
#pragma once

#include <cstdint>
#include <vector>

namespace qasr {

// cos/sin tables [rows][head_dim / 2] for positions pos0 .. pos0 + rows - 1.
struct RopeTable {
  int64_t rows = 0;
  int half = 0;
  std::vector<float> cos, sin;
  void compute(int64_t pos0, int64_t rows, int head_dim, double base);
};

// Rotates every head of x [rows][ld] (heads of head_dim columns from column
// 0) in place: x*cos + rotate_half(x)*sin.
void apply_rope(float* x, int64_t rows, int64_t ld, int heads, int head_dim, const RopeTable& t);

}  // namespace qasr
