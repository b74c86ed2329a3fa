// AVX512-VNNI kernels. One 64-byte row of a packed tile is one zmm: 16
// output columns x 4 consecutive k, so `vpdpbusd` consumes the unsigned codes
// exactly as stored against a broadcast dword of 4 activation codes, and the
// zero point is removed once per block with the activation block sum.
// Float operations follow docs/quantization.md in the scalar reference's
// order, so results are bit-identical to it.
//
// Compiled with AVX-512 flags: no STL, no inline functions shared with other
// files (only static helpers and templates in an unnamed namespace), no
// member functions of the shared structs (they could be emitted here with
// AVX-512 code and picked by the linker for other files).
#if defined(__GNUC__) && !defined(__clang__)
// GCC 12's own AVX-512 headers trip -Wmaybe-uninitialized (the
// _mm512_undefined_* placeholders inside the reduction intrinsics).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "kernels/isa_tables.h"
#include "kernels/kernels.h"
#include "kernels/quantize.h"

namespace qasr {
namespace {

#include "kernels/x86_common.inc"

// ---------------------------------------------------------------------------
// Activation quantizer (docs/quantization.md section 3), 32 floats per block.

// Horizontal reductions of 16 vectors at once: lane i of the result
// reduces all lanes of v[i]. A transpose-like tree (46 shuffles and ops for
// 16 vectors) instead of 16 separate reductions.
template <typename Op>
static inline __m512i reduce16(__m512i* v, Op op) {
  for (int k = 0; k < 8; ++k) {  // 16 -> 8: 256-bit halves
    const __m512i lo = _mm512_shuffle_i32x4(v[2 * k], v[2 * k + 1], 0x44);
    const __m512i hi = _mm512_shuffle_i32x4(v[2 * k], v[2 * k + 1], 0xEE);
    v[k] = op(lo, hi);
  }
  for (int k = 0; k < 4; ++k) {  // 8 -> 4: 128-bit quarters, one block per quarter
    const __m512i lo = _mm512_shuffle_i32x4(v[2 * k], v[2 * k + 1], 0x88);
    const __m512i hi = _mm512_shuffle_i32x4(v[2 * k], v[2 * k + 1], 0xDD);
    v[k] = op(lo, hi);
  }
  for (int k = 0; k < 2; ++k) {  // 4 -> 2: pairs of lanes
    const __m512 x = _mm512_castsi512_ps(v[2 * k]), y = _mm512_castsi512_ps(v[2 * k + 1]);
    v[k] = op(_mm512_castps_si512(_mm512_shuffle_ps(x, y, 0x44)), _mm512_castps_si512(_mm512_shuffle_ps(x, y, 0xEE)));
  }
  const __m512 x = _mm512_castsi512_ps(v[0]), y = _mm512_castsi512_ps(v[1]);
  const __m512i e = op(_mm512_castps_si512(_mm512_shuffle_ps(x, y, 0x88)), _mm512_castps_si512(_mm512_shuffle_ps(x, y, 0xDD)));
  // Lane 4q + l now holds vector 4l + q.
  const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  return _mm512_permutexvar_epi32(order, e);
}

static inline __m512i max_ps_i(__m512i a, __m512i b) {
  return _mm512_castps_si512(_mm512_max_ps(_mm512_castsi512_ps(a), _mm512_castsi512_ps(b)));
}
static inline __m512i add_i(__m512i a, __m512i b) { return _mm512_add_epi32(a, b); }

void quantize_acts(const float* x, int64_t ldx, int64_t M, int64_t K, int8_t* codes, float* scales,
                   int32_t* sums) {
  const int64_t nb = (K + 31) / 32, full = K / 32;
  const __m512 absmask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
  const __m512 lo = _mm512_set1_ps(-127.0f), hi = _mm512_set1_ps(127.0f);
  // Block maximum of |x| ignoring NaN: max(new, acc) keeps acc when `new`
  // is NaN, like the scalar std::max(amax, |x|).
  auto block_absmax = [&](const float* p) {
    const __m512 a = _mm512_max_ps(_mm512_and_ps(_mm512_loadu_ps(p), absmask), _mm512_setzero_ps());
    return _mm512_max_ps(_mm512_and_ps(_mm512_loadu_ps(p + 16), absmask), a);
  };
  // Codes of one block for 127 / amax; returns their int32 lanes summed
  // pairwise (the block sum is the sum of the lanes). A NaN product becomes
  // -127 through max(NaN, -127), as in the scalar clamp; the conversion
  // rounds to nearest even.
  auto block_codes = [&](const float* p, __m512 id, int8_t* q) {
    const __m512i i0 = _mm512_cvtps_epi32(_mm512_min_ps(_mm512_max_ps(_mm512_mul_ps(_mm512_loadu_ps(p), id), lo), hi));
    const __m512i i1 =
        _mm512_cvtps_epi32(_mm512_min_ps(_mm512_max_ps(_mm512_mul_ps(_mm512_loadu_ps(p + 16), id), lo), hi));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(q), _mm512_cvtepi32_epi8(i0));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(q + 16), _mm512_cvtepi32_epi8(i1));
    return _mm512_add_epi32(i0, i1);
  };
  for (int64_t m = 0; m < M; ++m) {
    const float* row = x + m * ldx;
    int8_t* q = codes + m * nb * 32;
    float* s = scales + m * nb;
    int32_t* su = sums + m * nb;
    int64_t b = 0;
    // 16 blocks at a time: maxima, divisions and sums vectorized across blocks.
    for (; b + 16 <= full; b += 16) {
      __m512i v[16];
      for (int i = 0; i < 16; ++i) v[i] = _mm512_castps_si512(block_absmax(row + 32 * (b + i)));
      const __m512 amax = _mm512_castsi512_ps(reduce16(v, max_ps_i));
      const __m512 idv = _mm512_div_ps(_mm512_set1_ps(127.0f), amax);
      // 127 / amax is +inf for all-zero and (near-)subnormal blocks: zero codes.
      const __mmask16 zero = _mm512_cmp_ps_mask(idv, _mm512_set1_ps(__builtin_inff()), _CMP_EQ_OQ);
      alignas(64) float ids[16];
      _mm512_store_ps(ids, idv);
      _mm512_storeu_ps(s + b, _mm512_maskz_div_ps(static_cast<__mmask16>(~zero), amax, _mm512_set1_ps(127.0f)));
      for (int i = 0; i < 16; ++i) {
        if (zero & (1u << i)) {
          memset(q + 32 * (b + i), 0, 32);
          v[i] = _mm512_setzero_si512();
        } else {
          v[i] = block_codes(row + 32 * (b + i), _mm512_set1_ps(ids[i]), q + 32 * (b + i));
        }
      }
      _mm512_storeu_si512(su + b, reduce16(v, add_i));
    }
    for (; b < full; ++b) {
      const float amax = _mm512_reduce_max_ps(block_absmax(row + 32 * b));
      if (__builtin_isinf(127.0f / amax)) {
        memset(q + 32 * b, 0, 32);
        s[b] = 0.0f;
        su[b] = 0;
        continue;
      }
      s[b] = amax / 127.0f;
      su[b] = _mm512_reduce_add_epi32(block_codes(row + 32 * b, _mm512_set1_ps(127.0f / amax), q + 32 * b));
    }
    // A partial last block: its padding codes are zero by definition.
    if (nb > full) quantize_activations_ref(row + 32 * full, ldx, 1, K - 32 * full, q + 32 * full, s + full, su + full);
  }
}

