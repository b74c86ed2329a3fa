#include "ops/attention.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "common/error.h"
#include "common/thread_pool.h"
#include "ops/softmax.h"

namespace qasr {

namespace {

// Queries per task: enough to amortise the transposed key copy.
constexpr int64_t kQueryTile = 16;

// One head, queries [q0, q1). Keys are copied transposed ([dh][Tk] for the
// keys any query of the tile sees) so that both products run along
// contiguous memory and vectorise without reordering any float sum.
void head_tile(const AttentionArgs& a, int h, int64_t q0, int64_t q1, std::vector<float>& kt,
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
  kt.resize(static_cast<size_t>(dh) * std::max<int64_t>(span, 1));
  for (int64_t j = 0; j < span; ++j) {
    const float* kr = a.k + (lo + j) * a.ldk + h * dh;
    for (int c = 0; c < dh; ++c) kt[c * span + j] = kr[c];
  }
  scores.resize(std::max<int64_t>(span, 1));
  for (int64_t i = q0; i < q1; ++i) {
    float* o = a.out + i * a.ldo + h * dh;
    const int64_t b = begin_of(i), e = end_of(i);
    if (b >= e) {
      std::fill(o, o + dh, 0.0f);
      continue;
    }
    const int64_t n = e - b;
    float* s = scores.data();
    std::fill(s, s + n, 0.0f);
    const float* qr = a.q + i * a.ldq + h * dh;
    for (int c = 0; c < dh; ++c) {
      const float qc = qr[c];
      const float* kc = kt.data() + c * span + (b - lo);
      for (int64_t j = 0; j < n; ++j) s[j] += qc * kc[j];
    }
    if (a.scale != 0.0f) {
      for (int64_t j = 0; j < n; ++j) s[j] *= a.scale;
    } else {
      for (int64_t j = 0; j < n; ++j) s[j] /= root;
    }
    softmax_inplace(s, n);
    std::fill(o, o + dh, 0.0f);
    for (int64_t j = 0; j < n; ++j) {
      const float p = s[j];
      const float* vr = a.v + (b + j) * a.ldv + h * dh;
      for (int c = 0; c < dh; ++c) o[c] += p * vr[c];
    }
  }
}

}  // namespace

void attention(const AttentionArgs& a, ThreadPool* pool) {
  if (a.Tq <= 0) return;
  if (a.heads <= 0 || a.head_dim <= 0) invalid("attention: heads and head_dim must be positive");
  if (!a.q || !a.out || (a.Tk > 0 && (!a.k || !a.v))) invalid("attention: null input");
  const int64_t tiles = (a.Tq + kQueryTile - 1) / kQueryTile;
  auto task = [&](int64_t t) {
    thread_local std::vector<float> kt, scores;
    const int h = static_cast<int>(t % a.heads);
    const int64_t q0 = (t / a.heads) * kQueryTile, q1 = std::min(a.Tq, q0 + kQueryTile);
    head_tile(a, h, q0, q1, kt, scores);
  };
  const int64_t n = tiles * a.heads;
  if (pool && pool->size() > 1 && n > 1) {
    pool->parallel_for(n, task);
  } else {
    for (int64_t t = 0; t < n; ++t) task(t);
  }
}

}  // namespace qasr
