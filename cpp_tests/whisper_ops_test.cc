// The pieces the Whisper executor adds to the shared layers: conv1d (im2col
// through the packed linear), packed_row (tied embedding lookup) and the
// byte-level BPE detokenizer with Python-compatible UTF-8 replacement.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "common/error.h"
#include "common/fp16.h"
#include "common/thread_pool.h"
#include "decode/byte_bpe.h"
#include "ops/attention.h"
#include "ops/attention_packed.h"
#include "ops/conv1d.h"
#include "ops/packed_row.h"
#include "ops/softmax.h"
#include "test_util.h"

namespace qasr {
namespace {

// Direct convolution in double from the torch-layout weight [Cout][Cin][kernel].
std::vector<double> conv_reference(const std::vector<float>& x, int64_t T, int64_t Cin, const std::vector<float>& w,
                                   int64_t Cout, int kernel, int stride, int pad, const std::vector<float>& bias) {
  const int64_t To = conv1d_out_len(T, kernel, stride, pad);
  std::vector<double> y(To * Cout);
  for (int64_t t = 0; t < To; ++t) {
    for (int64_t o = 0; o < Cout; ++o) {
      double acc = bias[o];
      for (int64_t c = 0; c < Cin; ++c) {
        for (int k = 0; k < kernel; ++k) {
          const int64_t s = t * stride + k - pad;
          if (s >= 0 && s < T) acc += double(w[(o * Cin + c) * kernel + k]) * x[s * Cin + c];
        }
      }
      y[t * Cout + o] = acc;
    }
  }
  return y;
}

TEST(Conv1d, MatchesDirectConvolutionForWhisperShapes) {
  ThreadPool pool(2);
  for (auto [T, Cin, Cout, stride] : std::vector<std::tuple<int64_t, int64_t, int64_t, int>>{
           {50, 80, 48, 1}, {50, 48, 40, 2}, {7, 3, 5, 2}, {1, 16, 16, 1}, {2, 16, 16, 2}}) {
    const int kernel = 3, pad = 1;
    auto x = test::random_floats(T * Cin, 1);
    auto w = test::random_floats(Cout * Cin * kernel, 2, 0.1f);
    auto bias = test::random_floats(Cout, 3);
    // torch [Cout][Cin][k] -> [Cout][k*Cin], tap outermost.
    std::vector<float> m(Cout * kernel * Cin);
    for (int64_t o = 0; o < Cout; ++o)
      for (int64_t c = 0; c < Cin; ++c)
        for (int k = 0; k < kernel; ++k) m[o * kernel * Cin + k * Cin + c] = w[(o * Cin + c) * kernel + k];
    AlignedBytes packed = pack_f32(m.data(), Cout, kernel * Cin);
    PackedMatrix pm = test::view_of(packed, PackedLayout::make(WeightFormat::F32, Cout, kernel * Cin, 0));
    const int64_t To = conv1d_out_len(T, kernel, stride, pad);
    EXPECT_EQ(To, (T + 2 - 3) / stride + 1);
    std::vector<float> y(To * Cout), cols;
    conv1d(x.data(), T, Cin, kernel, stride, pad, pm, bias.data(), y.data(), cols, &pool);
    auto ref = conv_reference(x, T, Cin, w, Cout, kernel, stride, pad, bias);
    for (size_t i = 0; i < y.size(); ++i) ASSERT_NEAR(y[i], ref[i], 1e-4 * (1 + std::abs(ref[i]))) << i;
  }
}

TEST(Conv1d, RejectsAMismatchedWeight) {
  AlignedBytes packed = pack_f32(std::vector<float>(16 * 9).data(), 16, 9);
  PackedMatrix pm = test::view_of(packed, PackedLayout::make(WeightFormat::F32, 16, 9, 0));
  std::vector<float> x(10 * 4), y(10 * 16), cols;
  EXPECT_THROW(conv1d(x.data(), 10, 4, 3, 1, 1, pm, nullptr, y.data(), cols, nullptr), InvalidInput);
}

TEST(PackedRow, EqualsTheUnpackedDequantizedRow) {
  const int64_t N = 37, K = 161;
  auto w = test::random_floats(N * K, 5);
  {
    AlignedBytes packed = pack_f32(w.data(), N, K);
    PackedMatrix pm = test::view_of(packed, PackedLayout::make(WeightFormat::F32, N, K, 0));
    std::vector<float> row(K);
    for (int64_t r = 0; r < N; ++r) {
      packed_row(pm, r, row.data());
      for (int64_t k = 0; k < K; ++k) ASSERT_EQ(row[k], w[r * K + k]);
    }
    EXPECT_THROW(packed_row(pm, N, row.data()), InvalidInput);
    EXPECT_THROW(packed_row(pm, -1, row.data()), InvalidInput);
  }
  for (WeightFormat f : {WeightFormat::Q8, WeightFormat::Q4, WeightFormat::Q4A}) {
    for (int group : {0, 32, 64, 128}) {
      if (group == 0 && f != WeightFormat::Q8) continue;
      QuantizedWeights q = quantize_weights(f, w.data(), N, K, group);
      AlignedBytes packed = pack_quantized(q);
      PackedMatrix pm = test::view_of(packed, PackedLayout::make(f, N, K, group));
      const int64_t G = pm.layout.groups;
      const int gs = group == 0 ? static_cast<int>(K) : group;
      std::vector<float> row(K);
      for (int64_t r = 0; r < N; ++r) {
        packed_row(pm, r, row.data());
        for (int64_t k = 0; k < K; ++k) {
          const int64_t g = k / gs;
          const float s = f16_to_f32(q.scales[r * G + g]);
          const int z = f == WeightFormat::Q4A ? q.zeros[r * G + g] : implicit_zero(f);
          ASSERT_EQ(row[k], s * static_cast<float>(int(q.codes[r * K + k]) - z)) << r << "," << k;
        }
      }
    }
  }
}

TEST(AttentionPacked, EqualsTheReferenceAttentionWithoutMask) {
  ThreadPool pool(2);
  for (auto [Tq, Tk, heads, dh] : std::vector<std::tuple<int64_t, int64_t, int, int>>{
           {1, 1500, 6, 64}, {3, 37, 2, 64}, {150, 150, 6, 64}, {5, 17, 3, 20}}) {
    const int64_t D = heads * dh;
    auto q = test::random_floats(Tq * D, 11, 2.0f);
    auto k = test::random_floats(Tk * D, 12, 2.0f);
    auto v = test::random_floats(Tk * D, 13);
    std::vector<float> ref(Tq * D), got(Tq * D), scores, qh;
    AttentionArgs a;
    a.q = q.data();
    a.ldq = D;
    a.Tq = Tq;
    a.k = k.data();
    a.v = v.data();
    a.ldk = a.ldv = D;
    a.Tk = Tk;
    a.heads = heads;
    a.head_dim = dh;
    a.out = ref.data();
    a.ldo = D;
    attention(a, nullptr);
    PackedHeads kv;
    kv.pack(k.data(), D, v.data(), D, Tk, heads, dh, &pool);
    attention_packed(q.data(), D, Tq, kv, 0.0f, got.data(), D, scores, qh, &pool);
    for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], ref[i], 2e-5f * (1 + std::abs(ref[i]))) << i;
    // Packing again with the same shape reuses the buffers and stays right.
    kv.pack(v.data(), D, k.data(), D, Tk, heads, dh, nullptr);
    a.k = v.data();
    a.v = k.data();
    attention(a, nullptr);
    attention_packed(q.data(), D, Tq, kv, 0.0f, got.data(), D, scores, qh, nullptr);
    for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], ref[i], 2e-5f * (1 + std::abs(ref[i]))) << i;
  }
}