// ---------------------------------------------------------------------------
// Integer GEMM microkernel: R rows x NP panels over blocks [b0, b1).
//
// W8: weights in the q8 tile layout (8 rows of 64 bytes per block, as stored
// for q8 or unpacked from q4 into scratch); otherwise packed q4 (4 rows,
// low nibble k, high nibble k + 16) unpacked in registers.
// ASYM: per-column zero points (q4a) instead of the constant `zc`.

struct Tile {
  const uint8_t* w[4];      // weights of block b0, per panel
  int64_t wstride;          // bytes from one block to the next
  const uint16_t* s[4];     // scale rows of group 0, per panel
  const uint8_t* z[4];      // zero-point rows of group 0 (q4a), per panel
  int64_t bpg;              // blocks per group
  const int8_t* xc;         // activation codes of the first row, block 0
  const float* sx;          // activation scales of the first row
  const int32_t* xs;        // activation block sums of the first row
  int64_t nb;               // blocks per activation row
  int zc;                   // constant zero point (q8 128, q4 8)
  const int32_t* nz;        // GEMM path: -zc * xs per (row, block of the chunk), or null
  int64_t nzs;              // row stride of nz
  int64_t nzb0;             // block of nz's first column
  float* acc;               // R x (NP*16) float accumulators, row stride 64
  bool first;               // acc starts at zero (else it is loaded)
  bool last;                // the last blocks: write y (+ bias) instead of acc
  float* y;                 // output row of the tile's first row, column 0
  int64_t ldy;
  const float* bias;        // may be null
  int64_t col0;             // first output column of panel j = 0
  int64_t N;                // columns at or beyond N are not written
};

