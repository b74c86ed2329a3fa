#include "ops/attention.h"

// vf16 values are passed only between always-inlined functions of one clone.
#pragma GCC diagnostic ignored "-Wpsabi"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "common/error.h"
#include "common/thread_pool.h"
#include "ops/simd_clones.h"
#include "ops/softmax.h"

namespace qasr {

namespace {

// Queries per task.
constexpr int64_t kQueryTile = 16;

// 16 floats as one value (GCC/Clang vector extension): each clone lowers it
// to its widest registers, and four of them give four independent
// accumulation chains per loop step.
typedef float vf16 __attribute__((vector_size(64)));
QASR_ALWAYS_INLINE vf16 load16(const float* p) {
  vf16 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
QASR_ALWAYS_INLINE void store16(float* p, vf16 v) { std::memcpy(p, &v, sizeof v); }

// Scores of up to 4 queries against keys [0, n): s[r][j] = q_r . k_j, keys
// transposed (kt[c * ld + j]). Each score adds its dh products in order
// c = 0, 1, ...; the queries share every key load.
QASR_ALWAYS_INLINE void dot_keys(const float* const* q, int nq, const float* kt, int64_t ld, int dh, int64_t n,
                                 float* const* s) {
  int64_t j = 0;
  for (; j + 32 <= n; j += 32) {
    vf16 a[4][2] = {};
    for (int c = 0; c < dh; ++c) {
      const vf16 k0 = load16(kt + c * ld + j), k1 = load16(kt + c * ld + j + 16);
      for (int r = 0; r < 4; ++r) {
        if (r < nq) {
          a[r][0] += q[r][c] * k0;
          a[r][1] += q[r][c] * k1;
        }
      }
    }
    for (int r = 0; r < nq; ++r) {
      store16(s[r] + j, a[r][0]);
      store16(s[r] + j + 16, a[r][1]);
    }
  }
  for (; j < n; ++j) {
    for (int r = 0; r < nq; ++r) {
      float acc = 0.0f;
      for (int c = 0; c < dh; ++c) acc += q[r][c] * kt[c * ld + j];
      s[r][j] = acc;
    }
  }
}

// o_r[c] = sum_j p_r[j] * v_j[c] for up to 4 queries over keys j = 0 .. n-1
// in order (value rows of stride ldv); the queries share every value load.
QASR_ALWAYS_INLINE void weigh_values(const float* const* p, int nq, const float* v, int64_t ldv, int dh, int64_t n,
                                     float* const* o) {
  int c0 = 0;
  for (; c0 + 32 <= dh; c0 += 32) {
    vf16 a[4][2] = {};
    for (int64_t j = 0; j < n; ++j) {
      const vf16 v0 = load16(v + j * ldv + c0), v1 = load16(v + j * ldv + c0 + 16);
      for (int r = 0; r < 4; ++r) {
        if (r < nq) {
          a[r][0] += p[r][j] * v0;
          a[r][1] += p[r][j] * v1;
        }
      }
    }
    for (int r = 0; r < nq; ++r) {
      store16(o[r] + c0, a[r][0]);
      store16(o[r] + c0 + 16, a[r][1]);
    }
  }
  for (; c0 < dh; ++c0) {
    for (int r = 0; r < nq; ++r) {
      float acc = 0.0f;
      for (int64_t j = 0; j < n; ++j) acc += p[r][j] * v[j * ldv + c0];
      o[r][c0] = acc;
    }
  }
}

// One head, queries [q0, q1); kt is that head's keys transposed [dh][Tk].
// Scores are computed over the union of the tile's windows; each query's
// probabilities are zero outside its own window, and adding exact zeros
// leaves its weighted sum unchanged.
QASR_CLONES void head_tile(const AttentionArgs& a, const float* kt, int h, int64_t q0, int64_t q1,
                           std::vector<float>& scores) {
  const int dh = a.head_dim;
  // Default: divide by sqrt(dh) as the reference models do (q k^T / sqrt(dh)).
  const float root = std::sqrt(static_cast<float>(dh));
  auto begin_of = [&](int64_t i) { return a.key_begin ? std::max<int64_t>(0, a.key_begin[i]) : 0; };
  auto end_of = [&](int64_t i) { return a.key_end ? std::min<int64_t>(a.Tk, a.key_end[i]) : a.Tk; };
  int64_t lo = a.Tk, hi = 0;
  for (int64_t i = q0; i < q1; ++i) {
    if (begin_of(i) < end_of(i)) {
      lo = std::min(lo, begin_of(i));
      hi = std::max(hi, end_of(i));
    }
  }
  const int64_t span = hi > lo ? hi - lo : 0;
  scores.resize(static_cast<size_t>(q1 - q0) * std::max<int64_t>(span, 1));
  for (int64_t g = q0; g < q1; g += 4) {
    const int nq = static_cast<int>(std::min<int64_t>(4, q1 - g));
    const float* qs[4];
    float* ss[4];
    float* os[4];
    const float* ps[4];
    for (int r = 0; r < nq; ++r) {
      qs[r] = a.q + (g + r) * a.ldq + h * dh;
      ss[r] = scores.data() + (g + r - q0) * span;
      os[r] = a.out + (g + r) * a.ldo + h * dh;
      ps[r] = ss[r];
    }
    if (span > 0) dot_keys(qs, nq, kt + lo, a.Tk, dh, span, ss);
    for (int r = 0; r < nq; ++r) {
      const int64_t b = begin_of(g + r), e = end_of(g + r);
      float* s = ss[r];
      if (b >= e) {
        std::fill(s, s + span, 0.0f);
        continue;
      }
      std::fill(s, s + (b - lo), 0.0f);
      std::fill(s + (e - lo), s + span, 0.0f);
      float* w = s + (b - lo);
      const int64_t n = e - b;
      if (a.scale != 0.0f) {
        for (int64_t j = 0; j < n; ++j) w[j] *= a.scale;
      } else {
        for (int64_t j = 0; j < n; ++j) w[j] /= root;
      }
      softmax_inplace(w, n);
    }
    if (span > 0) {
      weigh_values(ps, nq, a.v + lo * a.ldv + h * dh, a.ldv, dh, span, os);
    } else {
      for (int r = 0; r < nq; ++r) std::fill(os[r], os[r] + dh, 0.0f);
    }
  }
}

QASR_CLONES void transpose_keys(const AttentionArgs& a, int h, float* kt) {
  const int dh = a.head_dim;
  for (int64_t j = 0; j < a.Tk; ++j) {
    const float* kr = a.k + j * a.ldk + h * dh;
    for (int c = 0; c < dh; ++c) kt[c * a.Tk + j] = kr[c];
  }
}

}  // namespace

void attention(const AttentionArgs& a, ThreadPool* pool) {
  if (a.Tq <= 0) return;
  if (a.heads <= 0 || a.head_dim <= 0) invalid("attention: heads and head_dim must be positive");
  if (!a.q || !a.out || (a.Tk > 0 && (!a.k || !a.v))) invalid("attention: null input");
  // Keys transposed once per call ([head][dh][Tk]), shared by every task.
  thread_local std::vector<float> kt;
  kt.resize(static_cast<size_t>(a.heads) * a.head_dim * std::max<int64_t>(a.Tk, 1));
  const bool parallel = pool && pool->size() > 1;
  auto transpose = [&](int64_t h) { transpose_keys(a, static_cast<int>(h), kt.data() + h * a.head_dim * a.Tk); };
  const int64_t tiles = (a.Tq + kQueryTile - 1) / kQueryTile;
  const float* kts = kt.data();
  auto task = [&](int64_t t) {
    thread_local std::vector<float> scores;
    const int h = static_cast<int>(t % a.heads);
    const int64_t q0 = (t / a.heads) * kQueryTile, q1 = std::min(a.Tq, q0 + kQueryTile);
    head_tile(a, kts + static_cast<int64_t>(h) * a.head_dim * a.Tk, h, q0, q1, scores);
  };
  const int64_t n = tiles * a.heads;
  if (parallel && n > 1) {
    pool->parallel_for(a.heads, transpose);
    pool->parallel_for(n, task);
  } else {
    for (int64_t h = 0; h < a.heads; ++h) transpose(h);
    for (int64_t t = 0; t < n; ++t) task(t);
  }
}

}  // namespace qasr