TEST(Utf8Replace, FollowsMaximalSubpartSubstitution) {
  const std::string R = "\xEF\xBF\xBD";
  // Expected values are what Python's bytes.decode("utf-8", "replace") gives.
  EXPECT_EQ(utf8_replace_invalid("abc"), "abc");
  EXPECT_EQ(utf8_replace_invalid("\xC3\xA9"), "\xC3\xA9");
  EXPECT_EQ(utf8_replace_invalid("\xE2\x82"), R);              // truncated 3-byte: one error
  EXPECT_EQ(utf8_replace_invalid("\xE2\x82" "a"), R + "a");
  EXPECT_EQ(utf8_replace_invalid("\xF0\x9F\x98"), R);          // truncated 4-byte
  EXPECT_EQ(utf8_replace_invalid("\xC0\xAF"), R + R);          // overlong lead: each byte
  EXPECT_EQ(utf8_replace_invalid("\xED\xA0\x80"), R + R + R);  // surrogate
  EXPECT_EQ(utf8_replace_invalid("\xE0\x80\x80"), R + R + R);  // overlong 3-byte
  EXPECT_EQ(utf8_replace_invalid("\xF4\x90\x80\x80"), R + R + R + R);
  EXPECT_EQ(utf8_replace_invalid("\xFF" "a\x80"), R + "a" + R);
  EXPECT_EQ(utf8_replace_invalid("\xF0\x9F\x98\x80"), "\xF0\x9F\x98\x80");
}

TEST(ByteBpe, ConcatenatesBytesAndSkipsSpecialIds) {
  // ids: 0 "He", 1 "llo", 2 " w", 3 "\xC3", 4 "\xA9", 5 "<|endoftext|>"
  std::string all = std::string("He") + "llo" + " w" + "\xC3" + "\xA9" + "<|endoftext|>";
  std::vector<uint8_t> bytes(all.begin(), all.end());
  std::vector<int32_t> offsets{0, 2, 5, 7, 8, 9, 22};
  ByteBpeDecoder dec(bytes, offsets, 5);
  EXPECT_EQ(dec.size(), 6);
  EXPECT_EQ(dec.decode({0, 1, 2, 3, 4, 5}), "Hello w\xC3\xA9");
  EXPECT_EQ(dec.decode({3}), "\xEF\xBF\xBD");
  EXPECT_EQ(dec.token_bytes(5), "<|endoftext|>");
  EXPECT_THROW(dec.decode({6}), InvalidInput);
  EXPECT_THROW(dec.decode({-1}), InvalidInput);
  EXPECT_THROW(ByteBpeDecoder(bytes, {0, 2, 1, 22}, 0), InvalidInput);
  EXPECT_THROW(ByteBpeDecoder(bytes, {0, 2, 5, 21}, 0), InvalidInput);
  EXPECT_THROW(ByteBpeDecoder(bytes, {1, 22}, 0), InvalidInput);
  EXPECT_THROW(ByteBpeDecoder(bytes, offsets, 7), InvalidInput);
}

}  // namespace
}  // namespace qasr