// The accumulators of a finished tile into y, plus bias, masked to N.
template <int R, int NP>
static inline void write_out(const Tile& t, __m512 (&fa)[R][NP]) {
  for (int j = 0; j < NP; ++j) {
    const int64_t col = t.col0 + 16 * j;
    const int64_t valid = imin(16, t.N - col);
    if (valid <= 0) break;
    const __mmask16 mask = static_cast<__mmask16>((1u << valid) - 1);
    const __m512 bv = t.bias ? _mm512_maskz_loadu_ps(mask, t.bias + col) : _mm512_setzero_ps();
    for (int r = 0; r < R; ++r) {
      const __m512 v = t.bias ? _mm512_add_ps(fa[r][j], bv) : fa[r][j];
      _mm512_mask_storeu_ps(t.y + r * t.ldy + col, mask, v);
    }
  }
}

template <int R, int NP, bool W8, bool ASYM, bool NZ>
void tile_kernel(const Tile& t, int64_t b0, int64_t b1) {
  __m512 fa[R][NP];
  for (int r = 0; r < R; ++r)
    for (int j = 0; j < NP; ++j)
      fa[r][j] = t.first ? _mm512_setzero_ps() : _mm512_load_ps(t.acc + r * 64 + j * 16);
  const __m512i m0f = _mm512_set1_epi8(0x0F);
  // One flat loop over the blocks; the group's scales (and zero points)
  // are reloaded when a block starts a new group.
  int64_t g = b0 / t.bpg;
  int64_t gend = imin((g + 1) * t.bpg, b1);
  __m512 sv[NP];
  __m512i zv[NP];
  auto load_group = [&]() {
    for (int j = 0; j < NP; ++j) {
      sv[j] = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(t.s[j] + g * 16)));
      if (ASYM) zv[j] = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(t.z[j] + g * 16)));
    }
  };
  load_group();
  {
    for (int64_t b = b0; b < b1; ++b) {
      if (b == gend) {
        ++g;
        gend = imin(gend + t.bpg, b1);
        load_group();
      }
      __m512i ia[R][NP];
      for (int r = 0; r < R; ++r) {
        const int32_t xs = t.xs[r * t.nb + b];
        if (ASYM) {
          // z * (-xs) per column with one vpmaddwd: z has a zero high int16
          // half and |xs| <= 32 * 127 fits the low one.
          const __m512i xb = _mm512_set1_epi32(-xs);
          for (int j = 0; j < NP; ++j) ia[r][j] = _mm512_madd_epi16(zv[j], xb);
        } else {
          // A broadcast from memory costs no vector ALU slot.
          const __m512i init = NZ ? _mm512_set1_epi32(t.nz[r * t.nzs + b - t.nzb0]) : _mm512_set1_epi32(-t.zc * xs);
          for (int j = 0; j < NP; ++j) ia[r][j] = init;
        }
      }
      const int8_t* xb0 = t.xc + b * 32;
      const int64_t off = (b - b0) * t.wstride;
      if (W8) {
#pragma GCC unroll 8
        for (int kq = 0; kq < 8; ++kq) {
          __m512i xv[R];
          for (int r = 0; r < R; ++r) xv[r] = _mm512_set1_epi32(load_i32(xb0 + r * t.nb * 32 + 4 * kq));
          for (int j = 0; j < NP; ++j) {
            const __m512i wv = _mm512_loadu_si512(t.w[j] + off + 64 * kq);
            for (int r = 0; r < R; ++r) ia[r][j] = _mm512_dpbusd_epi32(ia[r][j], wv, xv[r]);
          }
        }
      } else if (R == 1) {
        // One row: mask the high nibbles in place (16 * hi, <= 240) and
        // shift the separate sum back once per block, instead of shifting
        // every row of codes.
        const __m512i mf0 = _mm512_set1_epi8(static_cast<char>(0xF0));
        __m512i ih[NP];
        for (int j = 0; j < NP; ++j) ih[j] = _mm512_setzero_si512();
#pragma GCC unroll 4
        for (int kq = 0; kq < 4; ++kq) {
          const __m512i xl = _mm512_set1_epi32(load_i32(xb0 + 4 * kq));
          const __m512i xh = _mm512_set1_epi32(load_i32(xb0 + 16 + 4 * kq));
          for (int j = 0; j < NP; ++j) {
            const __m512i row = _mm512_loadu_si512(t.w[j] + off + 64 * kq);
            ia[0][j] = _mm512_dpbusd_epi32(ia[0][j], _mm512_and_si512(row, m0f), xl);
            ih[j] = _mm512_dpbusd_epi32(ih[j], _mm512_and_si512(row, mf0), xh);
          }
        }
        for (int j = 0; j < NP; ++j) ia[0][j] = _mm512_add_epi32(ia[0][j], _mm512_srai_epi32(ih[j], 4));
      } else {
#pragma GCC unroll 4
        for (int kq = 0; kq < 4; ++kq) {
          __m512i xl[R], xh[R];
          for (int r = 0; r < R; ++r) {
            xl[r] = _mm512_set1_epi32(load_i32(xb0 + r * t.nb * 32 + 4 * kq));
            xh[r] = _mm512_set1_epi32(load_i32(xb0 + r * t.nb * 32 + 16 + 4 * kq));
          }
          for (int j = 0; j < NP; ++j) {
            const __m512i row = _mm512_loadu_si512(t.w[j] + off + 64 * kq);
            const __m512i lo = _mm512_and_si512(row, m0f);
            const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(row, 4), m0f);
            for (int r = 0; r < R; ++r) {
              ia[r][j] = _mm512_dpbusd_epi32(ia[r][j], lo, xl[r]);
              ia[r][j] = _mm512_dpbusd_epi32(ia[r][j], hi, xh[r]);
            }
          }
        }
      }
      for (int r = 0; r < R; ++r) {
        const __m512 sxb = _mm512_set1_ps(t.sx[r * t.nb + b]);
        for (int j = 0; j < NP; ++j) {
          fa[r][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(ia[r][j]), _mm512_mul_ps(sxb, sv[j]), fa[r][j]);
        }
      }
    }
  }
  if (t.last) {
    write_out<R, NP>(t, fa);
  } else {
    for (int r = 0; r < R; ++r)
      for (int j = 0; j < NP; ++j) _mm512_store_ps(t.acc + r * 64 + j * 16, fa[r][j]);
  }
}

