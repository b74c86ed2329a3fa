// Packed weight matrices: the byte layout that the file stores and the
// kernels read in place. See docs/format.md ("Packed matrices") and
// docs/quantization.md for the math.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace qasr {

enum class WeightFormat : uint8_t {
  F32 = 0,  // float32 panels [P][K][16]
  Q8 = 1,   // int8 symmetric, per (row, group) f16 scales
  Q4 = 2,   // int4 symmetric, per (row, group) f16 scales
  Q4A = 3,  // int4 asymmetric, per (row, group) f16 scales + u8 zero points
};

constexpr int kPanel = 16;  // output columns (rows of W) per panel
constexpr int kBlock = 32;  // activation block along K
constexpr size_t kAlign = 64;

const char* format_name(WeightFormat f);
// Parses "f32" / "q8" / "q4" / "q4a"; throws InvalidInput otherwise.
WeightFormat parse_format(const std::string& name);
// Zero point implied by a symmetric format (128 for q8, 8 for q4).
int implicit_zero(WeightFormat f);

static inline size_t align_up(size_t v, size_t a) { return (v + a - 1) / a * a; }

// Sizes and section offsets of one packed matrix W[N, K]; everything the
// reader and the kernels derive from (format, N, K, group).
struct PackedLayout {
  WeightFormat format = WeightFormat::F32;
  int64_t N = 0, K = 0;
  int group = 0;        // 32, 64, 128, or 0 = one group per row
  int64_t panels = 0;   // ceil(N / 16)
  int64_t blocks = 0;   // ceil(K / 32)
  int64_t groups = 0;   // ceil(K / group), 1 when group == 0
  int64_t blocks_per_group = 0;  // group / 32 (blocks when group == 0)
  size_t block_bytes = 0;        // code bytes of one (panel, block) tile
  size_t codes_offset = 0, codes_bytes = 0;
  size_t scales_offset = 0, scales_bytes = 0;
  size_t zeros_offset = 0, zeros_bytes = 0;
  size_t total_bytes = 0;

  // Validates the arguments (supported group for the format, positive and
  // overflow-free sizes) and throws InvalidInput with the reason otherwise.
  static PackedLayout make(WeightFormat format, int64_t N, int64_t K, int group);
  int64_t group_of_block(int64_t b) const { return group == 0 ? 0 : b / blocks_per_group; }
};

// A read-only view of a packed matrix living in a file mapping or buffer.
struct PackedMatrix {
  PackedLayout layout;
  const uint8_t* data = nullptr;  // layout.total_bytes, 64-byte aligned

  const uint8_t* codes() const { return data + layout.codes_offset; }
  const uint16_t* scales() const {
    return reinterpret_cast<const uint16_t*>(data + layout.scales_offset);
  }
  const uint8_t* zeros() const { return data + layout.zeros_offset; }
  const float* f32() const { return reinterpret_cast<const float*>(data); }
  // Code tile of (panel p, block b).
  const uint8_t* tile(int64_t p, int64_t b) const {
    return codes() + (static_cast<size_t>(p) * layout.blocks + b) * layout.block_bytes;
  }
  // 16 f16 scales of (panel p, group g).
  const uint16_t* scale_row(int64_t p, int64_t g) const {
    return scales() + (static_cast<size_t>(p) * layout.groups + g) * kPanel;
  }
  const uint8_t* zero_row(int64_t p, int64_t g) const {
    return zeros() + (static_cast<size_t>(p) * layout.groups + g) * kPanel;
  }
};

}  // namespace qasr
