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
  if (Tq <= 0) return;
  if (kv.heads <= 0) invalid("attention_packed: keys and values are not packed");
  const int dh = kv.head_dim;
  const int64_t T = kv.T;
  // Scale the queries, not the scores: for dh = 64 (Whisper) 1/8 is exact, and
  // transformers' Whisper scales the projected queries the same way.
  const float s = scale != 0.0f ? scale : 1.0f / std::sqrt(static_cast<float>(dh));
  scores.resize(static_cast<size_t>(Tq * T));
  qh.resize(static_cast<size_t>(Tq * dh));
  for (int h = 0; h < kv.heads; ++h) {
    for (int64_t i = 0; i < Tq; ++i) {
      const float* src = q + i * ldq + h * dh;
      float* dst = qh.data() + i * dh;
      for (int c = 0; c < dh; ++c) dst[c] = src[c] * s;
    }
    linear(qh.data(), dh, Tq, kv.k[h], nullptr, scores.data(), T, pool);
    auto rows = [&](int64_t r0, int64_t r1) {
      for (int64_t i = r0; i < r1; ++i) softmax_inplace(scores.data() + i * T, T);
    };
    if (pool && pool->size() > 1 && Tq >= 64) {
      const int64_t parts = std::min<int64_t>(Tq / 32, int64_t{pool->size()} * 4);
      const int64_t per = (Tq + parts - 1) / parts;
      pool->parallel_for(parts, [&](int64_t t) { rows(t * per, std::min(Tq, (t + 1) * per)); });
    } else {
      rows(0, Tq);
    }
    linear(scores.data(), T, Tq, kv.vt[h], nullptr, out + h * dh, ldo, pool);
  }
}

}  // namespace qasr
