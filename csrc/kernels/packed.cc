#include "kernels/packed.h"

#include <limits>

#include "common/error.h"

namespace qasr {

const char* format_name(WeightFormat f) {
  switch (f) {
    case WeightFormat::F32: return "f32";
    case WeightFormat::Q8: return "q8";
    case WeightFormat::Q4: return "q4";
    case WeightFormat::Q4A: return "q4a";
  }
  return "?";
}

WeightFormat parse_format(const std::string& name) {
  if (name == "f32") return WeightFormat::F32;
  if (name == "q8") return WeightFormat::Q8;
  if (name == "q4") return WeightFormat::Q4;
  if (name == "q4a") return WeightFormat::Q4A;
  invalid("unknown weight format '" + name + "' (expected f32, q8, q4 or q4a)");
}

int implicit_zero(WeightFormat f) {
  switch (f) {
    case WeightFormat::Q8: return 128;
    case WeightFormat::Q4: return 8;
    default: return 0;
  }
}

namespace {
// a * b, throwing when the product does not fit size_t.
size_t mul_checked(size_t a, size_t b) {
  if (a != 0 && b > std::numeric_limits<size_t>::max() / a) invalid("packed matrix size overflows");
  return a * b;
}
size_t add_checked(size_t a, size_t b) {
  if (b > std::numeric_limits<size_t>::max() - a) invalid("packed matrix size overflows");
  return a + b;
}
// Sections beyond 2^56 bytes are rejected so that aligning them up cannot wrap.
size_t bounded(size_t v) {
  if (v > (size_t{1} << 56)) invalid("packed matrix is too large");
  return v;
}
}  // namespace

PackedLayout PackedLayout::make(WeightFormat format, int64_t N, int64_t K, int group) {
  // 2^40 elements per side is far beyond any model and keeps all the
  // arithmetic below comfortably inside 64 bits.
  constexpr int64_t kMaxDim = int64_t{1} << 40;
  if (N <= 0 || K <= 0 || N > kMaxDim || K > kMaxDim) {
    invalid("packed matrix shape [" + std::to_string(N) + ", " + std::to_string(K) +
            "] is invalid");
  }
  PackedLayout l;
  l.format = format;
  l.N = N;
  l.K = K;
  l.group = group;
  l.panels = (N + kPanel - 1) / kPanel;
  const size_t P = static_cast<size_t>(l.panels);
  if (format == WeightFormat::F32) {
    if (group != 0) invalid("f32 matrices take no group (got " + std::to_string(group) + ")");
    l.codes_bytes = bounded(mul_checked(mul_checked(P, static_cast<size_t>(K)), kPanel * sizeof(float)));
    l.total_bytes = l.codes_bytes;
    return l;
  }
  const bool group_ok = group == 32 || group == 64 || group == 128 || (group == 0 && format == WeightFormat::Q8);
  if (!group_ok) {
    invalid(std::string("group ") + std::to_string(group) + " is not supported for " +
            format_name(format) + " (q8: 32, 64, 128 or 0 = per row; q4/q4a: 32, 64, 128)");
  }
  l.blocks = (K + kBlock - 1) / kBlock;
  l.groups = group == 0 ? 1 : (K + group - 1) / group;
  l.blocks_per_group = group == 0 ? l.blocks : group / kBlock;
  l.block_bytes = format == WeightFormat::Q8 ? kPanel * kBlock : kPanel * kBlock / 2;
  const size_t B = static_cast<size_t>(l.blocks), G = static_cast<size_t>(l.groups);
  l.codes_offset = 0;
  l.codes_bytes = bounded(mul_checked(mul_checked(P, B), l.block_bytes));
  l.scales_offset = align_up(l.codes_bytes, kAlign);
  l.scales_bytes = bounded(mul_checked(mul_checked(P, G), kPanel * sizeof(uint16_t)));
  l.total_bytes = add_checked(l.scales_offset, l.scales_bytes);
  if (format == WeightFormat::Q4A) {
    l.zeros_offset = align_up(l.total_bytes, kAlign);
    l.zeros_bytes = bounded(mul_checked(mul_checked(P, G), kPanel));
    l.total_bytes = add_checked(l.zeros_offset, l.zeros_bytes);
  }
  return l;
}

}  // namespace qasr
