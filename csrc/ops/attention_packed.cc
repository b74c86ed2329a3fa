#include "ops/attention_packed.h"

#include <algorithm>
#include <cmath>

#include "common/error.h"
#include "common/thread_pool.h"
#include "kernels/linear.h"
#include "ops/softmax.h"

namespace qasr {

void PackedHeads::pack(const float* kp, int64_t ldk, const float* vp, int64_t ldv, int64_t T_, int heads_,
                       int head_dim_, ThreadPool* pool) {
  if (T_ <= 0 || heads_ <= 0 || head_dim_ <= 0) invalid("attention_packed: empty keys or heads");
  heads = heads_;
  head_dim = head_dim_;
  T = T_;
  const PackedLayout lk = PackedLayout::make(WeightFormat::F32, T, head_dim, 0);
  const PackedLayout lv = PackedLayout::make(WeightFormat::F32, head_dim, T, 0);
  if (static_cast<int>(k_bytes.size()) != heads || k.empty() || k[0].layout.N != T || k[0].layout.K != head_dim) {
    k_bytes.clear();
    vt_bytes.clear();
    k.assign(heads, {});
    vt.assign(heads, {});
    for (int h = 0; h < heads; ++h) {
      k_bytes.emplace_back(lk.total_bytes);
      vt_bytes.emplace_back(lv.total_bytes);
      k[h].layout = lk;
      k[h].data = k_bytes[h].data();
      vt[h].layout = lv;
      vt[h].data = vt_bytes[h].data();
    }
  }
  auto task = [&](int64_t h) {
    // K_h [T, dh]: panel p holds keys 16p..16p+15, value (p, c, n) = K[16p+n][c].
    float* dk = reinterpret_cast<float*>(k_bytes[h].data());
    for (int64_t p = 0; p < lk.panels; ++p) {
      for (int c = 0; c < head_dim; ++c) {
        float* d = dk + (p * head_dim + c) * kPanel;
        for (int n = 0; n < kPanel; ++n) {
          const int64_t j = p * kPanel + n;
          d[n] = j < T ? kp[j * ldk + h * head_dim + c] : 0.0f;
        }
      }
    }
    // V_hᵀ [dh, T]: value (p, j, n) = V[j][16p+n], 16 contiguous channels.
    float* dv = reinterpret_cast<float*>(vt_bytes[h].data());
    for (int64_t p = 0; p < lv.panels; ++p) {
      for (int64_t j = 0; j < T; ++j) {
        float* d = dv + (p * T + j) * kPanel;
        const float* s = vp + j * ldv + h * head_dim + p * kPanel;
        const int64_t valid = std::min<int64_t>(kPanel, head_dim - p * kPanel);
        for (int n = 0; n < kPanel; ++n) d[n] = n < valid ? s[n] : 0.0f;
      }
    }
  };
  if (pool && pool->size() > 1) {
    pool->parallel_for(heads, task);
  } else {
    for (int h = 0; h < heads; ++h) task(h);
  }
}

void attention_packed(const float* q, int64_t ldq, int64_t Tq, const PackedHeads& kv, float scale, float* out,
                      int64_t ldo, std::vector<float>& scores, std::vector<float>& qh, ThreadPool* pool) {
  (void)scores;
  (void)qh;
  if (Tq <= 0) return;
  if (kv.heads <= 0) invalid("attention_packed: keys and values are not packed");
  const int dh = kv.head_dim;
  const int64_t T = kv.T;
  // Scale the queries, not the scores: for dh = 64 (Whisper) 1/8 is exact, and
  // transformers' Whisper scales the projected queries the same way.
  const float s = scale != 0.0f ? scale : 1.0f / std::sqrt(static_cast<float>(dh));
  // Tasks of (head, 64 queries): a tile's scores (64 x T floats) stay in
  // cache between the two products and the softmax. Nested linear() calls
  // run on the task's thread (the pool is busy with this loop).
  constexpr int64_t kTile = 64;
  const int64_t tiles = (Tq + kTile - 1) / kTile;
  auto task = [&](int64_t t) {
    thread_local std::vector<float> sc, qt;
    const int h = static_cast<int>(t % kv.heads);
    const int64_t i0 = (t / kv.heads) * kTile, rows = std::min(kTile, Tq - i0);
    sc.resize(static_cast<size_t>(rows * T));
    qt.resize(static_cast<size_t>(rows * dh));
    for (int64_t i = 0; i < rows; ++i) {
      const float* src = q + (i0 + i) * ldq + h * dh;
      float* dst = qt.data() + i * dh;
      for (int c = 0; c < dh; ++c) dst[c] = src[c] * s;
    }
    linear(qt.data(), dh, rows, kv.k[h], nullptr, sc.data(), T, pool);
    for (int64_t i = 0; i < rows; ++i) softmax_inplace(sc.data() + i * T, T);
    linear(sc.data(), T, rows, kv.vt[h], nullptr, out + i0 * ldo + h * dh, ldo, pool);
  };
  const int64_t n = tiles * kv.heads;
  if (pool && pool->size() > 1 && n > 1) {
    pool->parallel_for(n, task);
  } else {
    for (int64_t t = 0; t < n; ++t) task(t);
  }
}

}  // namespace qasr
