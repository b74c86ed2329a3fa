// Every SIMD variant against the scalar reference: activation codes equal,
// integer block sums exact (checked with inputs whose float result must be
// an exact integer), float outputs bit-identical over adversarial shapes,
// extreme scales and thread counts, and the dispatch itself.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "common/cpu_features.h"
#include "common/error.h"
#include "common/fp16.h"
#include "common/thread_pool.h"
#include "kernels/kernels.h"
#include "kernels/linear.h"
#include "kernels/quantize.h"
#include "test_util.h"

namespace qasr {
namespace {

std::vector<std::string> simd_variants() {
  std::vector<std::string> v;
  for (const auto& n : available_kernels()) {
    if (n != "scalar") v.push_back(n);
  }
  if (v.empty()) v.push_back("scalar");  // keeps the suites instantiated on plain CPUs
  return v;
}

bool same_bits(float a, float b) {
  if (std::isnan(a) && std::isnan(b)) return true;
  return std::memcmp(&a, &b, 4) == 0;
}

struct Packed {
  AlignedBytes bytes;
  PackedMatrix m;
};

Packed pack(const QuantizedWeights& q) {
  Packed p;
  p.bytes = pack_quantized(q);
  p.m.layout = PackedLayout::make(q.format, q.N, q.K, q.group);
  p.m.data = p.bytes.data();
  return p;
}

int64_t groups_of(int64_t K, int group) { return group == 0 ? 1 : (K + group - 1) / group; }

// Random codes (and zero points) for a format, with some rows forced to the
// extreme codes.
QuantizedWeights random_codes(WeightFormat f, int64_t N, int64_t K, int group, std::mt19937& rng) {
  QuantizedWeights q;
  q.format = f;
  q.N = N;
  q.K = K;
  q.group = group;
  const int64_t G = groups_of(K, group);
  const int umin = f == WeightFormat::Q8 ? 1 : 0, umax = f == WeightFormat::Q8 ? 255 : 15;
  std::uniform_int_distribution<int> code(umin, umax);
  q.codes.resize(N * K);
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t k = 0; k < K; ++k) {
      int u = code(rng);
      if (n % 7 == 1) u = umax;  // all-max rows
      if (n % 7 == 2) u = umin;  // all-min rows
      q.codes[n * K + k] = static_cast<uint8_t>(u);
    }
  }
  q.scales.assign(N * G, 0x3C00);
  if (f == WeightFormat::Q4A) {
    q.zeros.resize(N * G);
    for (auto& z : q.zeros) z = static_cast<uint8_t>(code(rng));
    if (N > 3) {
      for (int64_t g = 0; g < G; ++g) {
        q.zeros[3 * G + g] = 0;
        if (N > 4) q.zeros[4 * G + g] = 15;
      }
    }
  }
  return q;
}

// ---------------------------------------------------------------------------
// Activation quantizer.

class QuantizerVariants : public ::testing::TestWithParam<std::string> {};

