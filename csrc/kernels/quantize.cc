#include "kernels/quantize.h"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>

#include "common/error.h"
#include "common/fp16.h"

namespace qasr {

AlignedBytes::AlignedBytes(size_t n) : size_(n) {
  if (n == 0) return;
  ptr_ = static_cast<uint8_t*>(std::aligned_alloc(kAlign, align_up(n, kAlign)));
  if (!ptr_) fail("out of memory allocating " + std::to_string(n) + " bytes");
  std::memset(ptr_, 0, align_up(n, kAlign));
}
AlignedBytes::~AlignedBytes() { std::free(ptr_); }
AlignedBytes::AlignedBytes(AlignedBytes&& o) noexcept : ptr_(o.ptr_), size_(o.size_) {
  o.ptr_ = nullptr;
  o.size_ = 0;
}
AlignedBytes& AlignedBytes::operator=(AlignedBytes&& o) noexcept {
  if (this != &o) {
    std::free(ptr_);
    ptr_ = o.ptr_;
    size_ = o.size_;
    o.ptr_ = nullptr;
    o.size_ = 0;
  }
  return *this;
}

namespace {

struct GroupSpan {
  int64_t begin, end;
};
GroupSpan group_span(int64_t K, int group, int64_t g) {
  if (group == 0) return {0, K};
  const int64_t b = g * group;
  return {b, std::min<int64_t>(K, b + group)};
}

int64_t group_count(int64_t K, int group) { return group == 0 ? 1 : (K + group - 1) / group; }

void check_finite(const float* w, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    if (!std::isfinite(w[i])) invalid("weights contain NaN or Inf at flat index " + std::to_string(i));
  }
}

}  // namespace

void default_scales(WeightFormat f, const float* w, int64_t N, int64_t K, int group,
                    uint16_t* scales, uint8_t* zeros) {
  const int64_t G = group_count(K, group);
  for (int64_t n = 0; n < N; ++n) {
    const float* row = w + n * K;
    for (int64_t g = 0; g < G; ++g) {
      const GroupSpan sp = group_span(K, group, g);
      float s = 0.0f;
      uint8_t z = 0;
      if (f == WeightFormat::Q8) {
        float amax = 0.0f;
        for (int64_t k = sp.begin; k < sp.end; ++k) amax = std::max(amax, std::fabs(row[k]));
        s = amax / 127.0f;
      } else if (f == WeightFormat::Q4) {
        float m = 0.0f, amax = 0.0f;
        for (int64_t k = sp.begin; k < sp.end; ++k) {
          if (std::fabs(row[k]) > amax) {
            amax = std::fabs(row[k]);
            m = row[k];
          }
        }
        s = m / -8.0f;
      } else if (f == WeightFormat::Q4A) {
        float lo = 0.0f, hi = 0.0f;
        for (int64_t k = sp.begin; k < sp.end; ++k) {
          lo = std::min(lo, row[k]);
          hi = std::max(hi, row[k]);
        }
        s = (hi - lo) / 15.0f;
        const float s16 = f16_to_f32(f32_to_f16(s));
        if (s16 != 0.0f) {
          const float zf = std::nearbyint(-lo / s16);
          z = static_cast<uint8_t>(std::min(15.0f, std::max(0.0f, zf)));
        }
      } else {
        invalid("default_scales: f32 has no scales");
      }
      scales[n * G + g] = f32_to_f16(s);
      if (zeros) zeros[n * G + g] = z;
    }
  }
}

