#include "kernels/linear.h"

#include <algorithm>
#include <vector>

#include "common/thread_pool.h"

namespace qasr {
namespace {

// Per-thread scratch for quantized activations, grown on demand and reused
// (one calling thread never runs two linears at once).
struct ActScratch {
  std::vector<int8_t> codes;
  std::vector<float> scales;
  std::vector<int32_t> sums;
};
thread_local ActScratch t_scratch;

// Rows per task when rows are split too: big enough to keep a kernel's
// register tiles busy, small enough to share work among threads.
constexpr int64_t kRowTile = 32;

// Activations (M x K) from which quantizing them is shared among threads;
// below it (a 16-row streaming chunk) the hand-off costs more than it saves.
constexpr int64_t kSharedQuantize = 64 * 1024;

}  // namespace

void linear(const float* x, int64_t ldx, int64_t M, const PackedMatrix& w, const float* bias, float* y,
            int64_t ldy, ThreadPool* pool, const KernelSet* ks) {
  if (M <= 0) return;
  if (!ks) ks = &active_kernels();
  if (!pool) pool = &global_pool();
  const PackedLayout& l = w.layout;
  const int threads = pool->size();
  const int64_t P = l.panels;
  // Tasks split the panels first: every weight byte is then read by one
  // task only, which is what bounds these kernels; panels go in multiples
  // of 4 (the GEMV tiles) or 2 (the GEMM tiles). Rows are split as well
  // only when there are too few panels to give every thread a few tasks.
  const int64_t want = threads == 1 ? 1 : int64_t{threads} * 4;
  const int64_t quantum = M < 4 ? 4 : 2;
  int64_t per_chunk = (P + want - 1) / want;
  per_chunk = std::max<int64_t>(1, std::min(P, (per_chunk + quantum - 1) / quantum * quantum));
  const int64_t chunks = (P + per_chunk - 1) / per_chunk;
  int64_t row_tiles = 1;
  if (threads > 1 && chunks < want && M >= 2 * kRowTile) {
    row_tiles = std::min((M + kRowTile - 1) / kRowTile, (want + chunks - 1) / chunks);
  }
  const int64_t rows_per_tile = (M + row_tiles - 1) / row_tiles;
  const int64_t tasks = row_tiles * chunks;

  if (l.format == WeightFormat::F32) {
    pool->parallel_for(tasks, [&](int64_t t) {
      const int64_t r = t / chunks, c = t % chunks;
      const int64_t m0 = r * rows_per_tile, m1 = std::min(M, m0 + rows_per_tile);
      const int64_t p0 = c * per_chunk, p1 = std::min(P, p0 + per_chunk);
      if (m0 < m1 && p0 < p1) ks->sgemm(x + m0 * ldx, ldx, m1 - m0, w, bias, y + m0 * ldy, ldy, p0, p1);
    });
    return;
  }

  ActScratch& s = t_scratch;
  const int64_t nb = l.blocks;
  if (static_cast<int64_t>(s.scales.size()) < M * nb) {
    s.codes.resize(M * nb * kBlock);
    s.scales.resize(M * nb);
    s.sums.resize(M * nb);
  }
  if (threads > 1 && M * l.K >= kSharedQuantize) {
    // Quantizing large batches costs ~10% of the product: share it too.
    const int64_t parts = std::min<int64_t>(threads, M / 8);
    const int64_t rows = (M + parts - 1) / parts;
    pool->parallel_for(parts, [&](int64_t t) {
      const int64_t m0 = t * rows, m1 = std::min(M, m0 + rows);
      if (m0 < m1) {
        ks->quantize(x + m0 * ldx, ldx, m1 - m0, l.K, s.codes.data() + m0 * nb * kBlock, s.scales.data() + m0 * nb,
                     s.sums.data() + m0 * nb);
      }
    });
  } else {
    ks->quantize(x, ldx, M, l.K, s.codes.data(), s.scales.data(), s.sums.data());
  }
  QuantizedActs qa;
  qa.M = M;
  qa.K = l.K;
  qa.blocks = nb;
  qa.codes = s.codes.data();
  qa.scales = s.scales.data();
  qa.sums = s.sums.data();
  const QGemmFn gemm = l.format == WeightFormat::Q8 ? ks->gemm_q8 : ks->gemm_q4;
  pool->parallel_for(tasks, [&](int64_t t) {
    const int64_t r = t / chunks, c = t % chunks;
    const int64_t m0 = r * rows_per_tile, m1 = std::min(M, m0 + rows_per_tile);
    const int64_t p0 = c * per_chunk, p1 = std::min(P, p0 + per_chunk);
    if (m0 < m1 && p0 < p1) gemm(qa.rows(m0, m1 - m0), w, bias, y + m0 * ldy, ldy, p0, p1);
  });
}

}  // namespace qasr
