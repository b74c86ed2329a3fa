// Kaldi fbank against an independent double-precision implementation of
// Kaldi's recipe (direct DFT), streaming against whole-utterance, and the
// options' checks. (python_tests/test_frontend.py compares with
// kaldi-native-fbank itself.)
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <random>
#include <vector>

#include "common/error.h"
#include "common/thread_pool.h"
#include "frontend/fbank.h"

namespace qasr {
namespace {

constexpr double kPi = 3.14159265358979323846;

double mel(double f) { return 1127.0 * std::log(1.0 + f / 700.0); }

// Kaldi's fbank, written from its documentation in double precision.
std::vector<double> reference_fbank(const std::vector<float>& samples, const FbankOptions& o) {
  const int len = static_cast<int>(o.frame_length()), shift = static_cast<int>(o.frame_shift());
  const int nfft = static_cast<int>(o.fft_size());
  const int frames = samples.size() < static_cast<size_t>(len) ? 0 : 1 + (static_cast<int>(samples.size()) - len) / shift;
  const double nyq = 0.5 * o.sample_rate;
  const double high = o.high_freq > 0 ? o.high_freq : nyq + o.high_freq;
  const double ml = mel(o.low_freq), mh = mel(high), dm = (mh - ml) / (o.num_bins + 1);
  std::vector<double> out;
  for (int f = 0; f < frames; ++f) {
    std::vector<double> x(len);
    double mean = 0;
    for (int i = 0; i < len; ++i) {
      x[i] = static_cast<double>(samples[f * shift + i]) * o.input_scale;
      mean += x[i] / len;
    }
    double energy = 0;
    for (int i = 0; i < len; ++i) {
      if (o.remove_dc) x[i] -= mean;
      energy += x[i] * x[i];
    }
    for (int i = len - 1; i > 0; --i) x[i] -= o.preemph * x[i - 1];
    x[0] -= o.preemph * x[0];
    for (int i = 0; i < len; ++i) {
      const double c = std::cos(2 * kPi * i / (len - 1));
      double w = 1.0;
      if (o.window == "povey") w = std::pow(0.5 - 0.5 * c, 0.85);
      if (o.window == "hamming") w = 0.54 - 0.46 * c;
      if (o.window == "hann") w = 0.5 - 0.5 * c;
      x[i] *= w;
    }
    std::vector<double> power(nfft / 2);
    for (int k = 0; k < nfft / 2; ++k) {
      double re = 0, im = 0;
      for (int i = 0; i < len; ++i) {
        const double a = -2 * kPi * static_cast<double>((static_cast<int64_t>(i) * k) % nfft) / nfft;
        re += x[i] * std::cos(a);
        im += x[i] * std::sin(a);
      }
      power[k] = re * re + im * im;
      if (!o.use_power) power[k] = std::sqrt(power[k]);
    }
    if (o.use_energy) out.push_back(std::log(std::max(energy, static_cast<double>(FLT_EPSILON))));
    for (int b = 0; b < o.num_bins; ++b) {
      const double l = ml + b * dm, c = l + dm, r = c + dm;
      double e = 0;
      for (int k = 0; k < nfft / 2; ++k) {
        const double m = mel(static_cast<double>(o.sample_rate) * k / nfft);
        if (m > l && m < r) e += power[k] * (m <= c ? (m - l) / (c - l) : (r - m) / (r - c));
      }
      out.push_back(std::log(std::max(e, static_cast<double>(FLT_EPSILON))));
    }
  }
  return out;
}

std::vector<float> noise(size_t n, float amp, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-amp, amp);
  std::vector<float> x(n);
  for (auto& v : x) v = d(rng);
  return x;
}

// Speech-like: a few harmonics with a slow envelope plus a little noise.
std::vector<float> voiced(size_t n, uint32_t seed) {
  std::vector<float> x = noise(n, 0.01f, seed);
  for (size_t i = 0; i < n; ++i) {
    const double t = i / 16000.0;
    const double env = 0.5 + 0.5 * std::sin(2 * kPi * 3 * t);
    for (int h = 1; h <= 8; ++h) x[i] += static_cast<float>(0.3 / h * env * std::sin(2 * kPi * 140 * h * t + h));
  }
  return x;
}

double max_diff(const std::vector<float>& a, const std::vector<double>& b) {
  EXPECT_EQ(a.size(), b.size());
  double m = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

TEST(Fbank, FrameCountsFollowSnipEdges) {
  FbankOptions o;
  EXPECT_EQ(o.frame_length(), 400);
  EXPECT_EQ(o.frame_shift(), 160);
  EXPECT_EQ(o.fft_size(), 512);
  EXPECT_EQ(o.num_frames(0), 0);
  EXPECT_EQ(o.num_frames(399), 0);
  EXPECT_EQ(o.num_frames(400), 1);
  EXPECT_EQ(o.num_frames(559), 1);
  EXPECT_EQ(o.num_frames(560), 2);
  EXPECT_EQ(o.num_frames(16000), 98);
  EXPECT_TRUE(compute_fbank(o, nullptr, 0).empty());
}

TEST(Fbank, MatchesDoublePrecisionReference) {
  for (const char* window : {"povey", "hamming", "hann"}) {
    for (bool energy : {false, true}) {
      FbankOptions o;
      o.window = window;
      o.use_energy = energy;
      for (const auto& x : {noise(4000, 0.5f, 3), voiced(4000, 4)}) {
        const std::vector<float> f = compute_fbank(o, x.data(), x.size());
        EXPECT_LT(max_diff(f, reference_fbank(x, o)), 1e-3) << window << " energy=" << energy;
      }
    }
  }
}

TEST(Fbank, OtherOptionsMatchReference) {
  FbankOptions o;
  o.num_bins = 40;
  o.low_freq = 100;
  o.high_freq = -400;  // Nyquist - 400 Hz
  o.use_power = false;
  o.sample_rate = 8000;
  const auto x = voiced(3000, 5);
  EXPECT_LT(max_diff(compute_fbank(o, x.data(), x.size()), reference_fbank(x, o)), 1e-3);
}

TEST(Fbank, SilenceGivesTheFloor) {
  FbankOptions o;
  o.use_energy = true;
  std::vector<float> zeros(1600, 0.0f);
  const auto f = compute_fbank(o, zeros.data(), zeros.size());
  ASSERT_EQ(f.size(), static_cast<size_t>(8 * 81));
  for (float v : f) EXPECT_EQ(v, std::log(FLT_EPSILON));
  // A constant is silence too once the DC offset is removed.
  std::vector<float> dc(1600, 0.25f);
  for (float v : compute_fbank(o, dc.data(), dc.size())) EXPECT_EQ(v, std::log(FLT_EPSILON));
}

TEST(Fbank, StreamingEqualsWholeUtteranceForAnyChunking) {
  FbankOptions o;
  const auto x = voiced(16000 + 123, 6);
  const auto whole = compute_fbank(o, x.data(), x.size());
  std::mt19937 rng(7);
  for (int trial = 0; trial < 20; ++trial) {
    FbankStream s(o);
    std::vector<float> got;
    size_t pos = 0;
    const int maxlen = trial < 5 ? 3 : (trial < 10 ? 200 : 5000);
    while (pos < x.size()) {
      const size_t n = std::min(x.size() - pos, static_cast<size_t>(rng() % maxlen));
      s.accept(x.data() + pos, static_cast<int64_t>(n));
      pos += n;
      EXPECT_LT(s.num_buffered(), o.frame_length());
      if (rng() % 3 == 0) s.take(&got, rng() % 4);
    }
    s.take(&got);
    EXPECT_EQ(s.num_frames(), o.num_frames(static_cast<int64_t>(x.size())));
    ASSERT_EQ(got.size(), whole.size());
    for (size_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i], whole[i]) << "trial " << trial << " at " << i;
  }
}

TEST(Fbank, ThreadsGiveTheSameFeatures) {
  ThreadPool pool(3);
  for (const float shift_ms : {10.0f, 25.0f}) {
    FbankOptions o;
    o.frame_shift_ms = shift_ms;
    const auto x = voiced(3 * 16000 + 77, 11);
    const auto whole = compute_fbank(o, x.data(), x.size());
    EXPECT_EQ(compute_fbank(o, x.data(), x.size(), &pool), whole);
    std::mt19937 rng(5);
    FbankStream s(o);
    std::vector<float> got;
    for (size_t pos = 0; pos < x.size();) {
      const size_t n = std::min(x.size() - pos, static_cast<size_t>(rng() % 9000));
      s.accept(x.data() + pos, static_cast<int64_t>(n), &pool);
      pos += n;
    }
    s.take(&got);
    EXPECT_EQ(got, whole) << "shift " << shift_ms << " ms";
  }
}

TEST(Fbank, ShiftLongerThanFrameSkipsSamples) {
  FbankOptions o;
  o.frame_length_ms = 10;  // 160 samples
  o.frame_shift_ms = 25;   // 400 samples
  o.num_bins = 40;         // 80 would not fit a 256-point FFT
  const auto x = noise(5000, 0.3f, 8);
  const auto whole = compute_fbank(o, x.data(), x.size());
  ASSERT_EQ(whole.size(), static_cast<size_t>(o.num_frames(5000) * o.dim()));
  // Frame i must equal the features of its own 160 samples.
  for (int64_t i = 0; i < o.num_frames(5000); ++i) {
    const auto one = compute_fbank(o, x.data() + i * 400, 160);
    for (int b = 0; b < o.dim(); ++b) ASSERT_EQ(one[b], whole[i * o.dim() + b]);
  }
  FbankStream s(o);
  for (size_t p = 0; p < x.size(); p += 7) s.accept(x.data() + p, std::min<int64_t>(7, x.size() - p));
  std::vector<float> got;
  s.take(&got);
  EXPECT_EQ(got, whole);
}

TEST(Fbank, ResetStartsOver) {
  FbankOptions o;
  const auto x = noise(3000, 0.2f, 9);
  FbankStream s(o);
  s.accept(x.data(), 1234);
  s.reset();
  EXPECT_EQ(s.num_frames(), 0);
  EXPECT_EQ(s.num_ready(), 0);
  s.accept(x.data(), x.size());
  std::vector<float> got;
  s.take(&got);
  EXPECT_EQ(got, compute_fbank(o, x.data(), x.size()));
}

TEST(Fbank, MelBanksAreTriangles) {
  FbankOptions o;
  const MelBanks b = make_mel_banks(o);
  ASSERT_EQ(b.weights.size(), 80u);
  for (int i = 0; i < 80; ++i) {
    ASSERT_FALSE(b.weights[i].empty()) << i;
    float peak = 0;
    for (float w : b.weights[i]) {
      EXPECT_GE(w, 0.0f);
      peak = std::max(peak, w);
    }
    EXPECT_LE(peak, 1.0f);
    EXPECT_GT(peak, 0.4f);
    if (i > 0) {
      EXPECT_GE(b.first[i], b.first[i - 1]);
    }
    EXPECT_LE(b.first[i] + static_cast<int>(b.weights[i].size()), 256);
  }
}

TEST(Fbank, RejectsBadOptions) {
  auto bad = [](auto edit) {
    FbankOptions o;
    edit(o);
    EXPECT_THROW(FbankComputer c(o), InvalidInput);
  };
  bad([](FbankOptions& o) { o.num_bins = 0; });
  bad([](FbankOptions& o) { o.sample_rate = 0; });
  bad([](FbankOptions& o) { o.sample_rate = NAN; });
  bad([](FbankOptions& o) { o.frame_length_ms = 0.05f; });
  bad([](FbankOptions& o) { o.frame_shift_ms = 0.01f; });
  bad([](FbankOptions& o) { o.low_freq = 9000; });
  bad([](FbankOptions& o) { o.high_freq = 9000; });
  bad([](FbankOptions& o) { o.high_freq = -9000; });
  bad([](FbankOptions& o) { o.window = "kaiser"; });
  bad([](FbankOptions& o) { o.preemph = 1.5f; });
  bad([](FbankOptions& o) { o.input_scale = 0; });
  bad([](FbankOptions& o) { o.num_bins = 128; });  // the lowest filters would cover no FFT bin (as Kaldi says)
  FbankStream s{FbankOptions()};
  EXPECT_THROW(s.accept(nullptr, -1), InvalidInput);
}

}  // namespace
}  // namespace qasr