template <bool W8, bool ASYM, bool NZ>
void run_tile(int R, int NP, const Tile& t, int64_t b0, int64_t b1) {
#define QASR_TILE(r, np) \
  case r * 8 + np: tile_kernel<r, np, W8, ASYM, NZ>(t, b0, b1); return;
  switch (R * 8 + NP) {
    QASR_TILE(1, 1) QASR_TILE(1, 2) QASR_TILE(1, 3) QASR_TILE(1, 4)
    QASR_TILE(2, 1) QASR_TILE(2, 2)
    QASR_TILE(3, 1) QASR_TILE(3, 2)
    QASR_TILE(4, 1) QASR_TILE(4, 2)
    QASR_TILE(5, 1) QASR_TILE(5, 2)
    QASR_TILE(6, 1) QASR_TILE(6, 2)
    default: __builtin_unreachable();
  }
#undef QASR_TILE
}

// y rows [m0, m0 + R) of panels [p, p + NP) from the accumulators, plus bias;
// columns at or beyond N are not written.
void store_rows(const float* acc, int R, int NP, int64_t p, int64_t N, const float* bias, float* y, int64_t ldy) {
  for (int j = 0; j < NP; ++j) {
    const int64_t col = (p + j) * 16;
    const int64_t valid = imin(16, N - col);
    if (valid <= 0) break;
    const __mmask16 mask = static_cast<__mmask16>((1u << valid) - 1);
    const __m512 bv = bias ? _mm512_maskz_loadu_ps(mask, bias + col) : _mm512_setzero_ps();
    for (int r = 0; r < R; ++r) {
      __m512 v = _mm512_load_ps(acc + r * 64 + j * 16);
      if (bias) v = _mm512_add_ps(v, bv);
      _mm512_mask_storeu_ps(y + r * ldy + col, mask, v);
    }
  }
}

