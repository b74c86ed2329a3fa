// Multi-head scaled dot-product attention over float rows, with a
// contiguous window of visible keys per query. Windows cover every mask the
// models need: full context, chunk masks with limited left context
// (Conformer streaming), causal decoding (Whisper), cross-attention.
#pragma once

#include <cstdint>

namespace qasr {

class ThreadPool;

struct AttentionArgs {
  const float* q = nullptr;  // [Tq][ldq], head h in columns [h*dh, (h+1)*dh)
  int64_t ldq = 0, Tq = 0;
  const float* k = nullptr;  // [Tk][ldk]
  const float* v = nullptr;  // [Tk][ldv]
  int64_t ldk = 0, ldv = 0, Tk = 0;
  int heads = 1, head_dim = 0;
  float scale = 0.0f;  // scores * scale; 0: scores / sqrt(head_dim)
  // Query i sees keys [key_begin[i], key_end[i]) (clamped to [0, Tk));
  // null arrays mean all keys.
  const int64_t* key_begin = nullptr;
  const int64_t* key_end = nullptr;
  float* out = nullptr;  // [Tq][ldo]; a query with no visible key gets zeros
  int64_t ldo = 0;
};

// `pool` null: runs on the calling thread.
void attention(const AttentionArgs& a, ThreadPool* pool = nullptr);

}  // namespace qasr