QuantizedWeights quantize_weights(WeightFormat f, const float* w, int64_t N, int64_t K, int group,
                                  const uint16_t* scales, const uint8_t* zeros) {
  const PackedLayout layout = PackedLayout::make(f, N, K, group);  // validates the arguments
  if (f == WeightFormat::F32) invalid("quantize_weights: f32 is not a quantized format");
  check_finite(w, N * K);
  QuantizedWeights q;
  q.format = f;
  q.N = N;
  q.K = K;
  q.group = group;
  const int64_t G = layout.groups;
  q.scales.resize(N * G);
  if (f == WeightFormat::Q4A) q.zeros.resize(N * G);
  if (scales) {
    std::memcpy(q.scales.data(), scales, N * G * sizeof(uint16_t));
    if (f == WeightFormat::Q4A) {
      if (!zeros) invalid("q4a scales given without zero points");
      for (int64_t i = 0; i < N * G; ++i) {
        if (zeros[i] > 15) invalid("q4a zero point " + std::to_string(zeros[i]) + " is outside [0, 15]");
      }
      std::memcpy(q.zeros.data(), zeros, N * G);
    }
  } else {
    default_scales(f, w, N, K, group, q.scales.data(), f == WeightFormat::Q4A ? q.zeros.data() : nullptr);
  }
  q.codes.resize(N * K);
  const float lo = f == WeightFormat::Q8 ? -127.0f : -8.0f;
  const float hi = f == WeightFormat::Q8 ? 127.0f : 7.0f;
  const int zsym = implicit_zero(f);
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t g = 0; g < G; ++g) {
      const float s = f16_to_f32(q.scales[n * G + g]);
      if (!std::isfinite(s)) {
        invalid("scale of row " + std::to_string(n) + ", group " + std::to_string(g) +
                " is not finite in f16 (weights too large for this format)");
      }
      const GroupSpan sp = group_span(K, group, g);
      const int z = f == WeightFormat::Q4A ? q.zeros[n * G + g] : zsym;
      for (int64_t k = sp.begin; k < sp.end; ++k) {
        int u = z;
        if (s != 0.0f) {
          const float r = std::nearbyint(w[n * K + k] / s);
          if (f == WeightFormat::Q4A) {
            u = static_cast<int>(std::min(15.0f, std::max(0.0f, r + static_cast<float>(z))));
          } else {
            u = static_cast<int>(std::min(hi, std::max(lo, r))) + zsym;
          }
        }
        q.codes[n * K + k] = static_cast<uint8_t>(u);
      }
    }
  }
  return q;
}

AlignedBytes pack_quantized(const QuantizedWeights& q) {
  const PackedLayout l = PackedLayout::make(q.format, q.N, q.K, q.group);
  if (q.format == WeightFormat::F32) invalid("pack_quantized: f32 is not a quantized format");
  const int64_t G = l.groups;
  if (static_cast<int64_t>(q.codes.size()) != q.N * q.K || static_cast<int64_t>(q.scales.size()) != q.N * G ||
      (q.format == WeightFormat::Q4A && static_cast<int64_t>(q.zeros.size()) != q.N * G)) {
    invalid("pack_quantized: array sizes do not match the shape");
  }
  const uint8_t umax = q.format == WeightFormat::Q8 ? 255 : 15;
  AlignedBytes out(l.total_bytes);
  uint8_t* codes = out.data() + l.codes_offset;
  uint16_t* scales = reinterpret_cast<uint16_t*>(out.data() + l.scales_offset);
  uint8_t* zeros = out.data() + l.zeros_offset;
  const bool q8 = q.format == WeightFormat::Q8;
  for (int64_t p = 0; p < l.panels; ++p) {
    for (int64_t b = 0; b < l.blocks; ++b) {
      uint8_t* tile = codes + (p * l.blocks + b) * l.block_bytes;
      const int64_t g = l.group_of_block(b);
      for (int n = 0; n < kPanel; ++n) {
        const int64_t row = p * kPanel + n;
        const int pad = row < q.N ? (q.format == WeightFormat::Q4A ? q.zeros[row * G + g] : implicit_zero(q.format))
                                  : implicit_zero(q.format);
        auto code = [&](int64_t k) -> uint8_t {
          if (row >= q.N || k >= q.K) return static_cast<uint8_t>(pad);
          const uint8_t u = q.codes[row * q.K + k];
          if (u > umax || (q8 && u == 0)) invalid("code out of range at row " + std::to_string(row));
          return u;
        };
        for (int kq = 0; kq < (q8 ? 8 : 4); ++kq) {
          for (int kk = 0; kk < 4; ++kk) {
            const int64_t k = b * kBlock + kq * 4 + kk;
            uint8_t v;
            if (q8) {
              v = code(k);
            } else {
              v = static_cast<uint8_t>(code(k) | code(k + 16) << 4);
            }
            tile[kq * 64 + n * 4 + kk] = v;
          }
        }
      }
    }
    for (int64_t g = 0; g < G; ++g) {
      for (int n = 0; n < kPanel; ++n) {
        const int64_t row = p * kPanel + n;
        const size_t i = (p * G + g) * kPanel + n;
        scales[i] = row < q.N ? q.scales[row * G + g] : 0;
        if (q.format == WeightFormat::Q4A) zeros[i] = row < q.N ? q.zeros[row * G + g] : 0;
      }
    }
  }
  return out;
}