#ifndef QASR_Z_CHUNK
#define QASR_Z_CHUNK 32
#endif
#ifndef QASR_Z_ROWS
#define QASR_Z_ROWS 6
#endif
constexpr int64_t kChunk = QASR_Z_CHUNK;  // blocks per K chunk in the GEMM path
constexpr int64_t kRowGroup = 64;         // rows sharing one unpacked weight chunk
constexpr int64_t kGemmMinRows = 4;
constexpr int kGemmRows = QASR_Z_ROWS;    // rows per register tile in the GEMM path

// Unpacks blocks [c0, c1) of packed q4 tiles into the q8 tile layout.
void unpack_q4(const uint8_t* src, uint8_t* dst, int64_t nblocks) {
  const __m512i m0f = _mm512_set1_epi8(0x0F);
  for (int64_t i = 0; i < nblocks; ++i) {
    for (int kq = 0; kq < 4; ++kq) {
      const __m512i row = _mm512_loadu_si512(src + i * 256 + 64 * kq);
      _mm512_store_si512(dst + i * 512 + 64 * kq, _mm512_and_si512(row, m0f));
      _mm512_store_si512(dst + i * 512 + 64 * (kq + 4), _mm512_and_si512(_mm512_srli_epi16(row, 4), m0f));
    }
  }
}

