// Every kernel variant against the scalar reference and against an exact
// integer computation from unpacked codes.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <tuple>

#include "common/error.h"
#include "common/fp16.h"
#include "common/thread_pool.h"
#include "kernels/kernels.h"
#include "kernels/linear.h"
#include "kernels/quantize.h"
#include "test_util.h"

namespace qasr {
namespace {

struct Case {
  WeightFormat format;
  int64_t M, N, K;
  int group;
};

std::string name_of(const Case& c) {
  return std::string(format_name(c.format)) + "_M" + std::to_string(c.M) + "_N" + std::to_string(c.N) + "_K" +
         std::to_string(c.K) + "_g" + std::to_string(c.group);
}

// Exact reference from unpacked codes: double accumulation of exact
// integer block sums (independent of the tile layout).
std::vector<double> exact_reference(const std::vector<float>& x, int64_t M, const QuantizedWeights& q,
                                    const float* bias, std::vector<double>* magnitude) {
  const int64_t K = q.K, N = q.N, nb = (K + 31) / 32;
  std::vector<int8_t> codes(M * nb * 32);
  std::vector<float> sx(M * nb);
  std::vector<int32_t> sums(M * nb);
  quantize_activations_ref(x.data(), K, M, K, codes.data(), sx.data(), sums.data());
  const int64_t G = q.group == 0 ? 1 : (K + q.group - 1) / q.group;
  std::vector<double> y(M * N);
  magnitude->assign(M * N, 0.0);
  for (int64_t m = 0; m < M; ++m) {
    for (int64_t n = 0; n < N; ++n) {
      double acc = 0.0, mag = 0.0;
      for (int64_t b = 0; b < nb; ++b) {
        const int64_t g = q.group == 0 ? 0 : b * 32 / q.group;
        const int z = q.format == WeightFormat::Q4A ? q.zeros[n * G + g] : implicit_zero(q.format);
        int64_t isum = 0;
        for (int64_t k = b * 32; k < std::min(K, b * 32 + 32); ++k) {
          isum += (static_cast<int64_t>(q.codes[n * K + k]) - z) * codes[m * nb * 32 + k];
        }
        const double s = static_cast<double>(sx[m * nb + b] * f16_to_f32(q.scales[n * G + g]));
        acc += s * static_cast<double>(isum);
        mag += std::fabs(s * static_cast<double>(isum));
      }
      if (bias) {
        acc += bias[n];
        mag += std::fabs(bias[n]);
      }
      y[m * N + n] = acc;
      (*magnitude)[m * N + n] = mag;
    }
  }
  return y;
}

class KernelVariants : public ::testing::TestWithParam<std::string> {};

TEST_P(KernelVariants, MatchesExactReferenceOnRandomShapes) {
  const KernelSet& ks = kernels_by_name(GetParam());
  std::mt19937 rng(1234);
  const Case cases[] = {
      {WeightFormat::Q8, 1, 16, 32, 32},   {WeightFormat::Q8, 1, 17, 33, 0},   {WeightFormat::Q8, 3, 50, 100, 64},
      {WeightFormat::Q8, 16, 64, 256, 128}, {WeightFormat::Q8, 37, 31, 300, 32}, {WeightFormat::Q4, 1, 16, 32, 32},
      {WeightFormat::Q4, 2, 45, 97, 64},   {WeightFormat::Q4, 64, 128, 512, 128}, {WeightFormat::Q4A, 1, 33, 65, 32},
      {WeightFormat::Q4A, 19, 80, 200, 64}, {WeightFormat::Q4A, 300, 20, 40, 32}, {WeightFormat::Q8, 300, 7, 1000, 0},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(name_of(c));
    auto w = test::random_floats(c.N * c.K, rng());
    auto x = test::random_floats(c.M * c.K, rng(), 3.0f);
    auto bias = test::random_floats(c.N, rng());
    QuantizedWeights q = quantize_weights(c.format, w.data(), c.N, c.K, c.group);
    AlignedBytes packed = pack_quantized(q);
    const PackedMatrix pm = test::view_of(packed, PackedLayout::make(c.format, c.N, c.K, c.group));
    std::vector<double> mag;
    const auto ref = exact_reference(x, c.M, q, bias.data(), &mag);
    std::vector<float> y(c.M * c.N), y_scalar(c.M * c.N);
    ThreadPool one(1);
    linear(x.data(), c.K, c.M, pm, bias.data(), y.data(), c.N, &one, &ks);
    linear(x.data(), c.K, c.M, pm, bias.data(), y_scalar.data(), c.N, &one, kernels_scalar());
    for (int64_t i = 0; i < c.M * c.N; ++i) {
      ASSERT_NEAR(y[i], ref[i], 1e-5 * mag[i] + 1e-30) << "index " << i;
      // Same order of float operations in every variant: bit-identical.
      ASSERT_EQ(std::memcmp(&y[i], &y_scalar[i], 4), 0) << "index " << i << ": " << y[i] << " vs " << y_scalar[i];
    }
  }
}

INSTANTIATE_TEST_SUITE_P(All, KernelVariants, ::testing::ValuesIn(available_kernels()),
                         [](const auto& info) { return info.param; });

TEST(Packing, RoundTripsCodesScalesAndZeros) {
  std::mt19937 rng(7);
  for (WeightFormat f : {WeightFormat::Q8, WeightFormat::Q4, WeightFormat::Q4A}) {
    for (int group : {32, 64, 128}) {
      const int64_t N = 37, K = 161;
      auto w = test::random_floats(N * K, rng());
      QuantizedWeights q = quantize_weights(f, w.data(), N, K, group);
      AlignedBytes packed = pack_quantized(q);
      QuantizedWeights back = unpack_quantized(test::view_of(packed, PackedLayout::make(f, N, K, group)));
      EXPECT_EQ(back.codes, q.codes);
      EXPECT_EQ(back.scales, q.scales);
      EXPECT_EQ(back.zeros, q.zeros);
    }
  }
}

TEST(Fp16, RoundTripsEveryHalfAndRoundsToNearestEven) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = f16_to_f32(static_cast<uint16_t>(h));
    if (std::isnan(f)) continue;
    ASSERT_EQ(f32_to_f16(f), h) << h;
  }
  // Halfway between 1.0 and the next half (1 + 2^-10): ties to even -> 1.0.
  EXPECT_EQ(f32_to_f16(1.0f + std::ldexp(1.0f, -11)), 0x3C00);
  EXPECT_EQ(f32_to_f16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3C02);
  EXPECT_EQ(f32_to_f16(70000.0f), 0x7C00);
}

TEST(Layout, RejectsUnsupportedGroupsAndShapes) {
  EXPECT_THROW(PackedLayout::make(WeightFormat::Q4, 16, 64, 0), InvalidInput);
  EXPECT_THROW(PackedLayout::make(WeightFormat::Q8, 16, 64, 48), InvalidInput);
  EXPECT_THROW(PackedLayout::make(WeightFormat::Q8, 0, 64, 32), InvalidInput);
  EXPECT_THROW(PackedLayout::make(WeightFormat::Q8, int64_t{1} << 41, 64, 32), InvalidInput);
}

}  // namespace
}  // namespace qasr