QuantizedWeights unpack_quantized(const PackedMatrix& m) {
  const PackedLayout& l = m.layout;
  if (l.format == WeightFormat::F32) invalid("unpack_quantized: f32 is not a quantized format");
  QuantizedWeights q;
  q.format = l.format;
  q.N = l.N;
  q.K = l.K;
  q.group = l.group;
  const int64_t G = l.groups;
  q.codes.resize(l.N * l.K);
  q.scales.resize(l.N * G);
  if (l.format == WeightFormat::Q4A) q.zeros.resize(l.N * G);
  const bool q8 = l.format == WeightFormat::Q8;
  for (int64_t row = 0; row < l.N; ++row) {
    const int64_t p = row / kPanel;
    const int n = static_cast<int>(row % kPanel);
    for (int64_t k = 0; k < l.K; ++k) {
      const int64_t b = k / kBlock;
      const int kin = static_cast<int>(k % kBlock);
      const uint8_t* tile = m.tile(p, b);
      uint8_t u;
      if (q8) {
        u = tile[(kin / 4) * 64 + n * 4 + kin % 4];
      } else {
        const int half = kin / 16, kr = kin % 16;
        const uint8_t byte = tile[(kr / 4) * 64 + n * 4 + kr % 4];
        u = half ? byte >> 4 : byte & 0x0F;
      }
      q.codes[row * l.K + k] = u;
    }
    for (int64_t g = 0; g < G; ++g) {
      q.scales[row * G + g] = m.scale_row(p, g)[n];
      if (l.format == WeightFormat::Q4A) q.zeros[row * G + g] = m.zero_row(p, g)[n];
    }
  }
  return q;
}

AlignedBytes pack_f32(const float* w, int64_t N, int64_t K) {
  const PackedLayout l = PackedLayout::make(WeightFormat::F32, N, K, 0);
  AlignedBytes out(l.total_bytes);
  float* dst = reinterpret_cast<float*>(out.data());
  for (int64_t p = 0; p < l.panels; ++p) {
    for (int64_t k = 0; k < K; ++k) {
      for (int n = 0; n < kPanel; ++n) {
        const int64_t row = p * kPanel + n;
        dst[(p * K + k) * kPanel + n] = row < N ? w[row * K + k] : 0.0f;
      }
    }
  }
  return out;
}

std::vector<float> unpack_f32(const PackedMatrix& m) {
  const PackedLayout& l = m.layout;
  if (l.format != WeightFormat::F32) invalid("unpack_f32: matrix is not f32");
  std::vector<float> w(l.N * l.K);
  const float* src = m.f32();
  for (int64_t row = 0; row < l.N; ++row) {
    for (int64_t k = 0; k < l.K; ++k) {
      w[row * l.K + k] = src[((row / kPanel) * l.K + k) * kPanel + row % kPanel];
    }
  }
  return w;
}

void quantize_activations_ref(const float* x, int64_t ldx, int64_t M, int64_t K, int8_t* codes,
                              float* scales, int32_t* sums) {
  const int64_t nb = (K + kBlock - 1) / kBlock;
  for (int64_t m = 0; m < M; ++m) {
    const float* row = x + m * ldx;
    for (int64_t b = 0; b < nb; ++b) {
      const int64_t k0 = b * kBlock;
      const int64_t k1 = std::min<int64_t>(K, k0 + kBlock);
      float amax = 0.0f;
      for (int64_t k = k0; k < k1; ++k) amax = std::max(amax, std::fabs(row[k]));
      int8_t* q = codes + (m * nb + b) * kBlock;
      int32_t sum = 0;
      float s = 0.0f;
      const float id = 127.0f / amax;
      if (std::isinf(id)) {  // all zeros, or so small that 127 / amax overflows
        std::memset(q, 0, kBlock);
      } else {
        s = amax / 127.0f;
        for (int64_t k = k0; k < k0 + kBlock; ++k) {
          int v = 0;
          if (k < k1) {
            const float r = std::nearbyint(row[k] * id);
            v = static_cast<int>(std::min(127.0f, std::max(-127.0f, r)));
          }
          q[k - k0] = static_cast<int8_t>(v);
          sum += v;
        }
      }
      scales[m * nb + b] = s;
      sums[m * nb + b] = sum;
    }
  }
}

}  // namespace qasr
