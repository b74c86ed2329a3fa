// Unmasked multi-head attention over a fixed set of keys/values, run as two
// float GEMMs per head through the packed f32 kernels (csrc/kernels), for the
// long sequences where attention dominates: Whisper's encoder self-attention
// (1500 x 1500 per head) and its decoder's cross-attention (one query against
// the same 1500 encoder keys at every step).
//
// The keys and values are packed once (PackedHeads::pack): per head, K_h as
// an f32 matrix [T, head_dim] and V_h transposed as [head_dim, T]. Then
//   scores = (Q_h * scale) K_hᵀ,  P = softmax(scores),  out_h = P V_h
// are linear() calls. The decoder packs the cross-attention keys/values once
// per 30 s window and reuses them for every generated token.
// Equal to ops/attention.h's attention() with no key window, to float
// rounding (cpp_tests/whisper_ops_test.cc).
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/packed.h"
#include "kernels/quantize.h"

namespace qasr {

class ThreadPool;

struct PackedHeads {
  int heads = 0, head_dim = 0;
  int64_t T = 0;
  std::vector<AlignedBytes> k_bytes, vt_bytes;
  std::vector<PackedMatrix> k, vt;  // per head: [T, head_dim], [head_dim, T]

  // k, v: [T][ld*] with head h in columns [h*head_dim, (h+1)*head_dim).
  void pack(const float* k, int64_t ldk, const float* v, int64_t ldv, int64_t T, int heads, int head_dim,
            ThreadPool* pool);
};

// q: [Tq][ldq]; out: [Tq][ldo]. scale 0 means 1/sqrt(head_dim). `scores`
// is scratch (Tq x T floats per call).
void attention_packed(const float* q, int64_t ldq, int64_t Tq, const PackedHeads& kv, float scale, float* out,
                      int64_t ldo, std::vector<float>& scores, std::vector<float>& qh, ThreadPool* pool);

}  // namespace qasr