TEST_P(QuantizerVariants, CodesScalesAndSumsEqualScalar) {
  const KernelSet& ks = kernels_by_name(GetParam());
  std::mt19937 rng(99);
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  const float magnitudes[] = {1e-42f, 1e-38f, 3e-37f, 1e-30f, 1e-3f, 1.0f, 1e3f, 1e30f, 3e38f};
  for (int64_t K : {1, 2, 31, 32, 33, 63, 64, 65, 100, 257, 1000}) {
    const int64_t M = 9, ldx = K + 3, nb = (K + 31) / 32;
    for (float mag : magnitudes) {
      std::normal_distribution<float> nd(0.0f, 1.0f);
      std::vector<float> x(M * ldx, 12345.0f);  // the gap beyond K must be ignored
      for (int64_t m = 0; m < M; ++m)
        for (int64_t k = 0; k < K; ++k) x[m * ldx + k] = nd(rng) * mag;
      // Row 0: zeros (including -0); row 1: one nonzero; row 2: exact ties
      // (integers + 0.5 with amax 127, so x * id hits .5); rows 3-5: NaN,
      // Inf, -Inf mixed in; row 6: all equal.
      for (int64_t k = 0; k < K; ++k) {
        x[0 * ldx + k] = k % 2 ? -0.0f : 0.0f;
        x[1 * ldx + k] = k == K / 2 ? -mag : 0.0f;
        x[2 * ldx + k] = k % 32 == 0 ? 127.0f : static_cast<float>(static_cast<int>(k % 50) - 25) + 0.5f;
        x[6 * ldx + k] = mag;
      }
      x[3 * ldx + K / 3] = nan;
      x[4 * ldx + (K - 1)] = inf;
      x[5 * ldx] = -inf;
      std::vector<int8_t> c0(M * nb * 32, 99), c1(M * nb * 32, 77);
      std::vector<float> s0(M * nb, -1.0f), s1(M * nb, -2.0f);
      std::vector<int32_t> u0(M * nb, -5), u1(M * nb, -6);
      quantize_activations_ref(x.data(), ldx, M, K, c0.data(), s0.data(), u0.data());
      ks.quantize(x.data(), ldx, M, K, c1.data(), s1.data(), u1.data());
      SCOPED_TRACE("K=" + std::to_string(K) + " magnitude=" + std::to_string(mag));
      ASSERT_EQ(c0, c1);
      for (size_t i = 0; i < s0.size(); ++i) ASSERT_TRUE(same_bits(s0[i], s1[i])) << i << ": " << s0[i] << " vs " << s1[i];
      ASSERT_EQ(u0, u1);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Simd, QuantizerVariants, ::testing::ValuesIn(simd_variants()),
                         [](const auto& info) { return info.param; });

// ---------------------------------------------------------------------------
// Exact integer sums: activations are integers with a ±127 in every block
// (so each block scale is exactly 1), weight scales and biases are small
// integers, so every partial sum is an integer below 2^24 and the float
// result must equal the exact integer sum.

class GemmVariants : public ::testing::TestWithParam<std::string> {};

TEST_P(GemmVariants, IntegerSumsAreExact) {
  const KernelSet& ks = kernels_by_name(GetParam());
  std::mt19937 rng(5);
  struct C {
    WeightFormat f;
    int group;
  };
  const C formats[] = {{WeightFormat::Q8, 0},  {WeightFormat::Q8, 32},  {WeightFormat::Q8, 128},
                       {WeightFormat::Q4, 32}, {WeightFormat::Q4, 64},  {WeightFormat::Q4, 128},
                       {WeightFormat::Q4A, 32}, {WeightFormat::Q4A, 128}};
  ThreadPool one(1);
  for (const C& c : formats) {
    for (int64_t K : {1, 200, 417}) {
      for (int64_t M : {1, 2, 3, 5, 70}) {
        const int64_t N = 37, G = groups_of(K, c.group), nb = (K + 31) / 32;
        QuantizedWeights q = random_codes(c.f, N, K, c.group, rng);
        const uint16_t int_scales[] = {0x3C00, 0x4000, 0x0000};  // 1, 2, 0
        for (auto& s : q.scales) s = int_scales[rng() % 3];
        const Packed w = pack(q);
        std::uniform_int_distribution<int> xv(-127, 127);
        std::vector<float> x(M * K);
        for (int64_t m = 0; m < M; ++m) {
          for (int64_t k = 0; k < K; ++k) {
            int v = xv(rng);
            if (k % 32 == 0) v = (rng() & 1) ? 127 : -127;
            if (m == 1) v = k % 32 == 0 ? 127 : 127 * ((k % 3) ? 1 : -1);  // all-max magnitudes
            x[m * K + k] = static_cast<float>(v);
          }
        }
        std::vector<float> bias(N);
        for (auto& b : bias) b = static_cast<float>(static_cast<int>(rng() % 201) - 100);
        std::vector<float> y(M * N);
        linear(x.data(), K, M, w.m, bias.data(), y.data(), N, &one, &ks);
        const int zsym = implicit_zero(c.f);
        for (int64_t m = 0; m < M; ++m) {
          for (int64_t n = 0; n < N; ++n) {
            int64_t total = static_cast<int64_t>(bias[n]);
            for (int64_t b = 0; b < nb; ++b) {
              const int64_t g = c.group == 0 ? 0 : b * 32 / c.group;
              const int z = c.f == WeightFormat::Q4A ? q.zeros[n * G + g] : zsym;
              int64_t isum = 0;
              for (int64_t k = b * 32; k < std::min(K, b * 32 + 32); ++k)
                isum += (static_cast<int64_t>(q.codes[n * K + k]) - z) * static_cast<int64_t>(x[m * K + k]);
              total += isum * static_cast<int64_t>(f16_to_f32(q.scales[n * G + g]));
            }
            ASSERT_LT(std::llabs(total), int64_t{1} << 24);
            ASSERT_EQ(y[m * N + n], static_cast<float>(total))
                << format_name(c.f) << " g" << c.group << " M" << M << " K" << K << " m" << m << " n" << n;
          }
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Bit-identical to scalar over many shapes, formats and data.

struct ShapeCase {
  WeightFormat f;
  int group;
  int64_t M, N, K;
};

std::vector<ShapeCase> shape_cases() {
  std::vector<ShapeCase> v;
  const WeightFormat fs[] = {WeightFormat::Q8, WeightFormat::Q4, WeightFormat::Q4A};
  const int64_t Ms[] = {1, 2, 3, 4, 5, 7, 16, 17, 33, 64, 65, 129, 300};
  const int64_t Ns[] = {1, 7, 15, 16, 17, 31, 33, 48, 50, 100};
  const int64_t Ks[] = {1, 5, 31, 32, 33, 64, 100, 127, 128, 129, 200, 255, 300, 513, 1000};
  std::mt19937 rng(2024);
  for (int i = 0; i < 90; ++i) {
    ShapeCase c;
    c.f = fs[i % 3];
    const int groups_q8[] = {0, 32, 64, 128};
    const int groups_q4[] = {32, 64, 128};
    c.group = c.f == WeightFormat::Q8 ? groups_q8[rng() % 4] : groups_q4[rng() % 3];
    c.M = Ms[i % 13];  // every M for every format
    c.N = Ns[rng() % 10];
    c.K = Ks[rng() % 15];
    if (c.M >= 129 && c.K > 300) c.K = 300;  // keep the scalar reference fast
    v.push_back(c);
  }
  return v;
}

// y from the variant and from scalar for one packed matrix; ldy > N with a
// sentinel in the gap, which must survive.
void expect_same_as_scalar(const KernelSet& ks, const PackedMatrix& w, const std::vector<float>& x, int64_t M,
                           int64_t ldx, const float* bias, ThreadPool* pool, const std::string& what) {
  const int64_t N = w.layout.N, ldy = N + 5;
  const float sentinel = -7.25f;
  std::vector<float> y(M * ldy, sentinel), yr(M * ldy, sentinel);
  ThreadPool one(1);
  linear(x.data(), ldx, M, w, bias, y.data(), ldy, pool, &ks);
  linear(x.data(), ldx, M, w, bias, yr.data(), ldy, &one, kernels_scalar());
  for (int64_t m = 0; m < M; ++m) {
    for (int64_t n = 0; n < ldy; ++n) {
      const float a = y[m * ldy + n], b = yr[m * ldy + n];
      if (n >= N) {
        ASSERT_EQ(a, sentinel) << what << ": wrote beyond N at m" << m << " n" << n;
        continue;
      }
      ASSERT_TRUE(same_bits(a, b)) << what << " m" << m << " n" << n << ": " << a << " vs scalar " << b;
    }
  }
}

std::string describe(const ShapeCase& c) {
  std::ostringstream s;
  s << format_name(c.f) << " g" << c.group << " M" << c.M << " N" << c.N << " K" << c.K;
  return s.str();
}

TEST_P(GemmVariants, BitIdenticalToScalarOnAdversarialShapes) {
  const KernelSet& ks = kernels_by_name(GetParam());
  std::mt19937 rng(11);
  ThreadPool one(1);
  int i = 0;
  for (const ShapeCase& c : shape_cases()) {
    const int64_t ldx = c.K + (i % 2) * 3;
    auto w = test::random_floats(c.N * c.K, rng());
    const QuantizedWeights q = quantize_weights(c.f, w.data(), c.N, c.K, c.group);
    const Packed p = pack(q);
    std::vector<float> x = test::random_floats(c.M * ldx, rng(), i % 3 == 0 ? 100.0f : 1.0f);
    if (c.M > 2) std::fill(x.begin() + ldx, x.begin() + 2 * ldx, 0.0f);  // a zero row
    auto bias = test::random_floats(c.N, rng());
    expect_same_as_scalar(ks, p.m, x, c.M, ldx, i % 2 ? bias.data() : nullptr, &one, describe(c));
    ++i;
  }
}

TEST_P(GemmVariants, BitIdenticalWithExtremeScalesAndActivations) {
  const KernelSet& ks = kernels_by_name(GetParam());
  std::mt19937 rng(3);
  // f16 scales: zero, ±denormals (smallest, largest), ±largest finite,
  // tiny and ordinary normals.
  const uint16_t special[] = {0x0000, 0x8000, 0x0001, 0x8001, 0x03FF, 0x0200, 0x7BFF, 0xFBFF, 0x0400, 0x3C00, 0xB555};
  const float act_mags[] = {1e-40f, 1e-30f, 1.0f, 1e20f, 1e36f};
  ThreadPool one(1);
  for (WeightFormat f : {WeightFormat::Q8, WeightFormat::Q4, WeightFormat::Q4A}) {
    for (int group : {32, 128}) {
      for (int64_t M : {1, 3, 9}) {
        const int64_t N = 40, K = 161;
        QuantizedWeights q = random_codes(f, N, K, group, rng);
        for (auto& s : q.scales) s = special[rng() % (sizeof special / sizeof special[0])];
        const Packed p = pack(q);
        for (float mag : act_mags) {
          std::vector<float> x = test::random_floats(M * K, rng(), mag);
          auto bias = test::random_floats(N, rng(), 1e3f);
          expect_same_as_scalar(ks, p.m, x, M, K, bias.data(), &one,
                                std::string(format_name(f)) + " g" + std::to_string(group) + " M" +
                                    std::to_string(M) + " act " + std::to_string(mag));
        }
      }
    }
  }
}

TEST_P(GemmVariants, AnyThreadCountGivesTheSameBits) {
  const KernelSet& ks = kernels_by_name(GetParam());
  std::mt19937 rng(17);
  const ShapeCase cases[] = {{WeightFormat::Q8, 0, 1, 300, 256},   {WeightFormat::Q4, 32, 1, 100, 200},
                             {WeightFormat::Q4A, 64, 7, 77, 300},  {WeightFormat::Q8, 32, 70, 50, 100},
                             {WeightFormat::Q4, 128, 130, 33, 257}, {WeightFormat::Q8, 64, 300, 17, 64}};
  for (int threads = 1; threads <= 4; ++threads) {
    ThreadPool pool(threads);
    for (const ShapeCase& c : cases) {
      auto w = test::random_floats(c.N * c.K, rng());
      const Packed p = pack(quantize_weights(c.f, w.data(), c.N, c.K, c.group));
      auto x = test::random_floats(c.M * c.K, rng());
      auto bias = test::random_floats(c.N, rng());
      expect_same_as_scalar(ks, p.m, x, c.M, c.K, bias.data(), &pool,
                            describe(c) + " threads " + std::to_string(threads));
    }
  }
}

TEST_P(GemmVariants, PanelRangesWriteOnlyTheirColumns) {
  const KernelSet& ks = kernels_by_name(GetParam());
  std::mt19937 rng(23);
  const int64_t N = 70, K = 96;  // 5 panels, the last one partial
  for (WeightFormat f : {WeightFormat::Q8, WeightFormat::Q4, WeightFormat::Q4A}) {
    auto w = test::random_floats(N * K, rng());
    const Packed p = pack(quantize_weights(f, w.data(), N, K, 32));
    for (int64_t M : {1, 2, 6}) {
      auto x = test::random_floats(M * K, rng());
      std::vector<int8_t> codes(M * 3 * 32);
      std::vector<float> sx(M * 3);
      std::vector<int32_t> sums(M * 3);
      ks.quantize(x.data(), K, M, K, codes.data(), sx.data(), sums.data());
      QuantizedActs qa;
      qa.M = M;
      qa.K = K;
      qa.blocks = 3;
      qa.codes = codes.data();
      qa.scales = sx.data();
      qa.sums = sums.data();
      const QGemmFn fn = f == WeightFormat::Q8 ? ks.gemm_q8 : ks.gemm_q4;
      const QGemmFn ref = f == WeightFormat::Q8 ? kernels_scalar()->gemm_q8 : kernels_scalar()->gemm_q4;
      for (int64_t p0 = 0; p0 < 5; ++p0) {
        for (int64_t p1 = p0 + 1; p1 <= 5; ++p1) {
          std::vector<float> y(M * N, 3.5f), yr(M * N, 3.5f);
          fn(qa, p.m, nullptr, y.data(), N, p0, p1);
          ref(qa, p.m, nullptr, yr.data(), N, p0, p1);
          for (int64_t i = 0; i < M * N; ++i) {
            const int64_t col = i % N;
            if (col < p0 * 16 || col >= p1 * 16) {
              ASSERT_EQ(y[i], 3.5f) << "column " << col << " outside the range";
            }
            ASSERT_TRUE(same_bits(y[i], yr[i])) << i;
          }
        }
      }
    }
  }
}

// The float path may sum in any order: compare to a double reference.
TEST_P(GemmVariants, FloatPathMatchesDoubleReference) {
  const KernelSet& ks = kernels_by_name(GetParam());
  std::mt19937 rng(31);
  for (int threads : {1, 3}) {
    ThreadPool pool(threads);
    for (int64_t M : {1, 2, 5, 7, 70}) {
      for (int64_t N : {1, 16, 33, 65}) {
        for (int64_t K : {1, 3, 100, 300}) {
          const int64_t ldx = K + 1, ldy = N + 2;
          auto w = test::random_floats(N * K, rng());
          auto x = test::random_floats(M * ldx, rng());
          auto bias = test::random_floats(N, rng());
          AlignedBytes bytes = pack_f32(w.data(), N, K);
          const PackedMatrix pm = test::view_of(bytes, PackedLayout::make(WeightFormat::F32, N, K, 0));
          std::vector<float> y(M * ldy, 9.0f);
          linear(x.data(), ldx, M, pm, (K % 2) ? bias.data() : nullptr, y.data(), ldy, &pool, &ks);
          for (int64_t m = 0; m < M; ++m) {
            for (int64_t n = 0; n < N; ++n) {
              double ref = (K % 2) ? bias[n] : 0.0, mag = std::fabs(ref);
              for (int64_t k = 0; k < K; ++k) {
                ref += static_cast<double>(x[m * ldx + k]) * w[n * K + k];
                mag += std::fabs(static_cast<double>(x[m * ldx + k]) * w[n * K + k]);
              }
              ASSERT_NEAR(y[m * ldy + n], ref, 1e-5 * mag + 1e-6) << "M" << M << " N" << N << " K" << K;
            }
            for (int64_t n = N; n < ldy; ++n) ASSERT_EQ(y[m * ldy + n], 9.0f);
          }
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Simd, GemmVariants, ::testing::ValuesIn(simd_variants()),
                         [](const auto& info) { return info.param; });

// ---------------------------------------------------------------------------
// Dispatch.

bool has_kernel(const std::string& name) {
  const auto v = available_kernels();
  return std::find(v.begin(), v.end(), name) != v.end();
}

TEST(Dispatch, AvailableVariantsFollowTheCpu) {
  const CpuFeatures& f = cpu_features();
  EXPECT_TRUE(has_kernel("scalar"));
#if defined(__x86_64__)
  EXPECT_EQ(has_kernel("avx2"), f.avx2);
  EXPECT_EQ(has_kernel("avxvnni"), f.avxvnni);
  EXPECT_EQ(has_kernel("avx512vnni"), f.avx512vnni);
  EXPECT_FALSE(has_kernel("neon"));
#elif defined(__aarch64__)
  // Every aarch64 CPU has Advanced SIMD; dotprod only where the CPU says so.
  EXPECT_TRUE(f.neon);
  EXPECT_TRUE(has_kernel("neon"));
  EXPECT_EQ(has_kernel("neondot"), f.neon_dotprod);
  EXPECT_FALSE(has_kernel("avx2"));
#endif
  for (const char* name : {"avx2", "avxvnni", "avx512vnni", "neon", "neondot"}) {
    if (!has_kernel(name)) {
      EXPECT_THROW(kernels_by_name(name), InvalidInput) << name;
    }
  }
  EXPECT_THROW(kernels_by_name("sse9"), InvalidInput);
  // The default is the best available.
  EXPECT_STREQ(kernels_by_name("auto").name, available_kernels().back().c_str());
}

// Scripts that must exercise particular variants (scripts/test_aarch64.sh
// under qemu -cpu max and -cpu cortex-a72) say which with
// QASR_EXPECT_KERNELS, so a CPU model that silently lacks an extension
// fails instead of skipping those kernels.
TEST(Dispatch, ExpectedKernelsAreAvailable) {
  const char* env = std::getenv("QASR_EXPECT_KERNELS");
  if (!env || !*env) GTEST_SKIP() << "QASR_EXPECT_KERNELS not set";
  std::string want;
  std::stringstream ss(env);
  std::vector<std::string> names;
  while (std::getline(ss, want, ',')) names.push_back(want);
  std::vector<std::string> got = available_kernels();
  got.erase(std::remove(got.begin(), got.end(), "scalar"), got.end());
  EXPECT_EQ(got, names) << "cpu: " << cpu_features().describe();
}

}  // namespace
}  // namespace qasr
