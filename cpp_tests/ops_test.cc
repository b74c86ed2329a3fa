// csrc/ops against direct double-precision references of their formulas.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "common/thread_pool.h"
#include "kernels/quantize.h"
#include "ops/activations.h"
#include "ops/attention.h"
#include "ops/conv.h"
#include "ops/simd_clones.h"
#include "ops/norm.h"
#include "ops/rope.h"
#include "ops/softmax.h"
#include "test_util.h"

namespace qasr {
namespace {

using test::random_floats;

TEST(Ops, LayerNormMatchesFormula) {
  const int64_t rows = 5, d = 37;
  auto x = random_floats(rows * d, 1, 3.0f);
  for (auto& v : x) v += 100.0f;  // large offset: cancellation must not hurt
  auto g = random_floats(d, 2), b = random_floats(d, 3);
  std::vector<float> y(x.size());
  layer_norm(x.data(), rows, d, g.data(), b.data(), 1e-5f, y.data());
  for (int64_t r = 0; r < rows; ++r) {
    double m = 0, v = 0;
    for (int64_t i = 0; i < d; ++i) m += x[r * d + i];
    m /= d;
    for (int64_t i = 0; i < d; ++i) v += (x[r * d + i] - m) * (x[r * d + i] - m);
    v /= d;
    for (int64_t i = 0; i < d; ++i) {
      const double ref = (x[r * d + i] - m) / std::sqrt(v + 1e-5) * g[i] + b[i];
      EXPECT_NEAR(y[r * d + i], ref, 1e-4 * (1 + std::fabs(ref)));
    }
  }
}

TEST(Ops, ActivationsMatchFormulas) {
  auto x = random_floats(64, 4, 4.0f);
  auto s = x, g = x, r = x;
  silu_inplace(s.data(), 64);
  gelu_inplace(g.data(), 64);
  relu_inplace(r.data(), 64);
  for (int i = 0; i < 64; ++i) {
    const double v = x[i];
    EXPECT_NEAR(s[i], v / (1 + std::exp(-v)), 1e-5);
    EXPECT_NEAR(g[i], 0.5 * v * (1 + std::erf(v / std::sqrt(2.0))), 1e-5);
    EXPECT_EQ(r[i], v > 0 ? x[i] : 0.0f);
  }
  std::vector<float> y(32);
  glu(x.data(), 2, 16, y.data());
  for (int rr = 0; rr < 2; ++rr) {
    for (int i = 0; i < 16; ++i) {
      const double a = x[rr * 32 + i], b = x[rr * 32 + 16 + i];
      EXPECT_NEAR(y[rr * 16 + i], a / (1 + std::exp(-b)), 1e-5);
    }
  }
}

TEST(Ops, ExpAndErfPolyAreWithinTheirStatedErrors) {
  double worst_exp = 0, worst_erf = 0;
  for (float x = -87.0f; x < 88.0f; x += 0.00731f) {
    const double r = std::exp(double(x));
    worst_exp = std::max(worst_exp, std::abs(exp_poly(x) - r) / r);
  }
  EXPECT_LT(worst_exp, 2 * 5.97e-8);  // 2 ulp
  EXPECT_EQ(exp_poly(-90.0f), 0.0f);
  EXPECT_EQ(exp_poly(-std::numeric_limits<float>::infinity()), 0.0f);
  EXPECT_EQ(exp_poly(0.0f), 1.0f);
  for (float x = -8.0f; x < 8.0f; x += 0.000317f) {
    const double r = std::erf(double(x));
    worst_erf = std::max(worst_erf, std::abs(erf_poly(x) - r));
    if (std::abs(x) < 0.5f && x != 0.0f) {
      ASSERT_LT(std::abs(erf_poly(x) - r) / std::abs(r), 2e-7) << x;
    }
  }
  EXPECT_LT(worst_erf, 2e-7);
  EXPECT_EQ(erf_poly(0.0f), 0.0f);
  EXPECT_EQ(erf_poly(20.0f), 1.0f);
  EXPECT_EQ(erf_poly(-20.0f), -1.0f);
}

// Long rows take the vectorised clone's main loop, short ones its tail.
TEST(Ops, SoftmaxAndGeluMatchDoubleReferences) {
  for (int64_t n : {1, 7, 8, 33, 1500}) {
    auto x = random_floats(n, 21, 4.0f);
    if (n > 2) x[1] = -std::numeric_limits<float>::infinity();
    double mx = -1e30, sum = 0;
    for (float v : x) mx = std::max<double>(mx, v);
    for (float v : x) sum += std::exp(double(v) - mx);
    auto y = x;
    softmax_inplace(y.data(), n);
    for (int64_t i = 0; i < n; ++i) {
      const double r = std::exp(double(x[i]) - mx) / sum;
      ASSERT_NEAR(y[i], r, 1e-6 * (1 + r)) << n << " " << i;
    }
  }
  for (int64_t n : {1, 7, 4099}) {
    auto x = random_floats(n, 22, 3.0f);
    auto y = x;
    gelu_inplace(y.data(), n);
    for (int64_t i = 0; i < n; ++i) {
      const double r = 0.5 * x[i] * (1.0 + std::erf(x[i] / std::sqrt(2.0)));
      ASSERT_NEAR(y[i], r, 2e-7 * (1 + std::abs(r))) << x[i];
    }
  }
}

TEST(Ops, SoftmaxHandlesMaskedRows) {
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> x = {1.0f, -inf, 3.0f, 1000.0f};
  softmax_inplace(x.data(), 4);
  EXPECT_EQ(x[1], 0.0f);
  EXPECT_NEAR(x[0] + x[2] + x[3], 1.0f, 1e-6);
  std::vector<float> all_masked = {-inf, -inf};
  softmax_inplace(all_masked.data(), 2);
  EXPECT_EQ(all_masked[0], 0.0f);
  std::vector<float> l = {0.5f, 2.0f, -1.0f};
  log_softmax_inplace(l.data(), 3);
  EXPECT_NEAR(std::exp(l[0]) + std::exp(l[1]) + std::exp(l[2]), 1.0, 1e-6);
}

TEST(Ops, RopeRotatesPairsByPosition) {
  const int heads = 2, dh = 8;
  auto x = random_floats(3 * heads * dh, 5);
  auto y = x;
  RopeTable t;
  t.compute(1000, 3, dh, 10000.0);
  apply_rope(y.data(), 3, heads * dh, heads, dh, t);
  for (int r = 0; r < 3; ++r) {
    for (int h = 0; h < heads; ++h) {
      for (int i = 0; i < dh / 2; ++i) {
        const double a = (1000.0 + r) * std::pow(10000.0, -2.0 * i / dh);
        const double x1 = x[r * heads * dh + h * dh + i], x2 = x[r * heads * dh + h * dh + i + dh / 2];
        EXPECT_NEAR(y[r * heads * dh + h * dh + i], x1 * std::cos(a) - x2 * std::sin(a), 1e-5);
        EXPECT_NEAR(y[r * heads * dh + h * dh + i + dh / 2], x2 * std::cos(a) + x1 * std::sin(a), 1e-5);
      }
    }
  }
}

TEST(Ops, AttentionMatchesNaiveWithWindows) {
  const int64_t Tq = 21, Tk = 30, H = 3, dh = 8, d = H * dh;
  auto q = random_floats(Tq * d, 6), k = random_floats(Tk * d, 7), v = random_floats(Tk * d, 8);
  std::vector<int64_t> kb(Tq), ke(Tq);
  for (int64_t i = 0; i < Tq; ++i) {
    kb[i] = i % 5 == 0 ? 10 : i / 2;
    ke[i] = i % 7 == 3 ? kb[i] : std::min<int64_t>(Tk + 3, i + 9);  // some empty, some past the end
  }
  std::vector<float> out(Tq * d, -1.0f);
  ThreadPool pool(3);
  AttentionArgs a;
  a.q = q.data(); a.ldq = d; a.Tq = Tq;
  a.k = k.data(); a.v = v.data(); a.ldk = a.ldv = d; a.Tk = Tk;
  a.heads = H; a.head_dim = dh;
  a.key_begin = kb.data(); a.key_end = ke.data();
  a.out = out.data(); a.ldo = d;
  attention(a, &pool);
  for (int64_t i = 0; i < Tq; ++i) {
    const int64_t b = kb[i], e = std::min(Tk, ke[i]);
    for (int64_t h = 0; h < H; ++h) {
      std::vector<double> s;
      double mx = -1e300;
      for (int64_t j = b; j < e; ++j) {
        double dot = 0;
        for (int64_t c = 0; c < dh; ++c) dot += q[i * d + h * dh + c] * k[j * d + h * dh + c];
        s.push_back(dot / std::sqrt(double(dh)));
        mx = std::max(mx, s.back());
      }
      double z = 0;
      for (double& x : s) z += (x = std::exp(x - mx));
      for (int64_t c = 0; c < dh; ++c) {
        double ref = 0;
        for (int64_t j = b; j < e; ++j) ref += s[j - b] / z * v[j * d + h * dh + c];
        EXPECT_NEAR(out[i * d + h * dh + c], ref, 1e-5) << "query " << i << " head " << h;
      }
    }
  }
}

TEST(Ops, DepthwiseCausalConvMatchesNaive) {
  const int64_t rows = 9, d = 5;
  const int K = 4;
  auto x = random_floats((rows + K - 1) * d, 9), w = random_floats(d * K, 10), b = random_floats(d, 11);
  std::vector<float> y(rows * d);
  depthwise_conv1d_causal(x.data(), rows, d, K, w.data(), b.data(), y.data());
  for (int64_t t = 0; t < rows; ++t) {
    for (int64_t c = 0; c < d; ++c) {
      double ref = b[c];
      for (int k = 0; k < K; ++k) ref += double(w[c * K + k]) * x[(t + k) * d + c];
      EXPECT_NEAR(y[t * d + c], ref, 1e-5);
    }
  }
}

TEST(Ops, Conv2dStride2MatchesNaive) {
  const int64_t H = 11, W = 9, Cin = 3, Cout = 20;
  auto x = random_floats(H * W * Cin, 12), w = random_floats(Cout * Cin * 9, 13), b = random_floats(Cout, 14);
  AlignedBytes packed = pack_f32(w.data(), Cout, Cin * 9);
  PackedMatrix pm = test::view_of(packed, PackedLayout::make(WeightFormat::F32, Cout, Cin * 9, 0));
  const int64_t Ho = conv_out_len(H), Wo = conv_out_len(W);
  std::vector<float> y(Ho * Wo * Cout), cols(Ho * Wo * Cin * 9);
  conv2d_3x3_s2(x.data(), H, W, Cin, pm, b.data(), true, y.data(), cols.data(), nullptr);
  for (int64_t ho = 0; ho < Ho; ++ho) {
    for (int64_t wo = 0; wo < Wo; ++wo) {
      for (int64_t co = 0; co < Cout; ++co) {
        double ref = b[co];
        for (int64_t ci = 0; ci < Cin; ++ci) {
          for (int ky = 0; ky < 3; ++ky) {
            for (int kx = 0; kx < 3; ++kx) {
              ref += double(w[((co * Cin + ci) * 3 + ky) * 3 + kx]) * x[((2 * ho + ky) * W + 2 * wo + kx) * Cin + ci];
            }
          }
        }
        EXPECT_NEAR(y[(ho * Wo + wo) * Cout + co], std::max(ref, 0.0), 1e-4);
      }
    }
  }
  EXPECT_EQ(conv_out_len(2), 0);
  EXPECT_EQ(conv_out_len(3), 1);
}

}  // namespace
}  // namespace qasr