template <bool Q4, bool ASYM>
void gemm(const QuantizedActs& x, const PackedMatrix& w, const float* bias, float* y, int64_t ldy, int64_t p0,
          int64_t p1) {
  const PackedLayout& L = w.layout;
  const int64_t nb = L.blocks, M = x.M;
  const uint8_t* codes = w.data + L.codes_offset;
  const uint16_t* scales = reinterpret_cast<const uint16_t*>(w.data + L.scales_offset);
  const uint8_t* zeros = w.data + L.zeros_offset;
  const int64_t tb = static_cast<int64_t>(L.block_bytes);
  alignas(64) float acc[kRowGroup * 64];

  Tile t = {};
  t.bpg = L.blocks_per_group;
  t.nb = nb;
  t.zc = Q4 ? 8 : 128;
  t.ldy = ldy;
  t.bias = bias;
  t.N = L.N;
  auto set_panels = [&](int64_t p, int np) {
    t.col0 = p * 16;
    for (int j = 0; j < np; ++j) {
      t.s[j] = scales + (p + j) * L.groups * 16;
      t.z[j] = zeros + (p + j) * L.groups * 16;
    }
  };
  auto set_rows = [&](int64_t m) {
    t.xc = x.codes + m * nb * 32;
    t.sx = x.scales + m * nb;
    t.xs = x.sums + m * nb;
    t.y = y + m * ldy;
  };

  if (M < kGemmMinRows) {
    // GEMV-like: stream the weights once, all rows in registers.
    const int maxnp = M == 1 ? 4 : 2;
    set_rows(0);
    t.first = t.last = true;
    t.wstride = tb;
    for (int64_t p = p0; p < p1; p += maxnp) {
      const int np = static_cast<int>(imin(maxnp, p1 - p));
      set_panels(p, np);
      for (int j = 0; j < np; ++j) t.w[j] = codes + (p + j) * nb * tb;
      run_tile<!Q4, ASYM, false>(static_cast<int>(M), np, t, 0, nb);
    }
    return;
  }

  // GEMM: panel pairs, rows in groups sharing a K chunk of weights (4-bit
  // codes unpacked once per chunk), register tiles of kGemmRows rows; the
  // float accumulators wait in `acc` between chunks.
  alignas(64) uint8_t scratch[Q4 ? 2 * kChunk * 512 : 64];
  alignas(64) int32_t nz[kRowGroup * kChunk];
  const __m512i vnz = _mm512_set1_epi32(-t.zc);
  for (int64_t p = p0; p < p1; p += 2) {
    const int np = static_cast<int>(imin(2, p1 - p));
    set_panels(p, np);
    for (int64_t mg = 0; mg < M; mg += kRowGroup) {
      const int64_t mr = imin(kRowGroup, M - mg);
      for (int64_t c0 = 0; c0 < nb; c0 += kChunk) {
        const int64_t c1 = imin(nb, c0 + kChunk);
        if (Q4) {
          for (int j = 0; j < np; ++j) {
            unpack_q4(codes + ((p + j) * nb + c0) * tb, scratch + j * kChunk * 512, c1 - c0);
            t.w[j] = scratch + j * kChunk * 512;
          }
          t.wstride = 512;
        } else {
          for (int j = 0; j < np; ++j) t.w[j] = codes + ((p + j) * nb + c0) * tb;
          t.wstride = tb;
        }
        if (!ASYM) {
          // -z * xs for the chunk, so each block's sums start from a
          // broadcast load instead of a vector ALU operation.
          for (int64_t r = 0; r < mr; ++r) {
            const int32_t* src = x.sums + (mg + r) * nb + c0;
            for (int64_t c = 0; c < c1 - c0; c += 16) {
              const __mmask16 m = c + 16 <= c1 - c0 ? static_cast<__mmask16>(0xFFFF)
                                                     : static_cast<__mmask16>((1u << (c1 - c0 - c)) - 1);
              _mm512_mask_storeu_epi32(nz + r * kChunk + c, m,
                                       _mm512_mullo_epi32(_mm512_maskz_loadu_epi32(m, src + c), vnz));
            }
          }
        }
        t.first = c0 == 0;
        t.last = c1 == nb;
        t.nzs = kChunk;
        t.nzb0 = c0;
        for (int64_t r = 0; r < mr; r += kGemmRows) {
          set_rows(mg + r);
          t.acc = acc + r * 64;
          t.nz = nz + r * kChunk;
          run_tile<true, ASYM, !ASYM>(static_cast<int>(imin(kGemmRows, mr - r)), np, t, c0, c1);
        }
      }
    }
  }
}

void gemm_q8(const QuantizedActs& x, const PackedMatrix& w, const float* bias, float* y, int64_t ldy, int64_t p0,
             int64_t p1) {
  gemm<false, false>(x, w, bias, y, ldy, p0, p1);
}

void gemm_q4(const QuantizedActs& x, const PackedMatrix& w, const float* bias, float* y, int64_t ldy, int64_t p0,
             int64_t p1) {
  if (w.layout.format == WeightFormat::Q4A) {
    gemm<true, true>(x, w, bias, y, ldy, p0, p1);
  } else {
    gemm<true, false>(x, w, bias, y, ldy, p0, p1);
  }
}

// ---------------------------------------------------------------------------
// Float path over f32 panels [P][K][16]: R rows x NP panels register tiles,
// K in chunks that stay in L1.

template <int R, int NP>
void sgemm_tile(const float* x, int64_t ldx, const float* const* wp, int64_t k0, int64_t k1, float* acc, bool first) {
  __m512 fa[R][NP], fb[R][NP];
  for (int r = 0; r < R; ++r)
    for (int j = 0; j < NP; ++j) {
      fa[r][j] = first ? _mm512_setzero_ps() : _mm512_load_ps(acc + r * 64 + j * 16);
      fb[r][j] = _mm512_setzero_ps();
    }
  int64_t k = k0;
  // Two interleaved accumulator sets hide the FMA latency when R * NP is small.
  for (; k + 2 <= k1; k += 2) {
    for (int j = 0; j < NP; ++j) {
      const __m512 w0 = _mm512_loadu_ps(wp[j] + k * 16);
      const __m512 w1 = _mm512_loadu_ps(wp[j] + k * 16 + 16);
      for (int r = 0; r < R; ++r) {
        fa[r][j] = _mm512_fmadd_ps(_mm512_set1_ps(x[r * ldx + k]), w0, fa[r][j]);
        fb[r][j] = _mm512_fmadd_ps(_mm512_set1_ps(x[r * ldx + k + 1]), w1, fb[r][j]);
      }
    }
  }
  for (; k < k1; ++k) {
    for (int j = 0; j < NP; ++j) {
      const __m512 w0 = _mm512_loadu_ps(wp[j] + k * 16);
      for (int r = 0; r < R; ++r) fa[r][j] = _mm512_fmadd_ps(_mm512_set1_ps(x[r * ldx + k]), w0, fa[r][j]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int j = 0; j < NP; ++j) _mm512_store_ps(acc + r * 64 + j * 16, _mm512_add_ps(fa[r][j], fb[r][j]));
}

void run_sgemm_tile(int R, int NP, const float* x, int64_t ldx, const float* const* wp, int64_t k0, int64_t k1,
                    float* acc, bool first) {
#define QASR_TILE(r, np) \
  case r * 8 + np: sgemm_tile<r, np>(x, ldx, wp, k0, k1, acc, first); return;
  switch (R * 8 + NP) {
    QASR_TILE(1, 1) QASR_TILE(1, 2) QASR_TILE(1, 3) QASR_TILE(1, 4)
    QASR_TILE(2, 1) QASR_TILE(2, 2) QASR_TILE(3, 1) QASR_TILE(3, 2)
    QASR_TILE(4, 1) QASR_TILE(4, 2) QASR_TILE(5, 1) QASR_TILE(5, 2)
    QASR_TILE(6, 1) QASR_TILE(6, 2)
    default: __builtin_unreachable();
  }
#undef QASR_TILE
}

void sgemm(const float* x, int64_t ldx, int64_t M, const PackedMatrix& w, const float* bias, float* y, int64_t ldy,
           int64_t p0, int64_t p1) {
  const int64_t K = w.layout.K;
  const float* base = reinterpret_cast<const float*>(w.data);
  alignas(64) float acc[kRowGroup * 64];
  constexpr int64_t kKChunk = 256;
  const int maxnp = M == 1 ? 4 : 2;
  for (int64_t p = p0; p < p1; p += maxnp) {
    const int np = static_cast<int>(imin(maxnp, p1 - p));
    const float* wp[4];
    for (int j = 0; j < np; ++j) wp[j] = base + (p + j) * K * 16;
    for (int64_t mg = 0; mg < M; mg += kRowGroup) {
      const int64_t mr = imin(kRowGroup, M - mg);
      for (int64_t k0 = 0; k0 < K; k0 += kKChunk) {
        const int64_t k1 = imin(K, k0 + kKChunk);
        for (int64_t r = 0; r < mr; r += 6) {
          const int rr = static_cast<int>(imin(6, mr - r));
          run_sgemm_tile(rr, rr > 1 ? imin(np, 2) : np, x + (mg + r) * ldx, ldx, wp, k0, k1, acc + r * 64, k0 == 0);
        }
      }
      store_rows(acc, static_cast<int>(mr), np, p, w.layout.N, bias, y + mg * ldy, ldy);
    }
  }
}

const KernelSet kSet = {"avx512vnni", quantize_acts, gemm_q8, gemm_q4, sgemm};

}  // namespace

const KernelSet* avx512vnni_table() { return &kSet; }

}  // namespace qasr
